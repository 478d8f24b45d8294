/**
 * Emulated Graph `applications`: upsert by `uniqueName` (`Prefer: create-if-missing`), CRUD by object
 * id or appId, and client secrets (`addPassword` / `removePassword`) under the tenant's credential
 * lifetime policy. Ownership follows the caller's service principal, as with app-only tokens.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { reachOf } from './graph-permissions';
import {
  applicationView,
  collection,
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
import type { ApplicationRecord, SandboxResponse } from './types';

/** Id of the tenant-wide default app management policy, as Graph reports it in policy errors. */
export const TENANT_APP_MANAGEMENT_POLICY_ID = '00000000-0000-0000-0000-000000000000';

const DAY_MS = 86_400_000;

const resourceAccessSchema = z.object({
  resourceAppId: z.string().min(1),
  resourceAccess: z.array(z.object({ id: z.string().min(1), type: z.enum(['Role', 'Scope']) })),
});

const signInAudienceSchema = z.enum([
  'AzureADMyOrg',
  'AzureADMultipleOrgs',
  'AzureADandPersonalMicrosoftAccount',
  'PersonalMicrosoftAccount',
]);

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
  passwordCredentials: z.unknown().optional(),
});
type ApplicationBody = z.infer<typeof applicationBodySchema>;

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date and time');

const addPasswordSchema = z.object({
  passwordCredential: z
    .object({
      displayName: z.string().max(256).nullable().optional(),
      startDateTime: isoDate.nullable().optional(),
      endDateTime: isoDate.nullable().optional(),
    })
    .nullable()
    .optional(),
});

const removePasswordSchema = z.object({ keyId: z.guid() });

type AppLookup = { app: ApplicationRecord } | { response: SandboxResponse };

/** Resolves `applications/{id}` or `applications(appId|uniqueName='…')`; fresh objects are not yet readable. */
function lookup(ctx: GraphContext, key: { property: string; value: string }): AppLookup {
  const { state } = ctx;
  let app: ApplicationRecord | undefined;
  if (key.property === 'id') app = state.findApplicationById(key.value);
  else if (key.property === 'appId') app = state.findApplicationByAppId(key.value);
  else if (key.property === 'uniqueName') app = state.applications.find((a) => a.uniqueName === key.value);
  else return { response: fail(ctx, 400, 'Request_BadRequest', `'${key.property}' is not an alternate key of application.`) };
  if (!app || !isVisible(state, app)) return { response: resourceNotFound(ctx, key.value) };
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
  };
  state.applications.push(app);
  return app;
}

function applyUpdate(app: ApplicationRecord, body: ApplicationBody): void {
  if (body.displayName !== undefined) app.displayName = body.displayName;
  if (body.signInAudience !== undefined) app.signInAudience = body.signInAudience;
  if (body.requiredResourceAccess !== undefined) app.requiredResourceAccess = body.requiredResourceAccess;
  if (body.notes !== undefined) app.notes = body.notes;
  if (body.description !== undefined) app.description = body.description;
  if (body.tags !== undefined) app.tags = body.tags;
}

function uniqueNameTaken(ctx: GraphContext, uniqueName: string, except?: ApplicationRecord): boolean {
  return ctx.state.applications.some((a) => a !== except && a.uniqueName === uniqueName);
}

function listApplications(ctx: GraphContext): SandboxResponse {
  const reach = reachOf(ctx.claims, 'applications.read');
  if (reach === 'none') return insufficientPrivileges(ctx);
  const items = ctx.state.applications
    .filter((a) => isVisible(ctx.state, a))
    .filter((a) => reach === 'all' || ownsApplication(ctx.claims, a))
    .map((a) => applicationView(ctx.state, a));
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
  return entity(ctx, 'applications', applicationView(ctx.state, app), 201);
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
  const existing = ctx.state.applications.find((a) => a.uniqueName === uniqueName);
  if (existing) {
    if (reachWrite === 'none' || (reachWrite === 'owned' && !ownsApplication(ctx.claims, existing))) {
      return insufficientPrivileges(ctx);
    }
    applyUpdate(existing, body);
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
  return entity(ctx, 'applications', applicationView(ctx.state, app), 201);
}

function removeApplication(ctx: GraphContext, app: ApplicationRecord): void {
  const { state } = ctx;
  // Deleting an application also deletes its service principal, and with it its consents.
  const sp = state.findServicePrincipalByAppId(app.appId);
  state.applications = state.applications.filter((a) => a !== app);
  if (sp) {
    state.servicePrincipals = state.servicePrincipals.filter((s) => s !== sp);
    state.appRoleAssignments = state.appRoleAssignments.filter((a) => a.principalId !== sp.id && a.resourceId !== sp.id);
    state.oauth2PermissionGrants = state.oauth2PermissionGrants.filter((g) => g.clientId !== sp.id && g.resourceId !== sp.id);
  }
}

function addPassword(ctx: GraphContext, app: ApplicationRecord): SandboxResponse {
  const parsed = parseBody(ctx, addPasswordSchema);
  if ('response' in parsed) return parsed.response;
  const { state } = ctx;
  const requested = parsed.value.passwordCredential ?? {};
  const start = requested.startDateTime ? new Date(Date.parse(requested.startDateTime)) : new Date(state.now());
  let end: Date;
  if (requested.endDateTime) {
    end = new Date(Date.parse(requested.endDateTime));
  } else {
    end = new Date(start.getTime());
    end.setUTCFullYear(end.getUTCFullYear() + 2);
  }
  if (end.getTime() <= start.getTime()) {
    return fail(ctx, 400, 'Request_BadRequest', "The value of 'endDateTime' must be later than 'startDateTime'.");
  }
  const maxDays = state.passwordLifetimeMaxDays;
  if (maxDays !== null && end.getTime() - start.getTime() > maxDays * DAY_MS) {
    // The shape Graph returns when a tenant app management policy caps the secret lifetime.
    const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${TENANT_APP_MANAGEMENT_POLICY_ID}'.`;
    return fail(ctx, 400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, {
      details: [{ code: 'InvalidKeyEndDate', message, target: 'EndDate' }],
    });
  }
  const { secretText, hint } = state.mintSecret();
  const credential = {
    keyId: randomUUID(),
    displayName: requested.displayName ?? null,
    hint,
    customKeyIdentifier: null,
    startDateTime: start.toISOString(),
    endDateTime: end.toISOString(),
    secretText,
    usableFrom: state.now() + state.secretPropagationSeconds * 1000,
  };
  app.passwordCredentials.push(credential);
  return ok(ctx, 200, {
    '@odata.context': `${ctx.serviceRoot}/$metadata#microsoft.graph.passwordCredential`,
    customKeyIdentifier: null,
    displayName: credential.displayName,
    endDateTime: credential.endDateTime,
    hint,
    keyId: credential.keyId,
    secretText,
    startDateTime: credential.startDateTime,
  });
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

/** Routes everything under `/applications`. `segments[0]` is the `applications` segment. */
export function handleApplications(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const [first, second, third] = segments as [Segment, Segment | undefined, Segment | undefined];
  if (segments.length > 3) return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${segments[3]?.name ?? ''}'.`);

  if (!first.altKey && !second) {
    if (method === 'GET') return listApplications(ctx);
    if (method === 'POST') return postApplication(ctx);
    return methodNotAllowed(ctx);
  }

  let key: { property: string; value: string };
  let action: Segment | undefined;
  if (first.altKey) {
    key = first.altKey;
    action = second;
    if (third) return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${third.name}'.`);
  } else {
    key = { property: 'id', value: (second as Segment).name };
    action = third;
  }

  if (!action && method === 'PATCH' && key.property === 'uniqueName') return upsertByUniqueName(ctx, key.value);

  const readReach = reachOf(ctx.claims, 'applications.read');
  const writeReach = reachOf(ctx.claims, 'applications.write');
  const isWrite = method !== 'GET';
  const reach = isWrite ? writeReach : readReach;
  if (reach === 'none') return insufficientPrivileges(ctx);
  const found = lookup(ctx, key);
  if ('response' in found) return found.response;
  const app = found.app;
  if (reach === 'owned' && !ownsApplication(ctx.claims, app)) return insufficientPrivileges(ctx);

  if (!action) {
    if (method === 'GET') return entity(ctx, 'applications', applicationView(ctx.state, app));
    if (method === 'DELETE') {
      removeApplication(ctx, app);
      return ok(ctx, 204);
    }
    if (method === 'PATCH') {
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
      applyUpdate(app, body);
      return ok(ctx, 204);
    }
    return methodNotAllowed(ctx);
  }

  if (method !== 'POST') return methodNotAllowed(ctx);
  if (action.name === 'addPassword') return addPassword(ctx, app);
  if (action.name === 'removePassword') return removePassword(ctx, app);
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${action.name}'.`);
}
