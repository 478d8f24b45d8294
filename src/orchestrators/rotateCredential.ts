/**
 * Orchestration `rotateCredential`: new credential → Key Vault → F&O → verify → grace period (durable
 * timer) → revoke the previous credential and disable its Key Vault version. The old credential is
 * untouched until the new one is delivered and verified; a failure before that leaves F&O working
 * with the old one, raises an alert, and the next sweep tries again. Its instance id is derived from
 * the environment id, so every trigger for one environment collapses into this one run.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord } from '../contracts/environment';
import { ROTATION_STEPS } from '../contracts/operations';
import type { RotationInput } from '../contracts/rotation';
import { call, StepFailedError } from './activityCalls';
import { deliverStep } from './delivery';
import { Progress } from './progress';

export { ROTATION_ORCHESTRATION } from './names';

const HOUR = 3_600_000;

export function* rotateCredential(context: OrchestrationContext): Generator<Task, EnvironmentRecord, unknown> {
  const input = context.df.getInput<RotationInput>();
  const progress = new Progress(context, ROTATION_STEPS);
  const operationId = context.df.newGuid(`${context.df.instanceId}/credential`);
  const environmentId = input.environmentId;
  let alertOnFailure = true;

  try {
    progress.set('readEnvironment', 'running');
    const found = yield* call(context, 'readEnvironment', {
      environmentId,
      asOf: context.df.currentUtcDateTime.toISOString(),
      leadDays: input.leadDays,
    });
    if (!found.found) {
      alertOnFailure = false;
      throw new StepFailedError('readEnvironment', {
        kind: 'not-found',
        service: 'product',
        message: `environment ${environmentId} is not registered in Key Vault`,
        action: 'Run setup for the environment first.',
      });
    }
    const env = found.record;
    progress.set('readEnvironment', 'succeeded', `current credential ${env.credential.keyId}, ${env.status}, expires ${env.credential.expiresOn}`);

    if (input.reason === 'expired') {
      yield* call(context, 'notify', {
        environmentId,
        kind: 'alert',
        subject: `F&O email credential of ${environmentId} has expired`,
        lines: [
          `The client secret ${env.credential.keyId} of application ${env.appId} expired at ${env.credential.expiresOn}; F&O cannot send email until the new one is in place.`,
          'A rotation is running now.',
        ],
      });
    }

    progress.set('createClientSecret', 'running');
    const secret = yield* call(context, 'createClientSecret', {
      environmentId,
      environmentUrl: env.environmentUrl,
      tenantId: env.tenantId,
      appId: env.appId,
      appObjectId: env.appObjectId,
      lifetimeDays: input.secretLifetimeDays,
      requestedAt: context.df.currentUtcDateTime.toISOString(),
      operationId,
      mode: 'rotate',
      minRemainingDays: input.leadDays,
    });
    const reference = secret.reference;
    progress.set(
      'createClientSecret',
      'succeeded',
      `${secret.created ? 'new credential' : 'undelivered credential resumed'} ${reference.keyId}, expires ${reference.expiresOn}`,
    );

    yield* deliverStep(context, progress, {
      environmentId,
      environmentUrl: env.environmentUrl,
      appId: env.appId,
      reference,
      strategy: input.delivery,
      waits: input.waits,
      alreadyDelivered: secret.delivered,
      ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
    });

    progress.set('verifyCredential', 'running');
    const verified = yield* call(
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

    // F&O batch servers cache the credential: the old one stays valid until they have picked up the new one.
    const graceEnds = new Date(context.df.currentUtcDateTime.getTime() + input.graceHours * HOUR);
    progress.set('gracePeriod', 'waiting', `previous credential stays valid until ${graceEnds.toISOString()}`);
    if (input.graceHours > 0) yield context.df.createTimer(graceEnds);
    progress.set('gracePeriod', 'succeeded');

    progress.set('revokePreviousCredentials', 'running');
    const revoked = yield* call(context, 'revokePreviousCredentials', {
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

    return {
      environmentId,
      environmentUrl: env.environmentUrl,
      tenantId: env.tenantId,
      appId: env.appId,
      appObjectId: env.appObjectId,
      credential: { keyId: reference.keyId, secretName: reference.secretName, secretVersion: reference.secretVersion, expiresOn: reference.expiresOn },
      status: 'active',
      ...(env.mailboxScope ? { mailboxScope: env.mailboxScope } : {}),
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.failCurrent(message);
    if (alertOnFailure) {
      try {
        yield* call(context, 'notify', {
          environmentId,
          kind: 'alert',
          subject: `Rotating the F&O email credential of ${environmentId} failed`,
          lines: [message, 'F&O keeps using the previous credential; the next sweep tries again.'],
        });
      } catch {
        // The alert log line was written by the activity before its mail failed; the run's own failure matters more.
      }
    }
    throw error;
  }
}
