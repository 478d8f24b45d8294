/**
 * What every run of the product shares: the orchestration names (public: run status shows them),
 * the strategies a run is started with, its steps as published in custom status, and what a run that
 * waits for a person publishes. Kept apart from the per-operation modules so none of them imports
 * another.
 */

/** Orchestration names: public contracts, shown as `name` in `GET /api/operations`. */
export const SETUP_ORCHESTRATION = 'setupEnvironment';
export const ROTATION_ORCHESTRATION = 'rotateCredential';
export const DRIFT_ORCHESTRATION = 'checkDrift';

/** The kinds of run the product starts for one environment; at most one of them is active at a time. */
export type RunKind = 'setup' | 'rotation' | 'drift';

export const ORCHESTRATION_OF: Readonly<Record<RunKind, string>> = {
  setup: SETUP_ORCHESTRATION,
  rotation: ROTATION_ORCHESTRATION,
  drift: DRIFT_ORCHESTRATION,
};

export type ConsentStrategy = 'grant' | 'request';
export type DeliveryStrategy = 'odata' | 'manual';

export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'skipped' | 'failed';

export const STEP_STATUSES: readonly StepStatus[] = ['pending', 'running', 'waiting', 'succeeded', 'skipped', 'failed'];

export interface StepState {
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
  /** Exchange Online PowerShell, then Microsoft Graph PowerShell, to run as an administrator. */
  commands: string[];
  steps: string[];
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
  kind: RunKind;
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
