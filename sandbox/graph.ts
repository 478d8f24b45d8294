/**
 * The emulated Microsoft Graph (v1.0, and beta for what exists only there): authenticates the bearer
 * token for Graph's audience, acts in the tenant the token was issued in (`tid`), applies the
 * documented throttling limits when they are switched on, and routes the subset the product uses
 * (applications with their owners, federated credentials and policies, service principals, consent,
 * app management policies, users, sendMail, sign-in logs and credential activity) to their handlers.
 * Faults, latency and call recording happen in the server core before this runs.
 */
import { isResponse, type ServiceDeps } from './deps';
import { handleApplications } from './graph-applications';
import { handleUsers } from './graph-mail';
import { handlePolicies } from './graph-policies';
import { handleGrants, handleServicePrincipals } from './graph-principals';
import { handleAuditLogs, handleReports } from './graph-signins';
import {
  GRAPH_BETA_PREFIX,
  GRAPH_VERSION_PREFIX,
  fail,
  graphErrorResponse,
  requestIdsOf,
  splitSegments,
  type GraphContext,
  type GraphVersion,
} from './graph-support';
import { GRAPH_APP_ID } from './state';
import { graphQuotas, retryAfterSeconds } from './throttle';
import type { SandboxRequest, SandboxResponse, ServiceHandler } from './types';

/** Audiences Graph accepts: its resource URI and its application id. */
export const GRAPH_AUDIENCES = ['https://graph.microsoft.com', GRAPH_APP_ID];

export { GRAPH_PERMISSIONS, reachOf, rolesAllowing, type GraphOperation } from './graph-permissions';
export { TENANT_APP_MANAGEMENT_POLICY_ID } from './tenants';

function versionOf(path: string): { version: GraphVersion; prefix: string } | undefined {
  if (path.startsWith(`${GRAPH_VERSION_PREFIX}/`)) return { version: 'v1.0', prefix: GRAPH_VERSION_PREFIX };
  if (path.startsWith(`${GRAPH_BETA_PREFIX}/`)) return { version: 'beta', prefix: GRAPH_BETA_PREFIX };
  return undefined;
}

/**
 * Graph's 429 for the identity services (https://learn.microsoft.com/en-us/graph/throttling), with the
 * scope and reason headers of the identity limits (https://learn.microsoft.com/en-us/graph/throttling-limits).
 */
function tooManyRequests(ctx: GraphContext, waitMs: number, reason: string): SandboxResponse {
  const response = fail(ctx, 429, 'TooManyRequests', 'Please retry again later.', {
    headers: {
      'Retry-After': String(retryAfterSeconds(waitMs)),
      'x-ms-throttle-scope': `Tenant_Application/ReadWrite/${ctx.claims.appid}/${ctx.tenant.tenantId}`,
      'x-ms-throttle-information': reason,
    },
  });
  const error = (response.body as { error: { innerError: Record<string, string> } }).error;
  error.innerError = { code: '429', ...error.innerError, message: 'Please retry after', status: '429' };
  return response;
}

export function createGraphService(deps: ServiceDeps): ServiceHandler {
  const { state } = deps;
  return (req: SandboxRequest): SandboxResponse => {
    const ids = requestIdsOf(req);
    const claims = deps.authenticate(req, GRAPH_AUDIENCES, (reason) =>
      graphErrorResponse(ids, state.now(), 401, 'InvalidAuthenticationToken', reason, {
        headers: {
          'WWW-Authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
        },
      }),
    );
    if (isResponse(claims)) return claims;
    const tenant = state.tenant(claims.tid) ?? state.home;
    const versioned = versionOf(req.path);
    const ctx: GraphContext = {
      req,
      state,
      tenant,
      claims,
      ...ids,
      serviceRoot: `${req.origin}${versioned?.prefix ?? GRAPH_VERSION_PREFIX}`,
      version: versioned?.version ?? 'v1.0',
    };
    if (!versioned) {
      const version = req.path.split('/')[1] ?? '';
      return fail(ctx, 400, 'BadRequest', `Invalid version: ${version}`);
    }
    const segments = splitSegments(req.path.slice(versioned.prefix.length));
    const first = segments?.[0];
    if (!segments || !first) return fail(ctx, 400, 'BadRequest', 'Invalid request.');
    if (state.throttling) {
      const refused = state.throttles.admit(state.now(), graphQuotas(req, first.name, claims.appid, tenant.tenantId));
      if (refused) return tooManyRequests(ctx, refused.waitMs, refused.reason);
    }
    switch (first.name) {
      case 'applications':
        return handleApplications(ctx, segments);
      case 'servicePrincipals':
        return handleServicePrincipals(ctx, segments);
      case 'oauth2PermissionGrants':
        return handleGrants(ctx, segments);
      case 'users':
        return handleUsers(ctx, segments);
      case 'policies':
        return handlePolicies(ctx, segments);
      case 'auditLogs':
        return handleAuditLogs(ctx, segments);
      case 'reports':
        return handleReports(ctx, segments);
      default:
        return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${first.name}'.`);
    }
  };
}
