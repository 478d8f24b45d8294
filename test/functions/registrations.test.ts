/**
 * What the function app registers, captured exactly as the Functions worker sees it (virtual
 * `@azure/functions-core`): names, trigger types, routes, methods, auth levels, durable bindings.
 * These names and routes are the public contract documented in the README.
 */
import { captureFunctionApp } from '../runtime/helpers/functionsCore';
import * as path from 'node:path';

const registry = captureFunctionApp(path.join(__dirname, '..', '..', 'src', 'index.ts'));

describe('function app registrations', () => {
  it('registers the HTTP API with function-level auth', () => {
    const http = registry
      .httpFunctions()
      .map((f) => ({ name: f.name, route: f.http?.route, methods: [...(f.http?.methods ?? [])].sort(), authLevel: f.http?.authLevel, durableClient: f.usesDurableClient }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(http).toEqual([
      { name: 'dashboardHttp', route: 'dashboard', methods: ['GET'], authLevel: 'anonymous', durableClient: false },
      { name: 'fleetRotateHttp', route: 'fleet/rotate', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'getEnvironmentHttp', route: 'environments/{environmentId}', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'getOperationHttp', route: 'operations/{instanceId}', methods: ['GET'], authLevel: 'function', durableClient: true },
      { name: 'listEnvironmentsHttp', route: 'environments', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'listOperationsHttp', route: 'operations', methods: ['GET'], authLevel: 'function', durableClient: true },
      { name: 'listTenantsHttp', route: 'tenants', methods: ['GET'], authLevel: 'function', durableClient: false },
      { name: 'onboardTenantHttp', route: 'tenants/{tenantId}/onboard', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'raiseEventHttp', route: 'operations/{instanceId}/events/{eventName}', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'removeTenantHttp', route: 'tenants/{tenantId}', methods: ['DELETE'], authLevel: 'function', durableClient: true },
      { name: 'rotateHttp', route: 'environments/{environmentId}/rotate', methods: ['POST'], authLevel: 'function', durableClient: true },
      { name: 'setupHttp', route: 'environments/{environmentId}/setup', methods: ['POST'], authLevel: 'function', durableClient: true },
    ]);
  });

  it('registers the orchestrations, the run lock entity and every activity, by their public names', () => {
    expect(registry.orchestrations().map((f) => [f.name, f.triggerType])).toEqual([
      ['setupEnvironment', 'orchestrationTrigger'],
      ['rotateCredential', 'orchestrationTrigger'],
      ['checkDrift', 'orchestrationTrigger'],
      ['rotateFleet', 'orchestrationTrigger'],
      ['onboardTenant', 'orchestrationTrigger'],
      ['offboardTenant', 'orchestrationTrigger'],
    ]);
    expect(registry.byTrigger('entityTrigger').map((f) => f.name)).toEqual(['environmentRun']);
    // Spelled out: the names are what durable history records, so renaming one breaks runs in flight.
    expect(registry.activities().map((f) => f.name).sort()).toEqual(
      [
        'checkConsent',
        'checkTenantConsent',
        'createClientSecret',
        'deliverToFinOps',
        'describeFinOps',
        'describeOperator',
        'ensureServicePrincipal',
        'grantAdminConsent',
        'inspectEnvironment',
        'listFleetEnvironments',
        'notify',
        'prepareMailboxScope',
        'readEnvironment',
        'readFinOpsEvidence',
        'recordDelivery',
        'recordFinOpsEvidence',
        'recordTenant',
        'registerApplication',
        'removeOrphanedCredentials',
        'removeRegistryRecord',
        'removeTenantApplication',
        'revokePreviousCredentials',
        'sendFinOpsTestEmail',
        'startRotations',
        'verifyCredential',
        'verifyMailboxScope',
      ].sort(),
    );
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
