/**
 * Registration capture: loads a function app's entry module with `@azure/functions-core` resolved to
 * our recording module, and describes what the app registered (names, trigger types, HTTP routes,
 * methods, auth levels, timer schedules, extra inputs such as the durable client) together with the
 * handlers and the programming model needed to invoke them.
 */
import Module from 'node:module';
import * as path from 'node:path';
import {
  coreState,
  type FunctionCallback,
  type FunctionMetadata,
  type ProgrammingModel,
  type RecordedRegistration,
  type RpcBindingInfo,
} from './functionsCore';

export type AuthLevel = 'anonymous' | 'function' | 'admin';

export interface BindingDescription {
  name: string;
  type: string;
  direction: 'in' | 'out' | 'inout';
  /** Every other option the binding was registered with. */
  options: Record<string, unknown>;
}

export interface HttpTriggerDescription {
  /** Route template without the `api/` prefix; the function name when none was given. */
  route: string;
  methods: string[];
  authLevel: AuthLevel;
}

export interface TimerTriggerDescription {
  schedule: string;
  runOnStartup: boolean;
  useMonitor: boolean | undefined;
}

export interface FunctionRegistration {
  name: string;
  /** The trigger binding type as registered, e.g. `httpTrigger`, `timerTrigger`, `orchestrationTrigger`. */
  triggerType: string;
  trigger: BindingDescription;
  http?: HttpTriggerDescription;
  timer?: TimerTriggerDescription;
  extraInputs: BindingDescription[];
  extraOutputs: BindingDescription[];
  returnBinding?: BindingDescription | undefined;
  /** True when the function receives a durable client input (`df.app.client.*`). */
  usesDurableClient: boolean;
  handler: FunctionCallback;
  metadata: FunctionMetadata;
  programmingModel: ProgrammingModel;
}

export interface Registry {
  readonly functions: readonly FunctionRegistration[];
  /** Function names are case-insensitive, as in the Functions host. */
  get(name: string): FunctionRegistration | undefined;
  byTrigger(triggerType: string): FunctionRegistration[];
  httpFunctions(): FunctionRegistration[];
  orchestrations(): FunctionRegistration[];
  activities(): FunctionRegistration[];
}

export class RegistrationError extends Error {
  override name = 'RegistrationError';
}

const CORE_MODULE = '@azure/functions-core';
const HOOK_KEY = Symbol.for('fno-graph-mail.runtime.coreHook');

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

/**
 * Makes `require('@azure/functions-core')` resolve to our recording module in plain Node. Only that
 * one request string is redirected; every other resolution goes to Node unchanged. Must run before
 * the app's first `app.*` call (the library caches the core module at its first registration).
 * Under Jest, Node's resolver is not used: tests use the virtual mock in test/runtime/helpers.
 */
export function installFunctionsCoreHook(): void {
  const moduleApi = Module as unknown as { _resolveFilename: ResolveFilename } & Record<symbol, unknown>;
  if (moduleApi[HOOK_KEY]) return;
  const original = moduleApi._resolveFilename;
  const target = require.resolve('./functionsCore');
  const patched: ResolveFilename = function (this: unknown, request, parent, isMain, options) {
    if (request === CORE_MODULE) return target;
    return original.call(this, request, parent, isMain, options);
  };
  moduleApi._resolveFilename = patched;
  moduleApi[HOOK_KEY] = { original };
}

/** Undoes `installFunctionsCoreHook` (tests and embedding hosts that want Node's resolver back). */
export function uninstallFunctionsCoreHook(): void {
  const moduleApi = Module as unknown as { _resolveFilename: ResolveFilename } & Record<symbol, unknown>;
  const saved = moduleApi[HOOK_KEY] as { original: ResolveFilename } | undefined;
  if (!saved) return;
  moduleApi._resolveFilename = saved.original;
  moduleApi[HOOK_KEY] = undefined;
}

const capturedByEntry = new Map<string, RecordedRegistration[]>();

/**
 * Loads the app's entry module and returns what it registered. Loading the same entry twice in one
 * process returns the first capture (Node caches modules, so the app does not register again).
 */
export function loadFunctionApp(entryModulePath: string): Registry {
  installFunctionsCoreHook();
  const entry = path.resolve(entryModulePath);
  const state = coreState();
  const before = state.nextSequence;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(entry);
  const fresh = state.registrations.filter((r) => r.sequence >= before);
  if (fresh.length > 0) {
    capturedByEntry.set(entry, fresh);
    return buildRegistry(fresh);
  }
  const earlier = capturedByEntry.get(entry);
  if (earlier) return buildRegistry(earlier);
  throw new RegistrationError(
    `Loading ${entry} registered no functions. Either it registers none, or "@azure/functions" ` +
      'was used before the runtime could provide "@azure/functions-core" (it then runs in test mode).',
  );
}

/** Builds the registry from recorded registrations (also used by the Jest capture helper). */
export function buildRegistry(records: readonly RecordedRegistration[]): Registry {
  const functions: FunctionRegistration[] = [];
  const seen = new Map<string, string>();
  for (const record of records) {
    const registration = describeRegistration(record);
    const key = registration.name.toLowerCase();
    if (seen.has(key)) {
      throw new RegistrationError(`A function with the name "${registration.name}" is registered twice.`);
    }
    seen.set(key, registration.name);
    functions.push(registration);
  }
  const byName = new Map(functions.map((f) => [f.name.toLowerCase(), f]));
  const byTrigger = (type: string): FunctionRegistration[] =>
    functions.filter((f) => f.triggerType.toLowerCase() === type.toLowerCase());
  return {
    functions,
    get: (name) => byName.get(name.toLowerCase()),
    byTrigger,
    httpFunctions: () => byTrigger('httpTrigger'),
    orchestrations: () => byTrigger('orchestrationTrigger'),
    activities: () => byTrigger('activityTrigger'),
  };
}

function isTriggerType(type: string): boolean {
  return /trigger$/i.test(type);
}

function describeBinding(name: string, info: RpcBindingInfo): BindingDescription {
  const { type, direction, ...options } = info;
  delete options.name;
  return {
    name,
    type: typeof type === 'string' ? type : 'unknown',
    direction: direction === 'out' || direction === 'inout' ? direction : 'in',
    options,
  };
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

export function describeRegistration(record: RecordedRegistration): FunctionRegistration {
  const { metadata } = record;
  if (!record.programmingModel) {
    throw new RegistrationError(`Function "${metadata.name}" registered before any programming model was set.`);
  }
  let trigger: BindingDescription | undefined;
  let returnBinding: BindingDescription | undefined;
  const extraInputs: BindingDescription[] = [];
  const extraOutputs: BindingDescription[] = [];
  for (const [name, info] of Object.entries(metadata.bindings)) {
    const binding = describeBinding(name, info);
    if (isTriggerType(binding.type)) trigger = binding;
    else if (name === '$return') returnBinding = binding;
    else if (binding.direction === 'in') extraInputs.push(binding);
    else extraOutputs.push(binding);
  }
  if (!trigger) throw new RegistrationError(`Function "${metadata.name}" has no trigger binding.`);

  const registration: FunctionRegistration = {
    name: metadata.name,
    triggerType: trigger.type,
    trigger,
    extraInputs,
    extraOutputs,
    returnBinding,
    usesDurableClient: extraInputs.some((b) => isDurableClientType(b.type)),
    handler: record.callback,
    metadata,
    programmingModel: record.programmingModel,
  };

  if (trigger.type.toLowerCase() === 'httptrigger') {
    const route = typeof trigger.options.route === 'string' && trigger.options.route.trim() !== '' ? trigger.options.route : metadata.name;
    const authLevel = trigger.options.authLevel;
    registration.http = {
      route: route.replace(/^\/+|\/+$/g, ''),
      methods: (stringArray(trigger.options.methods) ?? ['GET', 'POST']).map((m) => m.toUpperCase()),
      authLevel: authLevel === 'function' || authLevel === 'admin' ? authLevel : 'anonymous',
    };
  } else if (trigger.type.toLowerCase() === 'timertrigger') {
    registration.timer = {
      schedule: typeof trigger.options.schedule === 'string' ? trigger.options.schedule : '',
      runOnStartup: trigger.options.runOnStartup === true,
      useMonitor: typeof trigger.options.useMonitor === 'boolean' ? trigger.options.useMonitor : undefined,
    };
  }
  return registration;
}

export function isDurableClientType(type: string): boolean {
  return type === 'durableClient' || type === 'orchestrationClient';
}
