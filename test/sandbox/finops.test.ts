/**
 * The emulated F&O OData endpoint, called handler-first: who may call an environment (audience and
 * registration), the standard EmailParameters entity and its validation, and the customer-deployed
 * Graph credential entity whose secret is write-only. Then over HTTPS with @azure/identity tokens.
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { createServiceDeps } from '../../sandbox/deps';
import { createFinOpsService } from '../../sandbox/finops';
import { EMAIL_PARAMETERS_ID, seedState } from '../../sandbox/seed';
import { SandboxState } from '../../sandbox/state';
import { TokenAuthority } from '../../sandbox/tokens';
import type { FinOpsEnvironmentRecord, SandboxRequest, SandboxResponse, ServiceHandler } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const UAT_URL = 'https://localhost:9101';
const PROD_URL = 'https://localhost:9102';

interface World {
  state: SandboxState;
  authority: TokenAuthority;
  finops: ServiceHandler;
  uat: FinOpsEnvironmentRecord;
}

function world(): World {
  const state = new SandboxState();
  seedState(state, { environmentIds: ['contoso-uat', 'contoso-prod'] });
  const [uat, prod] = state.finops as [FinOpsEnvironmentRecord, FinOpsEnvironmentRecord];
  uat.url = UAT_URL;
  prod.url = PROD_URL;
  const authority = new TokenAuthority();
  return { state, authority, finops: createFinOpsService(createServiceDeps(state, authority)), uat };
}

function token(w: World, appId: string, audience: string): string {
  return w.authority.issue({
    audience,
    issuer: `https://localhost:8441/${w.state.tenantId}/v2.0`,
    tenantId: w.state.tenantId,
    appId,
    servicePrincipalId: 'c0000000-0000-0000-0000-00000000000c',
    roles: [],
    now: w.state.now(),
    lifetimeSeconds: 3600,
  }).token;
}

interface CallOptions {
  environmentId?: string;
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call(w: World, method: string, path: string, options: CallOptions = {}): Promise<SandboxResponse> {
  const environmentId = options.environmentId ?? 'contoso-uat';
  const env = w.state.finops.find((e) => e.id === environmentId);
  const bearer = options.token !== undefined ? options.token : token(w, w.state.managedIdentity.appId, env?.url ?? UAT_URL);
  const req: SandboxRequest = {
    service: 'finops',
    environmentId,
    method,
    path,
    rawPath: encodeURI(path),
    query: new URLSearchParams(),
    headers: {
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      'content-type': 'application/json',
      ...(options.headers ?? {}),
    },
    body: options.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(options.body)),
    origin: env?.url ?? UAT_URL,
  };
  return w.finops(req);
}

type Json = Record<string, unknown>;
const KEY = `(ID='${EMAIL_PARAMETERS_ID}')`;

function odataError(res: SandboxResponse): { code: string; message: string; innererror?: { message: string; type: string; stacktrace: string } } {
  return (res.body as { error: { code: string; message: string; innererror?: { message: string; type: string; stacktrace: string } } }).error;
}

describe('F&O access', () => {
  it('serves a registered app holding a token for the environment URL, with or without trailing slash', async () => {
    const w = world();
    expect((await call(w, 'GET', '/data/EmailParameters')).status).toBe(200);
    const slash = await call(w, 'GET', '/data/EmailParameters', { token: token(w, w.state.managedIdentity.appId, `${UAT_URL}/`) });
    expect(slash.status).toBe(200);
  });

  it('answers 401 without a token, with a token for another environment, and for an unregistered app', async () => {
    const w = world();
    expect((await call(w, 'GET', '/data/EmailParameters', { token: null })).status).toBe(401);
    const prodToken = token(w, w.state.managedIdentity.appId, PROD_URL);
    expect((await call(w, 'GET', '/data/EmailParameters', { token: prodToken })).status).toBe(401);
    const unregistered = await call(w, 'GET', '/data/EmailParameters', { token: token(w, w.state.operator.appId, UAT_URL) });
    expect(unregistered.status).toBe(401);
    expect(unregistered.body).toBeUndefined();
    w.uat.registeredClients.push(w.state.operator.appId);
    expect((await call(w, 'GET', '/data/EmailParameters', { token: token(w, w.state.operator.appId, UAT_URL) })).status).toBe(200);
  });
});

describe('EmailParameters', () => {
  it('lists the single record with its OData context and etag', async () => {
    const w = world();
    const res = await call(w, 'GET', '/data/EmailParameters');
    const body = res.body as Json;
    expect(body['@odata.context']).toBe(`${UAT_URL}/data/$metadata#EmailParameters`);
    const [record] = body.value as Json[];
    expect(record).toMatchObject({ ID: EMAIL_PARAMETERS_ID, MailerNonInteractive: 'SMTP', SMTPPortNumber: 587 });
    expect(record?.['@odata.etag']).toMatch(/^W\/".+"$/);
    const single = await call(w, 'GET', `/data/EmailParameters${KEY}`);
    expect((single.body as Json)['@odata.context']).toBe(`${UAT_URL}/data/$metadata#EmailParameters/$entity`);
    expect((single.body as Json).ID).toBe(EMAIL_PARAMETERS_ID);
  });

  it('switches the batch email provider to Graph with PATCH → 204', async () => {
    const w = world();
    const res = await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { MailerNonInteractive: 'Graph' } });
    expect(res.status).toBe(204);
    expect(w.uat.emailParameters.MailerNonInteractive).toBe('Graph');
    expect(w.state.finops[1]?.emailParameters.MailerNonInteractive).toBe('SMTP');
  });

  it('rejects unknown properties, unknown providers and wrong types with an OData error, changing nothing', async () => {
    const w = world();
    const unknown = await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { MailerNonInteractive: 'Graph', GraphClientId: 'x' } });
    expect(unknown.status).toBe(400);
    expect(odataError(unknown).innererror).toMatchObject({
      message: expect.stringContaining("The property 'GraphClientId' does not exist") as string,
      stacktrace: '',
    });
    const provider = await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { MailerNonInteractive: 'Pigeon' } });
    expect(provider.status).toBe(400);
    expect(odataError(provider).innererror?.message).toContain('Pigeon');
    const wrongType = await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { SMTPPortNumber: '25' } });
    expect(wrongType.status).toBe(400);
    expect(w.uat.emailParameters.MailerNonInteractive).toBe('SMTP');
    expect(w.uat.emailParameters.SMTPPortNumber).toBe(587);
  });

  it('answers 404 for another key and 412 for a stale If-Match', async () => {
    const w = world();
    expect((await call(w, 'PATCH', "/data/EmailParameters(ID='other')", { body: { MailerNonInteractive: 'Graph' } })).status).toBe(404);
    const etag = ((await call(w, 'GET', `/data/EmailParameters${KEY}`)).body as Json)['@odata.etag'] as string;
    expect((await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { SMTPPortNumber: 25 }, headers: { 'If-Match': etag } })).status).toBe(204);
    const stale = await call(w, 'PATCH', `/data/EmailParameters${KEY}`, { body: { SMTPPortNumber: 26 }, headers: { 'If-Match': etag } });
    expect(stale.status).toBe(412);
    expect(w.uat.emailParameters.SMTPPortNumber).toBe(25);
  });

  it('answers an entity set that is not deployed with a 404 OData error', async () => {
    const w = world();
    const res = await call(w, 'GET', '/data/SysEmailGraphSettings');
    expect(res.status).toBe(404);
    expect(odataError(res).message).toContain('No HTTP resource was found');
  });
});

describe('Graph credential entity', () => {
  const SECRET = 'Zq8~not-a-real-secret-but-long-enough-1234';

  it('stores the application id and secret, and reads back the id but never the secret', async () => {
    const w = world();
    const appId = '5a1b2c3d-0000-4000-8000-000000000001';
    const res = await call(w, 'PATCH', `/data/GraphEmailCredentials${KEY}`, { body: { ApplicationId: appId, ClientSecret: SECRET } });
    expect(res.status).toBe(204);
    expect(w.uat.graphCredential).toEqual({ applicationId: appId, secret: SECRET });

    const read = await call(w, 'GET', `/data/GraphEmailCredentials${KEY}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ ID: EMAIL_PARAMETERS_ID, ApplicationId: appId, ClientSecret: '' });
    const list = await call(w, 'GET', '/data/GraphEmailCredentials');
    expect(JSON.stringify(list.body)).not.toContain(SECRET);
    expect(JSON.stringify(read.body)).not.toContain(SECRET);
  });

  it('uses the entity set and field names configured for the sandbox', async () => {
    const w = world();
    w.state.finopsGraphCredentialEntity = { entitySet: 'ContosoGraphMailSettings', applicationIdField: 'GraphAppId', secretField: 'GraphAppKey' };
    const old = await call(w, 'PATCH', `/data/GraphEmailCredentials${KEY}`, { body: { ApplicationId: 'x', ClientSecret: SECRET } });
    expect(old.status).toBe(404);
    const oldNames = await call(w, 'PATCH', `/data/ContosoGraphMailSettings${KEY}`, { body: { ApplicationId: 'x' } });
    expect(oldNames.status).toBe(400);
    const res = await call(w, 'PATCH', `/data/ContosoGraphMailSettings${KEY}`, { body: { GraphAppId: 'app-1', GraphAppKey: SECRET } });
    expect(res.status).toBe(204);
    expect(w.uat.graphCredential).toEqual({ applicationId: 'app-1', secret: SECRET });
    const read = await call(w, 'GET', `/data/ContosoGraphMailSettings${KEY}`);
    expect(read.body).toMatchObject({ GraphAppId: 'app-1', GraphAppKey: '' });
  });

  it('keeps each environment its own credential', async () => {
    const w = world();
    await call(w, 'PATCH', `/data/GraphEmailCredentials${KEY}`, { environmentId: 'contoso-prod', body: { ApplicationId: 'prod-app', ClientSecret: SECRET } });
    expect(w.state.finops[1]?.graphCredential.applicationId).toBe('prod-app');
    expect(w.uat.graphCredential).toEqual({ applicationId: null, secret: null });
  });
});

describe('F&O over HTTPS', () => {
  let sandbox: TestSandbox;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await sandbox.stop();
  });

  async function odata(credential: TokenCredential, envUrl: string, method: string, path: string, body?: unknown): Promise<Response> {
    const accessToken = await credential.getToken(`${envUrl}/.default`);
    return fetch(`${envUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${accessToken?.token ?? ''}`, 'content-type': 'application/json', accept: 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  it('lets the registered managed identity switch the provider and write the credential, and turns the operator away', async () => {
    const [env] = sandbox.endpoints.environments;
    if (!env) throw new Error('the sandbox has no F&O environment');
    const mi = new ManagedIdentityCredential();
    const params = await odata(mi, env.url, 'GET', '/data/EmailParameters');
    expect(params.status).toBe(200);
    const id = ((await params.json()) as { value: Array<{ ID: string }> }).value[0]?.ID ?? '';
    const key = `(ID='${encodeURIComponent(id)}')`;

    expect((await odata(mi, env.url, 'PATCH', `/data/EmailParameters${key}`, { MailerNonInteractive: 'Graph' })).status).toBe(204);
    const secret = 'https-test-secret-value-0123456789abcdef';
    expect((await odata(mi, env.url, 'PATCH', `/data/GraphEmailCredentials${key}`, { ApplicationId: 'app-1', ClientSecret: secret })).status).toBe(204);
    const record = sandbox.state.finops.find((e) => e.id === env.id);
    expect(record?.emailParameters.MailerNonInteractive).toBe('Graph');
    expect(record?.graphCredential).toEqual({ applicationId: 'app-1', secret });
    const readBack = await odata(mi, env.url, 'GET', `/data/GraphEmailCredentials${key}`);
    expect(await readBack.text()).not.toContain(secret);

    const operatorCall = await odata(sandbox.operatorCredential(), env.url, 'GET', '/data/EmailParameters');
    expect(operatorCall.status).toBe(401);
  });
});
