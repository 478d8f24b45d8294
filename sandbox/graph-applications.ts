/**
 * Emulated Graph `applications` in the caller's tenant: upsert by `uniqueName` (`Prefer:
 * create-if-missing`), CRUD by object id or appId, client secrets (`addPassword` / `removePassword`)
 * under the tenant's app management policies, `owners`, federated identity credentials, the
 * assignment of an app management policy, and App Instance Lock (`servicePrincipalLockConfiguration`).
 * Ownership follows the caller's service principal, as with app-only tokens.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reachOf, type GraphOperation } from './graph-permissions';
import { appPolicyView, passwordPolicyRefusal } from './graph-policies';
import {
  applicationView,
  collection,
  directoryObjectView,
  entity,
  fail,
  header,
  insufficientPrivileges,
  isVisible,
  methodNotAllowed,
  ok,
  ownsApplication,
  parseBody,
  resourceNotFound,
  type GraphContext,
  type Segment,
} from './graph-support';
import { registerPartnerOperators } from './seed';
import type { ApplicationRecord, FederatedIdentityCredentialRecord, SandboxResponse, ServicePrincipalLockConfiguration } from './types';


/**
 * App Instance Lock with every property locked: what Entra gives applications created from the
 * admin centre since 2023 and, from June 2026, through Graph too (Message Center MC1300584;
 * https://learn.microsoft.com/en-us/entra/identity-platform/howto-configure-app-instance-property-locks).
 */
export function lockedByDefault(): ServicePrincipalLockConfiguration {
  return { isEnabled: true, allProperties: true, credentialsWithUsageVerify: true, credentialsWithUsageSign: true, tokenEncryptionKeyId: true };
}

/** Most federated identity credentials an application may have (https://learn.microsoft.com/en-us/graph/api/application-post-federatedidentitycredentials?view=graph-rest-1.0). */
export const MAX_FEDERATED_CREDENTIALS = 20;

const resourceAccessSchema = z.object({
  resourceAppId: z.string().min(1),
  resourceAccess: z.array(z.object({ id: z.string().min(1), type: z.enum(['Role', 'Scope']) })),
});

export const signInAudienceSchema = z.enum([
  'AzureADMyOrg',
  'AzureADMultipleOrgs',
  'AzureADandPersonalMicrosoftAccount',
  'PersonalMicrosoftAccount',
]);

const lockSchema = z.strictObject({
  isEnabled: z.boolean().optional(),
  allProperties: z.boolean().optional(),
  credentialsWithUsageVerify: z.boolean().optional(),
  credentialsWithUsageSign: z.boolean().optional(),
  tokenEncryptionKeyId: z.boolean().optional(),
});

/**
 * Writable properties this sandbox models. `passwordCredentials` is listed so it can be refused with a
 * pointed message: Graph only changes secrets through addPassword/removePassword.
 */
const applicationBodySchema = z.strictObject({
  '@odata.type': z.literal('#microsoft.graph.application').optional(),
  displayName: z.string().min(1).max(256).optional(),
  uniqueName: z.string().min(1).max(256).optional(),
  signInAudience: signInAudienceSchema.optional(),
  requiredResourceAccess: z.array(resourceAccessSchema).optional(),
  notes: z.string().max(1024).nullable().optional(),
  description: z.string().max(1024).nullable().optional(),
  tags: z.array(z.string()).optional(),
  servicePrincipalLockConfiguration: lockSchema.nullable().optional(),
  // The web platform's redirect URIs (https://learn.microsoft.com/graph/api/resources/webapplication); other web settings are not modelled.
  web: z.strictObject({ redirectUris: z.array(z.string().url()).max(256) }).optional(),
  passwordCredentials: z.unknown().optional(),
});
type ApplicationBody = z.infer<typeof applicationBodySchema>;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date and time');

export const addPasswordSchema = z.object({
  passwordCredential: z
    .object({
      displayName: z.string().max(256).nullable().optional(),
      startDateTime: isoDate.nullable().optional(),
      endDateTime: isoDate.nullable().optional(),
    })
    .nullable()
    .optional(),
});

export const removePasswordSchema = z.object({ keyId: z.guid() });

const ficBodySchema = z.strictObject({
  '@odata.type': z.string().optional(),
  name: z.string().optional(),
  issuer: z.string().max(600).optional(),
  subject: z.string().max(600).optional(),
  description: z.string().max(600).nullable().optional(),
  audiences: z.array(z.string().max(600)).optional(),
});

const referenceSchema = z.object({ '@odata.id': z.string().min(1) });

type AppLookup = { app: ApplicationRecord } | { response: SandboxResponse };

/** Resolves `applications/{id}` or `applications(appId|uniqueName='…')` in the caller's tenant; fresh objects are not yet readable. */
function lookup(ctx: GraphContext, key: { property: string; value: string }): AppLookup {
  const { tenant } = ctx;
  let app: ApplicationRecord | undefined;
  if (key.property === 'id') app = tenant.findApplicationById(key.value);
  else if (key.property === 'appId') app = tenant.findApplicationByAppId(key.value);
  else if (key.property === 'uniqueName') app = tenant.applications.find((a) => a.uniqueName === key.value);
  else return { response: fail(ctx, 400, 'Request_BadRequest', `'${key.property}' is not an alternate key of application.`) };
  if (!app || !isVisible(ctx.state, app)) return { response: resourceNotFound(ctx, key.value) };
  return { app };
}

function refuseSecretsInBody(ctx: GraphContext, body: ApplicationBody): SandboxResponse | undefined {
  if (body.passwordCredentials !== undefined) {
    return fail(
      ctx,
      400,
      'Request_BadRequest',
      "Property 'passwordCredentials' cannot be set on create or update; use the addPassword and removePassword actions.",
    );
  }
  return undefined;
}

function lockFrom(current: ServicePrincipalLockConfiguration | null | undefined, body: z.infer<typeof lockSchema> | null): ServicePrincipalLockConfiguration | null {
  if (body === null) return null;
  const base = current ?? { isEnabled: false, allProperties: false, credentialsWithUsageVerify: false, credentialsWithUsageSign: false, tokenEncryptionKeyId: false };
  return {
    isEnabled: body.isEnabled ?? base.isEnabled,
    allProperties: body.allProperties ?? base.allProperties,
    credentialsWithUsageVerify: body.credentialsWithUsageVerify ?? base.credentialsWithUsageVerify,
    credentialsWithUsageSign: body.credentialsWithUsageSign ?? base.credentialsWithUsageSign,
    tokenEncryptionKeyId: body.tokenEncryptionKeyId ?? base.tokenEncryptionKeyId,
  };
}

function createApplication(ctx: GraphContext, body: ApplicationBody, uniqueName: string | null): ApplicationRecord {
  const { state } = ctx;
  const app: ApplicationRecord = {
    id: randomUUID(),
    appId: randomUUID(),
    uniqueName,
    displayName: body.displayName as string,
    signInAudience: body.signInAudience ?? 'AzureADMyOrg',
    description: body.description ?? null,
    notes: body.notes ?? null,
    tags: body.tags ?? [],
    requiredResourceAccess: body.requiredResourceAccess ?? [],
    passwordCredentials: [],
    // An app created with an app-only token is owned by the calling service principal.
    owners: [ctx.claims.oid],
    createdDateTime: state.nowIso(),
    visibleFrom: state.now() + state.replicationLagSeconds * 1000,
    federatedIdentityCredentials: [],
    servicePrincipalLockConfiguration: body.servicePrincipalLockConfiguration !== undefined ? lockFrom(lockedByDefault(), body.servicePrincipalLockConfiguration) : lockedByDefault(),
    appManagementPolicyId: null,
    webRedirectUris: body.web ? [...body.web.redirectUris] : [],
  };
  ctx.tenant.applications.push(app);
  return app;
}

function applyUpdate(ctx: GraphContext, app: ApplicationRecord, body: ApplicationBody): void {
  if (body.displayName !== undefined) app.displayName = body.displayName;
  if (body.signInAudience !== undefined) app.signInAudience = body.signInAudience;
  if (body.requiredResourceAccess !== undefined) app.requiredResourceAccess = body.requiredResourceAccess;
  if (body.notes !== undefined) app.notes = body.notes;
  if (body.description !== undefined) app.description = body.description;
  if (body.tags !== undefined) app.tags = body.tags;
  if (body.web !== undefined) app.webRedirectUris = [...body.web.redirectUris];
  if (body.servicePrincipalLockConfiguration !== undefined) app.servicePrincipalLockConfiguration = lockFrom(app.servicePrincipalLockConfiguration, body.servicePrincipalLockConfiguration);
  if (body.signInAudience !== undefined) registerPartnerOperators(ctx.state);
}

function uniqueNameTaken(ctx: GraphContext, uniqueName: string, except?: ApplicationRecord): boolean {
  return ctx.tenant.applications.some((a) => a !== except && a.uniqueName === uniqueName);
}

function listApplications(ctx: GraphContext): SandboxResponse {
  const reach = reachOf(ctx.claims, 'applications.read');
  if (reach === 'none') return insufficientPrivileges(ctx);
  const items = ctx.tenant.applications
    .filter((a) => isVisible(ctx.state, a))
    .filter((a) => reach === 'all' || ownsApplication(ctx.claims, a))
    .map((a) => applicationView(ctx.tenant, a));
  return collection(ctx, 'applications', 'application', items);
}

function postApplication(ctx: GraphContext): SandboxResponse {
  if (reachOf(ctx.claims, 'applications.create') === 'none') return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, applicationBodySchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  const refused = refuseSecretsInBody(ctx, body);
  if (refused) return refused;
  if (body.displayName === undefined) {
    return fail(ctx, 400, 'Request_BadRequest', "Property 'displayName' is required when creating an application.");
  }
  if (body.uniqueName !== undefined && uniqueNameTaken(ctx, body.uniqueName)) {
    return fail(ctx, 409, 'Request_MultipleObjectsWithSameKeyValue', 'Another object with the same value for property uniqueName already exists.');
  }
  const app = createApplication(ctx, body, body.uniqueName ?? null);
  return entity(ctx, 'applications', applicationView(ctx.tenant, app), 201);
}

/**
 * `PATCH /applications(uniqueName='…')`: Graph's idempotent upsert. Uniqueness of `uniqueName` is
 * enforced at write time, so the upsert sees an application even while reads of it still lag.
 */
function upsertByUniqueName(ctx: GraphContext, uniqueName: string): SandboxResponse {
  const createIfMissing = (header(ctx.req, 'prefer') ?? '')
    .split(',')
    .some((p) => p.trim().toLowerCase() === 'create-if-missing');
  const reachRead = reachOf(ctx.claims, 'applications.read');
  const reachWrite = reachOf(ctx.claims, 'applications.write');
  const reachCreate = reachOf(ctx.claims, 'applications.create');
  if (reachWrite === 'none' && !(createIfMissing && reachCreate !== 'none')) return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, applicationBodySchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  const refused = refuseSecretsInBody(ctx, body);
  if (refused) return refused;
  if (body.uniqueName !== undefined && body.uniqueName !== uniqueName) {
    return fail(ctx, 400, 'Request_BadRequest', "Property 'uniqueName' is immutable and must match the key in the request URL.");
  }
  const existing = ctx.tenant.applications.find((a) => a.uniqueName === uniqueName);
  if (existing) {
    if (reachWrite === 'none' || (reachWrite === 'owned' && !ownsApplication(ctx.claims, existing))) {
      return insufficientPrivileges(ctx);
    }
    applyUpdate(ctx, existing, body);
    return ok(ctx, 204);
  }
  if (!createIfMissing) {
    if (reachRead === 'none') return insufficientPrivileges(ctx);
    return resourceNotFound(ctx, uniqueName);
  }
  if (body.displayName === undefined) {
    return fail(ctx, 400, 'Request_BadRequest', "Property 'displayName' is required when creating an application.");
  }
  const app = createApplication(ctx, body, uniqueName);
  return entity(ctx, 'applications', applicationView(ctx.tenant, app), 201);
}

function removeApplication(ctx: GraphContext, app: ApplicationRecord): void {
  const { tenant } = ctx;
  // Deleting an application also deletes its service principal, and with it its consents.
  const sp = tenant.findServicePrincipalByAppId(app.appId);
  tenant.applications = tenant.applications.filter((a) => a !== app);
  if (sp) {
    tenant.servicePrincipals = tenant.servicePrincipals.filter((s) => s !== sp);
    tenant.appRoleAssignments = tenant.appRoleAssignments.filter((a) => a.principalId !== sp.id && a.resourceId !== sp.id);
    tenant.oauth2PermissionGrants = tenant.oauth2PermissionGrants.filter((g) => g.clientId !== sp.id && g.resourceId !== sp.id);
  }
}

/**
 * Start and end of a new password credential as Graph sets them: now and two years later unless the
 * request says otherwise. A response when the dates are unusable.
 */
export function passwordDates(ctx: GraphContext, requested: z.infer<typeof addPasswordSchema>['passwordCredential']): { start: Date; end: Date } | SandboxResponse {
  const start = requested?.startDateTime ? new Date(Date.parse(requested.startDateTime)) : new Date(ctx.state.now());
  let end: Date;
  if (requested?.endDateTime) {
    end = new Date(Date.parse(requested.endDateTime));
  } else {
    end = new Date(start.getTime());
    end.setUTCFullYear(end.getUTCFullYear() + 2);
  }
  if (end.getTime() <= start.getTime()) {
    return fail(ctx, 400, 'Request_BadRequest', "The value of 'endDateTime' must be later than 'startDateTime'.");
  }
  return { start, end };
}

/** Mints the credential and answers as `addPassword` does: the secret text appears only here. */
export function mintPassword(ctx: GraphContext, displayName: string | null | undefined, start: Date, end: Date): { response: SandboxResponse; credential: ApplicationRecord['passwordCredentials'][number] } {
  const { state } = ctx;
  const { secretText, hint } = state.mintSecret();
  const credential = {
    keyId: randomUUID(),
    displayName: displayName ?? null,
    hint,
    customKeyIdentifier: null,
    startDateTime: start.toISOString(),
    endDateTime: end.toISOString(),
    secretText,
    usableFrom: state.now() + state.secretPropagationSeconds * 1000,
  };
  const response = ok(ctx, 200, {
    '@odata.context': `${ctx.serviceRoot}/$metadata#microsoft.graph.passwordCredential`,
    customKeyIdentifier: null,
    displayName: credential.displayName,
    endDateTime: credential.endDateTime,
    hint,
    keyId: credential.keyId,
    secretText,
    startDateTime: credential.startDateTime,
  });
  return { response, credential };
}

function addPassword(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const parsed = parseBody(ctx, addPasswordSchema);
  if ('response' in parsed) return parsed.response;
  const requested = parsed.value.passwordCredential;
  const dates = passwordDates(ctx, requested);
  if ('status' in dates) return dates;
  const refusal = passwordPolicyRefusal(
    ctx,
    { kind: 'application', policyId: app.appManagementPolicyId, createdDateTime: app.createdDateTime },
    dates.start.getTime(),
    dates.end.getTime(),
  );
  if (refusal) return refusal;
  const { response, credential } = mintPassword(ctx, requested?.displayName, dates.start, dates.end);
  app.passwordCredentials.push(credential);
  return response;
}

function removePassword(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const parsed = parseBody(ctx, removePasswordSchema);
  if ('response' in parsed) return parsed.response;
  const { keyId } = parsed.value;
  const index = app.passwordCredentials.findIndex((c) => c.keyId.toLowerCase() === keyId.toLowerCase());
  if (index < 0) {
    // Graph answers an unknown (or already removed) keyId with a 400 naming the key, not a 404 or a
    // silent 204; callers that retry a removal must treat it as "already gone".
    return fail(ctx, 400, 'Request_BadRequest', `No password credential found with keyId ${keyId}.`);
  }
  app.passwordCredentials.splice(index, 1);
  return ok(ctx, 204);
}

// ---- owners -------------------------------------------------------------------------------------------

/** The object id a `{"@odata.id": ".../directoryObjects/{id}"}` reference names. */
function referencedId(reference: string): string | undefined {
  const m = /\/(?:directoryObjects|servicePrincipals|users)\/([^/?#]+)\/?$/.exec(reference) ?? /^([0-9a-fA-F-]{36})$/.exec(reference);
  return m?.[1];
}

/** `GET /applications/{id}/owners` (https://learn.microsoft.com/en-us/graph/api/application-list-owners?view=graph-rest-1.0). */
function listOwners(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const items = app.owners.map((id) => directoryObjectView(ctx.tenant, id)).filter((o): o is Record<string, unknown> => o !== undefined);
  return collection(ctx, 'directoryObjects', 'directoryObject', items);
}

/** `POST /applications/{id}/owners/$ref` (https://learn.microsoft.com/en-us/graph/api/application-post-owners?view=graph-rest-1.0). */
function addOwner(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const parsed = parseBody(ctx, referenceSchema);
  if ('response' in parsed) return parsed.response;
  const id = referencedId(parsed.value['@odata.id']);
  if (!id) return fail(ctx, 400, 'Request_BadRequest', `Invalid object identifier '${parsed.value['@odata.id']}'.`);
  if (!directoryObjectView(ctx.tenant, id)) return resourceNotFound(ctx, id);
  if (app.owners.includes(id)) {
    return fail(ctx, 400, 'Request_BadRequest', "One or more added object references already exist for the following modified properties: 'owners'.");
  }
  app.owners.push(id);
  return ok(ctx, 204);
}

/**
 * `DELETE /applications/{id}/owners/{ownerId}/$ref` (https://learn.microsoft.com/en-us/graph/api/application-delete-owners?view=graph-rest-1.0).
 * An id that is not among the owners is answered as Graph answers a missing reference, 404 (assumed: the page
 * documents only the 204).
 */
function removeOwner(ctx: GraphContext, app: ApplicationRecord, ownerId: string): SandboxResponse {
  const index = app.owners.findIndex((o) => o.toLowerCase() === ownerId.toLowerCase());
  if (index < 0) return resourceNotFound(ctx, ownerId);
  app.owners.splice(index, 1);
  return ok(ctx, 204);
}

// ---- federated identity credentials ---------------------------------------------------------------------

export function ficView(f: FederatedIdentityCredentialRecord): Record<string, unknown> {
  return { id: f.id, name: f.name, issuer: f.issuer, subject: f.subject, description: f.description, audiences: [...f.audiences] };
}

/** `name`: 3–120 characters, alphanumeric, dash or underscore, starting alphanumeric. */
const FIC_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;

/**
 * Validates a new or changed credential the way Graph does at creation: shape only. Issuer and
 * subject are not checked against anything: "the federated identity credential is created
 * successfully without error. The error does not become apparent until the token exchange fails".
 */
function ficProblem(ctx: GraphContext, app: ApplicationRecord, candidate: Omit<FederatedIdentityCredentialRecord, 'id' | 'usableFrom'>, except?: FederatedIdentityCredentialRecord): SandboxResponse | undefined {
  const others = (app.federatedIdentityCredentials ?? []).filter((f) => f !== except);
  if (!FIC_NAME.test(candidate.name)) return fail(ctx, 400, 'Request_BadRequest', `Federated Identity Credential name '${candidate.name}' is invalid.`);
  if (candidate.audiences.length !== 1) return fail(ctx, 400, 'Request_BadRequest', 'Federated identity credentials must have exactly one audience.');
  if (candidate.issuer === '' || candidate.subject === '') return fail(ctx, 400, 'Request_BadRequest', "Properties 'issuer' and 'subject' are required.");
  if (others.some((f) => f.name === candidate.name)) {
    // Not documented; the name is an alternate key, so a second one is a key conflict.
    return fail(ctx, 409, 'Request_MultipleObjectsWithSameKeyValue', `A federated identity credential named '${candidate.name}' already exists on this application.`);
  }
  if (others.some((f) => f.issuer === candidate.issuer && f.subject === candidate.subject)) {
    return fail(ctx, 400, 'Request_BadRequest', 'Issuer and subject combination already exists for this application.');
  }
  if (!except && others.length >= MAX_FEDERATED_CREDENTIALS) {
    // The limit is documented, its error text is not.
    return fail(ctx, 400, 'Request_BadRequest', `An application can have at most ${MAX_FEDERATED_CREDENTIALS} federated identity credentials.`);
  }
  return undefined;
}

function createFic(ctx: GraphContext, app: ApplicationRecord, body: z.infer<typeof ficBodySchema>, name: string): SandboxResponse {
  const candidate = {
    name,
    issuer: body.issuer ?? '',
    subject: body.subject ?? '',
    description: body.description ?? null,
    audiences: body.audiences ?? [],
  };
  const problem = ficProblem(ctx, app, candidate);
  if (problem) return problem;
  const fic: FederatedIdentityCredentialRecord = {
    id: randomUUID(),
    ...candidate,
    // Entra matches a new credential only after it propagates (AADSTS70021 before); the sandbox uses the secret propagation delay.
    usableFrom: ctx.state.now() + ctx.state.secretPropagationSeconds * 1000,
  };
  app.federatedIdentityCredentials = [...(app.federatedIdentityCredentials ?? []), fic];
  registerPartnerOperators(ctx.state);
  return entity(ctx, `applications('${app.id}')/federatedIdentityCredentials`, ficView(fic), 201);
}

function updateFic(ctx: GraphContext, app: ApplicationRecord, fic: FederatedIdentityCredentialRecord, body: z.infer<typeof ficBodySchema>): SandboxResponse {
  if (body.name !== undefined && body.name !== fic.name) return fail(ctx, 400, 'Request_BadRequest', "Property 'name' is immutable.");
  const candidate = {
    name: fic.name,
    issuer: body.issuer ?? fic.issuer,
    subject: body.subject ?? fic.subject,
    description: body.description !== undefined ? body.description : fic.description,
    audiences: body.audiences ?? fic.audiences,
  };
  const problem = ficProblem(ctx, app, candidate, fic);
  if (problem) return problem;
  Object.assign(fic, candidate);
  registerPartnerOperators(ctx.state);
  return ok(ctx, 204);
}

/**
 * `/applications/{id}/federatedIdentityCredentials[/{id} | (name='…')]`: list, create, get, update
 * (upsert by name with `Prefer: create-if-missing`) and delete
 * (https://learn.microsoft.com/en-us/graph/api/application-post-federatedidentitycredentials?view=graph-rest-1.0,
 * https://learn.microsoft.com/en-us/graph/api/federatedidentitycredential-upsert?view=graph-rest-1.0).
 */
function federatedCredentials(ctx: GraphContext, app: ApplicationRecord, collectionSegment: Segment, item: Segment | undefined): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const write = method !== 'GET';
  const reach = reachOf(ctx.claims, write ? 'applications.write' : 'applications.read');
  if (reach === 'none' || (reach === 'owned' && !ownsApplication(ctx.claims, app))) return insufficientPrivileges(ctx);
  const fics = app.federatedIdentityCredentials ?? [];
  const key = collectionSegment.altKey ?? (item ? { property: 'id', value: item.name } : undefined);
  if (!key) {
    if (method === 'GET') return collection(ctx, `applications('${app.id}')/federatedIdentityCredentials`, 'federatedIdentityCredential', fics.map(ficView));
    if (method !== 'POST') return methodNotAllowed(ctx);
    const parsed = parseBody(ctx, ficBodySchema);
    if ('response' in parsed) return parsed.response;
    return createFic(ctx, app, parsed.value, parsed.value.name ?? '');
  }
  if (key.property !== 'id' && key.property !== 'name') return fail(ctx, 400, 'Request_BadRequest', `'${key.property}' is not an alternate key of federatedIdentityCredential.`);
  const fic = fics.find((f) => (key.property === 'id' ? f.id === key.value : f.name === key.value));
  if (method === 'GET') return fic ? entity(ctx, `applications('${app.id}')/federatedIdentityCredentials`, ficView(fic)) : resourceNotFound(ctx, key.value);
  if (method === 'DELETE') {
    if (!fic) return resourceNotFound(ctx, key.value);
    app.federatedIdentityCredentials = fics.filter((f) => f !== fic);
    return ok(ctx, 204);
  }
  if (method !== 'PATCH') return methodNotAllowed(ctx);
  const parsed = parseBody(ctx, ficBodySchema);
  if ('response' in parsed) return parsed.response;
  if (fic) return updateFic(ctx, app, fic, parsed.value);
  const createIfMissing = (header(ctx.req, 'prefer') ?? '').split(',').some((p) => p.trim().toLowerCase() === 'create-if-missing');
  if (!createIfMissing || key.property !== 'name') return resourceNotFound(ctx, key.value);
  if (parsed.value.name !== undefined && parsed.value.name !== key.value) {
    return fail(ctx, 400, 'Request_BadRequest', "Property 'name' must match the key in the request URL.");
  }
  return createFic(ctx, app, parsed.value, key.value);
}

// ---- app management policy assignment --------------------------------------------------------------------

function policyId(reference: string): string | undefined {
  return /\/policies\/appManagementPolicies\/([^/?#]+)\/?$/.exec(reference)?.[1];
}

/**
 * `GET /applications/{id}/appManagementPolicies`, `POST .../appManagementPolicies/$ref` (204) and
 * `DELETE .../appManagementPolicies/{policyId}/$ref`. "Only one app management policy can be assigned
 * to an application" (https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-post-appliesto?view=graph-rest-1.0).
 */
function appManagementPolicies(ctx: GraphContext, app: ApplicationRecord, rest: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const [, second, third] = rest;
  if (rest.length === 1) {
    if (method !== 'GET') return methodNotAllowed(ctx);
    if (reachOf(ctx.claims, 'applications.read') === 'none' || reachOf(ctx.claims, 'policies.read') === 'none') return insufficientPrivileges(ctx);
    const assigned = ctx.tenant.appManagementPolicies.filter((p) => p.id === app.appManagementPolicyId);
    return collection(ctx, 'policies/appManagementPolicies', 'appManagementPolicy', assigned.map(appPolicyView));
  }
  if (reachOf(ctx.claims, 'policies.assign') === 'none') return insufficientPrivileges(ctx);
  if (rest.length === 2 && second?.name === '$ref') {
    if (method !== 'POST') return methodNotAllowed(ctx);
    const parsed = parseBody(ctx, referenceSchema);
    if ('response' in parsed) return parsed.response;
    const id = policyId(parsed.value['@odata.id']);
    const policy = id ? ctx.tenant.appManagementPolicies.find((p) => p.id === id) : undefined;
    if (!policy) return resourceNotFound(ctx, id ?? parsed.value['@odata.id']);
    if (app.appManagementPolicyId && app.appManagementPolicyId !== policy.id) {
      // The error text is not documented; Microsoft says to edit the assigned policy instead.
      return fail(ctx, 400, 'Request_BadRequest', `The application already has the app management policy '${app.appManagementPolicyId}' assigned; only one can be.`);
    }
    app.appManagementPolicyId = policy.id;
    return ok(ctx, 204);
  }
  if (rest.length === 3 && third?.name === '$ref' && second) {
    if (method !== 'DELETE') return methodNotAllowed(ctx);
    if (app.appManagementPolicyId !== second.name) return resourceNotFound(ctx, second.name);
    app.appManagementPolicyId = null;
    return ok(ctx, 204);
  }
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${rest[rest.length - 1]?.name ?? ''}'.`);
}

// ---- routing ------------------------------------------------------------------------------------------

function authorize(ctx: GraphContext, app: ApplicationRecord, operation: GraphOperation): SandboxResponse | undefined {
  const reach = reachOf(ctx.claims, operation);
  if (reach === 'none' || (reach === 'owned' && !ownsApplication(ctx.claims, app))) return insufficientPrivileges(ctx);
  return undefined;
}

function patchApplication(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const parsed = parseBody(ctx, applicationBodySchema);
  if ('response' in parsed) return parsed.response;
  const refused = refuseSecretsInBody(ctx, parsed.value);
  if (refused) return refused;
  const body = parsed.value;
  if (body.uniqueName !== undefined && body.uniqueName !== app.uniqueName) {
    if (app.uniqueName !== null) return fail(ctx, 400, 'Request_BadRequest', "Property 'uniqueName' is immutable once set.");
    if (uniqueNameTaken(ctx, body.uniqueName, app)) {
      return fail(ctx, 409, 'Request_MultipleObjectsWithSameKeyValue', 'Another object with the same value for property uniqueName already exists.');
    }
    app.uniqueName = body.uniqueName;
  }
  applyUpdate(ctx, app, body);
  return ok(ctx, 204);
}

/** The permission an application request needs at the least (ownership is checked on the object). */
function operationOf(action: string | undefined, next: string | undefined, last: string | undefined, isWrite: boolean): GraphOperation {
  if (action === 'owners' && next === '$ref') return 'applications.owners.write';
  if (action === 'owners' && next !== undefined && last === '$ref') return 'applications.owners.remove';
  if (action === 'appManagementPolicies') return isWrite ? 'policies.assign' : 'policies.read';
  if (action === 'addPassword' || action === 'removePassword') return 'applications.write';
  return isWrite ? 'applications.write' : 'applications.read';
}

/** Routes everything under `/applications`. `segments[0]` is the `applications` segment. */
export function handleApplications(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const [first, second] = segments as [Segment, Segment | undefined];

  if (!first.altKey && !second) {
    if (method === 'GET') return listApplications(ctx);
    if (method === 'POST') return postApplication(ctx);
    return methodNotAllowed(ctx);
  }

  const key = first.altKey ?? { property: 'id', value: (second as Segment).name };
  const rest = first.altKey ? segments.slice(1) : segments.slice(2);
  const [action, next] = rest;

  if (!action && method === 'PATCH' && key.property === 'uniqueName') return upsertByUniqueName(ctx, key.value);

  const isWrite = method !== 'GET';
  // Permission before existence, as Graph answers a caller without the permission.
  if (reachOf(ctx.claims, operationOf(action?.name, next?.name, rest[2]?.name, isWrite)) === 'none') return insufficientPrivileges(ctx);
  const found = lookup(ctx, key);
  if ('response' in found) return found.response;
  const app = found.app;

  if (!action) {
    const denied = authorize(ctx, app, isWrite ? 'applications.write' : 'applications.read');
    if (denied) return denied;
    if (method === 'GET') return entity(ctx, 'applications', applicationView(ctx.tenant, app));
    if (method === 'DELETE') {
      removeApplication(ctx, app);
      return ok(ctx, 204);
    }
    if (method === 'PATCH') return patchApplication(ctx, app);
    return methodNotAllowed(ctx);
  }

  switch (action.name) {
    case 'addPassword':
    case 'removePassword': {
      if (rest.length > 1) break;
      if (method !== 'POST') return methodNotAllowed(ctx);
      const denied = authorize(ctx, app, 'applications.write');
      if (denied) return denied;
      return action.name === 'addPassword' ? addPassword(ctx, app) : removePassword(ctx, app);
    }
    case 'owners': {
      if (rest.length === 1) {
        if (method !== 'GET') return methodNotAllowed(ctx);
        const denied = authorize(ctx, app, 'applications.read');
        return denied ?? listOwners(ctx, app);
      }
      if (rest.length === 2 && next?.name === '$ref') {
        if (method !== 'POST') return methodNotAllowed(ctx);
        const denied = authorize(ctx, app, 'applications.owners.write');
        return denied ?? addOwner(ctx, app);
      }
      if (rest.length === 3 && next !== undefined && rest[2]?.name === '$ref') {
        if (method !== 'DELETE') return methodNotAllowed(ctx);
        const denied = authorize(ctx, app, 'applications.owners.remove');
        return denied ?? removeOwner(ctx, app, next.name);
      }
      break;
    }
    case 'federatedIdentityCredentials':
      if (rest.length <= 2) return federatedCredentials(ctx, app, action, next);
      break;
    case 'appManagementPolicies':
      return appManagementPolicies(ctx, app, rest);
    default:
      break;
  }
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${rest[rest.length - 1]?.name ?? action.name}'.`);
}
