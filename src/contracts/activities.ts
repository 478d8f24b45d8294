/**
 * The activities' names and their typed inputs and outputs: the one registry that orchestrators
 * (through `callActivity`) and the function registrations share, so a misspelled activity name or a
 * wrong input shape does not compile. Every value here travels through durable history, which is
 * stored in plain text: ids and references only, never a secret.
 */
import type { EnvironmentRecord, SecretReference } from './environment';
import type { EvidenceReading, FinOpsCapabilities, FinOpsEvidence } from './evidence';
import type { FleetEnvironment } from './fleet';
import type { RotationReason } from './rotation';
import type { ConsentStrategy, DeliveryStrategy, MailboxScopeInstructions, ManualDeliveryInstructions } from './operations';
import type { MailboxScope } from './setup';

export interface RegisterApplicationInput {
  environmentId: string;
  tenantId: string;
  displayName: string;
}
export interface RegisterApplicationOutput {
  appId: string;
  appObjectId: string;
  /** What happened: `created`, `updated` (drifted and put back) or `unchanged` (no write). */
  outcome: 'created' | 'updated' | 'unchanged';
}

export interface EnsureServicePrincipalInput {
  environmentId: string;
  tenantId: string;
  appId: string;
}
export interface EnsureServicePrincipalOutput {
  servicePrincipalId: string;
  created: boolean;
}

export interface GrantAdminConsentInput {
  environmentId: string;
  tenantId: string;
  appId: string;
  servicePrincipalId: string;
  strategy: ConsentStrategy;
  /**
   * Whether the tenant-wide `Mail.Send` grant is wanted. False for a mailbox-scoped environment, where
   * Exchange RBAC for Applications grants sending for the scope and a tenant-wide grant would override it.
   */
  mailSend: boolean;
}
export type GrantAdminConsentOutput =
  | { status: 'granted'; changed: boolean }
  | { status: 'requested'; consentUrl: string };

export interface CheckConsentInput {
  environmentId: string;
  tenantId: string;
  servicePrincipalId: string;
}
export interface CheckConsentOutput {
  granted: boolean;
  mailSendGranted: boolean;
  userReadGranted: boolean;
}

export interface CreateClientSecretInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  appId: string;
  appObjectId: string;
  lifetimeDays: number;
  /** ISO time of the request, from the orchestration's replay-safe clock. */
  requestedAt: string;
  /** Marker of the operation: credentials it creates carry it, so a retry can find and remove its own orphans. */
  operationId: string;
  /**
   * `ensure` (setup): keep the current credential when it is recorded in Key Vault, live in Entra and not
   * within `minRemainingDays` of expiry. `rotate`: always create a new one.
   */
  mode: 'ensure' | 'rotate';
  minRemainingDays: number;
}
export interface CreateClientSecretOutput {
  reference: SecretReference;
  created: boolean;
  /** Whether F&O already confirmed this version (so delivery has nothing to do). */
  delivered: boolean;
  /** Key ids of unrecorded credentials of this operation that were removed (a crashed earlier attempt). */
  removedOrphans: string[];
  /** The mailbox scope recorded on the version, if any (`describeMailboxScope`). */
  mailboxScope?: string;
  /** What is known of F&O using the kept credential (its `finops-evidence` tag), if anything. */
  evidence?: FinOpsEvidence;
  /** What the tenant's app management policies did to the new secret (a lifetime cap), or that they could not be read. */
  policyNote?: string;
}

export interface DeliverToFinOpsInput {
  environmentId: string;
  environmentUrl: string;
  /** The environment's tenant: F&O accepts tokens of its own tenant only. */
  tenantId: string;
  appId: string;
  reference: SecretReference;
  /** Resolved by the run (`auto` becomes one of these once F&O's metadata is read). */
  strategy: Exclude<DeliveryStrategy, 'auto'>;
  /** Write even when the version is tagged as delivered (a repair: F&O lost it, e.g. to a database copy). */
  force?: boolean;
}
export type DeliverToFinOpsOutput =
  | { strategy: 'odata'; providerChanged: boolean; credentialWritten: boolean }
  | { strategy: 'manual'; instructions: ManualDeliveryInstructions };

export interface DescribeFinOpsInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
}
/** What the environment's F&O offers (its `$metadata`); never fails for an F&O that cannot be read: `reachable` says so. */
export type DescribeFinOpsOutput = FinOpsCapabilities;

export interface ReadFinOpsEvidenceInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  appId: string;
  /** The environment's Key Vault secret: its enabled versions tell previous credentials from foreign ones. */
  secretName: string;
  /** The credential whose use is looked for. */
  keyId: string;
  /** ISO start of the window of sign-ins read. */
  since: string;
  /** ISO time of the reading (the orchestration's clock). */
  asOf: string;
  /** Which of F&O's own views to read besides the sign-in log. */
  read: { provider: boolean; credential: boolean; health: boolean };
}
export type ReadFinOpsEvidenceOutput = EvidenceReading;

export interface RecordFinOpsEvidenceInput {
  environmentId: string;
  reference: SecretReference;
  evidence: FinOpsEvidence;
}
export interface RecordFinOpsEvidenceOutput {
  updated: boolean;
}

export interface SendFinOpsTestEmailInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  recipient: string;
}
export interface SendFinOpsTestEmailOutput {
  status: 'Sent' | 'Failed' | 'NotGraph' | 'InvalidRecipient';
  message: string;
}

export interface ListFleetEnvironmentsInput {
  /** Only this tenant's environments. */
  tenantId?: string;
}
export interface ListFleetEnvironmentsOutput {
  /** Every enabled environment of the registry (or the tenant), ordered by tenant then id. */
  environments: FleetEnvironment[];
}

export interface StartRotationsInput {
  environmentIds: string[];
  reason: RotationReason;
  graceHours: number;
}
export interface StartRotationsOutput {
  started: string[];
  /** Environments with a run already active (left alone). */
  alreadyRunning: string[];
}

export interface RecordDeliveryInput {
  environmentId: string;
  reference: SecretReference;
}
export interface RecordDeliveryOutput {
  recorded: boolean;
}

export interface VerifyCredentialInput {
  environmentId: string;
  tenantId: string;
  appId: string;
  reference: SecretReference;
  /** Send a test message when both are given. */
  senderMailbox?: string;
  testRecipient?: string;
  /** Mailbox-scoped: the token carries no `Mail.Send` role by design; sending is what proves the credential. */
  mailboxScoped?: boolean;
}
export interface VerifyCredentialOutput {
  roles: string[];
  testMessageSent: boolean;
}

export interface NotifyInput {
  /** The environment the notice is about; a tenant's runs name the tenant instead. */
  environmentId?: string;
  tenantId?: string;
  kind: 'action-needed' | 'reminder' | 'alert';
  subject: string;
  lines: string[];
}
export interface NotifyOutput {
  mailed: number;
}

export interface PrepareMailboxScopeInput {
  environmentId: string;
  appId: string;
  servicePrincipalId: string;
  scope: MailboxScope;
}
export interface PrepareMailboxScopeOutput {
  instructions: MailboxScopeInstructions;
}

export interface VerifyMailboxScopeInput {
  environmentId: string;
  tenantId: string;
  appId: string;
  reference: SecretReference;
  scope: MailboxScope;
  testRecipient?: string;
}
export interface VerifyMailboxScopeOutput {
  inScopeAccepted: string;
  outOfScopeRefused?: string;
}

export interface ReadEnvironmentInput {
  environmentId: string;
  /** ISO time used for the record's status (the orchestration's clock). */
  asOf: string;
  leadDays: number;
}
/**
 * The app registration the record names, as Graph shows it: the product's own (`otherOwners`: people
 * or apps that also own it), gone, or not the product's (why: the registry's tags point elsewhere).
 */
export type RecordedApplication = { state: 'own'; otherOwners: string[] } | { state: 'missing' } | { state: 'foreign'; reasons: string[] };

export type ReadEnvironmentOutput =
  | { found: false }
  | {
      found: true;
      record: EnvironmentRecord;
      delivered: boolean;
      application: RecordedApplication;
      /** When the current version was stored (ISO; absent when Key Vault does not say): the product verified its credential right after. */
      storedAt?: string;
    };

export interface RevokePreviousCredentialsInput {
  environmentId: string;
  tenantId: string;
  appObjectId: string;
  secretName: string;
  /** The credential that stays: the one F&O now holds. */
  keepKeyId: string;
}
export interface RevokePreviousCredentialsOutput {
  removedKeyIds: string[];
  disabledVersions: string[];
}

export interface InspectEnvironmentInput {
  environmentId: string;
  tenantId: string;
  appId: string;
  appObjectId: string;
  secretName: string;
  keyId: string;
  /** ISO time (the orchestration's clock). */
  asOf: string;
  /** Unrecorded credentials of the product older than this are orphans to remove; younger ones may belong to a run in progress. */
  graceHours: number;
}
export interface InspectEnvironmentOutput {
  /** The Key Vault version's credential no longer exists in Entra (someone deleted it). */
  credentialMissing: boolean;
  /** Unrecorded product credentials older than the grace period: to be removed. */
  orphans: string[];
  /** Unrecorded product credentials still within the grace period (left alone). */
  youngOrphans: string[];
  /** The app's service principal, or null when someone deleted it. */
  servicePrincipalId: string | null;
  consent: CheckConsentOutput;
}

export interface RemoveOrphanedCredentialsInput {
  environmentId: string;
  tenantId: string;
  appObjectId: string;
  secretName: string;
  /** Candidates found by `inspectEnvironment`; each is checked again before it is removed. */
  keyIds: string[];
  asOf: string;
  graceHours: number;
}
export interface RemoveOrphanedCredentialsOutput {
  removedKeyIds: string[];
}

// ---- tenants (partner mode) ----------------------------------------------------------------------

export interface DescribeOperatorInput {
  /** `OPERATOR_CLIENT_ID`. */
  operatorAppId: string;
}
export interface DescribeOperatorOutput {
  appId: string;
  displayName: string;
  /** The Microsoft Graph application permissions it requires: what a customer's administrator consents to. */
  requiredPermissions: string[];
}

export interface CheckTenantConsentInput {
  tenantId: string;
  requiredPermissions: string[];
}
export interface CheckTenantConsentOutput {
  /** `granted`: a fresh token of the operator in the tenant carries every required permission. */
  state: 'granted' | 'not-consented' | 'incomplete';
  grantedPermissions: string[];
  missingPermissions: string[];
}

export interface RecordTenantInput {
  tenantId: string;
  consent: 'pending' | 'granted';
  operatorAppId: string;
  requiredPermissions: string[];
  grantedPermissions: string[];
  /** ISO time of the reading (the orchestration's clock); becomes `onboardedAt` the first time consent is complete. */
  asOf: string;
}
export interface RecordTenantOutput {
  written: boolean;
  onboardedAt?: string;
}

export interface RemoveTenantApplicationInput {
  tenantId: string;
  environmentId: string;
  appId: string;
  objectId: string;
}
export interface RemoveTenantApplicationOutput {
  removed: boolean;
  /** Why nothing was removed: already gone, or no longer the product's own. */
  reason?: string;
}

export interface RemoveRegistryRecordInput {
  tenantId: string;
  /** An environment's secret (`secretNameFor`) whose tenant tag is `tenantId`, or the tenant's record. */
  secretName: string;
}
export interface RemoveRegistryRecordOutput {
  removed: boolean;
  reason?: string;
}

/** Activity name → input and output. */
export interface ActivityContracts {
  registerApplication: { input: RegisterApplicationInput; output: RegisterApplicationOutput };
  ensureServicePrincipal: { input: EnsureServicePrincipalInput; output: EnsureServicePrincipalOutput };
  grantAdminConsent: { input: GrantAdminConsentInput; output: GrantAdminConsentOutput };
  checkConsent: { input: CheckConsentInput; output: CheckConsentOutput };
  createClientSecret: { input: CreateClientSecretInput; output: CreateClientSecretOutput };
  deliverToFinOps: { input: DeliverToFinOpsInput; output: DeliverToFinOpsOutput };
  recordDelivery: { input: RecordDeliveryInput; output: RecordDeliveryOutput };
  listFleetEnvironments: { input: ListFleetEnvironmentsInput; output: ListFleetEnvironmentsOutput };
  startRotations: { input: StartRotationsInput; output: StartRotationsOutput };
  describeFinOps: { input: DescribeFinOpsInput; output: DescribeFinOpsOutput };
  readFinOpsEvidence: { input: ReadFinOpsEvidenceInput; output: ReadFinOpsEvidenceOutput };
  recordFinOpsEvidence: { input: RecordFinOpsEvidenceInput; output: RecordFinOpsEvidenceOutput };
  sendFinOpsTestEmail: { input: SendFinOpsTestEmailInput; output: SendFinOpsTestEmailOutput };
  verifyCredential: { input: VerifyCredentialInput; output: VerifyCredentialOutput };
  notify: { input: NotifyInput; output: NotifyOutput };
  readEnvironment: { input: ReadEnvironmentInput; output: ReadEnvironmentOutput };
  revokePreviousCredentials: { input: RevokePreviousCredentialsInput; output: RevokePreviousCredentialsOutput };
  inspectEnvironment: { input: InspectEnvironmentInput; output: InspectEnvironmentOutput };
  removeOrphanedCredentials: { input: RemoveOrphanedCredentialsInput; output: RemoveOrphanedCredentialsOutput };
  prepareMailboxScope: { input: PrepareMailboxScopeInput; output: PrepareMailboxScopeOutput };
  verifyMailboxScope: { input: VerifyMailboxScopeInput; output: VerifyMailboxScopeOutput };
  describeOperator: { input: DescribeOperatorInput; output: DescribeOperatorOutput };
  checkTenantConsent: { input: CheckTenantConsentInput; output: CheckTenantConsentOutput };
  recordTenant: { input: RecordTenantInput; output: RecordTenantOutput };
  removeTenantApplication: { input: RemoveTenantApplicationInput; output: RemoveTenantApplicationOutput };
  removeRegistryRecord: { input: RemoveRegistryRecordInput; output: RemoveRegistryRecordOutput };
}

export type ActivityName = keyof ActivityContracts;
export type ActivityInput<N extends ActivityName> = ActivityContracts[N]['input'];
export type ActivityOutput<N extends ActivityName> = ActivityContracts[N]['output'];

/**
 * Every activity name, once. Typed as a record over `ActivityName`, so adding an activity to the
 * contracts without listing it here (or listing one that does not exist) does not compile.
 */
const ACTIVITY_NAME_SET: { readonly [N in ActivityName]: true } = {
  registerApplication: true,
  ensureServicePrincipal: true,
  grantAdminConsent: true,
  checkConsent: true,
  createClientSecret: true,
  deliverToFinOps: true,
  recordDelivery: true,
  listFleetEnvironments: true,
  startRotations: true,
  describeFinOps: true,
  readFinOpsEvidence: true,
  recordFinOpsEvidence: true,
  sendFinOpsTestEmail: true,
  verifyCredential: true,
  notify: true,
  readEnvironment: true,
  revokePreviousCredentials: true,
  inspectEnvironment: true,
  removeOrphanedCredentials: true,
  prepareMailboxScope: true,
  verifyMailboxScope: true,
  describeOperator: true,
  checkTenantConsent: true,
  recordTenant: true,
  removeTenantApplication: true,
  removeRegistryRecord: true,
};

export const ACTIVITY_NAMES = Object.freeze(Object.keys(ACTIVITY_NAME_SET) as ActivityName[]);

/** Activities that start runs: they need the durable client, so the function app registers them with it (src/functions/fleetRotation.ts). */
export const RUN_STARTING_ACTIVITIES: readonly ActivityName[] = ['startRotations'];

/**
 * What an activity returns through durable history. Failures a retry cannot fix (permission denied,
 * bad request, policy) come back as a value, so the orchestration fails at once with a clear message
 * instead of spending its retry budget; failures worth retrying are thrown, and the step's retry
 * preset takes over.
 */
export type ActivityResult<T> = { ok: true; value: T } | { ok: false; failure: StepFailure };

export interface StepFailure {
  kind: 'permanent' | 'not-found';
  service: 'graph' | 'entra' | 'keyvault' | 'finops' | 'product';
  message: string;
  action: string;
  code?: string;
  status?: number;
  requestId?: string;
}
