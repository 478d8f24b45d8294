/**
 * Typed client for the Entra objects the product owns, over the official Microsoft Graph JS client:
 * the app registration (upserted by `uniqueName`), its service principal, admin consent (the
 * `Mail.Send` app role assignment and the tenant-wide `User.Read` grant), its client secrets, and a
 * test message. Wire shapes are validated with zod and mapped to the public camelCase types below;
 * every Graph failure leaves as a `ServiceError`.
 */
import type { TokenCredential } from '@azure/core-auth';
import { Client, ResponseType } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_VALUE } from '../contracts/wellKnown';
import { fromHttpFailure, ServiceError, toServiceError, type ErrorContext } from './errors';
import { createGraphClient } from './graphClient';

// ---------------------------------------------------------------------------------------------------
// Public types

export interface ResourceAccess {
  id: string;
  type: 'Role' | 'Scope';
}

export interface RequiredResourceAccess {
  resourceAppId: string;
  resourceAccess: ResourceAccess[];
}

/** A client secret's metadata; the secret text itself is never part of it. */
export interface PasswordCredentialInfo {
  keyId: string;
  displayName: string | null;
  /** First characters of the secret, as Entra shows them. */
  hint: string | null;
  startDateTime: string | null;
  endDateTime: string | null;
}

export interface Application {
  /** Directory object id (used in `/applications/{id}`). */
  objectId: string;
  /** Application (client) id. */
  appId: string;
  uniqueName: string | null;
  displayName: string;
  signInAudience: string;
  notes: string | null;
  tags: string[];
  requiredResourceAccess: RequiredResourceAccess[];
  passwordCredentials: PasswordCredentialInfo[];
  /** Certificates (key ids only). */
  keyCredentialIds: string[];
  createdDateTime: string | null;
}

/** One password restriction of an app management policy, as Graph shows it. */
export interface PasswordRestriction {
  /** `passwordAddition`, `passwordLifetime`, `customPasswordAddition`, `symmetricKeyAddition`, … */
  restrictionType: string;
  /** `enabled` or `disabled` (a disabled restriction in an app's own policy exempts the app). */
  state: string;
  /** ISO 8601 duration, for lifetime restrictions. */
  maxLifetime: string | null;
  /** The restriction applies to apps created at or after this time only; null: to all. */
  restrictForAppsCreatedAfterDateTime: string | null;
}

/** The app management policies that govern one app's passwords. */
export interface AppManagementPolicies {
  tenantDefault: { id: string; isEnabled: boolean; passwordRestrictions: PasswordRestriction[] };
  /** The app's own policy, if one is assigned (at most one). */
  assigned: Array<{ id: string; displayName: string | null; isEnabled: boolean; passwordRestrictions: PasswordRestriction[] }>;
}

/** An app registration in brief, as a listing of the tenant's apps gives it. */
export interface ApplicationSummary {
  objectId: string;
  appId: string;
  uniqueName: string | null;
  displayName: string;
  tags: string[];
}

export interface ApplicationDefinition {
  uniqueName: string;
  displayName: string;
  signInAudience: string;
  requiredResourceAccess: RequiredResourceAccess[];
  notes?: string;
  tags?: string[];
}

export interface AppRoleInfo {
  id: string;
  value: string | null;
  isEnabled: boolean;
}

export interface PermissionScopeInfo {
  id: string;
  value: string | null;
  isEnabled: boolean;
}

export interface ServicePrincipal {
  objectId: string;
  appId: string;
  displayName: string | null;
  /** Key ids of secrets and certificates held on the service principal itself (they sign in as the app too). */
  credentialKeyIds: string[];
  appRoles: AppRoleInfo[];
  oauth2PermissionScopes: PermissionScopeInfo[];
}

export interface AppRoleAssignment {
  id: string;
  appRoleId: string;
  principalId: string;
  resourceId: string;
  createdDateTime: string | null;
}

export interface DelegatedPermissionGrant {
  id: string;
  /** Object id of the client's service principal. */
  clientId: string;
  /** Object id of the resource's service principal (Graph's). */
  resourceId: string;
  consentType: string;
  principalId: string | null;
  /** The granted scope values, e.g. `['User.Read']`. */
  scopes: string[];
}

export interface ConsentStatus {
  mailSendGranted: boolean;
  userReadGranted: boolean;
  /** Both of the above. */
  granted: boolean;
}

/**
 * A client secret just created. The only type that carries `secretText`: it exists for the one
 * activity that moves the value from Graph into Key Vault, and must not be logged or returned.
 */
export interface NewPasswordCredential {
  keyId: string;
  secretText: string;
  hint: string | null;
  displayName: string | null;
  startDateTime: string;
  endDateTime: string;
}

export interface MailMessage {
  /** Mailbox (UPN or id) the message is sent as. */
  from: string;
  to: string[];
  subject: string;
  bodyText?: string;
  bodyHtml?: string;
}

export interface EntraApplicationsOptions {
  /** Graph root without version; default `https://graph.microsoft.com` (national clouds and the sandbox differ). */
  graphBaseUrl?: string;
  /** Tenant the credential signs in to; keys the cache of Graph's service principal. */
  tenantId?: string;
  /**
   * Where Graph's service principal is remembered per tenant (it never changes), shared by the clients
   * of one set of services; by default each client remembers its own.
   */
  graphServicePrincipals?: Map<string, Promise<ServicePrincipal>>;
  /** The Graph client's own retry of 429/503/504 honouring `Retry-After`. */
  retry?: { maxRetries?: number; delaySeconds?: number };
}

/** Per-call context: the environment named in error messages, and what the caller knows about freshness. */
export interface CallOptions {
  environmentId?: string;
  /**
   * The object addressed was created moments ago: a 404 is replication lag, not absence. The client also
   * remembers objects it created itself for a few minutes.
   */
  fresh?: boolean;
  /** The credential of this client holds a secret created moments ago (token refusals are then lag). */
  freshSecret?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes (what Graph sends), kept apart from the public types

const wirePasswordCredential = z.object({
  keyId: z.string(),
  displayName: z.string().nullish(),
  hint: z.string().nullish(),
  startDateTime: z.string().nullish(),
  endDateTime: z.string().nullish(),
  secretText: z.string().nullish(),
});

const wireRequiredResourceAccess = z.object({
  resourceAppId: z.string(),
  resourceAccess: z.array(z.object({ id: z.string(), type: z.enum(['Role', 'Scope']) })),
});

const wireApplication = z.object({
  id: z.string(),
  appId: z.string(),
  uniqueName: z.string().nullish(),
  displayName: z.string().nullish(),
  signInAudience: z.string().nullish(),
  notes: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  createdDateTime: z.string().nullish(),
  requiredResourceAccess: z.array(wireRequiredResourceAccess).nullish(),
  passwordCredentials: z.array(wirePasswordCredential).nullish(),
  keyCredentials: z.array(z.object({ keyId: z.string() })).nullish(),
});

const wirePasswordRestriction = z.object({
  restrictionType: z.string(),
  state: z.string().nullish(),
  maxLifetime: z.string().nullish(),
  restrictForAppsCreatedAfterDateTime: z.string().nullish(),
});

const wireTenantPolicy = z.object({
  id: z.string(),
  isEnabled: z.boolean().nullish(),
  applicationRestrictions: z.object({ passwordCredentials: z.array(wirePasswordRestriction).nullish() }).nullish(),
});

const wireAppPolicies = z.object({
  value: z.array(
    z.object({
      id: z.string(),
      displayName: z.string().nullish(),
      isEnabled: z.boolean().nullish(),
      restrictions: z.object({ passwordCredentials: z.array(wirePasswordRestriction).nullish() }).nullish(),
    }),
  ),
});

function toRestrictions(list: Array<z.infer<typeof wirePasswordRestriction>> | null | undefined): PasswordRestriction[] {
  return (list ?? []).map((r) => ({
    restrictionType: r.restrictionType,
    state: r.state ?? 'enabled',
    maxLifetime: r.maxLifetime ?? null,
    restrictForAppsCreatedAfterDateTime: r.restrictForAppsCreatedAfterDateTime ?? null,
  }));
}

const wireApplicationSummary = z.object({
  id: z.string(),
  appId: z.string(),
  uniqueName: z.string().nullish(),
  displayName: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
});

const wireDirectoryObjectIds = z.object({ value: z.array(z.object({ id: z.string() })), '@odata.nextLink': z.string().nullish() });

const wireServicePrincipal = z.object({
  id: z.string(),
  appId: z.string(),
  displayName: z.string().nullish(),
  passwordCredentials: z.array(z.object({ keyId: z.string() })).nullish(),
  keyCredentials: z.array(z.object({ keyId: z.string() })).nullish(),
  appRoles: z.array(z.object({ id: z.string(), value: z.string().nullish(), isEnabled: z.boolean().nullish() })).nullish(),
  oauth2PermissionScopes: z
    .array(z.object({ id: z.string(), value: z.string().nullish(), isEnabled: z.boolean().nullish() }))
    .nullish(),
});

const wireAppRoleAssignment = z.object({
  id: z.string(),
  appRoleId: z.string(),
  principalId: z.string(),
  resourceId: z.string(),
  createdDateTime: z.string().nullish(),
});

const wireGrant = z.object({
  id: z.string(),
  clientId: z.string(),
  resourceId: z.string(),
  consentType: z.string(),
  principalId: z.string().nullish(),
  scope: z.string().nullish(),
});

const wireNewPassword = z.object({
  keyId: z.string(),
  secretText: z.string(),
  hint: z.string().nullish(),
  displayName: z.string().nullish(),
  startDateTime: z.string(),
  endDateTime: z.string(),
});

const wireError = z.object({
  error: z.object({
    code: z.string().nullish(),
    message: z.string().nullish(),
    innerError: z.object({ 'request-id': z.string().nullish() }).nullish(),
  }),
});

function page<T extends z.ZodType>(item: T) {
  return z.object({ value: z.array(item), '@odata.nextLink': z.string().nullish() });
}

// ---------------------------------------------------------------------------------------------------
// Mapping

function toApplication(w: z.infer<typeof wireApplication>): Application {
  return {
    objectId: w.id,
    appId: w.appId,
    uniqueName: w.uniqueName ?? null,
    displayName: w.displayName ?? '',
    signInAudience: w.signInAudience ?? '',
    notes: w.notes ?? null,
    tags: [...(w.tags ?? [])],
    keyCredentialIds: (w.keyCredentials ?? []).map((k) => k.keyId),
    requiredResourceAccess: (w.requiredResourceAccess ?? []).map((r) => ({
      resourceAppId: r.resourceAppId,
      resourceAccess: r.resourceAccess.map((a) => ({ id: a.id, type: a.type })),
    })),
    passwordCredentials: (w.passwordCredentials ?? []).map(toPasswordInfo),
    createdDateTime: w.createdDateTime ?? null,
  };
}

function toPasswordInfo(w: z.infer<typeof wirePasswordCredential>): PasswordCredentialInfo {
  // secretText is deliberately dropped: Graph only fills it in addPassword's answer.
  return {
    keyId: w.keyId,
    displayName: w.displayName ?? null,
    hint: w.hint ?? null,
    startDateTime: w.startDateTime ?? null,
    endDateTime: w.endDateTime ?? null,
  };
}

function toServicePrincipal(w: z.infer<typeof wireServicePrincipal>): ServicePrincipal {
  return {
    objectId: w.id,
    appId: w.appId,
    displayName: w.displayName ?? null,
    credentialKeyIds: [...(w.passwordCredentials ?? []), ...(w.keyCredentials ?? [])].map((c) => c.keyId),
    appRoles: (w.appRoles ?? []).map((r) => ({ id: r.id, value: r.value ?? null, isEnabled: r.isEnabled ?? true })),
    oauth2PermissionScopes: (w.oauth2PermissionScopes ?? []).map((s) => ({
      id: s.id,
      value: s.value ?? null,
      isEnabled: s.isEnabled ?? true,
    })),
  };
}

function toAssignment(w: z.infer<typeof wireAppRoleAssignment>): AppRoleAssignment {
  return {
    id: w.id,
    appRoleId: w.appRoleId,
    principalId: w.principalId,
    resourceId: w.resourceId,
    createdDateTime: w.createdDateTime ?? null,
  };
}

function toGrant(w: z.infer<typeof wireGrant>): DelegatedPermissionGrant {
  return {
    id: w.id,
    clientId: w.clientId,
    resourceId: w.resourceId,
    consentType: w.consentType,
    principalId: w.principalId ?? null,
    scopes: splitScopes(w.scope),
  };
}

function splitScopes(scope: string | null | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter((s) => s.length > 0);
}

/** OData string literal inside a key or filter: single quotes are doubled, then the value is URL-safe. */
export function odataString(value: string): string {
  return encodeURIComponent(value.replace(/'/g, "''"));
}

// ---------------------------------------------------------------------------------------------------
// The client

/** Objects created by this client are treated as fresh (404 = replication lag) for this long. */
const FRESH_WINDOW_MS = 10 * 60 * 1000;
const LAG_ACTION = 'Entra ID is still replicating an object created moments ago; the step is retried automatically.';

type Permission =
  | 'Policy.Read.All'
  | 'Application.ReadWrite.OwnedBy'
  | 'AppRoleAssignment.ReadWrite.All'
  | 'DelegatedPermissionGrant.ReadWrite.All'
  | 'Mail.Send';

export class EntraApplications {
  private readonly client: Client;
  private readonly credential: TokenCredential;
  private readonly scope: string;
  private callerId: Promise<string> | undefined;
  private readonly baseUrl: string;
  private readonly tenantId: string | undefined;
  private readonly graphServicePrincipals: Map<string, Promise<ServicePrincipal>>;
  private readonly created = new Map<string, number>();

  constructor(credential: TokenCredential, options: EntraApplicationsOptions = {}) {
    const { client, endpoint } = createGraphClient(credential, {
      ...(options.graphBaseUrl !== undefined ? { graphBaseUrl: options.graphBaseUrl } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
    });
    this.client = client;
    this.credential = credential;
    this.scope = endpoint.scope;
    this.baseUrl = endpoint.baseUrl;
    this.tenantId = options.tenantId;
    this.graphServicePrincipals = options.graphServicePrincipals ?? new Map<string, Promise<ServicePrincipal>>();
  }

  // ---- applications ---------------------------------------------------------------------------------

  async getApplicationByUniqueName(uniqueName: string, options: CallOptions = {}): Promise<Application | null> {
    const ctx = this.ctx('Read the app registration', options, 'Application.ReadWrite.OwnedBy');
    try {
      const body: unknown = await this.client.api(`/applications(uniqueName='${odataString(uniqueName)}')`).get();
      return toApplication(parse(wireApplication, body, ctx));
    } catch (e) {
      return nullIfNotFound(e, ctx);
    }
  }

  /**
   * Creates or updates the app registration keyed by `uniqueName` in one idempotent call
   * (`PATCH` with `Prefer: create-if-missing`): 201 = created (body is the app), 204 = updated.
   */
  async upsertApplication(
    definition: ApplicationDefinition,
    options: CallOptions = {},
  ): Promise<{ application: Application; created: boolean }> {
    const ctx = this.ctx('Register the app', options, 'Application.ReadWrite.OwnedBy');
    const body: Record<string, unknown> = {
      displayName: definition.displayName,
      signInAudience: definition.signInAudience,
      requiredResourceAccess: definition.requiredResourceAccess.map((r) => ({
        resourceAppId: r.resourceAppId,
        resourceAccess: r.resourceAccess.map((a) => ({ id: a.id, type: a.type })),
      })),
      ...(definition.notes !== undefined ? { notes: definition.notes } : {}),
      ...(definition.tags !== undefined ? { tags: [...definition.tags] } : {}),
    };
    let response: Response;
    try {
      response = (await this.client
        .api(`/applications(uniqueName='${odataString(definition.uniqueName)}')`)
        .header('Prefer', 'create-if-missing')
        .responseType(ResponseType.RAW)
        .patch(body)) as Response;
    } catch (e) {
      throw toServiceError(e, ctx);
    }
    if (response.status === 201) {
      const application = toApplication(parse(wireApplication, await readJson(response, ctx), ctx));
      this.remember(application.objectId, application.appId);
      return { application, created: true };
    }
    if (response.ok) {
      await response.body?.cancel();
      const application = await this.getApplicationByUniqueName(definition.uniqueName, { ...options, fresh: true });
      if (!application) {
        throw new ServiceError({
          kind: 'replication-lag',
          service: 'graph',
          operation: ctx.operation,
          reason: `the app ${definition.uniqueName} was updated but cannot be read back yet`,
          action: LAG_ACTION,
          ...(options.environmentId ? { environmentId: options.environmentId } : {}),
        });
      }
      return { application, created: false };
    }
    throw await failureFromResponse(response, ctx);
  }

  /**
   * The tenant's default app management policy and any policy assigned to the app: what limits its
   * passwords (https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy,
   * https://learn.microsoft.com/graph/api/application-list-appmanagementpolicies). Needs `Policy.Read.All`.
   */
  async readAppManagementPolicies(appObjectId: string, options: CallOptions = {}): Promise<AppManagementPolicies> {
    const ctx = { ...this.ctx("Read the tenant's app management policies", options, 'Policy.Read.All', appObjectId) };
    try {
      // One after the other: a refusal of the first (no Policy.Read.All) spares the second.
      const tenantBody: unknown = await this.client.api('/policies/defaultAppManagementPolicy').get();
      const appBody: unknown = await this.client.api(`/applications/${encodeURIComponent(appObjectId)}/appManagementPolicies`).get();
      const tenant = parse(wireTenantPolicy, tenantBody, ctx);
      const assigned = parse(wireAppPolicies, appBody, ctx);
      return {
        tenantDefault: { id: tenant.id, isEnabled: tenant.isEnabled ?? true, passwordRestrictions: toRestrictions(tenant.applicationRestrictions?.passwordCredentials) },
        assigned: assigned.value.map((p) => ({
          id: p.id,
          displayName: p.displayName ?? null,
          isEnabled: p.isEnabled ?? true,
          passwordRestrictions: toRestrictions(p.restrictions?.passwordCredentials),
        })),
      };
    } catch (e) {
      throw toServiceError(e, ctx);
    }
  }

  /** The app registration by object id, or null when it does not exist. */
  async getApplication(appObjectId: string, options: CallOptions = {}): Promise<Application | null> {
    const ctx = this.ctx('Read the app registration', options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      const body: unknown = await this.client.api(`/applications/${encodeURIComponent(appObjectId)}`).get();
      return toApplication(parse(wireApplication, body, ctx));
    } catch (e) {
      return nullIfNotFound(e, ctx);
    }
  }

  /** The app registration by application (client) id, or null when this tenant has none. */
  async getApplicationByAppId(appId: string, options: CallOptions = {}): Promise<Application | null> {
    const ctx = this.ctx('Read the app registration', options, 'Application.ReadWrite.OwnedBy');
    try {
      const body: unknown = await this.client.api(`/applications(appId='${odataString(appId)}')`).get();
      return toApplication(parse(wireApplication, body, ctx));
    } catch (e) {
      return nullIfNotFound(e, ctx);
    }
  }

  /**
   * Every app registration of the tenant, in brief (ids, names, tags), every page. Readable with
   * `Application.ReadWrite.OwnedBy` (https://learn.microsoft.com/graph/api/application-list).
   */
  async listApplications(options: CallOptions = {}): Promise<ApplicationSummary[]> {
    const ctx = this.ctx('List the app registrations', options, 'Application.ReadWrite.OwnedBy');
    const out: ApplicationSummary[] = [];
    try {
      let next: string | undefined = '/applications';
      for (let first = true; next !== undefined; first = false) {
        const request = this.client.api(next);
        if (first) request.select(['id', 'appId', 'uniqueName', 'displayName', 'tags']);
        const pageBody = parse(page(wireApplicationSummary), (await request.get()) as unknown, ctx);
        out.push(
          ...pageBody.value.map((a) => ({ objectId: a.id, appId: a.appId, uniqueName: a.uniqueName ?? null, displayName: a.displayName ?? '', tags: [...(a.tags ?? [])] })),
        );
        next = pageBody['@odata.nextLink'] ?? undefined;
      }
    } catch (e) {
      throw toServiceError(e, ctx);
    }
    return out;
  }

  /**
   * Deletes an app registration (Entra keeps it among deleted applications for 30 days:
   * https://learn.microsoft.com/graph/api/application-delete). Idempotent: one already gone answers `deleted: false`.
   */
  async deleteApplication(appObjectId: string, options: CallOptions = {}): Promise<{ deleted: boolean }> {
    const ctx = this.ctx('Delete the app registration', options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      await this.client.api(`/applications/${encodeURIComponent(appObjectId)}`).delete();
      return { deleted: true };
    } catch (e) {
      return { deleted: nullIfNotFound(e, { ...ctx, freshObject: false }) !== null };
    }
  }

  /**
   * Object ids of the app's owners (users, service principals), every page. Readable with
   * `Application.ReadWrite.OwnedBy` (https://learn.microsoft.com/graph/api/application-list-owners).
   */
  async listOwnerIds(appObjectId: string, options: CallOptions = {}): Promise<string[]> {
    const ctx = this.ctx("Read the app's owners", options, 'Application.ReadWrite.OwnedBy', appObjectId);
    const ids: string[] = [];
    try {
      let next: string | undefined = `/applications/${encodeURIComponent(appObjectId)}/owners`;
      for (let first = true; next !== undefined; first = false) {
        const request = this.client.api(next);
        if (first) request.select(['id']);
        const pageBody = parse(wireDirectoryObjectIds, (await request.get()) as unknown, ctx);
        ids.push(...pageBody.value.map((o) => o.id.toLowerCase()));
        next = pageBody['@odata.nextLink'] ?? undefined;
      }
    } catch (e) {
      throw toServiceError(e, ctx);
    }
    return ids;
  }

  /** Ids of the app's federated identity credentials (https://learn.microsoft.com/graph/api/application-list-federatedidentitycredentials). */
  async listFederatedCredentialIds(appObjectId: string, options: CallOptions = {}): Promise<string[]> {
    const ctx = this.ctx("Read the app's federated credentials", options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      const body: unknown = await this.client.api(`/applications/${encodeURIComponent(appObjectId)}/federatedIdentityCredentials`).select(['id']).get();
      return parse(wireDirectoryObjectIds, body, ctx).value.map((o) => o.id);
    } catch (e) {
      throw toServiceError(e, ctx);
    }
  }

  /**
   * The object id of the identity this client acts as (its service principal): the `oid` claim of its own
   * Graph token (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
   */
  async callerObjectId(): Promise<string> {
    this.callerId ??= (async () => {
      const token = await this.credential.getToken(this.scope);
      const payload = token?.token.split('.')[1];
      let oid: unknown;
      try {
        oid = payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { oid?: unknown }).oid : undefined;
      } catch {
        oid = undefined;
      }
      if (typeof oid !== 'string' || oid === '') {
        throw new ServiceError({
          kind: 'permanent',
          service: 'entra',
          operation: "Identify the product's own identity",
          reason: 'its Microsoft Graph token names no object id (oid)',
          action: 'Run the function app with a managed identity or another service principal; a user sign-in cannot own the apps.',
        });
      }
      return oid.toLowerCase();
    })();
    this.callerId.catch(() => {
      this.callerId = undefined;
    });
    return this.callerId;
  }

  async listPasswordCredentials(appObjectId: string, options: CallOptions = {}): Promise<PasswordCredentialInfo[]> {
    const ctx = this.ctx("List the app's client secrets", options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      const body: unknown = await this.client
        .api(`/applications/${encodeURIComponent(appObjectId)}`)
        .select(['id', 'passwordCredentials'])
        .get();
      return (parse(wireApplication.pick({ passwordCredentials: true }), body, ctx).passwordCredentials ?? []).map(
        toPasswordInfo,
      );
    } catch (e) {
      throw toServiceError(e, ctx);
    }
  }

  /** Creates a client secret. The result holds the secret text: hand it straight to the vault. */
  async addPassword(
    appObjectId: string,
    credential: { displayName: string; endDateTime: string | Date; startDateTime?: string | Date },
    options: CallOptions = {},
  ): Promise<NewPasswordCredential> {
    const ctx = this.ctx('Create a client secret', options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      const body: unknown = await this.client.api(`/applications/${encodeURIComponent(appObjectId)}/addPassword`).post({
        passwordCredential: {
          displayName: credential.displayName,
          endDateTime: isoOf(credential.endDateTime),
          ...(credential.startDateTime !== undefined ? { startDateTime: isoOf(credential.startDateTime) } : {}),
        },
      });
      const w = parse(wireNewPassword, body, ctx);
      return {
        keyId: w.keyId,
        secretText: w.secretText,
        hint: w.hint ?? null,
        displayName: w.displayName ?? null,
        startDateTime: w.startDateTime,
        endDateTime: w.endDateTime,
      };
    } catch (e) {
      throw toServiceError(e, ctx);
    }
  }

  /** Removes a client secret. Idempotent: a key that is already gone is not an error (`removed: false`). */
  async removePassword(appObjectId: string, keyId: string, options: CallOptions = {}): Promise<{ removed: boolean }> {
    const ctx = this.ctx('Remove a client secret', options, 'Application.ReadWrite.OwnedBy', appObjectId);
    try {
      await this.client.api(`/applications/${encodeURIComponent(appObjectId)}/removePassword`).post({ keyId });
      return { removed: true };
    } catch (e) {
      const err = toServiceError(e, ctx);
      // Graph refuses an unknown keyId (400/404); only a fresh read can tell "already removed" from a real problem.
      if (err.status === 400 && /no password credential found/i.test(err.serviceMessage ?? '')) return { removed: false };
      if (err.status === 400 || err.kind === 'not-found') {
        const remaining = await this.listPasswordCredentials(appObjectId, options);
        if (!remaining.some((c) => c.keyId.toLowerCase() === keyId.toLowerCase())) return { removed: false };
      }
      throw err;
    }
  }

  // ---- service principals -------------------------------------------------------------------------------

  async getServicePrincipal(appId: string, options: CallOptions = {}): Promise<ServicePrincipal | null> {
    const ctx = this.ctx('Read the service principal', options, 'Application.ReadWrite.OwnedBy');
    try {
      const body: unknown = await this.client.api(`/servicePrincipals(appId='${odataString(appId)}')`).get();
      return toServicePrincipal(parse(wireServicePrincipal, body, ctx));
    } catch (e) {
      return nullIfNotFound(e, { ...ctx, freshObject: false });
    }
  }

  async ensureServicePrincipal(
    appId: string,
    options: CallOptions = {},
  ): Promise<{ servicePrincipal: ServicePrincipal; created: boolean }> {
    const existing = await this.getServicePrincipal(appId, options);
    if (existing) return { servicePrincipal: existing, created: false };
    const ctx = this.ctx('Create the service principal', options, 'Application.ReadWrite.OwnedBy', appId);
    try {
      const body: unknown = await this.client.api('/servicePrincipals').post({ appId });
      const servicePrincipal = toServicePrincipal(parse(wireServicePrincipal, body, ctx));
      this.remember(servicePrincipal.objectId);
      return { servicePrincipal, created: true };
    } catch (e) {
      const err = toServiceError(e, ctx);
      if (isDuplicate(err)) {
        // Another run created it between our read and our write, or it exists but reads still lag.
        const again = await this.getServicePrincipal(appId, options);
        if (again) return { servicePrincipal: again, created: false };
        throw new ServiceError({ ...err.toJSON(), kind: 'replication-lag', action: LAG_ACTION });
      }
      throw err;
    }
  }

  /** Microsoft Graph's own service principal in this tenant (with its app roles and scopes); cached. */
  async getGraphServicePrincipal(options: CallOptions = {}): Promise<ServicePrincipal> {
    const key = `${this.baseUrl}#${this.tenantId ?? ''}`;
    const cached = this.graphServicePrincipals.get(key);
    if (cached) return cached;
    const ctx = this.ctx("Read Microsoft Graph's service principal", options, 'Application.ReadWrite.OwnedBy');
    const pending = (async () => {
      try {
        const body: unknown = await this.client
          .api(`/servicePrincipals(appId='${GRAPH_APP_ID}')`)
          .select(['id', 'appId', 'displayName', 'appRoles', 'oauth2PermissionScopes'])
          .get();
        return toServicePrincipal(parse(wireServicePrincipal, body, ctx));
      } catch (e) {
        throw toServiceError(e, ctx);
      }
    })();
    this.graphServicePrincipals.set(key, pending);
    // A failure must not stay cached.
    pending.catch(() => {
      if (this.graphServicePrincipals.get(key) === pending) this.graphServicePrincipals.delete(key);
    });
    return pending;
  }

  // ---- consent ---------------------------------------------------------------------------------------------

  /** Application permission consent: assigns the app role unless the assignment already exists. */
  async ensureAppRoleAssignment(
    input: { principalId: string; resourceId: string; appRoleId: string },
    options: CallOptions = {},
  ): Promise<{ assignment: AppRoleAssignment; created: boolean }> {
    const ctx = this.ctx('Grant the application permission', options, 'AppRoleAssignment.ReadWrite.All', input.principalId);
    const find = async (): Promise<AppRoleAssignment | undefined> =>
      (await this.listAppRoleAssignments(input.principalId, options)).find(
        (a) => sameId(a.appRoleId, input.appRoleId) && sameId(a.resourceId, input.resourceId),
      );
    const existing = await find();
    if (existing) return { assignment: existing, created: false };
    try {
      const body: unknown = await this.client
        .api(`/servicePrincipals/${encodeURIComponent(input.resourceId)}/appRoleAssignedTo`)
        .post({ principalId: input.principalId, resourceId: input.resourceId, appRoleId: input.appRoleId });
      return { assignment: toAssignment(parse(wireAppRoleAssignment, body, ctx)), created: true };
    } catch (e) {
      const err = toServiceError(e, ctx);
      if (isDuplicate(err)) {
        const again = await find();
        if (again) return { assignment: again, created: false };
      }
      throw err;
    }
  }

  /** Delegated consent for all users: creates the grant, or adds the scope to an existing one. */
  async ensureDelegatedGrant(
    input: { clientId: string; resourceId: string; scope: string },
    options: CallOptions = {},
  ): Promise<{ grant: DelegatedPermissionGrant; created: boolean; updated: boolean }> {
    const ctx = this.ctx('Grant the delegated permission', options, 'DelegatedPermissionGrant.ReadWrite.All', input.clientId);
    const wanted = splitScopes(input.scope);
    const find = async (): Promise<DelegatedPermissionGrant | undefined> =>
      (await this.listDelegatedGrants(input.clientId, input.resourceId, options)).find((g) => g.consentType === 'AllPrincipals');
    const existing = await find();
    try {
      if (!existing) {
        const body: unknown = await this.client.api('/oauth2PermissionGrants').post({
          clientId: input.clientId,
          consentType: 'AllPrincipals',
          resourceId: input.resourceId,
          scope: wanted.join(' '),
        });
        return { grant: toGrant(parse(wireGrant, body, ctx)), created: true, updated: false };
      }
      const missing = wanted.filter((s) => !existing.scopes.includes(s));
      if (missing.length === 0) return { grant: existing, created: false, updated: false };
      const scopes = [...existing.scopes, ...missing];
      await this.client.api(`/oauth2PermissionGrants/${encodeURIComponent(existing.id)}`).patch({ scope: scopes.join(' ') });
      return { grant: { ...existing, scopes }, created: false, updated: true };
    } catch (e) {
      const err = toServiceError(e, ctx);
      if (!existing && isDuplicate(err)) {
        const again = await find();
        if (again && wanted.every((s) => again.scopes.includes(s))) return { grant: again, created: false, updated: false };
      }
      throw err;
    }
  }

  /** Whether admin consent is in place: `Mail.Send` assigned and `User.Read` granted tenant-wide. */
  async getConsentStatus(
    input: { servicePrincipalId: string; graphServicePrincipalId?: string },
    options: CallOptions = {},
  ): Promise<ConsentStatus> {
    const graphSpId = input.graphServicePrincipalId ?? (await this.getGraphServicePrincipal(options)).objectId;
    const [assignments, grants] = await Promise.all([
      this.listAppRoleAssignments(input.servicePrincipalId, options),
      this.listDelegatedGrants(input.servicePrincipalId, graphSpId, options),
    ]);
    const mailSendGranted = assignments.some((a) => sameId(a.appRoleId, MAIL_SEND_ROLE_ID) && sameId(a.resourceId, graphSpId));
    const userReadGranted = grants.some((g) => g.consentType === 'AllPrincipals' && g.scopes.includes(USER_READ_SCOPE_VALUE));
    return { mailSendGranted, userReadGranted, granted: mailSendGranted && userReadGranted };
  }

  async listAppRoleAssignments(principalId: string, options: CallOptions = {}): Promise<AppRoleAssignment[]> {
    const ctx = this.ctx('Read the app role assignments', options, 'AppRoleAssignment.ReadWrite.All', principalId);
    const items = await this.listAll(`/servicePrincipals/${encodeURIComponent(principalId)}/appRoleAssignments`, wireAppRoleAssignment, ctx);
    return items.map(toAssignment);
  }

  async listDelegatedGrants(clientId: string, resourceId: string, options: CallOptions = {}): Promise<DelegatedPermissionGrant[]> {
    const ctx = this.ctx('Read the delegated permission grants', options, 'DelegatedPermissionGrant.ReadWrite.All', clientId);
    const filter = `clientId eq '${odataString(clientId)}' and resourceId eq '${odataString(resourceId)}'`;
    const items = await this.listAll('/oauth2PermissionGrants', wireGrant, ctx, filter);
    return items.map(toGrant);
  }

  // ---- mail ---------------------------------------------------------------------------------------------------

  /** Sends a message as `from` (needs the `Mail.Send` role in this client's token). */
  async sendMail(message: MailMessage, options: CallOptions = {}): Promise<void> {
    const ctx = this.ctx('Send a test message', options, 'Mail.Send');
    const html = message.bodyHtml !== undefined;
    const content = message.bodyHtml ?? message.bodyText ?? '';
    try {
      await this.client.api(`/users/${encodeURIComponent(message.from)}/sendMail`).post({
        message: {
          subject: message.subject,
          body: { contentType: html ? 'HTML' : 'Text', content },
          toRecipients: message.to.map((address) => ({ emailAddress: { address } })),
        },
        saveToSentItems: false,
      });
    } catch (e) {
      throw toServiceError(e, { ...ctx, notFoundAction: `Check that the mailbox ${message.from} exists.` });
    }
  }

  // ---- plumbing ------------------------------------------------------------------------------------------------

  /** Reads every page of a collection, following `@odata.nextLink` as given. */
  private async listAll<T extends z.ZodType>(
    path: string,
    item: T,
    ctx: ErrorContext,
    filter?: string,
  ): Promise<Array<z.infer<T>>> {
    const out: Array<z.infer<T>> = [];
    let next: string | undefined = path;
    let first = true;
    const schema = page(item);
    try {
      while (next !== undefined) {
        const request = this.client.api(next);
        if (first && filter !== undefined) request.filter(filter);
        first = false;
        const body: unknown = await request.get();
        const p = parse(schema, body, ctx);
        out.push(...p.value);
        next = p['@odata.nextLink'] ?? undefined;
      }
    } catch (e) {
      throw toServiceError(e, ctx);
    }
    return out;
  }

  private ctx(operation: string, options: CallOptions, permission: Permission, objectId?: string): ErrorContext {
    const fresh = options.fresh === true || (objectId !== undefined && this.isRecent(objectId));
    return {
      operation,
      service: 'graph',
      requiredPermission: permission,
      ...(options.environmentId ? { environmentId: options.environmentId } : {}),
      ...(fresh ? { freshObject: true } : {}),
      ...(options.freshSecret ? { freshSecret: true } : {}),
    };
  }

  private remember(...ids: string[]): void {
    const now = Date.now();
    for (const [id, at] of this.created) if (now - at > FRESH_WINDOW_MS) this.created.delete(id);
    for (const id of ids) this.created.set(id.toLowerCase(), now);
  }

  private isRecent(id: string): boolean {
    const at = this.created.get(id.toLowerCase());
    return at !== undefined && Date.now() - at <= FRESH_WINDOW_MS;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers

function parse<T extends z.ZodType>(schema: T, body: unknown, ctx: ErrorContext): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ServiceError({
    kind: 'permanent',
    service: ctx.service ?? 'graph',
    operation: ctx.operation,
    code: 'UnexpectedResponse',
    reason: `the answer did not have the expected shape (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`,
    action: 'Check that the Graph base URL points at Microsoft Graph v1.0.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}

function nullIfNotFound(e: unknown, ctx: ErrorContext): null {
  const err = toServiceError(e, ctx);
  if (err.kind === 'not-found') return null;
  throw err;
}

function isDuplicate(err: ServiceError): boolean {
  return (
    err.status === 409 ||
    err.code === 'Request_MultipleObjectsWithSameKeyValue' ||
    (err.status === 400 && /already exists/i.test(err.serviceMessage ?? ''))
  );
}

function sameId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function isoOf(d: string | Date): string {
  return typeof d === 'string' ? new Date(d).toISOString() : d.toISOString();
}

async function readJson(response: Response, ctx: ErrorContext): Promise<unknown> {
  try {
    return await response.json();
  } catch (e) {
    throw toServiceError(e, ctx);
  }
}

/** Builds the error for a non-2xx answer seen in RAW mode (the Graph client does not throw then). */
async function failureFromResponse(response: Response, ctx: ErrorContext): Promise<ServiceError> {
  let code: string | undefined;
  let message: string | undefined;
  let requestId = response.headers.get('request-id') ?? undefined;
  try {
    const parsed = wireError.safeParse(await response.json());
    if (parsed.success) {
      code = parsed.data.error.code ?? undefined;
      message = parsed.data.error.message ?? undefined;
      requestId = parsed.data.error.innerError?.['request-id'] ?? requestId;
    }
  } catch {
    // Not JSON (a gateway page): the status alone decides.
  }
  return fromHttpFailure(
    {
      service: 'graph',
      status: response.status,
      ...(code ? { code } : {}),
      ...(message ? { message } : {}),
      ...(requestId ? { requestId } : {}),
      retryAfter: response.headers.get('retry-after'),
    },
    ctx,
  );
}
