/**
 * Delivery and proof, shared by setup, rotation and a drift repair: the `deliverToFinOps` step (the
 * strategy resolved from F&O's metadata when it is `auto`; `odata` writes the credential; `manual` waits
 * for a person, and believes the evidence rather than the announcement), then `proveFinOpsUses`: Entra
 * shows F&O signing in with the credential.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { SecretReference } from '../contracts/environment';
import { judgeProof, type FinOpsCapabilities, type FinOpsEvidence, type EvidenceReading, type Proof } from '../contracts/evidence';
import type { DeliveryStrategy } from '../contracts/operations';
import type { EvidencePolicy } from '../contracts/rotation';
import { callActivity } from './activityCalls';
import { proveStep, readEvidence, readsFor, type EvidenceTarget } from './evidence';
import type { Progress } from './progress';
import { waitForPerson } from './waits';

export interface DeliveryInput {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  appId: string;
  reference: SecretReference;
  strategy: DeliveryStrategy;
  waits: { manualTimeoutHours: number; reminderHours: number };
  evidence: EvidencePolicy;
  /** The Key Vault version is tagged as delivered: F&O already received it. */
  alreadyDelivered: boolean;
  /** Deliver even so (a repair: F&O lost the credential, e.g. to a database copy). */
  force?: boolean;
  /** Evidence already kept for this credential. */
  previous?: FinOpsEvidence;
  /** Where F&O's own test send goes (extension installed). */
  testRecipient?: string;
  dashboardUrl?: string;
}

export interface DeliveryOutcome {
  /** The strategy used (or that would have been): `auto` resolved. */
  strategy: 'odata' | 'manual';
  /** Whether this run handed the credential to F&O (false: F&O already held it). */
  delivered: boolean;
  /** ISO time from which sign-ins with the credential are F&O's use of it. */
  since: string;
  proven: boolean;
  /** No access to the sign-in log: the run went on as it always did. */
  evidenceUnavailable: boolean;
  evidence: FinOpsEvidence;
}

/** What the environment's F&O offers, read once per run; an F&O that cannot be read offers nothing. */
export function* describeFinOps(
  context: OrchestrationContext,
  environment: { environmentId: string; environmentUrl: string; tenantId: string },
): Generator<Task, FinOpsCapabilities, unknown> {
  const { environmentId, environmentUrl, tenantId } = environment;
  try {
    return yield* callActivity(context, 'describeFinOps', { environmentId, environmentUrl, tenantId }, 'finOps');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { reachable: false, credentialEntity: false, sendTestEmail: false, emailHealth: false, reason };
  }
}

/** `auto` → `odata` where the extension's credential entity is there, else `manual`; and why, in words. */
export function resolveStrategy(strategy: DeliveryStrategy, capabilities: FinOpsCapabilities): { strategy: 'odata' | 'manual'; why: string } {
  if (strategy !== 'auto') return { strategy, why: `delivery strategy ${strategy}` };
  if (capabilities.credentialEntity) return { strategy: 'odata', why: "auto: F&O's metadata shows the FnoGraphMail extension" };
  if (!capabilities.reachable) return { strategy: 'manual', why: `auto: F&O's metadata could not be read (${capabilities.reason ?? 'no answer'}), so a person enters it` };
  return { strategy: 'manual', why: "auto: F&O's metadata shows no FnoGraphMail extension, so a person enters it" };
}

export function* deliverAndProve(context: OrchestrationContext, progress: Progress, input: DeliveryInput): Generator<Task, DeliveryOutcome, unknown> {
  const capabilities = yield* describeFinOps(context, input);
  const { strategy, why } = resolveStrategy(input.strategy, capabilities);
  const target: EvidenceTarget = {
    environmentId: input.environmentId,
    environmentUrl: input.environmentUrl,
    tenantId: input.tenantId,
    appId: input.appId,
    reference: input.reference,
  };
  const proofBase = {
    target,
    capabilities,
    policy: input.evidence,
    reminderHours: input.waits.reminderHours,
    ...(input.testRecipient ? { testRecipient: input.testRecipient } : {}),
    ...(input.previous ? { previous: input.previous } : {}),
    ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
  };

  if (input.alreadyDelivered && !input.force) {
    progress.set('deliverToFinOps', 'skipped', 'F&O already holds this credential');
    const since = context.df.currentUtcDateTime.toISOString();
    if (input.previous?.provenAt) {
      progress.set('proveFinOpsUses', 'skipped', `Entra showed F&O signing in with credential ${input.reference.keyId} at ${input.previous.provenAt}`);
      return { strategy, delivered: false, since, proven: true, evidenceUnavailable: false, evidence: input.previous };
    }
    // Nothing was handed over: no test message either (a repeated setup sends nothing).
    const { testRecipient: _none, ...quiet } = proofBase;
    const proof = yield* proveStep(context, progress, { ...quiet, since });
    return { strategy, delivered: false, since, proven: proof.proven, evidenceUnavailable: proof.evidence.unavailable !== undefined, evidence: proof.evidence };
  }

  if (strategy === 'odata') {
    progress.set('deliverToFinOps', 'running', why);
    const written = yield* callActivity(
      context,
      'deliverToFinOps',
      {
        environmentId: input.environmentId,
        environmentUrl: input.environmentUrl,
        tenantId: input.tenantId,
        appId: input.appId,
        reference: input.reference,
        strategy: 'odata',
        ...(input.force ? { force: true } : {}),
      },
      'finOps',
    );
    if (written.strategy !== 'odata') throw new Error('deliverToFinOps answered for another strategy');
    progress.set(
      'deliverToFinOps',
      'succeeded',
      `${why}: ${written.credentialWritten ? 'credential written' : 'F&O already holds it'}${written.providerChanged ? '; batch email provider set to Graph' : ''}`,
    );
    const since = context.df.currentUtcDateTime.toISOString();
    const proof = yield* proveStep(context, progress, { ...proofBase, since });
    return { strategy, delivered: true, since, proven: proof.proven, evidenceUnavailable: proof.evidence.unavailable !== undefined, evidence: proof.evidence };
  }

  // manual: a person enters it; Entra's sign-in log (and F&O's provider) decide when that has happened.
  const since = context.df.currentUtcDateTime.toISOString();
  progress.set('deliverToFinOps', 'running', why);
  const prepared = yield* callActivity(context, 'deliverToFinOps', {
    environmentId: input.environmentId,
    environmentUrl: input.environmentUrl,
    tenantId: input.tenantId,
    appId: input.appId,
    reference: input.reference,
    strategy: 'manual',
  });
  if (prepared.strategy !== 'manual') throw new Error('deliverToFinOps answered for another strategy');
  let settled: { reading: EvidenceReading; proof: Proof } | undefined;
  const waitingDetail = `${why}: waiting for an administrator to enter the credential in F&O`;
  yield* waitForPerson(context, progress, {
    step: 'deliverToFinOps',
    event: 'EmailParametersUpdated',
    environmentId: input.environmentId,
    waitingDetail,
    instructions: prepared.instructions,
    timeoutHours: input.waits.manualTimeoutHours,
    reminderHours: input.waits.reminderHours,
    notice: { subject: `Enter the Graph email credential in F&O ${input.environmentId}`, lines: prepared.instructions.steps },
    ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
    timeout: {
      message: `F&O ${input.environmentId} was not seen using the new credential within ${input.waits.manualTimeoutHours} hours`,
      action: 'Enter the Application ID and Application secret on the Email parameters page, set the batch email provider to Graph, then start the operation again.',
    },
    check: {
      everyMinutes: input.evidence.pollMinutes,
      run: function* (byEvent) {
        const reading = yield* readEvidence(context, target, since, readsFor(capabilities));
        const proof = judgeProof(reading, { appId: input.appId, keyId: input.reference.keyId });
        if (proof.state === 'proven' || (proof.state === 'unprovable' && byEvent && proof.problems.length === 0)) {
          settled = { reading, proof };
          return true;
        }
        if (proof.state === 'unprovable' && !byEvent) return false;
        const wrong = proof.problems.join('; ');
        if (byEvent) {
          // The person said it is done; the evidence says otherwise. Tell them exactly what.
          yield* callActivity(context, 'notify', {
            environmentId: input.environmentId,
            kind: 'action-needed',
            subject: `F&O ${input.environmentId}: the email parameters are not right yet`,
            lines: [`EmailParametersUpdated was raised, but ${wrong}.`, ...prepared.instructions.steps],
          });
          return { done: false, detail: `confirmation not accepted: ${wrong}` };
        }
        return { done: false, detail: `${waitingDetail} (${wrong})` };
      },
    },
  });
  yield* callActivity(context, 'recordDelivery', { environmentId: input.environmentId, reference: input.reference });
  const proven = settled?.proof.state === 'proven';
  progress.set('deliverToFinOps', 'succeeded', proven ? `${why}: entered in F&O` : `${why}: confirmed by an administrator`);
  const proof = yield* proveStep(context, progress, { ...proofBase, since, ...(settled ? { settled } : {}) });
  return { strategy, delivered: true, since, proven: proof.proven, evidenceUnavailable: proof.evidence.unavailable !== undefined, evidence: proof.evidence };
}
