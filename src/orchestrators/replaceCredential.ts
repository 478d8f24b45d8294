/**
 * Replacing an environment's credential, shared by the rotation and by a drift check that finds the
 * recorded credential deleted: new credential → Key Vault → verified (a token acquired with it carries
 * `Mail.Send`) → F&O → grace period → previous credentials revoked. F&O only ever receives a credential
 * that has been verified; if verification or delivery fails, F&O keeps the previous credential, which
 * is never revoked before its successor is in place.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord, SecretReference } from '../contracts/environment';
import type { CredentialPolicy } from '../contracts/rotation';
import { callActivity } from './activityCalls';
import { deliverStep } from './delivery';
import type { Progress } from './progress';
import { sleepUntil } from './waits';

const HOUR = 3_600_000;

export interface Replacement {
  reference: SecretReference;
  created: boolean;
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
    `${secret.created ? 'new credential' : 'undelivered credential resumed'} ${reference.keyId}, expires ${reference.expiresOn}`,
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

  yield* deliverStep(context, progress, {
    environmentId,
    environmentUrl: env.environmentUrl,
    appId: env.appId,
    reference,
    strategy: policy.delivery,
    waits: policy.waits,
    alreadyDelivered: secret.delivered,
    ...(policy.dashboardUrl ? { dashboardUrl: policy.dashboardUrl } : {}),
  });

  // F&O batch servers cache the credential: the old one stays valid until they have picked up the new one.
  const graceEnds = new Date(context.df.currentUtcDateTime.getTime() + policy.graceHours * HOUR);
  progress.set('gracePeriod', 'waiting', `previous credential stays valid until ${graceEnds.toISOString()}`);
  yield* sleepUntil(context, graceEnds.getTime());
  progress.set('gracePeriod', 'succeeded');

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
  return { reference, created: secret.created };
}

/** The record after a replacement: the same environment with its new credential. */
export function withCredential(env: EnvironmentRecord, reference: SecretReference): EnvironmentRecord {
  return { ...env, credential: { ...reference }, status: 'active' };
}
