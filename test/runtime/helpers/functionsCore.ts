/**
 * Jest stand-in for the worker's `@azure/functions-core`, so `@azure/functions` registers for real in
 * tests: importing this module installs a virtual mock that resolves to the runtime's recording module
 * (Jest does not use Node's resolver, so the runtime's own module hook does not apply here).
 * Import it before anything loads a function app. `captureFunctionApp` then loads an entry module in
 * isolation and returns its registry: names, trigger types, routes, methods, auth levels, schedules.
 */
import * as path from 'node:path';
import { coreState } from '../../../runtime/functionsCore';
import { buildRegistry, type Registry } from '../../../runtime/registry';

jest.mock('@azure/functions-core', () => jest.requireActual<typeof import('../../../runtime/functionsCore')>('../../../runtime/functionsCore'), {
  virtual: true,
});

/** Loads `entry` in a fresh module registry and returns exactly what it registered. */
export function captureFunctionApp(entry: string): Registry {
  const state = coreState();
  const before = state.nextSequence;
  jest.isolateModules(() => {
    require(path.resolve(entry));
  });
  const registrations = state.registrations.filter((r) => r.sequence >= before);
  if (registrations.length === 0) throw new Error(`${entry} registered no functions (is @azure/functions-core mocked?)`);
  return buildRegistry(registrations);
}
