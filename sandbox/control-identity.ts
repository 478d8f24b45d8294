/**
 * Control routes for tenants and identities, what people do outside the product's reach:
 *
 *   GET  /tenants                                  → {tenants: [tenant view]}
 *   GET  /sign-ins[?tenantId=]                     → {tenantId, signIns}: the tenant's whole sign-in log (default home),
 *                                                    ingestion delay ignored
 *   POST /tenants {name?}                          → 201 {tenantId, environments: [{id, url}], senderMailbox}
 *                                                    a customer tenant with mailboxes and one F&O environment on a
 *                                                    spare listener; 409 when the name is taken or no listener is left
 *   POST /tenants/{tenantId}/app-management-policy {passwordAddition?: boolean | {restrictForAppsCreatedAfterDateTime?},
 *                                                   passwordLifetimeMaxDays?: number | null}
 *                                                  → {tenantId, defaultAppManagementPolicy} (the tenant default, as Graph shows it)
 *   POST /tenants/{tenantId}/license {premium: boolean}
 *                                                  → {tenantId, premium} (Entra ID P1/P2: needed to read sign-in logs)
 *   POST /applications {uniqueName, displayName?, tenantId?, tags?, requiredResourceAccess?,
 *                       owners?: Array<'user' | 'product' | objectId>, signInAudience?}
 *                                                  → 201 {id, appId}: an app registered in the portal by a tenant user
 *                                                    (owner 'user', the default) or anyone else
 *   POST /operator-application {uniqueName?, displayName?, graphPermissions?}
 *                                                  → 201 (200 if it exists) {id, appId, uniqueName, federatedIdentityCredential}:
 *                                                    the partner's multi-tenant operator app in the home tenant, its only
 *                                                    credential a federated credential trusting the function app's identity
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { TOKEN_EXCHANGE_AUDIENCE } from './federation';
import { lockedByDefault, signInAudienceSchema } from './graph-applications';
import { tenantPolicyView } from './graph-policies';
import { addCustomerTenant, DEFAULT_MANAGED_IDENTITY_ROLES, partnerOperatorAppIds, registerPartnerOperators, TenantSeedError } from './seed';
import { GRAPH_APP_ID, GRAPH_APP_ROLES, setTenantPasswordRestrictions, type SandboxState } from './state';
import { TenantDirectory } from './tenants';
import type { ApplicationRecord, FederatedIdentityCredentialRecord } from './types';

export interface IdentityControlReply {
  status: number;
  body?: unknown;
}

type Parse = <T>(schema: z.ZodType<T>) => { value: T } | { response: IdentityControlReply };
type Problem = (status: number, code: string, message: string) => IdentityControlReply;

/** Default unique name of the partner operator application the control route creates. */
export const PARTNER_OPERATOR_UNIQUE_NAME = 'fno-graph-mail-partner-operator';

const tenantNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{1,30}$/, 'name must be 2-31 letters, digits or hyphens, starting with a letter or digit');
const createTenantSchema = z.strictObject({ name: tenantNameSchema.optional() });
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date and time');
const appManagementPolicySchema = z.strictObject({
  passwordAddition: z.union([z.boolean(), z.strictObject({ restrictForAppsCreatedAfterDateTime: isoDate.nullable().optional() })]).optional(),
  passwordLifetimeMaxDays: z.number().int().min(1).max(36_500).nullable().optional(),
});
const licenseSchema = z.strictObject({ premium: z.boolean() });
const resourceAccessSchema = z.object({
  resourceAppId: z.string().min(1),
  resourceAccess: z.array(z.object({ id: z.string().min(1), type: z.enum(['Role', 'Scope']) })),
});
const createApplicationSchema = z.strictObject({
  uniqueName: z.string().min(1).max(256),
  displayName: z.string().min(1).max(256).optional(),
  tenantId: z.string().min(1).optional(),
  tags: z.array(z.string()).optional(),
  requiredResourceAccess: z.array(resourceAccessSchema).optional(),
  owners: z.array(z.string().min(1)).optional(),
  signInAudience: signInAudienceSchema.optional(),
});
const operatorSchema = z.strictObject({
  uniqueName: z.string().min(1).max(256).optional(),
  displayName: z.string().min(1).max(256).optional(),
  graphPermissions: z.array(z.string().min(1)).optional(),
});

// ---- views ------------------------------------------------------------------------------------------

export function applicationStateView(a: ApplicationRecord): Record<string, unknown> {
  return {
    id: a.id,
    appId: a.appId,
    uniqueName: a.uniqueName,
    displayName: a.displayName,
    signInAudience: a.signInAudience,
    tags: [...a.tags],
    requiredResourceAccess: a.requiredResourceAccess,
    owners: [...a.owners],
    createdDateTime: a.createdDateTime,
    passwordCredentials: a.passwordCredentials.map((c) => ({
      keyId: c.keyId,
      displayName: c.displayName,
      hint: c.hint,
      startDateTime: c.startDateTime,
      endDateTime: c.endDateTime,
    })),
    federatedIdentityCredentials: (a.federatedIdentityCredentials ?? []).map((f) => ({
      id: f.id,
      name: f.name,
      issuer: f.issuer,
      subject: f.subject,
      audiences: [...f.audiences],
    })),
    servicePrincipalLockConfiguration: a.servicePrincipalLockConfiguration ?? null,
    appManagementPolicyId: a.appManagementPolicyId ?? null,
    webRedirectUris: [...(a.webRedirectUris ?? [])],
  };
}

/** One tenant without a single secret value (sign-ins carry key ids, never secrets). */
export function tenantStateView(state: SandboxState, t: TenantDirectory): Record<string, unknown> {
  return {
    tenantId: t.tenantId,
    name: t.name,
    verifiedDomain: t.verifiedDomain,
    home: t.isHome,
    premiumLicense: t.premiumLicense,
    senderMailbox: t.senderMailbox,
    graphServicePrincipalId: t.graphServicePrincipalId,
    environments: state.finops.filter((e) => state.tenantOfEnvironment(e) === t).map((e) => ({ id: e.id, url: e.url })),
    defaultAppManagementPolicy: tenantPolicyView(t.defaultAppManagementPolicy),
    appManagementPolicies: t.appManagementPolicies.map((p) => ({ ...p })),
    applications: t.applications.map(applicationStateView),
    servicePrincipals: t.servicePrincipals.map((s) => ({
      id: s.id,
      appId: s.appId,
      displayName: s.displayName,
      servicePrincipalType: s.servicePrincipalType,
      ...(s.owners ? { owners: [...s.owners] } : {}),
      passwordCredentials: (s.passwordCredentials ?? []).map((c) => ({ keyId: c.keyId, displayName: c.displayName, hint: c.hint, endDateTime: c.endDateTime })),
    })),
    appRoleAssignments: t.appRoleAssignments,
    oauth2PermissionGrants: t.oauth2PermissionGrants,
    users: t.users,
  };
}

/**
 * A tenant's whole sign-in log, ingestion delay ignored (`GET /sign-ins`). Kept out of `GET /state`:
 * like the call log, it grows with every token request, while the state shows what was changed.
 */
function signInLogView(t: TenantDirectory): Record<string, unknown> {
  return { tenantId: t.tenantId, signIns: t.signIns.map((s) => ({ ...s, createdDateTime: new Date(s.at).toISOString() })) };
}

// ---- routes -------------------------------------------------------------------------------------------

function findTenant(state: SandboxState, id: string, problem: Problem): TenantDirectory | IdentityControlReply {
  return state.tenant(id) ?? problem(404, 'NotFound', `There is no tenant '${id}'.`);
}

/** The developer account of a tenant: an ordinary user, who may register applications by default. */
function developerOf(state: SandboxState, tenant: TenantDirectory): string {
  const upn = `developer@${tenant.verifiedDomain}`;
  let user = tenant.findUser(upn);
  if (!user) {
    user = { id: state.newId(), userPrincipalName: upn, mail: upn, displayName: 'App developer' };
    tenant.users.push(user);
  }
  return user.id;
}

/** The product's service principal in a tenant: the managed identity at home, the partner operator elsewhere. */
function productPrincipalOf(state: SandboxState, tenant: TenantDirectory): string | undefined {
  if (tenant.isHome) return state.managedIdentity.servicePrincipalId;
  for (const appId of partnerOperatorAppIds(state)) {
    const sp = tenant.findServicePrincipalByAppId(appId);
    if (sp) return sp.id;
  }
  return undefined;
}

function createApplication(state: SandboxState, input: z.infer<typeof createApplicationSchema>, problem: Problem): IdentityControlReply {
  const tenant = input.tenantId === undefined ? state.home : state.tenant(input.tenantId);
  if (!tenant) return problem(404, 'NotFound', `There is no tenant '${input.tenantId ?? ''}'.`);
  if (tenant.applications.some((a) => a.uniqueName === input.uniqueName)) {
    return problem(409, 'Conflict', `The tenant ${tenant.verifiedDomain} already has an application with uniqueName '${input.uniqueName}'.`);
  }
  const owners: string[] = [];
  for (const owner of input.owners ?? ['user']) {
    let id: string | undefined;
    if (owner === 'user') id = developerOf(state, tenant);
    else if (owner === 'product') {
      id = productPrincipalOf(state, tenant);
      if (!id) return problem(400, 'InvalidRequest', `The product has no service principal in ${tenant.verifiedDomain}: consent its operator application there first.`);
    } else if (tenant.findServicePrincipalById(owner) || tenant.users.some((u) => u.id === owner)) id = owner;
    else return problem(400, 'InvalidRequest', `owners: '${owner}' is neither 'user', 'product' nor a user or service principal of ${tenant.verifiedDomain}.`);
    if (!owners.includes(id)) owners.push(id);
  }
  const app: ApplicationRecord = {
    id: randomUUID(),
    appId: randomUUID(),
    uniqueName: input.uniqueName,
    displayName: input.displayName ?? input.uniqueName,
    signInAudience: input.signInAudience ?? 'AzureADMyOrg',
    description: null,
    notes: null,
    tags: input.tags ?? [],
    requiredResourceAccess: input.requiredResourceAccess ?? [],
    passwordCredentials: [],
    owners,
    createdDateTime: state.nowIso(),
    visibleFrom: 0,
    federatedIdentityCredentials: [],
    // Registered in the admin centre: App Instance Lock is on by default there.
    servicePrincipalLockConfiguration: lockedByDefault(),
    appManagementPolicyId: null,
  };
  tenant.applications.push(app);
  return { status: 201, body: { id: app.id, appId: app.appId } };
}

function ficReply(f: FederatedIdentityCredentialRecord): Record<string, unknown> {
  return { id: f.id, name: f.name, issuer: f.issuer, subject: f.subject, audiences: [...f.audiences] };
}

/**
 * What the partner's deployment template creates: a multi-tenant application in the home tenant whose
 * only credential trusts the function app's managed identity (issuer = the home tenant's issuer on
 * the sandbox authority, subject = the identity's principal id, audience `api://AzureADTokenExchange`:
 * https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity),
 * owned by that identity so the product may keep it up to date. Idempotent by unique name.
 */
function createOperator(state: SandboxState, input: z.infer<typeof operatorSchema>, problem: Problem): IdentityControlReply {
  const roles = input.graphPermissions ?? DEFAULT_MANAGED_IDENTITY_ROLES;
  const unknown = roles.filter((r) => GRAPH_APP_ROLES[r] === undefined);
  if (unknown.length > 0) return problem(400, 'InvalidRequest', `graphPermissions: unknown Graph application permission(s): ${unknown.join(', ')}`);
  const uniqueName = input.uniqueName ?? PARTNER_OPERATOR_UNIQUE_NAME;
  const issuer = `${state.serviceUrls.authorityHost}/${state.tenantId}/v2.0`;
  const subject = state.managedIdentity.servicePrincipalId;
  let app = state.home.applications.find((a) => a.uniqueName === uniqueName);
  const created = !app;
  if (!app) {
    app = {
      id: randomUUID(),
      appId: randomUUID(),
      uniqueName,
      displayName: input.displayName ?? 'fno-graph-mail partner operator',
      signInAudience: 'AzureADMultipleOrgs',
      description: 'Acts for the partner in customer tenants; its only credential is a federated credential trusting the function app identity.',
      notes: null,
      tags: [],
      requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess: roles.map((r) => ({ id: GRAPH_APP_ROLES[r] ?? '', type: 'Role' as const })) }],
      passwordCredentials: [],
      owners: [state.managedIdentity.servicePrincipalId],
      createdDateTime: state.nowIso(),
      visibleFrom: 0,
      federatedIdentityCredentials: [],
      servicePrincipalLockConfiguration: lockedByDefault(),
      appManagementPolicyId: null,
    };
    state.home.applications.push(app);
  } else if (app.signInAudience !== 'AzureADMultipleOrgs') {
    return problem(409, 'Conflict', `The application '${uniqueName}' exists but is not multi-tenant.`);
  }
  let fic = (app.federatedIdentityCredentials ?? []).find((f) => f.issuer === issuer && f.subject === subject);
  if (!fic) {
    fic = {
      id: randomUUID(),
      name: 'function-app-identity',
      issuer,
      subject,
      description: 'The function app managed identity.',
      audiences: [TOKEN_EXCHANGE_AUDIENCE],
      usableFrom: state.now() + state.secretPropagationSeconds * 1000,
    };
    app.federatedIdentityCredentials = [...(app.federatedIdentityCredentials ?? []), fic];
  }
  registerPartnerOperators(state);
  return { status: created ? 201 : 200, body: { id: app.id, appId: app.appId, uniqueName, federatedIdentityCredential: ficReply(fic) } };
}

/** Answers the identity routes; undefined for any other route. */
export function identityControlRoute(state: SandboxState, route: string, parse: Parse, problem: Problem, query: URLSearchParams): IdentityControlReply | undefined {
  if (route === 'GET /tenants') return { status: 200, body: { tenants: state.tenants.map((t) => tenantStateView(state, t)) } };
  if (route === 'GET /sign-ins') {
    const tenant = findTenant(state, query.get('tenantId') ?? state.tenantId, problem);
    return tenant instanceof TenantDirectory ? { status: 200, body: signInLogView(tenant) } : tenant;
  }
  if (route === 'POST /tenants') {
    const parsed = parse(createTenantSchema);
    if ('response' in parsed) return parsed.response;
    try {
      const { tenant, environment } = addCustomerTenant(state, parsed.value.name);
      return { status: 201, body: { tenantId: tenant.tenantId, environments: [{ id: environment.id, url: environment.url }], senderMailbox: tenant.senderMailbox } };
    } catch (e) {
      if (e instanceof TenantSeedError) return problem(e.status, 'Conflict', e.message);
      throw e;
    }
  }
  const tenantRoute = /^POST \/tenants\/([^/]+)\/(app-management-policy|license)$/.exec(route);
  if (tenantRoute) {
    const tenant = findTenant(state, tenantRoute[1] ?? '', problem);
    if (!(tenant instanceof TenantDirectory)) return tenant;
    if (tenantRoute[2] === 'license') {
      const parsed = parse(licenseSchema);
      if ('response' in parsed) return parsed.response;
      tenant.premiumLicense = parsed.value.premium;
      return { status: 200, body: { tenantId: tenant.tenantId, premium: tenant.premiumLicense } };
    }
    const parsed = parse(appManagementPolicySchema);
    if ('response' in parsed) return parsed.response;
    const { passwordAddition, passwordLifetimeMaxDays } = parsed.value;
    setTenantPasswordRestrictions(tenant, {
      ...(passwordAddition !== undefined
        ? { passwordAddition: typeof passwordAddition === 'boolean' ? passwordAddition : { restrictForAppsCreatedAfterDateTime: passwordAddition.restrictForAppsCreatedAfterDateTime ?? null } }
        : {}),
      ...(passwordLifetimeMaxDays !== undefined ? { passwordLifetimeMaxDays } : {}),
    });
    return { status: 200, body: { tenantId: tenant.tenantId, defaultAppManagementPolicy: tenantPolicyView(tenant.defaultAppManagementPolicy) } };
  }
  if (route === 'POST /applications') {
    const parsed = parse(createApplicationSchema);
    if ('response' in parsed) return parsed.response;
    return createApplication(state, parsed.value, problem);
  }
  if (route === 'POST /operator-application') {
    const parsed = parse(operatorSchema);
    if ('response' in parsed) return parsed.response;
    return createOperator(state, parsed.value, problem);
  }
  return undefined;
}
