/**
 * The post-provision script: its command line and dry run (offline), its compiled entry point, and the
 * grant itself against the sandbox's Graph, where the person running it is an app holding the rights a
 * Privileged Role Administrator has. What a user sees: the identity's Graph tokens carry exactly the
 * permissions the consent strategy, the sign-in evidence and the policy pre-flight need (and the product
 * can then read the sign-in log and the app management policies), `--no-evidence` and `--no-policy-read`
 * leave theirs out and say what that costs, a rerun changes nothing, and a refusal says what to do.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { CredentialUnavailableError } from '@azure/identity';
import { DEPLOYED_MANAGED_IDENTITY_ROLES, setGraphRoles, SIGN_IN_EVIDENCE_ROLES } from '../../sandbox/seed';
import { GRAPH_APP_ID } from '../../sandbox/state';
import { SECOND_PROVISION_VARIABLE } from '../../scripts/enable-secret-expiry-events';
import { main, parseArgs, requiredGraphPermissions, USAGE, type GrantRuntime } from '../../scripts/grant-graph-permissions';
import { EntraApplications } from '../../src/clients/entraApplications';
import { isServiceError } from '../../src/clients/errors';
import { SignInLog } from '../../src/clients/signInLog';
import { FINOPS_EXTENSION_SECURITY } from '../../src/contracts/finopsExtension';
import { compiledProject } from '../helpers/compiledProject';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const root = join(__dirname, '..', '..');
const CLIENT_ID = '0f3c2a4e-1b5d-4c6e-8f90-a1b2c3d4e5f6';
const TENANT_ID = '11111111-2222-3333-4444-555555555555';

/** A credential that fails the test if anything asks it for a token. */
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
  it('takes its defaults from the azd environment', () => {
    const parsed = parseArgs([], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID.toUpperCase(), AZURE_TENANT_ID: TENANT_ID, MANAGED_IDENTITY_NAME: 'id-fno-abc' });
    expect(parsed).toEqual({
      kind: 'run',
      options: {
        clientId: CLIENT_ID,
        tenantId: TENANT_ID,
        consentStrategy: 'grant',
        deliveryStrategy: 'auto',
        graphBaseUrl: 'https://graph.microsoft.com',
        revokeUnneeded: false,
        evidence: true,
        policyRead: true,
        grantMailSend: false,
        senderMailbox: undefined,
        principalId: undefined,
        dryRun: false,
        identityName: 'id-fno-abc',
        apiUrl: undefined,
        finOps: { entitySet: 'GraphEmailCredentials', key: '', applicationIdField: 'ApplicationId', secretField: 'ClientSecret' },
      },
    });
  });

  it('lets options override the environment', () => {
    const parsed = parseArgs(
      [
        '--client-id',
        CLIENT_ID,
        '--consent-strategy',
        'request',
        '--delivery-strategy',
        'manual',
        '--graph-url',
        'https://graph.microsoft.us/',
        '--revoke-unneeded',
        '--no-evidence',
        '--no-policy-read',
      ],
      {
        MANAGED_IDENTITY_CLIENT_ID: randomUUID(),
        CONSENT_STRATEGY: 'grant',
        GRANT_EVIDENCE: 'true',
        GRANT_POLICY_READ: 'true',
        FINOPS_CREDENTIAL_ENTITY: 'FnoMailCredentials',
        FINOPS_CREDENTIAL_KEY: "ID='GRAPH'",
      },
    );
    expect(parsed.kind).toBe('run');
    if (parsed.kind !== 'run') return;
    expect(parsed.options).toMatchObject({
      clientId: CLIENT_ID,
      consentStrategy: 'request',
      deliveryStrategy: 'manual',
      graphBaseUrl: 'https://graph.microsoft.us',
      revokeUnneeded: true,
      evidence: false,
      policyRead: false,
      finOps: { entitySet: 'FnoMailCredentials', key: "ID='GRAPH'" },
    });
  });

  it('rejects what the product would reject, naming the option', () => {
    const problem = (argv: string[], env: Record<string, string> = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }) => {
      const parsed = parseArgs(argv, env);
      return parsed.kind === 'error' ? parsed.message : `accepted: ${parsed.kind}`;
    };
    expect(problem(['--consent-strategy', 'always'])).toBe('--consent-strategy must be "grant" or "request" (got "always")');
    expect(problem(['--delivery-strategy', 'email'])).toMatch(/^--delivery-strategy must be "auto", "odata" or "manual"/);
    expect(problem(['--client-id', 'not-a-guid'])).toMatch(/^--client-id must be a GUID/);
    expect(problem(['--tenant-id', 'contoso.onmicrosoft.com'])).toMatch(/^--tenant-id must be a GUID/);
    expect(problem(['--graph-url', 'http://graph.microsoft.com'])).toMatch(/^--graph-url must use https/);
    expect(problem(['--bogus'])).toMatch(/Unknown option '--bogus'/);
    expect(problem([], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, SENDER_MAILBOX: 'alerts at contoso' })).toMatch(/^SENDER_MAILBOX must be a plain email address/);
    // A misspelt opt-out must not grant Directory.Read.All.
    expect(problem([], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, GRANT_EVIDENCE: 'no' })).toBe('GRANT_EVIDENCE must be true or false (got "no")');
    expect(problem(['--no-evidence=false'])).toMatch(/--no-evidence.*does not take an argument/);
    // Nor Policy.Read.All.
    expect(problem([], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, GRANT_POLICY_READ: 'off' })).toBe('GRANT_POLICY_READ must be true or false (got "off")');
    expect(problem(['--no-policy-read=true'])).toMatch(/--no-policy-read.*does not take an argument/);
    expect(problem(['grant'])).toMatch(/Unexpected argument 'grant'/);
    expect(problem([], {})).toMatch(/--client-id is missing.*MANAGED_IDENTITY_CLIENT_ID/);
    // Several problems come back together.
    expect(problem(['--consent-strategy', 'x', '--client-id', 'y'])).toMatch(/--client-id .*; --consent-strategy /);
  });

  it('needs the consent permissions of the strategy and, unless opted out, the sign-in evidence and policy pre-flight ones; Mail.Send only when asked', () => {
    const evidence = ['AuditLog.Read.All', 'Directory.Read.All'];
    expect(requiredGraphPermissions('grant')).toEqual([
      'Application.ReadWrite.OwnedBy',
      'AppRoleAssignment.ReadWrite.All',
      'DelegatedPermissionGrant.ReadWrite.All',
      ...evidence,
      'Policy.Read.All',
    ]);
    expect(requiredGraphPermissions('request')).toEqual(['Application.ReadWrite.OwnedBy', ...evidence, 'Policy.Read.All']);
    expect(requiredGraphPermissions('request', { evidence: false })).toEqual(['Application.ReadWrite.OwnedBy', 'Policy.Read.All']);
    expect(requiredGraphPermissions('request', { policyRead: false })).toEqual(['Application.ReadWrite.OwnedBy', ...evidence]);
    expect(requiredGraphPermissions('request', { evidence: false, policyRead: false })).toEqual(['Application.ReadWrite.OwnedBy']);
    expect(requiredGraphPermissions('request', { evidence: false, policyRead: false, mailSend: true })).toEqual(['Application.ReadWrite.OwnedBy', 'Mail.Send']);
    // What reading the sign-in log takes, as the emulated Graph enforces it, and the identity a deployment leaves behind.
    expect(evidence).toEqual(SIGN_IN_EVIDENCE_ROLES);
    expect(requiredGraphPermissions('grant').sort()).toEqual([...DEPLOYED_MANAGED_IDENTITY_ROLES].sort());
    const fromEnv = parseArgs([], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, GRANT_MAIL_SEND: 'TRUE', GRANT_EVIDENCE: 'False', GRANT_POLICY_READ: 'FALSE' });
    expect(fromEnv.kind === 'run' && [fromEnv.options.grantMailSend, fromEnv.options.evidence, fromEnv.options.policyRead]).toEqual([true, false, false]);
    const flag = parseArgs(['--no-evidence'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID });
    expect(flag.kind === 'run' && [flag.options.evidence, flag.options.policyRead]).toEqual([false, true]);
    const policyFlag = parseArgs(['--no-policy-read'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, GRANT_POLICY_READ: 'true' });
    expect(policyFlag.kind === 'run' && [policyFlag.options.evidence, policyFlag.options.policyRead]).toEqual([true, false]);
  });
});

describe('main, offline', () => {
  it('prints usage for --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], {}, { ...c.deps, credential: noSignIn })).toBe(0);
    expect(c.out.join('\n')).toBe(USAGE);
  });

  it('exits 2 with the problem and the usage on bad arguments, before signing in', async () => {
    const c = capture();
    expect(await main(['--consent-strategy', 'sometimes'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }, { ...c.deps, credential: noSignIn })).toBe(2);
    expect(c.err[0]).toBe('grant-graph-permissions: --consent-strategy must be "grant" or "request" (got "sometimes")');
    expect(c.err.join('\n')).toContain(USAGE);
    expect(c.out).toEqual([]);
  });

  it('dry run: says what it would grant and what F&O needs, without a token', async () => {
    const c = capture();
    const code = await main(['--dry-run'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, SERVICE_API_URI: 'https://func-fno-x.azurewebsites.net' }, { ...c.deps, credential: noSignIn });
    expect(code).toBe(0);
    const text = c.out.join('\n');
    expect(text).toContain(`(client id ${CLIENT_ID})`);
    expect(text.match(/would ensure/g)).toHaveLength(6);
    for (const p of requiredGraphPermissions('grant')) expect(text).toContain(`would ensure  ${p}`);
    expect(c.out).toContain(
      "  would ensure  Policy.Read.All: policy pre-flight: read the tenant's app management policies before adding a client secret, so a lifetime cap shortens it and a ban fails before any write (it lets the identity read all the tenant's policies)",
    );
    expect(text).not.toContain('--no-policy-read');
    expect(c.out).toContain('  would ensure  AuditLog.Read.All: read the sign-in log to prove F&O uses each credential');
    expect(text).toMatch(/would ensure {2}Directory\.Read\.All: read the sign-in log to prove F&O uses each credential \(Graph requires it besides AuditLog\.Read\.All/);
    // The licence, said once.
    expect(text.match(/Microsoft Entra ID P1 or P2/g)).toHaveLength(1);
    expect(text).toContain('needs a Microsoft Entra ID P1 or P2 licence in the tenant; without one each run says so once and environments stay unproven');
    expect(text).toContain('(dry run: nothing was read or changed)');
    // F&O, delivery strategy auto: the package, the extension's security objects by their contract names, the registration.
    expect(text).toContain('Deploy the FnoGraphMail deployable package');
    expect(text).toContain('finops/README.md');
    expect(text).toContain(`duty\n     ${FINOPS_EXTENSION_SECURITY.duty} (privilege ${FINOPS_EXTENSION_SECURITY.privilege})`);
    expect(text).toContain('System administration > Setup > Microsoft Entra applications');
    expect(text).toContain(`Client ID  ${CLIENT_ID}`);
    expect(text).toContain('public collection name GraphEmailCredentials');
    expect(text).toContain('properties ApplicationId (application id) and ClientSecret');
    expect(text).toContain('An environment without the extension');
    expect(text).toMatch(/gets\n {2}manual instructions instead/);
    expect(text).toContain('POST https://func-fno-x.azurewebsites.net/api/environments/{environmentId}/setup');
    expect(c.err).toEqual([]);
  });

  it('dry run with delivery strategy odata: the same F&O steps, and no fallback to instructions', async () => {
    const c = capture();
    expect(await main(['--dry-run', '--delivery-strategy', 'odata'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }, { ...c.deps, credential: noSignIn })).toBe(0);
    const text = c.out.join('\n');
    expect(text).toContain(`Client ID  ${CLIENT_ID}`);
    expect(text).toContain(FINOPS_EXTENSION_SECURITY.duty);
    expect(text).toContain('Delivery strategy odata: every environment needs steps 1 to 4; where the extension is missing, setup and rotation fail');
    expect(text).not.toContain('An environment without the extension');
  });

  it('dry run with consent request and manual delivery: OwnedBy, the evidence and policy pre-flight permissions, nothing to deploy in F&O, the labels of the form', async () => {
    const c = capture();
    const env = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, CONSENT_STRATEGY: 'request', DELIVERY_STRATEGY: 'manual' };
    expect(await main(['--dry-run', '--revoke-unneeded'], env, { ...c.deps, credential: noSignIn })).toBe(0);
    const text = c.out.join('\n');
    expect(text.match(/would ensure/g)).toHaveLength(4);
    expect(text).toContain('would ensure  Application.ReadWrite.OwnedBy');
    expect(text).toContain('would ensure  AuditLog.Read.All');
    expect(text).toContain('would ensure  Directory.Read.All');
    expect(text).toContain('would ensure  Policy.Read.All');
    expect(text).toContain('would remove  AppRoleAssignment.ReadWrite.All if held (not needed by consent strategy request)');
    expect(text).toContain('would remove  DelegatedPermissionGrant.ReadWrite.All if held');
    expect(text).not.toMatch(/would remove {2}(AuditLog|Directory|Policy)/);
    expect(text).toContain('Delivery strategy manual: nothing to register or deploy in F&O');
    // The labels a person finds on the Email parameters page.
    expect(text).toContain('enters the fields labelled\n  "Application ID" (the environment app\'s client id) and "Application secret"');
    expect(text).toContain('The run completes once Entra shows F&O signing in with it');
    expect(text).not.toContain('Client ID  ');
    expect(text).toContain('publishes an admin-consent link');
  });

  it('dry run with --no-evidence: leaves out (or removes) the sign-in log permissions and says plainly what that costs', async () => {
    const kept = capture();
    const env = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, DELIVERY_STRATEGY: 'manual' };
    expect(await main(['--dry-run', '--no-evidence'], env, { ...kept.deps, credential: noSignIn })).toBe(0);
    const text = kept.out.join('\n');
    expect(kept.out[0]).toMatch(/consent strategy grant, without sign-in evidence:$/);
    expect(text.match(/would ensure/g)).toHaveLength(4);
    expect(text).toContain('would ensure  Policy.Read.All');
    expect(text).not.toMatch(/would ensure {2}(AuditLog|Directory)/);
    expect(kept.out).toContain('  would leave   AuditLog.Read.All if held (not needed with --no-evidence)');
    expect(kept.out).toContain('  would leave   Directory.Read.All if held (not needed with --no-evidence)');
    expect(text).toContain('environments stay unproven, and a rotation\n  revokes the previous credential when the grace period (ROTATION_GRACE_HOURS) ends, whether or not F&O has moved to the new one.');
    expect(text.match(/Microsoft Entra ID P1 or P2/g)).toHaveLength(1);
    // Manual delivery then waits for the person's word: no sign-in can end the wait.
    expect(text).toContain('The run completes when that person raises EmailParametersUpdated.');

    const removed = capture();
    expect(await main(['--dry-run', '--revoke-unneeded'], { ...env, GRANT_EVIDENCE: 'false' }, { ...removed.deps, credential: noSignIn })).toBe(0);
    expect(removed.out).toContain('  would remove  AuditLog.Read.All if held (not needed with --no-evidence)');
    expect(removed.out).toContain('  would remove  Directory.Read.All if held (not needed with --no-evidence)');
  });

  it('dry run with --no-policy-read: leaves out (or removes) Policy.Read.All and says plainly what that costs', async () => {
    const kept = capture();
    expect(await main(['--dry-run', '--no-policy-read'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }, { ...kept.deps, credential: noSignIn })).toBe(0);
    const text = kept.out.join('\n');
    expect(kept.out[0]).toMatch(/consent strategy grant, without the policy pre-flight:$/);
    expect(text.match(/would ensure/g)).toHaveLength(5);
    expect(text).not.toContain('would ensure  Policy.Read.All');
    expect(text).toContain('would ensure  AuditLog.Read.All');
    expect(kept.out).toContain('  would leave   Policy.Read.All if held (not needed with --no-policy-read)');
    expect(text).toContain("adds client secrets without reading the tenant's app management");
    expect(text).toContain('a lifetime cap or a ban on client secrets shows only when Entra refuses the new\n  secret.');

    const removed = capture();
    const env = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, GRANT_POLICY_READ: 'false', GRANT_EVIDENCE: 'false' };
    expect(await main(['--dry-run', '--revoke-unneeded'], env, { ...removed.deps, credential: noSignIn })).toBe(0);
    expect(removed.out[0]).toMatch(/consent strategy grant, without sign-in evidence, without the policy pre-flight:$/);
    expect(removed.out).toContain('  would remove  Policy.Read.All if held (not needed with --no-policy-read)');
    expect(removed.out).toContain('  would remove  AuditLog.Read.All if held (not needed with --no-evidence)');
    expect(removed.out.join('\n').match(/would ensure/g)).toHaveLength(3);
  });

  it('skips the grant in the second provision of `azd up`, without signing in, and says how to run it', async () => {
    const c = capture();
    const env = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, [SECOND_PROVISION_VARIABLE]: '1' };
    expect(await main([], env, { ...c.deps, credential: noSignIn })).toBe(0);
    expect(c.out).toEqual([
      'Microsoft Graph permissions: skipped in this second provision of `azd up` (it only turns the secret expiry events on); ' +
        'they were handled after the first. Run `npm run grant-graph-permissions` to do it again.',
    ]);
    expect(c.err).toEqual([]);
    // Any other value is an ordinary run (here a dry run, so nothing is signed in to).
    const ordinary = capture();
    expect(await main(['--dry-run'], { ...env, [SECOND_PROVISION_VARIABLE]: '' }, { ...ordinary.deps, credential: noSignIn })).toBe(0);
    expect(ordinary.out.join('\n')).toContain('would ensure  Application.ReadWrite.OwnedBy');
  });

  it('asks for a sign-in when neither azd nor the Azure CLI has one', async () => {
    const c = capture();
    const signedOut: TokenCredential = {
      getToken(): Promise<AccessToken> {
        throw new CredentialUnavailableError('Please run azd auth login');
      },
    };
    expect(await main(['--tenant-id', TENANT_ID], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }, { ...c.deps, credential: signedOut })).toBe(1);
    expect(c.err[0]).toContain(`NOT DONE: Reading the managed identity: nobody is signed in (Please run azd auth login). Run \`azd auth login --tenant-id ${TENANT_ID}\``);
  });

  it('dry run with a sender mailbox: shows how to allow that mailbox only, and grants Mail.Send only when asked', async () => {
    const env = { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, MANAGED_IDENTITY_PRINCIPAL_ID: 'c0ffee00-0000-4000-8000-000000000001', SENDER_MAILBOX: 'fno-mail@contoso.com' };
    const scoped = capture();
    expect(await main(['--dry-run'], env, { ...scoped.deps, credential: noSignIn })).toBe(0);
    const text = scoped.out.join('\n');
    expect(text).not.toContain('would ensure  Mail.Send');
    expect(text).toContain(`New-ServicePrincipal -AppId ${CLIENT_ID} -ObjectId c0ffee00-0000-4000-8000-000000000001`);
    expect(text).toContain(`-RecipientRestrictionFilter "PrimarySmtpAddress -eq 'fno-mail@contoso.com'"`);
    expect(text).toContain(`New-ManagementRoleAssignment -App ${CLIENT_ID} -Role "Application Mail.Send" -CustomResourceScope "fno-graph-mail sender"`);

    const wide = capture();
    expect(await main(['--dry-run', '--grant-mail-send'], env, { ...wide.deps, credential: noSignIn })).toBe(0);
    expect(wide.out.join('\n')).toContain('would ensure  Mail.Send: alert and action-needed mail from SENDER_MAILBOX (tenant-wide: any mailbox)');
    expect(wide.out.join('\n')).not.toContain('New-ManagementRoleAssignment');

    const none = capture();
    expect(await main(['--dry-run'], { MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID }, { ...none.deps, credential: noSignIn })).toBe(0);
    expect(none.out).toContain('No SENDER_MAILBOX: alerts stay log lines (and the Azure Monitor alert); no mail is sent.');
  });

  it('runs the same way from its compiled entry point (what `npm run grant-graph-permissions` executes)', async () => {
    const entry = join(await compiledProject(), 'scripts', 'grant-graph-permissions.js');
    // NODE_PATH alone finds the packages, as it would for the script copied anywhere.
    const env = { PATH: process.env.PATH ?? '', NODE_PATH: join(root, 'node_modules'), MANAGED_IDENTITY_CLIENT_ID: CLIENT_ID, CONSENT_STRATEGY: 'request' };
    const dry = spawnSync(process.execPath, [entry, '--dry-run'], { env, encoding: 'utf8' });
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain('would ensure  Application.ReadWrite.OwnedBy');
    const bad = spawnSync(process.execPath, [entry, '--consent-strategy', 'nope'], { env, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--consent-strategy must be "grant" or "request"');
  });
});

describe('granting against the sandbox Graph', () => {
  let sandbox: TestSandbox;
  const fast: GrantRuntime = { lookupAttempts: 2, retryDelayMs: 0, sleep: () => Promise.resolve() };

  beforeAll(async () => {
    sandbox = await startTestSandbox({ environmentIds: ['grant'], managedIdentityRoles: [] });
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  /** The person running the script: an app with the rights of a Privileged Role Administrator, or less. */
  function administrator(roles: string[]): TokenCredential {
    setGraphRoles(sandbox.state, sandbox.state.operator.servicePrincipalId, roles);
    return sandbox.operatorCredential();
  }

  function env(): Record<string, string> {
    const { endpoints } = sandbox;
    return { MANAGED_IDENTITY_CLIENT_ID: endpoints.managedIdentity.clientId, AZURE_TENANT_ID: endpoints.tenantId, GRAPH_BASE_URL: endpoints.graphUrl };
  }

  /** A fresh Graph token of the function app's identity, from its managed identity endpoint. */
  async function identityToken(): Promise<string> {
    const { managedIdentity, graphUrl } = sandbox.endpoints;
    const url = `${managedIdentity.identityEndpoint}?api-version=2019-08-01&resource=${encodeURIComponent(graphUrl)}&client_id=${managedIdentity.clientId}`;
    const reply = (await (await fetch(url, { headers: { 'X-IDENTITY-HEADER': managedIdentity.identityHeader } })).json()) as { access_token: string };
    return reply.access_token;
  }

  /** The Graph roles in a fresh token of the function app's identity. */
  async function identityTokenRoles(): Promise<string[]> {
    const token = await identityToken();
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
    return [...(payload.roles ?? [])].sort();
  }

  /** What the product's own sign-in log client answers with a fresh token of the identity: `available`, or why not. */
  async function signInLogAccess(): Promise<string> {
    const credential: TokenCredential = { getToken: async () => ({ token: await identityToken(), expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const log = new SignInLog(credential, { graphBaseUrl: sandbox.endpoints.graphUrl, retry: { maxRetries: 0 } });
    const answer = await log.servicePrincipalSignIns(randomUUID(), new Date(sandbox.state.now() - 3_600_000));
    return answer.available ? 'available' : answer.reason;
  }

  /**
   * What the product's own Entra client answers when the identity reads the app management policies of an
   * app (the pre-flight before a client secret): `available`, or the refusal's status.
   */
  async function policyAccess(): Promise<string> {
    const credential: TokenCredential = { getToken: async () => ({ token: await identityToken(), expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const entra = new EntraApplications(credential, { graphBaseUrl: sandbox.endpoints.graphUrl, tenantId: sandbox.endpoints.tenantId, retry: { maxRetries: 0 } });
    const app = sandbox.state.applications.find((a) => a.appId === sandbox.state.operator.appId);
    if (!app) throw new Error('the sandbox has no operator application');
    try {
      await entra.readAppManagementPolicies(app.id);
      return 'available';
    } catch (e) {
      if (isServiceError(e)) return `refused ${e.status ?? e.code ?? e.kind}`;
      throw e;
    }
  }

  const admin = ['AppRoleAssignment.ReadWrite.All', 'Application.Read.All'];

  it('grants only Application.ReadWrite.OwnedBy for consent strategy request with --no-evidence and --no-policy-read', async () => {
    expect(await identityTokenRoles()).toEqual([]);
    const c = capture();
    const code = await main(['--consent-strategy', 'request', '--no-evidence', '--no-policy-read'], env(), { ...c.deps, credential: administrator(admin), runtime: fast });
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy']);
    const text = c.out.join('\n');
    expect(text).toMatch(/granted {10}Application\.ReadWrite\.OwnedBy: create the environment apps/);
    expect(text).toContain(`object id ${sandbox.endpoints.managedIdentity.servicePrincipalId}`);
    expect(text).toContain('environments stay unproven');
    // What the product then finds when it reads the evidence.
    expect(await signInLogAccess()).toBe('permission');
    expect(await policyAccess()).toBe('refused 403');
  });

  it('adds the consent, sign-in evidence and policy pre-flight permissions by default, so the product can read the sign-in log and the policies; a rerun changes nothing', async () => {
    const first = capture();
    expect(await main([], env(), { ...first.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(first.out.join('\n')).toContain('already granted  Application.ReadWrite.OwnedBy');
    expect(first.out.filter((l) => l.startsWith('  granted '))).toEqual([
      '  granted          AppRoleAssignment.ReadWrite.All: consent strategy grant: assign Mail.Send to each environment app',
      '  granted          DelegatedPermissionGrant.ReadWrite.All: consent strategy grant: the tenant-wide User.Read grant',
      '  granted          AuditLog.Read.All: read the sign-in log to prove F&O uses each credential',
      '  granted          Directory.Read.All: read the sign-in log to prove F&O uses each credential (Graph requires it besides AuditLog.Read.All; it lets the identity read the whole directory)',
      "  granted          Policy.Read.All: policy pre-flight: read the tenant's app management policies before adding a client secret, so a lifetime cap shortens it and a ban fails before any write (it lets the identity read all the tenant's policies)",
    ]);
    expect(first.out.filter((l) => l.includes('Microsoft Entra ID P1 or P2'))).toHaveLength(1);
    const all = ['AppRoleAssignment.ReadWrite.All', 'Application.ReadWrite.OwnedBy', 'AuditLog.Read.All', 'DelegatedPermissionGrant.ReadWrite.All', 'Directory.Read.All', 'Policy.Read.All'];
    expect(await identityTokenRoles()).toEqual(all);
    expect(await signInLogAccess()).toBe('available');
    expect(await policyAccess()).toBe('available');

    const assignments = sandbox.state.appRoleAssignments.length;
    const again = capture();
    expect(await main([], env(), { ...again.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(again.out.filter((l) => l.startsWith('  already granted'))).toHaveLength(6);
    expect(sandbox.state.appRoleAssignments.length).toBe(assignments);
    expect(await identityTokenRoles()).toEqual(all);
  });

  it('reports the product permissions not needed, and removes only those with --revoke-unneeded', async () => {
    // A permission someone else gave the identity is never touched.
    const graphSp = sandbox.state.servicePrincipals.find((s) => s.appId === GRAPH_APP_ID);
    const mi = sandbox.state.managedIdentity.servicePrincipalId;
    const held = sandbox.state.appRoleAssignments
      .filter((a) => a.principalId === mi && a.resourceId === graphSp?.id)
      .map((a) => graphSp?.appRoles.find((r) => r.id === a.appRoleId)?.value ?? '');
    setGraphRoles(sandbox.state, mi, [...held, 'User.Read.All']);

    const kept = capture();
    expect(await main(['--consent-strategy', 'request', '--no-evidence', '--no-policy-read'], env(), { ...kept.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(kept.out.filter((l) => l.startsWith('  not needed'))).toEqual([
      '  not needed       AppRoleAssignment.ReadWrite.All: consent strategy request does not use it; remove it with --revoke-unneeded',
      '  not needed       DelegatedPermissionGrant.ReadWrite.All: consent strategy request does not use it; remove it with --revoke-unneeded',
      '  not needed       AuditLog.Read.All: sign-in evidence is off (--no-evidence); remove it with --revoke-unneeded',
      '  not needed       Directory.Read.All: sign-in evidence is off (--no-evidence); remove it with --revoke-unneeded',
      "  not needed       Policy.Read.All: the policy pre-flight is off (--no-policy-read); remove it with --revoke-unneeded",
    ]);
    expect(await identityTokenRoles()).toHaveLength(7);

    // With the evidence on, only the consent permissions go.
    const consentOnly = capture();
    expect(await main(['--consent-strategy', 'request', '--revoke-unneeded'], env(), { ...consentOnly.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(consentOnly.out.filter((l) => l.startsWith('  removed'))).toEqual([
      '  removed          AppRoleAssignment.ReadWrite.All (not needed by consent strategy request)',
      '  removed          DelegatedPermissionGrant.ReadWrite.All (not needed by consent strategy request)',
    ]);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All', 'Directory.Read.All', 'Policy.Read.All', 'User.Read.All']);

    // The policy pre-flight opted out in the azd environment: Policy.Read.All goes, the evidence stays.
    const noPolicy = capture();
    const envNoPolicy = { ...env(), GRANT_POLICY_READ: 'false' };
    expect(await main(['--consent-strategy', 'request', '--revoke-unneeded'], envNoPolicy, { ...noPolicy.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(noPolicy.out.filter((l) => l.startsWith('  removed'))).toEqual(['  removed          Policy.Read.All (not needed with --no-policy-read)']);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All', 'Directory.Read.All', 'User.Read.All']);
    expect(await policyAccess()).toBe('refused 403');

    // Opted out in the azd environment: the evidence permissions go too.
    const optedOut = capture();
    const envOut = { ...env(), GRANT_EVIDENCE: 'false', GRANT_POLICY_READ: 'false' };
    expect(await main(['--consent-strategy', 'request', '--revoke-unneeded'], envOut, { ...optedOut.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(optedOut.out.filter((l) => l.startsWith('  removed'))).toEqual([
      '  removed          AuditLog.Read.All (not needed with --no-evidence)',
      '  removed          Directory.Read.All (not needed with --no-evidence)',
    ]);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy', 'User.Read.All']);
    expect(await signInLogAccess()).toBe('permission');
  });

  it('grants Mail.Send only with --grant-mail-send, and never removes it', async () => {
    const granted = capture();
    const env2 = { ...env(), SENDER_MAILBOX: 'fno-mail@contoso.onmicrosoft.com', GRANT_EVIDENCE: 'false', GRANT_POLICY_READ: 'false' };
    expect(await main(['--consent-strategy', 'request', '--grant-mail-send'], env2, { ...granted.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(granted.out.filter((l) => l.startsWith('  granted '))).toEqual([
      '  granted          Mail.Send: alert and action-needed mail from SENDER_MAILBOX (tenant-wide: any mailbox)',
    ]);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy', 'Mail.Send', 'User.Read.All']);

    const later = capture();
    expect(await main(['--consent-strategy', 'request', '--revoke-unneeded'], env2, { ...later.deps, credential: administrator(admin), runtime: fast })).toBe(0);
    expect(later.out.filter((l) => l.startsWith('  removed'))).toEqual([]);
    expect(await identityTokenRoles()).toEqual(['Application.ReadWrite.OwnedBy', 'Mail.Send', 'User.Read.All']);
    // Without the flag, the output shows the narrower Exchange route, with the identity's object id.
    expect(later.out.join('\n')).toContain(`-ObjectId ${sandbox.endpoints.managedIdentity.servicePrincipalId}`);
  });

  it('fails with what to do when the signed-in account may not grant application permissions', async () => {
    setGraphRoles(sandbox.state, sandbox.state.managedIdentity.servicePrincipalId, []);
    const c = capture();
    const code = await main([], env(), { ...c.deps, credential: administrator(['Application.Read.All', 'Directory.Read.All']), runtime: fast });
    expect(code).toBe(1);
    const message = c.err.join('\n');
    expect(message).toContain('NOT DONE: Granting Application.ReadWrite.OwnedBy was refused (Graph 403 Authorization_RequestDenied');
    expect(message).toContain('Privileged Role Administrator or Global Administrator');
    expect(message).toContain(`npm run grant-graph-permissions -- --client-id ${sandbox.endpoints.managedIdentity.clientId}`);
    expect(message).toContain(
      'Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All, AuditLog.Read.All, Directory.Read.All, Policy.Read.All.',
    );
    expect(message).not.toContain(sandbox.endpoints.operator.clientSecret);
    expect(await identityTokenRoles()).toEqual([]);

    // Opted out, the command to hand on keeps the opt-outs and the list leaves their permissions out.
    const out = capture();
    expect(await main(['--no-evidence'], env(), { ...out.deps, credential: administrator(['Application.Read.All']), runtime: fast })).toBe(1);
    expect(out.err.join('\n')).toContain('--consent-strategy grant --no-evidence`');
    expect(out.err.join('\n')).toContain('Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All, Policy.Read.All.');
    const both = capture();
    expect(await main(['--no-evidence', '--no-policy-read'], env(), { ...both.deps, credential: administrator(['Application.Read.All']), runtime: fast })).toBe(1);
    expect(both.err.join('\n')).toContain('--consent-strategy grant --no-evidence --no-policy-read`');
    expect(both.err.join('\n')).toContain('Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All.');
  });

  it('waits for a new identity to replicate, then says to run it again', async () => {
    const slept: number[] = [];
    const c = capture();
    const missing = randomUUID();
    const runtime: GrantRuntime = { lookupAttempts: 3, retryDelayMs: 10_000, sleep: (ms) => (slept.push(ms), Promise.resolve()) };
    const code = await main(['--client-id', missing], env(), { ...c.deps, credential: administrator(admin), runtime });
    expect(code).toBe(1);
    expect(slept).toEqual([10_000, 10_000]);
    expect(c.err.join('\n')).toContain(`No service principal with client id ${missing} exists in tenant ${sandbox.endpoints.tenantId}`);
  });
});
