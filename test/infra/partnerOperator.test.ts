/**
 * The partner post-provision step: off unless PARTNER_MODE=true, its command line and dry run
 * (offline), and against the sandbox's Graph, where the person running it is an app holding the rights
 * of an Application Administrator. What a partner sees: one multi-tenant operator application, requiring
 * exactly the permissions the strategies need (the policy pre-flight's Policy.Read.All unless opted out), whose only credential is a federated credential trusting
 * the function app's identity (issuer from AUTHORITY_HOST, subject the identity's object id, the cloud's
 * audience); OPERATOR_CLIENT_ID set in the azd environment and the app settings; a customer tenant that
 * consents then gives the identity, through it, a token carrying those permissions; a rerun changes
 * nothing; a secret or a foreign federated credential someone added is removed; a refusal says what to do.
 */
import { randomUUID } from 'node:crypto';
import { ManagedIdentityCredential } from '@azure/identity';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { setGraphRoles } from '../../sandbox/seed';
import { OPERATOR_UNIQUE_NAME } from '../../src/contracts/names';
import { main, parseArgs, resourceManagerFor, USAGE, type MainDeps, type PartnerOptions } from '../../scripts/partner-operator';
import { requiredGraphPermissions } from '../../scripts/grant-graph-permissions';
import { assertionCredential, claimsOf, EXCHANGE_SCOPE, GRAPH_SCOPE, graphClient, homeIssuer, useManagedIdentityEnv } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const TENANT_ID = '11111111-2222-3333-4444-555555555555';
const PRINCIPAL_ID = '0f3c2a4e-1b5d-4c6e-8f90-a1b2c3d4e5f6';

const noSignIn: TokenCredential = {
  getToken(): Promise<AccessToken> {
    throw new Error('the dry run asked for a token');
  },
};

function capture(): { out: string[]; err: string[]; deps: { out: (l: string) => void; err: (l: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, deps: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('command line', () => {
  it('does nothing unless PARTNER_MODE is true, and refuses anything but true or false', async () => {
    expect(parseArgs([], {})).toEqual({ kind: 'off', reason: 'PARTNER_MODE is not true' });
    expect(parseArgs([], { PARTNER_MODE: 'False' }).kind).toBe('off');
    expect(parseArgs([], { PARTNER_MODE: 'yes' })).toEqual({ kind: 'error', message: 'PARTNER_MODE must be true or false (got "yes")' });
    const c = capture();
    expect(await main([], {}, { ...c.deps, credential: noSignIn })).toBe(0);
    expect(c.out).toEqual(['Partner mode is off (PARTNER_MODE is not true): no operator application; the function app works in its home tenant only.']);
  });

  it('takes its values from the azd environment', () => {
    const parsed = parseArgs([], {
      PARTNER_MODE: 'TRUE',
      AZURE_TENANT_ID: TENANT_ID,
      MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID.toUpperCase(),
      SERVICE_API_URI: 'https://func-fno-abc.azurewebsites.net',
      AZURE_SUBSCRIPTION_ID: 'sub',
      AZURE_RESOURCE_GROUP: 'rg-fno',
      AZURE_FUNCTION_APP_NAME: 'func-fno-abc',
      GRANT_EVIDENCE: 'false',
      GRANT_POLICY_READ: 'False',
      CONSENT_STRATEGY: 'request',
    });
    expect(parsed).toEqual({
      kind: 'run',
      options: {
        tenantId: TENANT_ID,
        principalId: PRINCIPAL_ID,
        authorityHost: 'https://login.microsoftonline.com',
        graphBaseUrl: 'https://graph.microsoft.com',
        consentStrategy: 'request',
        evidence: false,
        policyRead: false,
        redirectUri: 'https://func-fno-abc.azurewebsites.net/api/dashboard',
        currentClientId: undefined,
        functionApp: { subscriptionId: 'sub', resourceGroup: 'rg-fno', name: 'func-fno-abc' },
        dryRun: false,
      } satisfies PartnerOptions,
    });
  });

  it('names what is missing or wrong, before signing in', async () => {
    const problem = (env: Record<string, string>, argv: string[] = []) => {
      const parsed = parseArgs(argv, { PARTNER_MODE: 'true', ...env });
      return parsed.kind === 'error' ? parsed.message : `accepted: ${parsed.kind}`;
    };
    expect(problem({})).toMatch(/^--tenant-id is missing.*AZURE_TENANT_ID\); --principal-id is missing.*MANAGED_IDENTITY_PRINCIPAL_ID\)$/);
    expect(problem({ AZURE_TENANT_ID: 'contoso', MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID })).toMatch(/^--tenant-id must be a GUID/);
    expect(problem({ AZURE_TENANT_ID: TENANT_ID, MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID, AUTHORITY_HOST: 'http://login.microsoftonline.com' })).toMatch(/^AUTHORITY_HOST must use https/);
    expect(problem({ AZURE_TENANT_ID: TENANT_ID, MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID, GRANT_EVIDENCE: 'no' })).toBe('GRANT_EVIDENCE must be true or false (got "no")');
    expect(problem({ AZURE_TENANT_ID: TENANT_ID, MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID, GRANT_POLICY_READ: '0' })).toBe('GRANT_POLICY_READ must be true or false (got "0")');
    expect(problem({}, ['--bogus'])).toMatch(/Unknown option '--bogus'/);
    const c = capture();
    expect(await main([], { PARTNER_MODE: 'true' }, { ...c.deps, credential: noSignIn })).toBe(2);
    expect(c.err.join('\n')).toContain(USAGE);
  });

  it('dry run in a national cloud: the issuer from AUTHORITY_HOST, the cloud’s audience, the permissions of the strategies, without a token', async () => {
    const c = capture();
    const env = { PARTNER_MODE: 'true', AZURE_TENANT_ID: TENANT_ID, MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL_ID, AUTHORITY_HOST: 'https://login.microsoftonline.us', GRAPH_BASE_URL: 'https://graph.microsoft.us' };
    expect(await main(['--dry-run'], env, { ...c.deps, credential: noSignIn })).toBe(0);
    expect(c.out).toEqual([
      `Partner mode: the operator application ${OPERATOR_UNIQUE_NAME} (multi-tenant, in tenant ${TENANT_ID}):`,
      "  requires    Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All, AuditLog.Read.All, Directory.Read.All, Policy.Read.All (Microsoft Graph application permissions: what a customer's administrator consents to)",
      `  credential  one federated credential: issuer https://login.microsoftonline.us/${TENANT_ID}/v2.0, subject ${PRINCIPAL_ID}, audience api://AzureADTokenExchangeUSGov`,
      "              no secret and no certificate: the function app signs in as it with its managed identity's token",
      '  (dry run: nothing was read or changed)',
    ]);
    // Opted out of the policy pre-flight, on the command line or in the azd environment: no Policy.Read.All.
    for (const [argv, extra] of [[['--dry-run', '--no-policy-read'], {}], [['--dry-run'], { GRANT_POLICY_READ: 'false' }]] as const) {
      const off = capture();
      expect(await main(argv, { ...env, ...extra }, { ...off.deps, credential: noSignIn })).toBe(0);
      expect(off.out[1]).toBe(
        "  requires    Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All, AuditLog.Read.All, Directory.Read.All (Microsoft Graph application permissions: what a customer's administrator consents to)",
      );
    }
    expect(resourceManagerFor('https://login.microsoftonline.us')).toBe('https://management.usgovcloudapi.net');
    expect(resourceManagerFor('https://login.microsoftonline.com')).toBe('https://management.azure.com');
  });
});

describe('against the sandbox Graph', () => {
  let sandbox: TestSandbox;
  let restoreEnv: () => void;

  beforeAll(async () => {
    sandbox = await startTestSandbox({ environmentIds: ['partner'], finopsSparePorts: 1 });
    restoreEnv = useManagedIdentityEnv(sandbox);
  });

  afterAll(async () => {
    restoreEnv();
    await sandbox.stop();
  });

  /** The person running the script: an app with an Application Administrator's rights, or less. */
  function administrator(roles: string[]): TokenCredential {
    setGraphRoles(sandbox.state, sandbox.state.operator.servicePrincipalId, roles);
    return sandbox.operatorCredential();
  }

  function env(extra: Record<string, string> = {}): Record<string, string> {
    const { endpoints } = sandbox;
    return {
      PARTNER_MODE: 'true',
      AZURE_TENANT_ID: endpoints.tenantId,
      MANAGED_IDENTITY_PRINCIPAL_ID: endpoints.managedIdentity.servicePrincipalId,
      AUTHORITY_HOST: endpoints.authorityHost,
      GRAPH_BASE_URL: endpoints.graphUrl,
      SERVICE_API_URI: 'https://func-fno-abc.azurewebsites.net',
      AZURE_SUBSCRIPTION_ID: 'sub',
      AZURE_RESOURCE_GROUP: 'rg-fno',
      AZURE_FUNCTION_APP_NAME: 'func-fno-abc',
      ...extra,
    };
  }

  /** azd and Resource Manager as the script sees them: the calls are recorded. */
  function world(): { deps: Pick<MainDeps, 'azd' | 'setAppSetting'>; azd: string[]; settings: Record<string, string> } {
    const azd: string[] = [];
    const settings: Record<string, string> = {};
    return {
      azd,
      settings,
      deps: {
        azd: (args) => (azd.push(args.join(' ')), Promise.resolve(0)),
        setAppSetting: (app, name, value) => {
          const key = `${app.name}/${name}`;
          const changed = settings[key] !== value;
          settings[key] = value;
          return Promise.resolve(changed ? 'updated' : 'unchanged');
        },
      },
    };
  }

  const operator = () => sandbox.state.home.applications.find((a) => a.uniqueName === OPERATOR_UNIQUE_NAME);
  const admin = ['Application.ReadWrite.All'];

  it('creates the operator with exactly one federated credential trusting the identity, sets OPERATOR_CLIENT_ID, and works in a tenant that consents', async () => {
    const c = capture();
    const w = world();
    expect(await main([], env(), { ...c.deps, ...w.deps, credential: administrator(admin) })).toBe(0);
    expect(c.err).toEqual([]);
    const app = operator()!;
    expect(app).toBeDefined();
    expect(app.signInAudience).toBe('AzureADMultipleOrgs');
    expect(app.passwordCredentials).toEqual([]);
    expect(app.webRedirectUris).toEqual(['https://func-fno-abc.azurewebsites.net/api/dashboard']);
    expect(app.federatedIdentityCredentials?.map((f) => ({ name: f.name, issuer: f.issuer, subject: f.subject, audiences: f.audiences }))).toEqual([
      { name: 'function-app-identity', issuer: homeIssuer(sandbox), subject: sandbox.endpoints.managedIdentity.servicePrincipalId, audiences: ['api://AzureADTokenExchange'] },
    ]);
    expect(w.azd).toEqual([`env set OPERATOR_CLIENT_ID ${app.appId}`]);
    expect(w.settings).toEqual({ 'func-fno-abc/OPERATOR_CLIENT_ID': app.appId });
    expect(c.out).toContain(`  created  client id ${app.appId} (object id ${app.id})`);

    // A customer tenant consents; the identity's token then gets it, through the operator, exactly those permissions.
    const customer = (await sandbox.control<{ tenantId: string }>('/tenants', { body: { name: 'fabrikam' } })).body;
    expect((await sandbox.control('/consent', { body: { appId: app.appId, tenantId: customer.tenantId } })).status).toBe(200);
    const mi = new ManagedIdentityCredential();
    const asOperator = assertionCredential(sandbox, customer.tenantId, app.appId, async () => (await mi.getToken(EXCHANGE_SCOPE)).token);
    const claims = claimsOf((await asOperator.getToken(GRAPH_SCOPE)).token);
    expect(claims.tid).toBe(customer.tenantId);
    expect([...(claims.roles as string[])].sort()).toEqual([...requiredGraphPermissions('grant')].sort());
    // Among them the policy pre-flight's, read in the customer tenant before a client secret is added there.
    expect(claims.roles).toContain('Policy.Read.All');
  });

  it('changes nothing when run again (and OPERATOR_CLIENT_ID already names it)', async () => {
    const before = operator()!;
    const fic = before.federatedIdentityCredentials?.[0]?.id;
    const c = capture();
    const w = world();
    w.settings['func-fno-abc/OPERATOR_CLIENT_ID'] = before.appId;
    expect(await main([], env({ OPERATOR_CLIENT_ID: before.appId }), { ...c.deps, ...w.deps, credential: administrator(admin) })).toBe(0);
    expect(sandbox.state.home.applications.filter((a) => a.uniqueName === OPERATOR_UNIQUE_NAME)).toHaveLength(1);
    expect(operator()!.federatedIdentityCredentials?.map((f) => f.id)).toEqual([fic]);
    expect(c.out).toContain(`  up to date  client id ${before.appId} (object id ${before.id})`);
    expect(c.out).toContain('  app setting OPERATOR_CLIENT_ID of func-fno-abc: unchanged');
    expect(w.azd).toEqual([]);
    expect(c.out.some((l) => l.includes('removed'))).toBe(false);
  });

  it('removes a secret and a federated credential someone added, puts its own back, and follows the strategies', async () => {
    const app = operator()!;
    const client = graphClient(sandbox, administrator(admin));
    await client.api(`/applications/${app.id}/addPassword`).post({ passwordCredential: { displayName: 'quick test' } });
    await client.api(`/applications/${app.id}/federatedIdentityCredentials`).post({
      name: 'github',
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:contoso/x:ref:refs/heads/main',
      audiences: ['api://AzureADTokenExchange'],
    });
    // Someone also pointed the product's own credential at another subject.
    await client.api(`/applications/${app.id}/federatedIdentityCredentials(name='function-app-identity')`).patch({ subject: randomUUID() });
    const secret = operator()!.passwordCredentials[0]!.keyId;

    const c = capture();
    expect(await main(['--no-evidence', '--no-policy-read', '--consent-strategy', 'request'], env({ OPERATOR_CLIENT_ID: app.appId }), { ...c.deps, ...world().deps, credential: administrator(admin) })).toBe(0);
    expect(c.out.filter((l) => l.startsWith('  removed'))).toEqual([
      `  removed     client secret ${secret} (quick test): partner mode allows the operator no other credential`,
      '  removed     federated credential github (issuer https://token.actions.githubusercontent.com, subject repo:contoso/x:ref:refs/heads/main): partner mode allows the operator no other credential',
    ]);
    const after = operator()!;
    expect(after.passwordCredentials).toEqual([]);
    expect(after.federatedIdentityCredentials?.map((f) => [f.name, f.subject])).toEqual([['function-app-identity', sandbox.endpoints.managedIdentity.servicePrincipalId]]);
    // Consent strategy request without evidence and without the policy pre-flight: Application.ReadWrite.OwnedBy only.
    const graph = sandbox.state.home.findServicePrincipalById(sandbox.state.home.graphServicePrincipalId)!;
    const required = after.requiredResourceAccess.flatMap((r) => r.resourceAccess.map((a) => graph.appRoles.find((role) => role.id === a.id)?.value));
    expect(required).toEqual(['Application.ReadWrite.OwnedBy']);
  });

  it('fails with what to do when the signed-in account may not change applications, and when the app setting cannot be written', async () => {
    const refused = capture();
    expect(await main([], env(), { ...refused.deps, ...world().deps, credential: administrator(['Application.Read.All']) })).toBe(1);
    expect(refused.err.join('\n')).toMatch(/NOT DONE: Creating or updating the operator application was refused \(Graph 403 Authorization_RequestDenied.*Application Administrator or Cloud Application Administrator/);

    const c = capture();
    const failing: MainDeps = { azd: () => Promise.resolve(0), setAppSetting: () => Promise.reject(new Error('reading the app settings answered 403')) };
    expect(await main([], env({ OPERATOR_CLIENT_ID: randomUUID() }), { ...c.deps, ...failing, credential: administrator(admin) })).toBe(1);
    expect(c.err).toEqual(['  NOT DONE: setting OPERATOR_CLIENT_ID on func-fno-abc failed (reading the app settings answered 403); `azd provision` deploys it from the azd environment.']);
    expect(c.out).toContain(`  azd env     OPERATOR_CLIENT_ID=${operator()!.appId} (the next provision deploys it)`);
    expect(c.err.join('\n')).not.toContain(sandbox.endpoints.operator.clientSecret);
  });
});
