/**
 * A run (operation) as the product publishes it and the HTTP API shows it: the kinds of run and their
 * instance ids, the steps of each kind and their statuses, what a run waits for, and the bodies of
 * `GET /api/operations`. No runtime imports, so the dashboard's browser script bundles these very
 * names instead of repeating them.
 */
import type { ManualDeliveryInstructions } from './activities';
import type { MailboxScopeInstructions } from './setup';

/**
 * The kinds of run and the prefix of their durable instance ids. The id is the prefix plus the
 * environment id, so concurrent triggers for one environment collapse into one run per kind.
 */
export const OPERATION_KINDS = { setup: 'setup-', rotation: 'rotate-' } as const;
export type OperationKind = keyof typeof OPERATION_KINDS;

export function instanceIdFor(kind: OperationKind, environmentId: string): string {
  return `${OPERATION_KINDS[kind]}${environmentId}`;
}

/** The kind and environment of a run the product started, or undefined for any other instance id. */
export function parseInstanceId(instanceId: string): { kind: OperationKind; environmentId: string } | undefined {
  for (const kind of Object.keys(OPERATION_KINDS) as OperationKind[]) {
    const prefix = OPERATION_KINDS[kind];
    if (instanceId.startsWith(prefix) && instanceId.length > prefix.length) return { kind, environmentId: instanceId.slice(prefix.length) };
  }
  return undefined;
}

export const SETUP_STEPS = [
  'registerApplication',
  'ensureServicePrincipal',
  'grantAdminConsent',
  'createClientSecret',
  'deliverToFinOps',
  'verifyCredential',
] as const;

/** With mailbox scoping, a last step applies the scope and proves it by sending with the new credential. */
export const SCOPED_SETUP_STEPS = [...SETUP_STEPS, 'restrictMailboxes'] as const;

export const ROTATION_STEPS = [
  'readEnvironment',
  'createClientSecret',
  'deliverToFinOps',
  'verifyCredential',
  'gracePeriod',
  'revokePreviousCredentials',
] as const;

/** Every step a run of each kind may publish. */
export const OPERATION_STEPS = { setup: SCOPED_SETUP_STEPS, rotation: ROTATION_STEPS } as const satisfies Record<OperationKind, readonly string[]>;
export type StepName = (typeof OPERATION_STEPS)[OperationKind][number];

export const STEP_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'skipped', 'failed'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepState {
  /** One of the kind's `OPERATION_STEPS`; a string on the wire, since a reader may be older or newer than the run. */
  name: string;
  status: StepStatus;
  detail?: string;
}

/** External events a run may wait for. */
export const EXTERNAL_EVENTS = ['ConsentGranted', 'EmailParametersUpdated', 'MailboxScopeApplied'] as const;
export type ExternalEventName = (typeof EXTERNAL_EVENTS)[number];

export interface ConsentInstructions {
  consentUrl: string;
  steps: string[];
}

/** What a run waits for, published so a person (or the dashboard) can act. */
export interface WaitingFor {
  event: string;
  /** ISO time when the wait times out. */
  until: string;
  instructions: ConsentInstructions | ManualDeliveryInstructions | MailboxScopeInstructions;
}

/** The custom status every run publishes. */
export interface OperationStatus {
  steps: StepState[];
  waitingFor?: WaitingFor;
}

/**
 * Durable Functions' runtime statuses (`OrchestrationRuntimeStatus` of the durable-functions library);
 * `toOperationView` assigns the library's enum to this union, so a status added there fails to compile.
 */
export const RUNTIME_STATUSES = ['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended'] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

/** A run in one of these still holds its environment: no other run for it may start. */
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

/** Body of the 202 reply that starts a run (setup or rotation). */
export interface RunStarted {
  instanceId: string;
  statusUrl: string;
}
