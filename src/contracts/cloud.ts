/**
 * Microsoft Graph per cloud, decided in one place from `GRAPH_BASE_URL`: the resource a token is asked
 * for, the `/.default` scope, the API root, and the admin-consent URL an administrator opens.
 *
 * Graph roots and authorities per cloud: https://learn.microsoft.com/graph/deployments and
 * https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud ; app-only tokens
 * use `{resource}/.default` and admin consent takes the same scope
 * (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent). Any other endpoint (an
 * emulator, a proxy) is its own resource.
 */

/** Graph roots of the clouds whose resource differs from the global one. */
const NATIONAL_GRAPH_HOSTS: readonly string[] = ['graph.microsoft.us', 'dod-graph.microsoft.us', 'microsoftgraph.chinacloudapi.cn'];
const GLOBAL_GRAPH_HOST = 'graph.microsoft.com';

export interface GraphEndpoint {
  /** Root without version, e.g. `https://graph.microsoft.com`. */
  baseUrl: string;
  host: string;
  /** The resource tokens are issued for. */
  resource: string;
  /** The app-only scope: `{resource}/.default`. */
  scope: string;
  /** Whether the Graph JS client needs the host named (it attaches tokens only to hosts it knows). */
  isCustomHost: boolean;
}

export function graphEndpoint(graphBaseUrl: string): GraphEndpoint {
  const url = new URL(graphBaseUrl);
  const host = url.hostname.toLowerCase();
  const known = host === GLOBAL_GRAPH_HOST || NATIONAL_GRAPH_HOSTS.includes(host);
  const resource = known ? `https://${host}` : url.origin;
  return { baseUrl: url.origin, host, resource, scope: `${resource}/.default`, isCustomHost: host !== GLOBAL_GRAPH_HOST };
}

/**
 * The tenant-specific admin-consent URL (v2 endpoint) for all of an app's statically configured
 * Graph permissions, on the cloud's authority.
 */
export function adminConsentUrl(input: { authorityHost: string; graphBaseUrl: string; tenantId: string; appId: string; redirectUri?: string }): string {
  const url = new URL(`${input.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(input.tenantId)}/v2.0/adminconsent`);
  url.searchParams.set('client_id', input.appId);
  url.searchParams.set('scope', graphEndpoint(input.graphBaseUrl).scope);
  if (input.redirectUri) url.searchParams.set('redirect_uri', input.redirectUri);
  return url.toString();
}
