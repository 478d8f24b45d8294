/**
 * Orchestration `checkDrift`: the daily check of one environment against what people (or database
 * refreshes) changed behind the product's back, and its repair, as one run with its own steps:
 * inspect; remove orphaned product credentials; grant revoked admin consent again (consent strategy
 * `grant`; with `request` the consent URL goes into the alert); one alert naming everything found and
 * done, raised before any long repair because F&O may not be sending; then replace a recorded
 * credential someone deleted in Entra, or one due for rotation (a failure there raises an alert). It holds the environment's run
 * lock like setup and rotation, so a repair never races them.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { DRIFT_STEPS, REPLACEMENT_STEPS, type SupersededRun } from '../contracts/operations';
import type { DriftInput, DriftReport } from '../contracts/rotation';
import { judgeFinOpsDrift, nextEvidence, type FinOpsCapabilities } from '../contracts/evidence';
import { callActivity } from './activityCalls';
import { applicationProblem } from './application';
import { deliverAndProve, describeFinOps, resolveStrategy } from './delivery';
import { readEvidence, recordEvidence } from './evidence';
import { Progress } from './progress';
import { replaceCredential, withCredential } from './replaceCredential';
import { exclusiveRun } from './runLock';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The oldest sign-ins read: seven days is what a tenant without P1/P2 keeps (Entra's data retention). */
const SIGN_IN_WINDOW_MAX_MS = 7 * DAY;
/** The product verifies a new credential within minutes of storing it (propagation retries last about two). */
const VERIFICATION_WINDOW_MS = HOUR;

export function* checkDrift(context: OrchestrationContext): Generator<Task, DriftReport | SupersededRun, unknown> {
  const input = context.df.getInput<DriftInput>();
  const progress = new Progress(context, DRIFT_STEPS);
  return yield* exclusiveRun(context, input, 'drift', () => check(context, input, progress), (holder) =>
    progress.skipAll(`another run of this environment is active: ${holder.instanceId}`),
  );
}

function* check(context: OrchestrationContext, input: DriftInput, progress: Progress): Generator<Task, DriftReport, unknown> {
  const environmentId = input.environmentId;
  const asOf = context.df.currentUtcDateTime.toISOString();
  const found: string[] = [];
  const done: string[] = [];
  const skipRest = (detail: string): void => {
    for (const step of DRIFT_STEPS) if (progress.statusOf(step) === 'pending') progress.set(step, 'skipped', detail);
  };

  try {
    progress.set('readEnvironment', 'running');
    const read = yield* callActivity(context, 'readEnvironment', { environmentId, asOf, leadDays: input.leadDays });
    if (!read.found || read.record.status === 'disabled') {
      progress.set('readEnvironment', 'succeeded', read.found ? 'the current version is disabled' : 'not registered');
      skipRest('nothing to check');
      return { environmentId, found, done };
    }
    let env = read.record;
    const problem = applicationProblem(env, read.application);
    if (problem) {
      // Nothing is repaired on an app that is gone or not the product's: a person must look.
      found.push(problem.message);
      progress.set('readEnvironment', 'failed', problem.message);
      skipRest('the registry names no app registration of the product');
      yield* callActivity(context, 'notify', {
        environmentId,
        kind: 'alert',
        subject: `Drift found on the F&O email setup of ${environmentId}`,
        lines: [`Found: ${problem.message}.`, 'Done: nothing.', problem.action],
      });
      return { environmentId, found, done };
    }
    if (read.application.state === 'own' && read.application.otherOwners.length > 0) {
      found.push(`the app registration has owners besides the product's identity (${read.application.otherOwners.join(', ')}), who can add credentials to it`);
    }
    progress.set('readEnvironment', 'succeeded', `credential ${env.credential.keyId}, ${env.status}`);

    progress.set('inspectEnvironment', 'running');
    const inspected = yield* callActivity(context, 'inspectEnvironment', {
      environmentId,
      tenantId: env.tenantId,
      appId: env.appId,
      appObjectId: env.appObjectId,
      secretName: env.credential.secretName,
      keyId: env.credential.keyId,
      asOf,
      graceHours: input.graceHours,
    });
    // A mailbox-scoped app has no tenant-wide Mail.Send by design; only User.Read is expected in Entra.
    const consentRevoked = env.mailboxScope !== undefined ? !inspected.consent.userReadGranted : !inspected.consent.granted;
    if (inspected.credentialMissing) found.push(`credential ${env.credential.keyId} was deleted in Entra`);
    if (inspected.orphans.length > 0) found.push(`${inspected.orphans.length} orphaned credential(s) ${inspected.orphans.join(', ')}`);
    if (consentRevoked) found.push('admin consent was revoked');
    progress.set('inspectEnvironment', 'succeeded', found.length > 0 ? found.join('; ') : 'no drift');

    // F&O's side: what Entra's sign-in log and F&O itself show since the last check.
    progress.set('inspectFinOps', 'running');
    const target = { environmentId, environmentUrl: env.environmentUrl, tenantId: env.tenantId, appId: env.appId, reference: env.credential };
    const nowMs = context.df.currentUtcDateTime.getTime();
    const lastChecked = env.finops?.checkedAt ? Date.parse(env.finops.checkedAt) : nowMs - DAY;
    const windowStart = Math.max(nowMs - SIGN_IN_WINDOW_MAX_MS, Math.min(lastChecked, nowMs - input.evidence.silenceHours * HOUR, nowMs - DAY));
    const reading = yield* readEvidence(context, target, new Date(windowStart).toISOString(), { provider: true, credential: true, health: true });
    const finOpsDrift = judgeFinOpsDrift(reading, {
      appId: env.appId,
      keyId: env.credential.keyId,
      ...(env.finops?.checkedAt ? { lastCheckedAt: env.finops.checkedAt } : {}),
      ...(env.finops?.lastSignInAt ? { lastSignInAt: env.finops.lastSignInAt } : {}),
      silenceHours: env.status === 'pending-delivery' ? 0 : input.evidence.silenceHours,
      ...(env.finops?.since ? { deliveredSinceMs: Date.parse(env.finops.since) } : {}),
    });
    // A success counts as F&O's only after the credential's delivery; when the evidence never said when
    // that was, after the product's own verification, which follows the version's storing within minutes.
    const proofSince = env.finops?.since ?? (read.storedAt ? new Date(Date.parse(read.storedAt) + VERIFICATION_WINDOW_MS).toISOString() : undefined);
    const evidence = nextEvidence(env.finops, reading, proofSince);
    yield* recordEvidence(context, target, evidence);
    env = { ...env, finops: evidence, ...(env.status === 'unproven' && evidence.provenAt ? { status: 'active' as const } : {}) };
    for (const finding of finOpsDrift.findings) found.push(`F&O: ${finding}`);
    const unread = reading.signIns.access === 'unavailable' ? `sign-in evidence unavailable (${reading.signIns.reason})` : reading.signIns.access === 'failed' ? 'the sign-in log could not be read' : undefined;
    progress.set(
      'inspectFinOps',
      'succeeded',
      [finOpsDrift.findings.length > 0 ? finOpsDrift.findings.join('; ') : 'F&O uses its credential as recorded', ...(unread ? [unread] : []), ...reading.finOps.problems].join('; '),
    );

    if (inspected.orphans.length > 0) {
      progress.set('removeOrphans', 'running');
      const removed = yield* callActivity(context, 'removeOrphanedCredentials', {
        environmentId,
        tenantId: env.tenantId,
        appObjectId: env.appObjectId,
        secretName: env.credential.secretName,
        keyIds: inspected.orphans,
        asOf,
        graceHours: input.graceHours,
      });
      const text = `removed orphaned credential(s) ${removed.removedKeyIds.join(', ') || 'none (already gone)'}`;
      done.push(text);
      progress.set('removeOrphans', 'succeeded', text);
    } else {
      progress.set('removeOrphans', 'skipped', 'no orphaned credentials');
    }

    if (consentRevoked) {
      progress.set('grantAdminConsent', 'running');
      try {
        const sp =
          inspected.servicePrincipalId ??
          (yield* callActivity(context, 'ensureServicePrincipal', { environmentId, tenantId: env.tenantId, appId: env.appId }, 'replication')).servicePrincipalId;
        const consent = yield* callActivity(
          context,
          'grantAdminConsent',
          { environmentId, tenantId: env.tenantId, appId: env.appId, servicePrincipalId: sp, strategy: input.consent, mailSend: env.mailboxScope === undefined },
          'replication',
        );
        const text = consent.status === 'granted' ? 'admin consent granted again' : `admin consent must be granted again by an administrator: ${consent.consentUrl}`;
        done.push(text);
        progress.set('grantAdminConsent', consent.status === 'granted' ? 'succeeded' : 'skipped', text);
      } catch (error) {
        // A repair that fails is exactly when a person must act: the alert carries it, and the other repairs go on.
        const text = `granting admin consent again failed: ${error instanceof Error ? error.message : String(error)}`;
        done.push(text);
        progress.set('grantAdminConsent', 'failed', text);
      }
    } else {
      progress.set('grantAdminConsent', 'skipped', 'consent in place');
    }

    // A deleted credential is replaced now; so is one due for rotation (this run may have taken the
    // environment just as the sweep's rotation tried to, and the credential must not wait a day).
    const due = env.status === 'expiring' || env.status === 'expired' || env.status === 'pending-delivery';
    const replace = inspected.credentialMissing || due;
    // F&O lost or never used its credential (a database copy, a reset provider, a wrong value entered):
    // give it this environment's own current credential again, through OData where possible.
    const redeliver = !replace && finOpsDrift.redeliver;
    let capabilities: FinOpsCapabilities | undefined;
    let manualLines: string[] = [];
    if (inspected.credentialMissing) done.push(`replacing the credential now (run ${context.df.instanceId})`);
    if (redeliver) {
      capabilities = yield* describeFinOps(context, env);
      const resolved = resolveStrategy(input.delivery, capabilities);
      if (resolved.strategy === 'odata') done.push(`re-delivering credential ${env.credential.keyId} to F&O now (${resolved.why}, run ${context.df.instanceId})`);
      else {
        const prepared = yield* callActivity(context, 'deliverToFinOps', {
          environmentId,
          environmentUrl: env.environmentUrl,
          tenantId: env.tenantId,
          appId: env.appId,
          reference: env.credential,
          strategy: 'manual',
        });
        if (prepared.strategy === 'manual') manualLines = ['An administrator must enter the credential again:', ...prepared.instructions.steps];
        done.push(`nothing: F&O must be given its credential again by hand (${resolved.why})`);
        capabilities = undefined;
      }
    }
    if (found.length > 0) {
      progress.set('alert', 'running');
      yield* callActivity(context, 'notify', {
        environmentId,
        kind: 'alert',
        subject: `Drift found on the F&O email setup of ${environmentId}`,
        lines: [`Found: ${found.join('; ')}.`, `Done: ${done.join('; ') || 'nothing'}.`, ...manualLines],
      });
      progress.set('alert', 'succeeded', 'alert raised');
    } else {
      progress.set('alert', 'skipped', 'no drift');
    }

    if (replace) {
      const replaced = yield* replaceCredential(context, progress, env, input);
      env = withCredential(env, replaced);
      done.push(`credential replaced by ${replaced.reference.keyId}`);
    } else if (redeliver && capabilities) {
      for (const step of ['createClientSecret', 'verifyCredential'] as const) progress.set(step, 'skipped', 'the current credential is re-delivered');
      const outcome = yield* deliverAndProve(context, progress, {
        environmentId,
        environmentUrl: env.environmentUrl,
        tenantId: env.tenantId,
        appId: env.appId,
        reference: env.credential,
        strategy: 'odata',
        waits: input.waits,
        evidence: input.evidence,
        alreadyDelivered: true,
        force: true,
        previous: evidence,
        ...(input.finOpsTestRecipient ? { testRecipient: input.finOpsTestRecipient } : {}),
        ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
      });
      env = { ...env, finops: outcome.evidence, status: outcome.proven ? 'active' : 'unproven' };
      done.push(outcome.proven ? `credential ${env.credential.keyId} re-delivered; F&O signs in with it again` : `credential ${env.credential.keyId} re-delivered`);
      for (const step of ['gracePeriod', 'revokePreviousCredentials'] as const) progress.set(step, 'skipped', 'no credential was replaced');
    } else {
      const why = redeliver ? 'F&O must be given its credential by hand (see the alert)' : 'the recorded credential exists and is not due for rotation';
      for (const step of REPLACEMENT_STEPS) progress.set(step, 'skipped', why);
    }
    return { environmentId, found, done, record: env };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.failCurrent(message);
    try {
      yield* callActivity(context, 'notify', {
        environmentId,
        kind: 'alert',
        ...(found.length > 0
          ? {
              subject: `Drift found on the F&O email setup of ${environmentId}`,
              lines: [`Found: ${found.join('; ')}.`, `Repairing it failed: ${message}`, 'A person must act; the next drift check looks again.'],
            }
          : {
              subject: `Rotating the F&O email credential of ${environmentId} failed`,
              lines: [message, 'F&O keeps using the previous credential; the next sweep tries again.'],
            }),
      });
    } catch {
      // The alert log line was written before its mail failed; the run's own failure matters more.
    }
    throw error;
  }
}
