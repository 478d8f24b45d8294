/**
 * Tenants as first-class: the home tenant stays exactly the single tenant it was; `POST /tenants`
 * adds customer tenants with their own authority path, directory, mailboxes and one F&O environment
 * on a spare listener (listed in endpoints.json and in the sandboxed app's F&O allowlist); consent
 * is per tenant; a single-tenant app is unknown outside its home; `GET /state` shows every tenant
 * without a secret.
 */
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { sandboxAppSettings } from '../../runtime/sandboxedApp';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID } from '../../sandbox/state';
import { claimsOf, GRAPH_SCOPE, graphClient, useManagedIdentityEnv, type Json } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;
let restoreEnv: () => void;
let mi: ManagedIdentityCredential;

interface NewTenant {
  tenantId: string;
  environments: Array<{ id: string; url: string }>;
  senderMailbox: string;
}

beforeAll(async () => {
  sandbox = await startTestSandbox({ finopsSparePorts: 2 });
  restoreEnv = useManagedIdentityEnv(sandbox);
  mi = new ManagedIdentityCredential();
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

function credentialIn(tenantId: string, clientId: string, secret: string): ClientSecretCredential {
  return new ClientSecretCredential(tenantId, clientId, secret, { authorityHost: sandbox.endpoints.authorityHost, disableInstanceDiscovery: true });
}

describe('the home tenant', () => {
  it('is the only tenant by default, holding the identity, the seeded environments and the operator', () => {
    expect(sandbox.state.tenants).toHaveLength(1);
    const home = sandbox.state.home;
    expect(home.tenantId).toBe(sandbox.endpoints.tenantId);
    expect(home.verifiedDomain).toBe('contoso.onmicrosoft.com');
    expect(home.findServicePrincipalById(sandbox.endpoints.managedIdentity.servicePrincipalId)?.servicePrincipalType).toBe('ManagedIdentity');
    expect(sandbox.state.finops.map((e) => sandbox.state.tenantOfEnvironment(e).tenantId)).toEqual([home.tenantId, home.tenantId]);
    expect(sandbox.endpoints.finopsSparePorts).toHaveLength(2);
  });

  it('puts the spare F&O listeners in the sandboxed app allowlist', () => {
    const hosts = sandboxAppSettings(sandbox.endpoints).FINOPS_ALLOWED_HOSTS?.split(',') ?? [];
    for (const port of sandbox.endpoints.finopsSparePorts) expect(hosts).toContain(`localhost:${port}`);
    for (const env of sandbox.endpoints.environments) expect(hosts).toContain(new URL(env.url).host);
  });
});

describe('POST /tenants', () => {
  let fabrikam: NewTenant;

  beforeAll(async () => {
    const reply = await sandbox.control<NewTenant>('/tenants', { body: { name: 'fabrikam' } });
    expect(reply.status).toBe(201);
    fabrikam = reply.body;
  });

  it('answers with the tenant, its one F&O environment on a spare port, and its sender mailbox', () => {
    expect(fabrikam.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fabrikam.tenantId).not.toBe(sandbox.endpoints.tenantId);
    expect(fabrikam.senderMailbox).toBe('fno-mail@fabrikam.onmicrosoft.com');
    expect(fabrikam.environments).toEqual([{ id: 'fabrikam-prod', url: `https://localhost:${sandbox.endpoints.finopsSparePorts[0] ?? 0}` }]);
  });

  it('serves the tenant on its own authority path: discovery and keys', async () => {
    const doc = (await (await fetch(`${sandbox.endpoints.authorityHost}/${fabrikam.tenantId}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(doc['issuer']).toBe(`${sandbox.endpoints.authorityHost}/${fabrikam.tenantId}/v2.0`);
    expect(doc['token_endpoint']).toBe(`${sandbox.endpoints.authorityHost}/${fabrikam.tenantId}/oauth2/v2.0/token`);
    const byDomain = await fetch(`${sandbox.endpoints.authorityHost}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration`);
    expect(byDomain.status).toBe(200);
    expect((await fetch(doc['jwks_uri'] ?? '')).status).toBe(200);
  });

  it('keeps a single-tenant app to its home (AADSTS700016 elsewhere) and consents a multi-tenant one per tenant', async () => {
    const client = graphClient(sandbox, mi);
    const requiredResourceAccess = [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: MAIL_SEND_ROLE_ID, type: 'Role' }] }];
    const single = (await client.api('/applications').post({ displayName: 'single', signInAudience: 'AzureADMyOrg', requiredResourceAccess })) as Json;
    const multi = (await client.api('/applications').post({ displayName: 'multi', signInAudience: 'AzureADMultipleOrgs', requiredResourceAccess })) as Json;
    const secretOf = async (app: Json): Promise<string> =>
      ((await client.api(`/applications/${app.id as string}/addPassword`).post({ passwordCredential: { displayName: 't' } })) as { secretText: string }).secretText;
    const singleSecret = await secretOf(single);
    const multiSecret = await secretOf(multi);

    expect((await sandbox.control('/consent', { body: { appId: single.appId, tenantId: fabrikam.tenantId } })).status).toBe(404);
    await expect(credentialIn(fabrikam.tenantId, single.appId as string, singleSecret).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /AADSTS700016: Application with identifier '.*' was not found in the directory 'fabrikam.onmicrosoft.com'/,
    );
    await expect(credentialIn(fabrikam.tenantId, multi.appId as string, multiSecret).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000229/);

    const consent = await sandbox.control<{ tenantId: string; servicePrincipalId: string }>('/consent', { body: { appId: multi.appId, tenantId: fabrikam.tenantId } });
    expect(consent.status).toBe(200);
    expect(consent.body.tenantId).toBe(fabrikam.tenantId);
    // Consent in one tenant grants nothing in another.
    expect(sandbox.state.findServicePrincipalByAppId(multi.appId as string)).toBeUndefined();
    const token = await credentialIn(fabrikam.tenantId, multi.appId as string, multiSecret).getToken(GRAPH_SCOPE);
    expect(claimsOf(token.token)).toMatchObject({ tid: fabrikam.tenantId, oid: consent.body.servicePrincipalId, roles: ['Mail.Send'] });

    // The customer's mailbox, through the customer's Graph.
    await graphClient(sandbox, credentialIn(fabrikam.tenantId, multi.appId as string, multiSecret))
      .api(`/users/${fabrikam.senderMailbox}/sendMail`)
      .post({ message: { subject: 'from fabrikam', toRecipients: [{ emailAddress: { address: 'ops@fabrikam.com' } }] } });
    expect(sandbox.state.sentMail).toContainEqual(expect.objectContaining({ from: fabrikam.senderMailbox, subject: 'from fabrikam', tenantId: fabrikam.tenantId }));
    // The home tenant's mailbox is not in the customer's directory.
    await expect(
      graphClient(sandbox, credentialIn(fabrikam.tenantId, multi.appId as string, multiSecret))
        .api(`/users/${sandbox.endpoints.senderMailbox}/sendMail`)
        .post({ message: { subject: 'x', toRecipients: [{ emailAddress: { address: 'ops@fabrikam.com' } }] } }),
    ).rejects.toMatchObject({ statusCode: 404, code: 'ErrorInvalidUser' });

    const revoked = await sandbox.control<{ removedAppRoleAssignments: number }>('/revoke-consent', { body: { appId: multi.appId, tenantId: fabrikam.tenantId } });
    expect(revoked.body.removedAppRoleAssignments).toBe(1);
  });

  it("consents a multi-tenant app on the customer tenant's own admin-consent page, and refuses a single-tenant one there", async () => {
    const client = graphClient(sandbox, mi);
    const requiredResourceAccess = [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: MAIL_SEND_ROLE_ID, type: 'Role' }] }];
    const multi = (await client.api('/applications').post({ displayName: 'partner app', signInAudience: 'AzureADMultipleOrgs', requiredResourceAccess })) as Json;
    const single = (await client.api('/applications').post({ displayName: 'home only', requiredResourceAccess })) as Json;
    const page = (appId: unknown): string =>
      `${sandbox.endpoints.authorityHost}/fabrikam.onmicrosoft.com/v2.0/adminconsent?client_id=${String(appId)}&scope=${encodeURIComponent(GRAPH_SCOPE)}&redirect_uri=${encodeURIComponent('https://localhost/done')}`;

    const shown = await fetch(page(multi.appId));
    expect(await shown.text()).toContain('asks an administrator of fabrikam.onmicrosoft.com');
    const accepted = await fetch(page(multi.appId), { method: 'POST', redirect: 'manual' });
    expect(accepted.status).toBe(302);
    expect(new URL(accepted.headers.get('location') ?? '').searchParams.get('tenant')).toBe(fabrikam.tenantId);
    const customer = sandbox.state.tenant(fabrikam.tenantId);
    const sp = customer?.findServicePrincipalByAppId(multi.appId as string);
    expect(customer?.graphRolesOf(sp?.id ?? '')).toEqual(['Mail.Send']);
    expect(sandbox.state.findServicePrincipalByAppId(multi.appId as string)).toBeUndefined();

    const refused = await fetch(page(single.appId));
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('AADSTS700016');
  });

  it('takes the next spare listener, then answers 409 with a clear message when none is left', async () => {
    const second = await sandbox.control<NewTenant>('/tenants', { body: {} });
    expect(second.status).toBe(201);
    expect(second.body.environments[0]?.url).toBe(`https://localhost:${sandbox.endpoints.finopsSparePorts[1] ?? 0}`);
    const none = await sandbox.control<{ error: { code: string; message: string } }>('/tenants', { body: { name: 'woodgrove' } });
    expect(none.status).toBe(409);
    expect(none.body.error.message).toMatch(/No spare F&O listener is left.*all 2 opened at start are in use/);
    expect(sandbox.state.tenant('woodgrove.onmicrosoft.com')).toBeUndefined();
    const duplicate = await sandbox.control('/tenants', { body: { name: 'Fabrikam' } });
    expect(duplicate.status).toBe(409);
    expect((await sandbox.control('/tenants', { body: { name: 'no spaces' } })).status).toBe(400);
  });

  it('lists the tenants in GET /state without a single minted secret', async () => {
    const text = await (await fetch(`${sandbox.endpoints.controlUrl}/state`)).text();
    const minted = (await sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted.length).toBeGreaterThan(2);
    for (const secret of minted) expect(text).not.toContain(secret);
    const view = JSON.parse(text) as { tenants: Array<{ tenantId: string; name: string; home: boolean; environments: Array<{ id: string }> }> };
    expect(view.tenants.map((t) => [t.name, t.home])).toEqual([
      ['contoso', true],
      ['fabrikam', false],
      ['customer2', false],
    ]);
    expect(view.tenants.find((t) => t.name === 'fabrikam')?.environments.map((e) => e.id)).toEqual(['fabrikam-prod']);
    // The sign-in log has its own route, like the call log.
    const log = await sandbox.control<{ tenantId: string; signIns: Array<{ appId: string; errorCode: number }> }>(`/sign-ins?tenantId=${fabrikam.tenantId}`);
    expect(log.body.tenantId).toBe(fabrikam.tenantId);
    expect(log.body.signIns.some((s) => s.errorCode === 7000229)).toBe(true);
    const logText = JSON.stringify(log.body);
    for (const secret of minted) expect(logText).not.toContain(secret);
    expect((await sandbox.control('/sign-ins?tenantId=nowhere')).status).toBe(404);
  });
});

describe('a customer environment in a sandbox whose F&O batches run (npm start, npm run sandbox)', () => {
  it('runs its Email distributor batch from its creation too', async () => {
    const running = await startTestSandbox({ finopsSparePorts: 1, finopsBatch: { running: true, intervalMinutes: 1 } });
    try {
      const reply = await running.control<NewTenant>('/tenants', { body: { name: 'tailspin' } });
      const env = running.state.finops.find((e) => e.id === reply.body.environments[0]?.id);
      expect(env?.batch).toMatchObject({ running: true, intervalMinutes: 1, user: 'fno-mail@tailspin.onmicrosoft.com' });
      // A quiet sandbox (the tests' default) leaves it stopped.
      expect(sandbox.state.finops.find((e) => e.id === 'fabrikam-prod')?.batch.running).toBe(false);
    } finally {
      await running.stop();
    }
  });
});
