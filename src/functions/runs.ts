/**
 * The one path that starts a run of an environment, for every trigger and the command line: the run's
 * input built from the request and the settings, then "refuse if a run of this environment is active →
 * start → re-check" written once. The check gives a person the active run at once (409); the run's
 * own lock (src/orchestrators/runLock.ts) is what makes two runs that start at the same moment
 * impossible, and a run that loses that race ends at once without touching anything.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import * as df from 'durable-functions';
import type { AppConfig } from '../config';
import { adminConsentUrl } from '../contracts/cloud';
import { instanceIds, RUN_LOCK_ENTITY, tenantInstanceIds } from '../contracts/names';
import {
  isActiveRuntimeStatus,
  ORCHESTRATION_OF,
  TENANT_ORCHESTRATION_OF,
  type RunClaimRef,
  type RunHolder,
  type RunKind,
  type TenantRunKind,
} from '../contracts/operations';
import type { OnboardInput } from '../contracts/tenants';
import type { CredentialPolicy, DriftInput, RotationInput, RotationReason } from '../contracts/rotation';
import type { SetupInput, SetupRequest } from '../contracts/setup';

/** What a run starter needs of the durable task hub (the durable client in Azure, the driver in the command line). */
export interface RunHost {
  /** A run's status, or undefined for an instance the task hub does not know. */
  status(instanceId: string): Promise<RunStatus | undefined>;
  start(orchestration: string, instanceId: string, input: unknown): Promise<void>;
  /** The run holding the environment's lock, if any. */
  lockHolder(environmentId: string): Promise<RunHolder | undefined>;
}

export interface RunStatus {
  instanceId: string;
  name: string;
  runtimeStatus: string;
  createdTime: string;
}

export type StartOutcome = { started: true; instanceId: string } | { started: false; running: RunStatus };

/** The first run of the environment (of any kind) that is still active, if any. */
export async function activeRun(host: RunHost, environmentId: string): Promise<RunStatus | undefined> {
  const statuses = await Promise.all(instanceIds.all(environmentId).map(async (id) => host.status(id)));
  return statuses.find((s): s is RunStatus => s !== undefined && isActiveRuntimeStatus(s.runtimeStatus));
}

/**
 * Starts the run of `kind` for the environment unless a run of it (of any kind) is active. `input` is
 * the run's own input; the environment id and any stale lock holder are added here.
 */
export async function startEnvironmentRun<I extends { environmentId: string }>(host: RunHost, kind: RunKind, input: I): Promise<StartOutcome> {
  const environmentId = input.environmentId;
  const instanceId = instanceIds[kind](environmentId);
  const running = await activeRun(host, environmentId);
  if (running) return { started: false, running };
  // The lock is read after the runs: a holder is stale only if its run is not active now, after it was
  // read. A run that claimed since the check above is active, so it is refused, never replaced.
  const holder = await host.lockHolder(environmentId);
  const staleHolders: RunClaimRef[] = [];
  if (holder) {
    const status = await host.status(holder.instanceId);
    if (status && isActiveRuntimeStatus(status.runtimeStatus)) return { started: false, running: status };
    staleHolders.push({ instanceId: holder.instanceId, since: holder.since });
  }
  try {
    await host.start(ORCHESTRATION_OF[kind], instanceId, { ...input, staleHolders });
  } catch (error) {
    // Another trigger won the race between the check and the start.
    const winner = await activeRun(host, environmentId);
    if (winner) return { started: false, running: winner };
    throw error;
  }
  return { started: true, instanceId };
}

/** The first run of the tenant (onboarding or removal) that is still active, if any. */
export async function activeTenantRun(host: RunHost, tenantId: string): Promise<RunStatus | undefined> {
  const statuses = await Promise.all(tenantInstanceIds.all(tenantId).map(async (id) => host.status(id)));
  return statuses.find((s): s is RunStatus => s !== undefined && isActiveRuntimeStatus(s.runtimeStatus));
}

/** Starts the tenant run of `kind` unless a run of the tenant (of either kind) is active. */
export async function startTenantRun<I extends { tenantId: string }>(host: RunHost, kind: TenantRunKind, input: I): Promise<StartOutcome> {
  const instanceId = tenantInstanceIds[kind](input.tenantId);
  const running = await activeTenantRun(host, input.tenantId);
  if (running) return { started: false, running };
  try {
    await host.start(TENANT_ORCHESTRATION_OF[kind], instanceId, input);
  } catch (error) {
    const winner = await activeTenantRun(host, input.tenantId);
    if (winner) return { started: false, running: winner };
    throw error;
  }
  return { started: true, instanceId };
}

/**
 * Whether the environments may be taken out now: the first active run of any of them (then nothing may
 * start), else the claims on them that runs no longer active left behind (a removal may replace those).
 */
export async function environmentsIdle(host: RunHost, environmentIds: readonly string[]): Promise<{ busy: RunStatus } | { busy?: undefined; stale: Map<string, RunClaimRef[]> }> {
  const stale = new Map<string, RunClaimRef[]>();
  for (const environmentId of environmentIds) {
    const running = await activeRun(host, environmentId);
    if (running) return { busy: running };
    const holder = await host.lockHolder(environmentId);
    if (!holder) continue;
    const status = await host.status(holder.instanceId);
    if (status && isActiveRuntimeStatus(status.runtimeStatus)) return { busy: status };
    stale.set(environmentId, [{ instanceId: holder.instanceId, since: holder.since }]);
  }
  return { stale };
}

/** The durable client as a run host (HTTP, timer and Event Grid triggers). */
export function durableClientHost(client: DurableClient): RunHost {
  return {
    async status(instanceId) {
      try {
        const s: DurableOrchestrationStatus | undefined = await client.getStatus(instanceId, { showInput: false, showHistory: false });
        return s ? { instanceId: s.instanceId, name: s.name, runtimeStatus: s.runtimeStatus, createdTime: new Date(s.createdTime).toISOString() } : undefined;
      } catch (error) {
        // The client signals an unknown instance only through its message.
        if (error instanceof Error && /HTTP 404|No instance with ID/i.test(error.message)) return undefined;
        throw error;
      }
    },
    async start(orchestration, instanceId, input) {
      await client.startNew(orchestration, { instanceId, input });
    },
    async lockHolder(environmentId) {
      const lock = await client.readEntityState<{ holder: RunHolder | null }>(new df.EntityId(RUN_LOCK_ENTITY, environmentId));
      return lock.entityExists ? (lock.entityState?.holder ?? undefined) : undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Run inputs, from a request and the settings (orchestrations cannot read settings)

export function credentialPolicy(config: AppConfig): CredentialPolicy {
  return {
    secretLifetimeDays: config.secretLifetimeDays,
    delivery: config.deliveryStrategy,
    graceHours: config.rotation.graceHours,
    revokeMaxHours: config.rotation.revokeMaxHours,
    leadDays: config.rotation.leadDays,
    waits: { manualTimeoutHours: config.manualDelivery.timeoutHours, reminderHours: config.manualDelivery.reminderHours },
    evidence: { ...config.evidence },
    // F&O's own test send goes where alerts go: the people who want to know that mail leaves F&O.
    ...(config.alertRecipients[0] ? { finOpsTestRecipient: config.alertRecipients[0] } : {}),
    ...(config.dashboardUrl ? { dashboardUrl: config.dashboardUrl } : {}),
  };
}

export function buildRotationInput(environmentId: string, reason: RotationReason, config: AppConfig): RotationInput {
  return { environmentId, reason, ...credentialPolicy(config) };
}

export function buildDriftInput(environmentId: string, config: AppConfig): DriftInput {
  return { environmentId, consent: config.consentStrategy, ...credentialPolicy(config) };
}

/** A request the settings refuse (a field a person must change); the edge answers 400 naming the field. */
export class RunInputError extends Error {
  override name = 'RunInputError';
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** Where a setup's tenant stands, as the registry says (only asked for a tenant other than the home tenant). */
export interface SetupTenant {
  /** Partner mode: an onboarding recorded that the operator application holds every permission it requires there. */
  onboarded: boolean;
}

/**
 * The setup run's input. Test messages go out only as the configured `SENDER_MAILBOX`: a request may name
 * it (for clarity) but never another mailbox, which an application holding tenant-wide `Mail.Send` could
 * otherwise send as. A tenant other than the home tenant is accepted only in partner mode, once onboarded.
 */
export function buildSetupInput(environmentId: string, environmentUrl: string, request: SetupRequest, config: AppConfig, tenant: SetupTenant = { onboarded: false }): SetupInput {
  if (request.tenantId !== undefined && request.tenantId !== config.tenantId) {
    // A managed identity gets tokens only in its home tenant: a setup elsewhere would register nothing
    // there and fail later.
    if (!config.operatorClientId) {
      throw new RunInputError(
        'tenantId',
        `tenantId ${request.tenantId} is not the tenant this function app works in (${config.tenantId}): its identity gets tokens only there. Omit tenantId, or set up the environment from a deployment in that tenant.`,
      );
    }
    // Partner mode: the operator application acts there only once the tenant's administrator consented.
    if (!tenant.onboarded) {
      throw new RunInputError(
        'tenantId',
        `tenantId ${request.tenantId} has not been onboarded: no administrator of that tenant has consented to the partner operator application yet. Onboard it first (POST /api/tenants/${request.tenantId}/onboard), then run setup again.`,
      );
    }
  }
  if (request.senderMailbox !== undefined && request.senderMailbox.toLowerCase() !== config.senderMailbox?.toLowerCase()) {
    throw new RunInputError(
      'senderMailbox',
      `senderMailbox must be the configured SENDER_MAILBOX${config.senderMailbox ? ` (${config.senderMailbox})` : ', which is not set'}: test messages are sent only from it.`,
    );
  }
  const input: SetupInput = {
    environmentId,
    environmentUrl,
    tenantId: request.tenantId ?? config.tenantId,
    appDisplayName: request.appDisplayName ?? config.appDisplayNameTemplate.replace('{environmentId}', environmentId),
    secretLifetimeDays: request.secretLifetimeDays ?? config.secretLifetimeDays,
    consent: request.consent ?? config.consentStrategy,
    delivery: request.delivery ?? config.deliveryStrategy,
    waits: {
      consentTimeoutHours: config.consent.timeoutHours,
      consentPollMinutes: config.consent.pollMinutes,
      manualTimeoutHours: config.manualDelivery.timeoutHours,
      reminderHours: config.manualDelivery.reminderHours,
    },
    evidence: { ...config.evidence },
    minRemainingDays: config.rotation.leadDays,
  };
  // The product's own test message goes out as SENDER_MAILBOX, a mailbox of the home tenant: an app of a
  // customer tenant cannot send as it, so there F&O's own test send (below) is the only one.
  if (config.senderMailbox !== undefined && input.tenantId === config.tenantId) input.senderMailbox = config.senderMailbox;
  if (request.testRecipient !== undefined) input.testRecipient = request.testRecipient;
  const finOpsTestRecipient = request.testRecipient ?? config.alertRecipients[0];
  if (finOpsTestRecipient !== undefined) input.finOpsTestRecipient = finOpsTestRecipient;
  if (config.dashboardUrl) input.dashboardUrl = config.dashboardUrl;
  if (request.mailboxScope) {
    const target = request.mailboxScope.groupOrMailboxes;
    input.mailboxScope = {
      ...(typeof target === 'string' ? { group: target.toLowerCase() } : { mailboxes: target.map((m) => m.toLowerCase()) }),
      ...(request.mailboxScope.outOfScopeTestMailbox ? { outOfScopeTestMailbox: request.mailboxScope.outOfScopeTestMailbox.toLowerCase() } : {}),
    };
  }
  return input;
}

/**
 * The operator application's tenant-specific admin-consent URL, on the cloud's authority; after consenting
 * the administrator lands on the dashboard when its URL is configured (the template registers it as the
 * operator's redirect URI).
 */
export function operatorConsentUrl(config: AppConfig, tenantId: string): string | undefined {
  if (!config.operatorClientId) return undefined;
  return adminConsentUrl({
    authorityHost: config.authorityHost,
    graphBaseUrl: config.graphBaseUrl,
    tenantId,
    appId: config.operatorClientId,
    ...(config.dashboardUrl ? { redirectUri: config.dashboardUrl } : {}),
  });
}

/** The onboarding run's input (partner mode only: the caller checks `operatorClientId`). */
export function buildOnboardInput(tenantId: string, config: AppConfig): OnboardInput {
  const operatorAppId = config.operatorClientId;
  const consentUrl = operatorConsentUrl(config, tenantId);
  if (!operatorAppId || !consentUrl) throw new RunInputError('tenantId', 'Partner mode is off (OPERATOR_CLIENT_ID is not set): there is nothing to onboard a tenant to.');
  return {
    tenantId,
    operatorAppId,
    consentUrl,
    waits: { consentTimeoutHours: config.consent.timeoutHours, consentPollMinutes: config.consent.pollMinutes, reminderHours: config.manualDelivery.reminderHours },
    ...(config.dashboardUrl ? { dashboardUrl: config.dashboardUrl } : {}),
  };
}
