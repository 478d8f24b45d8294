/**
 * Emulated Microsoft Entra ID: OIDC discovery and signing keys, the client-credentials token endpoint
 * (v2 and v1) with client secrets and federated client assertions, the App Service style managed
 * identity endpoint, and the admin consent page. Every tenant of the sandbox has its own authority
 * path (`/{tenant}/...`). Speaks exactly what MSAL Node (behind @azure/identity) sends and parses,
 * errors included, and writes each sign-in to the tenant's sign-in log.
 */
import { randomUUID } from 'node:crypto';
import { ACCESS_TOKEN_LIFETIME_SECONDS, GRAPH_RESOURCE, KEY_VAULT_RESOURCE, type SandboxDeps } from './deps';
import { JWT_BEARER_ASSERTION_TYPE, matchFederatedAssertion, TOKEN_EXCHANGE_AUDIENCE } from './federation';
import { newDirectoryLinkId } from './seed';
import { KEY_VAULT_APP_ID, recordSignIn, signInResource, type ResourceKind, type SignInAttempt } from './signins';
import { GRAPH_APP_ID, type SandboxState } from './state';
import type { TenantDirectory } from './tenants';
import type {
  AppRoleAssignmentRecord,
  ApplicationRecord,
  OAuth2PermissionGrantRecord,
  PasswordCredentialRecord,
  SandboxRequest,
  SandboxResponse,
  ServiceHandler,
  ServicePrincipalRecord,
} from './types';

const MANAGED_IDENTITY_API_VERSION = '2019-08-01';
/** Scopes MSAL may add to any request; they name no resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

// ---- errors -------------------------------------------------------------------------------------

function entraTimestamp(nowMs: number): string {
  return new Date(nowMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Entra's OAuth error body: the AADSTS code leads the description, which ends with the trace ids. */
export function entraErrorBody(
  state: SandboxState,
  req: SandboxRequest | undefined,
  error: string,
  code: number | undefined,
  description: string,
  traceId: string = randomUUID(),
): Record<string, unknown> {
  const correlationId = req?.headers['client-request-id'] ?? randomUUID();
  const timestamp = entraTimestamp(state.now());
  const lead = code === undefined ? description : `AADSTS${code}: ${description}`;
  return {
    error,
    error_description: `${lead} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: code === undefined ? [] : [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    ...(code === undefined ? {} : { error_uri: `${req?.origin ?? ''}/error?code=${code}` }),
  };
}

function oauthError(
  deps: SandboxDeps,
  req: SandboxRequest,
  status: number,
  error: string,
  code: number,
  description: string,
  traceId?: string,
): SandboxResponse {
  return {
    status,
    headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', ...(traceId !== undefined ? { 'x-ms-request-id': traceId } : {}) },
    body: entraErrorBody(deps.state, req, error, code, description, traceId),
  };
}

/** An OAuth error for the request being answered (its trace id is the request's id). */
type Fail = (status: number, error: string, code: number, description: string) => SandboxResponse;

// ---- tenants and resources ----------------------------------------------------------------------

function tenantNotFound(deps: SandboxDeps, req: SandboxRequest, tenant: string): SandboxResponse {
  return oauthError(
    deps,
    req,
    400,
    'invalid_tenant',
    90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  );
}

function trimSlash(value: string): string {
  return value.replace(/\/+$/, '');
}

export type { ResourceKind } from './signins';

/**
 * Maps a requested resource (scope without `/.default`) to the token audience. Graph may be named by
 * its public URI, its app id, or the sandbox's Graph origin; its tokens always carry
 * `aud: https://graph.microsoft.com`, as the real ones do whichever alias was asked for.
 * `api://AzureADTokenExchange` is the audience of tokens used as federated credentials
 * (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 */
export function resolveResource(state: SandboxState, resource: string): { audience: string; kind: ResourceKind } | undefined {
  const r = trimSlash(resource);
  const lower = r.toLowerCase();
  const graphAliases = [GRAPH_RESOURCE, GRAPH_APP_ID, trimSlash(state.serviceUrls.graphUrl)].filter((a) => a !== '');
  if (graphAliases.some((a) => a.toLowerCase() === lower)) return { audience: GRAPH_RESOURCE, kind: 'graph' };
  if (lower === KEY_VAULT_RESOURCE || lower === KEY_VAULT_APP_ID) return { audience: KEY_VAULT_RESOURCE, kind: 'keyvault' };
  if (lower === TOKEN_EXCHANGE_AUDIENCE.toLowerCase()) return { audience: TOKEN_EXCHANGE_AUDIENCE, kind: 'exchange' };
  const env = state.finops.find((e) => e.url !== '' && trimSlash(e.url).toLowerCase() === lower);
  if (env) return { audience: trimSlash(env.url), kind: 'finops' };
  return undefined;
}

function rolesFor(tenant: TenantDirectory, servicePrincipalId: string, kind: ResourceKind): string[] {
  return kind === 'graph' ? tenant.graphRolesOf(servicePrincipalId) : [];
}

// ---- discovery ----------------------------------------------------------------------------------

function openIdConfiguration(tenant: TenantDirectory, origin: string, version: 'v1' | 'v2'): Record<string, unknown> {
  const base = `${origin}/${tenant.tenantId}`;
  const v2 = version === 'v2';
  return {
    token_endpoint: v2 ? `${base}/oauth2/v2.0/token` : `${base}/oauth2/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: v2 ? `${base}/discovery/v2.0/keys` : `${base}/discovery/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: v2 ? `${base}/v2.0` : `${base}/`,
    request_uri_parameter_supported: false,
    authorization_endpoint: v2 ? `${base}/oauth2/v2.0/authorize` : `${base}/oauth2/authorize`,
    device_authorization_endpoint: v2 ? `${base}/oauth2/v2.0/devicecode` : `${base}/oauth2/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: v2 ? `${base}/oauth2/v2.0/logout` : `${base}/oauth2/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'roles', 'appid', 'azp', 'idtyp'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  };
}

function instanceDiscovery(origin: string): Record<string, unknown> {
  const host = new URL(origin).host;
  return {
    tenant_discovery_endpoint: `${origin}/{tenantid}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

// ---- client credentials -------------------------------------------------------------------------

function formOf(req: SandboxRequest): URLSearchParams {
  return new URLSearchParams(req.body.toString('utf8'));
}

/** client_secret_post, or client_secret_basic (form-encoded id and secret inside Basic). */
function clientCredentialsOf(req: SandboxRequest, form: URLSearchParams): { clientId?: string | undefined; clientSecret?: string | undefined } {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers['authorization'] ?? '');
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      return {
        clientId: decodeURIComponent(decoded.slice(0, colon)),
        clientSecret: decodeURIComponent(decoded.slice(colon + 1)),
      };
    }
  }
  return { clientId: form.get('client_id') ?? undefined, clientSecret: form.get('client_secret') ?? undefined };
}

function isVisible(state: SandboxState, record: { visibleFrom: number }): boolean {
  return state.now() >= record.visibleFrom;
}

type Authenticated = { app: ApplicationRecord; sp: ServicePrincipalRecord };

/** The first AADSTS code of an Entra error body, and its description without code and trace ids. */
function failureOf(body: unknown): { code: number; reason: string } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { error_codes?: unknown; error_description?: unknown };
  const code = Array.isArray(b.error_codes) && typeof b.error_codes[0] === 'number' ? b.error_codes[0] : undefined;
  if (code === undefined) return undefined;
  const text = typeof b.error_description === 'string' ? b.error_description : '';
  return { code, reason: text.replace(/^AADSTS\d+: /, '').replace(/ Trace ID: .*$/s, '') };
}

/**
 * Who the client is in this tenant and whether its credential holds, as Entra decides it: the
 * application object lives in its home tenant (its secrets and federated credentials count in every
 * tenant it is consented in); a single-tenant app is unknown elsewhere (AADSTS700016); a multi-tenant
 * app without a service principal here is AADSTS7000229. Secret texts never appear in any error.
 */
function authenticateClient(deps: SandboxDeps, req: SandboxRequest, form: URLSearchParams, attempt: Partial<SignInAttempt> & { tenant: TenantDirectory }, fail: Fail): Authenticated | SandboxResponse {
  const { state } = deps;
  const { tenant } = attempt;
  const { clientId, clientSecret } = clientCredentialsOf(req, form);
  if (!clientId) {
    return fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
  }
  attempt.clientId = clientId;
  const found = state.findApplicationAnywhere(clientId);
  const app = found && isVisible(state, found.app) && (found.tenant === tenant || found.app.signInAudience !== 'AzureADMyOrg') ? found.app : undefined;
  const sp = app ? tenant.findServicePrincipalByAppId(app.appId) : undefined;
  if (sp && isVisible(state, sp)) attempt.servicePrincipal = sp;
  if (!app) {
    return fail(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.verifiedDomain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  }
  attempt.app = app;

  const assertion = form.get('client_assertion');
  if (assertion !== null) {
    attempt.credentialType = 'clientAssertion';
    const assertionType = form.get('client_assertion_type');
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
      // Not documented for this case; the sandbox names the expected value.
      return fail(400, 'invalid_request', 90014, `The request body must contain the following parameter: 'client_assertion_type' with the value '${JWT_BEARER_ASSERTION_TYPE}'.`);
    }
    const matched = matchFederatedAssertion(deps, app, assertion);
    if (!('credential' in matched)) return fail(matched.status, matched.error, matched.code, matched.description);
    attempt.credentialType = 'federatedIdentityCredential';
    attempt.federatedCredentialId = matched.credential.id;
  } else {
    attempt.credentialType = 'clientSecret';
    if (!clientSecret) {
      return fail(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const now = state.now();
    // The application's secrets, and those added to its service principal in this tenant.
    const credential: PasswordCredentialRecord | undefined = [...app.passwordCredentials, ...(sp?.passwordCredentials ?? [])].find((c) => c.secretText === clientSecret);
    if (credential && Date.parse(credential.endDateTime) <= now) {
      attempt.keyId = credential.keyId;
      // A known but expired key has its own code in Entra (not 7000215).
      return fail(
        401,
        'invalid_client',
        7000222,
        `The provided client secret keys for app '${app.appId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    }
    // Unknown, removed, not yet started, or not yet propagated (usableFrom): all look the same to a caller.
    if (!credential || now < credential.usableFrom || now < Date.parse(credential.startDateTime)) {
      return fail(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.appId}'.`,
      );
    }
    attempt.keyId = credential.keyId;
  }
  if (!sp || !isVisible(state, sp)) {
    return fail(
      400,
      'invalid_client',
      7000229,
      `The client application ${app.appId} is missing service principal in the tenant ${tenant.tenantId}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119`,
    );
  }
  return { app, sp };
}

/** The one `/.default` scope of a client credentials request, or the error Entra gives. */
function resourceFromScope(scopeParam: string | null, fail: Fail): string | SandboxResponse {
  const scopes = (scopeParam ?? '').split(/\s+/).filter((s) => s !== '' && !OIDC_SCOPES.has(s));
  if (scopes.length === 0) {
    return fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
  }
  if (scopes.length > 1 || !scopes[0]?.endsWith('/.default')) {
    return fail(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  return scopes[0].slice(0, -'/.default'.length);
}

function resourceNotFound(fail: Fail, tenant: TenantDirectory, resource: string): SandboxResponse {
  return fail(
    400,
    'invalid_resource',
    500011,
    `The resource principal named ${resource} was not found in the tenant named ${tenant.verifiedDomain}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
  );
}

function issueClientCredentialsToken(
  deps: SandboxDeps,
  req: SandboxRequest,
  version: 'v1' | 'v2',
  form: URLSearchParams,
  attempt: Partial<SignInAttempt> & { tenant: TenantDirectory; requestId: string },
): SandboxResponse {
  const { state } = deps;
  const { tenant } = attempt;
  const fail: Fail = (status, error, code, description) => oauthError(deps, req, status, error, code, description, attempt.requestId);
  const client = authenticateClient(deps, req, form, attempt, fail);
  if ('status' in client) return client;

  let requested: string | SandboxResponse;
  if (version === 'v2') {
    requested = resourceFromScope(form.get('scope'), fail);
  } else {
    const resource = form.get('resource');
    requested = resource ? resource : fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'resource'.");
  }
  if (typeof requested !== 'string') return requested;
  const resource = resolveResource(state, requested);
  if (!resource) return resourceNotFound(fail, tenant, requested);
  attempt.resource = signInResource(tenant, resource.kind, resource.audience);

  const issuer = version === 'v2' ? `${req.origin}/${tenant.tenantId}/v2.0` : `${req.origin}/${tenant.tenantId}/`;
  const { token } = deps.issueAccessToken({
    audience: resource.audience,
    issuer,
    tenantId: tenant.tenantId,
    appId: client.app.appId,
    servicePrincipalId: client.sp.id,
    roles: rolesFor(tenant, client.sp.id, resource.kind),
  });
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    ext_expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    access_token: token,
  };
  if (version === 'v1') {
    // The caller's cache runs on the real clock, so `expires_on` does too.
    const nowSeconds = Math.floor(Date.now() / 1000);
    body['expires_on'] = String(nowSeconds + ACCESS_TOKEN_LIFETIME_SECONDS);
    body['not_before'] = String(nowSeconds - 300);
    body['resource'] = requested;
  }
  return { status: 200, headers: { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': attempt.requestId }, body };
}

/**
 * The token endpoint of one tenant. Every client-credentials request that names a client is written
 * to the tenant's sign-in log, success or failure, with the key id of the secret used
 * (https://learn.microsoft.com/en-us/graph/api/resources/signin?view=graph-rest-beta).
 */
function tokenEndpoint(deps: SandboxDeps, req: SandboxRequest, version: 'v1' | 'v2', tenant: TenantDirectory): SandboxResponse {
  const form = formOf(req);
  const grantType = form.get('grant_type');
  if (grantType !== 'client_credentials') {
    return oauthError(
      deps,
      req,
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${grantType ?? ''}'. The sandbox supports client_credentials only.`,
    );
  }
  const attempt: Partial<SignInAttempt> & { tenant: TenantDirectory; requestId: string } = {
    tenant,
    requestId: randomUUID(),
    credentialType: 'none',
    eventType: 'servicePrincipal',
    correlationId: req.headers['client-request-id'] ?? '',
  };
  const response = issueClientCredentialsToken(deps, req, version, form, attempt);
  if (attempt.clientId !== undefined) {
    const failure = response.status === 200 ? undefined : failureOf(response.body);
    recordSignIn(
      deps.state,
      {
        tenant,
        requestId: attempt.requestId,
        correlationId: attempt.correlationId ?? '',
        clientId: attempt.clientId,
        credentialType: attempt.credentialType ?? 'none',
        eventType: 'servicePrincipal',
        ...(attempt.app ? { app: attempt.app } : {}),
        ...(attempt.servicePrincipal ? { servicePrincipal: attempt.servicePrincipal } : {}),
        ...(attempt.keyId !== undefined ? { keyId: attempt.keyId } : {}),
        ...(attempt.federatedCredentialId !== undefined ? { federatedCredentialId: attempt.federatedCredentialId } : {}),
        ...(attempt.resource ? { resource: attempt.resource } : {}),
      },
      failure?.code ?? 0,
      failure?.reason ?? null,
    );
  }
  return response;
}

// ---- managed identity ---------------------------------------------------------------------------

export interface ManagedIdentityEndpointOptions {
  /** The secret App Service puts in IDENTITY_HEADER; callers echo it as `X-IDENTITY-HEADER`. */
  identityHeader: string;
}

/**
 * App Service / Functions managed identity endpoint (api-version 2019-08-01), served on the control
 * server. MSAL parses `access_token`, `expires_on` (epoch seconds, compared with the caller's real
 * clock), `resource` and `token_type`; errors are read from `message` or `error`. Tokens carry
 * `iss` = the home tenant's v2 issuer on the sandbox authority and `sub` = the identity's principal
 * id, the two values a federated identity credential trusting the identity names
 * (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 */
export function createManagedIdentityHandler(deps: SandboxDeps, options: ManagedIdentityEndpointOptions): ServiceHandler {
  return (req) => {
    const { state } = deps;
    const correlationId = randomUUID();
    const fail = (status: number, message: string): SandboxResponse => ({
      status,
      body: { statusCode: status, message, correlationId },
    });
    if (req.method !== 'GET' && req.method !== 'POST') return fail(405, 'The identity endpoint accepts GET only.');
    if (req.headers['x-identity-header'] !== options.identityHeader) {
      return fail(401, 'The X-IDENTITY-HEADER header is missing or does not match the identity header of this app.');
    }
    const apiVersion = req.query.get('api-version');
    if (apiVersion !== MANAGED_IDENTITY_API_VERSION) {
      return fail(400, `The api-version '${apiVersion ?? ''}' is not supported; use ${MANAGED_IDENTITY_API_VERSION}.`);
    }
    const requested = req.query.get('resource');
    if (!requested) return fail(400, 'The resource query parameter is required.');
    const mi = state.managedIdentity;
    const clientId = req.query.get('client_id');
    const objectId = req.query.get('object_id') ?? req.query.get('principal_id');
    if ((clientId && clientId !== mi.appId) || (objectId && objectId !== mi.servicePrincipalId) || req.query.has('mi_res_id')) {
      return fail(400, 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.');
    }
    const resource = resolveResource(state, requested.replace(/\/\.default$/, ''));
    if (!resource) return { status: 400, body: entraErrorBody(state, req, 'invalid_resource', 500011, `The resource principal named ${requested} was not found in the tenant named ${state.verifiedDomain}.`) };
    const { token } = deps.issueAccessToken({
      audience: resource.audience,
      issuer: `${state.serviceUrls.authorityHost}/${state.tenantId}/v2.0`,
      appId: mi.appId,
      servicePrincipalId: mi.servicePrincipalId,
      roles: rolesFor(state.home, mi.servicePrincipalId, resource.kind),
    });
    const identity = state.home.findServicePrincipalById(mi.servicePrincipalId);
    recordSignIn(
      state,
      {
        tenant: state.home,
        requestId: correlationId,
        correlationId,
        clientId: mi.appId,
        credentialType: 'managedIdentity',
        eventType: 'managedIdentity',
        ...(identity ? { servicePrincipal: identity } : {}),
        resource: signInResource(state.home, resource.kind, resource.audience),
      },
      0,
      null,
    );
    return {
      status: 200,
      body: {
        access_token: token,
        expires_on: String(Math.floor(Date.now() / 1000) + ACCESS_TOKEN_LIFETIME_SECONDS),
        resource: requested,
        token_type: 'Bearer',
        client_id: mi.appId,
      },
    };
  };
}

// ---- admin consent ------------------------------------------------------------------------------

export class ConsentError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsentError';
  }
}

export interface ConsentResult {
  tenantId: string;
  servicePrincipalId: string;
  appRoleAssignments: AppRoleAssignmentRecord[];
  oauth2PermissionGrants: OAuth2PermissionGrantRecord[];
}

/**
 * The application object behind `appId` and the tenant to consent in. A single-tenant application
 * exists only in its home tenant; a multi-tenant one (`AzureADMultipleOrgs`) may be consented in any.
 */
function consentTarget(state: SandboxState, appId: string, tenantId: string | undefined): { app: ApplicationRecord; tenant: TenantDirectory } {
  const tenant = tenantId === undefined ? state.home : state.tenant(tenantId);
  if (!tenant) throw new ConsentError(404, `Tenant '${tenantId ?? ''}' not found.`);
  const found = state.findApplicationAnywhere(appId);
  if (!found || (found.tenant !== tenant && found.app.signInAudience === 'AzureADMyOrg')) {
    throw new ConsentError(404, `Application with identifier '${appId}' was not found in the directory '${tenant.verifiedDomain}'.`);
  }
  return { app: found.app, tenant };
}

/** A human-readable list of what an application asks for (the consent page shows it). */
export function requestedPermissions(tenant: TenantDirectory, app: ApplicationRecord): Array<{ resource: string; value: string; type: 'Application' | 'Delegated' }> {
  const out: Array<{ resource: string; value: string; type: 'Application' | 'Delegated' }> = [];
  for (const rra of app.requiredResourceAccess) {
    const resourceSp = tenant.findServicePrincipalByAppId(rra.resourceAppId);
    for (const access of rra.resourceAccess) {
      const value =
        access.type === 'Role'
          ? resourceSp?.appRoles.find((r) => r.id === access.id)?.value
          : resourceSp?.oauth2PermissionScopes.find((s) => s.id === access.id)?.value;
      out.push({
        resource: resourceSp?.displayName ?? rra.resourceAppId,
        value: value ?? access.id,
        type: access.type === 'Role' ? 'Application' : 'Delegated',
      });
    }
  }
  return out;
}

/**
 * Tenant-wide admin consent, as the consent page's Accept does it: creates the app's service
 * principal in the tenant if missing, one app role assignment per `Role` it requires, and one
 * `AllPrincipals` delegated grant per resource carrying its `Scope` values. Idempotent. Without
 * `tenantId`, the home tenant (https://learn.microsoft.com/en-us/entra/identity-platform/v2-admin-consent).
 */
export function grantAdminConsent(state: SandboxState, appId: string, tenantId?: string): ConsentResult {
  const { app, tenant } = consentTarget(state, appId, tenantId);
  let sp = tenant.findServicePrincipalByAppId(app.appId);
  if (!sp) {
    sp = {
      id: state.newId(),
      appId: app.appId,
      displayName: app.displayName,
      servicePrincipalType: 'Application',
      appRoles: [],
      oauth2PermissionScopes: [],
      createdDateTime: state.nowIso(),
      visibleFrom: 0,
    };
    tenant.servicePrincipals.push(sp);
  }
  const client = sp;
  // Validate everything first so a bad entry grants nothing.
  const plan = app.requiredResourceAccess.map((rra) => {
    const resourceSp = tenant.findServicePrincipalByAppId(rra.resourceAppId);
    if (!resourceSp) throw new ConsentError(400, `The resource application ${rra.resourceAppId} has no service principal in this tenant.`);
    const roles = rra.resourceAccess
      .filter((a) => a.type === 'Role')
      .map((a) => {
        const role = resourceSp.appRoles.find((r) => r.id === a.id);
        if (!role) throw new ConsentError(400, `${resourceSp.displayName} has no application permission with id ${a.id}.`);
        return role;
      });
    const scopes = rra.resourceAccess
      .filter((a) => a.type === 'Scope')
      .map((a) => {
        const scope = resourceSp.oauth2PermissionScopes.find((s) => s.id === a.id);
        if (!scope) throw new ConsentError(400, `${resourceSp.displayName} has no delegated permission with id ${a.id}.`);
        return scope.value;
      });
    return { resourceSp, roles, scopes };
  });

  const result: ConsentResult = { tenantId: tenant.tenantId, servicePrincipalId: client.id, appRoleAssignments: [], oauth2PermissionGrants: [] };
  for (const { resourceSp, roles, scopes } of plan) {
    for (const role of roles) {
      let assignment = tenant.appRoleAssignments.find(
        (a) => a.principalId === client.id && a.resourceId === resourceSp.id && a.appRoleId === role.id,
      );
      if (!assignment) {
        assignment = {
          id: newDirectoryLinkId(),
          appRoleId: role.id,
          principalId: client.id,
          principalType: 'ServicePrincipal',
          principalDisplayName: client.displayName,
          resourceId: resourceSp.id,
          resourceDisplayName: resourceSp.displayName,
          createdDateTime: state.nowIso(),
          deletedDateTime: null,
        };
        tenant.appRoleAssignments.push(assignment);
      }
      result.appRoleAssignments.push(assignment);
    }
    if (scopes.length > 0) {
      let grant = tenant.oauth2PermissionGrants.find(
        (g) => g.clientId === client.id && g.resourceId === resourceSp.id && g.consentType === 'AllPrincipals',
      );
      if (!grant) {
        grant = {
          id: newDirectoryLinkId(),
          clientId: client.id,
          consentType: 'AllPrincipals',
          principalId: null,
          resourceId: resourceSp.id,
          scope: '',
        };
        tenant.oauth2PermissionGrants.push(grant);
      }
      const merged = new Set(grant.scope.split(' ').filter((s) => s !== ''));
      for (const s of scopes) merged.add(s);
      grant.scope = [...merged].join(' ');
      result.oauth2PermissionGrants.push(grant);
    }
  }
  return result;
}

/** Removes every app role assignment and delegated grant held by the app's service principal in the tenant (default home). */
export function revokeAdminConsent(state: SandboxState, appId: string, tenantId?: string): { removedAppRoleAssignments: number; removedGrants: number } {
  const { app, tenant } = consentTarget(state, appId, tenantId);
  const sp = tenant.findServicePrincipalByAppId(app.appId);
  if (!sp) return { removedAppRoleAssignments: 0, removedGrants: 0 };
  const assignments = tenant.appRoleAssignments.length;
  const grants = tenant.oauth2PermissionGrants.length;
  tenant.appRoleAssignments = tenant.appRoleAssignments.filter((a) => a.principalId !== sp.id);
  tenant.oauth2PermissionGrants = tenant.oauth2PermissionGrants.filter((g) => g.clientId !== sp.id);
  return {
    removedAppRoleAssignments: assignments - tenant.appRoleAssignments.length,
    removedGrants: grants - tenant.oauth2PermissionGrants.length,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlPage(status: number, title: string, inner: string): SandboxResponse {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}button{font-size:1rem;padding:.4rem 1.2rem}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
${inner}
</body></html>
`;
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body };
}

function consentEndpoint(deps: SandboxDeps, req: SandboxRequest, tenant: TenantDirectory): SandboxResponse {
  const { state } = deps;
  const clientId = req.query.get('client_id');
  if (!clientId) return htmlPage(400, 'Sign-in error', "<p>AADSTS900144: The request must contain the parameter 'client_id'.</p>");
  const found = state.findApplicationAnywhere(clientId);
  const app = found && (found.tenant === tenant || found.app.signInAudience !== 'AzureADMyOrg') ? found.app : undefined;
  if (!app) {
    return htmlPage(
      400,
      'Sign-in error',
      `<p>AADSTS700016: Application with identifier '${escapeHtml(clientId)}' was not found in the directory '${escapeHtml(tenant.verifiedDomain)}'.</p>`,
    );
  }
  // On the v2 endpoint `scope` is required and names the resource's `/.default`
  // (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent); the v1 endpoint takes none.
  const scope = req.path.includes('/v2.0/') ? req.query.get('scope') : `${GRAPH_RESOURCE}/.default`;
  if (!scope) return htmlPage(400, 'Sign-in error', "<p>AADSTS900144: The request body must contain the following parameter: 'scope'.</p>");
  if (!scope.endsWith('/.default') || !resolveResource(state, scope.slice(0, -'/.default'.length))) {
    return htmlPage(400, 'Sign-in error', `<p>AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope ${escapeHtml(scope)} is not valid.</p>`);
  }
  const redirectUri = req.query.get('redirect_uri');
  if (redirectUri !== null && !/^https?:\/\//i.test(redirectUri)) {
    return htmlPage(400, 'Sign-in error', '<p>AADSTS50011: The redirect URI must be an http or https URL.</p>');
  }
  if (req.method === 'GET') {
    const items = requestedPermissions(tenant, app)
      .map((p) => `<li>${escapeHtml(p.resource)}: <strong>${escapeHtml(p.value)}</strong> (${p.type.toLowerCase()} permission)</li>`)
      .join('\n');
    const action = `${req.rawPath}?${req.query.toString()}`;
    return htmlPage(
      200,
      'Permissions requested',
      `<p><strong>${escapeHtml(app.displayName)}</strong> (application id <code>${escapeHtml(app.appId)}</code>) asks an administrator of ${escapeHtml(tenant.verifiedDomain)} to grant, for the whole organization:</p>
<ul>
${items || '<li>(no permissions)</li>'}
</ul>
<form method="post" action="${escapeHtml(action)}"><button type="submit" name="consent" value="accept">Accept</button></form>`,
    );
  }
  if (req.method !== 'POST') return htmlPage(405, 'Sign-in error', '<p>Use GET to see the request and POST to accept it.</p>');
  try {
    grantAdminConsent(state, app.appId, tenant.tenantId);
  } catch (e) {
    if (e instanceof ConsentError) return htmlPage(e.status, 'Consent failed', `<p>${escapeHtml(e.message)}</p>`);
    throw e;
  }
  if (redirectUri) {
    const target = new URL(redirectUri);
    target.searchParams.set('admin_consent', 'True');
    target.searchParams.set('tenant', tenant.tenantId);
    const st = req.query.get('state');
    if (st !== null) target.searchParams.set('state', st);
    return { status: 302, headers: { location: target.toString(), 'cache-control': 'no-store' }, body: undefined };
  }
  return htmlPage(200, 'Consent granted', `<p>${escapeHtml(app.displayName)} now has the permissions it asked for.</p>`);
}

// ---- routing ------------------------------------------------------------------------------------

function json(status: number, body: unknown): SandboxResponse {
  return { status, body };
}

/** The Entra authority host's request handler. */
export function createEntraService(deps: SandboxDeps): ServiceHandler {
  return (req) => {
    const { state } = deps;
    const segments = req.path.split('/').filter((s) => s !== '');
    const [tenantName, ...rest] = segments;
    const route = rest.join('/');
    if (!tenantName) return json(404, entraErrorBody(state, req, 'not_found', undefined, 'No such endpoint.'));

    if (route === 'discovery/instance' && req.method === 'GET') return json(200, instanceDiscovery(req.origin));
    const isDiscovery = route === 'v2.0/.well-known/openid-configuration' || route === '.well-known/openid-configuration';
    const isKeys = route === 'discovery/v2.0/keys' || route === 'discovery/keys';
    const tenant = state.tenant(tenantName);
    if (isKeys && req.method === 'GET') {
      if (tenantName !== 'common' && !tenant) return tenantNotFound(deps, req, tenantName);
      return json(200, deps.authority.jwks());
    }
    if (!tenant) return tenantNotFound(deps, req, tenantName);
    if (isDiscovery && req.method === 'GET') {
      return json(200, openIdConfiguration(tenant, req.origin, route.startsWith('v2.0') ? 'v2' : 'v1'));
    }
    if (route === 'oauth2/v2.0/token' || route === 'oauth2/token') {
      if (req.method !== 'POST') {
        return oauthError(deps, req, 405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
      }
      return tokenEndpoint(deps, req, route === 'oauth2/token' ? 'v1' : 'v2', tenant);
    }
    if (route === 'v2.0/adminconsent' || route === 'adminconsent') return consentEndpoint(deps, req, tenant);
    return json(404, entraErrorBody(state, req, 'not_found', undefined, `The sandbox does not emulate ${req.method} ${req.path}.`));
  };
}
