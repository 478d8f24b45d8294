/**
 * Invokes a registered function the way the Node.js worker does: through the programming model the
 * app registered (`@azure/functions`' own `InvocationModel`), so trigger data is converted by the
 * library itself (RPC typed data → `HttpRequest`, timer object, durable client input, ...), with the
 * app's pre/post invocation hooks around the call, and the library's own response conversion after.
 */
import { randomUUID } from 'node:crypto';
import { coreState, type RpcInvocationResponse, type RpcLogLevel, type RpcTypedData } from './functionsCore';
import type { LogLevel, RuntimeLog } from './logs';
import { isDurableClientType, type FunctionRegistration } from './registry';

export interface InvocationRequest {
  registration: FunctionRegistration;
  /** Trigger input as the host would send it. */
  trigger: RpcTypedData | undefined;
  /** Trigger metadata as the host would send it (the library ignores it for HTTP and timer). */
  triggerMetadata?: Record<string, RpcTypedData>;
  /** What the host logs as the reason, e.g. "This function was programmatically called via the host APIs." */
  reason?: string;
  invocationId?: string;
  /** Extra fields for every log line of this invocation (e.g. the orchestration instance id). */
  logFields?: { instanceId?: string };
  /** Skip the host's "Executing"/"Executed" lines (orchestration replays would flood the log). */
  quiet?: boolean;
}

export type InvocationOutcome =
  | { ok: true; invocationId: string; response: RpcInvocationResponse; result: unknown }
  | { ok: false; invocationId: string; error: Error };

export interface InvokerOptions {
  log: RuntimeLog;
  /** Input data for non-trigger input bindings, by binding type (the durable client binding, mostly). */
  inputProvider?: (registration: FunctionRegistration, bindingName: string, bindingType: string) => RpcTypedData | undefined;
}

/** Maps the library's log levels to ours (they are the same strings). */
function toLogLevel(level: RpcLogLevel): LogLevel {
  return level;
}

export class FunctionInvoker {
  readonly #log: RuntimeLog;
  readonly #inputProvider: InvokerOptions['inputProvider'];
  readonly #appHookData: Record<string, unknown> = {};

  constructor(options: InvokerOptions) {
    this.#log = options.log;
    this.#inputProvider = options.inputProvider;
  }

  get appHookData(): Record<string, unknown> {
    return this.#appHookData;
  }

  async invoke(request: InvocationRequest): Promise<InvocationOutcome> {
    const { registration } = request;
    const invocationId = request.invocationId ?? randomUUID();
    const functionName = registration.name;
    const fields = { functionName, invocationId, ...request.logFields };
    const realStart = performance.now();
    if (!request.quiet) {
      this.#log.host('information', `Executing 'Functions.${functionName}' (Reason='${request.reason ?? 'This function was programmatically called via the host APIs.'}', Id=${invocationId})`, fields);
    }

    const inputData = [{ name: registration.trigger.name, data: request.trigger ?? null }];
    for (const input of registration.extraInputs) {
      const data = this.#inputProvider?.(registration, input.name, input.type);
      if (data !== undefined) inputData.push({ name: input.name, data });
      else if (isDurableClientType(input.type)) {
        this.#log.host('warning', `No durable client is available for '${functionName}'.`, fields);
      }
    }

    const coreContext = {
      invocationId,
      request: { invocationId, functionId: functionName, inputData, triggerMetadata: request.triggerMetadata ?? {} },
      metadata: registration.metadata,
      state: undefined as 'preInvocationHooks' | 'postInvocationHooks' | 'invocation' | undefined,
      log: (level: RpcLogLevel, category: 'user' | 'system' | 'customMetric', message: string) => {
        this.#log.write({ level: toLogLevel(level), category: category === 'user' ? 'user' : 'system', message, ...fields });
      },
    };

    try {
      const model = registration.programmingModel.getInvocationModel(coreContext);
      const { context, inputs } = await model.getArguments();

      const hookData: Record<string, unknown> = {};
      const pre: Record<string, unknown> = {
        hookData,
        appHookData: this.#appHookData,
        invocationContext: context,
        inputs,
        functionCallback: registration.handler,
      };
      coreContext.state = 'preInvocationHooks';
      for (const hook of hooksNamed('preInvocation')) await hook(pre);
      coreContext.state = 'invocation';

      let result: unknown;
      let error: unknown;
      try {
        result = await model.invokeFunction(context, pre.inputs as unknown[], pre.functionCallback as FunctionRegistration['handler']);
      } catch (err) {
        error = err;
      }

      const post: Record<string, unknown> = {
        hookData,
        appHookData: this.#appHookData,
        invocationContext: context,
        inputs: pre.inputs,
        result,
        error,
      };
      coreContext.state = 'postInvocationHooks';
      for (const hook of hooksNamed('postInvocation')) await hook(post);
      coreContext.state = undefined;
      if (post.error !== undefined && post.error !== null) throw toError(post.error);

      const response = await model.getResponse(context, post.result);
      if (!request.quiet) {
        this.#log.host('information', `Executed 'Functions.${functionName}' (Succeeded, Id=${invocationId}, Duration=${elapsed(realStart)}ms)`, fields);
      }
      return { ok: true, invocationId, response, result: post.result };
    } catch (err) {
      const error = toError(err);
      if (!request.quiet) {
        this.#log.host('error', `Executed 'Functions.${functionName}' (Failed, Id=${invocationId}, Duration=${elapsed(realStart)}ms): ${firstLine(error.message)}`, fields);
      }
      return { ok: false, invocationId, error };
    }
  }

  /** Runs the app's `appStart` / `appTerminate` hooks. */
  async runAppHooks(name: 'appStart' | 'appTerminate', functionAppDirectory: string): Promise<void> {
    const context: Record<string, unknown> = { hookData: this.#appHookData, appHookData: this.#appHookData, functionAppDirectory };
    for (const hook of hooksNamed(name)) await hook(context);
  }
}

function hooksNamed(name: string): Array<(context: Record<string, unknown>) => void | Promise<void>> {
  return coreState()
    .hooks.filter((h) => h.name === name)
    .map((h) => h.callback);
}

/** Handlers may throw anything; the host reports it as an error either way. */
function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  return new Error(JSON.stringify(value) ?? 'Unknown error');
}

function elapsed(start: number): number {
  return Math.round(performance.now() - start);
}

/** Orchestration failures carry the engine's state after a marker; keep log lines to the message. */
export function firstLine(message: string): string {
  const marker = message.indexOf('\n\n$OutOfProcData$:');
  const text = marker >= 0 ? message.slice(0, marker) : message;
  return text.split('\n')[0] ?? text;
}

/** Converts the worker's typed data back to a plain value (the inverse of the library's `toRpcTypedData`). */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json) as unknown;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (data.int !== undefined && data.int !== null) return Number(data.int);
  if (data.double !== undefined && data.double !== null) return data.double;
  if (data.http) return data.http;
  return undefined;
}

/** Turns a value into the typed data the host would send for a JSON-ish input. */
export function toTypedData(value: unknown): RpcTypedData | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return { string: value };
  return { json: JSON.stringify(value) };
}
