/**
 * Orchestration `setupEnvironment`: register the app, its service principal, admin consent, a client
 * secret straight into Key Vault, delivery to F&O, and verification, in that order. Deterministic:
 * only `context.df` APIs; time comes from `currentUtcDateTime`; no secret ever passes through here.
 * Waits for people (consent requests, manual delivery) use durable timers and external events.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord } from '../contracts/environment';
import { SETUP_STEPS, type SetupInput } from '../contracts/setup';
import { call, StepFailedError } from './activityCalls';
import { completeDelivery } from './delivery';
import { Progress } from './progress';

export const SETUP_ORCHESTRATION = 'setupEnvironment';

const HOUR = 3_600_000;
const MINUTE = 60_000;

export function* setupEnvironment(context: OrchestrationContext): Generator<Task, EnvironmentRecord, unknown> {
  const input = context.df.getInput<SetupInput>();
  const progress = new Progress(context, SETUP_STEPS);
  // One marker per run: credentials it creates carry it, so a crashed attempt's orphan can be found.
  const operationId = context.df.newGuid(`${context.df.instanceId}/credential`);

  try {
    progress.set('registerApplication', 'running');
    const app = yield* call(context, 'registerApplication', {
      environmentId: input.environmentId,
      tenantId: input.tenantId,
      displayName: input.appDisplayName,
    });
    progress.set('registerApplication', 'succeeded', `${app.outcome}: application ${app.appId}`);

    progress.set('ensureServicePrincipal', 'running');
    const sp = yield* call(context, 'ensureServicePrincipal', { environmentId: input.environmentId, tenantId: input.tenantId, appId: app.appId }, 'replication');
    progress.set('ensureServicePrincipal', 'succeeded', sp.created ? 'created' : 'unchanged');

    progress.set('grantAdminConsent', 'running');
    const consent = yield* call(
      context,
      'grantAdminConsent',
      { environmentId: input.environmentId, tenantId: input.tenantId, appId: app.appId, servicePrincipalId: sp.servicePrincipalId, strategy: input.consent },
      'replication',
    );
    if (consent.status === 'requested') {
      yield* waitForConsent(context, input, progress, sp.servicePrincipalId, consent.consentUrl);
      progress.set('grantAdminConsent', 'succeeded', 'granted by an administrator');
    } else {
      progress.set('grantAdminConsent', 'succeeded', consent.changed ? 'granted' : 'already granted');
    }

    progress.set('createClientSecret', 'running');
    const secret = yield* call(context, 'createClientSecret', {
      environmentId: input.environmentId,
      environmentUrl: input.environmentUrl,
      tenantId: input.tenantId,
      appId: app.appId,
      appObjectId: app.appObjectId,
      lifetimeDays: input.secretLifetimeDays,
      requestedAt: context.df.currentUtcDateTime.toISOString(),
      operationId,
      mode: 'ensure',
      minRemainingDays: input.minRemainingDays,
    });
    const reference = secret.reference;
    progress.set(
      'createClientSecret',
      'succeeded',
      `${secret.created ? 'new credential' : 'current credential kept'} ${reference.keyId}, expires ${reference.expiresOn}`,
    );

    let changed = secret.created || app.outcome !== 'unchanged';
    if (secret.delivered) {
      progress.set('deliverToFinOps', 'skipped', 'F&O already holds this credential');
    } else {
      progress.set('deliverToFinOps', 'running');
      const delivery = yield* call(
        context,
        'deliverToFinOps',
        { environmentId: input.environmentId, environmentUrl: input.environmentUrl, appId: app.appId, reference, strategy: input.delivery },
        'finOps',
      );
      yield* completeDelivery(context, progress, { environmentId: input.environmentId, reference, waits: input.waits }, delivery);
      changed = true;
    }

    progress.set('verifyCredential', 'running');
    const sendTest = changed && input.senderMailbox !== undefined && input.testRecipient !== undefined;
    const verified = yield* call(
      context,
      'verifyCredential',
      {
        environmentId: input.environmentId,
        tenantId: input.tenantId,
        appId: app.appId,
        reference,
        ...(sendTest ? { senderMailbox: input.senderMailbox, testRecipient: input.testRecipient } : {}),
      },
      'propagation',
    );
    progress.set(
      'verifyCredential',
      'succeeded',
      `token carries ${verified.roles.join(', ')}${verified.testMessageSent ? '; test message sent' : ''}`,
    );

    return {
      environmentId: input.environmentId,
      environmentUrl: input.environmentUrl,
      tenantId: input.tenantId,
      appId: app.appId,
      appObjectId: app.appObjectId,
      credential: {
        keyId: reference.keyId,
        secretName: reference.secretName,
        secretVersion: reference.secretVersion,
        expiresOn: reference.expiresOn,
      },
      status: 'active',
    };
  } catch (error) {
    progress.failCurrent(error instanceof Error ? error.message : String(error));
    throw error;
  }
}

/** Waits for consent: the `ConsentGranted` event or a periodic check of Graph, until the timeout. */
function* waitForConsent(
  context: OrchestrationContext,
  input: SetupInput,
  progress: Progress,
  servicePrincipalId: string,
  consentUrl: string,
): Generator<Task, void, unknown> {
  const deadline = context.df.currentUtcDateTime.getTime() + input.waits.consentTimeoutHours * HOUR;
  progress.set('grantAdminConsent', 'waiting', 'waiting for an administrator to grant admin consent');
  progress.waitFor({
    event: 'ConsentGranted',
    until: new Date(deadline).toISOString(),
    instructions: {
      consentUrl,
      steps: [
        `Open ${consentUrl} as a Global Administrator or Privileged Role Administrator of tenant ${input.tenantId}.`,
        'Review the requested permissions (Microsoft Graph: Mail.Send application permission, User.Read) and accept.',
        `Then raise the ConsentGranted event on this operation, or wait: Graph is checked every ${input.waits.consentPollMinutes} minutes.`,
      ],
    },
  });
  yield* call(context, 'notify', {
    environmentId: input.environmentId,
    kind: 'action-needed',
    subject: `Admin consent needed for F&O email of ${input.environmentId}`,
    lines: [`Grant admin consent: ${consentUrl}`, `This request times out at ${new Date(deadline).toISOString()}.`],
  });

  let event = context.df.waitForExternalEvent('ConsentGranted');
  for (;;) {
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) {
      throw new StepFailedError('grantAdminConsent', {
        kind: 'permanent',
        service: 'product',
        message: `no administrator granted admin consent for environment ${input.environmentId} within ${input.waits.consentTimeoutHours} hours`,
        action: `Grant consent at ${consentUrl}, then start setup again.`,
      });
    }
    const timer = context.df.createTimer(new Date(Math.min(now + input.waits.consentPollMinutes * MINUTE, deadline)));
    const winner: unknown = yield context.df.Task.any([event, timer]);
    if (winner === event) {
      timer.cancel();
      event = context.df.waitForExternalEvent('ConsentGranted');
    }
    const status = yield* call(context, 'checkConsent', { environmentId: input.environmentId, tenantId: input.tenantId, servicePrincipalId });
    if (status.granted) break;
  }
  progress.waitFor(undefined);
}
