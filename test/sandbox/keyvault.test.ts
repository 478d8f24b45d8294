/**
 * The emulated Key Vault through the unmodified SecretClient over HTTPS: challenge authentication,
 * secrets with versions, tags, content type and expiry, paging past 25, disabling, soft delete with
 * the SDK's pollers, the service's error bodies, RBAC refusals, and injected faults.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { CallRecord } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;
/** The function app's managed identity: the vault's only writer. */
let writer: SecretClient;
const savedEnv: Record<string, string | undefined> = {};

function restError(e: unknown): { statusCode?: number; code?: string; message: string } {
  return e as { statusCode?: number; code?: string; message: string };
}

async function failure(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (e) {
    return restError(e);
  }
  throw new Error('expected the call to fail');
}

function vaultCalls(): CallRecord[] {
  return sandbox.state.calls.filter((c) => c.service === 'keyvault');
}

beforeAll(async () => {
  sandbox = await startTestSandbox();
  for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  writer = sandbox.secretClient(new ManagedIdentityCredential(), { retryOptions: { retryDelayInMs: 20, maxRetryDelayInMs: 200 } });
});

afterAll(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await sandbox.stop();
});

describe('challenge authentication', () => {
  it('answers a request without a token with a challenge naming the sandbox authority', async () => {
    const response = await fetch(`${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(response.headers.get('x-ms-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await response.json()) as { error: { code: string } };
    expect(body.error.code).toBe('Unauthorized');
  });

  it('lets the SDK follow the challenge on its first request and then send the token directly', async () => {
    const fresh = sandbox.secretClient(new ManagedIdentityCredential());
    sandbox.state.calls = [];
    await fresh.setSecret('challenge-first', 'v1');
    await fresh.getSecret('challenge-first');
    expect(vaultCalls().map((c) => `${c.method} ${c.status}`)).toEqual(['PUT 401', 'PUT 200', 'GET 200']);
  });

  it('refuses a token meant for another resource', async () => {
    const graphToken = await sandbox.operatorCredential().getToken('https://graph.microsoft.com/.default');
    const response = await fetch(`${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6`, {
      headers: { authorization: `Bearer ${graphToken.token}` },
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/audience/);
  });
});

describe('secrets', () => {
  it('stores a secret with tags, content type and expiry and reads it back', async () => {
    const expiresOn = new Date(sandbox.state.now() + 90 * 24 * 3600 * 1000);
    const set = await writer.setSecret('fno-contoso-uat', 'first-value', {
      contentType: 'text/plain',
      tags: { 'managed-by': 'fno-graph-mail', environment: 'contoso-uat' },
      expiresOn,
    });
    expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(set.properties.vaultUrl).toBe(sandbox.endpoints.keyVaultUrl);
    expect(set.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(set.properties.recoverableDays).toBe(90);

    const got = await writer.getSecret('fno-contoso-uat');
    expect(got.value).toBe('first-value');
    expect(got.properties.contentType).toBe('text/plain');
    expect(got.properties.tags).toEqual({ 'managed-by': 'fno-graph-mail', environment: 'contoso-uat' });
    expect(got.properties.expiresOn?.getTime()).toBe(Math.floor(expiresOn.getTime() / 1000) * 1000);
    expect(got.properties.enabled).toBe(true);
    expect(got.properties.createdOn?.getTime()).toBeLessThanOrEqual(sandbox.state.now());
  });

  it('keeps every version, serves the current one by default and older ones by version', async () => {
    const first = await writer.setSecret('versioned', 'one');
    const second = await writer.setSecret('versioned', 'two');
    expect(second.properties.version).not.toBe(first.properties.version);
    expect((await writer.getSecret('versioned')).value).toBe('two');
    expect((await writer.getSecret('versioned', { version: first.properties.version ?? '' })).value).toBe('one');
    const versions: string[] = [];
    for await (const p of writer.listPropertiesOfSecretVersions('versioned')) versions.push(p.version ?? '');
    expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());
  });

  it('pages secret listings at 25 with a nextLink and never returns values', async () => {
    for (let i = 0; i < 30; i++) await writer.setSecret(`paged-${String(i).padStart(2, '0')}`, `value-${i}`);
    sandbox.state.calls = [];
    const pages: number[] = [];
    const names: string[] = [];
    for await (const page of writer.listPropertiesOfSecrets().byPage()) {
      pages.push(page.length);
      for (const p of page) {
        names.push(p.name);
        expect((p as unknown as Record<string, unknown>)['value']).toBeUndefined();
      }
    }
    expect(pages.length).toBeGreaterThan(1);
    expect(pages[0]).toBe(25);
    expect(names.filter((n) => n.startsWith('paged-'))).toHaveLength(30);
    expect(new Set(names).size).toBe(names.length);
    const listCalls = vaultCalls().filter((c) => c.method === 'GET' && c.path === '/secrets');
    expect(listCalls.length).toBe(pages.length);
  });

  it('honours a smaller maxresults and rejects one above 25', async () => {
    const sizes: number[] = [];
    for await (const page of writer.listPropertiesOfSecrets().byPage({ maxPageSize: 10 })) sizes.push(page.length);
    expect(sizes[0]).toBe(10);
    const token = await new ManagedIdentityCredential().getToken('https://vault.azure.net/.default');
    const response = await fetch(`${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6&maxresults=26`, {
      headers: { authorization: `Bearer ${token.token}` },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BadParameter');
  });

  it('updates properties of a version, and a disabled version cannot be read', async () => {
    const set = await writer.setSecret('to-disable', 'hidden');
    const version = set.properties.version ?? '';
    const updated = await writer.updateSecretProperties('to-disable', version, { enabled: false, tags: { state: 'retired' } });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ state: 'retired' });
    const error = await failure(writer.getSecret('to-disable'));
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Forbidden');
    expect(error.message).toBe('Operation get is not allowed on a disabled secret.');
    // Listing still shows the (disabled) properties.
    const listed: boolean[] = [];
    for await (const p of writer.listPropertiesOfSecretVersions('to-disable')) listed.push(p.enabled ?? true);
    expect(listed).toEqual([false]);
  });

  it('answers a missing secret with 404 SecretNotFound', async () => {
    const error = await failure(writer.getSecret('does-not-exist'));
    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('SecretNotFound');
    expect(error.message).toMatch(/A secret with \(name\/id\) does-not-exist was not found in this key vault/);
  });

  it('soft-deletes through the SDK poller, blocks the name, and recovers or purges', async () => {
    await writer.setSecret('to-delete', 'bye', { tags: { keep: 'me' } });
    const poller = await writer.beginDeleteSecret('to-delete', { intervalInMs: 10 });
    const deleted = await poller.pollUntilDone();
    expect(deleted.name).toBe('to-delete');
    expect(deleted.recoveryId).toBe(`${sandbox.endpoints.keyVaultUrl}/deletedsecrets/to-delete`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect(deleted.properties.scheduledPurgeDate?.getTime()).toBe((deleted.properties.deletedOn?.getTime() ?? 0) + 90 * 24 * 3600 * 1000);

    expect((await failure(writer.getSecret('to-delete'))).statusCode).toBe(404);
    const conflict = await failure(writer.setSecret('to-delete', 'again'));
    expect(conflict.statusCode).toBe(409);
    expect((await writer.getDeletedSecret('to-delete')).properties.tags).toEqual({ keep: 'me' });

    const recover = await writer.beginRecoverDeletedSecret('to-delete', { intervalInMs: 10 });
    await recover.pollUntilDone();
    expect((await writer.getSecret('to-delete')).value).toBe('bye');

    await (await writer.beginDeleteSecret('to-delete', { intervalInMs: 10 })).pollUntilDone();
    await writer.purgeDeletedSecret('to-delete');
    expect((await failure(writer.getDeletedSecret('to-delete'))).statusCode).toBe(404);
    await writer.setSecret('to-delete', 'fresh');
    expect((await writer.getSecret('to-delete')).value).toBe('fresh');
  });
});

describe('callers', () => {
  it('lets the operator read and list but not write', async () => {
    await writer.setSecret('operator-visible', 'readable');
    const operator = sandbox.secretClient(sandbox.operatorCredential());
    expect((await operator.getSecret('operator-visible')).value).toBe('readable');
    const names: string[] = [];
    for await (const p of operator.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toContain('operator-visible');
    const error = await failure(operator.setSecret('operator-visible', 'overwrite'));
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Forbidden');
    expect(error.message).toMatch(/Microsoft\.KeyVault\/vaults\/secrets\/setSecret\/action/);
    expect((await writer.getSecret('operator-visible')).value).toBe('readable');
  });

  it('refuses an app that has no role on the vault with 403 ForbiddenByRbac', async () => {
    const { state } = sandbox;
    const { secretText, hint } = state.mintSecret();
    const appId = state.newId();
    state.applications.push({
      id: state.newId(),
      appId,
      uniqueName: null,
      displayName: 'outsider',
      signInAudience: 'AzureADMyOrg',
      description: null,
      notes: null,
      tags: [],
      requiredResourceAccess: [],
      passwordCredentials: [
        {
          keyId: state.newId(),
          displayName: null,
          hint,
          customKeyIdentifier: null,
          startDateTime: state.nowIso(),
          endDateTime: new Date(state.now() + 86_400_000).toISOString(),
          secretText,
          usableFrom: 0,
        },
      ],
      owners: [],
      createdDateTime: state.nowIso(),
      visibleFrom: 0,
    });
    state.servicePrincipals.push({
      id: state.newId(),
      appId,
      displayName: 'outsider',
      servicePrincipalType: 'Application',
      appRoles: [],
      oauth2PermissionScopes: [],
      createdDateTime: state.nowIso(),
      visibleFrom: 0,
    });
    const outsider = sandbox.secretClient(sandbox.clientSecretCredential(appId, secretText));
    const error = await failure(outsider.getSecret('operator-visible'));
    expect(error.statusCode).toBe(403);
    expect(error.message).toMatch(/Caller is not authorized to perform action on resource/);
    expect(error.message).toContain(`appid=${appId}`);
  });
});

describe('faults', () => {
  afterEach(async () => {
    await sandbox.control('/faults', { method: 'DELETE' });
  });

  it('answers 429 with Retry-After, which the SDK waits out and retries', async () => {
    await writer.setSecret('throttled', 'eventually');
    const injected = await sandbox.control('/faults', {
      body: { service: 'keyvault', method: 'GET', pathPattern: '^/secrets/throttled', status: 429, count: 1, retryAfterSeconds: 1 },
    });
    expect(injected.status).toBe(201);
    sandbox.state.calls = [];
    const started = Date.now();
    expect((await writer.getSecret('throttled')).value).toBe('eventually');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(vaultCalls().map((c) => c.status)).toEqual([429, 200]);
    expect(sandbox.state.faults).toEqual([]);
  });

  it('puts the fault code and message into the Key Vault error body', async () => {
    await sandbox.control('/faults', {
      body: { service: 'keyvault', pathPattern: 'nothing-here', status: 400, count: 1, code: 'BadParameter', message: 'Injected refusal.' },
    });
    const error = await failure(writer.getSecret('nothing-here'));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('BadParameter');
    expect(error.message).toBe('Injected refusal.');
  });

  it('resets the connection for status 0; the SDK retries on the next connection', async () => {
    await writer.setSecret('flaky', 'survives');
    await sandbox.control('/faults', { body: { service: 'keyvault', pathPattern: '^/secrets/flaky', status: 0, count: 1 } });
    sandbox.state.calls = [];
    expect((await writer.getSecret('flaky')).value).toBe('survives');
    expect(vaultCalls().map((c) => c.status)).toEqual([0, 200]);
  });

  it('surfaces a reset the SDK cannot retry away as a connection error', async () => {
    await writer.setSecret('broken', 'unreachable');
    await sandbox.control('/faults', { body: { service: 'keyvault', pathPattern: '^/secrets/broken', status: 0, count: 10 } });
    const noRetry = sandbox.secretClient(new ManagedIdentityCredential(), { retryOptions: { maxRetries: 0 } });
    const error = await failure(noRetry.getSecret('broken'));
    expect(error.code).toBe('ECONNRESET');
  });
});
