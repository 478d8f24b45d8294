/**
 * Faults after the write (`after: true` on `POST /faults`): the service serves the request against the
 * state, then the caller gets the fault (a 5xx in the service's own shape, or a dropped connection)
 * instead of the answer. Shown on a write of each service, raw over HTTPS with the managed identity's
 * token so no SDK retry hides what the caller saw; counting and matching as for any fault.
 */
import type { CallRecord } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox({ environmentIds: ['contoso-uat'] });
});

afterAll(async () => {
  await sandbox.stop();
});

afterEach(async () => {
  await sandbox.control('/faults', { method: 'DELETE' });
  await sandbox.control('/calls', { method: 'DELETE' });
});

/** The managed identity's access token for a resource, from the sandbox's identity endpoint. */
async function token(resource: string): Promise<string> {
  const url = new URL(sandbox.endpoints.managedIdentity.identityEndpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', resource);
  const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': sandbox.endpoints.managedIdentity.identityHeader } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

type Reply = { status: number; body: unknown; headers: Headers } | { reset: string };

/** One request, no retry: the status and body the caller got, or the connection error it saw. */
async function call(url: string, method: string, bearer: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  try {
    const response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined, headers: response.headers };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { reset: cause?.code ?? cause?.message ?? String(error) };
  }
}

async function inject(fault: Record<string, unknown>): Promise<void> {
  const reply = await sandbox.control('/faults', { body: fault });
  expect(reply.status).toBe(201);
}

async function calls(service: CallRecord['service']): Promise<CallRecord[]> {
  return (await sandbox.control<{ calls: CallRecord[] }>('/calls')).body.calls.filter((c) => c.service === service);
}

interface StateApp {
  uniqueName: string | null;
  id: string;
  passwordCredentials: Array<{ keyId: string }>;
}

async function stateView(): Promise<{
  applications: StateApp[];
  keyVault: { secrets: Array<{ name: string; versions: Array<{ version: string; tags: Record<string, string> }> }> };
  finops: Record<string, { emailParameters: { MailerNonInteractive: string } }>;
}> {
  return (await sandbox.control<Awaited<ReturnType<typeof stateView>>>('/state')).body;
}

const graph = (path: string): string => `${sandbox.endpoints.graphUrl}/v1.0${path}`;

describe('Graph', () => {
  it('creates the app of an upsert whose caller gets a 500 in Graph\'s error shape; the repeated upsert finds it', async () => {
    const bearer = await token('https://graph.microsoft.com');
    await inject({ service: 'graph', method: 'PATCH', pathPattern: "^/v1\\.0/applications\\(uniqueName=", status: 500, count: 1, after: true });
    const definition = { displayName: 'After a 500', signInAudience: 'AzureADMyOrg' };
    const url = graph("/applications(uniqueName='after-500')");
    const first = await call(url, 'PATCH', bearer, definition, { prefer: 'create-if-missing' });

    expect(first).toMatchObject({ status: 500, body: { error: { code: 'InternalServerError', innerError: { 'request-id': expect.any(String) } } } });
    const created = (await stateView()).applications.filter((a) => a.uniqueName === 'after-500');
    expect(created).toHaveLength(1);
    expect(await calls('graph')).toEqual([
      expect.objectContaining({ method: 'PATCH', status: 500, servedStatus: 201, fault: expect.objectContaining({ status: 500, after: true }) }),
    ]);
    // The caller cannot tell; asking again shows the write had happened: an update (204), not a second app.
    const again = await call(url, 'PATCH', bearer, definition, { prefer: 'create-if-missing' });
    expect(again).toMatchObject({ status: 204 });
    expect((await stateView()).applications.filter((a) => a.uniqueName === 'after-500')).toHaveLength(1);
  });

  it('adds the password of an addPassword whose connection is dropped: the caller never sees the secret, the app holds it', async () => {
    const bearer = await token('https://graph.microsoft.com');
    const created = await call(graph("/applications(uniqueName='after-reset')"), 'PATCH', bearer, { displayName: 'After a reset' }, { prefer: 'create-if-missing' });
    expect(created).toMatchObject({ status: 201 });
    const appId = ((created as { body: { id: string } }).body).id;
    await inject({ service: 'graph', method: 'POST', pathPattern: '/addPassword$', concerning: 'after-reset', status: 0, count: 1, after: true });

    const reply = await call(graph(`/applications/${appId}/addPassword`), 'POST', bearer, { passwordCredential: { displayName: 'lost answer' } });

    expect(reply).toHaveProperty('reset');
    const app = (await stateView()).applications.find((a) => a.id === appId);
    expect(app?.passwordCredentials).toHaveLength(1);
    expect((await calls('graph')).filter((c) => c.method === 'POST')).toEqual([expect.objectContaining({ status: 0, servedStatus: 200 })]);
  });

  it('answers the fault even when the service refused the request, and says what the service answered', async () => {
    const bearer = await token('https://graph.microsoft.com');
    await inject({ service: 'graph', method: 'POST', pathPattern: '/removePassword$', status: 503, count: 1, after: true, retryAfterSeconds: 2 });
    const reply = await call(graph('/applications/00000000-0000-0000-0000-000000000001/removePassword'), 'POST', bearer, { keyId: '00000000-0000-0000-0000-000000000002' });
    expect(reply).toMatchObject({ status: 503 });
    expect((reply as { headers: Headers }).headers.get('retry-after')).toBe('2');
    expect(await calls('graph')).toEqual([expect.objectContaining({ status: 503, servedStatus: 404 })]);
  });

  it("aims at a delegated grant addressed by its own id through the app it belongs to, and updates it", async () => {
    const bearer = await token('https://graph.microsoft.com');
    const app = await call(graph("/applications(uniqueName='after-grant')"), 'PATCH', bearer, { displayName: 'Grant' }, { prefer: 'create-if-missing' });
    const appId = ((app as { body: { appId: string } }).body).appId;
    const sp = await call(graph('/servicePrincipals'), 'POST', bearer, { appId });
    const spId = ((sp as { body: { id: string } }).body).id;
    const created = await call(graph('/oauth2PermissionGrants'), 'POST', bearer, {
      clientId: spId,
      consentType: 'AllPrincipals',
      resourceId: sandbox.state.graphServicePrincipalId,
      scope: 'Mail.Send',
    });
    expect(created).toMatchObject({ status: 201 });
    const grantId = ((created as { body: { id: string } }).body).id;
    expect(grantId).not.toMatch(/^[0-9a-f-]{36}$/);
    const scopeOf = (): string | undefined => sandbox.state.oauth2PermissionGrants.find((g) => g.id === grantId)?.scope;

    await inject({ service: 'graph', method: 'PATCH', concerning: 'after-500', status: 500, count: 1, after: true });
    expect(await call(graph(`/oauth2PermissionGrants/${grantId}`), 'PATCH', bearer, { scope: 'Mail.Send User.Read' })).toMatchObject({ status: 204 });
    await inject({ service: 'graph', method: 'PATCH', concerning: 'after-grant', status: 500, count: 1, after: true });
    expect(await call(graph(`/oauth2PermissionGrants/${grantId}`), 'PATCH', bearer, { scope: 'User.Read' })).toMatchObject({ status: 500 });
    expect(scopeOf()).toBe('User.Read');
    // The fault about another app is still waiting.
    expect(sandbox.state.faults.map((f) => f.concerning)).toEqual(['after-500']);
  });
});

describe('Key Vault', () => {
  it('stores the version of a set whose caller gets a 503; setting again makes a second version', async () => {
    const bearer = await token('https://vault.azure.net');
    const url = `${sandbox.endpoints.keyVaultUrl}/secrets/after-set?api-version=7.6`;
    await inject({ service: 'keyvault', method: 'PUT', concerning: 'after-set', status: 503, count: 1, after: true });

    const first = await call(url, 'PUT', bearer, { value: 'v', tags: { attempt: '1' } });

    expect(first).toMatchObject({ status: 503, body: { error: { code: 'ServiceUnavailable' } } });
    const versions = (): Promise<Array<{ tags: Record<string, string> }>> =>
      stateView().then((s) => s.keyVault.secrets.find((x) => x.name === 'after-set')?.versions ?? []);
    expect(await versions()).toEqual([expect.objectContaining({ tags: { attempt: '1' } })]);
    // Key Vault makes a new version on every set (https://learn.microsoft.com/rest/api/keyvault/secrets/set-secret):
    // a blind retry of a set whose answer was lost leaves two.
    expect(await call(url, 'PUT', bearer, { value: 'v', tags: { attempt: '1' } })).toMatchObject({ status: 200 });
    expect(await versions()).toHaveLength(2);
  });

  it('tells Event Grid of a committed write whose answer was lost', async () => {
    const bearer = await token('https://vault.azure.net');
    await inject({ service: 'keyvault', method: 'PUT', concerning: 'after-event', status: 0, count: 1, after: true });
    expect(await call(`${sandbox.endpoints.keyVaultUrl}/secrets/after-event?api-version=7.6`, 'PUT', bearer, { value: 'v' })).toHaveProperty('reset');
    const events = await sandbox.control<{ events: Array<{ eventType: string }> }>('/eventgrid/events?subject=after-event');
    expect(events.body.events.map((e) => e.eventType)).toContain('Microsoft.KeyVault.SecretNewVersionCreated');
  });
});

describe('F&O', () => {
  it('changes the batch provider of a PATCH whose caller gets a 500 in F&O\'s error shape', async () => {
    const env = sandbox.endpoints.environments[0];
    if (!env) throw new Error('no environment');
    const bearer = await token(env.url);
    expect((await stateView()).finops[env.id]?.emailParameters.MailerNonInteractive).not.toBe('Graph');
    await inject({ service: 'finops', method: 'PATCH', concerning: env.id, status: 500, count: 1, after: true });

    const reply = await call(`${env.url}/data/EmailParameters(ID='1')`, 'PATCH', bearer, { MailerNonInteractive: 'Graph' });

    expect(reply).toMatchObject({ status: 500, body: { error: { code: 'InternalServerError' } } });
    expect((await stateView()).finops[env.id]?.emailParameters.MailerNonInteractive).toBe('Graph');
  });
});

describe('counting and matching', () => {
  it('fails the next `count` matching requests after serving each, then lets requests through', async () => {
    const bearer = await token('https://vault.azure.net');
    const url = `${sandbox.endpoints.keyVaultUrl}/secrets/after-count?api-version=7.6`;
    await inject({ service: 'keyvault', method: 'PUT', pathPattern: '^/secrets/after-count$', status: 500, count: 2, after: true });

    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push(((await call(url, 'PUT', bearer, { value: `v${i}` })) as { status: number }).status);

    expect(statuses).toEqual([500, 500, 200]);
    expect((await stateView()).keyVault.secrets.find((x) => x.name === 'after-count')?.versions).toHaveLength(3);
    expect((await calls('keyvault')).map((c) => [c.status, c.servedStatus])).toEqual([
      [500, 200],
      [500, 200],
      [200, undefined],
    ]);
    expect(sandbox.state.faults).toEqual([]);
  });

  it('leaves requests that do not match alone, and lists the fault with `after` until it is used up', async () => {
    const bearer = await token('https://vault.azure.net');
    await inject({ service: 'keyvault', method: 'PUT', concerning: 'after-aimed', status: 500, count: 1, after: true });
    expect((await sandbox.control<{ faults: Array<{ after?: boolean }> }>('/faults')).body.faults).toEqual([expect.objectContaining({ after: true, count: 1 })]);
    expect(await call(`${sandbox.endpoints.keyVaultUrl}/secrets/after-other?api-version=7.6`, 'PUT', bearer, { value: 'v' })).toMatchObject({ status: 200 });
    expect(sandbox.state.faults).toHaveLength(1);
  });

  it('refuses an `after` that is not a boolean, and stores `after: false` as an ordinary fault', async () => {
    const refused = await sandbox.control<{ error: { message: string } }>('/faults', { body: { service: 'graph', status: 500, after: 'yes' } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/after/);
    const plain = await sandbox.control<{ fault: Record<string, unknown> }>('/faults', { body: { service: 'graph', status: 500, after: false } });
    expect(plain.status).toBe(201);
    expect(plain.body.fault).not.toHaveProperty('after');
  });

  it('without `after` the service is never reached: nothing is written', async () => {
    const bearer = await token('https://vault.azure.net');
    await inject({ service: 'keyvault', method: 'PUT', concerning: 'before-write', status: 500, count: 1 });
    expect(await call(`${sandbox.endpoints.keyVaultUrl}/secrets/before-write?api-version=7.6`, 'PUT', bearer, { value: 'v' })).toMatchObject({ status: 500 });
    expect((await stateView()).keyVault.secrets.find((x) => x.name === 'before-write')).toBeUndefined();
    expect((await calls('keyvault'))[0]).not.toHaveProperty('servedStatus');
  });
});
