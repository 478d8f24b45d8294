/**
 * The FnoGraphMail extension as the emulated F&O serves it, over HTTPS with a token as the product gets
 * one (the function app's managed identity, registered in every environment): `$metadata` in F&O's
 * shape with and without the extension, the credential entity (write-only secret, CredentialSetAt),
 * the health entity computed from Email history, and the SendTestEmail action sending through the
 * environment's own mailer. Names come from src/contracts/finopsExtension.ts, the one source of truth.
 */
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { XMLParser } from 'fast-xml-parser';
import {
  FINOPS_ODATA_NAMESPACE,
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../../src/contracts/finopsExtension';
import { FINOPS_NULL_DATETIME } from '../../sandbox/finops-mail';
import { ADMIN_MAILBOX, EMAIL_PARAMETERS_ID, SENDER_MAILBOX } from '../../sandbox/seed';
import { DEFAULT_GRAPH_CREDENTIAL_ENTITY } from '../../sandbox/state';
import { addMailApp, advance, finopsControl, finopsState, sentBy } from '../helpers/finopsMail';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const NS = FINOPS_ODATA_NAMESPACE;
const KEY = `(ID='${EMAIL_PARAMETERS_ID}')`;
const ENVIRONMENTS = ['ext-metadata', 'ext-credential', 'ext-health', 'ext-send', 'ext-renamed'];
type Json = Record<string, unknown>;

let sandbox: TestSandbox;
let mi: ManagedIdentityCredential;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  sandbox = await startTestSandbox({ environmentIds: ENVIRONMENTS });
  for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  mi = new ManagedIdentityCredential();
});

afterEach(async () => {
  for (const id of ENVIRONMENTS) await finopsControl(sandbox, id, 'batch', { running: false });
  await sandbox.finopsMail.idle();
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await sandbox.stop();
});

function urlOf(id: string): string {
  const env = sandbox.endpoints.environments.find((e) => e.id === id);
  if (!env) throw new Error(`no environment ${id}`);
  return env.url;
}

async function odata(id: string, method: string, path: string, body?: unknown, credential: TokenCredential = mi): Promise<Response> {
  const url = urlOf(id);
  const token = await credential.getToken(`${url}/.default`);
  if (!token) throw new Error('no token');
  return fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json', accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function json(id: string, method: string, path: string, body?: unknown): Promise<Json> {
  const response = await odata(id, method, path, body);
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

// ---- $metadata ----------------------------------------------------------------------------------

interface Csdl {
  namespace: string;
  container: string;
  entityTypes: Map<string, { key: string[]; properties: Map<string, string>; readOnly: boolean }>;
  entitySets: Map<string, string>;
  actions: Map<string, { isBound: string; parameters: Array<[string, string]>; returnType: string }>;
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (name, _path, _leaf, isAttribute) =>
    !isAttribute && ['EntityType', 'Property', 'PropertyRef', 'EntitySet', 'Action', 'Parameter', 'EnumType', 'Member', 'Annotation'].includes(name),
});

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function parseCsdl(text: string): Csdl {
  const doc = xml.parse(text) as Json;
  const edmx = doc['edmx:Edmx'] as Json;
  expect(edmx['Version']).toBe('4.0');
  expect(edmx['xmlns:edmx']).toBe('http://docs.oasis-open.org/odata/ns/edmx');
  const schema = (edmx['edmx:DataServices'] as Json)['Schema'] as Json;
  expect(schema['xmlns']).toBe('http://docs.oasis-open.org/odata/ns/edm');
  const container = schema['EntityContainer'] as Json;
  return {
    namespace: schema['Namespace'] as string,
    container: container['Name'] as string,
    entityTypes: new Map(
      list(schema['EntityType']).map((t) => [
        t['Name'] as string,
        {
          key: list((t['Key'] as Json)['PropertyRef']).map((r) => r['Name'] as string),
          properties: new Map(list(t['Property']).map((p) => [p['Name'] as string, p['Type'] as string])),
          readOnly: list(t['Annotation']).some((a) => a['Term'] === 'Microsoft.Dynamics.OData.Core.V1.IsReadOnly' && a['Bool'] === 'true'),
        },
      ]),
    ),
    entitySets: new Map(list(container['EntitySet']).map((s) => [s['Name'] as string, s['EntityType'] as string])),
    actions: new Map(
      list(schema['Action']).map((a) => [
        a['Name'] as string,
        {
          isBound: a['IsBound'] as string,
          parameters: list(a['Parameter']).map((p) => [p['Name'] as string, p['Type'] as string] as [string, string]),
          returnType: (a['ReturnType'] as Json)['Type'] as string,
        },
      ]),
    ),
  };
}

async function metadata(id: string): Promise<Csdl> {
  const response = await odata(id, 'GET', '/data/$metadata');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/xml/);
  return parseCsdl(await response.text());
}

describe('$metadata', () => {
  it('declares the standard entity and, with the extension, its entity types, sets and action exactly as the contract names them', async () => {
    const csdl = await metadata('ext-metadata');
    expect(csdl.namespace).toBe(NS);
    expect(csdl.container).toBe('Resources');
    expect([...csdl.entityTypes.keys()].sort()).toEqual(['EmailParameter', GRAPH_CREDENTIAL_ENTITY.entityType, GRAPH_EMAIL_HEALTH_ENTITY.entityType].sort());
    expect(Object.fromEntries(csdl.entitySets)).toEqual({
      EmailParameters: `${NS}.EmailParameter`,
      [GRAPH_CREDENTIAL_ENTITY.entitySet]: `${NS}.${GRAPH_CREDENTIAL_ENTITY.entityType}`,
      [GRAPH_EMAIL_HEALTH_ENTITY.entitySet]: `${NS}.${GRAPH_EMAIL_HEALTH_ENTITY.entityType}`,
    });

    const credential = csdl.entityTypes.get(GRAPH_CREDENTIAL_ENTITY.entityType);
    expect(credential?.key).toEqual([...GRAPH_CREDENTIAL_ENTITY.key]);
    expect([...(credential?.properties.keys() ?? [])].sort()).toEqual(Object.values(GRAPH_CREDENTIAL_ENTITY.fields).sort());
    expect(credential?.properties.get(GRAPH_CREDENTIAL_ENTITY.fields.credentialSetAt)).toBe('Edm.DateTimeOffset');
    const health = csdl.entityTypes.get(GRAPH_EMAIL_HEALTH_ENTITY.entityType);
    expect(health?.key).toEqual([...GRAPH_EMAIL_HEALTH_ENTITY.key]);
    expect([...(health?.properties.keys() ?? [])].sort()).toEqual(Object.values(GRAPH_EMAIL_HEALTH_ENTITY.fields).sort());
    expect(health?.properties.get(GRAPH_EMAIL_HEALTH_ENTITY.fields.failuresLast24Hours)).toBe('Edm.Int32');
    expect(health?.readOnly).toBe(true);
    expect(credential?.readOnly).toBe(false);
    expect(csdl.entityTypes.get('EmailParameter')?.properties.get('SMTPRequireSSL')).toBe(`${NS}.NoYes`);

    expect(Object.fromEntries(csdl.actions)).toEqual({
      [SEND_TEST_EMAIL_ACTION.name]: {
        isBound: 'true',
        parameters: [
          [GRAPH_CREDENTIAL_ENTITY.entityType, `Collection(${NS}.${GRAPH_CREDENTIAL_ENTITY.entityType})`],
          [SEND_TEST_EMAIL_ACTION.parameter, 'Edm.String'],
        ],
        returnType: 'Edm.String',
      },
    });
  });

  it('loses the extension when it is removed, whose sets and action then answer as unknown, and regains it when deployed again', async () => {
    const removed = await finopsControl(sandbox, 'ext-metadata', 'extension', { installed: false });
    expect(removed.status).toBe(200);
    expect(removed.body.extensionInstalled).toBe(false);
    try {
      const csdl = await metadata('ext-metadata');
      expect([...csdl.entityTypes.keys()]).toEqual(['EmailParameter']);
      expect([...csdl.entitySets.keys()]).toEqual(['EmailParameters']);
      expect(csdl.actions.size).toBe(0);

      for (const [method, path, body] of [
        ['GET', `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}`, undefined],
        ['PATCH', `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}${KEY}`, { ApplicationId: 'x' }],
        ['GET', `/data/${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}`, undefined],
        ['POST', SEND_TEST_EMAIL_ACTION.path, { recipient: 'ops@contoso.com' }],
      ] as const) {
        const response = await odata('ext-metadata', method, path, body);
        expect(response.status).toBe(404);
        const error = ((await response.json()) as { error: { message: string } }).error;
        expect(error.message).toContain('No HTTP resource was found that matches the request URI');
      }
      const service = await json('ext-metadata', 'GET', '/data');
      expect((service.value as Json[]).map((s) => s['name'])).toEqual(['EmailParameters']);
      expect((await odata('ext-metadata', 'GET', '/data/EmailParameters')).status).toBe(200);
    } finally {
      await finopsControl(sandbox, 'ext-metadata', 'extension', { installed: true });
    }
    expect((await odata('ext-metadata', 'GET', `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}`)).status).toBe(200);
    expect((await metadata('ext-metadata')).actions.has(SEND_TEST_EMAIL_ACTION.name)).toBe(true);
  });

  it('is refused to an app that is not registered in the environment', async () => {
    const response = await odata('ext-metadata', 'GET', '/data/$metadata', undefined, sandbox.operatorCredential());
    expect(response.status).toBe(401);
  });

  it('follows a deployment that renamed the credential entity', async () => {
    sandbox.state.finopsGraphCredentialEntity = { entitySet: 'ContosoGraphMailSettings', applicationIdField: 'GraphAppId', secretField: 'GraphAppKey' };
    try {
      const csdl = await metadata('ext-renamed');
      expect(csdl.entitySets.get('ContosoGraphMailSettings')).toBe(`${NS}.ContosoGraphMailSetting`);
      expect(csdl.entitySets.has(GRAPH_CREDENTIAL_ENTITY.entitySet)).toBe(false);
      expect([...(csdl.entityTypes.get('ContosoGraphMailSetting')?.properties.keys() ?? [])]).toEqual(
        expect.arrayContaining(['GraphAppId', 'GraphAppKey', GRAPH_CREDENTIAL_ENTITY.fields.credentialSetAt]) as string[],
      );
      expect(csdl.actions.get(SEND_TEST_EMAIL_ACTION.name)?.parameters[0]).toEqual(['ContosoGraphMailSetting', `Collection(${NS}.ContosoGraphMailSetting)`]);
      const answer = await json('ext-renamed', 'POST', `/data/ContosoGraphMailSettings/${NS}.${SEND_TEST_EMAIL_ACTION.name}`, { recipient: 'ops@contoso.com' });
      expect(answer.value).toMatch(/^NotGraph: /);
      expect((await odata('ext-renamed', 'POST', SEND_TEST_EMAIL_ACTION.path, { recipient: 'ops@contoso.com' })).status).toBe(404);
    } finally {
      sandbox.state.finopsGraphCredentialEntity = { ...DEFAULT_GRAPH_CREDENTIAL_ENTITY };
    }
  });
});

// ---- the credential entity ------------------------------------------------------------------------

describe('the credential entity', () => {
  const path = `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}${KEY}`;
  const F = GRAPH_CREDENTIAL_ENTITY.fields;

  it('shows the provider and CredentialSetAt, stamps CredentialSetAt when a secret is written, and never returns the secret', async () => {
    const before = await json('ext-credential', 'GET', path);
    expect(before).toMatchObject({ [F.id]: EMAIL_PARAMETERS_ID, [F.batchEmailProvider]: 'SMTP', [F.applicationId]: '', [F.clientSecret]: '', [F.credentialSetAt]: FINOPS_NULL_DATETIME });

    const secret = 'Cred~entity-secret-value-0123456789abcdef';
    const written = await odata('ext-credential', 'PATCH', path, { [F.applicationId]: '5a1b2c3d-0000-4000-8000-000000000001', [F.clientSecret]: secret, [F.batchEmailProvider]: 'Graph' });
    expect(written.status).toBe(204);
    const stampedAt = sandbox.state.now();
    const after = await json('ext-credential', 'GET', path);
    expect(after).toMatchObject({ [F.batchEmailProvider]: 'Graph', [F.applicationId]: '5a1b2c3d-0000-4000-8000-000000000001', [F.clientSecret]: '' });
    expect(Math.abs(Date.parse(after[F.credentialSetAt] as string) - stampedAt)).toBeLessThan(5000);
    expect(JSON.stringify(after)).not.toContain(secret);
    expect((await finopsState(sandbox, 'ext-credential')).emailParameters.MailerNonInteractive).toBe('Graph');

    // CredentialSetAt is read-only, the application id alone does not stamp it, and neither does the form.
    await advance(sandbox, 'P1D');
    expect((await odata('ext-credential', 'PATCH', path, { [F.credentialSetAt]: '2020-01-01T00:00:00Z', [F.applicationId]: '5a1b2c3d-0000-4000-8000-000000000002' })).status).toBe(204);
    await finopsControl(sandbox, 'ext-credential', 'form', { secret: 'Form~entered-secret-value-0123456789abcd' });
    expect((await json('ext-credential', 'GET', path))[F.credentialSetAt]).toBe(after[F.credentialSetAt]);
    // Positive control: a new secret over OData stamps the (advanced) virtual time.
    await odata('ext-credential', 'PATCH', path, { [F.clientSecret]: 'Another~entity-secret-0123456789abcdefgh' });
    expect(Date.parse((await json('ext-credential', 'GET', path))[F.credentialSetAt] as string)).toBeGreaterThan(Date.parse(after[F.credentialSetAt] as string) + 23 * 3600 * 1000);
  });
});

// ---- the health entity ----------------------------------------------------------------------------

describe('the health entity', () => {
  const F = GRAPH_EMAIL_HEALTH_ENTITY.fields;
  const path = `/data/${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}`;

  async function health(): Promise<Json> {
    const body = await json('ext-health', 'GET', path);
    const [record] = body.value as Json[];
    if (!record) throw new Error('the health entity has no record');
    return record;
  }

  it('reports successes, failures of the last 24 hours and the queue from Email history, without addresses, recipients or subjects', async () => {
    expect(await health()).toMatchObject({
      [F.id]: EMAIL_PARAMETERS_ID,
      [F.batchEmailProvider]: 'SMTP',
      [F.lastSuccessAt]: FINOPS_NULL_DATETIME,
      [F.lastSuccessProvider]: '',
      [F.failuresLast24Hours]: 0,
      [F.lastFailureAt]: FINOPS_NULL_DATETIME,
      [F.lastFailureDetails]: '',
      [F.queuedMessages]: 0,
    });

    const app = addMailApp(sandbox.state, 'fno-mail-health');
    const { secret } = app.addSecret();
    await finopsControl(sandbox, 'ext-health', 'form', { applicationId: app.appId, secret, batchProvider: 'Graph' });
    // A batch user without a mailbox: Graph answers 404, which Email history shows with the address.
    const nobody = 'nobody@contoso.onmicrosoft.com';
    await finopsControl(sandbox, 'ext-health', 'batch', { running: true, user: nobody });
    await sandbox.finopsMail.idle();
    const [failure] = (await finopsState(sandbox, 'ext-health')).emailHistory;
    expect(failure?.error).toContain(nobody);

    const failed = await health();
    expect(failed).toMatchObject({ [F.batchEmailProvider]: 'Graph', [F.failuresLast24Hours]: 1, [F.queuedMessages]: 1, [F.lastSuccessAt]: FINOPS_NULL_DATETIME });
    expect(failed[F.lastFailureAt]).toBe(failure?.at);
    expect(failed[F.lastFailureDetails]).toContain('(404) Not found');
    expect(failed[F.lastFailureDetails]).toContain(GRAPH_EMAIL_HEALTH_ENTITY.addressPlaceholder);
    const values = Object.entries(failed).filter(([name]) => !name.startsWith('@odata.'));
    expect(JSON.stringify(values)).not.toContain('@');

    await finopsControl(sandbox, 'ext-health', 'batch', { running: true, user: SENDER_MAILBOX });
    await advance(sandbox, 'PT1M');
    const healed = await health();
    expect(healed).toMatchObject({ [F.lastSuccessProvider]: 'Graph', [F.failuresLast24Hours]: 1, [F.queuedMessages]: 0 });
    expect(Date.parse(healed[F.lastSuccessAt] as string)).toBeGreaterThan(Date.parse(failed[F.lastFailureAt] as string));
    const text = JSON.stringify(healed);
    for (const hidden of [ADMIN_MAILBOX, SENDER_MAILBOX, 'Workflow notification']) expect(text).not.toContain(hidden);

    // The failure leaves the 24-hour window; Email history keeps it.
    await finopsControl(sandbox, 'ext-health', 'batch', { running: false });
    await advance(sandbox, 'PT25H');
    expect((await health())[F.failuresLast24Hours]).toBe(0);
    expect((await health())[F.lastFailureAt]).toBe(failure?.at);
  });

  it('is read-only', async () => {
    const response = await odata('ext-health', 'PATCH', `${path}${KEY}`, { [F.queuedMessages]: 0 });
    expect(response.status).toBe(405);
    // Positive control: the keyed record reads.
    expect((await odata('ext-health', 'GET', `${path}${KEY}`)).status).toBe(200);
  });
});

// ---- SendTestEmail ------------------------------------------------------------------------------

describe('SendTestEmail', () => {
  const S = SEND_TEST_EMAIL_ACTION.statuses;

  async function sendTest(recipient: unknown): Promise<string> {
    const body = await json('ext-send', 'POST', SEND_TEST_EMAIL_ACTION.path, { [SEND_TEST_EMAIL_ACTION.parameter]: recipient });
    expect(body['@odata.context']).toBe(`${urlOf('ext-send')}/data/$metadata#Edm.String`);
    return body.value as string;
  }

  it('sends one message now through Graph as the F&O user, records it, and answers with the declared status words', async () => {
    expect(await sendTest('ops@contoso.com')).toBe(`${S.notGraph}: the batch email provider is SMTP, not Graph; nothing was sent.`);
    expect((await finopsState(sandbox, 'ext-send')).emailHistory).toHaveLength(0);

    const app = addMailApp(sandbox.state, 'fno-mail-test-send');
    const key = app.addSecret();
    await finopsControl(sandbox, 'ext-send', 'form', { applicationId: app.appId, secret: key.secret, batchProvider: 'Graph' });
    expect(await sendTest('ops@contoso.com; cfo@contoso.com')).toBe(`${S.invalidRecipient}: the recipient must be exactly one email address; nothing was sent.`);
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(0);

    expect(await sendTest('ops@contoso.com')).toBe(`${S.sent}: Microsoft Graph accepted the test message.`);
    expect(sentBy(sandbox.state, app.appId)).toEqual([
      expect.objectContaining({ from: SENDER_MAILBOX, to: ['ops@contoso.com'], subject: 'Test message from Finance and Operations' }),
    ]);
    const view = await finopsState(sandbox, 'ext-send');
    expect(view.emailHistory).toEqual([{ at: expect.any(String) as string, provider: 'Graph', status: 'sent', keyId: key.keyId }]);
    // Sent directly, not through the queue: nothing waits for the batch.
    expect(view.queuedMessages).toBe(0);
  });

  it('answers Failed with the provider error once the cached token is renewed with a wrong secret', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-test-fail');
    const key = app.addSecret();
    await finopsControl(sandbox, 'ext-send', 'form', { applicationId: app.appId, secret: key.secret, batchProvider: 'Graph' });
    expect(await sendTest('ops@contoso.com')).toMatch(/^Sent: /);

    await finopsControl(sandbox, 'ext-send', 'form', { secret: 'Wr0ng~secret-that-entra-never-issued-67890' });
    // The token F&O holds is still good: the new secret is used at the next token request.
    expect(await sendTest('ops@contoso.com')).toMatch(/^Sent: /);
    await advance(sandbox, 'PT1H');
    const failed = await sendTest('ops@contoso.com');
    expect(failed).toMatch(/^Failed: AADSTS7000215: Invalid client secret provided\./);
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(2);
    expect((await finopsState(sandbox, 'ext-send')).emailHistory[0]).toMatchObject({ provider: 'Graph', status: 'failed', keyId: null });
  });

  it('is an action on the collection only, takes only its declared parameter, and needs POST', async () => {
    const unknown = await odata('ext-send', 'POST', SEND_TEST_EMAIL_ACTION.path, { recipient: 'ops@contoso.com', cc: 'cfo@contoso.com' });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(await unknown.json())).toContain("The parameter 'cc'");
    expect((await odata('ext-send', 'GET', SEND_TEST_EMAIL_ACTION.path)).status).toBe(405);
    const onRecord = await odata('ext-send', 'POST', `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}${KEY}/${NS}.${SEND_TEST_EMAIL_ACTION.name}`, { recipient: 'ops@contoso.com' });
    expect(onRecord.status).toBe(404);
    const operator = await odata('ext-send', 'POST', SEND_TEST_EMAIL_ACTION.path, { recipient: 'ops@contoso.com' }, sandbox.operatorCredential());
    expect(operator.status).toBe(401);
  });
});
