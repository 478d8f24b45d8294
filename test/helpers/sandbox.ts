/**
 * Test helper: an in-process sandbox on ephemeral ports, plus shortcuts the tests share — the control
 * API as a typed call, credentials from @azure/identity pointed at the sandbox authority, the managed
 * identity environment, and a SecretClient for the sandbox vault.
 */
import { ClientSecretCredential, type ClientSecretCredentialOptions, type TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { startSandbox, type RunningSandbox, type StartSandboxOptions } from '../../sandbox/server';

export interface ControlInit {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
}

export interface ControlReply<T> {
  status: number;
  body: T;
}

export interface TestSandbox extends RunningSandbox {
  /** Calls the control API, e.g. `control('/clock', { method: 'POST', body: { advance: 'P30D' } })`. */
  control<T = Record<string, unknown>>(path: string, init?: ControlInit): Promise<ControlReply<T>>;
  /** The seeded read-only operator, as a ClientSecretCredential against the sandbox authority. */
  operatorCredential(options?: ClientSecretCredentialOptions): ClientSecretCredential;
  /** Any app's client secret credential against the sandbox authority. */
  clientSecretCredential(clientId: string, clientSecret: string, options?: ClientSecretCredentialOptions): ClientSecretCredential;
  /** IDENTITY_ENDPOINT / IDENTITY_HEADER of the function app's managed identity. */
  managedIdentityEnv(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  /** A SecretClient for the sandbox vault (challenge resource verification off: the vault is on localhost). */
  secretClient(credential: TokenCredential, options?: SecretClientOptions): SecretClient;
}

export async function startTestSandbox(options: StartSandboxOptions = {}): Promise<TestSandbox> {
  const sandbox = await startSandbox({ secretPropagationSeconds: 0, ...options });
  const { endpoints } = sandbox;

  const clientSecretCredential = (
    clientId: string,
    clientSecret: string,
    credentialOptions: ClientSecretCredentialOptions = {},
  ): ClientSecretCredential =>
    new ClientSecretCredential(endpoints.tenantId, clientId, clientSecret, {
      authorityHost: endpoints.authorityHost,
      disableInstanceDiscovery: true,
      ...credentialOptions,
    });

  return {
    ...sandbox,
    async control<T>(path: string, init: ControlInit = {}): Promise<ControlReply<T>> {
      const response = await fetch(`${endpoints.controlUrl}${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return { status: response.status, body: (await response.json()) as T };
    },
    operatorCredential: (credentialOptions) =>
      clientSecretCredential(endpoints.operator.clientId, endpoints.operator.clientSecret, credentialOptions),
    clientSecretCredential,
    managedIdentityEnv: () => ({
      IDENTITY_ENDPOINT: endpoints.managedIdentity.identityEndpoint,
      IDENTITY_HEADER: endpoints.managedIdentity.identityHeader,
    }),
    secretClient: (credential, clientOptions = {}) =>
      new SecretClient(endpoints.keyVaultUrl, credential, { disableChallengeResourceVerification: true, ...clientOptions }),
  };
}
