/**
 * Composition root: builds the clients from the settings and the product's identity, the activities
 * from the clients, and the registry reads the triggers use. Built on first use, not at load, so the
 * function app starts without loading the Azure SDKs; tests and the local runtime may install their
 * own services instead. Nothing here holds logic: that lives in the clients and activities it wires.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { Activities } from './activities';
import type { EntraApplications, ServicePrincipal } from './clients/entraApplications';
import type { SignInLog } from './clients/signInLog';
import { appConfig, type AppConfig } from './config';
import { secretNameFor } from './contracts/names';
import type { FleetRegistry } from './contracts/registry';

export interface ProductServices {
  activities: Activities;
  registry: FleetRegistry;
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

export function createProductServices(config: AppConfig, credential?: TokenCredential): ProductServices {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use to keep cold start short */
  const identity = require('@azure/identity') as typeof import('@azure/identity');
  const clients = require('./clients') as typeof import('./clients');
  const { createActivities } = require('./activities') as typeof import('./activities');
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
  // Graph's service principal per tenant never changes: these services' clients share one memory of it.
  const graphServicePrincipals = new Map<string, Promise<ServicePrincipal>>();
  const entraByTenant = new Map<string, EntraApplications>();
  const entra = (tenantId: string): EntraApplications => {
    let client = entraByTenant.get(tenantId);
    if (!client) {
      client = new clients.EntraApplications(productCredential, {
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
      client = new clients.SignInLog(productCredential, {
        graphBaseUrl: config.graphBaseUrl,
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
  const finOps = new clients.FinOpsEmailSettings(productCredential, {
    allowedHosts: config.finOps.allowedHosts,
    credentialEntity: {
      entitySet: config.finOps.credentialEntity.entitySet,
      applicationIdField: config.finOps.credentialEntity.applicationIdField,
      secretField: config.finOps.credentialEntity.secretField,
      ...(config.finOps.credentialEntity.key ? { key: config.finOps.credentialEntity.key } : {}),
    },
    ...(azureRetry ? { pipelineOptions: { retryOptions: azureRetry } } : {}),
  });

  const activities = createActivities({
    entra,
    signIns,
    vault,
    finOps,
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
  };
  return { activities, registry, config };
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
