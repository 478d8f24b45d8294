/**
 * The delivery step shared by setup and rotation: `odata` has already written the credential; `manual`
 * waits for a person to enter it (instructions, notification, reminders, timeout), then records it.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { DeliverToFinOpsOutput } from '../contracts/activities';
import type { DeliveryStrategy } from '../contracts/operations';
import type { SecretReference } from '../contracts/environment';
import { callActivity } from './activityCalls';
import type { Progress } from './progress';
import { waitForPerson } from './waits';

export interface DeliveryContext {
  environmentId: string;
  reference: SecretReference;
  waits: { manualTimeoutHours: number; reminderHours: number };
  dashboardUrl?: string;
}

/**
 * The `deliverToFinOps` step of setup and rotation: skipped when F&O already holds the credential,
 * otherwise delivered with the strategy and, for `manual`, waited for. Returns whether it delivered.
 */
export function* deliverStep(
  context: OrchestrationContext,
  progress: Progress,
  input: DeliveryContext & { environmentUrl: string; appId: string; strategy: DeliveryStrategy; alreadyDelivered: boolean },
): Generator<Task, boolean, unknown> {
  if (input.alreadyDelivered) {
    progress.set('deliverToFinOps', 'skipped', 'F&O already holds this credential');
    return false;
  }
  progress.set('deliverToFinOps', 'running');
  const delivery = yield* callActivity(
    context,
    'deliverToFinOps',
    { environmentId: input.environmentId, environmentUrl: input.environmentUrl, appId: input.appId, reference: input.reference, strategy: input.strategy },
    'finOps',
  );
  yield* completeDelivery(context, progress, input, delivery);
  return true;
}

export function* completeDelivery(
  context: OrchestrationContext,
  progress: Progress,
  input: DeliveryContext,
  delivery: DeliverToFinOpsOutput,
): Generator<Task, void, unknown> {
  if (delivery.strategy === 'odata') {
    progress.set('deliverToFinOps', 'succeeded', `credential written${delivery.providerChanged ? '; batch email provider set to Graph' : ''}`);
    return;
  }
  yield* waitForPerson(context, progress, {
    step: 'deliverToFinOps',
    event: 'EmailParametersUpdated',
    environmentId: input.environmentId,
    waitingDetail: 'waiting for an administrator to enter the credential in F&O',
    instructions: delivery.instructions,
    timeoutHours: input.waits.manualTimeoutHours,
    reminderHours: input.waits.reminderHours,
    notice: { subject: `Enter the Graph email credential in F&O ${input.environmentId}`, lines: delivery.instructions.steps },
    ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
    timeout: {
      message: `nobody confirmed the F&O email parameters of environment ${input.environmentId} within ${input.waits.manualTimeoutHours} hours`,
      action: 'Enter the application id and secret on the Email parameters page, then start the operation again.',
    },
  });
  yield* callActivity(context, 'recordDelivery', { environmentId: input.environmentId, reference: input.reference });
  progress.set('deliverToFinOps', 'succeeded', 'confirmed by an administrator');
}
