/**
 * The Microsoft Graph JS client as every Graph-facing client of the product builds it: the SDK's own
 * middleware chain (authentication from a `TokenCredential`, retry of 429/503/504 honouring
 * `Retry-After`, redirects, telemetry), rebuilt only to make the retry configurable, with the host
 * named when it is not the global Graph (the SDK attaches tokens only to hosts it knows).
 */
import type { TokenCredential } from '@azure/core-auth';
import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  RedirectHandler,
  RedirectHandlerOptions,
  RetryHandler,
  RetryHandlerOptions,
  TelemetryHandler,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { graphEndpoint, type GraphEndpoint } from '../contracts/cloud';

export const DEFAULT_GRAPH_BASE_URL = 'https://graph.microsoft.com';

export interface GraphClientOptions {
  /** Graph root without version; default `https://graph.microsoft.com` (national clouds and the sandbox differ). */
  graphBaseUrl?: string;
  /** The Graph client's own retry of 429/503/504 honouring `Retry-After` (SDK defaults: 3 retries, 3 s). */
  retry?: { maxRetries?: number; delaySeconds?: number };
  /** API version of relative paths: `v1.0` (default) or `beta`. */
  version?: 'v1.0' | 'beta';
}

export function createGraphClient(credential: TokenCredential, options: GraphClientOptions = {}): { client: Client; endpoint: GraphEndpoint } {
  const endpoint = graphEndpoint(options.graphBaseUrl ?? DEFAULT_GRAPH_BASE_URL);
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [endpoint.scope] });
  const retry = new RetryHandlerOptions(options.retry?.delaySeconds ?? 3, options.retry?.maxRetries ?? 3);
  const middleware = [
    new AuthenticationHandler(authProvider),
    new RetryHandler(retry),
    new RedirectHandler(new RedirectHandlerOptions()),
    new TelemetryHandler(),
    new HTTPMessageHandler(),
  ];
  const client = Client.initWithMiddleware({
    baseUrl: endpoint.baseUrl,
    middleware,
    ...(options.version ? { defaultVersion: options.version } : {}),
    ...(endpoint.isCustomHost ? { customHosts: new Set([endpoint.host]) } : {}),
  });
  return { client, endpoint };
}
