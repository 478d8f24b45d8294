/**
 * Test helper for the sandbox's identity features: the official Graph client pointed at the sandbox
 * (v1.0 or beta, its retry handler on or off), a ClientAssertionCredential on the sandbox authority,
 * the managed identity environment of the function app, and token claim decoding.
 */
import { ClientAssertionCredential, type TokenCredential } from '@azure/identity';
import { Client, GraphError, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import type { TestSandbox } from './sandbox';

export type Json = Record<string, unknown>;

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
export const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';

/** The official Graph client against the sandbox's Graph origin. */
export function graphClient(sandbox: TestSandbox, credential: TokenCredential): Client {
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [GRAPH_SCOPE] });
  return Client.initWithMiddleware({
    authProvider,
    baseUrl: `${sandbox.endpoints.graphUrl}/`,
    defaultVersion: 'v1.0',
    // The client only attaches the token to Graph's own hosts and to these.
    customHosts: new Set(['localhost']),
  });
}

/** Middleware options that make the Graph client give up on the first 429 (to see it). */
export function noRetries(): RetryHandlerOptions[] {
  return [new RetryHandlerOptions(0, 0)];
}

/** The GraphError a call fails with (or a test failure if it succeeds). */
export async function graphErrorOf(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof GraphError) return e;
    throw e;
  }
  throw new Error('the call succeeded but a GraphError was expected');
}

/** Sets IDENTITY_ENDPOINT / IDENTITY_HEADER for ManagedIdentityCredential; returns the restore. */
export function useManagedIdentityEnv(sandbox: TestSandbox): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** A ClientAssertionCredential for `tenantId` on the sandbox authority. */
export function assertionCredential(sandbox: TestSandbox, tenantId: string, clientId: string, getAssertion: () => Promise<string>): ClientAssertionCredential {
  return new ClientAssertionCredential(tenantId, clientId, getAssertion, {
    authorityHost: sandbox.endpoints.authorityHost,
    disableInstanceDiscovery: true,
  });
}

/** The payload of a JWT (no verification). */
export function claimsOf(token: string): Json {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Json;
}

/** The home tenant's issuer as the sandbox's managed identity tokens carry it. */
export function homeIssuer(sandbox: TestSandbox): string {
  return `${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0`;
}
