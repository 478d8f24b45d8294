/**
 * Orchestration `rotateCredential`: read the registry record, then replace the credential (new
 * credential → Key Vault → verified → F&O → grace period → previous credentials revoked). The old
 * credential is untouched until the new one is verified and delivered; a failure before that leaves
 * F&O working with the old one, raises an alert, and the next sweep tries again. Its instance id is
 * derived from the environment id and it holds the environment's run lock, so every trigger for one
 * environment collapses into one run.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord } from '../contracts/environment';
import { ROTATION_STEPS, type SupersededRun } from '../contracts/operations';
import type { RotationInput } from '../contracts/rotation';
import { applicationProblem } from './application';
import { callActivity, StepFailedError } from './activityCalls';
import { Progress } from './progress';
import { replaceCredential, withCredential } from './replaceCredential';
import { exclusiveRun } from './runLock';

export function* rotateCredential(context: OrchestrationContext): Generator<Task, EnvironmentRecord | SupersededRun, unknown> {
  const input = context.df.getInput<RotationInput>();
  const progress = new Progress(context, ROTATION_STEPS);
  return yield* exclusiveRun(context, input, 'rotation', () => rotate(context, input, progress), (holder) =>
    progress.skipAll(`another run of this environment is active: ${holder.instanceId}`),
  );
}

function* rotate(context: OrchestrationContext, input: RotationInput, progress: Progress): Generator<Task, EnvironmentRecord, unknown> {
  const environmentId = input.environmentId;
  let alertOnFailure = true;
  try {
    progress.set('readEnvironment', 'running');
    const found = yield* callActivity(context, 'readEnvironment', {
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
    const problem = applicationProblem(env, found.application);
    if (problem) throw new StepFailedError('readEnvironment', problem);
    progress.set('readEnvironment', 'succeeded', `current credential ${env.credential.keyId}, ${env.status}, expires ${env.credential.expiresOn}`);

    if (input.reason === 'expired') {
      yield* callActivity(context, 'notify', {
        environmentId,
        kind: 'alert',
        subject: `F&O email credential of ${environmentId} has expired`,
        lines: [
          `The client secret ${env.credential.keyId} of application ${env.appId} expired at ${env.credential.expiresOn}; F&O cannot send email until the new one is in place.`,
          'A rotation is running now.',
        ],
      });
    }

    const replaced = yield* replaceCredential(context, progress, env, input);
    return withCredential(env, replaced);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    progress.failCurrent(message);
    if (alertOnFailure) {
      try {
        yield* callActivity(context, 'notify', {
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
