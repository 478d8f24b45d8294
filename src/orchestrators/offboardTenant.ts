/**
 * Orchestration `offboardTenant` (partner mode, instance `offboard-{tenantId}`): removes what a confirmed
 * removal report listed, nothing else. Each environment is taken out holding its run lock (so no setup,
 * rotation or drift run acts on it meanwhile): its app registration, checked again to be the product's
 * own, then its Key Vault record; then the product's other applications in the tenant (a setup that
 * stopped before recording one); then the tenant's own record. What is no longer the product's, or an
 * environment another run holds, is skipped and said so. Deterministic: only `context.df` APIs.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { OFFBOARD_STEPS } from '../contracts/operations';
import type { OffboardInput, OffboardOutput, TenantApplication } from '../contracts/tenants';
import { callActivity } from './activityCalls';
import { Progress } from './progress';
import { exclusiveRun } from './runLock';

export function* offboardTenant(context: OrchestrationContext): Generator<Task, OffboardOutput, unknown> {
  const input = context.df.getInput<OffboardInput>();
  const progress = new Progress(context, OFFBOARD_STEPS);
  const { tenantId } = input;
  const out: OffboardOutput = { tenantId, removedApplications: [], removedRecords: [], skipped: [] };

  function* removeApplication(app: TenantApplication): Generator<Task, void, unknown> {
    const removed = yield* callActivity(context, 'removeTenantApplication', { tenantId, environmentId: app.environmentId, appId: app.appId, objectId: app.objectId });
    if (removed.removed) out.removedApplications.push(app.appId);
    else out.skipped.push(`application ${app.appId} (${app.environmentId}): ${removed.reason ?? 'not removed'}`);
  }

  function* removeRecord(secretName: string): Generator<Task, void, unknown> {
    const removed = yield* callActivity(context, 'removeRegistryRecord', { tenantId, secretName });
    if (removed.removed) out.removedRecords.push(secretName);
    else out.skipped.push(`Key Vault record ${secretName}: ${removed.reason ?? 'not removed'}`);
  }

  try {
    progress.set('removeEnvironments', input.environments.length > 0 ? 'running' : 'skipped', input.environments.length > 0 ? undefined : 'no environment in the tenant');
    for (const env of input.environments) {
      const done = yield* exclusiveRun(
        context,
        { environmentId: env.environmentId, staleHolders: env.staleHolders },
        'offboard',
        function* (): Generator<Task, 'removed', unknown> {
          yield* removeApplication({ objectId: env.appObjectId, appId: env.appId, displayName: env.environmentId, environmentId: env.environmentId });
          yield* removeRecord(env.secretName);
          return 'removed';
        },
        () => undefined,
      );
      if (done !== 'removed') out.skipped.push(`environment ${env.environmentId}: run ${done.activeRun.instanceId} holds it; remove the tenant again once it has ended`);
      progress.set('removeEnvironments', 'running', `${input.environments.indexOf(env) + 1} of ${input.environments.length} environment(s) done`);
    }
    if (input.environments.length > 0) {
      progress.set('removeEnvironments', 'succeeded', `${input.environments.length} environment(s): ${out.removedApplications.length} application(s) and ${out.removedRecords.length} Key Vault record(s) removed`);
    }

    if (input.otherApplications.length > 0) {
      progress.set('removeOtherApplications', 'running');
      const before = out.removedApplications.length;
      for (const app of input.otherApplications) yield* removeApplication(app);
      progress.set('removeOtherApplications', 'succeeded', `${out.removedApplications.length - before} of ${input.otherApplications.length} removed`);
    } else {
      progress.set('removeOtherApplications', 'skipped', 'no other application of the product in the tenant');
    }

    if (input.tenantRecord) {
      progress.set('removeTenantRecord', 'running');
      yield* removeRecord(input.tenantRecord);
      progress.set('removeTenantRecord', 'succeeded', out.removedRecords.includes(input.tenantRecord) ? `${input.tenantRecord} removed` : 'nothing to remove');
    } else {
      progress.set('removeTenantRecord', 'skipped', 'the tenant has no record');
    }
    return out;
  } catch (error) {
    progress.failCurrent(error instanceof Error ? error.message : String(error));
    throw error;
  }
}
