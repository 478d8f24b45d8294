/**
 * A function app with the product's real orchestrations and run lock, and fake activities (fakes.ts):
 * the orchestration tier runs it on the local durable driver under a manual clock.
 */
import * as df from 'durable-functions';
import type { EntityContext, OrchestrationContext, Task } from 'durable-functions';
import { ACTIVITY_NAMES } from '../../src/contracts/activities';
import { RUN_LOCK_ENTITY } from '../../src/contracts/names';
import { DRIFT_ORCHESTRATION, OFFBOARD_ORCHESTRATION, ONBOARD_ORCHESTRATION, ROTATION_ORCHESTRATION, SETUP_ORCHESTRATION } from '../../src/contracts/operations';
import { FLEET_ROTATION_ORCHESTRATION } from '../../src/contracts/fleet';
import { checkDrift } from '../../src/orchestrators/checkDrift';
import { offboardTenant } from '../../src/orchestrators/offboardTenant';
import { onboardTenant } from '../../src/orchestrators/onboardTenant';
import { rotateFleet } from '../../src/orchestrators/rotateFleet';
import { rotateCredential } from '../../src/orchestrators/rotateCredential';
import { environmentRunEntity, type RunLockState } from '../../src/orchestrators/runLock';
import { setupEnvironment } from '../../src/orchestrators/setupEnvironment';
import { fakes } from './fakes';

df.app.orchestration(SETUP_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* setupEnvironment(context);
});
df.app.orchestration(ROTATION_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* rotateCredential(context);
});
df.app.orchestration(DRIFT_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* checkDrift(context);
});
df.app.orchestration(FLEET_ROTATION_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* rotateFleet(context);
});
df.app.orchestration(ONBOARD_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* onboardTenant(context);
});
df.app.orchestration(OFFBOARD_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* offboardTenant(context);
});
df.app.entity<RunLockState>(RUN_LOCK_ENTITY, (context: EntityContext<RunLockState>) => environmentRunEntity(context));
for (const name of ACTIVITY_NAMES) {
  df.app.activity(name, { handler: (input: unknown) => fakes.handle(name, input) });
}
