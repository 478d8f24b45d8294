/**
 * The function app: every trigger, orchestration and activity, registered through `@azure/functions`
 * and `durable-functions` exactly as Azure runs them (the local runtime loads this same module).
 * Handlers resolve settings and SDK clients on first use, so loading this module stays cheap.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { productServices } from './composition';
import { appConfig } from './config';
import { ACTIVITY_NAMES } from './contracts/activities';
import { createActivityHandler } from './functions/activities';
import { createDashboardHandler } from './functions/dashboardHttp';
import { createEnvironmentsHandlers } from './functions/environmentsHttp';
import { getOperationHttp, listOperationsHttp, raiseEventHttp } from './functions/operationsHttp';
import { createSetupHandler } from './functions/setupHttp';
import { ROTATION_ORCHESTRATION, rotateCredential } from './orchestrators/rotateCredential';
import { SETUP_ORCHESTRATION, setupEnvironment } from './orchestrators/setupEnvironment';
import { createRotationTriggers } from './functions/rotationTriggers';

app.setup({ enableHttpStream: false });

df.app.orchestration(SETUP_ORCHESTRATION, setupEnvironment);
df.app.orchestration(ROTATION_ORCHESTRATION, rotateCredential);

for (const name of ACTIVITY_NAMES) {
  df.app.activity(name, { handler: createActivityHandler(name, productServices) });
}

df.app.client.http('setupHttp', {
  route: 'environments/{environmentId}/setup',
  methods: ['POST'],
  authLevel: 'function',
  handler: createSetupHandler(appConfig),
});

df.app.client.http('listOperationsHttp', {
  route: 'operations',
  methods: ['GET'],
  authLevel: 'function',
  handler: listOperationsHttp,
});

df.app.client.http('getOperationHttp', {
  route: 'operations/{instanceId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: getOperationHttp,
});

df.app.client.http('raiseEventHttp', {
  route: 'operations/{instanceId}/events/{eventName}',
  methods: ['POST'],
  authLevel: 'function',
  handler: raiseEventHttp,
});

const environments = createEnvironmentsHandlers(productServices);

app.http('listEnvironmentsHttp', {
  route: 'environments',
  methods: ['GET'],
  authLevel: 'function',
  handler: environments.listEnvironmentsHttp,
});

app.http('getEnvironmentHttp', {
  route: 'environments/{environmentId}',
  methods: ['GET'],
  authLevel: 'function',
  handler: environments.getEnvironmentHttp,
});

app.http('dashboardHttp', {
  route: 'dashboard',
  methods: ['GET'],
  authLevel: 'function',
  handler: createDashboardHandler(appConfig),
});

const rotation = createRotationTriggers(productServices);

df.app.client.http('rotateHttp', {
  route: 'environments/{environmentId}/rotate',
  methods: ['POST'],
  authLevel: 'function',
  handler: rotation.rotateHttp,
});

// Schedules come from app settings (%NAME% is resolved by the host), so they can change without a deployment.
df.app.client.timer('rotationSweep', {
  schedule: '%ROTATION_SWEEP_SCHEDULE%',
  handler: rotation.rotationSweep,
});

df.app.client.timer('driftCheck', {
  schedule: '%DRIFT_CHECK_SCHEDULE%',
  handler: rotation.driftCheck,
});

df.app.client.eventGrid('secretExpiryEvents', {
  handler: rotation.secretExpiryEvents,
});
