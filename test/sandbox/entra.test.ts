/**
 * The emulated Entra ID through the unmodified @azure/identity credentials over HTTPS: client secret
 * tokens and their claims, the secret checks (wrong, removed, expired, not yet propagated), managed
 * identity, DefaultAzureCredential from environment variables, and the admin consent page.
 */
import { createPublicKey, createVerify, type JsonWebKey } from 'node:crypto';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from '../../sandbox/state';
import type { TokenClaims } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
const VAULT_SCOPE = 'https://vault.azure.net/.default';

function claimsOf(token: string): TokenClaims {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
}

/** Registers an app with a service principal and one client secret, as Graph's addPassword leaves it. */
function registerApp(
  sandbox: TestSandbox,
  init: { usableInMs?: number; lifetimeMs?: number; requiresMailSend?: boolean } = {},
): { appId: string; secret: string; keyId: string } {
  const { state } = sandbox;
  const now = state.now();
  const { secretText, hint } = state.mintSecret();
  const appId = state.newId();
  const keyId = state.newId();
  state.applications.push({
    id: state.newId(),
    appId,
    uniqueName: `test-${appId}`,
    displayName: `Test app ${appId.slice(0, 8)}`,
    signInAudience: 'AzureADMyOrg',
    description: null,
    notes: null,
    tags: [],
    requiredResourceAccess: init.requiresMailSend
      ? [
          {
            resourceAppId: GRAPH_APP_ID,
            resourceAccess: [
              { id: MAIL_SEND_ROLE_ID, type: 'Role' },
              { id: USER_READ_SCOPE_ID, type: 'Scope' },
            ],
          },
        ]
      : [],
    passwordCredentials: [
      {
        keyId,
        displayName: 'test',
        hint,
        customKeyIdentifier: null,
        startDateTime: new Date(now).toISOString(),
        endDateTime: new Date(now + (init.lifetimeMs ?? 30 * 24 * 3600 * 1000)).toISOString(),
        secretText,
        usableFrom: now + (init.usableInMs ?? 0),
      },
    ],
    owners: [],
    createdDateTime: new Date(now).toISOString(),
    visibleFrom: 0,
  });
  state.servicePrincipals.push({
    id: state.newId(),
    appId,
    displayName: 'Test app',
    servicePrincipalType: 'Application',
    appRoles: [],
    oauth2PermissionScopes: [],
    createdDateTime: new Date(now).toISOString(),
    visibleFrom: 0,
  });
  return { appId, secret: secretText, keyId };
}

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox();
});

afterAll(async () => {
  await sandbox.stop();
});

describe('client secret tokens', () => {
  it('issues a Graph token to the operator carrying its Graph application permissions', async () => {
    const token = await sandbox.operatorCredential().getToken(GRAPH_SCOPE);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000 * 1000);
    const claims = claimsOf(token.token);
    expect(claims.aud).toBe('https://graph.microsoft.com');
    expect(claims.tid).toBe(sandbox.endpoints.tenantId);
    expect(claims.appid).toBe(sandbox.endpoints.operator.clientId);
    expect(claims.iss).toBe(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0`);
    expect([...(claims.roles ?? [])].sort()).toEqual(['Application.Read.All', 'Directory.Read.All']);
  });

  it('gives tokens for Key Vault and F&O the resource as audience and no Graph roles', async () => {
    const credential = sandbox.operatorCredential();
    const vault = claimsOf((await credential.getToken(VAULT_SCOPE)).token);
    expect(vault.aud).toBe('https://vault.azure.net');
    expect(vault.roles).toBeUndefined();
    const env = sandbox.endpoints.environments[0];
    if (!env) throw new Error('no F&O environment seeded');
    const finops = claimsOf((await credential.getToken(`${env.url}/.default`)).token);
    expect(finops.aud).toBe(env.url);
    expect(finops.roles).toBeUndefined();
  });

  it('refuses a resource the tenant does not know with AADSTS500011', async () => {
    await expect(sandbox.operatorCredential().getToken('https://unknown.example.com/.default')).rejects.toThrow(/AADSTS500011/);
  });

  it('rejects a wrong client secret with invalid_client AADSTS7000215, never echoing the secret', async () => {
    const wrong = 'not-the-secret-value-0123456789abcdefghij';
    const error = await sandbox
      .clientSecretCredential(sandbox.endpoints.operator.clientId, wrong)
      .getToken(GRAPH_SCOPE)
      .then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/invalid_client/);
    expect(error?.message).toMatch(/AADSTS7000215/);
    expect(error?.message).not.toContain(wrong);
  });

  it('rejects a secret once it has been removed from the app', async () => {
    const app = registerApp(sandbox);
    await expect(sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE)).resolves.toBeDefined();
    const record = sandbox.state.findApplicationByAppId(app.appId);
    if (!record) throw new Error('app vanished');
    record.passwordCredentials = record.passwordCredentials.filter((c) => c.keyId !== app.keyId);
    await expect(sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE)).rejects.toThrow(
      /invalid_client[\s\S]*AADSTS7000215|AADSTS7000215[\s\S]*invalid_client/,
    );
  });

  it('rejects an expired secret (virtual clock) with invalid_client AADSTS7000222', async () => {
    const app = registerApp(sandbox, { lifetimeMs: 24 * 3600 * 1000 });
    await expect(sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE)).resolves.toBeDefined();
    const advanced = await sandbox.control<{ now: string }>('/clock', { body: { advance: 'P2D' } });
    expect(advanced.status).toBe(200);
    const error = await sandbox
      .clientSecretCredential(app.appId, app.secret)
      .getToken(GRAPH_SCOPE)
      .then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/invalid_client/);
    expect(error?.message).toMatch(/AADSTS7000222/);
  });

  it('refuses a new secret until it has propagated, then accepts it', async () => {
    const app = registerApp(sandbox, { usableInMs: 10_000 });
    await expect(sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS7000215/);
    await sandbox.control('/clock', { body: { advance: 'PT11S' } });
    const token = await sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE);
    expect(claimsOf(token.token).appid).toBe(app.appId);
  });

  it('answers an unknown client id with unauthorized_client AADSTS700016', async () => {
    await expect(
      sandbox.clientSecretCredential('11111111-2222-3333-4444-555555555555', 'whatever-secret').getToken(GRAPH_SCOPE),
    ).rejects.toThrow(/AADSTS700016/);
  });

  it('answers another tenant with AADSTS90002, on discovery and on the token endpoint', async () => {
    const other = '99999999-8888-7777-6666-555555555555';
    const discovery = await fetch(`${sandbox.endpoints.authorityHost}/${other}/v2.0/.well-known/openid-configuration`);
    expect(discovery.status).toBe(400);
    const token = await fetch(`${sandbox.endpoints.authorityHost}/${other}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sandbox.endpoints.operator.clientId,
        client_secret: sandbox.endpoints.operator.clientSecret,
        scope: GRAPH_SCOPE,
      }),
    });
    expect(token.status).toBe(400);
    const body = (await token.json()) as { error: string; error_codes: number[]; error_description: string };
    expect(body.error_codes).toEqual([90002]);
    expect(body.error_description).toMatch(/^AADSTS90002: Tenant '9999/);
    expect(JSON.stringify(body)).not.toContain(sandbox.endpoints.operator.clientSecret);
  });

  it('publishes OIDC metadata whose issuer and endpoints sit on the authority host', async () => {
    const response = await fetch(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0/.well-known/openid-configuration`);
    const doc = (await response.json()) as Record<string, string>;
    expect(doc['issuer']).toBe(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0`);
    expect(doc['token_endpoint']).toBe(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/oauth2/v2.0/token`);
    const keys = (await (await fetch(doc['jwks_uri'] ?? '')).json()) as { keys: Array<JsonWebKey & { kid: string }> };
    expect(keys.keys).toHaveLength(1);
    // A token the authority issued verifies against the published key.
    const token = (await sandbox.operatorCredential().getToken(VAULT_SCOPE)).token;
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const key = createPublicKey({ key: keys.keys[0] as JsonWebKey, format: 'jwk' });
    expect(createVerify('RSA-SHA256').update(`${header}.${payload}`).verify(key, Buffer.from(signature, 'base64url'))).toBe(true);
  });
});

describe('managed identity', () => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('gives ManagedIdentityCredential a Graph token with the identity\'s permissions', async () => {
    const token = await new ManagedIdentityCredential().getToken(GRAPH_SCOPE);
    const claims = claimsOf(token.token);
    expect(claims.aud).toBe('https://graph.microsoft.com');
    expect(claims.appid).toBe(sandbox.endpoints.managedIdentity.clientId);
    expect(claims.oid).toBe(sandbox.endpoints.managedIdentity.servicePrincipalId);
    expect([...(claims.roles ?? [])].sort()).toEqual([
      'AppRoleAssignment.ReadWrite.All',
      'Application.ReadWrite.OwnedBy',
      'DelegatedPermissionGrant.ReadWrite.All',
    ]);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000 * 1000);
  });

  it('refuses a caller without the identity header', async () => {
    const url = new URL(sandbox.endpoints.managedIdentity.identityEndpoint);
    url.searchParams.set('api-version', '2019-08-01');
    url.searchParams.set('resource', 'https://vault.azure.net');
    const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': 'guessed' } });
    expect(response.status).toBe(401);
    const ok = await fetch(url, { headers: { 'X-IDENTITY-HEADER': sandbox.endpoints.managedIdentity.identityHeader } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { resource: string; token_type: string; client_id: string; expires_on: string };
    expect(body).toMatchObject({ resource: 'https://vault.azure.net', token_type: 'Bearer', client_id: sandbox.endpoints.managedIdentity.clientId });
    expect(Number(body.expires_on)).toBeGreaterThan(Date.now() / 1000);
  });
});

describe('DefaultAzureCredential', () => {
  it('authenticates from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_AUTHORITY_HOST', async () => {
    const env = {
      AZURE_TENANT_ID: sandbox.endpoints.tenantId,
      AZURE_CLIENT_ID: sandbox.endpoints.operator.clientId,
      AZURE_CLIENT_SECRET: sandbox.endpoints.operator.clientSecret,
      AZURE_AUTHORITY_HOST: sandbox.endpoints.authorityHost,
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const token = await new DefaultAzureCredential({ disableInstanceDiscovery: true }).getToken(GRAPH_SCOPE);
      expect(claimsOf(token.token).appid).toBe(sandbox.endpoints.operator.clientId);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('admin consent page', () => {
  it('shows what the app asks for and, on Accept, grants exactly that and redirects', async () => {
    const app = registerApp(sandbox, { requiresMailSend: true });
    const page = `${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0/adminconsent?client_id=${app.appId}&scope=${encodeURIComponent(GRAPH_SCOPE)}&redirect_uri=${encodeURIComponent('https://localhost/done')}&state=xyz`;
    const shown = await fetch(page);
    expect(shown.status).toBe(200);
    expect(shown.headers.get('content-type')).toMatch(/text\/html/);
    const html = await shown.text();
    expect(html).toContain('Mail.Send');
    expect(html).toContain('User.Read');
    expect(html).toMatch(/<form method="post"/);

    // Before consent the app's Graph token has no roles.
    expect(claimsOf((await sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE)).token).roles).toBeUndefined();

    const accepted = await fetch(page, { method: 'POST', body: 'consent=accept', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(accepted.status).toBe(302);
    const location = new URL(accepted.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe('https://localhost/done');
    expect(location.searchParams.get('admin_consent')).toBe('True');
    expect(location.searchParams.get('tenant')).toBe(sandbox.endpoints.tenantId);
    expect(location.searchParams.get('state')).toBe('xyz');

    const sp = sandbox.state.findServicePrincipalByAppId(app.appId);
    expect(sp).toBeDefined();
    const assignments = sandbox.state.appRoleAssignments.filter((a) => a.principalId === sp?.id);
    expect(assignments.map((a) => a.appRoleId)).toEqual([MAIL_SEND_ROLE_ID]);
    const grants = sandbox.state.oauth2PermissionGrants.filter((g) => g.clientId === sp?.id);
    expect(grants).toEqual([expect.objectContaining({ consentType: 'AllPrincipals', scope: 'User.Read', resourceId: sandbox.state.graphServicePrincipalId })]);

    const token = await sandbox.clientSecretCredential(app.appId, app.secret).getToken(GRAPH_SCOPE);
    expect(claimsOf(token.token).roles).toEqual(['Mail.Send']);

    // Accepting twice changes nothing.
    await fetch(page, { method: 'POST', redirect: 'manual' });
    expect(sandbox.state.appRoleAssignments.filter((a) => a.principalId === sp?.id)).toHaveLength(1);
    expect(sandbox.state.oauth2PermissionGrants.filter((g) => g.clientId === sp?.id)).toHaveLength(1);
  });

  it('says "Consent granted" when there is no redirect, on the v1 path too', async () => {
    const app = registerApp(sandbox, { requiresMailSend: true });
    const accepted = await fetch(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/adminconsent?client_id=${app.appId}`, { method: 'POST' });
    expect(accepted.status).toBe(200);
    expect(await accepted.text()).toContain('Consent granted');
  });

  it('refuses a v2 request without a scope, or with one that names no resource', async () => {
    const app = registerApp(sandbox, { requiresMailSend: true });
    const base = `${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0/adminconsent?client_id=${app.appId}`;
    const missing = await fetch(base, { method: 'POST' });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('AADSTS900144');
    const wrong = await fetch(`${base}&scope=${encodeURIComponent('https://graph.example.org/.default')}`, { method: 'POST' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('AADSTS70011');
    // Nothing was granted.
    const sp = sandbox.state.findServicePrincipalByAppId(app.appId);
    expect(sandbox.state.appRoleAssignments.filter((a) => a.principalId === sp?.id)).toEqual([]);
  });

  it('tells an unknown app apart', async () => {
    const shown = await fetch(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0/adminconsent?client_id=00000000-1111-2222-3333-444444444444`);
    expect(shown.status).toBe(400);
    expect(await shown.text()).toContain('AADSTS700016');
  });
});
