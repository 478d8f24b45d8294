/**
 * Composition root: builds the clients from the settings and the product's identity, the activities
 * from the clients, and the registry reads the triggers use. Built on first use, not at load, so the
 * function app starts without loading the Azure SDKs; tests and the local runtime may install their
 * own services instead. Nothing here holds logic: that lives in the clients and activities it wires.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { Activities } from './activities';
import type { EntraApplications, ServicePrincipal } from './clients/entraApplications';
import type { FinOpsEmailSettings } from './clients/finOpsEmailSettings';
import type { SignInLog } from './clients/signInLog';
import { appConfig, type AppConfig } from './config';
import { now } from './clock';
import { graphEndpoint, tokenExchangeAudience } from './contracts/cloud';
import { secretNameFor, tenantSecretNameFor } from './contracts/names';
import type { FleetRegistry } from './contracts/registry';
import type { TenantReads } from './contracts/tenants';

export interface ProductServices {
  activities: Activities;
  registry: FleetRegistry;
  /** Reads about tenants (partner mode) for the tenant routes. */
  tenants: TenantReads;
  config: AppConfig;
}

/** Key Vault hosts of the public and national clouds; any other host (a local emulator) skips the resource check. */
const VAULT_SUFFIXES = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de', '.managedhsm.azure.net'];

/**
 * How long the SDK clients wait between their own retries when the service names no time itself;
 * their retry counts and their honouring of `Retry-After` stay as the SDKs set them. Never set in
 * production, where each SDK's defaults apply: a harness running the app against an emulated cloud
 * (the reliability suites' fault matrix) shortens the back-off so that riding out hundreds of faults
 * does not sleep for minutes.
 */
export interface RetryPacing {
  /** First back-off of Key Vault, F&O and Entra token calls (core-rest-pipeline's exponential retry; SDK default 800 ms). */
  retryDelayInMs: number;
  /** Longest such back-off (SDK default 64 s). */
  maxRetryDelayInMs: number;
  /** Base delay of the Graph client's retry of 429/503/504 without `Retry-After` (default 3 s). */
  graphDelaySeconds: number;
}

let retryPacing: RetryPacing | undefined;

/** Installs retry pacing for the services built from now on, or restores the SDK defaults with `undefined`. */
export function setRetryPacing(next: RetryPacing | undefined): void {
  retryPacing = next;
}

let signInLogReadsPer10s: number | undefined;

/**
 * The sign-in log reads the services built from now on allow themselves per 10 s and tenant; `undefined`
 * restores Graph's limit (5). Never set in production: a harness whose emulated Graph does not throttle,
 * and which runs many setups at once in one tenant on a virtual clock, raises it.
 */
export function setSignInLogPacing(readsPer10s: number | undefined): void {
  signInLogReadsPer10s = readsPer10s;
}

export function createProductServices(config: AppConfig, credential?: TokenCredential): ProductServices {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use to keep cold start short */
  const identity = require('@azure/identity') as typeof import('@azure/identity');
  const clients = require('./clients') as typeof import('./clients');
  const { createActivities } = require('./activities') as typeof import('./activities');
  const { productApplicationsIn } = require('./activities/tenants') as typeof import('./activities/tenants');
  /* eslint-enable @typescript-eslint/no-require-imports */

  const pacing = retryPacing;
  const azureRetry = pacing ? { retryDelayInMs: pacing.retryDelayInMs, maxRetryDelayInMs: pacing.maxRetryDelayInMs } : undefined;
  const productCredential =
    credential ??
    new identity.DefaultAzureCredential({
      authorityHost: config.authorityHost,
      ...(config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {}),
      // Five retries is what DefaultAzureCredential gives its managed identity credential when no retry options are passed.
      ...(azureRetry ? { retryOptions: { maxRetries: 5, ...azureRetry } } : {}),
    });
  const identities = partnerCredentials(config, productCredential, identity, azureRetry);
  const credentialFor = identities.forTenant;
  const graphScope = graphEndpoint(config.graphBaseUrl).scope;
  const grantedRoles = async (tenantId: string): Promise<string[]> => {
    try {
      const token = await identities.fresh(tenantId).getToken(graphScope);
      return token ? clients.rolesOfAccessToken(token.token) : [];
    } catch (error) {
      const as = tenantId.toLowerCase() === config.tenantId ? "the function app's identity" : 'the partner operator application';
      throw clients.toServiceError(error, { operation: `Sign in to tenant ${tenantId} as ${as}`, service: 'entra' });
    }
  };
  // Graph's service principal per tenant never changes: these services' clients share one memory of it.
  const graphServicePrincipals = new Map<string, Promise<ServicePrincipal>>();
  const entraByTenant = new Map<string, EntraApplications>();
  const entra = (tenantId: string): EntraApplications => {
    let client = entraByTenant.get(tenantId);
    if (!client) {
      client = new clients.EntraApplications(credentialFor(tenantId), {
        graphBaseUrl: config.graphBaseUrl,
        tenantId,
        graphServicePrincipals,
        ...(pacing ? { retry: { delaySeconds: pacing.graphDelaySeconds } } : {}),
      });
      entraByTenant.set(tenantId, client);
    }
    return client;
  };
  const signInLogs = new Map<string, SignInLog>();
  const signIns = (tenantId: string): SignInLog => {
    let client = signInLogs.get(tenantId);
    if (!client) {
      client = new clients.SignInLog(credentialFor(tenantId), {
        graphBaseUrl: config.graphBaseUrl,
        now,
        ...(signInLogReadsPer10s !== undefined ? { readsPer10s: signInLogReadsPer10s } : {}),
        ...(pacing ? { retry: { delaySeconds: pacing.graphDelaySeconds } } : {}),
      });
      signInLogs.set(tenantId, client);
    }
    return client;
  };
  const vaultHost = new URL(config.keyVaultUrl).hostname;
  const vault = new clients.CredentialVault(productCredential, {
    vaultUrl: config.keyVaultUrl,
    disableChallengeResourceVerification: !VAULT_SUFFIXES.some((s) => vaultHost.endsWith(s)),
    ...(azureRetry ? { retry: azureRetry } : {}),
  });
  // An F&O environment accepts tokens of its own tenant only: one client per tenant, as the identity there.
  const finOpsByTenant = new Map<string, FinOpsEmailSettings>();
  const finOps = (tenantId: string): FinOpsEmailSettings => {
    let client = finOpsByTenant.get(tenantId);
    if (!client) {
      client = new clients.FinOpsEmailSettings(credentialFor(tenantId), {
        allowedHosts: config.finOps.allowedHosts,
        credentialEntity: {
          entitySet: config.finOps.credentialEntity.entitySet,
          applicationIdField: config.finOps.credentialEntity.applicationIdField,
          secretField: config.finOps.credentialEntity.secretField,
          ...(config.finOps.credentialEntity.key ? { key: config.finOps.credentialEntity.key } : {}),
        },
        ...(azureRetry ? { pipelineOptions: { retryOptions: azureRetry } } : {}),
      });
      finOpsByTenant.set(tenantId, client);
    }
    return client;
  };

  const activities = createActivities({
    entra,
    signIns,
    vault,
    finOps,
    grantedRoles,
    signInAs: (input) =>
      clients.signInAsApplication(input, {
        authorityHost: config.authorityHost,
        graphBaseUrl: config.graphBaseUrl,
        ...(pacing ? { retry: { azure: azureRetry ?? {}, graphDelaySeconds: pacing.graphDelaySeconds } } : {}),
      }),
    settings: {
      authorityHost: config.authorityHost,
      graphBaseUrl: config.graphBaseUrl,
      homeTenantId: config.tenantId,
      ...(config.senderMailbox ? { senderMailbox: config.senderMailbox } : {}),
      alertRecipients: config.alertRecipients,
      ...(config.manualDelivery.secretReaderPrincipalId ? { secretReaderPrincipalId: config.manualDelivery.secretReaderPrincipalId } : {}),
    },
  });
  const registry: FleetRegistry = {
    pages: () => vault.listManagedSecrets(),
    entry: (environmentId) => vault.getSecretProperties(secretNameFor(environmentId), { environmentId }),
    tenantEntry: (tenantId) => vault.getSecretProperties(tenantSecretNameFor(tenantId)),
  };
  const tenants: TenantReads = {
    productApplications: (tenantId) => productApplicationsIn(entra(tenantId)),
    grantedPermissions: grantedRoles,
  };
  return { activities, registry, tenants, config };
}

/**
 * The product's identity per tenant. In the home tenant, and in every tenant when partner mode is off,
 * the function app's own identity. In partner mode (`OPERATOR_CLIENT_ID`), in any other tenant, the
 * multi-tenant operator application, signed in with `ClientAssertionCredential`: its client assertion is
 * the managed identity's token for the token exchange audience of the cloud, which the operator's only
 * credential, a federated identity credential, trusts
 * (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 * No secret exists anywhere: the managed identity's token is fetched again whenever MSAL needs an assertion.
 */
function partnerCredentials(
  config: AppConfig,
  home: TokenCredential,
  identity: typeof import('@azure/identity'),
  azureRetry: { retryDelayInMs: number; maxRetryDelayInMs: number } | undefined,
): { forTenant: (tenantId: string) => TokenCredential; fresh: (tenantId: string) => TokenCredential } {
  const operatorClientId = config.operatorClientId;
  if (!operatorClientId) return { forTenant: () => home, fresh: () => home };
  const exchangeScope = `${tokenExchangeAudience(config.authorityHost)}/.default`;
  const getAssertion = async (): Promise<string> => {
    const token = await home.getToken(exchangeScope);
    if (!token) throw new identity.CredentialUnavailableError(`the managed identity issued no token for ${exchangeScope}`);
    return token.token;
  };
  const operator = (tenantId: string): TokenCredential =>
    new identity.ClientAssertionCredential(tenantId, operatorClientId, getAssertion, {
      authorityHost: config.authorityHost,
      // AUTHORITY_HOST is the deployment's own setting: no discovery of other authorities is needed or wanted.
      disableInstanceDiscovery: true,
      ...(azureRetry ? { retryOptions: { maxRetries: 3, ...azureRetry } } : {}),
    });
  const byTenant = new Map<string, TokenCredential>();
  return {
    forTenant: (tenantId) => {
      const key = tenantId.toLowerCase();
      if (key === config.tenantId) return home;
      let credential = byTenant.get(key);
      if (!credential) {
        credential = operator(key);
        byTenant.set(key, credential);
      }
      return credential;
    },
    // A credential of its own keeps no token from before a consent: its first token shows what is granted now.
    fresh: (tenantId) => (tenantId.toLowerCase() === config.tenantId ? home : operator(tenantId.toLowerCase())),
  };
}

let services: ProductServices | undefined;

export function productServices(): ProductServices {
  services ??= createProductServices(appConfig());
  return services;
}

/** Installs services built elsewhere (tests, the local runtime), or clears them with `undefined`. */
export function setProductServices(next: ProductServices | undefined): void {
  services = next;
}
