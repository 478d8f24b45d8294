/**
 * The function app: every trigger, orchestration and activity, registered through `@azure/functions`
 * and `durable-functions` exactly as Azure runs them (the local runtime loads this same module).
 * Registering needs only names and bindings: each handler's module (with the settings parser, the
 * validation schemas and, behind them, the Azure SDKs) loads on the handler's first invocation, so a
 * cold start loads little more than the two Functions libraries.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import type { EntityContext, OrchestrationContext, Task } from 'durable-functions';
import type { ProductServices } from './composition';
import type { AppConfig } from './config';
import type { InvocationContext } from '@azure/functions';
import type { ProductActivityName } from './activities';
import { ACTIVITY_NAMES, RUN_STARTING_ACTIVITIES, type StartRotationsInput } from './contracts/activities';
import { FLEET_ROTATION_ORCHESTRATION } from './contracts/fleet';
import { RUN_LOCK_ENTITY } from './contracts/names';
import { DRIFT_ORCHESTRATION, OFFBOARD_ORCHESTRATION, ONBOARD_ORCHESTRATION, ROTATION_ORCHESTRATION, SETUP_ORCHESTRATION } from './contracts/operations';
import { createActivityHandler } from './functions/activities';
import type { RunLockState } from './orchestrators/runLock';

/* eslint-disable @typescript-eslint/no-require-imports -- modules load on first use to keep cold start short */
const modules = {
  config: () => require('./config') as typeof import('./config'),
  composition: () => require('./composition') as typeof import('./composition'),
  setupHttp: () => require('./functions/setupHttp') as typeof import('./functions/setupHttp'),
  operationsHttp: () => require('./functions/operationsHttp') as typeof import('./functions/operationsHttp'),
  environmentsHttp: () => require('./functions/environmentsHttp') as typeof import('./functions/environmentsHttp'),
  dashboardHttp: () => require('./functions/dashboardHttp') as typeof import('./functions/dashboardHttp'),
  rotationTriggers: () => require('./functions/rotationTriggers') as typeof import('./functions/rotationTriggers'),
  tenantsHttp: () => require('./functions/tenantsHttp') as typeof import('./functions/tenantsHttp'),
  onboardTenant: () => require('./orchestrators/onboardTenant') as typeof import('./orchestrators/onboardTenant'),
  offboardTenant: () => require('./orchestrators/offboardTenant') as typeof import('./orchestrators/offboardTenant'),
  setupEnvironment: () => require('./orchestrators/setupEnvironment') as typeof import('./orchestrators/setupEnvironment'),
  rotateCredential: () => require('./orchestrators/rotateCredential') as typeof import('./orchestrators/rotateCredential'),
  checkDrift: () => require('./orchestrators/checkDrift') as typeof import('./orchestrators/checkDrift'),
  runLock: () => require('./orchestrators/runLock') as typeof import('./orchestrators/runLock'),
  rotateFleet: () => require('./orchestrators/rotateFleet') as typeof import('./orchestrators/rotateFleet'),
  fleetRotation: () => require('./functions/fleetRotation') as typeof import('./functions/fleetRotation'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

const appConfig = (): AppConfig => modules.config().appConfig();
const productServices = (): ProductServices => modules.composition().productServices();

/** A value built on first use, then kept. */
function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

/** A handler whose implementation is built (and its module loaded) on its first invocation. */
function deferred<A extends unknown[], R>(make: () => (...args: A) => R): (...args: A) => R {
  const handler = once(make);
  return (...args) => handler()(...args);
}

const environments = once(() => modules.environmentsHttp().createEnvironmentsHandlers(productServices));
const rotation = once(() => modules.rotationTriggers().createRotationTriggers(productServices));
const fleet = once(() => modules.fleetRotation().createFleetRotation(appConfig));
const tenants = once(() => modules.tenantsHttp().createTenantHandlers(productServices));

app.setup({ enableHttpStream: false });

// The orchestrators run through delegating generators: replay sees exactly the tasks they yield.
df.app.orchestration(SETUP_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.setupEnvironment().setupEnvironment(context);
});
df.app.orchestration(ROTATION_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.rotateCredential().rotateCredential(context);
});
df.app.orchestration(DRIFT_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.checkDrift().checkDrift(context);
});
df.app.orchestration(FLEET_ROTATION_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.rotateFleet().rotateFleet(context);
});
// Partner mode: a customer tenant's onboarding (consent) and removal.
df.app.orchestration(ONBOARD_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.onboardTenant().onboardTenant(context);
});
df.app.orchestration(OFFBOARD_ORCHESTRATION, function* (context: OrchestrationContext): Generator<Task, unknown, unknown> {
  return yield* modules.offboardTenant().offboardTenant(context);
});

// One run per environment at a time: every run claims the environment from this entity first.
df.app.entity<RunLockState>(RUN_LOCK_ENTITY, (context: EntityContext<RunLockState>) => {
  modules.runLock().environmentRunEntity(context);
});

for (const name of ACTIVITY_NAMES) {
  if (RUN_STARTING_ACTIVITIES.includes(name)) continue;
  df.app.activity(name, { handler: createActivityHandler(name as ProductActivityName, productServices) });
}

// Starts rotations through the one start path: the durable client is its input binding.
df.app.activity('startRotations', {
  extraInputs: [df.input.durableClient()],
  // The same envelope as every activity's: failures worth retrying are thrown.
  handler: async (input: unknown, context: InvocationContext) => ({ ok: true, value: await fleet().startRotations(input as StartRotationsInput, df.getClient(context)) }),
});

df.app.client.http('setupHttp', {
  route: 'environments/{environmentId}/setup',
  methods: ['POST'],
  authLevel: 'function',
  handler: deferred(() => modules.setupHttp().createSetupHandler(appConfig, () => productServices().registry)),
});

df.app.client.http('listOperationsHttp', {
  route: 'operations',
  methods: ['GET'],
  authLevel: 'function',
  handler: deferred(() => modules.operationsHttp().listOperationsHttp),
});

df.app.client.http('getOperationHttp', {
  route: 'operations/{instanceId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: deferred(() => modules.operationsHttp().getOperationHttp),
});

df.app.client.http('raiseEventHttp', {
  route: 'operations/{instanceId}/events/{eventName}',
  methods: ['POST'],
  authLevel: 'function',
  handler: deferred(() => modules.operationsHttp().raiseEventHttp),
});

app.http('listEnvironmentsHttp', {
  route: 'environments',
  methods: ['GET'],
  authLevel: 'function',
  handler: deferred(() => environments().listEnvironmentsHttp),
});

app.http('getEnvironmentHttp', {
  route: 'environments/{environmentId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: deferred(() => environments().getEnvironmentHttp),
});

app.http('listTenantsHttp', {
  route: 'tenants',
  methods: ['GET'],
  authLevel: 'function',
  handler: deferred(() => tenants().listTenantsHttp),
});

df.app.client.http('onboardTenantHttp', {
  route: 'tenants/{tenantId}/onboard',
  methods: ['POST'],
  authLevel: 'function',
  handler: deferred(() => tenants().onboardTenantHttp),
});

df.app.client.http('removeTenantHttp', {
  route: 'tenants/{tenantId}',
  methods: ['DELETE'],
  authLevel: 'function',
  handler: deferred(() => tenants().removeTenantHttp),
});

app.http('dashboardHttp', {
  route: 'dashboard',
  methods: ['GET'],
  // The page holds no data and no key; every call it makes needs the function key (docs/security.md).
  authLevel: 'anonymous',
  handler: deferred(() => modules.dashboardHttp().createDashboardHandler(appConfig)),
});

df.app.client.http('fleetRotateHttp', {
  route: 'fleet/rotate',
  methods: ['POST'],
  authLevel: 'function',
  handler: deferred(() => fleet().fleetRotateHttp),
});

df.app.client.http('rotateHttp', {
  route: 'environments/{environmentId}/rotate',
  methods: ['POST'],
  authLevel: 'function',
  handler: deferred(() => rotation().rotateHttp),
});

// Schedules come from app settings (%NAME% is resolved by the host), so they can change without a deployment.
df.app.client.timer('rotationSweep', {
  schedule: '%ROTATION_SWEEP_SCHEDULE%',
  handler: deferred(() => rotation().rotationSweep),
});

df.app.client.timer('driftCheck', {
  schedule: '%DRIFT_CHECK_SCHEDULE%',
  handler: deferred(() => rotation().driftCheck),
});

df.app.client.eventGrid('secretExpiryEvents', {
  handler: deferred(() => rotation().secretExpiryEvents),
});
