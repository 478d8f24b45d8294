/**
 * `npm run adopt-apps`, the way back after `azd down` then `azd up`: the new managed identity owns none of the
 * environments' app registrations, so the product refuses them (ForeignApplication). Its command line offline,
 * its compiled entry point, and the adoption against the sandbox's Graph, where the person running it is an app
 * holding an Application Administrator's rights and the product's own activities (signed in as the function
 * app's identity) say before and after whether they accept each app. What a user sees: a dry run that changes
 * nothing, the identity added as owner (and the earlier owners removed on request) so setup and rotation carry
 * on, no credential touched (F&O keeps sending), a rerun that changes nothing, and a refusal that says what to do.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { main, parseArgs, USAGE } from '../../scripts/adopt-apps';
import { applicationMarkerTag, secretNameFor, uniqueNameFor } from '../../src/contracts/names';
import { setGraphRoles } from '../../sandbox/seed';
import type { ApplicationRecord } from '../../sandbox/types';
import { compiledProject } from '../helpers/compiledProject';
import { runSetup, setupInputs, startActivityHarness, type ActivityHarness, type SetupOptions } from '../activities/harness';

const root = join(__dirname, '..', '..');
const PRINCIPAL = '0f3c2a4e-1b5d-4c6e-8f90-a1b2c3d4e5f6';
const TENANT = '11111111-2222-3333-4444-555555555555';

/** A credential that fails the test if anything asks it for a token. */
const noSignIn: TokenCredential = {
  getToken(): Promise<AccessToken> {
    throw new Error('asked for a token');
  },
};

function capture(): { out: string[]; err: string[]; deps: { out: (l: string) => void; err: (l: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, deps: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('command line', () => {
  it('takes the new identity, tenant and Graph from the azd environment', () => {
    expect(parseArgs([], { MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL.toUpperCase(), AZURE_TENANT_ID: TENANT })).toEqual({
      kind: 'run',
      options: { principalId: PRINCIPAL, tenantId: TENANT, graphBaseUrl: 'https://graph.microsoft.com', environments: [], removeOldOwners: false, dryRun: false },
    });
    const parsed = parseArgs(['--principal-id', PRINCIPAL, '--environment', 'contoso-uat', '--environment', 'contoso-prod', '--remove-old-owner', '--dry-run', '--graph-url', 'https://graph.microsoft.us/'], {
      MANAGED_IDENTITY_PRINCIPAL_ID: randomUUID(),
    });
    expect(parsed).toMatchObject({
      kind: 'run',
      options: { principalId: PRINCIPAL, environments: ['contoso-uat', 'contoso-prod'], removeOldOwners: true, dryRun: true, graphBaseUrl: 'https://graph.microsoft.us' },
    });
  });

  it('rejects what it cannot use, naming the option', () => {
    const problem = (argv: string[], env: Record<string, string> = { MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL }): string => {
      const parsed = parseArgs(argv, env);
      return parsed.kind === 'error' ? parsed.message : `accepted: ${parsed.kind}`;
    };
    expect(problem([], {})).toMatch(/^--principal-id is missing: .*MANAGED_IDENTITY_PRINCIPAL_ID/);
    expect(problem(['--principal-id', 'id-fno-abc'])).toBe('--principal-id must be a GUID (got "id-fno-abc")');
    expect(problem(['--environment', 'Contoso UAT'])).toBe('--environment "Contoso UAT" is not an environment id');
    expect(problem(['--graph-url', 'http://graph.microsoft.com'])).toMatch(/^--graph-url must use https/);
    expect(problem(['--remove-old-owners'])).toMatch(/Unknown option '--remove-old-owners'/);
  });

  it('prints usage for --help, and the problem with the usage on bad arguments, before signing in', async () => {
    const help = capture();
    expect(await main(['--help'], {}, { ...help.deps, credential: noSignIn })).toBe(0);
    expect(help.out.join('\n')).toBe(USAGE);
    const bad = capture();
    expect(await main([], {}, { ...bad.deps, credential: noSignIn })).toBe(2);
    expect(bad.err[0]).toMatch(/^adopt-apps: --principal-id is missing/);
    expect(bad.err.join('\n')).toContain(USAGE);
    expect(bad.out).toEqual([]);
  });

  it('runs the same way from its compiled entry point (what `npm run adopt-apps` executes)', async () => {
    const entry = join(await compiledProject(), 'scripts', 'adopt-apps.js');
    const env = { PATH: process.env.PATH ?? '', NODE_PATH: join(root, 'node_modules') };
    const help = spawnSync(process.execPath, [entry, '--help'], { env, encoding: 'utf8' });
    expect([help.status, help.stdout.trim()]).toEqual([0, USAGE]);
    const bad = spawnSync(process.execPath, [entry, '--environment', 'x y'], { env: { ...env, MANAGED_IDENTITY_PRINCIPAL_ID: PRINCIPAL }, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--environment "x y" is not an environment id');
  });
});

describe('after azd down then azd up, against the sandbox', () => {
  let h: ActivityHarness;
  /** The identity of the earlier deployment, where it still exists (another deployment's, say). */
  let oldIdentity: string;
  const GONE = randomUUID();

  beforeAll(async () => {
    h = await startActivityHarness({ environmentIds: ['recorded', 'fresh', 'gone'] });
  });

  afterAll(async () => {
    await h.stop();
  });

  async function optionsFor(environmentId: string): Promise<SetupOptions> {
    return { environmentId, environmentUrl: h.environmentUrl(environmentId), tenantId: h.sandbox.endpoints.tenantId, requestedAt: await h.now(), operationId: randomUUID() };
  }

  function appOf(environmentId: string): ApplicationRecord {
    const app = h.sandbox.state.applications.find((a) => a.uniqueName === uniqueNameFor(environmentId));
    if (!app) throw new Error(`no app for ${environmentId}`);
    return app;
  }

  /** The person running the script: an app with an Application Administrator's rights, or less. */
  function administrator(roles: string[]): TokenCredential {
    setGraphRoles(h.sandbox.state, h.sandbox.state.operator.servicePrincipalId, roles);
    return h.sandbox.operatorCredential();
  }
  const admin = ['Application.ReadWrite.All', 'Directory.Read.All'];

  function env(): Record<string, string> {
    const { endpoints } = h.sandbox;
    return { MANAGED_IDENTITY_PRINCIPAL_ID: endpoints.managedIdentity.servicePrincipalId, AZURE_TENANT_ID: endpoints.tenantId, GRAPH_BASE_URL: endpoints.graphUrl };
  }

  /** What setup's first step says about the environment's app now: accepted, or the refusal's reason. */
  async function setupSays(environmentId: string): Promise<string> {
    try {
      const out = await h.run('registerApplication', setupInputs.register(await optionsFor(environmentId)));
      return `accepted (${out.outcome})`;
    } catch (e) {
      return `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`;
    }
  }

  it('is refused by the product before: the new identity owns none of the earlier apps', async () => {
    // The earlier deployment: one environment set up completely (its vault records the app, F&O holds the secret),
    // one whose app exists but whose setup never stored a secret.
    await runSetup(h, await optionsFor('recorded'));
    for (const id of ['fresh', 'gone']) await h.run('registerApplication', setupInputs.register(await optionsFor(id)));
    // azd down deletes the identity that created them; azd up makes a new one (here the sandbox's identity, so the
    // apps are handed to the earlier one: still present for two of them, deleted for the third).
    const old = { id: randomUUID(), appId: randomUUID(), displayName: 'id-fno-earlier', servicePrincipalType: 'ManagedIdentity' as const };
    h.sandbox.state.home.servicePrincipals.push({ ...old, appRoles: [], oauth2PermissionScopes: [], createdDateTime: h.sandbox.state.nowIso(), visibleFrom: 0 });
    oldIdentity = old.id;
    appOf('recorded').owners = [oldIdentity];
    appOf('fresh').owners = [oldIdentity];
    appOf('gone').owners = [GONE];
    for (const id of ['recorded', 'fresh', 'gone']) {
      expect(await setupSays(id)).toMatch(/^ForeignApplication: .*the product's identity is not among its owners/);
    }
    // An app someone else registered under a tag, and an unrelated app: listed and skipped, or ignored.
    await h.sandbox.control('/applications', { body: { uniqueName: 'someones-app', tags: [applicationMarkerTag('fresh')] } });
    await h.sandbox.control('/applications', { body: { uniqueName: 'payroll-sync' } });
  });

  it('dry run: shows each app, its owners and what would change, and changes nothing', async () => {
    const before = JSON.stringify(h.sandbox.state.applications.map((a) => a.owners));
    const c = capture();
    expect(await main(['--dry-run', '--remove-old-owner'], env(), { ...c.deps, credential: administrator(admin) })).toBe(0);
    expect(c.err).toEqual([]);
    const text = c.out.join('\n');
    expect(c.out[0]).toBe(
      `App registrations of fno-graph-mail, for func-fno-graph-mail (object id ${h.sandbox.endpoints.managedIdentity.servicePrincipalId}, client id ` +
        `${h.sandbox.endpoints.managedIdentity.clientId}) (dry run: nothing is changed):`,
    );
    expect(c.out.filter((l) => /^ {2}[a-z]+: app /.test(l)).map((l) => l.split(':')[0]?.trim())).toEqual(['fresh', 'gone', 'recorded']);
    expect(text).toContain(`owners before: id-fno-earlier (ManagedIdentity, object ${oldIdentity})`);
    expect(text).toContain('owners before: none (the earlier identity was deleted with its deployment)');
    expect(c.out.filter((l) => l === '    would add the identity as owner')).toHaveLength(3);
    expect(c.out.filter((l) => l === `    would remove owner id-fno-earlier (ManagedIdentity, object ${oldIdentity})`)).toHaveLength(2);
    expect(text).toMatch(/skipped app .*someones-app\): tagged for fresh but its uniqueName is someones-app, not fno-graph-mail-fresh: setup refuses it whoever owns it/);
    // An app under the product's prefix without its tag (the sandbox's operator app) is not an environment app.
    expect(text).toMatch(/skipped app .*: named fno-graph-mail-operator but without the tag fno-graph-mail:environment:operator every environment app of the product carries/);
    expect(text).not.toContain('payroll-sync');
    expect(text).toContain('3 app registrations: the identity would be added to 3, 2 other owners would be removed, 0 already owned; 2 skipped.');
    expect(JSON.stringify(h.sandbox.state.applications.map((a) => a.owners))).toBe(before);
  });

  it('refuses with what to do when the signed-in account may not change owners', async () => {
    const c = capture();
    expect(await main([], env(), { ...c.deps, credential: administrator(['Application.Read.All']) })).toBe(1);
    const message = c.err.join('\n');
    expect(message).toMatch(/NOT DONE: Adding the identity as owner of .* \(fresh\) was refused \(Graph 403 Authorization_RequestDenied/);
    expect(message).toContain('Application Administrator, Cloud Application Administrator or Global Administrator');
    expect(message).toContain(`By hand: az ad app owner add --id ${appOf('fresh').appId} --owner-object-id ${h.sandbox.endpoints.managedIdentity.servicePrincipalId}.`);
    expect(message).not.toContain(h.sandbox.endpoints.operator.clientSecret);
    expect(appOf('fresh').owners).toEqual([oldIdentity]);
  });

  it('adds the identity as owner: the recorded app works again with its secret untouched; adoption still wants the identity alone', async () => {
    const secretsBefore = ['recorded', 'fresh', 'gone'].map((id) => appOf(id).passwordCredentials.map((p) => p.keyId));
    const finOpsBefore = (await h.state()).finops['recorded']?.graphCredential;
    const c = capture();
    expect(await main([], env(), { ...c.deps, credential: administrator(admin) })).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out.filter((l) => l === '    added the identity as owner')).toHaveLength(3);
    expect(c.out.join('\n')).toContain('note: other owners remain (id-fno-earlier): fine while a recovered vault records the app');
    expect(c.out).toContain('F&O is not affected: no credential was added or removed, and the secret each environment holds stays valid until it expires.');
    const mi = h.sandbox.endpoints.managedIdentity.servicePrincipalId;
    expect(appOf('recorded').owners).toEqual([oldIdentity, mi]);

    // The vault records this app (the recovered vault): other owners are allowed, nothing is removed.
    expect(await setupSays('recorded')).toBe('accepted (unchanged)');
    // No record (a new vault): adopted only when the identity is the only owner; the deleted identity no longer counts.
    expect(await setupSays('fresh')).toMatch(/^ForeignApplication: .*it has other owners \(/);
    expect(await setupSays('gone')).toBe('accepted (unchanged)');
    // Not a credential was touched: F&O still holds, and may use, the secret it had.
    expect(['recorded', 'fresh', 'gone'].map((id) => appOf(id).passwordCredentials.map((p) => p.keyId))).toEqual(secretsBefore);
    expect((await h.state()).finops['recorded']?.graphCredential).toEqual(finOpsBefore);
  });

  it('with --remove-old-owner leaves the identity the only owner, so a setup into a new vault adopts the app; a rerun changes nothing', async () => {
    const c = capture();
    expect(await main(['--remove-old-owner', '--environment', 'fresh'], env(), { ...c.deps, credential: administrator(admin) })).toBe(0);
    expect(c.out.filter((l) => /^ {2}[a-z]+: app /.test(l))).toHaveLength(1);
    expect(c.out).toContain('    the identity already owns it');
    expect(c.out).toContain(`    removed owner id-fno-earlier (ManagedIdentity, object ${oldIdentity})`);
    expect(appOf('fresh').owners).toEqual([h.sandbox.endpoints.managedIdentity.servicePrincipalId]);
    expect(appOf('recorded').owners).toHaveLength(2);
    expect(await setupSays('fresh')).toBe('accepted (unchanged)');

    const again = capture();
    const writes = h.sandbox.state.applications.map((a) => [...a.owners]);
    expect(await main(['--remove-old-owner', '--environment', 'fresh'], env(), { ...again.deps, credential: administrator(admin) })).toBe(0);
    expect(again.out).toContain('    the identity already owns it');
    expect(again.out.some((l) => l.includes('removed owner'))).toBe(false);
    expect(h.sandbox.state.applications.map((a) => a.owners)).toEqual(writes);
  });

  it("with a new vault instead, the setup that adopts the app first removes the earlier secrets: F&O's stops working until the new one arrives", async () => {
    expect(await main(['--remove-old-owner', '--environment', 'recorded'], env(), { ...capture().deps, credential: administrator(admin) })).toBe(0);
    const inFinOps = (await h.state()).finops['recorded']?.graphCredential.keyId;
    expect(appOf('recorded').passwordCredentials.map((p) => p.keyId)).toEqual([inFinOps]);
    // The new deployment's vault has no record of the environment.
    const poller = await h.sandbox.secretClient(h.credential).beginDeleteSecret(secretNameFor('recorded'), { intervalInMs: 10 });
    await poller.pollUntilDone();
    expect(await setupSays('recorded')).toBe('accepted (unchanged)');
    // Recorded nowhere, the earlier secret is removed before anything else: the one F&O holds no longer signs in.
    expect(appOf('recorded').passwordCredentials).toEqual([]);
    expect(h.lines).toContainEqual({ level: 'warn', message: expect.stringContaining(`removed unrecorded credential ${inFinOps ?? ''}`) });
  });
});
