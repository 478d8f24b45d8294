/**
 * Post-provision step of partner mode (azd `hooks.postprovision`, after grant-graph-permissions, or
 * `npm run partner-operator` by hand). With `PARTNER_MODE=true` in the azd environment it creates, or
 * puts back, the multi-tenant operator application in the deploying (home) tenant:
 *
 * - upserted by its unique name (`fno-graph-mail--partner-operator`), `signInAudience`
 *   AzureADMultipleOrgs, requiring exactly the Microsoft Graph application permissions the consent
 *   strategy, the sign-in evidence and the policy pre-flight need (as grant-graph-permissions computes
 *   them for the identity: in a customer tenant the product acts, and reads its app management policies
 *   before adding a client secret, as the operator),
 *   the dashboard as its redirect URI, where a customer's administrator lands after consenting;
 * - with one credential only: a federated identity credential trusting the function app's user-assigned
 *   managed identity (issuer `{AUTHORITY_HOST}/{home tenant}/v2.0`, subject the identity's object id,
 *   audience `api://AzureADTokenExchange`, or the US Government or China one), no secret, no certificate
 *   (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity);
 *   any other credential found on it is removed and said so;
 *
 * then puts its client id into the azd environment (`OPERATOR_CLIENT_ID`, which the next provision
 * deploys) and into the function app's settings at once. Bicep's Microsoft Graph extension could declare
 * the application, but not remove a secret someone added to it, and the app setting needs its client id
 * after it exists: one script does both. The person running azd signs in (azd's or the Azure CLI's
 * sign-in) and needs Application Administrator or Cloud Application Administrator in the tenant, and
 * Contributor on the resource group for the app setting. Without PARTNER_MODE=true it does nothing.
 */
import { spawn } from 'node:child_process';
import { parseArgs as parseCommandLine } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { AzureCliCredential, AzureDeveloperCliCredential, ChainedTokenCredential } from '@azure/identity';
import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import { SETTINGS } from '../src/config';
import { federatedIssuer, tokenExchangeAudience } from '../src/contracts/cloud';
import { OPERATOR_UNIQUE_NAME } from '../src/contracts/names';
import { GRAPH_APP_ID } from '../src/contracts/wellKnown';
import { createGraphClient, requiredGraphPermissions, type ConsentStrategy, type GraphPermission } from './grant-graph-permissions';
import { checkSetting, nonEmpty, switchSetting, type Env } from './settingArgs';

/** Name of the operator's one credential. */
export const FEDERATED_CREDENTIAL_NAME = 'function-app-identity';
export const OPERATOR_DISPLAY_NAME = 'fno-graph-mail partner operator';
/** The app setting (and azd environment value) naming the operator. */
export const SETTING = 'OPERATOR_CLIENT_ID';

export interface PartnerOptions {
  /** The home tenant: where the identity and the operator live. */
  tenantId: string;
  /** Object (principal) id of the function app's user-assigned managed identity: the credential's subject. */
  principalId: string;
  authorityHost: string;
  graphBaseUrl: string;
  consentStrategy: ConsentStrategy;
  evidence: boolean;
  /** Require Policy.Read.All for the policy pre-flight (false: `--no-policy-read`, GRANT_POLICY_READ=false). */
  policyRead: boolean;
  /** `{SERVICE_API_URI}/api/dashboard`, when the function app exists. */
  redirectUri: string | undefined;
  /** OPERATOR_CLIENT_ID as the azd environment has it now. */
  currentClientId: string | undefined;
  /** The function app whose settings get OPERATOR_CLIENT_ID, when the azd environment names it. */
  functionApp: { subscriptionId: string; resourceGroup: string; name: string } | undefined;
  dryRun: boolean;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'off'; reason: string } | { kind: 'run'; options: PartnerOptions } | { kind: 'error'; message: string };

export const USAGE = `Usage: npm run partner-operator -- [options]

Partner mode (PARTNER_MODE=true in the azd environment): creates or puts back the multi-tenant operator
application whose only credential is a federated credential trusting the function app's managed
identity, and sets OPERATOR_CLIENT_ID. azd runs it after every provision; defaults come from the azd
environment (names in parentheses).

Options:
  --tenant-id <guid>          home tenant (AZURE_TENANT_ID)
  --principal-id <guid>       object id of the managed identity (MANAGED_IDENTITY_PRINCIPAL_ID)
  --consent-strategy <name>   grant | request (CONSENT_STRATEGY; default grant)
  --no-evidence               leave out AuditLog.Read.All and Directory.Read.All (GRANT_EVIDENCE=false)
  --no-policy-read            leave out Policy.Read.All, the policy pre-flight before a client secret is
                              added (GRANT_POLICY_READ=false)
  --dry-run                   print what it would do; sign in to nothing, change nothing
  -h, --help                  this text

Other values read: AUTHORITY_HOST, GRAPH_BASE_URL, SERVICE_API_URI, OPERATOR_CLIENT_ID,
AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_FUNCTION_APP_NAME.
Signing in: azd auth login (or az login) as an Application Administrator or Cloud Application Administrator.`;

/** Reads the command line, falling back to the azd environment; never throws. */
export function parseArgs(argv: readonly string[], env: Env): ParsedArgs {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        'tenant-id': { type: 'string' },
        'principal-id': { type: 'string' },
        'consent-strategy': { type: 'string' },
        'no-evidence': { type: 'boolean', default: false },
        'no-policy-read': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  if (values.help) return { kind: 'help' };
  // A typo must not silently turn partner mode off (or on): only true or false.
  const mode = nonEmpty(env.PARTNER_MODE)?.toLowerCase();
  if (mode !== undefined && mode !== 'true' && mode !== 'false') return { kind: 'error', message: `PARTNER_MODE must be true or false (got "${nonEmpty(env.PARTNER_MODE) ?? ''}")` };
  if (mode !== 'true') return { kind: 'off', reason: 'PARTNER_MODE is not true' };

  const problems: string[] = [];
  const guid = SETTINGS.ENTRA_TENANT_ID.schema;
  const tenantRaw = nonEmpty(values['tenant-id']) ?? nonEmpty(env.AZURE_TENANT_ID);
  const principalRaw = nonEmpty(values['principal-id']) ?? nonEmpty(env.MANAGED_IDENTITY_PRINCIPAL_ID);
  if (tenantRaw === undefined) problems.push('--tenant-id is missing: pass the home tenant id, or run this from a provisioned azd environment (AZURE_TENANT_ID)');
  if (principalRaw === undefined) {
    problems.push("--principal-id is missing: pass the managed identity's object id, or run this from a provisioned azd environment (MANAGED_IDENTITY_PRINCIPAL_ID)");
  }
  const tenantId = tenantRaw !== undefined ? checkSetting(guid, tenantRaw, '--tenant-id', problems) : undefined;
  // The subject is compared case-sensitively with the identity token's `sub`, which Entra writes in lower case.
  const principalId = principalRaw !== undefined ? checkSetting(guid, principalRaw, '--principal-id', problems) : undefined;
  const consentStrategy = checkSetting(
    SETTINGS.CONSENT_STRATEGY.schema,
    nonEmpty(values['consent-strategy']) ?? nonEmpty(env.CONSENT_STRATEGY) ?? SETTINGS.CONSENT_STRATEGY.default,
    '--consent-strategy',
    problems,
  );
  const authorityHost = checkSetting(SETTINGS.AUTHORITY_HOST.schema, nonEmpty(env.AUTHORITY_HOST) ?? SETTINGS.AUTHORITY_HOST.default, 'AUTHORITY_HOST', problems);
  const graphBaseUrl = checkSetting(SETTINGS.GRAPH_BASE_URL.schema, nonEmpty(env.GRAPH_BASE_URL) ?? SETTINGS.GRAPH_BASE_URL.default, 'GRAPH_BASE_URL', problems);
  const grantEvidence = switchSetting(env, 'GRANT_EVIDENCE', problems);
  const grantPolicyRead = switchSetting(env, 'GRANT_POLICY_READ', problems);
  const apiRaw = nonEmpty(env.SERVICE_API_URI);
  const api = apiRaw !== undefined ? checkSetting(SETTINGS.GRAPH_BASE_URL.schema, apiRaw, 'SERVICE_API_URI', problems) : undefined;
  const currentRaw = nonEmpty(env[SETTING]);
  const currentClientId = currentRaw !== undefined ? checkSetting(guid, currentRaw, SETTING, problems) : undefined;
  const subscriptionId = nonEmpty(env.AZURE_SUBSCRIPTION_ID);
  const resourceGroup = nonEmpty(env.AZURE_RESOURCE_GROUP);
  const functionAppName = nonEmpty(env.AZURE_FUNCTION_APP_NAME);
  if (problems.length > 0 || !tenantId || !principalId || !consentStrategy || !authorityHost || !graphBaseUrl) return { kind: 'error', message: problems.join('; ') };
  return {
    kind: 'run',
    options: {
      tenantId,
      principalId,
      authorityHost,
      graphBaseUrl,
      consentStrategy,
      evidence: !values['no-evidence'] && grantEvidence !== false,
      policyRead: !values['no-policy-read'] && grantPolicyRead !== false,
      redirectUri: api ? `${api}/api/dashboard` : undefined,
      currentClientId,
      functionApp: subscriptionId && resourceGroup && functionAppName ? { subscriptionId, resourceGroup, name: functionAppName } : undefined,
      dryRun: values['dry-run'],
    },
  };
}

/** The permissions the operator requires: those the identity gets in the home tenant (grant-graph-permissions), Mail.Send never. */
export function operatorPermissions(options: Pick<PartnerOptions, 'consentStrategy' | 'evidence' | 'policyRead'>): GraphPermission[] {
  return requiredGraphPermissions(options.consentStrategy, { evidence: options.evidence, policyRead: options.policyRead });
}

/** What the operator's one credential trusts. */
export function federatedCredentialFor(options: Pick<PartnerOptions, 'authorityHost' | 'tenantId' | 'principalId'>): { name: string; issuer: string; subject: string; audiences: string[]; description: string } {
  return {
    name: FEDERATED_CREDENTIAL_NAME,
    issuer: federatedIssuer(options.authorityHost, options.tenantId),
    subject: options.principalId,
    audiences: [tokenExchangeAudience(options.authorityHost)],
    description: "The function app's user-assigned managed identity: the operator's only credential.",
  };
}

// ---- Graph ------------------------------------------------------------------------------------------------

const wireApp = z.object({
  id: z.string(),
  appId: z.string(),
  passwordCredentials: z.array(z.object({ keyId: z.string(), displayName: z.string().nullish() })).nullish(),
  keyCredentials: z.array(z.object({ keyId: z.string() })).nullish(),
});
const wireFics = z.object({ value: z.array(z.object({ id: z.string(), name: z.string(), issuer: z.string(), subject: z.string(), audiences: z.array(z.string()) })) });
const wireGraph = z.object({ id: z.string(), appRoles: z.array(z.object({ id: z.string(), value: z.string().nullish(), isEnabled: z.boolean().nullish() })).nullish() });

/** A failure the person running the script can act on; its message says what to do. */
export class PartnerError extends Error {
  override name = 'PartnerError';
}

export interface OperatorReport {
  objectId: string;
  appId: string;
  created: boolean;
  permissions: GraphPermission[];
  credential: ReturnType<typeof federatedCredentialFor>;
  /** Credentials found on the operator besides its one federated credential, removed. */
  removed: string[];
}

function explain(e: unknown, doing: string): PartnerError {
  const o = e as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof o.statusCode === 'number' && o.statusCode > 0) {
    const reference = `(Graph ${o.statusCode}${typeof o.code === 'string' ? ` ${o.code}` : ''}: ${typeof o.message === 'string' ? o.message : ''})`;
    if (o.statusCode === 401 || o.statusCode === 403) {
      return new PartnerError(
        `${doing} was refused ${reference}. The signed-in account may not create or change applications: that takes Application Administrator or Cloud Application Administrator in the tenant. Ask one to run \`npm run partner-operator\` from this azd environment.`,
      );
    }
    return new PartnerError(`${doing} failed ${reference}. Run \`npm run partner-operator\` again.`);
  }
  const name = e instanceof Error ? ((o.code as string | undefined) ?? e.name) : '';
  if (name === 'CredentialUnavailableError' || name === 'AuthenticationRequiredError' || name === 'AggregateAuthenticationError') {
    return new PartnerError(`${doing}: nobody is signed in (${e instanceof Error ? e.message : String(e)}). Run \`azd auth login\` (or \`az login\`), then \`npm run partner-operator\`.`);
  }
  return new PartnerError(`${doing} failed: ${e instanceof Error ? e.message : String(e)}`);
}

async function step<T>(doing: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw e instanceof PartnerError ? e : explain(e, doing);
  }
}

/** Creates or puts back the operator application; safe to run any number of times. */
export async function ensureOperator(client: Client, options: PartnerOptions): Promise<OperatorReport> {
  const permissions = operatorPermissions(options);
  const graph = await step("Reading Microsoft Graph's service principal", async () =>
    wireGraph.parse(await client.api(`/servicePrincipals(appId='${GRAPH_APP_ID}')`).select(['id', 'appRoles']).get()),
  );
  const roleIds = new Map((graph.appRoles ?? []).filter((r) => r.value && r.isEnabled !== false).map((r) => [r.value as string, r.id]));
  const resourceAccess = permissions.map((p) => {
    const id = roleIds.get(p);
    if (!id) throw new PartnerError(`Microsoft Graph in this tenant offers no application permission named ${p}.`);
    return { id, type: 'Role' };
  });

  // Upsert by unique name (https://learn.microsoft.com/graph/api/application-upsert): 201 created, 204 updated.
  const path = `/applications(uniqueName='${OPERATOR_UNIQUE_NAME}')`;
  const upsert = await step('Creating or updating the operator application', async (): Promise<number> => {
    const response = (await client
      .api(path)
      .header('Prefer', 'create-if-missing')
      .responseType(ResponseType.RAW)
      .patch({
        displayName: OPERATOR_DISPLAY_NAME,
        signInAudience: 'AzureADMultipleOrgs',
        requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess }],
        notes: 'fno-graph-mail partner mode: acts in customer tenants that consented to it. Its only credential is a federated credential trusting the function app managed identity; never add a secret.',
        ...(options.redirectUri ? { web: { redirectUris: [options.redirectUri] } } : {}),
      })) as Response;
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw Object.assign(new Error(body.error?.message ?? `HTTP ${response.status}`), { statusCode: response.status, code: body.error?.code ?? null });
    }
    await response.body?.cancel();
    return response.status;
  });
  const app = await step('Reading the operator application', async () => wireApp.parse(await client.api(path).select(['id', 'appId', 'passwordCredentials', 'keyCredentials']).get()));

  const removed: string[] = [];
  const certificates = app.keyCredentials ?? [];
  if (certificates.length > 0) {
    throw new PartnerError(
      `The operator application ${app.appId} holds certificate(s) ${certificates.map((c) => c.keyId).join(', ')}: partner mode gives it no credential but its federated one. Remove them (App registrations > ${OPERATOR_DISPLAY_NAME} > Certificates & secrets), then run this again.`,
    );
  }
  for (const password of app.passwordCredentials ?? []) {
    await step(`Removing client secret ${password.keyId} from the operator application`, () => client.api(`/applications/${app.id}/removePassword`).post({ keyId: password.keyId }));
    removed.push(`client secret ${password.keyId}${password.displayName ? ` (${password.displayName})` : ''}`);
  }

  const credential = federatedCredentialFor(options);
  const fics = await step("Reading the operator's federated credentials", async () => wireFics.parse(await client.api(`/applications/${app.id}/federatedIdentityCredentials`).get()));
  for (const other of fics.value.filter((f) => f.name !== credential.name)) {
    await step(`Removing federated credential ${other.name}`, () => client.api(`/applications/${app.id}/federatedIdentityCredentials/${other.id}`).delete());
    removed.push(`federated credential ${other.name} (issuer ${other.issuer}, subject ${other.subject})`);
  }
  const mine = fics.value.find((f) => f.name === credential.name);
  const same = mine && mine.issuer === credential.issuer && mine.subject === credential.subject && mine.audiences.join() === credential.audiences.join();
  if (!same) {
    // Upsert by name (https://learn.microsoft.com/graph/api/federatedidentitycredential-upsert).
    await step("Writing the operator's federated credential", () =>
      client.api(`/applications/${app.id}/federatedIdentityCredentials(name='${credential.name}')`).header('Prefer', 'create-if-missing').patch(credential),
    );
  }
  return { objectId: app.id, appId: app.appId, created: upsert === 201, permissions, credential, removed };
}

// ---- OPERATOR_CLIENT_ID ---------------------------------------------------------------------------------

/** Azure Resource Manager of the cloud the authority host belongs to (https://learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure). */
export function resourceManagerFor(authorityHost: string): string {
  const host = new URL(authorityHost).hostname.toLowerCase();
  if (host === 'login.microsoftonline.us') return 'https://management.usgovcloudapi.net';
  if (host === 'login.partner.microsoftonline.cn' || host === 'login.chinacloudapi.cn') return 'https://management.chinacloudapi.cn';
  return 'https://management.azure.com';
}

/**
 * Sets one app setting of the function app through Resource Manager: read every setting, then write them
 * all back with this one changed (the API replaces the whole set): `POST …/config/appsettings/list` and
 * `PUT …/config/appsettings` (https://learn.microsoft.com/rest/api/appservice/web-apps/list-application-settings,
 * https://learn.microsoft.com/rest/api/appservice/web-apps/update-application-settings).
 */
export async function setFunctionAppSetting(
  credential: TokenCredential,
  armUrl: string,
  app: NonNullable<PartnerOptions['functionApp']>,
  name: string,
  value: string,
): Promise<'updated' | 'unchanged'> {
  const token = await credential.getToken(`${armUrl}/.default`);
  if (!token) throw new Error('no Resource Manager token');
  const base = `${armUrl}/subscriptions/${encodeURIComponent(app.subscriptionId)}/resourceGroups/${encodeURIComponent(app.resourceGroup)}/providers/Microsoft.Web/sites/${encodeURIComponent(app.name)}/config/appsettings`;
  const headers = { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' };
  const listed = await fetch(`${base}/list?api-version=2024-04-01`, { method: 'POST', headers });
  if (!listed.ok) throw new Error(`reading the app settings answered ${listed.status}`);
  const current = z.object({ properties: z.record(z.string(), z.string()) }).parse(await listed.json()).properties;
  if (current[name] === value) return 'unchanged';
  const written = await fetch(`${base}?api-version=2024-04-01`, { method: 'PUT', headers, body: JSON.stringify({ properties: { ...current, [name]: value } }) });
  if (!written.ok) throw new Error(`writing the app settings answered ${written.status}`);
  return 'updated';
}

// ---- main ---------------------------------------------------------------------------------------------------

export interface MainDeps {
  /** Default: azd's sign-in, then the Azure CLI's. */
  credential?: TokenCredential;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Runs `azd <args>`; resolves with its exit code. */
  azd?: (args: string[]) => Promise<number>;
  /** Sets the function app's setting; default through Resource Manager. */
  setAppSetting?: (app: NonNullable<PartnerOptions['functionApp']>, name: string, value: string) => Promise<'updated' | 'unchanged'>;
}

function runAzd(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('azd', args, { stdio: 'inherit' });
    child.once('error', () => resolve(127));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Runs the command; resolves to the process exit code (0 done or nothing to do, 1 failed, 2 bad arguments). */
export async function main(argv: readonly string[], env: Env, deps: MainDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => console.log(line));
  const err = deps.err ?? ((line: string) => console.error(line));
  const parsed = parseArgs(argv, env);
  if (parsed.kind === 'help') {
    out(USAGE);
    return 0;
  }
  if (parsed.kind === 'off') {
    out(`Partner mode is off (${parsed.reason}): no operator application; the function app works in its home tenant only.`);
    return 0;
  }
  if (parsed.kind === 'error') {
    err(`partner-operator: ${parsed.message}`);
    err('');
    err(USAGE);
    return 2;
  }
  const { options } = parsed;
  const credential = federatedCredentialFor(options);
  const permissions = operatorPermissions(options);
  out(`Partner mode: the operator application ${OPERATOR_UNIQUE_NAME} (multi-tenant, in tenant ${options.tenantId}):`);
  out(`  requires    ${permissions.join(', ')} (Microsoft Graph application permissions: what a customer's administrator consents to)`);
  out(`  credential  one federated credential: issuer ${credential.issuer}, subject ${credential.subject}, audience ${credential.audiences.join(', ')}`);
  out('              no secret and no certificate: the function app signs in as it with its managed identity\'s token');
  if (options.redirectUri) out(`  redirect    ${options.redirectUri} (where an administrator lands after consenting)`);
  if (options.dryRun) {
    out('  (dry run: nothing was read or changed)');
    return 0;
  }

  const signedIn =
    deps.credential ??
    new ChainedTokenCredential(new AzureDeveloperCliCredential({ tenantId: options.tenantId }), new AzureCliCredential({ tenantId: options.tenantId }));
  let report: OperatorReport;
  try {
    report = await ensureOperator(createGraphClient(signedIn, options.graphBaseUrl), options);
  } catch (e) {
    err(`  NOT DONE: ${(e instanceof PartnerError ? e : explain(e, 'Creating the operator application')).message}`);
    err('  Until then partner mode cannot reach customer tenants; the home tenant works as before.');
    return 1;
  }
  out(`  ${report.created ? 'created' : 'up to date'}  client id ${report.appId} (object id ${report.objectId})`);
  for (const what of report.removed) out(`  removed     ${what}: partner mode allows the operator no other credential`);

  let code = 0;
  if (options.currentClientId !== report.appId) {
    const set = await (deps.azd ?? runAzd)(['env', 'set', SETTING, report.appId]);
    if (set === 0) out(`  azd env     ${SETTING}=${report.appId} (the next provision deploys it)`);
    else {
      err(`  NOT DONE: azd env set ${SETTING} ${report.appId} failed (exit code ${set}): set it yourself, then run azd provision.`);
      code = 1;
    }
  }
  if (options.functionApp) {
    const setAppSetting = deps.setAppSetting ?? ((app, name, value) => setFunctionAppSetting(signedIn, resourceManagerFor(options.authorityHost), app, name, value));
    try {
      const result = await setAppSetting(options.functionApp, SETTING, report.appId);
      out(`  app setting ${SETTING} of ${options.functionApp.name}: ${result}`);
    } catch (e) {
      err(`  NOT DONE: setting ${SETTING} on ${options.functionApp.name} failed (${e instanceof Error ? e.message : String(e)}); \`azd provision\` deploys it from the azd environment.`);
      code = 1;
    }
  } else {
    out(`  The function app is not provisioned yet: ${SETTING} reaches it with the next \`azd provision\`.`);
  }
  out('');
  out('Onboard a customer tenant: POST /api/tenants/{tenantId}/onboard (docs/http-api.md). The run publishes the operator\'s admin-consent');
  out("URL for that tenant; an administrator there opens it and consents once. The operator needs nothing else: no secret exists anywhere.");
  return code;
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
