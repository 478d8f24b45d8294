/**
 * Sign-in evidence through the official Graph client: the token endpoint logs every client-credentials
 * sign-in (the key id used, failures with their AADSTS code); beta auditLogs/signIns serves them after
 * the ingestion delay with the documented filters, newest first, paged by nextLink; v1.0 has no
 * service principal sign-ins; the credential activity report shows each key's last use; permissions,
 * licence and the reports throttle answer as Graph does.
 */
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { GRAPH_APP_ID, GRAPH_APP_ROLES } from '../../sandbox/state';
import { GRAPH_SCOPE, graphClient, graphErrorOf, noRetries, useManagedIdentityEnv, type Json } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const DAY_MS = 86_400_000;

let sandbox: TestSandbox;
let restoreEnv: () => void;
let client: Client;
let sender: { id: string; appId: string };
let key: { keyId: string; secretText: string };
let startedAt: string;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  restoreEnv = useManagedIdentityEnv(sandbox);
  // The evidence permissions are not in the identity's default roles: grant them before its first token.
  const roles = ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All', 'AuditLog.Read.All', 'Directory.Read.All'];
  await sandbox.control('/permissions', { body: { managedIdentityRoles: roles } });
  client = graphClient(sandbox, new ManagedIdentityCredential());
  startedAt = new Date(Math.floor(sandbox.state.now() / 1000) * 1000).toISOString();
  const app = (await client.api("/applications(uniqueName='fno-graph-mail-contoso-uat')").header('Prefer', 'create-if-missing').patch({ displayName: 'F&O mail' })) as Json;
  sender = { id: app.id as string, appId: app.appId as string };
  await client.api('/servicePrincipals').post({ appId: sender.appId });
  key = (await client.api(`/applications/${sender.id}/addPassword`).post({ passwordCredential: { displayName: 'current' } })) as typeof key;
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

function secretCredential(clientId: string, secret: string): ClientSecretCredential {
  return new ClientSecretCredential(sandbox.endpoints.tenantId, clientId, secret, { authorityHost: sandbox.endpoints.authorityHost, disableInstanceDiscovery: true });
}

const SP_FILTER = "signInEventTypes/any(t: t eq 'servicePrincipal')";

function signIns(filter: string): Promise<{ value: Json[]; '@odata.nextLink'?: string }> {
  return client.api('/auditLogs/signIns').version('beta').filter(filter).get() as Promise<{ value: Json[]; '@odata.nextLink'?: string }>;
}

describe('the sign-in log', () => {
  it('records a sign-in with the key id used and a failure with its code, visible after the ingestion delay', async () => {
    await secretCredential(sender.appId, key.secretText).getToken(GRAPH_SCOPE);
    await expect(secretCredential(sender.appId, 'not-the-secret').getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000215/);
    const filter = `${SP_FILTER} and appId eq '${sender.appId}' and createdDateTime ge ${startedAt}`;

    expect((await signIns(filter)).value).toEqual([]);
    await sandbox.control('/clock', { body: { advance: 'PT2M' } });
    const page = await signIns(filter);
    expect(page.value).toHaveLength(2);
    const [failure, success] = page.value as [Json, Json];
    expect(success).toMatchObject({
      appId: sender.appId,
      appDisplayName: 'F&O mail',
      servicePrincipalId: sandbox.state.findServicePrincipalByAppId(sender.appId)?.id,
      servicePrincipalCredentialKeyId: key.keyId,
      clientCredentialType: 'clientSecret',
      resourceId: GRAPH_APP_ID,
      resourceDisplayName: 'Microsoft Graph',
      signInEventTypes: ['servicePrincipal'],
      isInteractive: false,
      status: { errorCode: 0, failureReason: null, additionalDetails: null },
    });
    expect(failure).toMatchObject({ servicePrincipalCredentialKeyId: '', status: { errorCode: 7000215 } });
    expect((failure.status as Json).failureReason).toMatch(/^Invalid client secret provided/);
    expect(success.createdDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // Newest first: the failure came second.
    expect(Date.parse(failure.createdDateTime as string)).toBeGreaterThanOrEqual(Date.parse(success.createdDateTime as string));
  });

  it('records an expired key by its id (AADSTS7000222), the evidence that F&O still holds it', async () => {
    const endDateTime = new Date(sandbox.state.now() + DAY_MS).toISOString();
    const shortLived = (await client.api(`/applications/${sender.id}/addPassword`).post({ passwordCredential: { displayName: 'short', endDateTime } })) as typeof key;
    await sandbox.control('/clock', { body: { advance: 'P2D' } });
    await expect(secretCredential(sender.appId, shortLived.secretText).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000222/);
    await sandbox.control('/settings', { body: { signInLogDelayMinutes: 0 } });
    try {
      const latest = (await signIns(`${SP_FILTER} and appId eq '${sender.appId}' and status/errorCode eq 7000222`)).value;
      expect(latest.map((s) => s.servicePrincipalCredentialKeyId)).toEqual([shortLived.keyId]);
    } finally {
      await sandbox.control('/settings', { body: { signInLogDelayMinutes: 2 } });
    }
  });

  it('pages with $top and @odata.nextLink, newest first, and sorts ascending on request', async () => {
    for (let i = 0; i < 3; i += 1) await secretCredential(sender.appId, key.secretText).getToken(GRAPH_SCOPE);
    await sandbox.control('/clock', { body: { advance: 'PT3M' } });
    const filter = `${SP_FILTER} and appId eq '${sender.appId}' and status/errorCode eq 0`;
    const all = (await signIns(filter)).value;
    expect(all.length).toBeGreaterThanOrEqual(4);
    const first = (await client.api('/auditLogs/signIns').version('beta').filter(filter).top(2).get()) as { value: Json[]; '@odata.nextLink'?: string };
    expect(first.value.map((s) => s.id)).toEqual(all.slice(0, 2).map((s) => s.id));
    expect(first['@odata.nextLink']).toMatch(/\$skiptoken=/);
    const second = (await client.api(first['@odata.nextLink'] ?? '').get()) as { value: Json[] };
    expect(second.value.map((s) => s.id)).toEqual(all.slice(2, 4).map((s) => s.id));
    const ascending = (await client.api('/auditLogs/signIns').version('beta').filter(filter).orderby('createdDateTime asc').get()) as { value: Json[] };
    expect(ascending.value.map((s) => s.id)).toEqual([...all].reverse().map((s) => s.id));
    const selected = (await client.api('/auditLogs/signIns').version('beta').filter(filter).select('id,servicePrincipalCredentialKeyId').top(1).get()) as { value: Json[] };
    expect(Object.keys(selected.value[0] ?? {}).sort()).toEqual(['id', 'servicePrincipalCredentialKeyId']);
  });

  it('returns only interactive sign-ins (none here) without an event type filter, and managed identity sign-ins with theirs', async () => {
    expect(((await client.api('/auditLogs/signIns').version('beta').get()) as { value: Json[] }).value).toEqual([]);
    const identity = await signIns(`signInEventTypes/any(t: t eq 'managedIdentity') and appId eq '${sandbox.endpoints.managedIdentity.clientId}'`);
    expect(identity.value.length).toBeGreaterThan(0);
    expect(identity.value[0]).toMatchObject({ clientCredentialType: 'managedIdentity', signInEventTypes: ['managedIdentity'] });
  });

  it('refuses filters Microsoft does not document, and the service principal filter on v1.0', async () => {
    const refused = async (filter: string): Promise<number | undefined> => (await graphErrorOf(signIns(filter))).statusCode;
    expect(await refused(`${SP_FILTER} and servicePrincipalCredentialKeyId eq '${key.keyId}'`)).toBe(400);
    expect(await refused(`${SP_FILTER} and (appId eq '${sender.appId}' or appId eq 'x')`)).toBe(400);
    expect(await refused(`${SP_FILTER} and createdDateTime gt ${startedAt}`)).toBe(400);
    const v1 = await graphErrorOf(client.api('/auditLogs/signIns').filter(SP_FILTER).get());
    expect([v1.statusCode, v1.code]).toEqual([400, 'BadRequest']);
    expect(((await client.api('/auditLogs/signIns').get()) as { value: Json[] }).value).toEqual([]);
    // Positive control: documented clauses together.
    expect((await signIns(`${SP_FILTER} and startswith(appDisplayName, 'F') and createdDateTime le ${new Date(sandbox.state.now()).toISOString()}`)).value.length).toBeGreaterThan(0);
  });
});

describe('the credential activity report', () => {
  it("shows each key's last sign-in, none for an unused key, and reads one by id", async () => {
    const unused = (await client.api(`/applications/${sender.id}/addPassword`).post({ passwordCredential: { displayName: 'unused' } })) as typeof key;
    const report = (filter: string): Promise<{ value: Json[] }> => client.api('/reports/appCredentialSignInActivities').version('beta').filter(filter).get() as Promise<{ value: Json[] }>;
    const used = (await report(`keyId eq '${key.keyId}'`)).value;
    expect(used).toEqual([
      expect.objectContaining({ appId: sender.appId, appObjectId: sender.id, keyId: key.keyId, keyType: 'clientSecret', keyUsage: 'verify', credentialOrigin: 'application', resourceId: GRAPH_APP_ID }),
    ]);
    expect((used[0]?.signInActivity as Json).lastSignInDateTime).toEqual(expect.stringMatching(/Z$/));
    expect((await report(`keyId eq '${unused.keyId}'`)).value[0]?.signInActivity).toBeNull();
    expect((await report(`appId eq '${sender.appId}'`)).value.length).toBeGreaterThanOrEqual(3);

    const byId = (await client.api(`/reports/appCredentialSignInActivities/${used[0]?.id as string}`).version('beta').get()) as Json;
    expect(byId.keyId).toBe(key.keyId);
    expect(Buffer.from(byId.id as string, 'base64').toString('utf8')).toBe(`${key.keyId}|application`);
    expect((await graphErrorOf(report(`displayName eq 'x'`))).statusCode).toBe(400);
    expect((await graphErrorOf(client.api('/reports/appCredentialSignInActivities').get())).statusCode).toBe(400);
  });
});

describe('who may read the evidence', () => {
  it('needs AuditLog.Read.All and Directory.Read.All for signIns, either for the credential report', async () => {
    // The seeded operator holds Application.Read.All and Directory.Read.All, not AuditLog.Read.All.
    const operator = graphClient(sandbox, sandbox.operatorCredential());
    const denied = await graphErrorOf(operator.api('/auditLogs/signIns').version('beta').filter(SP_FILTER).get());
    expect([denied.statusCode, denied.code]).toEqual([403, 'Authentication_MSGraphPermissionMissing']);
    expect(denied.message).toContain('AuditLog.Read.All and Directory.Read.All');
    expect(((await operator.api('/reports/appCredentialSignInActivities').version('beta').get()) as { value: Json[] }).value.length).toBeGreaterThan(0);

    // An app holding AuditLog.Read.All alone.
    const auditor = await sandbox.control<{ id: string; appId: string }>('/applications', {
      body: {
        uniqueName: 'auditor',
        owners: ['product'],
        requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: GRAPH_APP_ROLES['AuditLog.Read.All'], type: 'Role' }] }],
      },
    });
    await sandbox.control('/consent', { body: { appId: auditor.body.appId } });
    const secret = (await client.api(`/applications/${auditor.body.id}/addPassword`).post({})) as typeof key;
    const auditorClient = graphClient(sandbox, secretCredential(auditor.body.appId, secret.secretText));
    expect((await graphErrorOf(auditorClient.api('/auditLogs/signIns').version('beta').filter(SP_FILTER).get())).code).toBe('Authentication_MSGraphPermissionMissing');
    expect(((await auditorClient.api('/reports/appCredentialSignInActivities').version('beta').get()) as { value: Json[] }).value.length).toBeGreaterThan(0);
  });

  it('answers a tenant without Entra ID P1/P2 with Authentication_RequestFromNonPremiumTenantOrB2CTenant', async () => {
    const home = sandbox.endpoints.tenantId;
    expect((await sandbox.control(`/tenants/${home}/license`, { body: { premium: false } })).body).toEqual({ tenantId: home, premium: false });
    try {
      const denied = await graphErrorOf(signIns(SP_FILTER));
      expect([denied.statusCode, denied.code, denied.message]).toEqual([403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant', "Neither tenant is B2C or tenant doesn't have premium license"]);
      expect((await graphErrorOf(client.api('/reports/appCredentialSignInActivities').version('beta').get())).code).toBe('Authentication_RequestFromNonPremiumTenantOrB2CTenant');
    } finally {
      await sandbox.control(`/tenants/${home}/license`, { body: { premium: true } });
    }
    expect((await signIns(SP_FILTER)).value.length).toBeGreaterThan(0);
  });
});

describe('throttling of the reports', () => {
  it('answers the sixth request within 10 s with 429 and Retry-After, and serves again once the window passes', async () => {
    await sandbox.control('/settings', { body: { throttling: true } });
    try {
      const read = (): Promise<unknown> => client.api('/auditLogs/signIns').version('beta').filter(SP_FILTER).top(1).middlewareOptions(noRetries()).get();
      for (let i = 0; i < 5; i += 1) await read();
      const throttled = await graphErrorOf(read());
      expect([throttled.statusCode, throttled.code]).toEqual([429, 'TooManyRequests']);
      expect(Number(throttled.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(throttled.headers?.get('retry-after'))).toBeLessThanOrEqual(10);
      expect(throttled.headers?.get('x-ms-throttle-scope')).toBe(`Tenant_Application/ReadWrite/${sandbox.endpoints.managedIdentity.clientId}/${sandbox.endpoints.tenantId}`);
      // Identity calls draw on another budget.
      await client.api(`/applications/${sender.id}`).get();
      await sandbox.control('/clock', { body: { advance: 'PT10S' } });
      await expect(read()).resolves.toBeDefined();
    } finally {
      await sandbox.control('/settings', { body: { throttling: false } });
    }
  });
});
