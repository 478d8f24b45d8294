/**
 * The emulated Microsoft Graph v1.0 service: authenticates the bearer token for Graph's audience and
 * routes the subset the product uses (applications, service principals, consent, users, sendMail) to
 * their handlers. Faults, latency and call recording happen in the server core before this runs.
 */
import { isResponse, type ServiceDeps } from './deps';
import { handleApplications } from './graph-applications';
import { handleUsers } from './graph-mail';
import { handleGrants, handleServicePrincipals } from './graph-principals';
import {
  GRAPH_VERSION_PREFIX,
  fail,
  graphErrorResponse,
  requestIdsOf,
  splitSegments,
  type GraphContext,
} from './graph-support';
import { GRAPH_APP_ID } from './state';
import type { SandboxRequest, SandboxResponse, ServiceHandler } from './types';

/** Audiences Graph accepts: its resource URI and its application id. */
export const GRAPH_AUDIENCES = ['https://graph.microsoft.com', GRAPH_APP_ID];

export { GRAPH_PERMISSIONS, reachOf, rolesAllowing, type GraphOperation } from './graph-permissions';
export { TENANT_APP_MANAGEMENT_POLICY_ID } from './graph-applications';

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

    const ctx: GraphContext = { req, state, claims, ...ids, serviceRoot: `${req.origin}${GRAPH_VERSION_PREFIX}` };
    if (!req.path.startsWith(`${GRAPH_VERSION_PREFIX}/`)) {
      const version = req.path.split('/')[1] ?? '';
      return fail(ctx, 400, 'BadRequest', `Invalid version: ${version}`);
    }
    const segments = splitSegments(req.path.slice(GRAPH_VERSION_PREFIX.length));
    const first = segments?.[0];
    if (!segments || !first) return fail(ctx, 400, 'BadRequest', 'Invalid request.');
    switch (first.name) {
      case 'applications':
        return handleApplications(ctx, segments);
      case 'servicePrincipals':
        return handleServicePrincipals(ctx, segments);
      case 'oauth2PermissionGrants':
        return handleGrants(ctx, segments);
      case 'users':
        return handleUsers(ctx, segments);
      default:
        return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${first.name}'.`);
    }
  };
}
