/**
 * Composition root: builds the clients from the settings and the product's identity, and the
 * activities from the clients. Built on first use, not at load, so the function app starts without
 * loading the Azure SDKs; tests and the local runtime may install their own services instead.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { Activities, ApplicationSession } from './activities';
import type { CredentialVault } from './clients/credentialVault';
import type { EntraApplications, MailMessage } from './clients/entraApplications';
import { appConfig, type AppConfig } from './config';

export interface ProductServices {
  activities: Activities;
  vault: CredentialVault;
  config: AppConfig;
}

/** Key Vault hosts of the public and national clouds; any other host (a local emulator) skips the resource check. */
const VAULT_SUFFIXES = ['.vault.azure.net', '.vault.azure.cn', '.vault.usgovcloudapi.net', '.vault.microsoftazure.de', '.managedhsm.azure.net'];

/** Graph token scope for a Graph endpoint: the public cloud's resource unless a national cloud is configured. */
export function graphScopeFor(graphBaseUrl: string): string {
  const host = new URL(graphBaseUrl).hostname;
  const national = ['graph.microsoft.us', 'dod-graph.microsoft.us', 'microsoftgraph.chinacloudapi.cn'];
  return national.includes(host) ? `https://${host}/.default` : 'https://graph.microsoft.com/.default';
}

function decodeRoles(accessToken: string): string[] {
  const payload = accessToken.split('.')[1];
  if (!payload) return [];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { roles?: unknown };
  return Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
}

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
  const graphScope = graphScopeFor(config.graphBaseUrl);
  const entraByTenant = new Map<string, EntraApplications>();
  const entra = (tenantId: string): EntraApplications => {
    let client = entraByTenant.get(tenantId);
    if (!client) {
      client = new clients.EntraApplications(productCredential, {
        graphBaseUrl: config.graphBaseUrl,
        scope: graphScope,
        tenantId,
        ...(pacing ? { retry: { delaySeconds: pacing.graphDelaySeconds } } : {}),
      });
      entraByTenant.set(tenantId, client);
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

  const signInAs = (input: { tenantId: string; appId: string; secret: string }): ApplicationSession => {
    const appCredential = new identity.ClientSecretCredential(input.tenantId, input.appId, input.secret, {
      authorityHost: config.authorityHost,
      disableInstanceDiscovery: true,
      ...(azureRetry ? { retryOptions: azureRetry } : {}),
    });
    const ctx = { operation: 'Sign in with the new credential', service: 'entra' as const, freshSecret: true, redact: [input.secret] };
    return {
      async roles(): Promise<string[]> {
        try {
          const token = await appCredential.getToken(graphScope);
          return decodeRoles(token.token);
        } catch (error) {
          throw clients.toServiceError(error, ctx);
        }
      },
      async sendMail(message: MailMessage): Promise<void> {
        const asApp = new clients.EntraApplications(appCredential, {
          graphBaseUrl: config.graphBaseUrl,
          scope: graphScope,
          tenantId: input.tenantId,
          ...(pacing ? { retry: { delaySeconds: pacing.graphDelaySeconds } } : {}),
        });
        await asApp.sendMail(message);
      },
    };
  };

  const activities = createActivities({
    entra,
    vault,
    finOps,
    signInAs,
    settings: {
      authorityHost: config.authorityHost,
      homeTenantId: config.tenantId,
      ...(config.senderMailbox ? { senderMailbox: config.senderMailbox } : {}),
      alertRecipients: config.alertRecipients,
    },
  });
  return { activities, vault, config };
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
