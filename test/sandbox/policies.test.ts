/**
 * App management policies through the official Graph client: reading needs Policy.Read.All; the
 * tenant default and app-specific policies enforced at addPassword with Graph's codes and messages,
 * restriction by restriction (an app policy overrides what it defines, falls back for the rest, and
 * exempts with `state: disabled`), `restrictForAppsCreatedAfterDateTime`, and the control route that
 * sets a tenant's default, for a customer tenant too.
 */
import { ManagedIdentityCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { TENANT_APP_MANAGEMENT_POLICY_ID } from '../../sandbox/tenants';
import { graphClient, graphErrorOf, useManagedIdentityEnv, type Json } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const DAY_MS = 86_400_000;

let sandbox: TestSandbox;
let restoreEnv: () => void;
let client: Client;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  restoreEnv = useManagedIdentityEnv(sandbox);
  // Before the identity's first Graph token, which carries its roles.
  const roles = ['Application.ReadWrite.OwnedBy', 'Application.Read.All', 'Policy.Read.All', 'Policy.ReadWrite.ApplicationConfiguration'];
  expect((await sandbox.control('/permissions', { body: { managedIdentityRoles: roles } })).status).toBe(200);
  client = graphClient(sandbox, new ManagedIdentityCredential());
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

afterEach(async () => {
  // Each test starts from a tenant without restrictions.
  await client.api('/policies/defaultAppManagementPolicy').patch({
    isEnabled: false,
    applicationRestrictions: { passwordCredentials: [] },
    servicePrincipalRestrictions: { passwordCredentials: [] },
  });
});

async function newApp(name: string): Promise<string> {
  const app = (await client.api('/applications').post({ displayName: name })) as Json;
  return app.id as string;
}

function addPassword(appObjectId: string, days?: number): Promise<Json> {
  const endDateTime = days === undefined ? undefined : new Date(sandbox.state.now() + days * DAY_MS).toISOString();
  return client.api(`/applications/${appObjectId}/addPassword`).post({ passwordCredential: { displayName: 'policy test', ...(endDateTime ? { endDateTime } : {}) } }) as Promise<Json>;
}

function restriction(type: string, extra: Json = {}): Json {
  return { restrictionType: type, state: 'enabled', maxLifetime: null, restrictForAppsCreatedAfterDateTime: null, ...extra };
}

describe('reading policies', () => {
  it('shows the untouched tenant default and refuses a caller without Policy.Read.All', async () => {
    const policy = (await client.api('/policies/defaultAppManagementPolicy').get()) as Json;
    expect(policy).toMatchObject({
      id: TENANT_APP_MANAGEMENT_POLICY_ID,
      displayName: 'Default app management tenant policy',
      isEnabled: false,
      applicationRestrictions: { passwordCredentials: [], keyCredentials: [] },
      servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
    });
    // The seeded operator reads applications but holds no policy permission.
    const reader = graphClient(sandbox, sandbox.operatorCredential());
    const denied = await graphErrorOf(reader.api('/policies/defaultAppManagementPolicy').get());
    expect([denied.statusCode, denied.code]).toEqual([403, 'Authorization_RequestDenied']);
    expect((await graphErrorOf(reader.api('/policies/appManagementPolicies').get())).statusCode).toBe(403);
  });
});

describe('the tenant default at addPassword', () => {
  it('caps the lifetime with CredentialInvalidLifetimeAsPerAppPolicy and InvalidKeyEndDate', async () => {
    const app = await newApp('lifetime');
    await client.api('/policies/defaultAppManagementPolicy').patch({
      isEnabled: true,
      applicationRestrictions: { passwordCredentials: [restriction('passwordLifetime', { maxLifetime: 'P30D' })] },
    });
    const refused = await graphErrorOf(addPassword(app));
    const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${TENANT_APP_MANAGEMENT_POLICY_ID}'.`;
    expect([refused.statusCode, refused.code, refused.message]).toEqual([400, 'CredentialInvalidLifetimeAsPerAppPolicy', message]);
    // GraphError keeps Graph's error object, details included, as its body.
    const body = JSON.parse(String(refused.body)) as { details?: Json[] };
    expect(body.details).toEqual([{ code: 'InvalidKeyEndDate', message, target: 'EndDate' }]);
    expect((await addPassword(app, 29)).keyId).toEqual(expect.any(String));
  });

  it('blocks password addition with CredentialTypeNotAllowedAsPerAppPolicy, set through the control route', async () => {
    const app = await newApp('blocked');
    const home = sandbox.endpoints.tenantId;
    const set = await sandbox.control<{ defaultAppManagementPolicy: Json }>(`/tenants/${home}/app-management-policy`, { body: { passwordAddition: true } });
    expect(set.status).toBe(200);
    expect(set.body.defaultAppManagementPolicy).toMatchObject({ isEnabled: true });
    const seen = (await client.api('/policies/defaultAppManagementPolicy').get()) as { applicationRestrictions: { passwordCredentials: Json[] } };
    expect(seen.applicationRestrictions.passwordCredentials).toEqual([expect.objectContaining({ restrictionType: 'passwordAddition', state: 'enabled' })]);

    const refused = await graphErrorOf(addPassword(app, 10));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([
      400,
      'CredentialTypeNotAllowedAsPerAppPolicy',
      `Credential type not allowed as per assigned policy '${TENANT_APP_MANAGEMENT_POLICY_ID}'.`,
    ]);
    await sandbox.control(`/tenants/${home}/app-management-policy`, { body: { passwordAddition: false } });
    expect((await addPassword(app, 10)).keyId).toEqual(expect.any(String));
  });

  it('spares apps created before restrictForAppsCreatedAfterDateTime and ignores a disabled restriction', async () => {
    const older = await newApp('older');
    const cutoff = new Date(sandbox.state.now() + DAY_MS).toISOString();
    await sandbox.control(`/tenants/${sandbox.endpoints.tenantId}/app-management-policy`, { body: { passwordAddition: { restrictForAppsCreatedAfterDateTime: cutoff } } });
    await sandbox.control('/clock', { body: { advance: 'P2D' } });
    const newer = await newApp('newer');
    expect((await addPassword(older, 10)).keyId).toEqual(expect.any(String));
    expect((await graphErrorOf(addPassword(newer, 10))).code).toBe('CredentialTypeNotAllowedAsPerAppPolicy');

    await client.api('/policies/defaultAppManagementPolicy').patch({
      isEnabled: true,
      applicationRestrictions: { passwordCredentials: [restriction('passwordAddition', { state: 'disabled' })] },
    });
    expect((await addPassword(newer, 10)).keyId).toEqual(expect.any(String));
  });
});

describe('app-specific policies', () => {
  async function createPolicy(passwordCredentials: Json[]): Promise<string> {
    const created = (await client
      .api('/policies/appManagementPolicies')
      .post({ displayName: 'F&O mail apps', description: 'Exemptions for the F&O mail apps', isEnabled: true, restrictions: { passwordCredentials } })) as Json;
    return created.id as string;
  }

  async function assign(appObjectId: string, policyId: string): Promise<void> {
    await client.api(`/applications/${appObjectId}/appManagementPolicies/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/policies/appManagementPolicies/${policyId}` });
  }

  it('exempts with state disabled, overrides what it defines, and falls back to the default for the rest', async () => {
    await sandbox.control(`/tenants/${sandbox.endpoints.tenantId}/app-management-policy`, { body: { passwordAddition: true, passwordLifetimeMaxDays: 30 } });
    const app = await newApp('exempt');
    const policyId = await createPolicy([restriction('passwordAddition', { state: 'disabled' }), restriction('passwordLifetime', { maxLifetime: 'P60D' })]);
    await assign(app, policyId);
    const assigned = (await client.api(`/applications/${app}/appManagementPolicies`).get()) as { value: Json[] };
    expect(assigned.value.map((p) => p.id)).toEqual([policyId]);

    // passwordAddition: exempt; passwordLifetime: the app policy's 60 days, not the tenant's 30.
    expect((await addPassword(app, 45)).keyId).toEqual(expect.any(String));
    const tooLong = await graphErrorOf(addPassword(app, 90));
    expect([tooLong.code, tooLong.message]).toEqual(['CredentialInvalidLifetimeAsPerAppPolicy', `Credential lifetime exceeds the max value allowed as per assigned policy '${policyId}'.`]);

    // A policy that only exempts the addition leaves the lifetime to the tenant default.
    const other = await newApp('exempt-addition-only');
    await assign(other, await createPolicy([restriction('passwordAddition', { state: 'disabled' })]));
    const capped = await graphErrorOf(addPassword(other, 45));
    expect(capped.message).toBe(`Credential lifetime exceeds the max value allowed as per assigned policy '${TENANT_APP_MANAGEMENT_POLICY_ID}'.`);
    expect((await addPassword(other, 20)).keyId).toEqual(expect.any(String));
  });

  it('does not exempt with an empty restriction list (the tenant default still applies)', async () => {
    await sandbox.control(`/tenants/${sandbox.endpoints.tenantId}/app-management-policy`, { body: { passwordAddition: true } });
    const app = await newApp('empty-policy');
    await assign(app, await createPolicy([]));
    expect((await graphErrorOf(addPassword(app, 10))).code).toBe('CredentialTypeNotAllowedAsPerAppPolicy');
  });

  it('allows one policy per application and refuses a caller without Policy.ReadWrite.ApplicationConfiguration', async () => {
    const app = await newApp('one-policy');
    const first = await createPolicy([restriction('passwordAddition', { state: 'disabled' })]);
    const second = await createPolicy([restriction('passwordAddition', { state: 'disabled' })]);
    await assign(app, first);
    expect((await graphErrorOf(assign(app, second))).statusCode).toBe(400);
    const reader = graphClient(sandbox, sandbox.operatorCredential());
    const denied = await graphErrorOf(
      reader.api(`/applications/${app}/appManagementPolicies/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/policies/appManagementPolicies/${second}` }),
    );
    expect(denied.statusCode).toBe(403);
    const listed = (await client.api('/policies/appManagementPolicies').get()) as { value: Json[] };
    expect(listed.value.map((p) => p.id)).toEqual(expect.arrayContaining([first, second]));
  });
});

describe('per tenant', () => {
  it("sets a customer tenant's default without touching the home tenant's", async () => {
    const customer = await sandbox.control<{ tenantId: string }>('/tenants', { body: { name: 'fabrikam' } });
    const set = await sandbox.control<{ defaultAppManagementPolicy: { servicePrincipalRestrictions: { passwordCredentials: Json[] } } }>(
      `/tenants/${customer.body.tenantId}/app-management-policy`,
      { body: { passwordLifetimeMaxDays: 90 } },
    );
    expect(set.body.defaultAppManagementPolicy.servicePrincipalRestrictions.passwordCredentials).toEqual([
      expect.objectContaining({ restrictionType: 'passwordLifetime', maxLifetime: 'P90D' }),
    ]);
    expect(sandbox.state.tenant(customer.body.tenantId)?.defaultAppManagementPolicy.isEnabled).toBe(true);
    expect(((await client.api('/policies/defaultAppManagementPolicy').get()) as Json).isEnabled).toBe(false);
    expect((await sandbox.control('/tenants/00000000-1111-2222-3333-444444444444/app-management-policy', { body: { passwordAddition: true } })).status).toBe(404);
    expect((await sandbox.control(`/tenants/${customer.body.tenantId}/app-management-policy`, { body: { passwordLifetimeMaxDays: 0 } })).status).toBe(400);
  });

  it('keeps the /settings passwordLifetimeMaxDays switch as the home default', async () => {
    await sandbox.control('/settings', { body: { passwordLifetimeMaxDays: 15 } });
    const seen = (await client.api('/policies/defaultAppManagementPolicy').get()) as { isEnabled: boolean; applicationRestrictions: { passwordCredentials: Json[] } };
    expect(seen.isEnabled).toBe(true);
    expect(seen.applicationRestrictions.passwordCredentials).toEqual([expect.objectContaining({ restrictionType: 'passwordLifetime', maxLifetime: 'P15D' })]);
    const reply = await sandbox.control<Json>('/settings', { body: { passwordLifetimeMaxDays: null } });
    expect(reply.body).not.toHaveProperty('passwordLifetimeMaxDays');
  });
});
