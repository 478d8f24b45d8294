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

/**
 * Audience of the managed identity token a federated identity credential trusts, per cloud, decided
 * from the authority host: `api://AzureADTokenExchange` in the global cloud,
 * `api://AzureADTokenExchangeUSGov` in Azure US Government, `api://AzureADTokenExchangeChina` in Azure
 * operated by 21Vianet (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 * Any other authority (an emulator) takes the global value.
 */
export function tokenExchangeAudience(authorityHost: string): string {
  const host = new URL(authorityHost).hostname.toLowerCase();
  if (host === 'login.microsoftonline.us') return 'api://AzureADTokenExchangeUSGov';
  if (host === 'login.partner.microsoftonline.cn' || host === 'login.chinacloudapi.cn') return 'api://AzureADTokenExchangeChina';
  return 'api://AzureADTokenExchange';
}

/**
 * Issuer of the managed identity's tokens, as a federated identity credential trusting it names it:
 * `{authority host}/{tenant of the identity}/v2.0` (the same page; the issuer is the identity's own
 * tenant on the cloud's authority, so it comes from AUTHORITY_HOST, never a fixed login.microsoftonline.com).
 */
export function federatedIssuer(authorityHost: string, tenantId: string): string {
  return `${authorityHost.replace(/\/+$/, '')}/${tenantId}/v2.0`;
}
