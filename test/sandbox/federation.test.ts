/**
 * The secretless partner operator: a multi-tenant app whose federated identity credential trusts the
 * function app's managed identity, created through the official Graph client, then used with
 * @azure/identity's ClientAssertionCredential (assertion = the identity's token for
 * api://AzureADTokenExchange) to reach a customer tenant; and every refusal Entra gives on the way.
 */
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { ResponseType } from '@microsoft/microsoft-graph-client';
import { randomUUID } from 'node:crypto';
import { GRAPH_APP_ID, GRAPH_APP_ROLES } from '../../sandbox/state';
import { TokenAuthority } from '../../sandbox/tokens';
import {
  assertionCredential,
  claimsOf,
  EXCHANGE_SCOPE,
  GRAPH_SCOPE,
  graphClient,
  graphErrorOf,
  homeIssuer,
  useManagedIdentityEnv,
  type Json,
} from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const EXCHANGE = 'api://AzureADTokenExchange';

let sandbox: TestSandbox;
let restoreEnv: () => void;
let mi: ManagedIdentityCredential;
let customer: { tenantId: string; environments: Array<{ id: string; url: string }>; senderMailbox: string };

beforeAll(async () => {
  sandbox = await startTestSandbox();
  restoreEnv = useManagedIdentityEnv(sandbox);
  mi = new ManagedIdentityCredential();
  const reply = await sandbox.control<typeof customer>('/tenants', { body: { name: 'fabrikam' } });
  expect(reply.status).toBe(201);
  customer = reply.body;
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

const exchangeAssertion = async (): Promise<string> => (await mi.getToken(EXCHANGE_SCOPE)).token;

/** The product's way: a multi-tenant app registered by the identity, with a credential trusting the identity. */
async function operatorApp(uniqueName: string, fic: { issuer?: string; subject?: string; audiences?: string[] } = {}): Promise<{ id: string; appId: string }> {
  const client = graphClient(sandbox, mi);
  const app = (await client
    .api(`/applications(uniqueName='${uniqueName}')`)
    .header('Prefer', 'create-if-missing')
    .patch({
      displayName: uniqueName,
      signInAudience: 'AzureADMultipleOrgs',
      requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: GRAPH_APP_ROLES['Application.ReadWrite.OwnedBy'], type: 'Role' }] }],
    })) as Json;
  await client.api(`/applications/${app.id as string}/federatedIdentityCredentials`).post({
    name: 'function-app-identity',
    issuer: fic.issuer ?? homeIssuer(sandbox),
    subject: fic.subject ?? sandbox.endpoints.managedIdentity.servicePrincipalId,
    audiences: fic.audiences ?? [EXCHANGE],
  });
  return { id: app.id as string, appId: app.appId as string };
}

async function consentInCustomer(appId: string): Promise<void> {
  const reply = await sandbox.control('/consent', { body: { appId, tenantId: customer.tenantId } });
  expect(reply.status).toBe(200);
}

describe('the managed identity token for the token exchange', () => {
  it('has audience api://AzureADTokenExchange, the home issuer on the sandbox authority, and the identity as subject', async () => {
    const claims = claimsOf(await exchangeAssertion());
    expect(claims).toMatchObject({
      aud: EXCHANGE,
      iss: homeIssuer(sandbox),
      sub: sandbox.endpoints.managedIdentity.servicePrincipalId,
      oid: sandbox.endpoints.managedIdentity.servicePrincipalId,
      tid: sandbox.endpoints.tenantId,
      idtyp: 'app',
    });
    expect(claims.roles).toBeUndefined();
  });
});

describe('federated identity credentials through Graph', () => {
  it('creates, lists and reads one by name, in the documented shape', async () => {
    const client = graphClient(sandbox, mi);
    const app = await operatorApp('fic-shape');
    const list = (await client.api(`/applications/${app.id}/federatedIdentityCredentials`).get()) as { value: Json[] };
    expect(list.value).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
        name: 'function-app-identity',
        issuer: homeIssuer(sandbox),
        subject: sandbox.endpoints.managedIdentity.servicePrincipalId,
        description: null,
        audiences: [EXCHANGE],
      },
    ]);
    const byName = (await client.api(`/applications/${app.id}/federatedIdentityCredentials(name='function-app-identity')`).get()) as Json;
    expect(byName.id).toBe(list.value[0]?.id);
  });

  it('refuses two audiences, a bad name, a repeated issuer and subject, and a 21st credential', async () => {
    const client = graphClient(sandbox, mi);
    const app = await operatorApp('fic-limits');
    const fics = client.api(`/applications/${app.id}/federatedIdentityCredentials`);
    const base = { issuer: 'https://token.actions.githubusercontent.com', audiences: [EXCHANGE] };

    const twoAudiences = await graphErrorOf(fics.post({ ...base, name: 'two', subject: 'repo:a/b:ref:main', audiences: [EXCHANGE, 'api://other'] }));
    expect([twoAudiences.statusCode, twoAudiences.message]).toEqual([400, 'Federated identity credentials must have exactly one audience.']);
    const badName = await graphErrorOf(fics.post({ ...base, name: '-x', subject: 'repo:a/b:ref:main' }));
    expect([badName.statusCode, badName.message]).toEqual([400, "Federated Identity Credential name '-x' is invalid."]);
    const again = await graphErrorOf(fics.post({ ...base, name: 'again', issuer: homeIssuer(sandbox), subject: sandbox.endpoints.managedIdentity.servicePrincipalId }));
    expect([again.statusCode, again.message]).toEqual([400, 'Issuer and subject combination already exists for this application.']);

    // One exists; 19 more reach the documented maximum of 20.
    for (let i = 1; i < 20; i += 1) await fics.post({ ...base, name: `branch-${i}`, subject: `repo:a/b:ref:branch-${i}` });
    const tooMany = await graphErrorOf(fics.post({ ...base, name: 'branch-20', subject: 'repo:a/b:ref:branch-20' }));
    expect(tooMany.statusCode).toBe(400);
    expect(((await fics.get()) as { value: Json[] }).value).toHaveLength(20);
  });

  it('upserts by name with Prefer: create-if-missing (201, then 204) and deletes', async () => {
    const client = graphClient(sandbox, mi);
    const app = await operatorApp('fic-upsert');
    const byName = `/applications/${app.id}/federatedIdentityCredentials(name='deploy')`;
    const body = { issuer: 'https://token.actions.githubusercontent.com', subject: 'repo:a/b:environment:prod', audiences: [EXCHANGE] };
    const patch = (prefer: boolean): Promise<Response> => {
      const request = client.api(byName).responseType(ResponseType.RAW);
      return (prefer ? request.header('Prefer', 'create-if-missing') : request).patch(body) as Promise<Response>;
    };
    expect((await patch(false)).status).toBe(404);
    expect((await patch(true)).status).toBe(201);
    expect((await patch(true)).status).toBe(204);
    await client.api(byName).delete();
    expect((await graphErrorOf(client.api(byName).get())).statusCode).toBe(404);
  });

  it('lets an OwnedBy caller read the credentials of an app it does not own but not add one', async () => {
    const created = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'someone-elses', owners: ['user'] } });
    const fics = graphClient(sandbox, mi).api(`/applications/${created.body.id}/federatedIdentityCredentials`);
    expect(((await fics.get()) as { value: Json[] }).value).toEqual([]);
    const denied = await graphErrorOf(fics.post({ name: 'sneak', issuer: homeIssuer(sandbox), subject: sandbox.endpoints.managedIdentity.servicePrincipalId, audiences: [EXCHANGE] }));
    expect([denied.statusCode, denied.code]).toEqual([403, 'Authorization_RequestDenied']);
  });
});

describe('ClientAssertionCredential with the identity token as assertion', () => {
  it('gets a Graph token in the customer tenant once the operator app is consented there, and acts in that tenant', async () => {
    const app = await operatorApp('partner-operator');
    const credential = assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion);
    await expect(credential.getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000229: The client application .* is missing service principal in the tenant/);

    await consentInCustomer(app.appId);
    const token = await assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion).getToken(GRAPH_SCOPE);
    const claims = claimsOf(token.token);
    expect(claims).toMatchObject({ tid: customer.tenantId, appid: app.appId, roles: ['Application.ReadWrite.OwnedBy'] });
    const customerTenant = sandbox.state.tenant(customer.tenantId);
    expect(claims.oid).toBe(customerTenant?.findServicePrincipalByAppId(app.appId)?.id);

    // Graph acts in the token's tenant: the app lands in the customer's directory, not at home.
    const client = graphClient(sandbox, assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion));
    const created = (await client.api("/applications(uniqueName='fno-graph-mail-fabrikam-prod')").header('Prefer', 'create-if-missing').patch({ displayName: 'F&O mail' })) as Json;
    expect(customerTenant?.findApplicationById(created.id as string)?.owners).toEqual([claims.oid]);
    expect(sandbox.state.findApplicationById(created.id as string)).toBeUndefined();
    expect(created.publisherDomain).toBe('fabrikam.onmicrosoft.com');

    // The sign-in is in the customer tenant's log, as a federated credential sign-in.
    const signIn = customerTenant?.signIns.filter((s) => s.appId === app.appId && s.errorCode === 0).pop();
    const fic = sandbox.state.findApplicationByAppId(app.appId)?.federatedIdentityCredentials?.[0];
    expect(signIn).toMatchObject({ clientCredentialType: 'federatedIdentityCredential', federatedCredentialId: fic?.id, servicePrincipalCredentialKeyId: '' });
  });

  it('refuses an assertion whose issuer no credential names with AADSTS700211', async () => {
    const app = await operatorApp('wrong-issuer', { issuer: `https://login.microsoftonline.com/${sandbox.endpoints.tenantId}/v2.0` });
    await consentInCustomer(app.appId);
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion).getToken(GRAPH_SCOPE)).rejects.toThrow(
      new RegExp(`AADSTS700211: No matching federated identity record found for presented assertion issuer '${homeIssuer(sandbox)}'`),
    );
  });

  it('refuses an assertion whose subject no credential names with AADSTS700213', async () => {
    const app = await operatorApp('wrong-subject', { subject: randomUUID() });
    await consentInCustomer(app.appId);
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700213: No matching federated identity record found for presented assertion subject/,
    );
  });

  it('refuses an identity token for another audience with AADSTS700212', async () => {
    const app = await operatorApp('wrong-audience');
    await consentInCustomer(app.appId);
    const graphToken = async (): Promise<string> => (await mi.getToken(GRAPH_SCOPE)).token;
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, graphToken).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700212: No matching federated identity record found for presented assertion audience 'https:\/\/graph.microsoft.com'/,
    );
  });

  it('refuses an expired assertion with AADSTS700024 and one signed by another key with AADSTS50013', async () => {
    const app = await operatorApp('stale-assertion');
    await consentInCustomer(app.appId);
    const claims = {
      audience: EXCHANGE,
      issuer: homeIssuer(sandbox),
      tenantId: sandbox.endpoints.tenantId,
      appId: sandbox.endpoints.managedIdentity.clientId,
      servicePrincipalId: sandbox.endpoints.managedIdentity.servicePrincipalId,
      roles: [],
      lifetimeSeconds: 3600,
    };
    const stale = sandbox.authority.issue({ ...claims, now: sandbox.state.now() - 2 * 3600 * 1000 }).token;
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, () => Promise.resolve(stale)).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700024: Client assertion is not within its valid time range/,
    );
    const forged = new TokenAuthority().issue({ ...claims, now: sandbox.state.now() }).token;
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, () => Promise.resolve(forged)).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS50013/);
    // The same claims, fresh and signed by the sandbox: accepted.
    const fresh = sandbox.authority.issue({ ...claims, now: sandbox.state.now() }).token;
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, () => Promise.resolve(fresh)).getToken(GRAPH_SCOPE)).resolves.toMatchObject({ token: expect.any(String) as unknown });
  });

  it("refuses an application's own Entra token as assertion with AADSTS700226 (only managed identity tokens)", async () => {
    const seeded = sandbox.endpoints.operator;
    const operatorSpId = sandbox.state.findServicePrincipalByAppId(seeded.clientId)?.id ?? '';
    const app = await operatorApp('app-token-assertion', { subject: operatorSpId });
    await consentInCustomer(app.appId);
    const seededCredential = new ClientSecretCredential(sandbox.endpoints.tenantId, seeded.clientId, seeded.clientSecret, {
      authorityHost: sandbox.endpoints.authorityHost,
      disableInstanceDiscovery: true,
    });
    const appToken = async (): Promise<string> => (await seededCredential.getToken(EXCHANGE_SCOPE)).token;
    await expect(assertionCredential(sandbox, customer.tenantId, app.appId, appToken).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700226: Only MSI tokens may be used as Federated Identity Credentials/,
    );
  });

  it('answers AADSTS70021 while a new credential propagates, then accepts it', async () => {
    await sandbox.control('/settings', { body: { secretPropagationSeconds: 30 } });
    try {
      const app = await operatorApp('propagating');
      await consentInCustomer(app.appId);
      await expect(assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion).getToken(GRAPH_SCOPE)).rejects.toThrow(
        /AADSTS70021: No matching federated identity record found for presented assertion/,
      );
      await sandbox.control('/clock', { body: { advance: 'PT31S' } });
      await expect(assertionCredential(sandbox, customer.tenantId, app.appId, exchangeAssertion).getToken(GRAPH_SCOPE)).resolves.toMatchObject({
        token: expect.any(String) as unknown,
      });
    } finally {
      await sandbox.control('/settings', { body: { secretPropagationSeconds: 0 } });
    }
  });
});

describe('the partner operator application (control route)', () => {
  it('creates the operator app once, trusted by the identity, registered in customer environments, and reaching their F&O', async () => {
    const first = await sandbox.control<{ appId: string; uniqueName: string; federatedIdentityCredential: Json }>('/operator-application', { body: {} });
    expect(first.status).toBe(201);
    expect(first.body.federatedIdentityCredential).toMatchObject({
      issuer: homeIssuer(sandbox),
      subject: sandbox.endpoints.managedIdentity.servicePrincipalId,
      audiences: [EXCHANGE],
    });
    const second = await sandbox.control<{ appId: string }>('/operator-application', { body: {} });
    expect([second.status, second.body.appId]).toEqual([200, first.body.appId]);

    // A tenant added afterwards registers it in its F&O environment, as the customer would.
    const later = await sandbox.control<typeof customer>('/tenants', { body: { name: 'northwind' } });
    const env = later.body.environments[0];
    if (!env) throw new Error('no environment');
    expect(sandbox.state.finops.find((e) => e.id === env.id)?.registeredClients).toContain(first.body.appId);
    expect(sandbox.state.finops.find((e) => e.id === customer.environments[0]?.id)?.registeredClients).toContain(first.body.appId);

    await sandbox.control('/consent', { body: { appId: first.body.appId, tenantId: later.body.tenantId } });
    const finopsToken = await assertionCredential(sandbox, later.body.tenantId, first.body.appId, exchangeAssertion).getToken(`${env.url}/.default`);
    const read = await fetch(`${env.url}/data/EmailParameters`, { headers: { authorization: `Bearer ${finopsToken.token}` } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: Array<{ SMTPUserName: string }> }).value[0]?.SMTPUserName).toBe(later.body.senderMailbox);

    // The identity's own token is for the home tenant: the customer's environment turns it away.
    const homeToken = await mi.getToken(`${env.url}/.default`);
    expect((await fetch(`${env.url}/data/EmailParameters`, { headers: { authorization: `Bearer ${homeToken.token}` } })).status).toBe(401);
  });
});
