/**
 * The function app on the local runtime against an in-process sandbox, set up for measuring: ephemeral
 * ports and directories, a call recorder on the sandbox, timer schedules that never fire on their own
 * (the bench runs the sweep when it wants to count it), and HTTP helpers that drive the app the way a
 * user does. One per process: msal-node keeps the managed identity endpoint it first used for the
 * life of the process (`ManagedIdentityClient.identitySource`), so a second sandbox's would be ignored;
 * the bench runs each app in a child process (see worker.ts).
 */
import { startSandboxedApp, type SandboxedApp } from '../runtime/sandboxedApp';
import { CallRecorder } from './calls';

/** February 30th: a valid NCRONTAB expression with no occurrence, so timers run only when asked. */
export const NEVER = '0 0 0 30 2 *';

export interface BenchAppOptions {
  latencyMs: number;
  secretPropagationSeconds: number;
  /** Durable driver and timer scheduler interval; the runtime's default is 100 ms. */
  schedulerIntervalMs?: number;
  environmentIds?: string[];
  appSettings?: Record<string, string>;
  /** Graph roles of the app's identity (default: the sandbox's, without the sign-in log permissions). */
  managedIdentityRoles?: string[];
  /** F&O's email batch at start (default stopped). */
  finopsBatch?: { running: boolean; intervalMinutes?: number };
  /** Partner mode: the operator application the template creates, named by OPERATOR_CLIENT_ID. */
  partner?: boolean;
  /** F&O listeners kept for the environments of customer tenants added later (the sandbox's default: 6). */
  finopsSparePorts?: number;
  /** F&O listeners on ::1 too (default true; see the sandbox's `finopsIpv6`). */
  finopsIpv6?: boolean;
}

export interface RunObservation {
  runtimeStatus: string;
  /** performance.now() when the poll that saw the terminal status returned. */
  observedAtMs: number;
  output: unknown;
}

export interface BenchApp {
  app: SandboxedApp;
  recorder: CallRecorder;
  api(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Polls `GET /api/operations/{id}` every `pollMs` until the run ends. */
  waitForRun(instanceId: string, pollMs: number, timeoutMs?: number): Promise<RunObservation>;
  environmentUrl(id: string): string;
  stop(): Promise<void>;
}

const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export async function startBenchApp(options: BenchAppOptions): Promise<BenchApp> {
  // Durable state and logs of this app only, removed when it stops.
  const app = await startSandboxedApp({
    port: 0,
    rpcPort: 0,
    temporaryDirPrefix: 'fno-graph-mail-bench-',
    ...(options.schedulerIntervalMs !== undefined ? { schedulerIntervalMs: options.schedulerIntervalMs } : {}),
    sandbox: {
      ports: { base: 0 },
      latencyMs: options.latencyMs,
      secretPropagationSeconds: options.secretPropagationSeconds,
      ...(options.environmentIds ? { environmentIds: options.environmentIds } : {}),
      ...(options.managedIdentityRoles ? { managedIdentityRoles: options.managedIdentityRoles } : {}),
      ...(options.finopsBatch ? { finopsBatch: options.finopsBatch } : {}),
      ...(options.finopsSparePorts !== undefined ? { finopsSparePorts: options.finopsSparePorts } : {}),
      ...(options.finopsIpv6 !== undefined ? { finopsIpv6: options.finopsIpv6 } : {}),
    },
    ...(options.partner ? { partner: {} } : {}),
    appSettings: { ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER, ...(options.appSettings ?? {}) },
  });
  const recorder = new CallRecorder(app.sandbox.state);

  const api: BenchApp['api'] = async (method, route, body) => {
    const response = await fetch(`${app.endpoints.functionsUrl}${route}`, {
      method,
      headers: { 'x-functions-key': app.endpoints.functionKey, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };

  const waitForRun: BenchApp['waitForRun'] = async (instanceId, pollMs, timeoutMs = 120_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const reply = await api('GET', `/api/operations/${instanceId}`);
      const observedAtMs = performance.now();
      const body = reply.body as { runtimeStatus?: string; output?: unknown } | undefined;
      if (reply.status === 200 && body?.runtimeStatus && TERMINAL.has(body.runtimeStatus)) {
        return { runtimeStatus: body.runtimeStatus, observedAtMs, output: body.output };
      }
      if (observedAtMs > deadline) throw new Error(`${instanceId} did not finish within ${timeoutMs} ms (last: ${JSON.stringify(body)})`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  };

  return {
    app,
    recorder,
    api,
    waitForRun,
    environmentUrl: (id) => {
      const env = app.endpoints.environments.find((e) => e.id === id);
      if (!env) throw new Error(`the sandbox has no F&O environment ${id}`);
      return env.url;
    },
    stop: () => app.stop(),
  };
}
