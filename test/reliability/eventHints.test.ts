/**
 * Key Vault's expiry events are hints. Whoever can deliver an event to the webhook (a forged or replayed
 * `SecretExpired` or `SecretNearExpiry`, even one whose own `EXP` says the secret has expired) gets one
 * read of the secret's properties from Key Vault for it, and nothing else: no rotation, no alert line,
 * no alert mail, no other call. Positive control: the same event when the vault agrees (the current
 * version really expired, or really is within Key Vault's 30-day window) starts a rotation, and the
 * expiry is reported as an incident. After that rotation, the old version's events are stale: one read each.
 */
import { randomUUID } from 'node:crypto';
import type { CallRecord } from '../../sandbox/types';
import { DEFAULT_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView, secretNameOf } from '../helpers/fleet';
import { settle } from '../helpers/settle';
import { drive, NEVER, TimeKeeper } from './support';

const ENV = 'hints';
const ALERTS_TO = 'admin@contoso.onmicrosoft.com';
const EXPIRED = 'Microsoft.KeyVault.SecretExpired';
const NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';

let app: TestApp;
let keeper: TimeKeeper;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: [ENV],
      secretPropagationSeconds: 0,
      // Alert mail goes out as the app's own identity: it may send here, so a missing mail means none was sent.
      managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Mail.Send'],
      eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] },
    },
    appSettings: { ALERT_RECIPIENTS: ALERTS_TO, SECRET_LIFETIME_DAYS: '180', ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
  f = fleetView(app, ALERTS_TO);
  await f.setUp(ENV);
});

afterAll(async () => {
  await app?.stop();
});

/** A Key Vault event for the environment's secret, as the vault's system topic sends it; `exp` is what the event claims. */
function keyVaultEvent(eventType: string, version: string, exp: number | null): Record<string, unknown> {
  const name = secretNameOf(ENV);
  return {
    id: randomUUID(),
    topic: app.endpoints.eventGridTopic,
    subject: name,
    eventType,
    eventTime: app.sandbox.state.nowIso(),
    data: { Id: `${app.endpoints.keyVaultUrl}/secrets/${name}/${version}`, VaultName: app.endpoints.keyVaultName, ObjectType: 'Secret', ObjectName: name, Version: version, NBF: null, EXP: exp },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

interface Effect {
  rotationStarts: number;
  alertLines: number;
  alertMails: number;
  calls: CallRecord[];
}

/** Delivers the event through Event Grid (the webhook, with the host's system key) and returns what it caused. */
async function deliver(event: Record<string, unknown>): Promise<Effect> {
  const before = { starts: f.rotationStarts(ENV), lines: f.alertLines(ENV).length, mails: f.alertMails(ENV).length, calls: app.sandbox.state.calls.length };
  app.sandbox.eventGrid.publishRaw({ event });
  await settle(app);
  return {
    rotationStarts: f.rotationStarts(ENV) - before.starts,
    alertLines: f.alertLines(ENV).length - before.lines,
    alertMails: f.alertMails(ENV).length - before.mails,
    calls: app.sandbox.state.calls.slice(before.calls),
  };
}

const nowSeconds = (): number => Math.floor(app.sandbox.state.now() / 1000);

/** One read of the secret's properties and nothing else. */
function expectOneRead(effect: Effect): void {
  expect({ rotationStarts: effect.rotationStarts, alertLines: effect.alertLines, alertMails: effect.alertMails }).toEqual({ rotationStarts: 0, alertLines: 0, alertMails: 0 });
  expect(effect.calls.map((c) => `${c.service} ${c.method} ${c.status}`)).toEqual(['keyvault GET 200']);
  expect(effect.calls[0]!.path).toContain(`/secrets/${secretNameOf(ENV)}`);
}

let firstVersion = '';

describe('forged events for the current version', () => {
  it('SecretExpired for a version that has not expired, claiming in its own EXP that it has: one Key Vault read, no rotation, no alert', async () => {
    firstVersion = f.currentVersion(ENV).version;
    expectOneRead(await deliver(keyVaultEvent(EXPIRED, firstVersion, nowSeconds() - 60)));
    expect(f.currentVersion(ENV).version).toBe(firstVersion);
    expect(app.logs.some((l) => l.message.includes(`ignored ${EXPIRED} for ${secretNameOf(ENV)} version ${firstVersion}: the vault says it expires`))).toBe(true);
  });

  it('SecretNearExpiry for a version with months left, claiming it expires tomorrow: one Key Vault read, no rotation', async () => {
    expectOneRead(await deliver(keyVaultEvent(NEAR_EXPIRY, firstVersion, nowSeconds() + 86_400)));
    expect(f.currentVersion(ENV).version).toBe(firstVersion);
  });

  it('the same forged event delivered ten times costs ten reads and still nothing else', async () => {
    const event = keyVaultEvent(EXPIRED, firstVersion, nowSeconds() - 60);
    const before = { starts: f.rotationStarts(ENV), calls: app.sandbox.state.calls.length };
    for (let i = 0; i < 10; i++) app.sandbox.eventGrid.publishRaw({ event: { ...event, id: randomUUID() } });
    await settle(app);
    const calls = app.sandbox.state.calls.slice(before.calls);
    expect(calls.map((c) => `${c.service} ${c.method} ${c.status}`)).toEqual(Array.from({ length: 10 }, () => 'keyvault GET 200'));
    expect(f.rotationStarts(ENV) - before.starts).toBe(0);
    expect(f.alertLines(ENV)).toHaveLength(0);
  });
});

describe('positive control: genuine events act', () => {
  it('SecretNearExpiry for a version the vault shows within 30 days of expiry starts a rotation', async () => {
    // The version's expiry as Key Vault holds it moves into the window; Entra's credential is untouched.
    f.currentVersion(ENV).exp = nowSeconds() + 10 * 86_400;
    const effect = await deliver(keyVaultEvent(NEAR_EXPIRY, firstVersion, null));
    expect(effect.rotationStarts).toBe(1);
    expect(effect.alertLines).toBe(0);
    expect((await drive(app, keeper, `rotate-${ENV}`)).runtimeStatus).toBe('Completed');
    expect(f.currentVersion(ENV).version).not.toBe(firstVersion);
  });

  it('SecretExpired for a current version that really expired is an incident: an alert line and mail, then a rotation', async () => {
    const expiredVersion = f.currentVersion(ENV).version;
    f.expireCurrentCredential(ENV);
    const effect = await deliver(keyVaultEvent(EXPIRED, expiredVersion, null));
    expect(effect.rotationStarts).toBe(1);
    expect(effect.alertLines).toBeGreaterThanOrEqual(1);
    expect(f.alertLines(ENV).some((l) => l.message.includes('credential-expired'))).toBe(true);
    expect((await drive(app, keeper, `rotate-${ENV}`)).runtimeStatus).toBe('Completed');
    expect(f.alertMails(ENV).some((m) => /has expired/.test(m.subject))).toBe(true);
    expect(f.currentVersion(ENV).version).not.toBe(expiredVersion);
  });
});

describe('stale events', () => {
  it('for a version that is no longer current cost one read each, even when that version has expired', async () => {
    for (const type of [EXPIRED, NEAR_EXPIRY]) {
      const effect = await deliver(keyVaultEvent(type, firstVersion, nowSeconds() - 60));
      expectOneRead(effect);
    }
    expect(app.logs.filter((l) => l.message.includes(`${secretNameOf(ENV)} version ${firstVersion}: the current version is`)).length).toBeGreaterThanOrEqual(2);
  });
});
