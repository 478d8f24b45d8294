/**
 * Our stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects at
 * run time. `@azure/functions` registers every function, hook and its programming model through it;
 * this module records them so the local runtime can invoke the same registrations the host would.
 *
 * State lives on `globalThis` under a registered symbol: Jest may load this file more than once per
 * test file (module isolation), and the runtime must see what the app registered through any copy.
 */

// ---------------------------------------------------------------------------------------------
// The subset of the worker's public core types (`types-core/index.d.ts` of the Node.js worker)
// that `@azure/functions` v4 uses.
// ---------------------------------------------------------------------------------------------

export type RpcLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type RpcLogCategory = 'user' | 'system' | 'customMetric';

export interface RpcBindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  dataType?: 'undefined' | 'string' | 'binary' | 'stream' | null;
  /** Trigger and binding options (route, methods, authLevel, schedule, name, ...). */
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export interface RpcNullableString {
  value?: string | null;
}

export interface RpcHttpCookie {
  name?: string | null;
  value?: string | null;
  domain?: RpcNullableString | null;
  path?: RpcNullableString | null;
  expires?: { value?: { seconds?: number | null; nanos?: number | null } | null } | null;
  secure?: { value?: boolean | null } | null;
  httpOnly?: { value?: boolean | null } | null;
  sameSite?: 'none' | 'lax' | 'strict' | 'explicitNone' | null;
  maxAge?: { value?: number | null } | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null | undefined;
  params?: Record<string, string> | null;
  statusCode?: string | null;
  query?: Record<string, string> | null;
  enableContentNegotiation?: boolean | null;
  cookies?: RpcHttpCookie[] | null;
}

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
}

export interface RpcParameterBinding {
  name?: string | null;
  data?: RpcTypedData | null;
}

export interface RpcInvocationRequest {
  invocationId?: string | null;
  functionId?: string | null;
  inputData?: RpcParameterBinding[] | null;
  triggerMetadata?: Record<string, RpcTypedData> | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: RpcParameterBinding[] | null;
  returnValue?: RpcTypedData | null;
}

export type InvocationState = 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';

export interface CoreInvocationContext {
  invocationId: string;
  request: RpcInvocationRequest;
  metadata: FunctionMetadata;
  state?: InvocationState | undefined;
  log(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export interface InvocationArguments {
  context: unknown;
  inputs: unknown[];
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface InvocationModel {
  getArguments(): Promise<InvocationArguments>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: CoreInvocationContext): InvocationModel;
}

export type HookCallback = (context: Record<string, unknown>) => void | Promise<void>;

/** Mirrors the worker's `Disposable` (the library type-checks nothing beyond `dispose`). */
export class Disposable {
  static from(...items: Array<{ dispose: () => unknown }>): Disposable {
    return new Disposable(() => {
      for (const item of items) item.dispose();
    });
  }

  #callOnDispose: (() => unknown) | undefined;

  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }

  dispose(): unknown {
    const call = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return call?.();
  }
}

// ---------------------------------------------------------------------------------------------
// Recorded state
// ---------------------------------------------------------------------------------------------

export interface RecordedRegistration {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  /** The programming model that was current when the function registered (normally `@azure/functions`). */
  programmingModel: ProgrammingModel | undefined;
  /** Increasing number, so callers can tell which registrations a load produced. */
  sequence: number;
}

export interface RecordedHook {
  name: string;
  callback: HookCallback;
}

export type SystemLogSink = (level: RpcLogLevel, category: RpcLogCategory, message: string) => void;

export interface FunctionsCoreState {
  registrations: RecordedRegistration[];
  hooks: RecordedHook[];
  programmingModel: ProgrammingModel | undefined;
  /** Where library system logs go (`workerSystemLog`); the runtime points it at its log. */
  systemLog: SystemLogSink | undefined;
  nextSequence: number;
}

const STATE_KEY = Symbol.for('fno-graph-mail.runtime.functionsCore');

/** The single recorded state shared by every copy of this module in the process. */
export function coreState(): FunctionsCoreState {
  const holder = globalThis as unknown as Record<symbol, FunctionsCoreState | undefined>;
  let state = holder[STATE_KEY];
  if (!state) {
    state = { registrations: [], hooks: [], programmingModel: undefined, systemLog: undefined, nextSequence: 1 };
    holder[STATE_KEY] = state;
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// The module surface `@azure/functions` calls
// ---------------------------------------------------------------------------------------------

/** Worker version reported to the library; `log` exists, so the library treats it as a modern worker. */
export const version = '3.10.1-local';
export const hostVersion = '4.1037.0-local';

export function registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
  const state = coreState();
  const record: RecordedRegistration = {
    metadata,
    callback,
    programmingModel: state.programmingModel,
    sequence: state.nextSequence++,
  };
  state.registrations.push(record);
  return new Disposable(() => {
    const i = state.registrations.indexOf(record);
    if (i >= 0) state.registrations.splice(i, 1);
  });
}

export function setProgrammingModel(programmingModel: ProgrammingModel): void {
  coreState().programmingModel = programmingModel;
}

export function getProgrammingModel(): ProgrammingModel | undefined {
  return coreState().programmingModel;
}

const KNOWN_HOOKS = new Set(['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log']);

export function registerHook(hookName: string, callback: HookCallback): Disposable {
  if (!KNOWN_HOOKS.has(hookName)) {
    // The worker answers unknown hook names with a RangeError; `app.hook.log` relies on that shape.
    const error = new RangeError(`Unrecognized hook "${hookName}"`) as RangeError & { isAzureFunctionsSystemError: boolean };
    error.isAzureFunctionsSystemError = true;
    throw error;
  }
  const state = coreState();
  const hook: RecordedHook = { name: hookName, callback };
  state.hooks.push(hook);
  return new Disposable(() => {
    const i = state.hooks.indexOf(hook);
    if (i >= 0) state.hooks.splice(i, 1);
  });
}

export function log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
  const sink = coreState().systemLog;
  if (sink) sink(level, category, message);
}
