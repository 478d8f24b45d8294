/**
 * Activity `createClientSecret` against the sandbox, through the production composition: a credential
 * whose value never reached Key Vault does not survive (removed before failing, or by the next attempt
 * of the same operation), one the vault may hold after all is not removed, `rotate` always adds a
 * version, and `ensure` keeps a live credential with enough lifetime left but renews one close to expiry.
 */
import { randomUUID } from 'node:crypto';
import type { CallRecord } from '../../sandbox/types';
import { EntraApplications } from '../../src/clients';
import { secretNameFor } from '../../src/contracts/names';
import { SECRET_TAGS } from '../../src/contracts/wellKnown';
import {
  applicationOf,
  prepareApplication,
  setupInputs,
  startActivityHarness,
  versionsOf,
  type ActivityHarness,
  type SetupOptions,
} from './harness';

const ENVIRONMENTS = ['kv-refuses', 'kv-unavailable', 'kv-warm', 'kv-unknown', 'orphan', 'rotate', 'keep', 'renew'];

let h: ActivityHarness;

beforeAll(async () => {
  h = await startActivityHarness({ environmentIds: ENVIRONMENTS });
});

afterAll(async () => {
  await h.stop();
});

afterEach(async () => {
  await h.sandbox.control('/faults', { method: 'DELETE' });
});

async function optionsFor(environmentId: string, extra: Partial<SetupOptions> = {}): Promise<SetupOptions> {
  return {
    environmentId,
    environmentUrl: h.environmentUrl(environmentId),
    tenantId: h.sandbox.endpoints.tenantId,
    requestedAt: await h.now(),
    operationId: randomUUID(),
    ...extra,
  };
}

describe('createClientSecret', () => {
  it.each([
    ['kv-refuses', { status: 403, count: 1 }, 'permanent'],
    // Service unavailable on every attempt, so the SDK's own retries run out.
    ['kv-unavailable', { status: 503, count: 50, retryAfterSeconds: 0 }, 'transient'],
  ] as const)('removes the credential it just created when Key Vault refuses the value (%s)', async (environmentId, fault, kind) => {
    const o = await optionsFor(environmentId);
    const { app } = await prepareApplication(h, o);
    const secretName = secretNameFor(environmentId);
    const added = await h.sandbox.control('/faults', {
      body: { service: 'keyvault', method: 'PUT', pathPattern: `^/secrets/${secretName}$`, ...fault },
    });
    expect(added.status).toBe(201);
    await h.clearCalls();

    const error = await h.failure('createClientSecret', setupInputs.secret(o, app));
    expect(error.kind).toBe(kind);
    expect(error.service).toBe('keyvault');
    expect(error.status).toBe(fault.status);
    expect(error.message).toContain(`for environment ${environmentId}`);
    const puts = (await h.writes()).filter((c) => c.service === 'keyvault' && c.method === 'PUT');
    // A refusal fails at once; an outage is retried by the SDK before the step gives up.
    if (kind === 'transient') expect(puts.length).toBeGreaterThan(2);
    else expect(puts.length).toBeLessThanOrEqual(2);

    const state = await h.state();
    // Entra did create a credential (the minted secret exists), but it is gone again.
    const minted = (await h.sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted.length).toBeGreaterThan(1);
    expect(applicationOf(state, `fno-graph-mail-${environmentId}`).passwordCredentials).toEqual([]);
    expect(versionsOf(state, secretName)).toEqual([]);
  });

  it('keeps a credential whose store failed after Key Vault committed it, when the vault cannot be read: the next attempt returns it', async () => {
    // The SDK's first request to a vault goes without a token to learn the authority (the challenge): a
    // clean store first, so the faults below meet the store itself.
    const warm = await optionsFor('kv-warm');
    await h.run('createClientSecret', setupInputs.secret(warm, (await prepareApplication(h, warm)).app));
    const o = await optionsFor('kv-unknown');
    const { app } = await prepareApplication(h, o);
    const secretName = secretNameFor('kv-unknown');
    // The store is answered 500 after the vault committed it, and every read of the secret fails for a while.
    await h.sandbox.control('/faults', { body: { service: 'keyvault', method: 'PUT', concerning: secretName, status: 500, count: 1, after: true } });
    await h.sandbox.control('/faults', { body: { service: 'keyvault', method: 'GET', concerning: secretName, status: 503, count: 50, retryAfterSeconds: 0 } });
    await h.clearCalls();

    const error = await h.failure('createClientSecret', setupInputs.secret(o, app));
    expect(error).toMatchObject({ kind: 'transient', service: 'keyvault' });
    const answered = (await h.sandbox.control<{ calls: CallRecord[] }>('/calls')).body.calls.filter((c) => c.fault?.after);
    // The fault met the store itself, which the vault committed.
    expect(answered.map((c) => [c.method, c.servedStatus])).toEqual([['PUT', 200]]);
    const stored = versionsOf(await h.state(), secretName);
    expect(stored).toHaveLength(1);
    const keyId = stored[0]?.tags[SECRET_TAGS.credentialKeyId];
    // Removed, it would leave the vault's only version naming a dead credential.
    expect(applicationOf(await h.state(), 'fno-graph-mail-kv-unknown').passwordCredentials.map((c) => c.keyId)).toEqual([keyId]);

    await h.sandbox.control('/faults', { method: 'DELETE' });
    const again = await h.run('createClientSecret', setupInputs.secret(o, app));
    expect(again).toMatchObject({ created: true, reference: { keyId, secretVersion: stored[0]?.version }, removedOrphans: [] });
    const state = await h.state();
    expect(versionsOf(state, secretName)).toHaveLength(1);
    expect(applicationOf(state, 'fno-graph-mail-kv-unknown').passwordCredentials.map((c) => c.keyId)).toEqual([keyId]);
  });

  it('the next attempt of an operation removes the credential a crashed attempt left behind, and nothing else', async () => {
    const o = await optionsFor('orphan');
    const { app } = await prepareApplication(h, o);
    // A crashed attempt: Graph made the credential, the process died before Key Vault stored it.
    const graph = new EntraApplications(h.credential, { graphBaseUrl: h.sandbox.endpoints.graphUrl, tenantId: o.tenantId });
    const end = new Date(Date.parse(o.requestedAt) + 180 * 86_400_000);
    const orphan = await graph.addPassword(app.appObjectId, { displayName: `fno-graph-mail ${o.operationId}`, endDateTime: end });
    // Someone's own secret on the same app, and one of another run: not this operation's to remove.
    const personal = await graph.addPassword(app.appObjectId, { displayName: 'break-glass', endDateTime: end });
    const otherRun = await graph.addPassword(app.appObjectId, { displayName: `fno-graph-mail ${randomUUID()}`, endDateTime: end });

    const out = await h.run('createClientSecret', setupInputs.secret(o, app));
    expect(out.created).toBe(true);
    expect(out.removedOrphans).toEqual([orphan.keyId]);
    expect(h.lines).toContainEqual({ level: 'warn', message: expect.stringContaining(orphan.keyId) as unknown });

    const state = await h.state();
    const keyIds = applicationOf(state, 'fno-graph-mail-orphan').passwordCredentials.map((c) => c.keyId);
    expect(keyIds.sort()).toEqual([personal.keyId, otherRun.keyId, out.reference.keyId].sort());
    const versions = versionsOf(state, secretNameFor('orphan'));
    expect(versions.map((v) => v.tags[SECRET_TAGS.credentialKeyId])).toEqual([out.reference.keyId]);

    // Run once more (the attempt itself crashed after storing): the stored credential is kept.
    const again = await h.run('createClientSecret', setupInputs.secret(o, app));
    expect(again).toEqual({ ...out, removedOrphans: [] });
  });

  it('rotate resumes an undelivered credential, and stores a new version once the current one is delivered', async () => {
    const o = await optionsFor('rotate');
    const { app } = await prepareApplication(h, o);
    const first = await h.run('createClientSecret', setupInputs.secret(o, app, 'ensure'));

    // Not delivered yet (F&O was down): a rotation resumes with it instead of adding another credential.
    const resumed = await h.run('createClientSecret', setupInputs.secret({ ...o, operationId: randomUUID() }, app, 'rotate'));
    expect(resumed.created).toBe(false);
    expect(resumed.reference).toEqual(first.reference);
    await h.run('recordDelivery', { environmentId: o.environmentId, reference: first.reference });

    const rotation = { ...o, operationId: randomUUID() };
    const rotated = await h.run('createClientSecret', setupInputs.secret(rotation, app, 'rotate'));
    expect(rotated.created).toBe(true);
    expect(rotated.reference.keyId).not.toBe(first.reference.keyId);
    expect(rotated.reference.secretName).toBe(first.reference.secretName);
    expect(rotated.reference.secretVersion).not.toBe(first.reference.secretVersion);

    const state = await h.state();
    const versions = versionsOf(state, secretNameFor('rotate'));
    expect(versions.map((v) => v.version)).toEqual([first.reference.secretVersion, rotated.reference.secretVersion]);
    expect(versions[1]?.tags).toMatchObject({
      [SECRET_TAGS.credentialKeyId]: rotated.reference.keyId,
      [SECRET_TAGS.operationId]: rotation.operationId,
    });
    // The old credential stays until the new one is verified and the grace period is over.
    const keyIds = applicationOf(state, 'fno-graph-mail-rotate').passwordCredentials.map((c) => c.keyId);
    expect(keyIds.sort()).toEqual([first.reference.keyId, rotated.reference.keyId].sort());
  });

  it('ensure keeps a live credential with enough lifetime left and writes nothing', async () => {
    const o = await optionsFor('keep', { lifetimeDays: 180, minRemainingDays: 30 });
    const { app } = await prepareApplication(h, o);
    const first = await h.run('createClientSecret', setupInputs.secret(o, app));

    // A later setup run (another operation) for the same environment.
    await h.clearCalls();
    const kept = await h.run('createClientSecret', setupInputs.secret({ ...o, operationId: randomUUID() }, app));
    expect(await h.writes()).toEqual([]);
    expect(kept).toEqual({ reference: first.reference, created: false, delivered: false, removedOrphans: [] });

    const state = await h.state();
    expect(applicationOf(state, 'fno-graph-mail-keep').passwordCredentials.map((c) => c.keyId)).toEqual([first.reference.keyId]);
    expect(versionsOf(state, secretNameFor('keep'))).toHaveLength(1);
  });

  it('ensure renews a credential that expires within minRemainingDays', async () => {
    const o = await optionsFor('renew', { lifetimeDays: 20, minRemainingDays: 30 });
    const { app } = await prepareApplication(h, o);
    const first = await h.run('createClientSecret', setupInputs.secret(o, app));

    const renewed = await h.run('createClientSecret', setupInputs.secret({ ...o, operationId: randomUUID(), lifetimeDays: 180 }, app));
    expect(renewed.created).toBe(true);
    expect(renewed.reference.keyId).not.toBe(first.reference.keyId);
    // The new lifetime counts from the request (to the second: Key Vault keeps whole seconds).
    expect(Math.abs(Date.parse(renewed.reference.expiresOn) - Date.parse(o.requestedAt) - 180 * 86_400_000)).toBeLessThan(1000);

    const state = await h.state();
    const credentials = applicationOf(state, 'fno-graph-mail-renew').passwordCredentials;
    expect(credentials.find((c) => c.keyId === renewed.reference.keyId)?.endDateTime).toBe(renewed.reference.expiresOn);
    const versions = versionsOf(state, secretNameFor('renew'));
    expect(versions.map((v) => v.tags[SECRET_TAGS.credentialKeyId])).toEqual([first.reference.keyId, renewed.reference.keyId]);
  });

  it('no secret minted during these runs appears in any activity output, log line or error message', async () => {
    const { minted, leaked } = await h.leaks();
    expect(minted).toBeGreaterThan(ENVIRONMENTS.length);
    expect(h.seen.length).toBeGreaterThan(20);
    expect(leaked).toBe(0);
  });
});
