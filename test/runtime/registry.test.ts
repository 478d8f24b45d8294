/**
 * Registration capture: the functions the test app registers through `@azure/functions` and
 * `durable-functions` come back with the bindings the host would see.
 */
import './helpers/functionsCore';
import { captureFunctionApp } from './helpers/functionsCore';
import { FIXTURE_APP } from './helpers/runtime';

describe('registration capture', () => {
  const registry = captureFunctionApp(FIXTURE_APP);

  it('reports every function with its trigger type', () => {
    const byName = Object.fromEntries(registry.functions.map((f) => [f.name, f.triggerType]));
    expect(byName).toMatchObject({
      greet: 'activityTrigger',
      flaky: 'activityTrigger',
      sequence: 'orchestrationTrigger',
      retrying: 'orchestrationTrigger',
      startOrchestration: 'httpTrigger',
      ping: 'httpTrigger',
      sweep: 'timerTrigger',
      nightlySweep: 'timerTrigger',
      secretEvents: 'eventGridTrigger',
    });
  });

  it('reports routes, methods and auth levels of HTTP functions', () => {
    expect(registry.get('startOrchestration')?.http).toEqual({ route: 'orchestrators/{name}/{instanceId?}', methods: ['POST'], authLevel: 'function' });
    expect(registry.get('ping')?.http).toEqual({ route: 'ping/{name?}', methods: ['GET'], authLevel: 'anonymous' });
    expect(registry.get('items')?.http).toEqual({ route: 'items/{id:guid}', methods: ['PUT'], authLevel: 'function' });
    expect(registry.get('adminOp')?.http?.authLevel).toBe('admin');
    expect(registry.get('manageInstance')?.http?.methods).toEqual(['GET', 'POST', 'DELETE']);
  });

  it('finds functions case-insensitively, as the host does', () => {
    expect(registry.get('PING')?.name).toBe('ping');
  });

  it('reports the durable client input where the app asked for one', () => {
    expect(registry.get('startOrchestration')?.usesDurableClient).toBe(true);
    expect(registry.get('secretEvents')?.usesDurableClient).toBe(true);
    expect(registry.get('nightlySweep')?.usesDurableClient).toBe(true);
    expect(registry.get('ping')?.usesDurableClient).toBe(false);
    expect(registry.get('startOrchestration')?.extraInputs.map((i) => i.type)).toEqual(['durableClient']);
  });

  it('reports timer schedules', () => {
    expect(registry.get('sweep')?.timer).toEqual({ schedule: '0 */5 * * * *', runOnStartup: false, useMonitor: undefined });
    expect(registry.get('nightlySweep')?.timer?.schedule).toBe('0 30 2 * * *');
  });

  it('lists orchestrations and activities', () => {
    expect(registry.orchestrations().map((f) => f.name)).toEqual(
      expect.arrayContaining(['sequence', 'retrying', 'failing', 'fanOut', 'longWait', 'drifting', 'blocking', 'approval', 'inputs']),
    );
    expect(registry.activities().map((f) => f.name).sort()).toEqual(['blockingStep', 'echoInput', 'explode', 'flaky', 'greet']);
  });
});
