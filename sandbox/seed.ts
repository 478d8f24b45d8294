/**
 * The tenant the sandbox starts with: Graph's service principal with its permissions, the sender and
 * admin mailboxes, the function app's managed identity (with the Graph roles the product needs), a
 * read-only operator app with a client secret, and the F&O environments with SMTP email parameters, the
 * FnoGraphMail extension deployed and a stopped Email distributor batch that would run as the F&O mail user.
 * Customer tenants added later (partner mode) get their own Graph service principal, mailboxes and one
 * F&O environment.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { GRAPH_APP_ID, GRAPH_APP_ROLES, MAIL_SEND_SCOPE_ID, USER_READ_SCOPE_ID, TenantDirectory, type SandboxState } from './state';
import type { ApplicationRecord, AppRole, EmailParametersRecord, FinOpsEnvironmentRecord, PermissionScope, ServicePrincipalRecord } from './types';

export const DEFAULT_ENVIRONMENT_IDS = ['contoso-uat', 'contoso-prod'];
export const DEFAULT_MANAGED_IDENTITY_ROLES = [
  'Application.ReadWrite.OwnedBy',
  'AppRoleAssignment.ReadWrite.All',
  'DelegatedPermissionGrant.ReadWrite.All',
];
/**
 * What reading Entra's service principal sign-in log takes (Microsoft Graph List signIns, a documented
 * known issue requires both): https://learn.microsoft.com/graph/api/signin-list?view=graph-rest-beta
 */
export const SIGN_IN_EVIDENCE_ROLES = ['AuditLog.Read.All', 'Directory.Read.All'];
/**
 * What the policy pre-flight before a client secret takes: reading the tenant's default app management
 * policy and an app's own needs Policy.Read.All (https://learn.microsoft.com/graph/api/tenantappmanagementpolicy-get,
 * https://learn.microsoft.com/graph/api/application-list-appmanagementpolicies).
 */
export const POLICY_PREFLIGHT_ROLES = ['Policy.Read.All'];
/**
 * The identity as a deployment leaves it (`grant-graph-permissions` grants the evidence and policy
 * pre-flight roles too, unless opted out): `npm start`, `npm run sandbox`.
 */
export const DEPLOYED_MANAGED_IDENTITY_ROLES = [...DEFAULT_MANAGED_IDENTITY_ROLES, ...SIGN_IN_EVIDENCE_ROLES, ...POLICY_PREFLIGHT_ROLES];
export const OPERATOR_ROLES = ['Application.Read.All', 'Directory.Read.All'];
export const SENDER_MAILBOX = 'fno-mail@contoso.onmicrosoft.com';
export const ADMIN_MAILBOX = 'admin@contoso.onmicrosoft.com';
/**
 * Key of the single `EmailParameters` record. The entity fronts a parameters table with one row;
 * the sandbox uses '1' (an assumption: Microsoft does not document the value).
 */
export const EMAIL_PARAMETERS_ID = '1';
/**
 * Recurrence of the Email distributor batch. Microsoft documents none ("Adjust to run every minute if
 * needed", https://learn.microsoft.com/dynamics365/fin-ops-core/fin-ops/organization-administration/configure-email):
 * every minute is a guess that matches that advice.
 */
export const DEFAULT_BATCH_INTERVAL_MINUTES = 1;
/** Lifetime of the operator's seeded client secret. */
const OPERATOR_SECRET_DAYS = 730;

export interface SeedOptions {
  environmentIds?: string[];
  managedIdentityRoles?: string[];
}

/** Ids of app role assignments and delegated grants: Graph hands out 43-character base64url strings. */
export function newDirectoryLinkId(): string {
  return randomBytes(32).toString('base64url');
}

function graphAppRoles(): AppRole[] {
  return Object.entries(GRAPH_APP_ROLES).map(([value, id]) => ({
    id,
    value,
    displayName: value,
    allowedMemberTypes: ['Application'],
    isEnabled: true,
    description: `Allows the app to use ${value} without a signed-in user.`,
  }));
}

function graphScopes(): PermissionScope[] {
  return [
    {
      id: USER_READ_SCOPE_ID,
      value: 'User.Read',
      type: 'User',
      isEnabled: true,
      adminConsentDisplayName: 'Sign in and read user profile',
      adminConsentDescription: 'Allows users to sign-in to the app, and allows the app to read the profile of signed-in users.',
    },
    {
      id: MAIL_SEND_SCOPE_ID,
      value: 'Mail.Send',
      type: 'User',
      isEnabled: true,
      adminConsentDisplayName: 'Send mail as a user',
      adminConsentDescription: 'Allows the app to send mail as users in the organization.',
    },
  ];
}

function servicePrincipal(
  state: SandboxState,
  init: Pick<ServicePrincipalRecord, 'appId' | 'displayName' | 'servicePrincipalType'> & Partial<ServicePrincipalRecord>,
  tenant: TenantDirectory = state.home,
): ServicePrincipalRecord {
  const sp: ServicePrincipalRecord = {
    id: state.newId(),
    appRoles: [],
    oauth2PermissionScopes: [],
    createdDateTime: state.nowIso(),
    visibleFrom: 0,
    ...init,
  };
  tenant.servicePrincipals.push(sp);
  return sp;
}

/** Replaces the Graph application permissions of a service principal (of the home tenant unless `tenant`) with `roles`. */
export function setGraphRoles(state: SandboxState, servicePrincipalId: string, roles: string[], tenant: TenantDirectory = state.home): void {
  const graphSp = tenant.findServicePrincipalById(tenant.graphServicePrincipalId);
  const principal = tenant.findServicePrincipalById(servicePrincipalId);
  if (!graphSp || !principal) throw new Error('the Graph or the principal service principal is missing');
  const unknown = roles.filter((r) => !graphSp.appRoles.some((role) => role.value === r));
  if (unknown.length > 0) throw new Error(`unknown Graph application permission(s): ${unknown.join(', ')}`);
  tenant.appRoleAssignments = tenant.appRoleAssignments.filter(
    (a) => !(a.principalId === servicePrincipalId && a.resourceId === graphSp.id),
  );
  for (const value of new Set(roles)) {
    const role = graphSp.appRoles.find((r) => r.value === value);
    if (!role) continue;
    tenant.appRoleAssignments.push({
      id: newDirectoryLinkId(),
      appRoleId: role.id,
      principalId: principal.id,
      principalType: 'ServicePrincipal',
      principalDisplayName: principal.displayName,
      resourceId: graphSp.id,
      resourceDisplayName: graphSp.displayName,
      createdDateTime: state.nowIso(),
      deletedDateTime: null,
    });
  }
}

function defaultEmailParameters(senderMailbox: string = SENDER_MAILBOX): EmailParametersRecord {
  return {
    ID: EMAIL_PARAMETERS_ID,
    MaximumEmailAttachmentSize: 10,
    SMTPUseNTLM: 'No',
    SMTPPortNumber: 587,
    SMTPRelayServerName: 'smtp.office365.com',
    SMTPUserName: senderMailbox,
    SMTPRequireSSL: 'Yes',
    MailerNonInteractive: 'SMTP',
    MailerInteractiveEnabled: 'No',
  };
}

/**
 * Fills an empty state. F&O environment URLs stay empty until the server knows its ports
 * (`state.finops[i].url`).
 */
/** What every tenant has: Microsoft Graph's service principal and two mailboxes (F&O's sender and an administrator). */
function seedTenantBasics(state: SandboxState, tenant: TenantDirectory, organization: string): void {
  const graphSp = servicePrincipal(
    state,
    {
      appId: GRAPH_APP_ID,
      displayName: 'Microsoft Graph',
      servicePrincipalType: 'Application',
      appRoles: graphAppRoles(),
      oauth2PermissionScopes: graphScopes(),
    },
    tenant,
  );
  tenant.graphServicePrincipalId = graphSp.id;
  const sender = `fno-mail@${tenant.verifiedDomain}`;
  for (const [upn, displayName] of [
    [sender, 'F&O mail'],
    [`admin@${tenant.verifiedDomain}`, `${organization} administrator`],
  ] as const) {
    tenant.users.push({ id: state.newId(), userPrincipalName: upn, mail: upn, displayName });
  }
  tenant.senderMailbox = sender;
}

export function seedState(state: SandboxState, options: SeedOptions = {}): void {
  seedTenantBasics(state, state.home, 'Contoso');

  // A managed identity is a service principal with no application object behind it.
  const mi = servicePrincipal(state, {
    appId: state.newId(),
    displayName: 'func-fno-graph-mail',
    servicePrincipalType: 'ManagedIdentity',
  });
  state.managedIdentity = { appId: mi.appId, servicePrincipalId: mi.id, displayName: mi.displayName };
  setGraphRoles(state, mi.id, options.managedIdentityRoles ?? DEFAULT_MANAGED_IDENTITY_ROLES);

  const now = state.now();
  const operatorApp: ApplicationRecord = {
    id: state.newId(),
    appId: state.newId(),
    uniqueName: 'fno-graph-mail-operator',
    displayName: 'fno-graph-mail operator',
    signInAudience: 'AzureADMyOrg',
    description: 'Read-only access for people operating fno-graph-mail.',
    notes: null,
    tags: [],
    requiredResourceAccess: [
      {
        resourceAppId: GRAPH_APP_ID,
        resourceAccess: OPERATOR_ROLES.map((r) => ({ id: GRAPH_APP_ROLES[r] ?? '', type: 'Role' })),
      },
    ],
    passwordCredentials: [],
    owners: [],
    createdDateTime: new Date(now).toISOString(),
    visibleFrom: 0,
  };
  const { secretText, hint } = state.mintSecret();
  operatorApp.passwordCredentials.push({
    keyId: state.newId(),
    displayName: 'operator',
    hint,
    customKeyIdentifier: null,
    startDateTime: new Date(now).toISOString(),
    endDateTime: new Date(now + OPERATOR_SECRET_DAYS * 24 * 3600 * 1000).toISOString(),
    secretText,
    // Seeded, not freshly added: usable at once.
    usableFrom: 0,
  });
  state.applications.push(operatorApp);
  const operatorSp = servicePrincipal(state, {
    appId: operatorApp.appId,
    displayName: operatorApp.displayName,
    servicePrincipalType: 'Application',
  });
  setGraphRoles(state, operatorSp.id, OPERATOR_ROLES);
  state.operator = {
    appId: operatorApp.appId,
    servicePrincipalId: operatorSp.id,
    displayName: operatorApp.displayName,
    clientSecret: secretText,
  };

  state.keyVaultAccess[mi.id] = 'readwrite';
  state.keyVaultAccess[operatorSp.id] = 'read';

  for (const id of options.environmentIds ?? DEFAULT_ENVIRONMENT_IDS) {
    state.finops.push({
      id,
      url: '',
      tenantId: state.tenantId,
      emailParameters: defaultEmailParameters(),
      graphCredential: { applicationId: null, secret: null },
      foreignSecretFrom: null,
      credentialSetAt: null,
      registeredClients: [mi.appId],
      // Deployed in every seeded environment, as before the extension could be removed.
      extensionInstalled: true,
      // The batch job exists but is stopped until someone (or `finopsBatch` at start) turns it on.
      batch: { running: false, intervalMinutes: DEFAULT_BATCH_INTERVAL_MINUTES, user: SENDER_MAILBOX, nextRunAt: null },
      outgoingEmail: [],
      emailHistory: [],
    });
  }
}

// ---- customer tenants -----------------------------------------------------------------------------

export class TenantSeedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'TenantSeedError';
  }
}

export interface CustomerTenant {
  tenant: TenantDirectory;
  environment: FinOpsEnvironmentRecord;
}

/**
 * Adds a customer tenant (partner mode) with its mailboxes and one F&O environment served by the
 * next spare F&O listener. The environment registers the partner's operator application(s) once
 * they exist (`registerPartnerOperators`), as the customer does under System administration >
 * Microsoft Entra applications. Throws `TenantSeedError` (409) when the name is taken or no spare
 * listener is left.
 */
export function addCustomerTenant(state: SandboxState, name?: string): CustomerTenant {
  const taken = new Set(state.tenants.map((t) => t.name));
  let chosen = name?.toLowerCase();
  if (chosen === undefined) {
    for (let n = state.tenants.length; chosen === undefined; n += 1) if (!taken.has(`customer${n}`)) chosen = `customer${n}`;
  }
  if (taken.has(chosen)) throw new TenantSeedError(409, `A tenant named '${chosen}' already exists.`);
  const environmentId = `${chosen}-prod`;
  if (state.finops.some((e) => e.id === environmentId)) throw new TenantSeedError(409, `An F&O environment '${environmentId}' already exists.`);
  const listener = state.spareFinOpsListeners.find((l) => l.environmentId === null);
  if (!listener) {
    const total = state.spareFinOpsListeners.length;
    throw new TenantSeedError(
      409,
      `No spare F&O listener is left for a new environment: all ${total} opened at start are in use. Start the sandbox with more (finopsSparePorts) to add more tenants.`,
    );
  }
  const tenant = new TenantDirectory({ tenantId: randomUUID(), name: chosen, isHome: false });
  state.tenants.push(tenant);
  seedTenantBasics(state, tenant, chosen.charAt(0).toUpperCase() + chosen.slice(1));
  const environment: FinOpsEnvironmentRecord = {
    id: environmentId,
    url: `https://localhost:${listener.port}`,
    emailParameters: defaultEmailParameters(tenant.senderMailbox),
    graphCredential: { applicationId: null, secret: null },
    foreignSecretFrom: null,
    credentialSetAt: null,
    registeredClients: [],
    tenantId: tenant.tenantId,
    extensionInstalled: true,
    // Stopped, unless the sandbox runs every batch (`newEnvironmentBatch`): then from now, as the seeded ones.
    batch: state.newEnvironmentBatch
      ? { running: true, intervalMinutes: state.newEnvironmentBatch.intervalMinutes, user: tenant.senderMailbox, nextRunAt: state.now() }
      : { running: false, intervalMinutes: DEFAULT_BATCH_INTERVAL_MINUTES, user: tenant.senderMailbox, nextRunAt: null },
    outgoingEmail: [],
    emailHistory: [],
  };
  listener.environmentId = environmentId;
  state.finops.push(environment);
  registerPartnerOperators(state);
  return { tenant, environment };
}

/**
 * The partner's operator applications: multi-tenant applications of the home tenant with a federated
 * identity credential trusting the function app's managed identity (issuer = the home tenant's
 * issuer on the sandbox authority, subject = the identity's principal id).
 */
export function partnerOperatorAppIds(state: SandboxState): string[] {
  const issuer = `${state.serviceUrls.authorityHost}/${state.tenantId}/v2.0`;
  const subject = state.managedIdentity.servicePrincipalId;
  return state.home.applications
    .filter((a) => a.signInAudience === 'AzureADMultipleOrgs')
    .filter((a) => (a.federatedIdentityCredentials ?? []).some((f) => f.issuer === issuer && f.subject === subject))
    .map((a) => a.appId);
}

/** Every customer environment registers every partner operator application (idempotent). */
export function registerPartnerOperators(state: SandboxState): void {
  const operators = partnerOperatorAppIds(state);
  for (const env of state.finops) {
    if (env.tenantId === state.tenantId) continue;
    for (const appId of operators) if (!env.registeredClients.includes(appId)) env.registeredClients.push(appId);
  }
}
