/**
 * The delivery step shared by setup and rotation: `odata` has already written the credential; `manual`
 * publishes the instructions, notifies, reminds on a durable timer, and waits for the
 * `EmailParametersUpdated` event until its timeout. Deterministic: only `context.df` APIs.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { DeliverToFinOpsOutput } from '../contracts/activities';
import type { SecretReference } from '../contracts/environment';
import { call, StepFailedError } from './activityCalls';
import type { Progress } from './progress';

const HOUR = 3_600_000;

/** For `odata` delivery there is nothing left to do; `manual` waits for a person's confirmation. */
export function* completeDelivery(
  context: OrchestrationContext,
  progress: Progress,
  input: { environmentId: string; reference: SecretReference; waits: { manualTimeoutHours: number; reminderHours: number } },
  delivery: DeliverToFinOpsOutput,
): Generator<Task, void, unknown> {
  const { reference } = input;
  if (delivery.strategy === 'odata') {
    progress.set(
      'deliverToFinOps',
      'succeeded',
      `credential written${delivery.providerChanged ? '; batch email provider set to Graph' : ''}`,
    );
    return;
  }
  const deadline = context.df.currentUtcDateTime.getTime() + input.waits.manualTimeoutHours * HOUR;
  progress.set('deliverToFinOps', 'waiting', 'waiting for an administrator to enter the credential in F&O');
  progress.waitFor({ event: 'EmailParametersUpdated', until: new Date(deadline).toISOString(), instructions: delivery.instructions });
  const notice = {
    environmentId: input.environmentId,
    subject: `Enter the Graph email credential in F&O ${input.environmentId}`,
    lines: [...delivery.instructions.steps, `This request times out at ${new Date(deadline).toISOString()}.`],
  };
  yield* call(context, 'notify', { ...notice, kind: 'action-needed' });

  const event = context.df.waitForExternalEvent('EmailParametersUpdated');
  for (;;) {
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) {
      throw new StepFailedError('deliverToFinOps', {
        kind: 'permanent',
        service: 'product',
        message: `nobody confirmed the F&O email parameters of environment ${input.environmentId} within ${input.waits.manualTimeoutHours} hours`,
        action: 'Enter the application id and secret on the Email parameters page, then start setup again.',
      });
    }
    const timer = context.df.createTimer(new Date(Math.min(now + input.waits.reminderHours * HOUR, deadline)));
    const winner: unknown = yield context.df.Task.any([event, timer]);
    if (winner === event) {
      timer.cancel();
      break;
    }
    if (context.df.currentUtcDateTime.getTime() < deadline) yield* call(context, 'notify', { ...notice, kind: 'reminder' });
  }
  progress.waitFor(undefined);
  yield* call(context, 'recordDelivery', { environmentId: input.environmentId, reference });
  progress.set('deliverToFinOps', 'succeeded', 'confirmed by an administrator');
}
