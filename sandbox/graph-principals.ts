/**
 * Emulated Graph `servicePrincipals`, their app role assignments (application-permission consent)
 * and `oauth2PermissionGrants` (delegated consent), with the replication-lag and duplicate answers
 * real Entra gives right after objects are created.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { addPasswordSchema, mintPassword, passwordDates, removePasswordSchema } from './graph-applications';
import { reachOf } from './graph-permissions';
import { passwordPolicyRefusal } from './graph-policies';
import {
  appRoleAssignmentView,
  collection,
  entity,
  fail,
  grantView,
  insufficientPrivileges,
  isVisible,
  methodNotAllowed,
  newOpaqueId,
  ok,
  ownsApplication,
  ownsServicePrincipal,
  parseBody,
  resourceNotFound,
  servicePrincipalView,
  type GraphContext,
  type Segment,
} from './graph-support';
import type { AppRoleAssignmentRecord, OAuth2PermissionGrantRecord, SandboxResponse, ServicePrincipalRecord } from './types';

/** The app role id meaning "default access" when a resource defines no roles. */
const DEFAULT_ACCESS_ROLE_ID = '00000000-0000-0000-0000-000000000000';

const createServicePrincipalSchema = z.object({ appId: z.string().min(1) });

const assignmentSchema = z.object({
  principalId: z.string().min(1),
  resourceId: z.string().min(1),
  appRoleId: z.string().min(1),
});

const grantSchema = z.object({
  clientId: z.string().min(1),
  consentType: z.enum(['AllPrincipals', 'Principal']),
  principalId: z.string().min(1).nullable().optional(),
  resourceId: z.string().min(1),
  scope: z.string(),
});

const grantPatchSchema = z.object({ scope: z.string() });

type SpLookup = { sp: ServicePrincipalRecord } | { response: SandboxResponse };

function lookupServicePrincipal(ctx: GraphContext, key: { property: string; value: string }): SpLookup {
  const { state, tenant } = ctx;
  let sp: ServicePrincipalRecord | undefined;
  if (key.property === 'id') sp = tenant.findServicePrincipalById(key.value);
  else if (key.property === 'appId') sp = tenant.findServicePrincipalByAppId(key.value);
  else return { response: fail(ctx, 400, 'Request_BadRequest', `'${key.property}' is not an alternate key of servicePrincipal.`) };
  if (!sp || !isVisible(state, sp)) return { response: resourceNotFound(ctx, key.value) };
  return { sp };
}

/** A service principal referenced from a request body resolves only once it has replicated. */
function visibleServicePrincipal(ctx: GraphContext, id: string | null | undefined): ServicePrincipalRecord | undefined {
  if (!id) return undefined;
  const sp = ctx.tenant.findServicePrincipalById(id);
  return sp && isVisible(ctx.state, sp) ? sp : undefined;
}

// ---- service principals --------------------------------------------------------------------------

function listServicePrincipals(ctx: GraphContext): SandboxResponse {
  if (reachOf(ctx.claims, 'servicePrincipals.read') === 'none') return insufficientPrivileges(ctx);
  const items = ctx.tenant.servicePrincipals.filter((s) => isVisible(ctx.state, s)).map((s) => servicePrincipalView(ctx.state, s));
  return collection(ctx, 'servicePrincipals', 'servicePrincipal', items);
}

function createServicePrincipal(ctx: GraphContext): SandboxResponse {
  const reach = reachOf(ctx.claims, 'servicePrincipals.create');
  if (reach === 'none') return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, createServicePrincipalSchema);
  if ('response' in parsed) return parsed.response;
  const { appId } = parsed.value;
  const { state, tenant } = ctx;
  // The tenant's own application, or a multi-tenant one from another tenant (provisioning it here).
  const found = state.findApplicationAnywhere(appId);
  const app = found && (found.tenant === tenant || found.app.signInAudience !== 'AzureADMyOrg') ? found.app : undefined;
  if (!app || !isVisible(state, app)) {
    return fail(ctx, 400, 'Request_BadRequest', `The appId '${appId}' of the service principal does not reference a valid application object.`);
  }
  if (reach === 'owned' && (found?.tenant !== tenant || !ownsApplication(ctx.claims, app))) return insufficientPrivileges(ctx);
  if (tenant.findServicePrincipalByAppId(appId)) {
    return fail(
      ctx,
      409,
      'Request_MultipleObjectsWithSameKeyValue',
      `The service principal cannot be created, updated, or restored because the service principal name ${appId} is already in use.`,
    );
  }
  const sp: ServicePrincipalRecord = {
    id: randomUUID(),
    appId,
    displayName: app.displayName,
    servicePrincipalType: 'Application',
    appRoles: [],
    oauth2PermissionScopes: [],
    createdDateTime: state.nowIso(),
    visibleFrom: state.now() + state.replicationLagSeconds * 1000,
    owners: [ctx.claims.oid],
  };
  tenant.servicePrincipals.push(sp);
  return entity(ctx, 'servicePrincipals', servicePrincipalView(state, sp), 201);
}

// ---- service principal credentials ---------------------------------------------------------------

/**
 * App Instance Lock: the credentials of a multi-tenant app's service principal in a tenant other than
 * the app's home cannot be changed while the app's lock covers them
 * (https://learn.microsoft.com/en-us/entra/identity-platform/howto-configure-app-instance-property-locks);
 * the refusal is the observed 400 `CannotUpdateLockedServicePrincipalProperty`
 * (https://github.com/Azure/azure-cli/issues/28734). The sandbox leaves home-tenant service principals
 * unlocked, as the lock is described ("after the application is provisioned in another tenant"),
 * although that issue shows a home-tenant refusal too.
 */
function lockRefusal(ctx: GraphContext, sp: ServicePrincipalRecord): SandboxResponse | undefined {
  const found = ctx.state.findApplicationAnywhere(sp.appId);
  if (!found || found.tenant === ctx.tenant) return undefined;
  const lock = found.app.servicePrincipalLockConfiguration;
  if (!lock?.isEnabled || !(lock.allProperties || lock.credentialsWithUsageVerify)) return undefined;
  return fail(ctx, 400, 'CannotUpdateLockedServicePrincipalProperty', 'Property passwordCredentials is invalid.');
}

/** `POST /servicePrincipals/{id}/addPassword` and `removePassword` (https://learn.microsoft.com/en-us/graph/api/serviceprincipal-addpassword?view=graph-rest-1.0). */
function servicePrincipalPassword(ctx: GraphContext, sp: ServicePrincipalRecord, action: 'addPassword' | 'removePassword'): SandboxResponse {
  if (reachOf(ctx.claims, 'servicePrincipals.write') === 'owned' && !ownsServicePrincipal(ctx.claims, sp)) return insufficientPrivileges(ctx);
  const locked = lockRefusal(ctx, sp);
  if (locked) return locked;
  if (action === 'removePassword') {
    const parsed = parseBody(ctx, removePasswordSchema);
    if ('response' in parsed) return parsed.response;
    const credentials = sp.passwordCredentials ?? [];
    const keyId = parsed.value.keyId.toLowerCase();
    if (!credentials.some((c) => c.keyId.toLowerCase() === keyId)) {
      return fail(ctx, 400, 'Request_BadRequest', `No password credential found with keyId ${parsed.value.keyId}.`);
    }
    sp.passwordCredentials = credentials.filter((c) => c.keyId.toLowerCase() !== keyId);
    return ok(ctx, 204);
  }
  const parsed = parseBody(ctx, addPasswordSchema);
  if ('response' in parsed) return parsed.response;
  const requested = parsed.value.passwordCredential;
  const dates = passwordDates(ctx, requested);
  if ('status' in dates) return dates;
  const refusal = passwordPolicyRefusal(ctx, { kind: 'servicePrincipal', policyId: null, createdDateTime: sp.createdDateTime }, dates.start.getTime(), dates.end.getTime());
  if (refusal) return refusal;
  const { response, credential } = mintPassword(ctx, requested?.displayName, dates.start, dates.end);
  sp.passwordCredentials = [...(sp.passwordCredentials ?? []), credential];
  return response;
}

// ---- app role assignments ------------------------------------------------------------------------

type AssignmentRelation = 'appRoleAssignments' | 'appRoleAssignedTo';

function assignmentsOf(ctx: GraphContext, sp: ServicePrincipalRecord, relation: AssignmentRelation): AppRoleAssignmentRecord[] {
  return ctx.tenant.appRoleAssignments.filter((a) => (relation === 'appRoleAssignments' ? a.principalId : a.resourceId) === sp.id);
}

function listAssignments(ctx: GraphContext, sp: ServicePrincipalRecord, relation: AssignmentRelation): SandboxResponse {
  const reach = reachOf(ctx.claims, 'appRoleAssignments.read');
  if (reach === 'none') return insufficientPrivileges(ctx);
  let items = assignmentsOf(ctx, sp, relation);
  if (reach === 'owned') {
    // An OwnedBy-only caller sees the consents of the principals it owns, nothing else.
    if (relation === 'appRoleAssignments' && !ownsServicePrincipal(ctx.claims, sp)) return insufficientPrivileges(ctx);
    items = items.filter((a) => {
      const principal = ctx.tenant.findServicePrincipalById(a.principalId);
      return principal !== undefined && ownsServicePrincipal(ctx.claims, principal);
    });
  }
  return collection(ctx, `servicePrincipals('${sp.id}')/${relation}`, 'appRoleAssignment', items.map(appRoleAssignmentView));
}

function createAssignment(ctx: GraphContext, pathSp: ServicePrincipalRecord, relation: AssignmentRelation): SandboxResponse {
  if (reachOf(ctx.claims, 'appRoleAssignments.write') === 'none') return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, assignmentSchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  const { state, tenant } = ctx;
  const pathRole = relation === 'appRoleAssignedTo' ? 'resourceId' : 'principalId';
  if (body[pathRole].toLowerCase() !== pathSp.id.toLowerCase()) {
    return fail(ctx, 400, 'Request_BadRequest', `The '${pathRole}' in the request body must be the service principal addressed by the request URL.`);
  }
  const principal = visibleServicePrincipal(ctx, body.principalId);
  const resource = visibleServicePrincipal(ctx, body.resourceId);
  // A principal that has not replicated yet is what makes Entra answer this cryptic 400.
  if (!principal || !resource) return fail(ctx, 400, 'Request_BadRequest', 'Not a valid reference update.');
  const role = resource.appRoles.find((r) => r.id.toLowerCase() === body.appRoleId.toLowerCase() && r.isEnabled);
  if (!role && !(body.appRoleId === DEFAULT_ACCESS_ROLE_ID && resource.appRoles.length === 0)) {
    return fail(ctx, 400, 'Request_BadRequest', 'Permission being assigned was not found on application.');
  }
  const duplicate = tenant.appRoleAssignments.some(
    (a) => a.principalId === principal.id && a.resourceId === resource.id && a.appRoleId.toLowerCase() === body.appRoleId.toLowerCase(),
  );
  if (duplicate) {
    // Graph reports a repeated app role assignment as a 400 Request_BadRequest (not a 409).
    return fail(ctx, 400, 'Request_BadRequest', 'Permission being assigned already exists on the object.');
  }
  const assignment: AppRoleAssignmentRecord = {
    id: newOpaqueId(),
    appRoleId: role ? role.id : DEFAULT_ACCESS_ROLE_ID,
    principalId: principal.id,
    principalType: 'ServicePrincipal',
    principalDisplayName: principal.displayName,
    resourceId: resource.id,
    resourceDisplayName: resource.displayName,
    createdDateTime: state.nowIso(),
    deletedDateTime: null,
  };
  tenant.appRoleAssignments.push(assignment);
  return entity(ctx, `servicePrincipals('${pathSp.id}')/${relation}`, appRoleAssignmentView(assignment), 201);
}

function assignmentItem(
  ctx: GraphContext,
  sp: ServicePrincipalRecord,
  relation: AssignmentRelation,
  assignmentId: string,
): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const assignment = assignmentsOf(ctx, sp, relation).find((a) => a.id === assignmentId);
  if (method === 'GET') {
    const reach = reachOf(ctx.claims, 'appRoleAssignments.read');
    if (reach === 'none') return insufficientPrivileges(ctx);
    if (!assignment) return resourceNotFound(ctx, assignmentId);
    if (reach === 'owned') {
      const principal = ctx.tenant.findServicePrincipalById(assignment.principalId);
      if (!principal || !ownsServicePrincipal(ctx.claims, principal)) return insufficientPrivileges(ctx);
    }
    return entity(ctx, `servicePrincipals('${sp.id}')/${relation}`, appRoleAssignmentView(assignment));
  }
  if (method === 'DELETE') {
    if (reachOf(ctx.claims, 'appRoleAssignments.write') === 'none') return insufficientPrivileges(ctx);
    if (!assignment) return resourceNotFound(ctx, assignmentId);
    ctx.tenant.appRoleAssignments = ctx.tenant.appRoleAssignments.filter((a) => a !== assignment);
    return ok(ctx, 204);
  }
  return methodNotAllowed(ctx);
}

// ---- oauth2PermissionGrants ----------------------------------------------------------------------

function ownsGrantClient(ctx: GraphContext, grant: OAuth2PermissionGrantRecord): boolean {
  const client = ctx.tenant.findServicePrincipalById(grant.clientId);
  return client !== undefined && ownsServicePrincipal(ctx.claims, client);
}

function listGrants(ctx: GraphContext, client?: ServicePrincipalRecord): SandboxResponse {
  const reach = reachOf(ctx.claims, 'oauth2PermissionGrants.read');
  if (reach === 'none') return insufficientPrivileges(ctx);
  if (client && reach === 'owned' && !ownsServicePrincipal(ctx.claims, client)) return insufficientPrivileges(ctx);
  const items = ctx.tenant.oauth2PermissionGrants
    .filter((g) => !client || g.clientId === client.id)
    .filter((g) => reach === 'all' || ownsGrantClient(ctx, g))
    .map(grantView);
  const contextPath = client ? `servicePrincipals('${client.id}')/oauth2PermissionGrants` : 'oauth2PermissionGrants';
  return collection(ctx, contextPath, 'oAuth2PermissionGrant', items);
}

function invalidGrantProperty(ctx: GraphContext, property: string): SandboxResponse {
  return fail(ctx, 400, 'Request_BadRequest', `Invalid value specified for property '${property}' of resource 'OAuth2PermissionGrant'.`);
}

function unknownScopes(resource: ServicePrincipalRecord, scope: string): string[] {
  const known = new Set(resource.oauth2PermissionScopes.filter((s) => s.isEnabled).map((s) => s.value));
  return scope.split(' ').filter((s) => s.length > 0 && !known.has(s));
}

function createGrant(ctx: GraphContext): SandboxResponse {
  if (reachOf(ctx.claims, 'oauth2PermissionGrants.write') === 'none') return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, grantSchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  const client = visibleServicePrincipal(ctx, body.clientId);
  if (!client) return invalidGrantProperty(ctx, 'clientId');
  const resource = visibleServicePrincipal(ctx, body.resourceId);
  if (!resource) return invalidGrantProperty(ctx, 'resourceId');
  const principalId = body.consentType === 'Principal' ? (body.principalId ?? null) : null;
  if (body.consentType === 'Principal' && !principalId) return invalidGrantProperty(ctx, 'principalId');
  if (body.consentType === 'AllPrincipals' && body.principalId) return invalidGrantProperty(ctx, 'principalId');
  if (unknownScopes(resource, body.scope).length > 0) return invalidGrantProperty(ctx, 'scope');
  const { tenant } = ctx;
  const duplicate = tenant.oauth2PermissionGrants.some(
    (g) => g.clientId === client.id && g.resourceId === resource.id && g.consentType === body.consentType && g.principalId === principalId,
  );
  if (duplicate) return fail(ctx, 409, 'Request_MultipleObjectsWithSameKeyValue', 'Permission entry already exists.');
  const grant: OAuth2PermissionGrantRecord = {
    id: newOpaqueId(),
    clientId: client.id,
    consentType: body.consentType,
    principalId,
    resourceId: resource.id,
    scope: body.scope,
  };
  tenant.oauth2PermissionGrants.push(grant);
  return entity(ctx, 'oauth2PermissionGrants', grantView(grant), 201);
}

function grantItem(ctx: GraphContext, grantId: string): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const grant = ctx.tenant.oauth2PermissionGrants.find((g) => g.id === grantId);
  if (method === 'GET') {
    const reach = reachOf(ctx.claims, 'oauth2PermissionGrants.read');
    if (reach === 'none') return insufficientPrivileges(ctx);
    if (!grant) return resourceNotFound(ctx, grantId);
    if (reach === 'owned' && !ownsGrantClient(ctx, grant)) return insufficientPrivileges(ctx);
    return entity(ctx, 'oauth2PermissionGrants', grantView(grant));
  }
  if (method !== 'PATCH' && method !== 'DELETE') return methodNotAllowed(ctx);
  if (reachOf(ctx.claims, 'oauth2PermissionGrants.write') === 'none') return insufficientPrivileges(ctx);
  if (!grant) return resourceNotFound(ctx, grantId);
  if (method === 'DELETE') {
    ctx.tenant.oauth2PermissionGrants = ctx.tenant.oauth2PermissionGrants.filter((g) => g !== grant);
    return ok(ctx, 204);
  }
  const parsed = parseBody(ctx, grantPatchSchema);
  if ('response' in parsed) return parsed.response;
  const resource = ctx.tenant.findServicePrincipalById(grant.resourceId);
  if (resource && unknownScopes(resource, parsed.value.scope).length > 0) return invalidGrantProperty(ctx, 'scope');
  grant.scope = parsed.value.scope;
  return ok(ctx, 204);
}

/** Routes everything under `/oauth2PermissionGrants`. */
export function handleGrants(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  if (segments.length === 1 && !segments[0]?.altKey) {
    if (method === 'GET') return listGrants(ctx);
    if (method === 'POST') return createGrant(ctx);
    return methodNotAllowed(ctx);
  }
  if (segments.length === 2 && !segments[0]?.altKey) return grantItem(ctx, (segments[1] as Segment).name);
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${segments[segments.length - 1]?.name ?? ''}'.`);
}

/** Routes everything under `/servicePrincipals`. */
export function handleServicePrincipals(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const [first, second] = segments as [Segment, Segment | undefined];
  if (!first.altKey && !second) {
    if (method === 'GET') return listServicePrincipals(ctx);
    if (method === 'POST') return createServicePrincipal(ctx);
    return methodNotAllowed(ctx);
  }
  const key = first.altKey ?? { property: 'id', value: (second as Segment).name };
  const rest = first.altKey ? segments.slice(1) : segments.slice(2);

  if (rest.length === 0) {
    if (method !== 'GET') return methodNotAllowed(ctx);
    if (reachOf(ctx.claims, 'servicePrincipals.read') === 'none') return insufficientPrivileges(ctx);
    const found = lookupServicePrincipal(ctx, key);
    if ('response' in found) return found.response;
    return entity(ctx, 'servicePrincipals', servicePrincipalView(ctx.state, found.sp));
  }

  const relation = rest[0]?.name;
  if ((relation === 'addPassword' || relation === 'removePassword') && rest.length === 1) {
    if (method !== 'POST') return methodNotAllowed(ctx);
    if (reachOf(ctx.claims, 'servicePrincipals.write') === 'none') return insufficientPrivileges(ctx);
    const target = lookupServicePrincipal(ctx, key);
    if ('response' in target) return target.response;
    return servicePrincipalPassword(ctx, target.sp, relation);
  }
  if (relation !== 'appRoleAssignments' && relation !== 'appRoleAssignedTo' && relation !== 'oauth2PermissionGrants') {
    return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${relation ?? ''}'.`);
  }
  if (rest.length > 2) return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${rest[2]?.name ?? ''}'.`);
  const found = lookupServicePrincipal(ctx, key);
  if ('response' in found) return found.response;
  const sp = found.sp;

  if (relation === 'oauth2PermissionGrants') {
    if (rest.length > 1 || method !== 'GET') return methodNotAllowed(ctx);
    return listGrants(ctx, sp);
  }
  if (rest.length === 2) return assignmentItem(ctx, sp, relation, (rest[1] as Segment).name);
  if (method === 'GET') return listAssignments(ctx, sp, relation);
  if (method === 'POST') return createAssignment(ctx, sp, relation);
  return methodNotAllowed(ctx);
}
