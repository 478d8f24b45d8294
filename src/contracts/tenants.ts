/**
 * Tenants in partner mode: the home tenant (where the function app, its identity and the vault live)
 * and the customer tenants onboarded to the partner's operator application. What the tenant routes
 * answer, the runs that onboard and remove a tenant, and the registry record kept for each customer
 * tenant. No runtime imports: the dashboard's browser script uses these shapes too.
 */

/** A tenant (directory) id as the product keys it: a lowercase GUID. */
export const TENANT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Where a tenant stands with the product: `home` (its own tenant, no consent needed), `pending` (an
 * onboarding published the consent URL and waits), `granted` (a token of the operator application in
 * the tenant carried every permission it requires), `not-onboarded` (the registry has environments in
 * it, but no onboarding recorded it).
 */
export type TenantConsentState = 'home' | 'pending' | 'granted' | 'not-onboarded';

/** One tenant as `GET /api/tenants` shows it. */
export interface TenantView {
  tenantId: string;
  home: boolean;
  consent: TenantConsentState;
  /**
   * The Microsoft Graph application permissions the product's identity holds in the tenant: for the
   * home tenant read now from the managed identity's token, for a customer tenant as the last
   * onboarding saw them in the operator application's token. Null when they could not be read now.
   */
  grantedPermissions: string[] | null;
  /** Customer tenants: the permissions the operator application requires (what an administrator consents to). */
  requiredPermissions?: string[];
  /** Customer tenants: the operator application (client id) the consent is for. */
  operatorAppId?: string;
  /** While consent is pending: the tenant-specific admin-consent URL to open. */
  consentUrl?: string;
  /** ISO time consent was first seen complete. */
  onboardedAt?: string;
  /** ISO time of the last reading of the operator's permissions in the tenant. */
  checkedAt?: string;
  /** Environments of the registry in this tenant. */
  environments: number;
  /** Why `grantedPermissions` is null. */
  note?: string;
}

/** Body of `GET /api/tenants`: the home tenant first, then customer tenants by id. */
export interface TenantList {
  /** Whether partner mode is on (`OPERATOR_CLIENT_ID` set). */
  partnerMode: boolean;
  tenants: TenantView[];
}

/** A customer tenant's registry record (the tags of its Key Vault record, `tenantSecretNameFor`). */
export interface TenantRecord {
  tenantId: string;
  consent: 'pending' | 'granted';
  operatorAppId: string;
  requiredPermissions: string[];
  grantedPermissions: string[];
  onboardedAt?: string;
  checkedAt: string;
}

/** An application of the product in a customer tenant, as a removal reports and removes it. */
export interface TenantApplication {
  objectId: string;
  appId: string;
  displayName: string;
  /** The environment its `uniqueName` and marker tag name. */
  environmentId: string;
}

/** An environment of the registry in the tenant being removed. */
export interface TenantEnvironment {
  environmentId: string;
  environmentUrl: string;
  /** Its Key Vault record (the secret holding its client secret and registry tags). */
  secretName: string;
  /** The app registration its record names. */
  appId: string;
  appObjectId: string;
}

/**
 * What `DELETE /api/tenants/{tenantId}` reports before anything is removed: everything the product
 * created in the tenant and in the vault for it, what it leaves alone and why, and the token that
 * confirms exactly this report.
 */
export interface TenantRemovalReport {
  tenantId: string;
  /** The product's own applications in the tenant (owned by its identity there and tagged with an environment). */
  applications: TenantApplication[];
  environments: TenantEnvironment[];
  /** Key Vault records removed: each environment's, and the tenant's own. */
  keyVaultRecords: string[];
  /** Applications under an environment's name that are not the product's own: left untouched. */
  leftAlone: Array<{ objectId: string; appId: string; displayName: string; reason: string }>;
  /** What a person should know: what stays, what stops working. */
  notes: string[];
  /** A digest of this report: `DELETE …?confirm=<token>` removes exactly what it lists, or answers 409 when the tenant changed. */
  confirmationToken: string;
  /** The URL that confirms (same route, with `confirm`). */
  confirmUrl: string;
}

/** Input of the `onboardTenant` run. */
export interface OnboardInput {
  tenantId: string;
  operatorAppId: string;
  /** The tenant-specific admin-consent URL of the operator application (`adminConsentUrl` in cloud.ts, from the settings). */
  consentUrl: string;
  waits: { consentTimeoutHours: number; consentPollMinutes: number; reminderHours: number };
  dashboardUrl?: string;
}

/** Output of the `onboardTenant` run. */
export interface OnboardOutput {
  tenantId: string;
  consent: 'granted';
  operatorAppId: string;
  requiredPermissions: string[];
  grantedPermissions: string[];
  onboardedAt: string;
}

/** One environment the removal run takes out, with any claim on it a terminated run left behind. */
export interface RemovedEnvironment extends TenantEnvironment {
  staleHolders: Array<{ instanceId: string; since: string }>;
}

/** Input of the `offboardTenant` run: exactly what the confirmed report listed. */
export interface OffboardInput {
  tenantId: string;
  environments: RemovedEnvironment[];
  /** Applications of the product in the tenant that no environment record names (a setup that stopped early). */
  otherApplications: TenantApplication[];
  /** The tenant's own record, when there is one. */
  tenantRecord?: string;
}

/** Output of the `offboardTenant` run. */
export interface OffboardOutput {
  tenantId: string;
  removedApplications: string[];
  removedRecords: string[];
  /** What was not removed, and why (an application that stopped being the product's, an environment another run held). */
  skipped: string[];
}

/**
 * Reads about a tenant the tenant routes answer from without starting a run (reading is not a side
 * effect): the product's applications there, and the permissions its identity holds there now.
 */
export interface TenantReads {
  productApplications(tenantId: string): Promise<{ own: TenantApplication[]; leftAlone: TenantRemovalReport['leftAlone'] }>;
  grantedPermissions(tenantId: string): Promise<string[]>;
}
