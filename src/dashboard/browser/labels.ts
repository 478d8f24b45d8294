/**
 * The words the page puts on the contracts' names: step names, run kinds, environment statuses and
 * the events a person can send. Keyed by the contracts' own types, so a step, kind or status added
 * there does not compile here until it has a label.
 */
import type { EnvironmentStatus } from '../../contracts/environment';
import { EXTERNAL_EVENTS, type ExternalEventName, type RunKind, type StepName, type TENANT_RUN_STEPS, type TenantRunKind } from '../../contracts/operations';
import type { Tone } from './view';

export const STEP_LABELS: Readonly<Record<StepName, string>> = {
  registerApplication: 'Register app',
  ensureServicePrincipal: 'Service principal',
  grantAdminConsent: 'Admin consent',
  createClientSecret: 'Secret to Key Vault',
  deliverToFinOps: 'Deliver to F&O',
  proveFinOpsUses: 'F&O uses it',
  inspectFinOps: 'Inspect F&O',
  verifyCredential: 'Verify credential',
  restrictMailboxes: 'Restrict mailboxes',
  readEnvironment: 'Read environment',
  inspectEnvironment: 'Inspect',
  removeOrphans: 'Remove orphans',
  alert: 'Alert',
  gracePeriod: 'Grace period',
  revokePreviousCredentials: 'Revoke previous',
};

/** Steps of a customer tenant's runs (partner mode). */
export const TENANT_STEP_LABELS: Readonly<Record<(typeof TENANT_RUN_STEPS)[TenantRunKind][number], string>> = {
  readOperator: 'Read operator',
  adminConsent: 'Tenant consent',
  recordTenant: 'Record tenant',
  removeEnvironments: 'Remove environments',
  removeOtherApplications: 'Remove other apps',
  removeTenantRecord: 'Remove tenant record',
};

/** The label of a step; a name this page does not know (a newer app) is shown as it is. */
export function stepLabel(name: string): string {
  if (Object.hasOwn(STEP_LABELS, name)) return STEP_LABELS[name as StepName];
  if (Object.hasOwn(TENANT_STEP_LABELS, name)) return TENANT_STEP_LABELS[name as keyof typeof TENANT_STEP_LABELS];
  return name;
}

export const KIND_LABELS: Readonly<Record<RunKind, string>> = {
  setup: 'Setup',
  rotation: 'Rotation',
  drift: 'Drift check',
};

export const TENANT_KIND_LABELS: Readonly<Record<TenantRunKind, string>> = {
  onboard: 'Tenant onboarding',
  offboard: 'Tenant removal',
};

export const ENVIRONMENT_STATUS_LABELS: Readonly<Record<EnvironmentStatus, { text: string; tone: Tone }>> = {
  active: { text: 'active', tone: 'ok' },
  unproven: { text: 'unproven: F&O not yet seen using it', tone: 'warn' },
  'pending-delivery': { text: 'not delivered to F&O', tone: 'warn' },
  expiring: { text: 'expiring', tone: 'warn' },
  expired: { text: 'expired', tone: 'bad' },
  disabled: { text: 'disabled', tone: 'idle' },
};

/** Events a person answers from the page; a wait for another event shows its instructions only. */
export const EVENT_BUTTONS: Readonly<Partial<Record<ExternalEventName, string>>> = {
  ConsentGranted: 'I granted consent: send ConsentGranted',
  EmailParametersUpdated: 'I entered the email parameters: send EmailParametersUpdated',
};

export function isExternalEvent(name: string): name is ExternalEventName {
  return (EXTERNAL_EVENTS as readonly string[]).includes(name);
}
