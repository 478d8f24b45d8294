/**
 * The local runtime's facade: loads the function app's registrations and runs them on this machine
 * without the Functions host: HTTP functions on a loopback port, the durable driver (with the
 * extension's RPC endpoint and webhooks for the unmodified `DurableClient`), timer triggers against
 * the injected clock, Event Grid delivery, and a JSON-lines log of everything.
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Clock } from './clock';
import { systemClock } from './clock';
import { coreState } from './functionsCore';
import { FunctionInvoker } from './invoke';
import { RuntimeLog, type LogEntry } from './logs';
import { isDurableClientType, loadFunctionApp, type FunctionRegistration, type Registry } from './registry';
import { DurableDriver } from './durable/driver';
import { createDurableHttpApi } from './durable/httpApi';
import { durableClientInput, type DurableEndpoints } from './durable/clientBinding';
import { startRpcListener, type RpcListener } from './durable/rpcListener';
import { startHttpHost, type EventDeliveryResult, type HttpHost } from './httpHost';
import { TimerRunner } from './timers';
import { deliverEventGridEvent } from './eventGrid';

export { ManualClock, systemClock, type Clock } from './clock';
export { RuntimeLog, readLogFile, formatLogEntry, type LogEntry } from './logs';
export { loadFunctionApp, installFunctionsCoreHook, type Registry, type FunctionRegistration } from './registry';
export { DurableDriver, type InstanceStatus, type PendingWork, type RuntimeStatus } from './durable/driver';
export { TimerRunner } from './timers';
export type { EventDeliveryResult } from './httpHost';

export interface LocalRuntimeOptions {
  /** The app's entry module (the file that makes the `app.*` / `df.app.*` registrations). */
  entry: string;
  /** HTTP port; default 7071, 0 picks a free port. */
  port?: number;
  /** Durable RPC port; default 17071, 0 picks a free port. */
  rpcPort?: number;
  /** Key for `function`/`admin` level functions and the admin API; generated when omitted. */
  functionKey?: string;
  /** The host's system key: the only key the extension webhooks (`/runtime/webhooks/...`) and `/admin/...` take; generated when omitted. */
  systemKey?: string;
  /** Default `.sandbox/durable` (relative to the working directory). */
  durableDir?: string;
  /** Default `.sandbox/logs`. */
  logsDir?: string;
  clock?: Clock;
  /** App settings, exposed as environment variables while the runtime runs (restored on stop). */
  appSettings?: Record<string, string>;
  /** Scheduler interval of the durable driver and timer runner (default 100 ms). */
  schedulerIntervalMs?: number;
  taskHubName?: string | undefined;
  maxRequestBodyBytes?: number;
  /** Also receives every log entry (e.g. to print them). */
  onLog?: (entry: LogEntry) => void;
}

export interface LocalRuntime {
  /** e.g. `http://127.0.0.1:7071`; functions are under `${url}/api/`. */
  readonly url: string;
  readonly functionKey: string;
  readonly systemKey: string;
  readonly rpcBaseUrl: string;
  readonly registry: Registry;
  readonly durable: DurableDriver;
  readonly timers: TimerRunner;
  readonly log: RuntimeLog;
  /** Delivers an Event Grid event to an `eventGrid` function; resolves with success or failure. */
  deliverEventGridEvent(functionName: string, event: unknown): Promise<EventDeliveryResult>;
  stop(): Promise<void>;
}

export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const clock = options.clock ?? systemClock;
  const functionKey = options.functionKey ?? randomBytes(32).toString('base64url');
  // Distinct from the function key unless a caller insists: the webhooks and the admin API take only this one.
  const systemKey = options.systemKey ?? randomBytes(32).toString('base64url');
  const env = new EnvironmentOverlay();
  env.apply(options.appSettings ?? {});

  const log = new RuntimeLog({ dir: path.resolve(options.logsDir ?? '.sandbox/logs'), clock, echo: options.onLog });
  const core = coreState();
  const previousSink = core.systemLog;
  core.systemLog = (level, category, message) => log.write({ level, category: category === 'user' ? 'user' : 'system', message });

  const cleanups: Array<() => Promise<void> | void> = [
    () => log.close(),
    () => {
      core.systemLog = previousSink;
      env.restore();
    },
  ];
  // Every step runs even when an earlier one fails (an app's terminate hook, say), so the log file is
  // closed and the settings restored; the first failure is reported after.
  const cleanup = async (): Promise<void> => {
    const steps = [...cleanups].reverse();
    cleanups.length = 0;
    const failures: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    const [first] = failures;
    if (first instanceof Error) throw first;
    if (failures.length > 0) throw new Error(`The local runtime did not stop cleanly: ${JSON.stringify(first)}`);
  };

  try {
    const registry = loadFunctionApp(options.entry);
    // Known once both listeners are up; invocations before that get no durable client.
    const endpointsRef: { current?: DurableEndpoints } = {};
    const invoker = new FunctionInvoker({
      log,
      inputProvider: (_registration, _name, type) =>
        isDurableClientType(type) && endpointsRef.current ? { string: JSON.stringify(durableClientInput(endpointsRef.current)) } : undefined,
    });

    const durable = new DurableDriver({
      registry,
      invoker,
      log,
      clock,
      dir: path.resolve(options.durableDir ?? '.sandbox/durable'),
      intervalMs: options.schedulerIntervalMs,
    });
    const durableApi = createDurableHttpApi(durable, () => {
      if (!endpointsRef.current) throw new Error('The runtime is still starting.');
      return endpointsRef.current;
    });
    const timers = new TimerRunner({ registry, invoker, log, clock, intervalMs: options.schedulerIntervalMs });
    const deliver = (functionName: string, event: unknown): Promise<EventDeliveryResult> => deliverEventGridEvent(registry, invoker, functionName, event);

    const rpc: RpcListener = await startRpcListener(durableApi, { port: options.rpcPort, log });
    cleanups.push(() => rpc.close());
    const host: HttpHost = await startHttpHost({
      registry,
      invoker,
      log,
      port: options.port,
      functionKey,
      systemKey,
      maxRequestBodyBytes: options.maxRequestBodyBytes,
      durableApi,
      deliverEventGridEvent: deliver,
      runFunction: (registration, input) => runOnDemand(registration, input, timers, deliver),
    });
    cleanups.push(() => host.close());

    endpointsRef.current = {
      hostOrigin: host.url,
      rpcBaseUrl: rpc.rpcBaseUrl,
      systemKey,
      taskHubName: options.taskHubName ?? 'TestHubName',
      connectionName: 'Storage',
    };
    // durable-functions rewrites management URLs to http://localhost:7071 unless the app's host name is known.
    env.applyIfUnset({ WEBSITE_HOSTNAME: new URL(host.url).host });

    const appDirectory = path.dirname(path.resolve(options.entry));
    await invoker.runAppHooks('appStart', appDirectory);
    durable.start();
    cleanups.push(() => durable.stop());
    timers.start();
    cleanups.push(() => timers.stop());
    cleanups.push(() => invoker.runAppHooks('appTerminate', appDirectory));
    log.host('information', `Local runtime started: ${registry.functions.length} function(s) from ${path.resolve(options.entry)}.`);

    let stopped: Promise<void> | undefined;
    return {
      url: host.url,
      functionKey,
      systemKey,
      rpcBaseUrl: rpc.rpcBaseUrl,
      registry,
      durable,
      timers,
      log,
      deliverEventGridEvent: deliver,
      stop: () => {
        stopped ??= (async () => {
          log.host('information', 'Local runtime stopping.');
          await cleanup();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function runOnDemand(
  registration: FunctionRegistration,
  input: string | undefined,
  timers: TimerRunner,
  deliver: (functionName: string, event: unknown) => Promise<EventDeliveryResult>,
): Promise<void> {
  const type = registration.triggerType.toLowerCase();
  if (type === 'timertrigger') {
    await timers.runNow(registration.name);
    return;
  }
  if (type === 'eventgridtrigger') {
    const result = await deliver(registration.name, input === undefined ? undefined : (JSON.parse(input) as unknown));
    if (!result.ok) throw new Error(result.error ?? 'delivery failed');
    return;
  }
  throw new Error(`Functions triggered by '${registration.triggerType}' cannot be run on demand by the local runtime.`);
}

/** App settings as environment variables for the runtime's lifetime, like the host exposes them. */
class EnvironmentOverlay {
  readonly #saved = new Map<string, string | undefined>();

  apply(settings: Record<string, string>): void {
    for (const [key, value] of Object.entries(settings)) {
      if (!this.#saved.has(key)) this.#saved.set(key, process.env[key]);
      process.env[key] = value;
    }
  }

  applyIfUnset(settings: Record<string, string>): void {
    for (const [key, value] of Object.entries(settings)) {
      if (process.env[key] === undefined) this.apply({ [key]: value });
    }
  }

  restore(): void {
    for (const [key, value] of this.#saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    this.#saved.clear();
  }
}
