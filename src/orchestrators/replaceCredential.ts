/**
 * Replacing an environment's credential, shared by the rotation and by a drift check that finds the
 * recorded credential deleted or due: new credential → Key Vault → verified (a token acquired with it
 * carries `Mail.Send`) → F&O → proven (Entra shows F&O signing in with it) → grace period → previous
 * credentials revoked once F&O has moved to the new one. F&O only ever receives a credential that has
 * been verified; if verification, delivery or proof fails, F&O keeps the previous credential, which is
 * never revoked before its successor is in use.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord, SecretReference } from '../contracts/environment';
import type { CredentialPolicy } from '../contracts/rotation';
import { callActivity } from './activityCalls';
import type { FinOpsEvidence } from '../contracts/evidence';
import { deliverAndProve } from './delivery';
import { revocationGate } from './evidence';
import type { Progress } from './progress';

export interface Replacement {
  reference: SecretReference;
  created: boolean;
  evidence: FinOpsEvidence;
  /** Entra showed F&O signing in with the new credential. */
  proven: boolean;
}

export function* replaceCredential(
  context: OrchestrationContext,
  progress: Progress,
  env: EnvironmentRecord,
  policy: CredentialPolicy,
): Generator<Task, Replacement, unknown> {
  const environmentId = env.environmentId;
  // One marker per run: credentials it creates carry it, so a crashed attempt's orphan can be found.
  const operationId = context.df.newGuid(`${context.df.instanceId}/credential`);

  progress.set('createClientSecret', 'running');
  const secret = yield* callActivity(context, 'createClientSecret', {
    environmentId,
    environmentUrl: env.environmentUrl,
    tenantId: env.tenantId,
    appId: env.appId,
    appObjectId: env.appObjectId,
    lifetimeDays: policy.secretLifetimeDays,
    requestedAt: context.df.currentUtcDateTime.toISOString(),
    operationId,
    mode: 'rotate',
    minRemainingDays: policy.leadDays,
  });
  const reference = secret.reference;
  progress.set(
    'createClientSecret',
    'succeeded',
    `${secret.created ? 'new credential' : 'undelivered credential resumed'} ${reference.keyId}, expires ${reference.expiresOn}${secret.policyNote ? `; ${secret.policyNote}` : ''}`,
  );

  // Before F&O sees it: F&O is never handed a credential that cannot send.
  progress.set('verifyCredential', 'running');
  const verified = yield* callActivity(
    context,
    'verifyCredential',
    { environmentId, tenantId: env.tenantId, appId: env.appId, reference, ...(env.mailboxScope ? { mailboxScoped: true } : {}) },
    'propagation',
  );
  progress.set(
    'verifyCredential',
    'succeeded',
    verified.roles.length > 0 ? `token carries ${verified.roles.join(', ')}` : 'token acquired (sending is granted by the mailbox scope)',
  );

  const outcome = yield* deliverAndProve(context, progress, {
    environmentId,
    environmentUrl: env.environmentUrl,
    tenantId: env.tenantId,
    appId: env.appId,
    reference,
    strategy: policy.delivery,
    waits: policy.waits,
    evidence: policy.evidence,
    alreadyDelivered: secret.delivered,
    ...(secret.evidence ? { previous: secret.evidence } : {}),
    ...(policy.finOpsTestRecipient ? { testRecipient: policy.finOpsTestRecipient } : {}),
    ...(policy.dashboardUrl ? { dashboardUrl: policy.dashboardUrl } : {}),
  });

  // The previous credential goes only once F&O has moved to the new one: never an outage to tidy up.
  const gate = yield* revocationGate(context, progress, {
    target: { environmentId, environmentUrl: env.environmentUrl, tenantId: env.tenantId, appId: env.appId, reference },
    deliveredAt: outcome.since,
    graceHours: policy.graceHours,
    revokeMaxHours: policy.revokeMaxHours,
    pollMinutes: policy.evidence.pollMinutes,
    evidenceUnavailable: outcome.evidenceUnavailable,
  });
  if (gate.decision === 'keep') {
    progress.set('revokePreviousCredentials', 'skipped', `kept: ${gate.detail}`);
    yield* callActivity(context, 'notify', {
      environmentId,
      kind: 'alert',
      subject: `F&O ${environmentId} still uses the previous email credential`,
      lines: [
        `${gate.detail}.`,
        `The new credential ${reference.keyId} is in F&O's hands and in Key Vault; the previous one was not revoked, so F&O keeps sending until it expires.`,
        "Check that every F&O batch server reads the current Email parameters; the next rotation removes the previous credential.",
      ],
    });
    return { reference, created: secret.created, evidence: outcome.evidence, proven: outcome.proven };
  }

  progress.set('revokePreviousCredentials', 'running');
  const revoked = yield* callActivity(context, 'revokePreviousCredentials', {
    environmentId,
    tenantId: env.tenantId,
    appObjectId: env.appObjectId,
    secretName: reference.secretName,
    keepKeyId: reference.keyId,
  });
  progress.set(
    'revokePreviousCredentials',
    'succeeded',
    `removed ${revoked.removedKeyIds.length} credential(s), disabled ${revoked.disabledVersions.length} version(s)`,
  );
  return { reference, created: secret.created, evidence: outcome.evidence, proven: outcome.proven };
}

/** The record after a replacement: the same environment with its new credential and what is known of F&O using it. */
export function withCredential(env: EnvironmentRecord, replacement: Replacement): EnvironmentRecord {
  return { ...env, credential: { ...replacement.reference }, status: replacement.proven ? 'active' : 'unproven', finops: replacement.evidence };
}
