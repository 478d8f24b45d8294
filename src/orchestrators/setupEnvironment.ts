/**
 * Orchestration `setupEnvironment`: register the app, its service principal, admin consent, a client
 * secret straight into Key Vault, verification, delivery to F&O, and proof that F&O uses it (Entra's
 * sign-in log shows F&O signing in with the new credential), in that order: F&O only ever receives a
 * credential that has produced a token carrying `Mail.Send`, and the run ends when mail can leave F&O. It holds the environment's
 * run lock, so no rotation or drift repair of the same environment runs meanwhile. Deterministic:
 * only `context.df` APIs; time comes from `currentUtcDateTime`; no secret ever passes through here.
 * Waits for people (consent requests, manual delivery, mailbox scoping) use durable timers and
 * external events, with one notification and reminders each.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { EnvironmentRecord } from '../contracts/environment';
import { SCOPED_SETUP_STEPS, SETUP_STEPS, type SupersededRun } from '../contracts/operations';
import { describeMailboxScope, type SetupInput } from '../contracts/setup';
import { callActivity } from './activityCalls';
import { deliverAndProve } from './delivery';
import { Progress } from './progress';
import { exclusiveRun } from './runLock';
import { waitForPerson } from './waits';

export function* setupEnvironment(context: OrchestrationContext): Generator<Task, EnvironmentRecord | SupersededRun, unknown> {
  const input = context.df.getInput<SetupInput>();
  const progress = new Progress(context, input.mailboxScope ? SCOPED_SETUP_STEPS : SETUP_STEPS);
  return yield* exclusiveRun(context, input, 'setup', () => setup(context, input, progress), (holder) =>
    progress.skipAll(`another run of this environment is active: ${holder.instanceId}`),
  );
}

function* setup(context: OrchestrationContext, input: SetupInput, progress: Progress): Generator<Task, EnvironmentRecord, unknown> {
  const scope = input.mailboxScope;
  const dashboard = input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {};
  // One marker per run: credentials it creates carry it, so a crashed attempt's orphan can be found.
  const operationId = context.df.newGuid(`${context.df.instanceId}/credential`);

  try {
    progress.set('registerApplication', 'running');
    const app = yield* callActivity(context, 'registerApplication', {
      environmentId: input.environmentId,
      tenantId: input.tenantId,
      displayName: input.appDisplayName,
    });
    progress.set('registerApplication', 'succeeded', `${app.outcome}: application ${app.appId}`);

    progress.set('ensureServicePrincipal', 'running');
    const sp = yield* callActivity(context, 'ensureServicePrincipal', { environmentId: input.environmentId, tenantId: input.tenantId, appId: app.appId }, 'replication');
    progress.set('ensureServicePrincipal', 'succeeded', sp.created ? 'created' : 'unchanged');

    progress.set('grantAdminConsent', 'running');
    const consent = yield* callActivity(
      context,
      'grantAdminConsent',
      {
        environmentId: input.environmentId,
        tenantId: input.tenantId,
        appId: app.appId,
        servicePrincipalId: sp.servicePrincipalId,
        strategy: input.consent,
        // With a mailbox scope, Exchange grants sending; a tenant-wide Mail.Send grant would override it.
        mailSend: scope === undefined,
      },
      'replication',
    );
    if (consent.status === 'requested') {
      const consentUrl = consent.consentUrl;
      yield* waitForPerson(context, progress, {
        step: 'grantAdminConsent',
        event: 'ConsentGranted',
        environmentId: input.environmentId,
        waitingDetail: 'waiting for an administrator to grant admin consent',
        instructions: {
          consentUrl,
          steps: [
            `Open ${consentUrl} as a Global Administrator or Privileged Role Administrator of tenant ${input.tenantId}.`,
            'Review the requested permissions (Microsoft Graph: Mail.Send application permission, User.Read) and accept.',
            `Then raise the ConsentGranted event on this operation, or wait: Graph is checked every ${input.waits.consentPollMinutes} minutes.`,
          ],
        },
        timeoutHours: input.waits.consentTimeoutHours,
        reminderHours: input.waits.reminderHours,
        notice: { subject: `Admin consent needed for F&O email of ${input.environmentId}`, lines: [`Grant admin consent: ${consentUrl}`] },
        ...dashboard,
        timeout: {
          message: `no administrator granted admin consent for environment ${input.environmentId} within ${input.waits.consentTimeoutHours} hours`,
          action: `Grant consent at ${consentUrl}, then start setup again.`,
        },
        check: {
          everyMinutes: input.waits.consentPollMinutes,
          run: function* () {
            const status = yield* callActivity(context, 'checkConsent', { environmentId: input.environmentId, tenantId: input.tenantId, servicePrincipalId: sp.servicePrincipalId });
            return scope ? status.userReadGranted : status.granted;
          },
        },
      });
      progress.set('grantAdminConsent', 'succeeded', 'granted by an administrator');
    } else {
      progress.set('grantAdminConsent', 'succeeded', consent.changed ? 'granted' : 'already granted');
    }

    progress.set('createClientSecret', 'running');
    const secret = yield* callActivity(context, 'createClientSecret', {
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
      `${secret.created ? 'new credential' : 'current credential kept'} ${reference.keyId}, expires ${reference.expiresOn}${secret.policyNote ? `; ${secret.policyNote}` : ''}`,
    );

    progress.set('verifyCredential', 'running');
    // Before F&O sees it: F&O is never handed a credential that cannot send. With a mailbox scope the
    // test message waits for the scope: sending is what proves it.
    const changed = secret.created || app.outcome !== 'unchanged' || !secret.delivered;
    const sendTest = changed && !scope && input.senderMailbox !== undefined && input.testRecipient !== undefined;
    const verified = yield* callActivity(
      context,
      'verifyCredential',
      {
        environmentId: input.environmentId,
        tenantId: input.tenantId,
        appId: app.appId,
        reference,
        ...(sendTest ? { senderMailbox: input.senderMailbox, testRecipient: input.testRecipient } : {}),
        ...(scope ? { mailboxScoped: true } : {}),
      },
      'propagation',
    );
    progress.set(
      'verifyCredential',
      'succeeded',
      `${verified.roles.length > 0 ? `token carries ${verified.roles.join(', ')}` : 'token acquired (sending is granted by the mailbox scope)'}${verified.testMessageSent ? '; test message sent' : ''}`,
    );

    const delivery = yield* deliverAndProve(context, progress, {
      environmentId: input.environmentId,
      environmentUrl: input.environmentUrl,
      tenantId: input.tenantId,
      appId: app.appId,
      reference,
      strategy: input.delivery,
      waits: input.waits,
      evidence: input.evidence,
      alreadyDelivered: secret.delivered,
      ...(secret.evidence ? { previous: secret.evidence } : {}),
      ...(input.finOpsTestRecipient ? { testRecipient: input.finOpsTestRecipient } : {}),
      ...dashboard,
    });

    if (scope) {
      if (!changed && secret.mailboxScope === describeMailboxScope(scope)) {
        progress.set('restrictMailboxes', 'skipped', `already limited to ${secret.mailboxScope}`);
      } else {
        progress.set('restrictMailboxes', 'running');
        const prepared = yield* callActivity(context, 'prepareMailboxScope', {
          environmentId: input.environmentId,
          appId: app.appId,
          servicePrincipalId: sp.servicePrincipalId,
          scope,
        });
        yield* waitForPerson(context, progress, {
          step: 'restrictMailboxes',
          event: 'MailboxScopeApplied',
          environmentId: input.environmentId,
          waitingDetail: 'waiting for an Exchange administrator to apply the mailbox scope',
          // The commands grow with the scope: the status keeps the ids and steps, the operations API composes the commands.
          instructions: { appId: prepared.instructions.appId, servicePrincipalId: prepared.instructions.servicePrincipalId, steps: prepared.instructions.steps },
          timeoutHours: input.waits.manualTimeoutHours,
          reminderHours: input.waits.reminderHours,
          notice: { subject: `Limit the mailboxes F&O ${input.environmentId} may send as`, lines: [...prepared.instructions.steps, ...(prepared.instructions.commands ?? [])] },
          ...dashboard,
          timeout: {
            message: `nobody confirmed the mailbox scope of environment ${input.environmentId} within ${input.waits.manualTimeoutHours} hours`,
            action: 'Run the Exchange Online commands from the instructions, then start setup again.',
          },
        });
        progress.set('restrictMailboxes', 'running', 'verifying: in scope accepted, out of scope refused');
        const proven = yield* callActivity(
          context,
          'verifyMailboxScope',
          {
            environmentId: input.environmentId,
            tenantId: input.tenantId,
            appId: app.appId,
            reference,
            scope,
            ...(input.testRecipient ? { testRecipient: input.testRecipient } : {}),
          },
          'exchange',
        );
        progress.set(
          'restrictMailboxes',
          'succeeded',
          `sending as ${proven.inScopeAccepted} accepted${proven.outOfScopeRefused ? `, as ${proven.outOfScopeRefused} refused` : ''}`,
        );
      }
    }

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
      status: delivery.proven ? 'active' : 'unproven',
      ...(scope ? { mailboxScope: describeMailboxScope(scope) } : {}),
      finops: delivery.evidence,
    };
  } catch (error) {
    progress.failCurrent(error instanceof Error ? error.message : String(error));
    throw error;
  }
}
