/**
 * Evidence in runs: reading what Entra's sign-in log and F&O show, the `proveFinOpsUses` step (wait until
 * Entra shows F&O signing in with the delivered credential, with F&O's own test send where the extension
 * offers one) and the revocation gate (the previous credential goes only once F&O has moved to the new
 * one). Deterministic: judgements are the pure functions of contracts/evidence.ts; time is the
 * orchestration's clock; waits are durable timers.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { SecretReference } from '../contracts/environment';
import {
  EVIDENCE_UNAVAILABLE_TEXT,
  judgeProof,
  judgeRevocation,
  nextEvidence,
  sameFindings,
  type EvidenceReading,
  type FinOpsCapabilities,
  type FinOpsEvidence,
  type Proof,
  type Revocation,
} from '../contracts/evidence';
import type { EvidencePolicy } from '../contracts/rotation';
import { callActivity, StepFailedError } from './activityCalls';
import type { Progress } from './progress';
import { sleepUntil } from './waits';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** The environment and credential whose use is looked for. */
export interface EvidenceTarget {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  appId: string;
  reference: SecretReference;
}

export interface EvidenceReads {
  provider: boolean;
  credential: boolean;
  health: boolean;
}

/** What to read of F&O itself, from what it offers. */
export function readsFor(capabilities: FinOpsCapabilities, health = false): EvidenceReads {
  return { provider: true, credential: capabilities.credentialEntity, health: health && capabilities.emailHealth };
}

/** One reading; a read that fails (throttled beyond its retries, an outage) is a reading that shows nothing. */
export function* readEvidence(context: OrchestrationContext, target: EvidenceTarget, since: string, read: EvidenceReads): Generator<Task, EvidenceReading, unknown> {
  const asOf = context.df.currentUtcDateTime.toISOString();
  try {
    return yield* callActivity(context, 'readFinOpsEvidence', {
      environmentId: target.environmentId,
      environmentUrl: target.environmentUrl,
      tenantId: target.tenantId,
      appId: target.appId,
      secretName: target.reference.secretName,
      keyId: target.reference.keyId,
      since,
      asOf,
      read,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { asOf, since, signIns: { access: 'failed', message }, finOps: { problems: [message] } };
  }
}

/** Keeps the evidence with the credential's Key Vault version (a failure to write it costs nothing but the record). */
export function* recordEvidence(context: OrchestrationContext, target: EvidenceTarget, evidence: FinOpsEvidence): Generator<Task, void, unknown> {
  try {
    yield* callActivity(context, 'recordFinOpsEvidence', { environmentId: target.environmentId, reference: target.reference, evidence });
  } catch {
    // The next reading writes it again; the run's outcome does not depend on the tag.
  }
}

export interface ProofInput {
  target: EvidenceTarget;
  /** ISO time from which sign-ins with the credential are F&O's (the product's own verification comes before). */
  since: string;
  capabilities: FinOpsCapabilities;
  policy: EvidencePolicy;
  reminderHours: number;
  /** F&O's own test send goes here (extension installed); absent: none. */
  testRecipient?: string;
  /** Evidence already kept for this credential. */
  previous?: FinOpsEvidence;
  dashboardUrl?: string;
  /** A reading that already settled it (a manual delivery the evidence confirmed). */
  settled?: { reading: EvidenceReading; proof: Proof };
}

export interface ProofOutcome {
  proven: boolean;
  evidence: FinOpsEvidence;
}

/**
 * The `proveFinOpsUses` step: until Entra shows F&O signing in with the credential after `since`, read
 * every `pollMinutes`, tell a person when it takes longer than `reminderHours`, and fail at
 * `timeoutHours` (a run that fails here leaves any previous credential in place). Without access to the
 * sign-in log it says so and lets the run go on as before: the environment stays unproven.
 */
export function* proveStep(context: OrchestrationContext, progress: Progress, input: ProofInput): Generator<Task, ProofOutcome, unknown> {
  const { target } = input;
  const keyId = target.reference.keyId;
  let testNote = '';
  if (!input.settled && input.capabilities.sendTestEmail && input.testRecipient) {
    progress.set('proveFinOpsUses', 'running', `F&O sends a test message to ${input.testRecipient}`);
    try {
      const sent = yield* callActivity(
        context,
        'sendFinOpsTestEmail',
        { environmentId: target.environmentId, environmentUrl: target.environmentUrl, tenantId: target.tenantId, recipient: input.testRecipient },
        'finOps',
      );
      testNote = `; F&O's own test send: ${sent.status}: ${sent.message}`;
    } catch (error) {
      testNote = `; F&O's own test send failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  } else {
    progress.set('proveFinOpsUses', 'running');
  }

  const start = context.df.currentUtcDateTime.getTime();
  const deadline = start + input.policy.timeoutHours * HOUR;
  let nextReminder = start + input.reminderHours * HOUR;
  let told = false;
  let settled = input.settled;
  for (;;) {
    const { reading, proof } = settled ?? (yield* judged(context, input));
    settled = undefined;
    if (proof.state === 'proven') {
      const evidence = nextEvidence(input.previous, reading, input.since);
      yield* recordEvidence(context, target, evidence);
      progress.set('proveFinOpsUses', 'succeeded', `${proof.detail}${testNote}`);
      return { proven: true, evidence };
    }
    if (proof.state === 'unprovable' && proof.problems.length === 0) {
      const fresh = nextEvidence(input.previous, reading, input.since);
      // Nothing new to keep (a repeated setup without access to the log): no write, the record as it was.
      const evidence = input.previous && sameFindings(input.previous, fresh) ? input.previous : fresh;
      if (evidence === fresh) yield* recordEvidence(context, target, evidence);
      progress.set(
        'proveFinOpsUses',
        'skipped',
        `sign-in evidence unavailable: ${EVIDENCE_UNAVAILABLE_TEXT[proof.reason]}; the environment stays unproven${testNote}`,
      );
      return { proven: false, evidence };
    }
    const problems = proof.problems.join('; ');
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) {
      yield* recordEvidence(context, target, nextEvidence(input.previous, reading, input.since));
      throw new StepFailedError('proveFinOpsUses', {
        kind: 'permanent',
        service: 'product',
        message: `F&O was not seen using credential ${keyId} of environment ${target.environmentId} within ${input.policy.timeoutHours} hours: ${problems}`,
        action: "Check that F&O's email batch runs and that the Email parameters hold the application id and secret; any previous credential stays valid.",
      });
    }
    progress.set('proveFinOpsUses', 'waiting', `waiting for F&O to sign in with credential ${keyId}: ${problems}${testNote}`);
    if (now >= nextReminder) {
      yield* callActivity(context, 'notify', {
        environmentId: target.environmentId,
        kind: told ? 'reminder' : 'action-needed',
        subject: `F&O ${target.environmentId} has not been seen using its new email credential`,
        lines: [
          `Entra shows no sign-in by F&O with credential ${keyId} since ${input.since}: ${problems}.`,
          "Check that F&O's email batch runs (System administration > Periodic tasks > Email processing > Batch) and that the Email parameters hold the application id shown below.",
          `Application ID: ${target.appId}`,
          `The run fails at ${new Date(deadline).toISOString()} if nothing changes.`,
          ...(input.dashboardUrl ? [`Dashboard: ${input.dashboardUrl}`] : []),
        ],
      });
      told = true;
      nextReminder += input.reminderHours * HOUR;
    }
    yield* sleepUntil(context, Math.min(deadline, now + input.policy.pollMinutes * MINUTE));
  }
}

function* judged(context: OrchestrationContext, input: ProofInput): Generator<Task, { reading: EvidenceReading; proof: Proof }, unknown> {
  const reading = yield* readEvidence(context, input.target, input.since, readsFor(input.capabilities));
  return { reading, proof: judgeProof(reading, { appId: input.target.appId, keyId: input.target.reference.keyId }) };
}

export interface RevocationGate {
  target: EvidenceTarget;
  /** ISO time F&O received the new credential. */
  deliveredAt: string;
  graceHours: number;
  revokeMaxHours: number;
  pollMinutes: number;
  /** The proof step could not read the sign-in log: the grace period alone decides, as before. */
  evidenceUnavailable: boolean;
}

/**
 * The `gracePeriod` step: waits until the previous credentials may go (see `judgeRevocation`). Returns
 * the decision: `revoke`, or `keep` when the maximum passed with F&O still on the old credential.
 */
export function* revocationGate(context: OrchestrationContext, progress: Progress, gate: RevocationGate): Generator<Task, Revocation, unknown> {
  const delivered = Date.parse(gate.deliveredAt);
  const graceEndsMs = delivered + gate.graceHours * HOUR;
  const maxEndsMs = Math.max(graceEndsMs, delivered + gate.revokeMaxHours * HOUR);
  progress.set('gracePeriod', 'waiting', `previous credential stays valid at least until ${new Date(graceEndsMs).toISOString()}`);
  yield* sleepUntil(context, graceEndsMs);
  if (gate.evidenceUnavailable) {
    const decision: Revocation = { decision: 'revoke', detail: 'grace period over; sign-in evidence unavailable' };
    progress.set('gracePeriod', 'succeeded', decision.detail);
    return decision;
  }
  for (;;) {
    const reading = yield* readEvidence(context, gate.target, gate.deliveredAt, { provider: false, credential: false, health: false });
    const nowMs = context.df.currentUtcDateTime.getTime();
    const decision = judgeRevocation(reading, { nowMs, graceEndsMs, maxEndsMs });
    if (decision.decision !== 'wait') {
      progress.set('gracePeriod', 'succeeded', decision.detail);
      return decision;
    }
    progress.set('gracePeriod', 'waiting', decision.detail);
    yield* sleepUntil(context, Math.min(maxEndsMs, nowMs + gate.pollMinutes * MINUTE));
  }
}
