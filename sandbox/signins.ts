/**
 * Entra's sign-in log, written by the token endpoints: every client-credentials sign-in (success or
 * failure) and every managed identity token, in the tenant where it happened, with the credential
 * used. Graph reads it back (graph-signins.ts) after the configured ingestion delay.
 *
 * Fields follow the beta `signIn` resource
 * (https://learn.microsoft.com/en-us/graph/api/resources/signin?view=graph-rest-beta): the credential
 * key id (`servicePrincipalCredentialKeyId`) is what proves which client secret F&O signs in with.
 */
import { GRAPH_APP_ID, type SandboxState } from './state';
import type { ClientCredentialType, SignInRecord, TenantDirectory } from './tenants';
import type { ApplicationRecord, ServicePrincipalRecord } from './types';

export const KEY_VAULT_APP_ID = 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093';
/**
 * Application id of "Microsoft Dynamics ERP", the resource F&O tokens are issued for (the audience is
 * the environment URL). An assumption from public tenants' enterprise application lists; Microsoft's
 * F&O docs name the resource by URL only.
 */
export const DYNAMICS_ERP_APP_ID = '00000015-0000-0000-c000-000000000000';
/** Sign-in logs are kept 30 days with Entra ID P1/P2 (https://learn.microsoft.com/en-us/entra/identity/monitoring-health/reference-reports-data-retention). */
export const SIGN_IN_RETENTION_DAYS = 30;
/** The loopback address every sandbox client calls from. */
const CALLER_IP = '127.0.0.1';

export interface SignInResource {
  resourceId: string;
  resourceDisplayName: string;
  resourceServicePrincipalId: string;
}

export type ResourceKind = 'graph' | 'keyvault' | 'finops' | 'exchange';

/** How the sign-in log names the resource a token was asked for. */
export function signInResource(tenant: TenantDirectory, kind: ResourceKind, audience: string): SignInResource {
  switch (kind) {
    case 'graph':
      return { resourceId: GRAPH_APP_ID, resourceDisplayName: 'Microsoft Graph', resourceServicePrincipalId: tenant.graphServicePrincipalId };
    case 'keyvault':
      return { resourceId: KEY_VAULT_APP_ID, resourceDisplayName: 'Azure Key Vault', resourceServicePrincipalId: '' };
    case 'finops':
      return { resourceId: DYNAMICS_ERP_APP_ID, resourceDisplayName: 'Microsoft Dynamics ERP', resourceServicePrincipalId: '' };
    case 'exchange':
      // Not documented how the log names the token exchange audience; the sandbox shows the URI.
      return { resourceId: '', resourceDisplayName: audience, resourceServicePrincipalId: '' };
  }
}

export interface SignInAttempt {
  tenant: TenantDirectory;
  /** The request id Entra answered with (`trace_id` of an error, `x-ms-request-id` always). */
  requestId: string;
  correlationId: string;
  clientId: string;
  app?: ApplicationRecord;
  servicePrincipal?: ServicePrincipalRecord;
  keyId?: string;
  credentialType: ClientCredentialType;
  federatedCredentialId?: string;
  resource?: SignInResource;
  eventType: 'servicePrincipal' | 'managedIdentity';
}

/** Appends one sign-in to its tenant's log (`errorCode` 0 = success). */
export function recordSignIn(state: SandboxState, attempt: SignInAttempt, errorCode: number, failureReason: string | null): SignInRecord {
  const record: SignInRecord = {
    id: attempt.requestId,
    at: state.now(),
    appId: attempt.clientId,
    appDisplayName: attempt.app?.displayName ?? attempt.servicePrincipal?.displayName ?? '',
    servicePrincipalId: attempt.servicePrincipal?.id ?? '',
    servicePrincipalName: attempt.servicePrincipal?.displayName ?? attempt.app?.displayName ?? '',
    servicePrincipalCredentialKeyId: attempt.keyId ?? '',
    clientCredentialType: attempt.credentialType,
    federatedCredentialId: attempt.federatedCredentialId ?? null,
    resourceId: attempt.resource?.resourceId ?? '',
    resourceDisplayName: attempt.resource?.resourceDisplayName ?? '',
    resourceServicePrincipalId: attempt.resource?.resourceServicePrincipalId ?? '',
    signInEventTypes: [attempt.eventType],
    correlationId: attempt.correlationId,
    ipAddress: CALLER_IP,
    errorCode,
    failureReason,
  };
  const log = attempt.tenant.signIns;
  log.push(record);
  // Entries past retention are gone for good (a long `npm start` run keeps only what Graph could show).
  const oldest = record.at - SIGN_IN_RETENTION_DAYS * 86_400_000;
  while (log.length > 0 && (log[0]?.at ?? 0) < oldest) log.shift();
  return record;
}

/**
 * The sign-ins Graph can show now: past the ingestion delay and within retention. The delay is read
 * at query time, so changing it affects sign-ins already recorded.
 */
export function visibleSignIns(state: SandboxState, tenant: TenantDirectory): SignInRecord[] {
  const now = state.now();
  const delayMs = state.signInLogDelayMinutes * 60_000;
  const oldest = now - SIGN_IN_RETENTION_DAYS * 86_400_000;
  return tenant.signIns.filter((s) => s.at + delayMs <= now && s.at >= oldest);
}
