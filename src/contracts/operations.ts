/**
 * What every run of the product shares: the orchestration names (public: run status shows them),
 * the strategies a run is started with, the steps of each kind of run and their statuses as published
 * in custom status, what a run that waits for a person publishes, and the bodies of
 * `GET /api/operations`. Kept apart from the per-operation modules so none of them imports another,
 * and free of runtime imports so the dashboard's browser script bundles these very names.
 */

/** Orchestration names: public contracts, shown as `name` in `GET /api/operations`. */
export const SETUP_ORCHESTRATION = 'setupEnvironment';
export const ROTATION_ORCHESTRATION = 'rotateCredential';
export const DRIFT_ORCHESTRATION = 'checkDrift';

/** Partner mode: the runs of a customer tenant (public names, like the environment runs'). */
export const ONBOARD_ORCHESTRATION = 'onboardTenant';
export const OFFBOARD_ORCHESTRATION = 'offboardTenant';

/** The kinds of run the product starts for one environment; at most one of them is active at a time. */
export type RunKind = 'setup' | 'rotation' | 'drift';

/** The kinds of run the product starts for one customer tenant: onboarding (consent) and removal. */
export type TenantRunKind = 'onboard' | 'offboard';

export const TENANT_ORCHESTRATION_OF: Readonly<Record<TenantRunKind, string>> = {
  onboard: ONBOARD_ORCHESTRATION,
  offboard: OFFBOARD_ORCHESTRATION,
};

export const ORCHESTRATION_OF: Readonly<Record<RunKind, string>> = {
  setup: SETUP_ORCHESTRATION,
  rotation: ROTATION_ORCHESTRATION,
  drift: DRIFT_ORCHESTRATION,
};

export type ConsentStrategy = 'grant' | 'request';
/**
 * How the credential reaches F&O: `odata` writes it through the FnoGraphMail extension's entity;
 * `manual` publishes instructions and waits for a person; `auto` reads F&O's metadata once per run and
 * takes `odata` where the extension is installed, `manual` where it is not.
 */
export type DeliveryStrategy = 'auto' | 'odata' | 'manual';
export const DELIVERY_STRATEGIES = ['auto', 'odata', 'manual'] as const satisfies readonly DeliveryStrategy[];

export const SETUP_STEPS = [
  'registerApplication',
  'ensureServicePrincipal',
  'grantAdminConsent',
  'createClientSecret',
  'verifyCredential',
  'deliverToFinOps',
  // Entra shows F&O signing in with the new credential (and F&O's own test send, with the extension).
  'proveFinOpsUses',
] as const;

/** With mailbox scoping, a last step applies the scope and proves it by sending with the new credential. */
export const SCOPED_SETUP_STEPS = [...SETUP_STEPS, 'restrictMailboxes'] as const;

/** Steps that replace a credential, shared by the rotation and by a drift check that finds it deleted or due. */
export const REPLACEMENT_STEPS = ['createClientSecret', 'verifyCredential', 'deliverToFinOps', 'proveFinOpsUses', 'gracePeriod', 'revokePreviousCredentials'] as const;

export const ROTATION_STEPS = ['readEnvironment', ...REPLACEMENT_STEPS] as const;

/**
 * The drift run: inspect Entra and F&O, repair what is quick, alert (at once: F&O may not be sending),
 * then replace a deleted or due credential, or re-deliver the current one F&O lost.
 */
export const DRIFT_STEPS = ['readEnvironment', 'inspectEnvironment', 'inspectFinOps', 'removeOrphans', 'grantAdminConsent', 'alert', ...REPLACEMENT_STEPS] as const;

/**
 * Onboarding a customer tenant: read the operator application (the permissions it requires), have an
 * administrator of the tenant consent to it (the consent URL, waiting, polling a token of the operator
 * there), then record the tenant in the registry.
 */
export const ONBOARD_STEPS = ['readOperator', 'adminConsent', 'recordTenant'] as const;

/**
 * Removing a customer tenant: each environment (its app registration, then its Key Vault record, holding
 * its run lock), the product's other applications there, then the tenant's own record.
 */
export const OFFBOARD_STEPS = ['removeEnvironments', 'removeOtherApplications', 'removeTenantRecord'] as const;

export const TENANT_RUN_STEPS = { onboard: ONBOARD_STEPS, offboard: OFFBOARD_STEPS } as const satisfies Record<TenantRunKind, readonly string[]>;

/** Every step a run of each kind may publish, in order. */
export const RUN_STEPS = { setup: SCOPED_SETUP_STEPS, rotation: ROTATION_STEPS, drift: DRIFT_STEPS } as const satisfies Record<RunKind, readonly string[]>;
export type StepName = (typeof RUN_STEPS)[RunKind][number];

export const STEP_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'skipped', 'failed'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepState {
  /** One of the kind's `RUN_STEPS`; a string on the wire, since a reader may be older or newer than the run. */
  name: string;
  status: StepStatus;
  detail?: string;
}

/** Instructions for entering the credential on F&O's Email parameters form by hand. Never the secret itself. */
export interface ManualDeliveryInstructions {
  /** Deep link to the Email parameters form (Microsoft Graph settings tab). */
  emailParametersUrl: string;
  applicationId: string;
  keyVaultSecret: { vaultUrl: string; name: string; version: string };
  steps: string[];
}

export interface ConsentInstructions {
  consentUrl: string;
  steps: string[];
}

export interface MailboxScopeInstructions {
  appId: string;
  servicePrincipalId: string;
  steps: string[];
  /**
   * Exchange Online PowerShell, then Microsoft Graph PowerShell, to run as an administrator. Absent in
   * the run's custom status (it grows with the scope and the status is limited to 16 KB); the operations
   * API composes them from the run's input (`composeMailboxScopeInstructions` in exchange.ts).
   */
  commands?: string[];
}

/** External events a run may wait for. */
export const EXTERNAL_EVENTS = ['ConsentGranted', 'EmailParametersUpdated', 'MailboxScopeApplied'] as const;
export type ExternalEventName = (typeof EXTERNAL_EVENTS)[number];

/** What a run waits for, published so a person (or the dashboard) can act. */
export interface WaitingFor {
  event: ExternalEventName;
  /** ISO time when the wait times out. */
  until: string;
  instructions: ConsentInstructions | ManualDeliveryInstructions | MailboxScopeInstructions;
}

/** A run's custom status: its steps and, while it waits for a person, what for. */
export interface OperationStatus {
  steps: StepState[];
  waitingFor?: WaitingFor;
}

/** The run holding an environment (the state of its run lock). */
export interface RunHolder {
  instanceId: string;
  /** An environment run, or the removal of the environment's tenant. */
  kind: RunKind | 'offboard';
  /** ISO time the run took the environment. */
  since: string;
}

/** One claim of an environment: the run and when it claimed (a later execution of the same instance claims anew). */
export type RunClaimRef = Pick<RunHolder, 'instanceId' | 'since'>;

/**
 * What every run's input carries besides its own fields: the environment, and the claim the starter
 * found held by a run that is no longer active (a run someone terminated never releases it), which
 * the new run may replace — that very claim only, never a newer one.
 */
export interface RunStart {
  environmentId: string;
  staleHolders?: RunClaimRef[];
}

/** The output of a run that found another run of its environment active and did nothing. */
export interface SupersededRun {
  outcome: 'superseded';
  environmentId: string;
  /** The run that holds the environment. */
  activeRun: RunHolder;
}

/**
 * Durable Functions' runtime statuses (`OrchestrationRuntimeStatus` of the durable-functions library);
 * `toOperationView` assigns the library's enum to this union, so a status added there fails to compile.
 */
export const RUNTIME_STATUSES = ['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended'] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

/** A run in one of these still holds its environment. */
export const ACTIVE_RUNTIME_STATUSES = ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'] as const satisfies readonly RuntimeStatus[];

export function isActiveRuntimeStatus(status: string): boolean {
  return (ACTIVE_RUNTIME_STATUSES as readonly string[]).includes(status);
}

/** Body of `GET /api/operations/{instanceId}`, and each item of `GET /api/operations`. */
export interface OperationView {
  instanceId: string;
  /** The orchestration's name. */
  name: string;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  steps: StepState[];
  /** Only while the run is active. */
  waitingFor?: WaitingFor;
  /** Only when completed: the orchestration's output. */
  output?: unknown;
  /** Only when failed or terminated. */
  error?: string;
}

/** Body of `GET /api/operations`: newest first. */
export interface OperationList {
  operations: OperationView[];
}

/** Body of the 202 reply that starts a run. */
export interface RunStarted {
  instanceId: string;
  statusUrl: string;
}
