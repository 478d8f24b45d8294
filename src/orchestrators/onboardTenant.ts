/**
 * Orchestration `onboardTenant` (partner mode, instance `onboard-{tenantId}`): read the operator
 * application (the Graph permissions it requires), then, unless a token of it in the tenant already
 * carries them all, publish the tenant-specific admin-consent URL and wait for an administrator of that
 * tenant (notice, reminders, the `ConsentGranted` event, and a check every `consentPollMinutes`) until a
 * fresh token of the operator there carries every required permission; then record the tenant in the
 * registry. Deterministic: only `context.df` APIs; the operator has no secret, so none can pass here.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { ONBOARD_STEPS } from '../contracts/operations';
import type { OnboardInput, OnboardOutput } from '../contracts/tenants';
import { callActivity } from './activityCalls';
import { Progress } from './progress';
import { waitForPerson } from './waits';

export function* onboardTenant(context: OrchestrationContext): Generator<Task, OnboardOutput, unknown> {
  const input = context.df.getInput<OnboardInput>();
  const progress = new Progress(context, ONBOARD_STEPS);
  const { tenantId, operatorAppId } = input;
  try {
    progress.set('readOperator', 'running');
    const operator = yield* callActivity(context, 'describeOperator', { operatorAppId });
    const required = operator.requiredPermissions;
    progress.set('readOperator', 'succeeded', `${operator.displayName} (${operator.appId}) requires ${required.join(', ')}`);

    progress.set('adminConsent', 'running');
    const check = () => callActivity(context, 'checkTenantConsent', { tenantId, requiredPermissions: required }, 'replication');
    let consent = yield* check();
    if (consent.state === 'granted') {
      progress.set('adminConsent', 'succeeded', `already granted: ${consent.grantedPermissions.join(', ')}`);
    } else {
      const consentUrl = input.consentUrl;
      // Seen as pending in GET /api/tenants while the run waits.
      yield* callActivity(context, 'recordTenant', {
        tenantId,
        consent: 'pending',
        operatorAppId: operator.appId,
        requiredPermissions: required,
        grantedPermissions: consent.grantedPermissions,
        asOf: context.df.currentUtcDateTime.toISOString(),
      });
      const missing = (c: typeof consent): string =>
        c.state === 'not-consented' ? 'the operator application has no service principal in the tenant yet' : `still missing ${c.missingPermissions.join(', ')}`;
      yield* waitForPerson(context, progress, {
        step: 'adminConsent',
        event: 'ConsentGranted',
        tenantId,
        waitingDetail: `waiting for an administrator of tenant ${tenantId} to grant admin consent to ${operator.displayName}`,
        instructions: {
          consentUrl,
          steps: [
            `Open ${consentUrl} as a Global Administrator or Privileged Role Administrator of tenant ${tenantId}.`,
            `Review the Microsoft Graph application permissions ${operator.displayName} (${operator.appId}) asks for: ${required.join(', ')}; accept.`,
            `Then raise the ConsentGranted event on this operation, or wait: a token of the operator in the tenant is checked every ${input.waits.consentPollMinutes} minutes.`,
          ],
        },
        timeoutHours: input.waits.consentTimeoutHours,
        reminderHours: input.waits.reminderHours,
        notice: { subject: `Admin consent needed to onboard tenant ${tenantId}`, lines: [`An administrator of tenant ${tenantId} grants consent at: ${consentUrl}`] },
        ...(input.dashboardUrl ? { dashboardUrl: input.dashboardUrl } : {}),
        timeout: {
          message: `no administrator of tenant ${tenantId} granted admin consent to the operator application within ${input.waits.consentTimeoutHours} hours`,
          action: `Have an administrator of the tenant grant consent at ${consentUrl}, then onboard the tenant again.`,
        },
        check: {
          everyMinutes: input.waits.consentPollMinutes,
          run: function* () {
            consent = yield* check();
            return consent.state === 'granted' ? true : { done: false, detail: `waiting for an administrator of tenant ${tenantId}: ${missing(consent)}` };
          },
        },
      });
      progress.set('adminConsent', 'succeeded', `granted: ${consent.grantedPermissions.join(', ')}`);
    }

    progress.set('recordTenant', 'running');
    const asOf = context.df.currentUtcDateTime.toISOString();
    const recorded = yield* callActivity(context, 'recordTenant', {
      tenantId,
      consent: 'granted',
      operatorAppId: operator.appId,
      requiredPermissions: required,
      grantedPermissions: consent.grantedPermissions,
      asOf,
    });
    const onboardedAt = recorded.onboardedAt ?? asOf;
    progress.set('recordTenant', 'succeeded', `onboarded ${onboardedAt}`);
    return { tenantId, consent: 'granted', operatorAppId: operator.appId, requiredPermissions: required, grantedPermissions: consent.grantedPermissions, onboardedAt };
  } catch (error) {
    progress.failCurrent(error instanceof Error ? error.message : String(error));
    throw error;
  }
}
