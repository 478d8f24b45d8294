/**
 * The evidence activities, built by the production composition root and signed in as the function
 * app's managed identity with the evidence roles, against the sandbox: `readFinOpsEvidence` sorting the
 * app's sign-ins by the environment's credentials (current, a previous enabled Key Vault version, a key
 * no version records) and reporting failures with their code and key; F&O's own view (provider, the
 * application id the extension holds, email health) and each part standing when another cannot be read;
 * `recordFinOpsEvidence` writing only its tag, once; `describeFinOps` telling a closed F&O from an
 * outage; `sendFinOpsTestEmail` answering with F&O's own status.
 */
import { randomUUID } from 'node:crypto';
import { formatEvidenceTag, judgeFinOpsDrift, judgeProof, parseEvidenceTag, type FinOpsEvidence } from '../../src/contracts/evidence';
import type { ActivityInput } from '../../src/contracts/activities';
import type { CallRecord } from '../../sandbox/types';
import { secretNameFor } from '../../src/contracts/names';
import { SECRET_TAGS } from '../../src/contracts/wellKnown';
import { DEPLOYED_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { finopsControl, finopsState } from '../helpers/finopsMail';
import { GRAPH_SCOPE, graphClient } from '../helpers/identity';
import { runSetup, setupInputs, startActivityHarness, versionsOf, type ActivityHarness, type SetupOptions, type SetupOutputs } from './harness';

const ENVIRONMENTS = ['ev-keys', 'ev-window', 'ev-view', 'ev-source', 'ev-copy', 'ev-parts', 'ev-record', 'ev-describe', 'ev-send'];
/** A secret no app holds; typed on F&O's form or used to sign in, it must not show up in any output. */
const WRONG_SECRET = 'Wr0ng~secret-typed-on-the-form-0123456789';

let h: ActivityHarness;

beforeAll(async () => {
  // The identity as a deployment that reads evidence leaves it (`grant-graph-permissions`).
  h = await startActivityHarness({ environmentIds: ENVIRONMENTS, managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES });
  // Entra's ingestion delay is the client's concern (test/clients/signInLog.test.ts): here sign-ins show at once.
  await h.sandbox.control('/settings', { body: { signInLogDelayMinutes: 0 } });
});

afterAll(async () => {
  await h.stop();
});

afterEach(async () => {
  await h.sandbox.control('/faults', { method: 'DELETE' });
});

async function optionsFor(environmentId: string): Promise<SetupOptions> {
  return {
    environmentId,
    environmentUrl: h.environmentUrl(environmentId),
    tenantId: h.sandbox.endpoints.tenantId,
    requestedAt: await h.now(),
    operationId: randomUUID(),
  };
}

/** An ISO time cut to whole seconds (sign-ins are logged at whole seconds). */
function wholeSeconds(iso: string): string {
  return new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString();
}

function nowSeconds(): string {
  return wholeSeconds(h.sandbox.state.nowIso());
}

async function advance(duration: string): Promise<void> {
  expect((await h.sandbox.control('/clock', { body: { advance: duration } })).status).toBe(200);
  await h.sandbox.finopsMail.idle();
}

function evidenceInput(o: SetupOptions, setup: Pick<SetupOutputs, 'app'>, keyId: string, since: string, read = { provider: true, credential: true, health: true }): ActivityInput<'readFinOpsEvidence'> {
  return {
    environmentId: o.environmentId,
    environmentUrl: o.environmentUrl,
    tenantId: o.tenantId,
    appId: setup.app.appId,
    secretName: secretNameFor(o.environmentId),
    keyId,
    since,
    asOf: h.sandbox.state.nowIso(),
    read,
  };
}

/** One run of F&O's Email distributor batch (one queued workflow notification, sent with the provider F&O holds). */
async function runBatchOnce(environmentId: string): Promise<void> {
  await finopsControl(h.sandbox, environmentId, 'batch', { running: true });
  await h.sandbox.finopsMail.idle();
  await finopsControl(h.sandbox, environmentId, 'batch', { running: false });
}

/** A client-credentials sign-in of the app with `secret`, as F&O makes one. */
function signInWith(appId: string, secret: string): Promise<unknown> {
  return h.sandbox.clientSecretCredential(appId, secret).getToken(GRAPH_SCOPE);
}

async function secretOf(name: string, version: string): Promise<string> {
  const value = (await h.sandbox.secretClient(h.credential).getSecret(name, { version })).value;
  if (!value) throw new Error(`no value in ${name}/${version}`);
  return value;
}

describe('readFinOpsEvidence: the sign-in log', () => {
  it("sorts the app's sign-ins by the environment's credentials and reports the newest failure with its code and key", async () => {
    const o = await optionsFor('ev-keys');
    const setup = await runSetup(h, o);
    const rotated = await h.run('createClientSecret', setupInputs.secret({ ...o, operationId: randomUUID() }, setup.app, 'rotate'));
    const name = rotated.reference.secretName;
    const previousKey = setup.secret.reference.keyId;
    const currentKey = rotated.reference.keyId;
    // A credential someone added by hand: no Key Vault version records it.
    const graph = graphClient(h.sandbox, h.credential);
    const byHand = (await graph.api(`/applications/${setup.app.appObjectId}/addPassword`).post({ passwordCredential: { displayName: 'added by hand' } })) as { keyId: string; secretText: string };
    const shortLived = (await graph.api(`/applications/${setup.app.appObjectId}/addPassword`).post({
      passwordCredential: { displayName: 'short-lived', endDateTime: new Date(h.sandbox.state.now() + 3_600_000).toISOString() },
    })) as { keyId: string; secretText: string };
    await advance('PT1M');
    // The product's own verification sign-in came before: outside the window.
    const since = nowSeconds();

    const current = await secretOf(name, rotated.reference.secretVersion);
    const previous = await secretOf(name, setup.secret.reference.secretVersion);
    await signInWith(setup.app.appId, current);
    await signInWith(setup.app.appId, previous);
    await advance('PT10S');
    await signInWith(setup.app.appId, current);
    await signInWith(setup.app.appId, byHand.secretText);
    await advance('PT10S');
    await expect(signInWith(setup.app.appId, WRONG_SECRET)).rejects.toThrow(/AADSTS7000215/);

    // Key ids arrive in any case: the current one is recognised all the same.
    const first = await h.run('readFinOpsEvidence', evidenceInput(o, setup, currentKey.toUpperCase(), since));
    expect(first.signIns).toEqual({
      access: 'available',
      current: { successes: 2, firstSuccessAt: expect.any(String) as unknown, lastSuccessAt: expect.any(String) as unknown },
      previous: { successes: 1, firstSuccessAt: expect.any(String) as unknown, lastSuccessAt: expect.any(String) as unknown },
      other: { keyIds: [byHand.keyId], lastSuccessAt: expect.any(String) as unknown },
      failures: { count: 1, last: { at: expect.any(String) as unknown, code: 7000215, reason: expect.stringMatching(/^Invalid client secret provided/) as unknown } },
      truncated: false,
    });
    if (first.signIns.access !== 'available') throw new Error('unavailable');
    expect(Date.parse(first.signIns.current.lastSuccessAt ?? '')).toBeGreaterThanOrEqual(Date.parse(first.signIns.current.firstSuccessAt ?? '') + 10_000);
    expect(Date.parse(first.signIns.current.firstSuccessAt ?? '')).toBeGreaterThanOrEqual(Date.parse(since));
    // An unknown secret names no key.
    expect(first.signIns.failures.last).not.toHaveProperty('keyId');

    // An expired secret is named by its key, and the newest failure is the one reported.
    await advance('PT2H');
    await expect(signInWith(setup.app.appId, shortLived.secretText)).rejects.toThrow(/AADSTS7000222/);
    const second = await h.run('readFinOpsEvidence', evidenceInput(o, setup, currentKey, since));
    expect(second.signIns).toMatchObject({ access: 'available', failures: { count: 2, last: { code: 7000222, keyId: shortLived.keyId } } });

    // A disabled version is no longer this environment's: its key counts as one nobody holds.
    await h.sandbox.secretClient(h.credential).updateSecretProperties(name, setup.secret.reference.secretVersion, { enabled: false });
    const third = await h.run('readFinOpsEvidence', evidenceInput(o, setup, currentKey, since));
    expect(third.signIns).toMatchObject({ access: 'available', previous: { successes: 0 }, other: { keyIds: [previousKey, byHand.keyId].sort() } });

    // Without Key Vault it cannot tell a previous credential from a foreign one: the read failed, it is not evidence.
    await h.sandbox.control('/faults', { body: { service: 'keyvault', method: 'GET', pathPattern: `^/secrets/${name}/versions`, status: 403, count: 5 } });
    const blind = await h.run('readFinOpsEvidence', evidenceInput(o, setup, currentKey, since));
    expect(blind.signIns).toEqual({ access: 'failed', message: expect.stringContaining('Key Vault') as unknown });
  });

  it('reads nothing before `since`, and says when the log cannot be read at all', async () => {
    const o = await optionsFor('ev-window');
    const setup = await runSetup(h, o);
    const key = setup.secret.reference.keyId;
    // The verification sign-in with the new secret is before this window.
    await advance('PT1M');
    const empty = await h.run('readFinOpsEvidence', evidenceInput(o, setup, key, nowSeconds()));
    expect(empty.signIns).toEqual({ access: 'available', current: { successes: 0 }, previous: { successes: 0 }, other: { keyIds: [] }, failures: { count: 0 }, truncated: false });
    // From before the setup the product's own verification shows (from the whole second: the sandbox's log, like Graph's view of it, keeps whole seconds).
    const all = await h.run('readFinOpsEvidence', evidenceInput(o, setup, key, wholeSeconds(o.requestedAt)));
    expect(all.signIns).toMatchObject({ access: 'available', current: { successes: 1 } });

    await h.sandbox.control('/faults', {
      body: { service: 'graph', pathPattern: 'auditLogs/signIns', status: 403, count: 1, code: 'Authentication_MSGraphPermissionMissing', message: 'Calling principal does not have required MSGraph permissions AuditLog.Read.All' },
    });
    expect((await h.run('readFinOpsEvidence', evidenceInput(o, setup, key, wholeSeconds(o.requestedAt)))).signIns).toEqual({
      access: 'unavailable',
      reason: 'permission',
      message: 'Calling principal does not have required MSGraph permissions AuditLog.Read.All',
    });
  });
});

describe("readFinOpsEvidence: F&O's own view", () => {
  it('shows the provider, the application id the extension holds and the email health, and proves use with F&O’s own sign-in', async () => {
    const o = await optionsFor('ev-view');
    const setup = await runSetup(h, o);
    await advance('PT1M');
    const since = nowSeconds();
    await runBatchOnce('ev-view');

    const reading = await h.run('readFinOpsEvidence', evidenceInput(o, setup, setup.secret.reference.keyId, since));
    const sentAt = (await finopsState(h.sandbox, 'ev-view')).emailHistory[0]?.at;
    expect(reading.finOps).toEqual({
      provider: 'Graph',
      applicationId: setup.app.appId,
      health: { lastSuccessAt: expect.any(String) as unknown, lastSuccessProvider: 'Graph', failuresLast24Hours: 0, lastFailureAt: null, lastFailureDetails: null },
      problems: [],
    });
    expect(Date.parse(reading.finOps.health?.lastSuccessAt ?? '')).toBe(Date.parse(String(sentAt)));
    expect(reading.signIns).toMatchObject({ access: 'available', current: { successes: 1 } });
    expect(judgeProof(reading, { appId: setup.app.appId, keyId: setup.secret.reference.keyId }).state).toBe('proven');

    // A wrong secret typed on the form: F&O's next token request fails, and both sources show it.
    await finopsControl(h.sandbox, 'ev-view', 'form', { secret: WRONG_SECRET });
    await advance('PT1H');
    await runBatchOnce('ev-view');
    const failing = await h.run('readFinOpsEvidence', evidenceInput(o, setup, setup.secret.reference.keyId, since));
    expect(failing.finOps.health).toMatchObject({ failuresLast24Hours: 1, lastFailureDetails: expect.stringMatching(/^AADSTS7000215/) as unknown });
    expect(failing.signIns).toMatchObject({ access: 'available', failures: { count: 1, last: { code: 7000215 } } });
    expect(judgeFinOpsDrift(failing, { appId: setup.app.appId, keyId: setup.secret.reference.keyId, lastCheckedAt: since, silenceHours: 24 }).redeliver).toBe(true);

    // Only what was asked for is read.
    const providerOnly = await h.run('readFinOpsEvidence', evidenceInput(o, setup, setup.secret.reference.keyId, since, { provider: true, credential: false, health: false }));
    expect(providerOnly.finOps).toEqual({ provider: 'Graph', problems: [] });

    // Without the extension there is no application id or health to read, and nothing is wrong.
    await finopsControl(h.sandbox, 'ev-view', 'extension', { installed: false });
    try {
      const plain = await h.run('readFinOpsEvidence', evidenceInput(o, setup, setup.secret.reference.keyId, since));
      expect(plain.finOps).toEqual({ provider: 'Graph', problems: [] });
      expect(plain.finOps).not.toHaveProperty('applicationId');
      expect(judgeProof(plain, { appId: setup.app.appId, keyId: setup.secret.reference.keyId }).state).toBe('proven');
    } finally {
      await finopsControl(h.sandbox, 'ev-view', 'extension', { installed: true });
    }
  });

  it("shows another environment's application and a secret F&O cannot decrypt after a database copy", async () => {
    const source = await runSetup(h, await optionsFor('ev-source'));
    const o = await optionsFor('ev-copy');
    const setup = await runSetup(h, o);
    await advance('PT1M');
    const since = nowSeconds();
    await finopsControl(h.sandbox, 'ev-copy', 'copy-database', { from: 'ev-source' });
    await runBatchOnce('ev-copy');

    const reading = await h.run('readFinOpsEvidence', evidenceInput(o, setup, setup.secret.reference.keyId, since));
    expect(reading.finOps).toMatchObject({
      provider: 'Graph',
      applicationId: source.app.appId,
      health: { lastFailureDetails: expect.stringContaining('CryptoEncryptionException') as unknown },
      problems: [],
    });
    // No sign-in at all: F&O could not even ask for a token.
    expect(reading.signIns).toMatchObject({ access: 'available', current: { successes: 0 }, failures: { count: 0 } });
    const drift = judgeFinOpsDrift(reading, {
      appId: setup.app.appId,
      keyId: setup.secret.reference.keyId,
      lastCheckedAt: since,
      silenceHours: 24,
      deliveredSinceMs: Date.parse(since),
    });
    expect(drift).toEqual({
      findings: [`F&O holds application ${source.app.appId}, not ${setup.app.appId}`, expect.stringContaining('CryptoEncryptionException') as unknown],
      redeliver: true,
    });
  });

  it('keeps every part it could read when another part fails', async () => {
    const o = await optionsFor('ev-parts');
    const { app, secret } = await runSetup(h, o);
    const input = evidenceInput(o, { app }, secret.reference.keyId, o.requestedAt);

    await h.clearCalls();
    const whole = await h.run('readFinOpsEvidence', input);
    expect(whole.finOps).toMatchObject({ provider: 'Graph', applicationId: app.appId, problems: [] });
    expect(whole.finOps.health).toBeDefined();
    // One read of the email parameters gives the provider and the key of the credential record.
    const finOpsReads = async (): Promise<string[]> =>
      (await h.sandbox.control<{ calls: CallRecord[] }>('/calls')).body.calls.filter((c) => c.service === 'finops').map((c) => `${c.method} ${c.path.split('?')[0]}`);
    expect((await finOpsReads()).sort()).toEqual(['GET /data/EmailParameters', "GET /data/GraphEmailCredentials(ID='1')", 'GET /data/GraphEmailHealth']);

    // F&O refuses the email parameters: the provider is missing and said to be, and so is the application id
    // (the credential entity is keyed by the email parameters record); the health and the sign-ins stand.
    // The one refused read is the failure of both.
    await h.clearCalls();
    await h.sandbox.control('/faults', { body: { service: 'finops', method: 'GET', pathPattern: '^/data/EmailParameters', status: 403, count: 5 } });
    const noProvider = await h.run('readFinOpsEvidence', input);
    await h.sandbox.control('/faults', { method: 'DELETE' });
    expect(await finOpsReads()).toEqual(expect.arrayContaining(['GET /data/EmailParameters', 'GET /data/GraphEmailHealth']));
    expect(await finOpsReads()).toHaveLength(2);
    expect(noProvider.finOps).not.toHaveProperty('provider');
    expect(noProvider.finOps).not.toHaveProperty('applicationId');
    expect([...noProvider.finOps.problems].sort()).toEqual([
      expect.stringMatching(/^F&O's batch email provider could not be read: .*ev-parts.*403/),
      expect.stringMatching(/^the application id F&O holds could not be read: .*403/),
    ]);
    expect(noProvider.finOps.health).toEqual(whole.finOps.health);
    expect(noProvider.signIns).toEqual(whole.signIns);

    // The credential entity refuses: the application id is missing and said to be.
    await h.sandbox.control('/faults', { body: { service: 'finops', method: 'GET', pathPattern: '^/data/GraphEmailCredentials', status: 403, count: 5 } });
    const noApplication = await h.run('readFinOpsEvidence', input);
    await h.sandbox.control('/faults', { method: 'DELETE' });
    expect(noApplication.finOps).not.toHaveProperty('applicationId');
    expect(noApplication.finOps.problems).toEqual([expect.stringMatching(/^the application id F&O holds could not be read: /)]);
    expect(noApplication.finOps).toMatchObject({ provider: 'Graph', health: whole.finOps.health });

    // The health entity fails: said, the rest stands.
    await h.sandbox.control('/faults', { body: { service: 'finops', method: 'GET', pathPattern: '^/data/GraphEmailHealth', status: 403, count: 5 } });
    const noHealth = await h.run('readFinOpsEvidence', input);
    await h.sandbox.control('/faults', { method: 'DELETE' });
    expect(noHealth.finOps).not.toHaveProperty('health');
    expect(noHealth.finOps.problems).toEqual([expect.stringMatching(/^F&O's email health could not be read: /)]);
    expect(noHealth.finOps).toMatchObject({ provider: 'Graph', applicationId: app.appId });

    // Graph fails: the sign-in log read failed, F&O's view is whole.
    await h.sandbox.control('/faults', { body: { service: 'graph', pathPattern: 'auditLogs/signIns', status: 500, count: 5 } });
    const noSignIns = await h.run('readFinOpsEvidence', input);
    expect(noSignIns.signIns).toEqual({ access: 'failed', message: expect.stringContaining('Microsoft Graph') as unknown });
    expect(noSignIns.finOps).toEqual(whole.finOps);
  });
});

describe('recordFinOpsEvidence', () => {
  it('writes only the finops-evidence tag of the version, and nothing when it already says the same', async () => {
    const o = await optionsFor('ev-record');
    const setup = await runSetup(h, o);
    const rotated = await h.run('createClientSecret', setupInputs.secret({ ...o, operationId: randomUUID() }, setup.app, 'rotate'));
    const name = rotated.reference.secretName;
    const before = versionsOf(await h.state(), name);
    expect(before).toHaveLength(2);

    const evidence: FinOpsEvidence = { checkedAt: '2026-03-01T10:00:00Z', since: '2026-03-01T09:00:00Z', provenAt: '2026-03-01T09:05:00Z', lastSignInAt: '2026-03-01T09:55:00Z', provider: 'Graph' };
    await h.clearCalls();
    expect(await h.run('recordFinOpsEvidence', { environmentId: 'ev-record', reference: rotated.reference, evidence })).toEqual({ updated: true });
    const writes = await h.writes();
    expect(writes.map((c) => [c.service, c.method, c.path])).toEqual([['keyvault', 'PATCH', `/secrets/${name}/${rotated.reference.secretVersion}`]]);

    const after = versionsOf(await h.state(), name);
    const version = (list: typeof after, v: string) => list.find((x) => x.version === v);
    const current = version(after, rotated.reference.secretVersion);
    expect(current?.tags).toEqual({ ...version(before, rotated.reference.secretVersion)?.tags, [SECRET_TAGS.finOpsEvidence]: formatEvidenceTag(evidence) });
    expect(parseEvidenceTag(current?.tags[SECRET_TAGS.finOpsEvidence])).toEqual(evidence);
    // Nothing else about the version, and nothing of the other version, changed.
    expect({ ...current, tags: undefined }).toEqual({ ...version(before, rotated.reference.secretVersion), tags: undefined });
    expect(version(after, setup.secret.reference.secretVersion)).toEqual(version(before, setup.secret.reference.secretVersion));

    // Activities run at least once: the same evidence again writes nothing.
    await h.clearCalls();
    expect(await h.run('recordFinOpsEvidence', { environmentId: 'ev-record', reference: rotated.reference, evidence })).toEqual({ updated: false });
    expect(await h.writes()).toEqual([]);

    // New findings replace the tag.
    const later: FinOpsEvidence = { ...evidence, checkedAt: '2026-03-02T10:00:00Z', lastFailureAt: '2026-03-02T09:00:00Z', lastFailureCode: 7000215 };
    expect(await h.run('recordFinOpsEvidence', { environmentId: 'ev-record', reference: rotated.reference, evidence: later })).toEqual({ updated: true });
    const tags = version(versionsOf(await h.state(), name), rotated.reference.secretVersion)?.tags ?? {};
    expect(parseEvidenceTag(tags[SECRET_TAGS.finOpsEvidence])).toEqual(later);
    expect(Object.keys(tags).sort()).toEqual(Object.keys(current?.tags ?? {}).sort());
  });
});

describe('describeFinOps', () => {
  it('reads what of the extension F&O declares, with and without it', async () => {
    const input = { environmentId: 'ev-describe', tenantId: h.sandbox.endpoints.tenantId, environmentUrl: h.environmentUrl('ev-describe') };
    expect(await h.run('describeFinOps', input)).toEqual({ reachable: true, credentialEntity: true, sendTestEmail: true, emailHealth: true });
    await finopsControl(h.sandbox, 'ev-describe', 'extension', { installed: false });
    try {
      expect(await h.run('describeFinOps', input)).toEqual({ reachable: true, credentialEntity: false, sendTestEmail: false, emailHealth: false });
    } finally {
      await finopsControl(h.sandbox, 'ev-describe', 'extension', { installed: true });
    }
  });

  it.each([403, 404])('answers reachable: false, with the reason, for an F&O that answers %i', async (status) => {
    const input = { environmentId: 'ev-describe', tenantId: h.sandbox.endpoints.tenantId, environmentUrl: h.environmentUrl('ev-describe') };
    await h.sandbox.control('/faults', { body: { service: 'finops', pathPattern: '^/data/\\$metadata', status, count: 5 } });
    const out = await h.run('describeFinOps', input);
    expect(out).toEqual({ reachable: false, credentialEntity: false, sendTestEmail: false, emailHealth: false, reason: expect.stringContaining('ev-describe') as unknown });
    expect(out.reason).toContain(String(status));
  });

  it('throws for an F&O that is unavailable, so the run retries', async () => {
    const input = { environmentId: 'ev-describe', tenantId: h.sandbox.endpoints.tenantId, environmentUrl: h.environmentUrl('ev-describe') };
    await h.sandbox.control('/faults', { body: { service: 'finops', pathPattern: '^/data/\\$metadata', status: 503, count: 50, retryAfterSeconds: 0 } });
    const error = await h.failure('describeFinOps', input);
    expect(error).toMatchObject({ kind: 'transient', service: 'finops', status: 503, environmentId: 'ev-describe' });
    expect(error.retryable).toBe(true);
  });
});

describe('sendFinOpsTestEmail', () => {
  it("answers with F&O's own status: failed, sent, not Graph", async () => {
    const o = await optionsFor('ev-send');
    const setup = await runSetup(h, o);
    const input = { environmentId: 'ev-send', tenantId: o.tenantId, environmentUrl: o.environmentUrl, recipient: 'it-team@contoso.com' };
    const sent = () => h.sandbox.state.sentMail.filter((m) => m.senderAppId === setup.app.appId).length;

    await finopsControl(h.sandbox, 'ev-send', 'form', { secret: WRONG_SECRET });
    const failed = await h.run('sendFinOpsTestEmail', input);
    expect(failed).toEqual({ status: 'Failed', message: expect.stringContaining('AADSTS7000215') as unknown });
    expect(sent()).toBe(0);

    // Re-delivered: F&O holds the right secret again.
    await h.run('deliverToFinOps', { ...setupInputs.deliver(o, setup.app, setup.secret), force: true });
    expect(await h.run('sendFinOpsTestEmail', input)).toEqual({ status: 'Sent', message: 'Microsoft Graph accepted the test message.' });
    expect(sent()).toBe(1);
    expect(h.lines).toContainEqual({ level: 'info', message: 'F&O environment ev-send test send: Sent' });

    await finopsControl(h.sandbox, 'ev-send', 'form', { batchProvider: 'SMTP' });
    expect(await h.run('sendFinOpsTestEmail', input)).toEqual({ status: 'NotGraph', message: 'the batch email provider is SMTP, not Graph; nothing was sent.' });
    expect(sent()).toBe(1);
  });

  it('refuses a recipient that is not one plain address before asking F&O, without repeating it', async () => {
    await h.clearCalls();
    const error = await h.failure('sendFinOpsTestEmail', { environmentId: 'ev-send', tenantId: h.sandbox.endpoints.tenantId, environmentUrl: h.environmentUrl('ev-send'), recipient: 'a@contoso.com; b@evil.example' });
    expect(error).toMatchObject({ kind: 'permanent', code: 'InvalidRecipient' });
    expect(error.message).not.toContain('evil.example');
    expect(await h.writes()).toEqual([]);
  });
});

describe('secrets', () => {
  it('never appear in any output, log line or error of the activities above', async () => {
    const { minted, leaked } = await h.leaks();
    expect(minted).toBeGreaterThan(8);
    expect(leaked).toBe(0);
    expect(h.seen.join('\n')).not.toContain(WRONG_SECRET);
  });
});
