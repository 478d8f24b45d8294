/**
 * CredentialVault against the sandbox vault through the official SecretClient: storing and reading
 * client secrets, versions, the fleet listing page by page (properties only, managed secrets only),
 * and the failures an operator meets (throttling, missing vault role, disabled versions).
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import {
  CredentialVault,
  isServiceError,
  type CredentialVaultOptions,
  type SecretVersionProperties,
  type ServiceError,
} from '../../src/clients';
import { secretNameFor } from '../../src/contracts/names';
import { CLIENT_SECRET_CONTENT_TYPE, MANAGED_BY_MARKER, SECRET_TAGS } from '../../src/contracts/wellKnown';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

interface CallsView {
  calls: Array<{ service: string; method: string; path: string; status: number }>;
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (isServiceError(e)) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

async function collect(pages: AsyncIterable<SecretVersionProperties[]>): Promise<SecretVersionProperties[][]> {
  const out: SecretVersionProperties[][] = [];
  for await (const p of pages) out.push(p);
  return out;
}

/** A value shaped like an Entra client secret (never a real one). */
function fakeSecret(i: number): string {
  return `Q${i}8~${'x'.repeat(10)}${String(i).padStart(4, '0')}${'y'.repeat(20)}`;
}

describe('CredentialVault against the sandbox', () => {
  let sandbox: TestSandbox;
  let mi: ManagedIdentityCredential;
  let vault: CredentialVault;
  const vaultFor = (options: Partial<CredentialVaultOptions> = {}, credential: TokenCredential = mi): CredentialVault =>
    new CredentialVault(credential, {
      vaultUrl: sandbox.endpoints.keyVaultUrl,
      disableChallengeResourceVerification: true,
      retry: { maxRetries: 0 },
      ...options,
    });
  const calls = async (): Promise<CallsView['calls']> => (await sandbox.control<CallsView>('/calls')).body.calls;
  const stored: string[] = [];
  const expiry = new Date(Math.floor(Date.now() / 1000 + 180 * 86_400) * 1000);

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    const env = sandbox.managedIdentityEnv();
    process.env.IDENTITY_ENDPOINT = env.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = env.IDENTITY_HEADER;
    mi = new ManagedIdentityCredential();
    vault = vaultFor();
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  afterEach(async () => {
    await sandbox.control('/faults', { method: 'DELETE' });
  });

  it('stores a client secret tagged as managed, expiring with the credential, and reads it back', async () => {
    const name = secretNameFor('contoso-uat');
    const value = fakeSecret(1);
    stored.push(value);
    const result = await vault.storeClientSecret(
      { name, value, tags: { [SECRET_TAGS.environmentId]: 'contoso-uat', [SECRET_TAGS.appId]: 'app-1' }, expiresOn: expiry },
      { environmentId: 'contoso-uat' },
    );
    expect(result.name).toBe(name);
    expect(result.version).toMatch(/^[0-9a-f]{32}$/);
    expect(result.expiresOn).toBe(expiry.toISOString());
    expect(result.tags).toEqual({ 'environment-id': 'contoso-uat', 'app-id': 'app-1', 'managed-by': MANAGED_BY_MARKER });
    expect(JSON.stringify(result)).not.toContain(value);

    expect(await vault.readSecretValue(name)).toBe(value);
    expect(await vault.readSecretValue(name, result.version)).toBe(value);

    const props = await vault.getSecretProperties(name);
    expect(props).toMatchObject({ name, version: result.version, enabled: true, contentType: CLIENT_SECRET_CONTENT_TYPE, expiresOn: expiry.toISOString() });
    expect(JSON.stringify(props)).not.toContain(value);
  });

  it("stores every secret of a burst that is a fresh client's first work (the challenge handshake is not raced)", async () => {
    // The SDK keeps one request's body aside during its challenge handshake; overlapping first requests
    // would send one of them authenticated and empty (src/clients/keyVaultChallengeGate.ts).
    const fresh = vaultFor();
    const burst = Array.from({ length: 6 }, (_, i) => ({ name: secretNameFor(`burst-${i}`), value: fakeSecret(900 + i) }));
    stored.push(...burst.map((b) => b.value));
    const results = await Promise.allSettled(burst.map((b) => fresh.storeClientSecret({ name: b.name, value: b.value, tags: {}, expiresOn: expiry })));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'stored' : String(r.reason)))).toEqual(burst.map(() => 'stored'));
    for (const b of burst) expect(await vault.readSecretValue(b.name)).toBe(b.value);
    // Tag updates (PATCH, with a body) through another fresh client, also overlapping from the start.
    const other = vaultFor();
    const versions = await Promise.all(burst.map(async (b) => (await vault.getSecretProperties(b.name))?.version ?? ''));
    const updates = await Promise.allSettled(burst.map((b, i) => other.updateVersionTags(b.name, versions[i] ?? '', { [SECRET_TAGS.delivered]: 'true' })));
    expect(updates.map((r) => (r.status === 'fulfilled' ? 'updated' : String(r.reason)))).toEqual(burst.map(() => 'updated'));
  });

  it('answers null or not-found for a secret that does not exist', async () => {
    expect(await vault.getSecretProperties('fno-graph-mail-nowhere')).toBeNull();
    expect(await vault.listVersions('fno-graph-mail-nowhere')).toEqual([]);
    const e = await failure(vault.readSecretValue('fno-graph-mail-nowhere', undefined, { environmentId: 'nowhere' }));
    expect(e).toMatchObject({ kind: 'not-found', service: 'keyvault', status: 404, code: 'SecretNotFound', environmentId: 'nowhere' });
    expect(e.action).toMatch(/Run setup for the environment again/);
  });

  it('refuses an invalid secret name before calling the vault', async () => {
    await sandbox.control('/calls', { method: 'DELETE' });
    const e = await failure(vault.storeClientSecret({ name: 'bad_name', value: fakeSecret(2), tags: {}, expiresOn: expiry }));
    expect(e.kind).toBe('permanent');
    expect(e.message).not.toContain(fakeSecret(2));
    expect(await calls()).toHaveLength(0);
  });

  it('keeps versions oldest first and disables an old one', async () => {
    const name = secretNameFor('contoso-prod');
    const first = await vault.storeClientSecret({ name, value: fakeSecret(3), tags: {}, expiresOn: expiry });
    await sandbox.control('/clock', { body: { advance: 'PT1M' } });
    const second = await vault.storeClientSecret({ name, value: fakeSecret(4), tags: {}, expiresOn: expiry });
    stored.push(fakeSecret(3), fakeSecret(4));

    const versions = await vault.listVersions(name);
    expect(versions.map((v) => v.version)).toEqual([first.version, second.version]);

    const disabled = await vault.disableVersion(name, first.version, { environmentId: 'contoso-prod' });
    expect(disabled).toMatchObject({ version: first.version, enabled: false });
    expect((await vault.listVersions(name)).map((v) => v.enabled)).toEqual([false, true]);
    expect((await vault.getSecretProperties(name))?.version).toBe(second.version);

    const e = await failure(vault.readSecretValue(name, first.version, { environmentId: 'contoso-prod' }));
    expect(e).toMatchObject({ kind: 'permanent', status: 403 });
    expect(e.action).toMatch(/version is disabled/);
    expect(e.message).not.toContain(fakeSecret(3));
  });

  it('lists only managed secrets, without values, one Key Vault page per yielded page', async () => {
    for (let i = 0; i < 30; i++) {
      const value = fakeSecret(100 + i);
      stored.push(value);
      await vault.storeClientSecret({ name: secretNameFor(`fleet-${i}`), value, tags: { [SECRET_TAGS.environmentId]: `fleet-${i}` }, expiresOn: expiry });
    }
    const other = sandbox.secretClient(mi);
    await other.setSecret('unrelated-a', 'not ours');
    await other.setSecret('unrelated-b', 'not ours', { tags: { 'managed-by': 'someone-else' } });

    const managedNames = (await sandbox.control<{ keyVault: { secrets: Array<{ name: string; versions: Array<{ tags: Record<string, string> }> }> } }>('/state')).body
      .keyVault.secrets.filter((s) => s.versions[s.versions.length - 1]?.tags['managed-by'] === MANAGED_BY_MARKER)
      .map((s) => s.name)
      .sort();
    expect(managedNames.length).toBeGreaterThan(25);

    await sandbox.control('/calls', { method: 'DELETE' });
    const pages = await collect(vault.listManagedSecrets());
    const listCalls = (await calls()).filter((c) => c.service === 'keyvault' && c.method === 'GET' && c.path === '/secrets');
    expect(pages.length).toBeGreaterThan(1);
    expect(listCalls).toHaveLength(pages.length);
    expect(pages.flat().map((p) => p.name).sort()).toEqual(managedNames);
    expect(pages.flat().every((p) => p.tags['managed-by'] === MANAGED_BY_MARKER)).toBe(true);
    const listed = JSON.stringify(pages);
    for (const value of stored) expect(listed).not.toContain(value);

    const small = await collect(vault.listManagedSecrets({ pageSize: 10 }));
    expect(small.length).toBeGreaterThanOrEqual(Math.ceil((managedNames.length + 2) / 10));
    expect(small.flat()).toHaveLength(managedNames.length);
  });

  it('surfaces 429 as transient with the Retry-After delay and the request id', async () => {
    await vault.getSecretProperties(secretNameFor('contoso-uat'));
    await sandbox.control('/faults', { body: { service: 'keyvault', method: 'GET', status: 429, retryAfterSeconds: 4, count: 1 } });
    const e = await failure(vault.getSecretProperties(secretNameFor('contoso-uat'), { environmentId: 'contoso-uat' }));
    expect(e).toMatchObject({ kind: 'transient', service: 'keyvault', status: 429, retryAfterMs: 4000, environmentId: 'contoso-uat' });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("lets the SDK's retry policy ride out a 429, waiting as told", async () => {
    const patient = vaultFor({ retry: { maxRetries: 2 } });
    await patient.getSecretProperties(secretNameFor('contoso-uat'));
    await sandbox.control('/faults', { body: { service: 'keyvault', method: 'GET', status: 429, retryAfterSeconds: 1, count: 1 } });
    const started = Date.now();
    expect(await patient.getSecretProperties(secretNameFor('contoso-uat'))).not.toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('5xx is transient', async () => {
    await sandbox.control('/faults', { body: { service: 'keyvault', status: 503, count: 1 } });
    expect((await failure(vault.listVersions(secretNameFor('contoso-uat')))).kind).toBe('transient');
  });

  describe('a set whose answer is lost', () => {
    let client: CredentialVault;
    const patient = (): CredentialVault => client;

    beforeAll(async () => {
      client = vaultFor({ retry: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } });
      // The SDK's first request to a vault goes without a token to learn the authority (the challenge):
      // made here, so the faults below meet the sets themselves.
      stored.push(fakeSecret(99));
      await client.storeClientSecret({ name: 'challenge-learnt', value: fakeSecret(99), tags: {}, expiresOn: expiry });
    });
    const puts = async (name: string): Promise<number[]> =>
      (await calls()).filter((c) => c.method === 'PUT' && c.path === `/secrets/${name}`).map((c) => c.status);

    it('after the vault stored it (a 500 or a dropped connection) is not repeated: one version, and it is the answer', async () => {
      for (const [i, status] of [500, 0].entries()) {
        const name = `lost-answer-${i}`;
        const value = fakeSecret(100 + i);
        stored.push(value);
        await sandbox.control('/calls', { method: 'DELETE' });
        await sandbox.control('/faults', { body: { service: 'keyvault', method: 'PUT', concerning: name, status, count: 1, after: true } });
        const result = await patient().storeClientSecret({ name, value, tags: { [SECRET_TAGS.credentialKeyId]: `key-${i}` }, expiresOn: expiry });
        const versions = await vault.listVersions(name);
        expect(versions.map((v) => v.version)).toEqual([result.version]);
        expect(result.tags[SECRET_TAGS.credentialKeyId]).toBe(`key-${i}`);
        expect(await puts(name)).toEqual([status]);
      }
    });

    it('before the vault stored it is repeated, once stored', async () => {
      const name = 'refused-answer';
      stored.push(fakeSecret(110));
      await sandbox.control('/calls', { method: 'DELETE' });
      await sandbox.control('/faults', { body: { service: 'keyvault', method: 'PUT', concerning: name, status: 503, count: 2 } });
      const result = await patient().storeClientSecret({ name, value: fakeSecret(110), tags: {}, expiresOn: expiry });
      expect((await vault.listVersions(name)).map((v) => v.version)).toEqual([result.version]);
      expect(await puts(name)).toEqual([503, 503, 200]);
    });

    it('is not repeated when the vault cannot be read back either: the error is transient, the version stored once', async () => {
      const name = 'unknown-answer';
      stored.push(fakeSecret(120));
      await sandbox.control('/calls', { method: 'DELETE' });
      await sandbox.control('/faults', { body: { service: 'keyvault', method: 'PUT', concerning: name, status: 500, count: 1, after: true } });
      await sandbox.control('/faults', { body: { service: 'keyvault', method: 'GET', concerning: name, status: 503, count: 20 } });
      const e = await failure(patient().storeClientSecret({ name, value: fakeSecret(120), tags: {}, expiresOn: expiry }, { environmentId: 'contoso-uat' }));
      expect(e).toMatchObject({ kind: 'transient', service: 'keyvault', status: 500 });
      expect(`${e.message} ${JSON.stringify(e)}`).not.toContain(fakeSecret(120));
      await sandbox.control('/faults', { method: 'DELETE' });
      expect(await vault.listVersions(name)).toHaveLength(1);
      expect(await puts(name)).toEqual([500]);
    });
  });

  it('an identity without write access is told which vault role to grant, and the value stays out of the message', async () => {
    const readOnly = vaultFor({}, sandbox.operatorCredential());
    const value = fakeSecret(999);
    const e = await failure(
      readOnly.storeClientSecret({ name: secretNameFor('contoso-uat'), value, tags: {}, expiresOn: expiry }, { environmentId: 'contoso-uat' }),
    );
    expect(e).toMatchObject({ kind: 'permanent', service: 'keyvault', status: 403, code: 'Forbidden', environmentId: 'contoso-uat' });
    expect(e.action).toContain('Key Vault Secrets Officer');
    expect(e.requestId).toBeDefined();
    expect(`${e.message} ${JSON.stringify(e)} ${e.stack ?? ''}`).not.toContain(value);
    // Reading still works for that identity: listing is what the sweep needs.
    expect((await collect(readOnly.listManagedSecrets())).flat().length).toBeGreaterThan(0);
  });
});
