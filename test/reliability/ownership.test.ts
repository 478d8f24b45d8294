/**
 * Only the product's own applications. Any tenant user may register apps, and the product's
 * `Application.ReadWrite.OwnedBy` reads every app (the sandbox models it as Graph documents it), so an
 * app found under an environment's name is not proof of anything. Attacks, each with a positive control:
 * a user registers the environment's name first; a user makes the product's identity a co-owner of
 * their app; the product's identity is made sole owner of an app that still holds someone's secret (on
 * the app or its service principal); the registry's tags are edited to name someone else's app. None of
 * them gets consent, a password or a change; the run fails naming the app and what to do, and says so.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['own-a', 'squat-b', 'coowned-c', 'leftover-d', 'spsecret-e', 'adopt-f', 'tags-g', 'shared-h'];
const ALERTS_TO = 'ops@contoso.onmicrosoft.com';
const MAIL_SEND_ROLE = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: ENVIRONMENTS, secretPropagationSeconds: 0, managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Mail.Send'] },
    appSettings: { ALERT_RECIPIENTS: ALERTS_TO, ROTATION_GRACE_HOURS: '0', ROTATION_SWEEP_SCHEDULE: '0 0 0 1 1 *', DRIFT_CHECK_SCHEDULE: '0 0 0 1 1 *' },
  });
  f = fleetView(app, ALERTS_TO);
});

afterAll(async () => {
  await app?.stop();
});

const state = () => app.sandbox.state;
const appByName = (id: string) => state().applications.find((a) => a.uniqueName === `fno-graph-mail-${id}`);
const spOf = (appId: string) => state().servicePrincipals.find((s) => s.appId === appId);
const mailSendGrantedTo = (appId: string): boolean => {
  const sp = spOf(appId);
  return sp !== undefined && state().appRoleAssignments.some((a) => a.principalId === sp.id && a.appRoleId === MAIL_SEND_ROLE);
};

/** What someone does in the portal: an app under the name, owned as told. */
async function register(environmentId: string, owners: string[]): Promise<{ id: string; appId: string }> {
  return app.control('/applications', { uniqueName: `fno-graph-mail-${environmentId}`, displayName: 'Looks legitimate', owners, tags: [`fno-graph-mail:environment:${environmentId}`] });
}

function addSecret(objectId: string, displayName: string): string {
  const target = state().applications.find((a) => a.id === objectId)!;
  const { secretText, hint } = state().mintSecret();
  const keyId = randomUUID();
  const now = state().now();
  target.passwordCredentials.push({ keyId, displayName, hint, customKeyIdentifier: null, startDateTime: new Date(now).toISOString(), endDateTime: new Date(now + 90 * 86_400_000).toISOString(), secretText, usableFrom: now });
  return keyId;
}

async function setUp(environmentId: string) {
  const reply = await app.api<{ instanceId: string }>('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) });
  expect(reply.status).toBe(202);
  return app.waitForOperation(reply.body.instanceId);
}

describe('an app someone else registered under the environment name', () => {
  it('positive control: with no app under the name, setup registers, tags and owns one', async () => {
    const done = await setUp('own-a');
    expect(done.runtimeStatus).toBe('Completed');
    const created = appByName('own-a')!;
    expect(created.tags).toContain('fno-graph-mail:environment:own-a');
    expect(created.owners).toEqual([app.endpoints.managedIdentity.servicePrincipalId]);
    expect(mailSendGrantedTo(created.appId)).toBe(true);
  });

  it('is refused when a user registered the name first: no consent, no password, no change, nothing in Key Vault', async () => {
    const squatted = await register('squat-b', ['user']);
    const before = JSON.stringify(state().applications.find((a) => a.id === squatted.id));
    const done = await setUp('squat-b');
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.error).toContain(`Step registerApplication failed:`);
    expect(done.error).toContain(`application ${squatted.appId} (object ${squatted.id}) is not the product's own for environment squat-b: the product's identity is not among its owners`);
    expect(done.error).toContain('delete it in Entra ID');
    expect(JSON.stringify(state().applications.find((a) => a.id === squatted.id))).toBe(before);
    expect(mailSendGrantedTo(squatted.appId)).toBe(false);
    expect(state().secrets.find((s) => s.name === 'fno-graph-mail-squat-b')).toBeUndefined();
  });

  it('is refused when the product is only a co-owner: the user who also owns it could add a secret', async () => {
    const coowned = await register('coowned-c', ['user', 'product']);
    const done = await setUp('coowned-c');
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.error).toMatch(/it has other owners \([0-9a-f-]+\), who can add credentials to it/);
    expect(mailSendGrantedTo(coowned.appId)).toBe(false);
    expect(state().applications.find((a) => a.id === coowned.id)!.passwordCredentials).toEqual([]);
  });

  it('is refused when it is left to the product but still holds a secret someone else made', async () => {
    const leftover = await register('leftover-d', ['product']);
    const theirs = addSecret(leftover.id, 'my backup key');
    const done = await setUp('leftover-d');
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.error).toContain(`it holds client secrets the product did not create (${theirs})`);
    expect(mailSendGrantedTo(leftover.appId)).toBe(false);
  });

  it("is refused when its service principal holds a credential (it signs in as the app too)", async () => {
    const spSecret = await register('spsecret-e', ['product']);
    await app.control('/consent', { appId: spSecret.appId });
    const sp = spOf(spSecret.appId)!;
    (sp as unknown as { passwordCredentials: Array<Record<string, unknown>> }).passwordCredentials ??= [];
    const { secretText, hint } = state().mintSecret();
    (sp as unknown as { passwordCredentials: Array<Record<string, unknown>> }).passwordCredentials.push({
      keyId: randomUUID(),
      displayName: 'sp key',
      hint,
      customKeyIdentifier: null,
      startDateTime: state().nowIso(),
      endDateTime: new Date(state().now() + 86_400_000).toISOString(),
      secretText,
      usableFrom: 0,
    });
    const done = await setUp('spsecret-e');
    expect(done.runtimeStatus).toBe('Failed');
    expect(done.error).toContain('its service principal holds credentials');
  });

  it('positive control: an app the product alone owns, tagged for the environment, holding only a secret of its own name, is adopted and that secret removed first', async () => {
    const adoptable = await register('adopt-f', ['product']);
    const stray = addSecret(adoptable.id, `fno-graph-mail ${randomUUID()}`);
    const done = await setUp('adopt-f');
    expect(done.runtimeStatus).toBe('Completed');
    const adopted = state().applications.find((a) => a.id === adoptable.id)!;
    expect(adopted.passwordCredentials.map((c) => c.keyId)).not.toContain(stray);
    expect(adopted.passwordCredentials).toHaveLength(1);
    expect(mailSendGrantedTo(adoptable.appId)).toBe(true);
    expect(f.currentVersion('adopt-f').tags['app-id']).toBe(adoptable.appId);
  });
});

describe("registry tags are hints, checked in Graph", () => {
  it('a rotation and a drift check refuse an app the tags name that is not the product\'s, touching nothing', async () => {
    expect((await setUp('tags-g')).runtimeStatus).toBe('Completed');
    const victim = await app.control<{ id: string; appId: string }>('/applications', { uniqueName: 'someone-elses-app', owners: ['user'] });
    // Someone with write access to the vault points the record at their app.
    const current = f.currentVersion('tags-g');
    current.tags['app-id'] = victim.appId;
    current.tags['app-object-id'] = victim.id;

    const rotate = await app.api('POST', '/api/environments/tags-g/rotate', {});
    expect(rotate.status).toBe(202);
    const rotation = await app.waitForOperation('rotate-tags-g');
    expect(rotation.runtimeStatus).toBe('Failed');
    expect(rotation.error).toContain(`the registry names application ${victim.appId} for environment tags-g, but it is not the product's own`);

    const outcome = await app.runtime.timers.runNow('driftCheck');
    if (!outcome.ok) throw outcome.error;
    await settle(app);
    const drift = await app.waitForOperation('drift-tags-g');
    expect(drift.runtimeStatus).toBe('Completed');
    expect((drift.output as { found: string[] }).found[0]).toContain("but it is not the product's own");
    expect(f.alertMails('tags-g').some((m) => m.subject === 'Drift found on the F&O email setup of tags-g')).toBe(true);

    const untouched = state().applications.find((a) => a.id === victim.id)!;
    expect(untouched.passwordCredentials).toEqual([]);
    expect(mailSendGrantedTo(victim.appId)).toBe(false);
  });

  it('positive control and a finding: a co-owner added to the product\'s own app is reported by the drift check', async () => {
    expect((await setUp('shared-h')).runtimeStatus).toBe('Completed');
    const own = appByName('shared-h')!;
    const someone = state().tenants[0]!.users?.[0]?.id ?? randomUUID();
    own.owners.push(someone);
    const outcome = await app.runtime.timers.runNow('driftCheck');
    if (!outcome.ok) throw outcome.error;
    await settle(app);
    const drift = await app.waitForOperation('drift-shared-h');
    expect((drift.output as { found: string[] }).found).toContain(`the app registration has owners besides the product's identity (${someone}), who can add credentials to it`);
  });
});
