/**
 * What the function app registers, captured exactly as the Functions worker sees it (virtual
 * `@azure/functions-core`): names, trigger types, routes, methods, auth levels, durable bindings.
 * These names and routes are the public contract documented in the README.
 */
import { captureFunctionApp } from '../runtime/helpers/functionsCore';
import * as path from 'node:path';
import { ACTIVITY_NAMES } from '../../src/contracts/activities';

const registry = captureFunctionApp(path.join(__dirname, '..', '..', 'src', 'index.ts'));

describe('function app registrations', () => {
  it('registers the HTTP API with function-level auth', () => {
    const http = registry
      .httpFunctions()
      .map((f) => ({ name: f.name, route: f.http?.route, methods: [...(f.http?.methods ?? [])].sort(), authLevel: f.http?.authLevel, durableClient: f.usesDurableClient }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(http).toEqual([
      { name: 'dashboardHttp', route: 'dashboard', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'getEnvironmentHttp', route: 'environments/{environmentId}', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'getOperationHttp', route: 'operations/{instanceId}', methods: ['GET'], authLevel: 'function', durableClient: true },
      { name: 'listEnvironmentsHttp', route: 'environments', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'listOperationsHttp', route: 'operations', methods: ['GET'], authLevel: 'function', durableClient: true },
      { name: 'raiseEventHttp', route: 'operations/{instanceId}/events/{eventName}', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'rotateHttp', route: 'environments/{environmentId}/rotate', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'setupHttp', route: 'environments/{environmentId}/setup', methods: ['POST'], authLevel: 'function', durableClient: true },
    ]);
  });

  it('registers the orchestration and every activity the contracts name', () => {
    expect(registry.orchestrations().map((f) => [f.name, f.triggerType])).toEqual([
      ['setupEnvironment', 'orchestrationTrigger'],
      ['rotateCredential', 'orchestrationTrigger'],
    ]);
    expect(registry.activities().map((f) => f.name).sort()).toEqual([...ACTIVITY_NAMES].sort());
    for (const f of registry.activities()) expect(f.triggerType).toBe('activityTrigger');
  });

  it('registers the sweep and drift timers on schedules from app settings, and the Event Grid trigger', () => {
    const timers = registry.byTrigger('timerTrigger').map((f) => [f.name, f.timer?.schedule, f.usesDurableClient]);
    expect(timers).toEqual([
      ['rotationSweep', '%ROTATION_SWEEP_SCHEDULE%', true],
      ['driftCheck', '%DRIFT_CHECK_SCHEDULE%', true],
    ]);
    expect(registry.byTrigger('eventGridTrigger').map((f) => [f.name, f.usesDurableClient])).toEqual([['secretExpiryEvents', true]]);
  });
});
