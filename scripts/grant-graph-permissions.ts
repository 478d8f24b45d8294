/**
 * Post-provision step (azd `hooks.postprovision`, or `npm run grant-graph-permissions` by hand): gives the
 * function app's managed identity the Microsoft Graph application permissions its consent strategy needs
 * and, unless told not to, those that read Entra's sign-in log (the evidence that F&O uses each
 * credential) and the tenant's app management policies (the pre-flight before a client secret is added),
 * says what it did, and explains the Finance and Operations side, which no Azure deployment can do.
 *
 * Graph application permissions are app role assignments on Microsoft Graph's service principal, not
 * Azure roles, so Bicep cannot grant them. The person running azd signs in (azd's or the Azure CLI's
 * sign-in) and needs Privileged Role Administrator or Global Administrator in the tenant. azd hands the
 * hook its environment's values as environment variables, so `azd env set GRANT_EVIDENCE false` reaches
 * this script without passing through the Bicep (GRANT_POLICY_READ likewise).
 */
import { parseArgs as parseCommandLine } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { AzureCliCredential, AzureDeveloperCliCredential, ChainedTokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { z } from 'zod';
import { SETTINGS } from '../src/config';
import { FINOPS_EXTENSION_MODEL, FINOPS_EXTENSION_SECURITY } from '../src/contracts/finopsExtension';
import { GRAPH_APP_ID } from '../src/contracts/wellKnown';
import { SECOND_PROVISION_VARIABLE } from './enable-secret-expiry-events';
import { checkSetting, nonEmpty, switchSetting, type Env } from './settingArgs';

export type ConsentStrategy = 'grant' | 'request';
export type { DeliveryStrategy } from '../src/contracts/operations';
import type { DeliveryStrategy } from '../src/contracts/operations';

/** The Graph application permissions the consent strategies need (`request` only the first). */
const CONSENT_GRAPH_PERMISSIONS = ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All'] as const;

/**
 * Reading Entra's service principal sign-in log (`GET /beta/auditLogs/signIns`), the evidence that F&O
 * signs in with each credential, takes both: "AuditLog.Read.All and Directory.Read.All", a documented
 * known issue (https://learn.microsoft.com/graph/api/signin-list?view=graph-rest-beta). The tenant also
 * needs a Microsoft Entra ID P1 or P2 licence, or Graph keeps no sign-in log to read
 * (https://learn.microsoft.com/entra/identity/monitoring-health/howto-analyze-activity-logs-with-microsoft-graph).
 * Granted unless `--no-evidence` (GRANT_EVIDENCE=false).
 */
export const EVIDENCE_GRAPH_PERMISSIONS = ['AuditLog.Read.All', 'Directory.Read.All'] as const;

/**
 * The policy pre-flight before a client secret is added (src/activities/createClientSecret.ts) reads the
 * tenant's default app management policy and the app's own: a `passwordLifetime` cap shortens the secret,
 * a `passwordAddition` ban fails the step before any write. Both reads take the application permission
 * Policy.Read.All (https://learn.microsoft.com/graph/api/tenantappmanagementpolicy-get,
 * https://learn.microsoft.com/graph/api/application-list-appmanagementpolicies). Without it the step says
 * the pre-flight was skipped and a policy's refusal shows only when `addPassword` is refused.
 * Granted unless `--no-policy-read` (GRANT_POLICY_READ=false).
 */
export const POLICY_GRAPH_PERMISSIONS = ['Policy.Read.All'] as const;

/**
 * The Graph application permissions of the consent strategies, of the sign-in evidence and of the policy
 * pre-flight. Only these are ever removed (`--revoke-unneeded`); any other permission of the identity is
 * left alone.
 */
export const PRODUCT_GRAPH_PERMISSIONS = [...CONSENT_GRAPH_PERMISSIONS, ...EVIDENCE_GRAPH_PERMISSIONS, ...POLICY_GRAPH_PERMISSIONS] as const;
export type ProductGraphPermission = (typeof PRODUCT_GRAPH_PERMISSIONS)[number];
type EvidenceGraphPermission = (typeof EVIDENCE_GRAPH_PERMISSIONS)[number];
type PolicyGraphPermission = (typeof POLICY_GRAPH_PERMISSIONS)[number];

function isEvidencePermission(permission: GraphPermission): permission is EvidenceGraphPermission {
  return (EVIDENCE_GRAPH_PERMISSIONS as readonly string[]).includes(permission);
}

function isPolicyPermission(permission: GraphPermission): permission is PolicyGraphPermission {
  return (POLICY_GRAPH_PERMISSIONS as readonly string[]).includes(permission);
}
/**
 * `Mail.Send` lets the identity send as any mailbox of the tenant, so it is granted only on request
 * (`--grant-mail-send`) and never removed: Exchange RBAC for Applications scoped to SENDER_MAILBOX is the
 * narrower way to allow alert mail.
 */
export type GraphPermission = ProductGraphPermission | 'Mail.Send';

/** What each permission is for, as the output explains it. */
const PERMISSION_PURPOSE: Record<GraphPermission, string> = {
  'Application.ReadWrite.OwnedBy': 'create the environment apps and manage their secrets, only apps it owns',
  'AppRoleAssignment.ReadWrite.All': 'consent strategy grant: assign Mail.Send to each environment app',
  'DelegatedPermissionGrant.ReadWrite.All': 'consent strategy grant: the tenant-wide User.Read grant',
  'AuditLog.Read.All': 'read the sign-in log to prove F&O uses each credential',
  'Directory.Read.All': 'read the sign-in log to prove F&O uses each credential (Graph requires it besides AuditLog.Read.All; it lets the identity read the whole directory)',
  'Policy.Read.All':
    "policy pre-flight: read the tenant's app management policies before adding a client secret, so a lifetime cap shortens it and a ban fails before any write (it lets the identity read all the tenant's policies)",
  'Mail.Send': 'alert and action-needed mail from SENDER_MAILBOX (tenant-wide: any mailbox)',
};

/**
 * The permissions one consent strategy needs (`request` leaves consent to an administrator), the sign-in
 * evidence ones unless `evidence: false`, the policy pre-flight's unless `policyRead: false`, and
 * Mail.Send when asked.
 */
export function requiredGraphPermissions(
  strategy: ConsentStrategy,
  extras: { evidence?: boolean; policyRead?: boolean; mailSend?: boolean } = {},
): GraphPermission[] {
  const consent: GraphPermission[] = strategy === 'grant' ? [...CONSENT_GRAPH_PERMISSIONS] : ['Application.ReadWrite.OwnedBy'];
  return [
    ...consent,
    ...(extras.evidence === false ? [] : EVIDENCE_GRAPH_PERMISSIONS),
    ...(extras.policyRead === false ? [] : POLICY_GRAPH_PERMISSIONS),
    ...(extras.mailSend ? (['Mail.Send'] as const) : []),
  ];
}

export interface GrantOptions {
  /** Client id of the user-assigned managed identity (its service principal's appId). */
  clientId: string;
  /** Tenant to sign in to; default: the signed-in account's. */
  tenantId: string | undefined;
  consentStrategy: ConsentStrategy;
  deliveryStrategy: DeliveryStrategy;
  /** Graph root without version, e.g. `https://graph.microsoft.com`. */
  graphBaseUrl: string;
  /** Also remove product permissions the strategy does not need (never touches any other permission). */
  revokeUnneeded: boolean;
  /** Grant AuditLog.Read.All and Directory.Read.All to read the sign-in log (false: `--no-evidence`, GRANT_EVIDENCE=false). */
  evidence: boolean;
  /** Grant Policy.Read.All for the policy pre-flight (false: `--no-policy-read`, GRANT_POLICY_READ=false). */
  policyRead: boolean;
  /** Also grant the tenant-wide Graph `Mail.Send` (alert mail), instead of an Exchange scope. */
  grantMailSend: boolean;
  /** SENDER_MAILBOX, when alert mail is configured. */
  senderMailbox: string | undefined;
  /** Object id of the identity's service principal, when the azd environment knows it. */
  principalId: string | undefined;
  /** Print the plan only: no sign-in, no Graph call. */
  dryRun: boolean;
  /** Display name of the identity, when the azd environment knows it. */
  identityName: string | undefined;
  /** The function app's URL, when the azd environment knows it. */
  apiUrl: string | undefined;
  finOps: { entitySet: string; key: string; applicationIdField: string; secretField: string };
}

export type ParsedArgs = { kind: 'help' } | { kind: 'run'; options: GrantOptions } | { kind: 'error'; message: string };

export const USAGE = `Usage: npm run grant-graph-permissions -- [options]

Grants the function app's managed identity the Microsoft Graph application permissions its consent
strategy needs, those that read Entra's sign-in log to prove F&O uses each credential, and the one that
reads the tenant's app management policies before a client secret is added, then explains the Finance
and Operations side. azd runs it after every provision; defaults come from the azd
environment (names in parentheses).

Options:
  --client-id <guid>          client id of the managed identity (MANAGED_IDENTITY_CLIENT_ID)
  --tenant-id <guid>          tenant to sign in to (AZURE_TENANT_ID)
  --consent-strategy <name>   grant | request (CONSENT_STRATEGY; default grant)
  --delivery-strategy <name>  auto | odata | manual (DELIVERY_STRATEGY; default auto)
  --graph-url <url>           Microsoft Graph endpoint (GRAPH_BASE_URL; default https://graph.microsoft.com)
  --no-evidence               do not grant AuditLog.Read.All and Directory.Read.All (GRANT_EVIDENCE=false), for
                              tenants that refuse Directory.Read.All: the product then cannot read the sign-in
                              log, environments stay unproven, and a rotation revokes the previous credential
                              when the grace period ends, whether or not F&O has moved to the new one
  --no-policy-read            do not grant Policy.Read.All (GRANT_POLICY_READ=false): the product then adds
                              client secrets without reading the tenant's app management policies first, so
                              a lifetime cap or a ban shows only when Entra refuses the new secret
  --revoke-unneeded           also remove the product's Graph permissions that the consent strategy,
                              --no-evidence and --no-policy-read leave unneeded (never any other permission)
  --grant-mail-send           also grant Graph Mail.Send (tenant-wide) for alert mail from SENDER_MAILBOX
                              (GRANT_MAIL_SEND=true); without it the output shows how to allow only that
                              mailbox in Exchange Online
  --dry-run                   print what would be granted; sign in to nothing, change nothing
  -h, --help                  this text

Signing in: azd auth login (or az login) as a Privileged Role Administrator or Global Administrator.`;

/** Reads the command line, falling back to the azd environment; never throws. */
export function parseArgs(argv: readonly string[], env: Env): ParsedArgs {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        'client-id': { type: 'string' },
        'tenant-id': { type: 'string' },
        'consent-strategy': { type: 'string' },
        'delivery-strategy': { type: 'string' },
        'graph-url': { type: 'string' },
        'revoke-unneeded': { type: 'boolean', default: false },
        'no-evidence': { type: 'boolean', default: false },
        'no-policy-read': { type: 'boolean', default: false },
        'grant-mail-send': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  if (values.help) return { kind: 'help' };

  const problems: string[] = [];
  const dryRun = values['dry-run'];
  const clientIdRaw = nonEmpty(values['client-id']) ?? nonEmpty(env.MANAGED_IDENTITY_CLIENT_ID);
  let clientId = '';
  // The tenant id's GUID rule (AZURE_CLIENT_ID's own schema also accepts empty, which is no client id here).
  if (clientIdRaw !== undefined) clientId = checkSetting(SETTINGS.ENTRA_TENANT_ID.schema, clientIdRaw, '--client-id', problems) ?? '';
  else if (!dryRun) {
    problems.push(
      '--client-id is missing: pass the managed identity client id, or run this from an azd environment that has been provisioned (MANAGED_IDENTITY_CLIENT_ID)',
    );
  }
  const tenantRaw = nonEmpty(values['tenant-id']) ?? nonEmpty(env.AZURE_TENANT_ID);
  const tenantId = tenantRaw !== undefined ? checkSetting(SETTINGS.ENTRA_TENANT_ID.schema, tenantRaw, '--tenant-id', problems) : undefined;
  const consentStrategy = checkSetting(
    SETTINGS.CONSENT_STRATEGY.schema,
    nonEmpty(values['consent-strategy']) ?? nonEmpty(env.CONSENT_STRATEGY) ?? SETTINGS.CONSENT_STRATEGY.default,
    '--consent-strategy',
    problems,
  );
  const deliveryStrategy = checkSetting(
    SETTINGS.DELIVERY_STRATEGY.schema,
    nonEmpty(values['delivery-strategy']) ?? nonEmpty(env.DELIVERY_STRATEGY) ?? SETTINGS.DELIVERY_STRATEGY.default,
    '--delivery-strategy',
    problems,
  );
  const graphBaseUrl = checkSetting(
    SETTINGS.GRAPH_BASE_URL.schema,
    nonEmpty(values['graph-url']) ?? nonEmpty(env.GRAPH_BASE_URL) ?? SETTINGS.GRAPH_BASE_URL.default,
    '--graph-url',
    problems,
  );
  // A typo must not grant Directory.Read.All or Policy.Read.All to a tenant that meant to refuse them.
  const grantEvidence = switchSetting(env, 'GRANT_EVIDENCE', problems);
  const grantPolicyRead = switchSetting(env, 'GRANT_POLICY_READ', problems);
  const senderRaw = nonEmpty(env.SENDER_MAILBOX);
  const senderMailbox = senderRaw !== undefined ? checkSetting(SETTINGS.SENDER_MAILBOX.schema, senderRaw, 'SENDER_MAILBOX', problems) : undefined;
  const finOpsSetting = (key: 'FINOPS_CREDENTIAL_ENTITY' | 'FINOPS_CREDENTIAL_APP_ID_FIELD' | 'FINOPS_CREDENTIAL_SECRET_FIELD'): string =>
    checkSetting(SETTINGS[key].schema, nonEmpty(env[key]) ?? SETTINGS[key].default, key, problems) ?? '';

  const finOps = {
    entitySet: finOpsSetting('FINOPS_CREDENTIAL_ENTITY'),
    key: nonEmpty(env.FINOPS_CREDENTIAL_KEY) ?? '',
    applicationIdField: finOpsSetting('FINOPS_CREDENTIAL_APP_ID_FIELD'),
    secretField: finOpsSetting('FINOPS_CREDENTIAL_SECRET_FIELD'),
  };
  if (problems.length > 0 || consentStrategy === undefined || deliveryStrategy === undefined || graphBaseUrl === undefined) {
    return { kind: 'error', message: problems.join('; ') };
  }
  return {
    kind: 'run',
    options: {
      clientId,
      tenantId,
      consentStrategy,
      deliveryStrategy,
      graphBaseUrl,
      revokeUnneeded: values['revoke-unneeded'],
      evidence: !values['no-evidence'] && grantEvidence !== false,
      policyRead: !values['no-policy-read'] && grantPolicyRead !== false,
      grantMailSend: values['grant-mail-send'] || nonEmpty(env.GRANT_MAIL_SEND)?.toLowerCase() === 'true',
      senderMailbox: senderMailbox || undefined,
      principalId: nonEmpty(env.MANAGED_IDENTITY_PRINCIPAL_ID),
      dryRun,
      identityName: nonEmpty(env.MANAGED_IDENTITY_NAME),
      apiUrl: nonEmpty(env.SERVICE_API_URI),
      finOps,
    },
  };
}

// ---- Graph ------------------------------------------------------------------------------------------------

const wireServicePrincipal = z.object({
  id: z.string(),
  appId: z.string(),
  displayName: z.string().nullish(),
  appRoles: z
    .array(z.object({ id: z.string(), value: z.string().nullish(), isEnabled: z.boolean().nullish(), allowedMemberTypes: z.array(z.string()).nullish() }))
    .nullish(),
});
type WireServicePrincipal = z.infer<typeof wireServicePrincipal>;

const wireAssignment = z.object({ id: z.string(), appRoleId: z.string(), resourceId: z.string(), principalId: z.string() });
const wirePage = z.object({ value: z.array(z.unknown()), '@odata.nextLink': z.string().nullish() });

export function createGraphClient(credential: TokenCredential, graphBaseUrl: string): Client {
  const origin = new URL(graphBaseUrl).origin;
  const host = new URL(graphBaseUrl).hostname;
  return Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [`${origin}/.default`] }),
    baseUrl: graphBaseUrl.replace(/\/+$/, ''),
    // The auth handler only attaches tokens to hosts it knows: a national cloud's Graph must be named.
    ...(host === 'graph.microsoft.com' ? {} : { customHosts: new Set([host]) }),
  });
}

interface GraphFailure {
  statusCode: number;
  code: string | null;
  message: string;
  requestId: string | null;
}

function asGraphFailure(e: unknown): GraphFailure | undefined {
  if (typeof e !== 'object' || e === null || !('statusCode' in e)) return undefined;
  const { statusCode, code, message, requestId } = e as { statusCode: unknown; code?: unknown; message?: unknown; requestId?: unknown };
  if (typeof statusCode !== 'number' || statusCode <= 0) return undefined;
  return {
    statusCode,
    code: typeof code === 'string' ? code : null,
    message: typeof message === 'string' ? message : '',
    requestId: typeof requestId === 'string' ? requestId : null,
  };
}

/** A failure the person running the script can act on; its message says what to do. */
export class GrantError extends Error {
  override name = 'GrantError';
}

function requiredFor(options: GrantOptions): GraphPermission[] {
  return requiredGraphPermissions(options.consentStrategy, { evidence: options.evidence, policyRead: options.policyRead, mailSend: options.grantMailSend });
}

/** Why a product permission the identity holds is not needed, as "(not needed …)" says it. */
function notNeededBy(permission: ProductGraphPermission, options: GrantOptions): string {
  if (isEvidencePermission(permission)) return 'not needed with --no-evidence';
  if (isPolicyPermission(permission)) return 'not needed with --no-policy-read';
  return `not needed by consent strategy ${options.consentStrategy}`;
}

/** The same, as the "not needed" line of a run says it. */
function unusedBecause(permission: ProductGraphPermission, options: GrantOptions): string {
  if (isEvidencePermission(permission)) return 'sign-in evidence is off (--no-evidence)';
  if (isPolicyPermission(permission)) return 'the policy pre-flight is off (--no-policy-read)';
  return `consent strategy ${options.consentStrategy} does not use it`;
}

/**
 * What the sign-in evidence needs besides the permissions, or what going without it costs; said once.
 * Without it the product cannot tell whether F&O uses a credential: environments stay `unproven`
 * (src/contracts/evidence.ts) and revocation waits for ROTATION_GRACE_HOURS alone (src/orchestrators/evidence.ts).
 */
function evidenceNote(options: GrantOptions): string[] {
  return options.evidence
    ? ['Reading the sign-in log also needs a Microsoft Entra ID P1 or P2 licence in the tenant; without one each run says so once and environments stay unproven.']
    : [
        'Without sign-in evidence (--no-evidence) the product cannot see F&O use a credential: environments stay unproven, and a rotation',
        'revokes the previous credential when the grace period (ROTATION_GRACE_HOURS) ends, whether or not F&O has moved to the new one.',
        'To turn it on, run this again without --no-evidence, in a tenant with a Microsoft Entra ID P1 or P2 licence.',
      ];
}

/**
 * What going without the policy pre-flight costs; said once. Nothing when it is on. Without Policy.Read.All
 * createClientSecret asks for the full SECRET_LIFETIME_DAYS and says the policies could not be read.
 */
function policyNote(options: GrantOptions): string[] {
  return options.policyRead
    ? []
    : [
        "Without the policy pre-flight (--no-policy-read) the product adds client secrets without reading the tenant's app management",
        'policies: the step that adds one says so, and a lifetime cap or a ban on client secrets shows only when Entra refuses the new',
        'secret. To turn it on, run this again without --no-policy-read.',
      ];
}

function manualGrantHint(options: GrantOptions): string {
  return (
    `Ask a Privileged Role Administrator or Global Administrator to run \`npm run grant-graph-permissions -- --client-id ${options.clientId}` +
    `${options.tenantId ? ` --tenant-id ${options.tenantId}` : ''} --consent-strategy ${options.consentStrategy}` +
    `${options.evidence ? '' : ' --no-evidence'}${options.policyRead ? '' : ' --no-policy-read'}${options.grantMailSend ? ' --grant-mail-send' : ''}\`, ` +
    `or to add these Microsoft Graph application permissions to the managed identity by hand: ${requiredFor(options).join(', ')}.`
  );
}

/**
 * The name of the error behind a failure. The Graph client turns a credential's failure into a GraphError
 * with status -1 that keeps the original error's name as its `code` and its message.
 */
function errorName(e: unknown): string {
  if (!(e instanceof Error)) return '';
  const { statusCode, code } = e as { statusCode?: unknown; code?: unknown };
  return statusCode === -1 && typeof code === 'string' ? code : e.name;
}

function explain(e: unknown, doing: string, options: GrantOptions): GrantError {
  const failure = asGraphFailure(e);
  if (failure) {
    const reference = `(Graph ${failure.statusCode}${failure.code ? ` ${failure.code}` : ''}${failure.requestId ? `, request id ${failure.requestId}` : ''}: ${failure.message})`;
    if (failure.statusCode === 401 || failure.statusCode === 403) {
      return new GrantError(
        `${doing} was refused ${reference}. The signed-in account may not grant Microsoft Graph application permissions: ` +
          `that takes Privileged Role Administrator or Global Administrator in the tenant. ${manualGrantHint(options)}`,
      );
    }
    return new GrantError(`${doing} failed ${reference}. Run the command again; if it keeps failing, ${manualGrantHint(options)}`);
  }
  const name = errorName(e);
  const message = e instanceof Error ? e.message : String(e);
  if (name === 'CredentialUnavailableError' || name === 'AuthenticationRequiredError' || name === 'AggregateAuthenticationError') {
    return new GrantError(
      `${doing}: nobody is signed in (${message}). Run \`azd auth login${options.tenantId ? ` --tenant-id ${options.tenantId}` : ''}\` ` +
        '(or `az login`) as a Privileged Role Administrator or Global Administrator, then run `npm run grant-graph-permissions`.',
    );
  }
  return new GrantError(`${doing} failed: ${message}`);
}

async function readServicePrincipal(client: Client, appId: string): Promise<WireServicePrincipal | null> {
  try {
    const body: unknown = await client
      .api(`/servicePrincipals(appId='${encodeURIComponent(appId)}')`)
      .select(['id', 'appId', 'displayName', 'appRoles'])
      .get();
    return wireServicePrincipal.parse(body);
  } catch (e) {
    if (asGraphFailure(e)?.statusCode === 404) return null;
    throw e;
  }
}

async function listGraphAssignments(client: Client, principalId: string, graphSpId: string): Promise<Array<z.infer<typeof wireAssignment>>> {
  const items: Array<z.infer<typeof wireAssignment>> = [];
  let next: string | undefined = `/servicePrincipals/${encodeURIComponent(principalId)}/appRoleAssignments`;
  while (next !== undefined) {
    const page = wirePage.parse(await client.api(next).get());
    for (const item of page.value) items.push(wireAssignment.parse(item));
    next = page['@odata.nextLink'] ?? undefined;
  }
  return items.filter((a) => a.resourceId.toLowerCase() === graphSpId.toLowerCase());
}

export interface GrantReport {
  servicePrincipalId: string;
  displayName: string | null;
  granted: GraphPermission[];
  alreadyGranted: GraphPermission[];
  revoked: ProductGraphPermission[];
  /** Product permissions held but not needed by the strategy, left in place. */
  unneeded: ProductGraphPermission[];
}

export interface GrantRuntime {
  /** How often to look for the identity's service principal before giving up (it replicates after provisioning). */
  lookupAttempts: number;
  retryDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

const DEFAULT_RUNTIME: GrantRuntime = {
  lookupAttempts: 12,
  retryDelayMs: 10_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Makes the identity's Graph permissions match the strategy; safe to run any number of times. */
export async function grantGraphPermissions(client: Client, options: GrantOptions, runtime: GrantRuntime = DEFAULT_RUNTIME): Promise<GrantReport> {
  let identity: WireServicePrincipal | null = null;
  for (let attempt = 1; identity === null; attempt++) {
    try {
      identity = await readServicePrincipal(client, options.clientId);
    } catch (e) {
      throw explain(e, 'Reading the managed identity', options);
    }
    if (identity === null) {
      if (attempt >= runtime.lookupAttempts) {
        throw new GrantError(
          `No service principal with client id ${options.clientId} exists in ${options.tenantId ? `tenant ${options.tenantId}` : 'the signed-in tenant'}. ` +
            'A managed identity created moments ago can take a few minutes to appear: run `npm run grant-graph-permissions` again. ' +
            'If it persists, check that you signed in to the tenant of the subscription (azd auth login --tenant-id <tenant>).',
        );
      }
      await runtime.sleep(runtime.retryDelayMs);
    }
  }

  let graph: WireServicePrincipal | null;
  try {
    graph = await readServicePrincipal(client, GRAPH_APP_ID);
  } catch (e) {
    throw explain(e, "Reading Microsoft Graph's service principal", options);
  }
  if (graph === null) throw new GrantError(`Microsoft Graph's service principal (appId ${GRAPH_APP_ID}) is missing from the tenant.`);
  const graphSp = graph;
  const roleIds = new Map<string, string>();
  for (const role of graphSp.appRoles ?? []) {
    if (role.value && role.isEnabled !== false && (role.allowedMemberTypes ?? ['Application']).includes('Application')) roleIds.set(role.value, role.id);
  }
  const roleId = (permission: GraphPermission): string => {
    const id = roleIds.get(permission);
    if (id === undefined) throw new GrantError(`Microsoft Graph in this tenant offers no application permission named ${permission}.`);
    return id;
  };

  let assignments: Array<z.infer<typeof wireAssignment>>;
  try {
    assignments = await listGraphAssignments(client, identity.id, graphSp.id);
  } catch (e) {
    throw explain(e, "Reading the managed identity's Graph permissions", options);
  }
  const held = (permission: GraphPermission) => assignments.find((a) => a.appRoleId.toLowerCase() === roleId(permission).toLowerCase());

  const report: GrantReport = { servicePrincipalId: identity.id, displayName: identity.displayName ?? null, granted: [], alreadyGranted: [], revoked: [], unneeded: [] };
  const required = requiredFor(options);
  for (const permission of required) {
    if (held(permission)) {
      report.alreadyGranted.push(permission);
      continue;
    }
    try {
      await client
        .api(`/servicePrincipals/${encodeURIComponent(graphSp.id)}/appRoleAssignedTo`)
        .post({ principalId: identity.id, resourceId: graphSp.id, appRoleId: roleId(permission) });
    } catch (e) {
      throw explain(e, `Granting ${permission}`, options);
    }
    report.granted.push(permission);
  }
  for (const permission of PRODUCT_GRAPH_PERMISSIONS.filter((p) => !required.includes(p))) {
    const assignment = held(permission);
    if (!assignment) continue;
    if (!options.revokeUnneeded) {
      report.unneeded.push(permission);
      continue;
    }
    try {
      await client.api(`/servicePrincipals/${encodeURIComponent(graphSp.id)}/appRoleAssignedTo/${encodeURIComponent(assignment.id)}`).delete();
    } catch (e) {
      throw explain(e, `Removing ${permission}`, options);
    }
    report.revoked.push(permission);
  }
  return report;
}

// ---- what a person reads ------------------------------------------------------------------------------------

/**
 * The Finance and Operations side of the deployment: what an F&O administrator does, per environment.
 * Security object names come from the extension's contract (src/contracts/finopsExtension.ts), so the text
 * cannot drift from the model; how to build and deploy it is in finops/README.md. Registering an external
 * application: https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/services-home-page#register-your-external-application;
 * the Email parameters labels "Application ID" and "Application secret" (F&O 10.0.38 and later):
 * https://learn.microsoft.com/dynamics365/fin-ops-core/fin-ops/organization-administration/configure-email
 */
export function finOpsInstructions(options: GrantOptions): string[] {
  const clientId = options.clientId || '<MANAGED_IDENTITY_CLIENT_ID>';
  const { duty, privilege } = FINOPS_EXTENSION_SECURITY;
  const model = FINOPS_EXTENSION_MODEL;
  const lines = ['Finance and Operations, in every environment this deployment manages:'];
  if (options.deliveryStrategy !== 'manual') {
    const key = options.finOps.key ? `record key ${options.finOps.key}` : 'record key: the same as the EmailParameters record';
    lines.push(
      `  1. Deploy the ${model} deployable package (model ${model}: build, package and deploy it as finops/README.md says). It adds`,
      `     the data entity with public collection name ${options.finOps.entitySet},`,
      `     properties ${options.finOps.applicationIdField} (application id) and ${options.finOps.secretField} (client secret, write-only), ${key}.`,
      '     Other names: set FINOPS_CREDENTIAL_ENTITY, FINOPS_CREDENTIAL_APP_ID_FIELD, FINOPS_CREDENTIAL_SECRET_FIELD or FINOPS_CREDENTIAL_KEY',
      '     with `azd env set`, then `azd provision`.',
      '  2. System administration > Security > Security configuration: a role (for example "Graph email integration") holding the duty',
      `     ${duty} (privilege ${privilege}) and the right to update the standard EmailParameters entity`,
      '     (for example through the standard email parameters duty); publish it and give it to a dedicated F&O user.',
      '  3. System administration > Setup > Microsoft Entra applications > New:',
      `       Client ID  ${clientId}`,
      '       Name       fno-graph-mail',
      `       User ID    the user of step 2 (the product acts in F&O with that user's rights)`,
      '  4. The environment host must match FINOPS_ALLOWED_HOSTS (default *.operations.dynamics.com; add *.cloudax.dynamics.com only on purpose).',
    );
    if (options.deliveryStrategy === 'auto') {
      lines.push(
        `  Delivery strategy auto: each run reads the environment's $metadata once and writes the credential through ${model} where it`,
        '  is installed. An environment without the extension (or whose metadata the identity may not read, before steps 2 and 3) gets',
        '  manual instructions instead, as with DELIVERY_STRATEGY=manual: a person enters the Application ID and Application secret on the',
        '  Email parameters page, reading the secret in Key Vault (SECRET_READER_PRINCIPAL_ID names who may).',
      );
    } else {
      lines.push(
        '  Delivery strategy odata: every environment needs steps 1 to 4; where the extension is missing, setup and rotation fail',
        '  (DELIVERY_STRATEGY=auto gives such an environment manual instructions instead).',
      );
    }
  } else {
    lines.push(
      '  Delivery strategy manual: nothing to register or deploy in F&O. Each setup or rotation publishes instructions: a person opens',
      '  System administration > Setup > Email > Email parameters, Microsoft Graph settings tab, and enters the fields labelled',
      '  "Application ID" (the environment app\'s client id) and "Application secret" (the secret\'s value, read in Key Vault by the person',
      '  or group SECRET_READER_PRINCIPAL_ID names).',
      options.evidence
        ? '  The run completes once Entra shows F&O signing in with it (raising EmailParametersUpdated has it checked at once).'
        : '  The run completes when that person raises EmailParametersUpdated.',
      `  (To let the product write it itself: deploy the ${model} package (finops/README.md), register client id ${clientId} under`,
      `  System administration > Setup > Microsoft Entra applications for a user whose role holds the duty ${duty}, and set DELIVERY_STRATEGY=auto.)`,
    );
  }
  if (options.consentStrategy === 'request') {
    lines.push(
      'Consent strategy request: each setup publishes an admin-consent link and waits for an administrator to grant Mail.Send.',
    );
  }
  return lines;
}

/**
 * Alert mail from SENDER_MAILBOX: either the tenant-wide Graph Mail.Send (granted above with
 * --grant-mail-send) or, narrower, an Exchange Online RBAC for Applications role scoped to that one mailbox.
 */
export function mailInstructions(options: GrantOptions, servicePrincipalId: string | undefined): string[] {
  if (!options.senderMailbox) return ['No SENDER_MAILBOX: alerts stay log lines (and the Azure Monitor alert); no mail is sent.'];
  if (options.grantMailSend) {
    return [`Alert mail from ${options.senderMailbox}: Mail.Send lets the identity send as any mailbox of the tenant.`];
  }
  const clientId = options.clientId || '<MANAGED_IDENTITY_CLIENT_ID>';
  const objectId = servicePrincipalId ?? options.principalId ?? '<MANAGED_IDENTITY_PRINCIPAL_ID>';
  return [
    `Alert mail from ${options.senderMailbox}: allow the identity to send as that mailbox only, in Exchange Online PowerShell`,
    '(Connect-ExchangeOnline as an Exchange administrator):',
    `  New-ServicePrincipal -AppId ${clientId} -ObjectId ${objectId} -DisplayName "fno-graph-mail"`,
    `  New-ManagementScope -Name "fno-graph-mail sender" -RecipientRestrictionFilter "PrimarySmtpAddress -eq '${options.senderMailbox}'"`,
    `  New-ManagementRoleAssignment -App ${clientId} -Role "Application Mail.Send" -CustomResourceScope "fno-graph-mail sender"`,
    '(Or run this again with --grant-mail-send for the tenant-wide Microsoft Graph Mail.Send.)',
  ];
}

function describeIdentity(options: GrantOptions, report?: GrantReport): string {
  const name = report?.displayName ?? options.identityName;
  const objectId = report ? `, object id ${report.servicePrincipalId}` : '';
  return `${name ? `${name} ` : ''}(client id ${options.clientId || '<MANAGED_IDENTITY_CLIENT_ID>'}${objectId})`;
}

export interface MainDeps {
  /** Default: azd's sign-in, then the Azure CLI's. */
  credential?: TokenCredential;
  out?: (line: string) => void;
  err?: (line: string) => void;
  runtime?: GrantRuntime;
}

/** Runs the command; resolves to the process exit code (0 done, 1 failed, 2 bad arguments). */
export async function main(argv: readonly string[], env: Env, deps: MainDeps = {}): Promise<number> {
  const out = deps.out ?? ((line: string) => console.log(line));
  const err = deps.err ?? ((line: string) => console.error(line));
  if (env[SECOND_PROVISION_VARIABLE] === '1') {
    // The provision the postdeploy hook starts to turn the secret expiry events on: this `azd up` granted (or
    // explained) the permissions after its first provision moments ago; a second sign-in would only repeat it.
    out(
      'Microsoft Graph permissions: skipped in this second provision of `azd up` (it only turns the secret expiry events on); ' +
        'they were handled after the first. Run `npm run grant-graph-permissions` to do it again.',
    );
    return 0;
  }
  const parsed = parseArgs(argv, env);
  if (parsed.kind === 'help') {
    out(USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    err(`grant-graph-permissions: ${parsed.message}`);
    err('');
    err(USAGE);
    return 2;
  }
  const { options } = parsed;
  let servicePrincipalId: string | undefined;
  out(
    `Microsoft Graph application permissions of the managed identity ${describeIdentity(options)}, consent strategy ${options.consentStrategy}` +
      `${options.evidence ? '' : ', without sign-in evidence'}${options.policyRead ? '' : ', without the policy pre-flight'}:`,
  );

  if (options.dryRun) {
    for (const p of requiredFor(options)) out(`  would ensure  ${p}: ${PERMISSION_PURPOSE[p]}`);
    const others = PRODUCT_GRAPH_PERMISSIONS.filter((p) => !requiredFor(options).includes(p));
    for (const p of others) out(`  ${options.revokeUnneeded ? 'would remove  ' : 'would leave   '}${p} if held (${notNeededBy(p, options)})`);
    for (const line of evidenceNote(options)) out(`  ${line}`);
    for (const line of policyNote(options)) out(`  ${line}`);
    out('  (dry run: nothing was read or changed)');
  } else {
    const credential =
      deps.credential ??
      new ChainedTokenCredential(
        new AzureDeveloperCliCredential(options.tenantId ? { tenantId: options.tenantId } : {}),
        new AzureCliCredential(options.tenantId ? { tenantId: options.tenantId } : {}),
      );
    let report: GrantReport;
    try {
      report = await grantGraphPermissions(createGraphClient(credential, options.graphBaseUrl), options, deps.runtime);
    } catch (e) {
      const failure = e instanceof GrantError ? e : explain(e, 'Granting the Graph permissions', options);
      err(`  NOT DONE: ${failure.message}`);
      err('  Until then the function app cannot register the environment apps (setups fail with a permission error).');
      return 1;
    }
    servicePrincipalId = report.servicePrincipalId;
    for (const p of report.granted) out(`  granted          ${p}: ${PERMISSION_PURPOSE[p]}`);
    for (const p of report.alreadyGranted) out(`  already granted  ${p}`);
    for (const p of report.revoked) out(`  removed          ${p} (${notNeededBy(p, options)})`);
    for (const p of report.unneeded) out(`  not needed       ${p}: ${unusedBecause(p, options)}; remove it with --revoke-unneeded`);
    for (const line of evidenceNote(options)) out(`  ${line}`);
    for (const line of policyNote(options)) out(`  ${line}`);
    out(`  Identity: ${describeIdentity(options, report)}. Entra can take a few minutes to put new permissions into the identity's tokens.`);
  }
  out('');
  for (const line of mailInstructions(options, servicePrincipalId)) out(line);
  out('');
  for (const line of finOpsInstructions(options)) out(line);
  if (options.apiUrl) {
    out('');
    out(`Then start a setup: POST ${options.apiUrl}/api/environments/{environmentId}/setup with the function key (see docs/deploying.md).`);
  }
  return 0;
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
