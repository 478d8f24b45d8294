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

export function createProductServices(config: AppConfig, credential?: TokenCredential): ProductServices {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use to keep cold start short */
  const identity = require('@azure/identity') as typeof import('@azure/identity');
  const clients = require('./clients') as typeof import('./clients');
  const { createActivities } = require('./activities') as typeof import('./activities');
  /* eslint-enable @typescript-eslint/no-require-imports */

  const productCredential =
    credential ??
    new identity.DefaultAzureCredential({
      authorityHost: config.authorityHost,
      ...(config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {}),
    });
  const graphScope = graphScopeFor(config.graphBaseUrl);
  const entraByTenant = new Map<string, EntraApplications>();
  const entra = (tenantId: string): EntraApplications => {
    let client = entraByTenant.get(tenantId);
    if (!client) {
      client = new clients.EntraApplications(productCredential, { graphBaseUrl: config.graphBaseUrl, scope: graphScope, tenantId });
      entraByTenant.set(tenantId, client);
    }
    return client;
  };
  const vaultHost = new URL(config.keyVaultUrl).hostname;
  const vault = new clients.CredentialVault(productCredential, {
    vaultUrl: config.keyVaultUrl,
    disableChallengeResourceVerification: !VAULT_SUFFIXES.some((s) => vaultHost.endsWith(s)),
  });
  const finOps = new clients.FinOpsEmailSettings(productCredential, {
    allowedHosts: config.finOps.allowedHosts,
    credentialEntity: {
      entitySet: config.finOps.credentialEntity.entitySet,
      applicationIdField: config.finOps.credentialEntity.applicationIdField,
      secretField: config.finOps.credentialEntity.secretField,
      ...(config.finOps.credentialEntity.key ? { key: config.finOps.credentialEntity.key } : {}),
    },
  });

  const signInAs = (input: { tenantId: string; appId: string; secret: string }): ApplicationSession => {
    const appCredential = new identity.ClientSecretCredential(input.tenantId, input.appId, input.secret, {
      authorityHost: config.authorityHost,
      disableInstanceDiscovery: true,
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
        const asApp = new clients.EntraApplications(appCredential, { graphBaseUrl: config.graphBaseUrl, scope: graphScope, tenantId: input.tenantId });
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
