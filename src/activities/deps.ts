/**
 * What activities are built from: the typed clients (injected, so tests pass sandbox-backed or fake
 * ones), a token probe for verification, and the few settings they need. Activities never read
 * configuration or construct clients themselves.
 */
import type { ApplicationSession } from '../clients/applicationSession';
import type { CredentialVault } from '../clients/credentialVault';
import type { EntraApplications } from '../clients/entraApplications';
import type { FinOpsEmailSettings } from '../clients/finOpsEmailSettings';
import type { SignInLog } from '../clients/signInLog';

export interface ActivityLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ActivityDeps {
  /**
   * Graph client acting as the product's identity in a tenant (cached per tenant by the composition root):
   * the managed identity in the home tenant, the partner operator application in a customer tenant.
   */
  entra(tenantId: string): EntraApplications;
  /** Entra's sign-in log of a tenant, read as the product's identity there (optional evidence: may answer "unavailable"). */
  signIns(tenantId: string): SignInLog;
  /** The home tenant's vault, always as the managed identity. */
  vault: CredentialVault;
  /**
   * F&O OData of environments in a tenant, as the product's identity there: an F&O environment accepts
   * tokens of its own tenant only.
   */
  finOps(tenantId: string): FinOpsEmailSettings;
  /**
   * The Microsoft Graph application permissions (`roles`) in a token of the product's identity in a
   * tenant, acquired afresh rather than from a cache: what the tenant grants it right now.
   */
  grantedRoles(tenantId: string): Promise<string[]>;
  /**
   * Signs in as an environment's app with one of its client secrets (the secret stays inside the
   * calling activity; implementations must not log it).
   */
  signInAs(input: { tenantId: string; appId: string; secret: string }): ApplicationSession;
  settings: {
    authorityHost: string;
    graphBaseUrl: string;
    /** Tenant of the product's own identity (where alert mail is sent from). */
    homeTenantId: string;
    senderMailbox?: string;
    alertRecipients: string[];
    /** SECRET_READER_PRINCIPAL_ID: who holds Key Vault Secrets User on the vault, named in manual delivery instructions. */
    secretReaderPrincipalId?: string;
  };
}

/** An activity: typed input in, typed output out, a logger for this invocation. */
export type ActivityHandler<I, O> = (input: I, log: ActivityLogger) => Promise<O>;

export type { ApplicationSession } from '../clients/applicationSession';
