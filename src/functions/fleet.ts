/**
 * Keeping the fleet alive, shared by the timer, Event Grid and HTTP triggers: starting a rotation for
 * an environment (one run per environment: a second trigger finds the first and does nothing), the
 * sweep that finds credentials due for rotation from Key Vault properties alone, and the drift check.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import type { ProductServices } from '../composition';
import type { AppConfig } from '../config';
import { now as clockNow } from '../clock';
import type { EnvironmentRecord } from '../contracts/environment';
import { instanceIds } from '../contracts/environment';
import { toEnvironmentRecord } from '../contracts/registry';
import type { RotationInput, RotationReason } from '../contracts/rotation';
import { ROTATION_ORCHESTRATION } from '../orchestrators/rotateCredential';
import { activeInstance } from './instances';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function buildRotationInput(environmentId: string, reason: RotationReason, config: AppConfig): RotationInput {
  return {
    environmentId,
    reason,
    secretLifetimeDays: config.secretLifetimeDays,
    delivery: config.deliveryStrategy,
    graceHours: config.rotation.graceHours,
    leadDays: config.rotation.leadDays,
    waits: { manualTimeoutHours: config.manualDelivery.timeoutHours, reminderHours: config.manualDelivery.reminderHours },
    ...(config.dashboardUrl ? { dashboardUrl: config.dashboardUrl } : {}),
  };
}

export type StartOutcome = { started: true; instanceId: string } | { started: false; running: DurableOrchestrationStatus };

/** Starts `rotateCredential` for an environment unless a setup or rotation of it is already active. */
export async function startRotation(client: DurableClient, environmentId: string, reason: RotationReason, config: AppConfig): Promise<StartOutcome> {
  const instanceId = instanceIds.rotation(environmentId);
  const related = [instanceId, instanceIds.setup(environmentId)];
  const running = await activeInstance(client, related);
  if (running) return { started: false, running };
  try {
    await client.startNew(ROTATION_ORCHESTRATION, { instanceId, input: buildRotationInput(environmentId, reason, config) });
  } catch (error) {
    // Another trigger won the race between the check and the start.
    const winner = await activeInstance(client, related);
    if (winner) return { started: false, running: winner };
    throw error;
  }
  return { started: true, instanceId };
}

/** Due: expiring within the lead time, expired, or stored but never delivered (a failed rotation). */
export function isDue(record: EnvironmentRecord): boolean {
  return record.status === 'expiring' || record.status === 'expired' || record.status === 'pending-delivery';
}

export interface SweepResult {
  environments: number;
  due: number;
  started: string[];
  alreadyRunning: string[];
}

/**
 * The rotation sweep: pages through the product's Key Vault secrets (properties only) and starts a
 * rotation for each due environment, a bounded number at a time. With nothing due it makes exactly one
 * Key Vault call per page and nothing else.
 */
export async function sweepFleet(services: ProductServices, client: DurableClient, log: Logger): Promise<SweepResult> {
  const { vault, config } = services;
  const now = clockNow();
  const result: SweepResult = { environments: 0, due: 0, started: [], alreadyRunning: [] };
  const due: string[] = [];
  for await (const page of vault.listManagedSecrets()) {
    for (const entry of page) {
      const record = toEnvironmentRecord(entry, now, config.rotation.leadDays);
      if (!record) continue;
      result.environments += 1;
      if (isDue(record)) due.push(record.environmentId);
    }
  }
  result.due = due.length;
  await forEachLimited(due, config.rotation.concurrency, async (environmentId) => {
    const outcome = await startRotation(client, environmentId, 'sweep', config);
    if (outcome.started) result.started.push(environmentId);
    else result.alreadyRunning.push(environmentId);
  });
  log.info(
    `rotation sweep: ${result.environments} environment(s), ${result.due} due, ${result.started.length} rotation(s) started, ${result.alreadyRunning.length} already running`,
  );
  return result;
}

export interface DriftFinding {
  environmentId: string;
  credentialMissing: boolean;
  removedOrphans: string[];
  consentRevoked: boolean;
  action: string;
}

/**
 * The drift check: per environment, a credential deleted behind the product's back (rotate now),
 * orphaned product credentials (removed after the grace period), revoked consent (re-granted with the
 * `grant` strategy, reported otherwise). Every finding is an alert.
 */
export async function checkFleetDrift(services: ProductServices, client: DurableClient, log: Logger): Promise<DriftFinding[]> {
  const { vault, config, activities } = services;
  const asOf = new Date(clockNow()).toISOString();
  const records: EnvironmentRecord[] = [];
  for await (const page of vault.listManagedSecrets()) {
    for (const entry of page) {
      const record = toEnvironmentRecord(entry, Date.parse(asOf), config.rotation.leadDays);
      if (record && record.status !== 'disabled') records.push(record);
    }
  }
  const findings: DriftFinding[] = [];
  await forEachLimited(records, config.rotation.concurrency, async (record) => {
    // A setup or rotation in progress changes exactly what the check compares: look again next time.
    if (await activeInstance(client, [instanceIds.rotation(record.environmentId), instanceIds.setup(record.environmentId)])) return;
    const inspected = await activities.inspectEnvironment(
      {
        environmentId: record.environmentId,
        tenantId: record.tenantId,
        appId: record.appId,
        appObjectId: record.appObjectId,
        secretName: record.credential.secretName,
        keyId: record.credential.keyId,
        asOf,
        graceHours: config.rotation.graceHours,
      },
      log,
    );
    // A mailbox-scoped app has no tenant-wide Mail.Send by design; only User.Read is expected in Entra.
    const scoped = record.mailboxScope !== undefined;
    const consentRevoked = scoped ? !inspected.consent.userReadGranted : !inspected.consent.granted;
    if (!inspected.credentialMissing && inspected.removedOrphans.length === 0 && !consentRevoked) return;
    const actions: string[] = [];
    if (inspected.credentialMissing) {
      const outcome = await startRotation(client, record.environmentId, 'drift', config);
      actions.push(outcome.started ? 'rotation started' : 'a run is already active');
    }
    if (inspected.removedOrphans.length > 0) actions.push(`removed orphaned credential(s) ${inspected.removedOrphans.join(', ')}`);
    if (consentRevoked) {
      if (config.consentStrategy === 'grant') {
        try {
          const sp = await services.activities.ensureServicePrincipal({ environmentId: record.environmentId, tenantId: record.tenantId, appId: record.appId }, log);
          await services.activities.grantAdminConsent(
            { environmentId: record.environmentId, tenantId: record.tenantId, appId: record.appId, servicePrincipalId: sp.servicePrincipalId, strategy: 'grant', mailSend: !scoped },
            log,
          );
          actions.push('admin consent granted again');
        } catch (error) {
          // A repair that fails is exactly when a person must act: report it in the alert rather than lose the finding.
          actions.push(`granting admin consent again failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      } else {
        actions.push('admin consent must be granted again by an administrator');
      }
    }
    const finding: DriftFinding = {
      environmentId: record.environmentId,
      credentialMissing: inspected.credentialMissing,
      removedOrphans: inspected.removedOrphans,
      consentRevoked,
      action: actions.join('; '),
    };
    findings.push(finding);
    const what = [
      inspected.credentialMissing ? `credential ${record.credential.keyId} was deleted in Entra` : '',
      inspected.removedOrphans.length > 0 ? `${inspected.removedOrphans.length} orphaned credential(s)` : '',
      consentRevoked ? 'admin consent was revoked' : '',
    ].filter((x) => x !== '');
    await activities.notify(
      {
        environmentId: record.environmentId,
        kind: 'alert',
        subject: `Drift found on the F&O email setup of ${record.environmentId}`,
        lines: [`Found: ${what.join('; ')}.`, `Done: ${finding.action}.`],
      },
      log,
    );
  });
  log.info(`drift check: ${records.length} environment(s), ${findings.length} with drift`);
  return findings;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        errors.push(error);
      }
    }
  });
  await Promise.all(runners);
  if (errors.length > 0) throw errors[0];
}
