/**
 * Who may change an application: `Application.ReadWrite.OwnedBy` reads every app but writes only the
 * ones its service principal owns; `owners` and `owners/$ref` through the Graph client; the control
 * route that registers an app as a tenant user would (the attack on the product's predictable
 * uniqueName); and App Instance Lock keeping a customer tenant from adding a secret to a multi-tenant
 * app's service principal, until the home tenant lifts it.
 */
import { ClientSecretCredential, ManagedIdentityCredential, type AccessToken, type TokenCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { createServiceDeps } from '../../sandbox/deps';
import { createGraphService } from '../../sandbox/graph';
import { seedState } from '../../sandbox/seed';
import { GRAPH_APP_ID, GRAPH_APP_ROLES, SandboxState } from '../../sandbox/state';
import { TokenAuthority } from '../../sandbox/tokens';
import { claimsOf, GRAPH_SCOPE, graphClient, graphErrorOf, homeIssuer, useManagedIdentityEnv, type Json } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;
let restoreEnv: () => void;
let client: Client;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  restoreEnv = useManagedIdentityEnv(sandbox);
  // The default roles plus Directory.Read.All, which adding an owner also needs.
  const roles = ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All', 'Directory.Read.All'];
  await sandbox.control('/permissions', { body: { managedIdentityRoles: roles } });
  client = graphClient(sandbox, new ManagedIdentityCredential());
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

/** A caller holding exactly these Graph roles in a tenant (a static token signed by the sandbox). */
function callerIn(tenantId: string, appId: string, servicePrincipalId: string, roles: string[]): TokenCredential {
  const issued = sandbox.authority.issue({
    audience: 'https://graph.microsoft.com',
    issuer: `${sandbox.endpoints.authorityHost}/${tenantId}/v2.0`,
    tenantId,
    appId,
    servicePrincipalId,
    roles,
    now: sandbox.state.now(),
    lifetimeSeconds: 3600,
  });
  return { getToken: (): Promise<AccessToken> => Promise.resolve({ token: issued.token, expiresOnTimestamp: Date.now() + 3_000_000 }) };
}

describe('an app someone else registered under the product\'s unique name', () => {
  it('is readable by the product (OwnedBy) with its owners, but not writable', async () => {
    const created = await sandbox.control<{ id: string; appId: string }>('/applications', {
      body: { uniqueName: 'fno-graph-mail-contoso-uat', displayName: 'F&O mail (contoso-uat)', tags: ['fno-graph-mail'] },
    });
    expect(created.status).toBe(201);
    const read = (await client.api("/applications(uniqueName='fno-graph-mail-contoso-uat')").get()) as Json;
    expect(read).toMatchObject({ id: created.body.id, appId: created.body.appId, tags: ['fno-graph-mail'] });

    const owners = (await client.api(`/applications/${created.body.id}/owners`).get()) as { value: Json[] };
    expect(owners.value).toEqual([
      expect.objectContaining({ '@odata.type': '#microsoft.graph.user', userPrincipalName: 'developer@contoso.onmicrosoft.com' }),
    ]);
    const ids = (await client.api(`/applications/${created.body.id}/owners`).select('id').get()) as { value: Json[] };
    expect(ids.value.map((o) => Object.keys(o).sort())).toEqual([['@odata.type', 'id']]);

    const upsert = await graphErrorOf(
      client.api("/applications(uniqueName='fno-graph-mail-contoso-uat')").header('Prefer', 'create-if-missing').patch({ displayName: 'taken over' }),
    );
    expect([upsert.statusCode, upsert.code]).toEqual([403, 'Authorization_RequestDenied']);
    expect((await graphErrorOf(client.api(`/applications/${created.body.id}/addPassword`).post({}))).statusCode).toBe(403);
    expect((await graphErrorOf(client.api(`/applications/${created.body.id}/federatedIdentityCredentials`).post({ name: 'x' }))).statusCode).toBe(403);
  });

  it('is writable when it also lists the product as owner, and the owners show both', async () => {
    const created = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'fno-graph-mail-contoso-prod', owners: ['user', 'product'] } });
    const owners = (await client.api(`/applications/${created.body.id}/owners`).get()) as { value: Json[] };
    expect(owners.value.map((o) => o['@odata.type']).sort()).toEqual(['#microsoft.graph.servicePrincipal', '#microsoft.graph.user']);
    expect(owners.value.find((o) => o['@odata.type'] === '#microsoft.graph.servicePrincipal')?.id).toBe(sandbox.endpoints.managedIdentity.servicePrincipalId);
    await client.api(`/applications/${created.body.id}`).patch({ tags: ['fno-graph-mail', 'env:contoso-prod'] });
    expect(((await client.api(`/applications/${created.body.id}`).get()) as Json).tags).toEqual(['fno-graph-mail', 'env:contoso-prod']);
  });

  it('refuses a duplicate unique name, an unknown owner, an unknown tenant, and "product" where it has no principal', async () => {
    expect((await sandbox.control('/applications', { body: { uniqueName: 'fno-graph-mail-contoso-uat' } })).status).toBe(409);
    expect((await sandbox.control('/applications', { body: { uniqueName: 'x1', owners: ['nobody'] } })).status).toBe(400);
    expect((await sandbox.control('/applications', { body: { uniqueName: 'x2', tenantId: 'nowhere.onmicrosoft.com' } })).status).toBe(404);
    const customer = await sandbox.control<{ tenantId: string }>('/tenants', { body: { name: 'fabrikam' } });
    const noProduct = await sandbox.control<{ error: { message: string } }>('/applications', { body: { uniqueName: 'x3', tenantId: customer.body.tenantId, owners: ['product'] } });
    expect(noProduct.status).toBe(400);
    expect(noProduct.body.error.message).toContain('consent its operator application');
    const asUser = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'x3', tenantId: customer.body.tenantId } });
    expect(sandbox.state.tenant(customer.body.tenantId)?.findApplicationById(asUser.body.id)).toBeDefined();
  });
});

describe('owners/$ref', () => {
  it('adds an owner to an app the caller owns; refuses a repeat, an unknown object and an app it does not own', async () => {
    const mine = (await client.api('/applications').post({ displayName: 'owned' })) as Json;
    const operatorSp = sandbox.state.findServicePrincipalByAppId(sandbox.endpoints.operator.clientId)?.id ?? '';
    const ref = (id: string): Json => ({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${id}` });
    await client.api(`/applications/${mine.id as string}/owners/$ref`).post(ref(operatorSp));
    const owners = (await client.api(`/applications/${mine.id as string}/owners`).get()) as { value: Json[] };
    expect(owners.value.map((o) => o.id).sort()).toEqual([sandbox.endpoints.managedIdentity.servicePrincipalId, operatorSp].sort());

    const repeat = await graphErrorOf(client.api(`/applications/${mine.id as string}/owners/$ref`).post(ref(operatorSp)));
    expect([repeat.statusCode, repeat.message]).toEqual([400, "One or more added object references already exist for the following modified properties: 'owners'."]);
    expect((await graphErrorOf(client.api(`/applications/${mine.id as string}/owners/$ref`).post(ref('11111111-2222-3333-4444-555555555555')))).statusCode).toBe(404);
    const theirs = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'theirs' } });
    expect((await graphErrorOf(client.api(`/applications/${theirs.body.id}/owners/$ref`).post(ref(operatorSp)))).statusCode).toBe(403);
  });

  it('removes an owner with DELETE owners/{id}/$ref, answers 404 for one that is not an owner, and 403 on an app the caller does not own', async () => {
    const mine = (await client.api('/applications').post({ displayName: 'two owners' })) as Json;
    const operatorSp = sandbox.state.findServicePrincipalByAppId(sandbox.endpoints.operator.clientId)?.id ?? '';
    await client.api(`/applications/${mine.id as string}/owners/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${operatorSp}` });
    await client.api(`/applications/${mine.id as string}/owners/${operatorSp}/$ref`).delete();
    const owners = (await client.api(`/applications/${mine.id as string}/owners`).get()) as { value: Json[] };
    expect(owners.value.map((o) => o.id)).toEqual([sandbox.endpoints.managedIdentity.servicePrincipalId]);
    expect((await graphErrorOf(client.api(`/applications/${mine.id as string}/owners/${operatorSp}/$ref`).delete())).statusCode).toBe(404);
    const theirs = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'theirs-too' } });
    const developer = sandbox.state.home.applications.find((a) => a.id === theirs.body.id)?.owners[0] ?? '';
    expect((await graphErrorOf(client.api(`/applications/${theirs.body.id}/owners/${developer}/$ref`).delete())).statusCode).toBe(403);
    expect(sandbox.state.home.applications.find((a) => a.id === theirs.body.id)?.owners).toEqual([developer]);
  });

  it('needs Directory.Read.All besides Application.ReadWrite.OwnedBy', async () => {
    // Handler level, with a token holding OwnedBy alone.
    const state = new SandboxState();
    seedState(state);
    const authority = new TokenAuthority();
    const graph = createGraphService(createServiceDeps(state, authority));
    const mi = state.managedIdentity;
    const token = (roles: string[]): string =>
      authority.issue({ audience: 'https://graph.microsoft.com', issuer: 'https://localhost/x/v2.0', tenantId: state.tenantId, appId: mi.appId, servicePrincipalId: mi.servicePrincipalId, roles, now: state.now(), lifetimeSeconds: 600 }).token;
    const call = async (roles: string[], method: string, path: string, body?: unknown): Promise<number> =>
      (
        await graph({
          service: 'graph',
          method,
          path,
          rawPath: path,
          query: new URLSearchParams(),
          headers: { authorization: `Bearer ${token(roles)}`, 'content-type': 'application/json' },
          body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
          origin: 'https://localhost:8443',
        })
      ).status;
    expect(await call(['Application.ReadWrite.OwnedBy'], 'POST', '/v1.0/applications', { displayName: 'a' })).toBe(201);
    const app = state.applications.find((a) => a.displayName === 'a');
    const ref = { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${state.operator.servicePrincipalId}` };
    expect(await call(['Application.ReadWrite.OwnedBy'], 'POST', `/v1.0/applications/${app?.id ?? ''}/owners/$ref`, ref)).toBe(403);
    expect(await call(['Application.ReadWrite.OwnedBy', 'Directory.Read.All'], 'POST', `/v1.0/applications/${app?.id ?? ''}/owners/$ref`, ref)).toBe(204);
  });
});

describe('App Instance Lock', () => {
  it('is on for apps created through Graph or the portal, and absent on the seeded app', async () => {
    const viaGraph = (await client.api('/applications').post({ displayName: 'new app', signInAudience: 'AzureADMultipleOrgs' })) as Json;
    const all = { isEnabled: true, allProperties: true, credentialsWithUsageVerify: true, credentialsWithUsageSign: true, tokenEncryptionKeyId: true };
    expect(viaGraph.servicePrincipalLockConfiguration).toEqual(all);
    const viaPortal = await sandbox.control<{ id: string }>('/applications', { body: { uniqueName: 'portal-app' } });
    expect(((await client.api(`/applications/${viaPortal.body.id}`).get()) as Json).servicePrincipalLockConfiguration).toEqual(all);
    const seeded = sandbox.state.findApplicationByAppId(sandbox.endpoints.operator.clientId);
    expect(((await client.api(`/applications/${seeded?.id ?? ''}`).get()) as Json).servicePrincipalLockConfiguration).toBeNull();
  });

  it("refuses a customer tenant's secret on a locked multi-tenant app's service principal until the home tenant lifts the lock", async () => {
    const app = (await client
      .api('/applications')
      .post({
        displayName: 'partner operator',
        signInAudience: 'AzureADMultipleOrgs',
        requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: GRAPH_APP_ROLES['Application.Read.All'], type: 'Role' }] }],
      })) as Json;
    await client.api(`/applications/${app.id as string}/federatedIdentityCredentials`).post({
      name: 'function-app-identity',
      issuer: homeIssuer(sandbox),
      subject: sandbox.endpoints.managedIdentity.servicePrincipalId,
      audiences: ['api://AzureADTokenExchange'],
    });
    const customer = await sandbox.control<{ tenantId: string }>('/tenants', { body: { name: 'northwind' } });
    const consent = await sandbox.control<{ servicePrincipalId: string }>('/consent', { body: { appId: app.appId, tenantId: customer.body.tenantId } });
    // A customer administrator's tool with Application.ReadWrite.All in the customer tenant.
    const customerAdmin = graphClient(sandbox, callerIn(customer.body.tenantId, '11111111-0000-4000-8000-000000000001', '11111111-0000-4000-8000-000000000002', ['Application.ReadWrite.All']));
    const addSpSecret = (): Promise<Json> =>
      customerAdmin.api(`/servicePrincipals(appId='${app.appId as string}')/addPassword`).post({ passwordCredential: { displayName: 'backdoor' } }) as Promise<Json>;

    const refused = await graphErrorOf(addSpSecret());
    expect([refused.statusCode, refused.code, refused.message]).toEqual([400, 'CannotUpdateLockedServicePrincipalProperty', 'Property passwordCredentials is invalid.']);

    await client.api(`/applications/${app.id as string}`).patch({ servicePrincipalLockConfiguration: { isEnabled: false } });
    expect(((await client.api(`/applications/${app.id as string}`).get()) as Json).servicePrincipalLockConfiguration).toMatchObject({ isEnabled: false, allProperties: true });
    const added = await addSpSecret();
    // What the lock prevents: the secret signs the partner's app in to the customer tenant.
    const token = await new ClientSecretCredential(customer.body.tenantId, app.appId as string, added.secretText as string, {
      authorityHost: sandbox.endpoints.authorityHost,
      disableInstanceDiscovery: true,
    }).getToken(GRAPH_SCOPE);
    expect(claimsOf(token.token)).toMatchObject({ tid: customer.body.tenantId, oid: consent.body.servicePrincipalId, roles: ['Application.Read.All'] });
    const signIn = sandbox.state.tenant(customer.body.tenantId)?.signIns.filter((s) => s.appId === app.appId).pop();
    expect(signIn).toMatchObject({ errorCode: 0, clientCredentialType: 'clientSecret', servicePrincipalCredentialKeyId: added.keyId });
  });

  it("leaves the home tenant's own service principal to its owner", async () => {
    const app = (await client.api('/applications').post({ displayName: 'home sp', signInAudience: 'AzureADMultipleOrgs' })) as Json;
    const sp = (await client.api('/servicePrincipals').post({ appId: app.appId })) as Json;
    const added = (await client.api(`/servicePrincipals/${sp.id as string}/addPassword`).post({ passwordCredential: { displayName: 'home' } })) as Json;
    expect(added.secretText).toEqual(expect.any(String));
    const listed = (await client.api(`/servicePrincipals/${sp.id as string}`).get()) as { passwordCredentials: Json[] };
    expect(listed.passwordCredentials).toEqual([expect.objectContaining({ keyId: added.keyId, secretText: null })]);
    await client.api(`/servicePrincipals/${sp.id as string}/removePassword`).post({ keyId: added.keyId });
    expect(((await client.api(`/servicePrincipals/${sp.id as string}`).get()) as { passwordCredentials: Json[] }).passwordCredentials).toEqual([]);
  });
});
