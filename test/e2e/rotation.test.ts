/**
 * Credential rotation end to end, as an operator sees it: the function app on the local runtime
 * against the sandbox, with alert mail configured. Every trigger for one environment collapses into one
 * run; a failed F&O delivery leaves F&O working with the old credential, raises an alert, and the next
 * sweep finishes the job; the on-demand API's contract; Key Vault events from elsewhere, for old
 * versions or malformed start nothing; and no minted secret shows up anywhere.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { DEFAULT_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { startTestApp, type Operation, type TestApp } from '../helpers/app';
import { fleetView, secretNameOf } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod', 'fabrikam-test', 'northwind-dev'];
const ALERT_RECIPIENT = 'ops@contoso.onmicrosoft.com';
const NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';
const EXPIRED = 'Microsoft.KeyVault.SecretExpired';

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ENVIRONMENTS,
      secretPropagationSeconds: 0,
      // Alert mail is sent by the app's own identity: it holds Mail.Send here.
      managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Mail.Send'],
      eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] },
    },
    appSettings: { ALERT_RECIPIENTS: ALERT_RECIPIENT, ROTATION_GRACE_HOURS: '24', ROTATION_LEAD_DAYS: '30', SECRET_LIFETIME_DAYS: '180' },
  });
  f = fleetView(app, ALERT_RECIPIENT);
});

afterAll(async () => {
  await app?.stop();
});

function keyVaultEvent(eventType: string, environmentId: string, version: string, overrides: { data?: Record<string, unknown> } & Record<string, unknown> = {}) {
  const name = secretNameOf(environmentId);
  const { data, ...top } = overrides;
  return {
    id: randomUUID(),
    topic: app.endpoints.eventGridTopic,
    subject: name,
    eventType,
    eventTime: app.sandbox.state.nowIso(),
    data: {
      Id: `${app.endpoints.keyVaultUrl}/secrets/${name}/${version}`,
      VaultName: app.endpoints.keyVaultName,
      ObjectType: 'Secret',
      ObjectName: name,
      Version: version,
      NBF: null,
      EXP: null,
      ...(data ?? {}),
    },
    dataVersion: '1',
    metadataVersion: '1',
    ...top,
  };
}

// ---- duplicate triggers --------------------------------------------------------------------

describe('duplicate triggers for one environment', () => {
  const id = 'contoso-uat';
  let oldVersion: string;
  let nearExpiryEventId: string;

  it('collapse into exactly one rotation: one new credential, one new Key Vault version', async () => {
    await f.setUp(id);
    const [original] = f.liveProductCredentials(id);
    oldVersion = f.currentVersion(id).version;

    // Into the lead time: Key Vault raises SecretNearExpiry, and the daily sweep finds the environment due.
    await app.advanceClock('P151D');
    const nearExpiry = app.sandbox.eventGrid.events({ eventType: NEAR_EXPIRY, subject: secretNameOf(id) }).find((e) => (e.event as { data: { Version: string } }).data.Version === oldVersion);
    expect(nearExpiry).toBeDefined();
    nearExpiryEventId = nearExpiry!.eventId;

    const [, first, second, , rotate] = await Promise.all([
      app.runtime.timers.runNow('rotationSweep'),
      app.runtime.deliverEventGridEvent('secretExpiryEvents', nearExpiry!.event),
      app.runtime.deliverEventGridEvent('secretExpiryEvents', nearExpiry!.event),
      Promise.resolve(app.sandbox.eventGrid.redeliver(nearExpiry!.eventId)),
      app.api<{ instanceId?: string; statusUrl: string }>('POST', `/api/environments/${id}/rotate`),
    ]);
    expect(first.ok).toBe(true);
    expect(second.ok).toBe(true);
    expect([202, 409]).toContain(rotate.status);
    expect(rotate.body.statusUrl).toBe(`${app.endpoints.functionsUrl}/api/operations/rotate-${id}`);

    await settle(app);
    const waiting = await f.waitForGracePeriod(id);
    expect(waiting.runtimeStatus).toBe('Running');
    expect(f.rotationStarts(id)).toBe(1);

    // One new credential next to the original, one new version; F&O already holds the new one.
    const live = f.liveProductCredentials(id);
    expect(live).toHaveLength(2);
    expect(live.map((c) => c.keyId)).toContain(original!.keyId);
    expect(f.versions(id)).toHaveLength(2);
    const fresh = f.currentVersion(id);
    expect(fresh.version).not.toBe(oldVersion);
    expect(f.finOpsKeyId(id)).toBe(fresh.tags['credential-key-id']);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
  });

  it('completes after the grace period, revoking the old credential', async () => {
    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    expect(f.rotationStarts(id)).toBe(1);
    const live = f.liveProductCredentials(id);
    expect(live.map((c) => c.keyId)).toEqual([f.currentVersion(id).tags['credential-key-id']]);
    expect(f.versions(id).find((v) => v.version === oldVersion)?.enabled).toBe(false);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
  });

  it('ignores the old near-expiry event when it is delivered again', async () => {
    const before = { starts: f.rotationStarts(id), versions: f.versions(id).length, credentials: f.application(id).passwordCredentials.length };
    expect(app.sandbox.eventGrid.redeliver(nearExpiryEventId)?.resent).toHaveLength(1);
    await settle(app);
    expect(f.rotationStarts(id)).toBe(before.starts);
    expect(f.versions(id)).toHaveLength(before.versions);
    expect(f.application(id).passwordCredentials).toHaveLength(before.credentials);
    expect(app.logs.some((l) => l.message.includes(`${secretNameOf(id)} version ${oldVersion}: the current version is ${f.currentVersion(id).version}`))).toBe(true);
  });
});

// ---- on-demand rotation API ------------------------------------------------------------------

describe('POST /api/environments/{environmentId}/rotate', () => {
  const id = 'contoso-prod';

  it('refuses callers without the function key, bad ids and environments never set up, starting nothing', async () => {
    const starts = f.rotationStarts();
    expect((await app.api('POST', `/api/environments/${id}/rotate`, undefined, { key: null })).status).toBe(401);
    expect((await app.api('POST', `/api/environments/${id}/rotate`, undefined, { key: 'not-the-key' })).status).toBe(401);

    const bad = await app.api<{ status: number; detail: string }>('POST', '/api/environments/Bad_Id/rotate');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.detail).toMatch(/lowercase letters, digits or hyphens/);

    const unknown = await app.api<{ status: number; detail: string }>('POST', '/api/environments/never-set-up/rotate');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect(unknown.body.detail).toContain('never-set-up');
    // Seeded in F&O but not set up yet: just as unknown.
    expect((await app.api('POST', `/api/environments/${id}/rotate`)).status).toBe(404);

    await settle(app);
    expect(f.rotationStarts()).toBe(starts);
  });

  it('starts a rotation (202, statusUrl, Location), refuses a second one while it runs (409), and returns the new environment record', async () => {
    const setup = await f.setUp(id);
    const before = setup.output as { credential: { keyId: string } };

    const started = await app.api<{ instanceId: string; statusUrl: string }>('POST', `/api/environments/${id}/rotate`);
    expect(started.status).toBe(202);
    expect(started.body.instanceId).toBe(`rotate-${id}`);
    expect(started.body.statusUrl).toBe(`${app.endpoints.functionsUrl}/api/operations/rotate-${id}`);
    expect(started.headers.get('location')).toBe(started.body.statusUrl);
    const status = await fetch(started.body.statusUrl, { headers: { 'x-functions-key': app.endpoints.functionKey } });
    expect(status.status).toBe(200);
    expect(((await status.json()) as Operation).name).toBe('rotateCredential');

    await f.waitForGracePeriod(id);
    const again = await app.api<{ statusUrl: string; instanceId: string }>('POST', `/api/environments/${id}/rotate`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.statusUrl).toBe(started.body.statusUrl);
    // Setup is refused too while the rotation runs.
    const setupAgain = await app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) });
    expect(setupAgain.status).toBe(409);
    expect(f.rotationStarts(id)).toBe(1);

    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    // Without access to sign-in logs the proof is skipped, saying why; every other step succeeded.
    expect(done.steps.filter((s) => s.status !== 'succeeded').map((s) => [s.name, s.status])).toEqual([['proveFinOpsUses', 'skipped']]);
    const output = done.output as { credential: { keyId: string; secretVersion: string }; status: string };
    expect(output.credential.keyId).not.toBe(before.credential.keyId);
    expect(output.credential.secretVersion).toBe(f.currentVersion(id).version);
    expect(output.status).toBe('unproven');
    const record = await app.api('GET', `/api/environments/${id}`);
    expect(record.status).toBe(200);
    expect(record.body).toEqual(done.output);
    expect(f.finOpsKeyId(id)).toBe(output.credential.keyId);
    expect(f.liveProductCredentials(id).map((c) => c.keyId)).toEqual([output.credential.keyId]);
  });
});

// ---- F&O delivery failure --------------------------------------------------------------------

describe('F&O refuses the new credential', () => {
  const id = 'fabrikam-test';
  let originalKeyId: string;
  let storedKeyId: string;
  const maxLive: number[] = [];

  it('fails the run naming the step and F&O’s answer, keeps F&O working with the old credential, and alerts', async () => {
    await f.setUp(id);
    originalKeyId = f.currentVersion(id).tags['credential-key-id']!;
    const mailsBefore = f.alertMails(id).length;
    await app.control('/faults', { service: 'finops', method: 'PATCH', pathPattern: 'GraphEmailCredentials', status: 403, count: 1000 });

    const started = await app.api('POST', `/api/environments/${id}/rotate`);
    expect(started.status).toBe(202);
    const failed = await app.waitForOperation(`rotate-${id}`);
    expect(failed.runtimeStatus).toBe('Failed');
    expect(failed.error).toMatch(/deliverToFinOps/);
    expect(failed.error).toMatch(/Finance and Operations answered 403/);
    expect(failed.error).toContain(id);
    expect(failed.steps.find((s) => s.name === 'deliverToFinOps')?.status).toBe('failed');
    maxLive.push(f.liveProductCredentials(id).length);

    // F&O still holds the old credential, and it still works.
    expect(f.finOpsKeyId(id)).toBe(originalKeyId);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');

    // The new credential is stored but undelivered: the registry shows it as due.
    storedKeyId = f.currentVersion(id).tags['credential-key-id']!;
    expect(storedKeyId).not.toBe(originalKeyId);
    const record = await app.api<{ status: string }>('GET', `/api/environments/${id}`);
    expect(record.body.status).toBe('pending-delivery');

    const alert = f.alertLines(id).find((l) => l.message.includes('failed'));
    expect(alert).toBeDefined();
    expect(alert!.message).toMatch(/deliverToFinOps/);
    const { sentMail } = await app.control<{ sentMail: Array<{ to: string[]; subject: string; body: string }> }>('/state');
    expect(sentMail.filter((m) => m.to.includes(ALERT_RECIPIENT) && m.subject.includes(id))).toHaveLength(mailsBefore + 1);
    const mails = f.alertMails(id).slice(mailsBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toMatch(/failed/i);
    expect(mails[0]!.body).toMatch(/deliverToFinOps/);
    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    for (const secret of secrets) expect(`${mails[0]!.subject}\n${mails[0]!.body}`).not.toContain(secret);
  });

  it('is retried by the next sweep once F&O accepts again, delivering the credential already stored', async () => {
    await app.control('/faults', undefined, 'DELETE');
    await app.advanceClock('P1D');
    await settle(app);
    const waiting = await f.waitForGracePeriod(id);
    expect(waiting.runtimeStatus).toBe('Running');
    expect(f.rotationStarts(id)).toBe(2);
    expect(waiting.steps.find((s) => s.name === 'createClientSecret')?.detail).toMatch(/undelivered credential resumed/);
    maxLive.push(f.liveProductCredentials(id).length);
    expect(f.finOpsKeyId(id)).toBe(storedKeyId);

    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    maxLive.push(f.liveProductCredentials(id).length);
    expect(f.finOpsKeyId(id)).toBe(storedKeyId);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
    expect(f.liveProductCredentials(id).map((c) => c.keyId)).toEqual([storedKeyId]);
    expect(Math.max(...maxLive)).toBeLessThanOrEqual(2);
    const record = await app.api<{ status: string }>('GET', `/api/environments/${id}`);
    expect(record.body.status).toBe('unproven');
  });
});

// ---- Event Grid input ------------------------------------------------------------------------

describe('Key Vault events', () => {
  const id = 'northwind-dev';
  let firstVersion: string;

  it('start nothing when malformed, contradictory, from another vault or for secrets the product does not manage', async () => {
    await f.setUp(id);
    firstVersion = f.currentVersion(id).version;
    const starts = f.rotationStarts();
    const alerts = f.alertLines(id).length;

    // Someone else's secrets in the same vault, expiring soon: Key Vault raises near-expiry events for them too.
    const now = Math.floor(app.sandbox.state.now() / 1000);
    for (const [name, tags] of [
      ['payroll-smtp-password', {}],
      ['fno-graph-mail-lookalike', { 'environment-id': 'lookalike' }],
    ] as const) {
      app.sandbox.state.secrets.push({
        name,
        versions: [{ version: randomUUID().replace(/-/g, ''), value: 'not-a-product-secret', contentType: null, tags: { ...tags }, enabled: true, nbf: null, exp: now + 5 * 86_400, created: now, updated: now }],
        deletedDate: null,
      });
    }
    app.sandbox.eventGrid.evaluate();
    expect(app.sandbox.eventGrid.events({ eventType: NEAR_EXPIRY, subject: 'fno-graph-mail-lookalike' })).toHaveLength(1);

    const foreignHost = keyVaultEvent(NEAR_EXPIRY, id, firstVersion, {
      topic: '/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/kv-other',
      data: { Id: `https://kv-other.vault.azure.net/secrets/${secretNameOf(id)}/${firstVersion}`, VaultName: 'kv-other' },
    });
    const foreignName = keyVaultEvent(EXPIRED, id, firstVersion, { data: { Id: undefined, VaultName: 'kv-other' } });
    for (const event of [foreignHost, foreignName]) expect((await app.runtime.deliverEventGridEvent('secretExpiryEvents', event)).ok).toBe(true);

    const malformed: Array<{ event: unknown } | { rawBody: string }> = [
      { rawBody: 'this is not json' },
      { rawBody: JSON.stringify(keyVaultEvent(EXPIRED, id, firstVersion)).slice(0, 60) },
      { event: null },
      { event: keyVaultEvent(EXPIRED, id, firstVersion, { data: { Version: `${firstVersion} OR 1=1`, Id: undefined } }) },
      // The Id names this environment's current version, ObjectName another secret: trust neither.
      { event: keyVaultEvent(EXPIRED, id, firstVersion, { data: { ObjectName: secretNameOf('contoso-uat') } }) },
      { event: keyVaultEvent(EXPIRED, id, firstVersion, { data: { Version: 'ffffffffffffffffffffffffffffffff' } }) },
      { event: { ...keyVaultEvent(EXPIRED, id, firstVersion), data: `${app.endpoints.keyVaultUrl}/secrets/${secretNameOf(id)}/${firstVersion}` } },
      { event: { ...keyVaultEvent(EXPIRED, id, firstVersion), data: [secretNameOf(id), firstVersion] } },
      { event: keyVaultEvent(EXPIRED, id, firstVersion, { data: { ObjectName: 42, Version: true, Id: undefined } }) },
      { event: { ...keyVaultEvent(EXPIRED, id, firstVersion), eventType: 7 } },
      { event: { ...keyVaultEvent(EXPIRED, id, firstVersion), data: undefined, subject: secretNameOf(id) } },
    ];
    for (const body of malformed) app.sandbox.eventGrid.publishRaw(body);
    await settle(app);

    expect(f.rotationStarts()).toBe(starts);
    expect(f.alertLines(id)).toHaveLength(alerts);
    expect(f.versions(id)).toHaveLength(1);
    expect(f.currentVersion(id).version).toBe(firstVersion);
    expect(app.logs.some((l) => l.message.includes('it comes from another vault'))).toBe(true);
    expect(app.logs.some((l) => l.message.includes('ignored Microsoft.KeyVault.SecretNearExpiry for secret payroll-smtp-password: not managed by this product'))).toBe(true);
    expect(app.logs.some((l) => l.message.includes('ignored Microsoft.KeyVault.SecretNearExpiry for secret fno-graph-mail-lookalike: not managed by this product'))).toBe(true);
    expect(app.logs.some((l) => l.message.includes('the event contradicts itself'))).toBe(true);
  });

  it('takes a Key Vault event as a hint: SecretExpired for a current version that has not expired costs one read and changes nothing', async () => {
    const starts = f.rotationStarts();
    const alerts = f.alertLines(id).length;
    const callsBefore = app.sandbox.state.calls.length;
    app.sandbox.eventGrid.publishRaw({ event: keyVaultEvent(EXPIRED, id, firstVersion) });
    app.sandbox.eventGrid.publishRaw({ event: keyVaultEvent(NEAR_EXPIRY, id, firstVersion) });
    await settle(app);
    expect(f.rotationStarts()).toBe(starts);
    expect(f.alertLines(id)).toHaveLength(alerts);
    expect(app.logs.filter((l) => l.message.includes(`${secretNameOf(id)} version ${firstVersion}: the vault says it expires`))).toHaveLength(2);
    // What each forged event cost: reading the secret's properties from Key Vault, nothing else.
    const calls = app.sandbox.state.calls.slice(callsBefore);
    expect(calls.every((c) => c.service === 'keyvault' && c.method === 'GET')).toBe(true);
    expect(calls.filter((c) => c.status === 200)).toHaveLength(2);
  });

  it('treats SecretExpired for a current version that has expired as an incident: an error-level alert, then a rotation', async () => {
    const alerts = f.alertLines(id).length;
    // The version (and its credential) really expired: Key Vault's attributes say so.
    const expiredAt = f.expireCurrentCredential(id);
    app.sandbox.eventGrid.publishRaw({ event: keyVaultEvent(EXPIRED, id, firstVersion, { data: { NBF: '1700000000', EXP: ` ${expiredAt} ` } }) });
    await settle(app);
    expect(f.rotationStarts(id)).toBe(1);
    const incident = f.alertLines(id).slice(alerts);
    expect(incident.some((l) => /credential-expired/.test(l.message))).toBe(true);
    expect(f.alertMails(id).some((m) => /has expired/.test(m.subject))).toBe(true);

    await f.waitForGracePeriod(id);
    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    expect(f.currentVersion(id).version).not.toBe(firstVersion);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
  });

  it('ignores events for a version that is no longer current', async () => {
    const starts = f.rotationStarts();
    for (const type of [NEAR_EXPIRY, EXPIRED]) app.sandbox.eventGrid.publishRaw({ event: keyVaultEvent(type, id, firstVersion) });
    await settle(app);
    expect(f.rotationStarts()).toBe(starts);
    expect(app.logs.filter((l) => l.message.includes(`${secretNameOf(id)} version ${firstVersion}: the current version is`))).toHaveLength(2);
  });
});

// ---- determinism ---------------------------------------------------------------------------------

describe('determinism', () => {
  it('every recorded rotation history replays to the same actions and result, scheduling nothing new', async () => {
    for (const id of ENVIRONMENTS) {
      const instanceId = `rotate-${id}`;
      const status = app.runtime.durable.getStatus(instanceId);
      expect(status?.runtimeStatus).toBe('Completed');
      const first = await app.runtime.durable.replay(instanceId);
      const second = await app.runtime.durable.replay(instanceId);
      expect(JSON.stringify(second.outcome.state?.actions)).toBe(JSON.stringify(first.outcome.state?.actions));
      expect(first.outcome.kind).toBe('state');
      expect(first.outcome.state?.isDone).toBe(true);
      expect(first.outcome.state?.output).toEqual(status?.output);
      expect(first.decisions?.activities ?? []).toEqual([]);
      expect(first.decisions?.timers ?? []).toEqual([]);
    }
  });
});

// ---- leak scan -------------------------------------------------------------------------------

describe('secrets never leak', () => {
  it('no minted secret appears in durable state, logs, HTTP responses or alert mail', async () => {
    const scan = await f.leaks();
    // Setups and rotations of four environments, plus the sandbox's own operator secret.
    expect(scan.secrets).toBeGreaterThanOrEqual(9);
    expect(scan.scanned.some((where) => where.startsWith(`durable${path.sep}`))).toBe(true);
    expect(scan.scanned.some((where) => where.startsWith(`logs${path.sep}`))).toBe(true);
    expect(app.sandbox.state.sentMail.filter((m) => m.to.includes(ALERT_RECIPIENT)).length).toBeGreaterThanOrEqual(2);
    expect(scan.leaks).toEqual([]);
  });
});
