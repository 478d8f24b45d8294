/**
 * Test helper: the whole function app on the local runtime against an in-process sandbox, driven over
 * HTTP the way a user drives it. Collects every HTTP response body and log line so tests can scan
 * them for leaked secrets.
 */
// Must come first: lets @azure/functions register for real under jest (virtual @azure/functions-core).
import '../runtime/helpers/functionsCore';
import type { InstanceStatus, LogEntry } from '../../runtime';
import { startSandboxedApp, type SandboxedApp, type SandboxedAppOptions } from '../../runtime/sandboxedApp';

export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface TestApp extends SandboxedApp {
  /** Holds the app's durable state and logs; removed by `stop()`. */
  temporaryDir: string;
  logs: LogEntry[];
  /** Every response body the tests saw (for leak scans). */
  responses: string[];
  api<T = Record<string, unknown>>(method: string, route: string, body?: unknown, init?: { key?: string | null; headers?: Record<string, string>; rawBody?: string }): Promise<ApiReply<T>>;
  control<T = Record<string, unknown>>(route: string, body?: unknown, method?: string): Promise<T>;
  /** Waits until the operation, read over HTTP, satisfies `until` (default: a terminal status). */
  waitForOperation(instanceId: string, until?: (op: Operation) => boolean, timeoutMs?: number): Promise<Operation>;
  advanceClock(duration: string): Promise<void>;
  /**
   * Waits for the operation to end (or satisfy `until`), moving the sandbox clock by `step` (default one
   * minute) whenever the run waits on timers and nothing else (F&O's next batch run, Entra's sign-in
   * log, a poll): what virtual time does while a person watches. A wait for a person is left alone
   * unless `throughPersonWaits` (the person has acted; the run's polls will see it).
   */
  waitMovingClock(instanceId: string, options?: { until?: (op: Operation) => boolean; step?: string; timeoutMs?: number; throughPersonWaits?: boolean }): Promise<Operation>;
  environmentUrl(id: string): string;
  /**
   * What an administrator does with manual instructions: reads the Key Vault secret version they name
   * (as the operator, never through the product) and enters it with the application id on F&O's Email
   * parameters form, with Graph as the batch provider.
   */
  enterInFinOps(environmentId: string, instructions: Record<string, unknown>): Promise<void>;
}

/**
 * How long a wait for an operation lasts by default: less than Jest's 60 s test timeout, so a run that
 * never gets there fails with its last state rather than with Jest's bare timeout.
 */
const WAIT_MS = 45_000;

export interface Operation {
  instanceId: string;
  name: string;
  runtimeStatus: string;
  steps: Array<{ name: string; status: string; detail?: string }>;
  waitingFor?: { event: string; until: string; instructions: Record<string, unknown> };
  output?: Record<string, unknown>;
  error?: string;
}

const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
/** Longest wait on one driver for a change before looking again (the runtime may have been restarted). */
const SLICE_MS = 250;

/** What an operation's HTTP view is made of. */
function changeKey(status: InstanceStatus | undefined): string {
  return status ? JSON.stringify([status.runtimeStatus, status.lastUpdatedTime, status.customStatus, status.output]) : '';
}

export async function startTestApp(options: SandboxedAppOptions = {}): Promise<TestApp> {
  const logs: LogEntry[] = [];
  const app = await startSandboxedApp({
    port: 0,
    rpcPort: 0,
    schedulerIntervalMs: 20,
    // The sandbox does not throttle unless a test turns its limits on, and tests run many setups at once in
    // one tenant on a virtual clock: the sign-in log's pacing to Graph's 5 reads per 10 s would only add
    // waits. The pacing itself is tested with Graph's limit (the sign-in log client's test, the emergency bench).
    signInLogReadsPer10s: 10_000,
    ...options,
    // Durable state and logs of this app only; removed again when it stops.
    temporaryDirPrefix: 'fno-graph-mail-e2e-',
    sandbox: { ports: { base: 0 }, secretPropagationSeconds: 1, ...(options.sandbox ?? {}) },
    onLog: (entry) => logs.push(entry),
  });
  const temporaryDir = app.temporaryDir;
  if (temporaryDir === undefined) throw new Error('the test app was started without a directory of its own');
  const responses: string[] = [];

  const api: TestApp['api'] = async (method, route, body, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const key = init.key === undefined ? app.endpoints.functionKey : init.key;
    if (key !== null) headers['x-functions-key'] = key;
    let payload: string | undefined = init.rawBody;
    if (payload === undefined && body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${app.endpoints.functionsUrl}${route}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    responses.push(text);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (e.g. the host's empty 401): tests read `text` then.
    }
    return { status: response.status, headers: response.headers, body: parsed as never, text };
  };

  const control: TestApp['control'] = async (route, body, method) => {
    const response = await fetch(`${app.endpoints.controlUrl}${route}`, {
      method: method ?? (body === undefined ? 'GET' : 'POST'),
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`control ${route} answered ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : {}) as never;
  };

  /**
   * Reads the operation over HTTP, as a user would, each time the durable driver reports a change of
   * the instance (status, steps, output); a restarted runtime is picked up within `SLICE_MS`.
   */
  const waitForOperation: TestApp['waitForOperation'] = async (instanceId, until = (op) => TERMINAL.has(op.runtimeStatus), timeoutMs = WAIT_MS) => {
    const deadline = Date.now() + timeoutMs;
    let last: Operation | undefined;
    for (;;) {
      const driver = app.runtime.durable;
      const seen = changeKey(driver.getStatus(instanceId));
      const reply = await api<Operation>('GET', `/api/operations/${instanceId}`);
      if (reply.status === 200) {
        last = reply.body;
        if (until(last)) return last;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await driver.waitFor(instanceId, (s) => changeKey(s) !== seen, { timeoutMs: Math.min(SLICE_MS, left) }).catch(() => undefined);
    }
    throw new Error(`operation ${instanceId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  };

  const waitMovingClock: TestApp['waitMovingClock'] = async (instanceId, options = {}) => {
    const until = options.until ?? ((op: Operation) => TERMINAL.has(op.runtimeStatus));
    const step = options.step ?? 'PT1M';
    const deadline = Date.now() + (options.timeoutMs ?? WAIT_MS);
    // Read over HTTP again only when the instance changed: most turns of this loop only move the clock.
    let reply: ApiReply<Operation> | undefined;
    let seen: { durable: unknown; revision: number | undefined } | undefined;
    for (;;) {
      const durable = app.runtime.durable;
      const revision = durable.pendingWork(instanceId)?.revision;
      if (!reply || reply.status !== 200 || seen?.durable !== durable || seen.revision !== revision || revision === undefined) {
        reply = await api<Operation>('GET', `/api/operations/${instanceId}`);
        seen = { durable, revision };
      }
      if (reply.status === 200 && until(reply.body)) return reply.body;
      if (Date.now() > deadline) throw new Error(`operation ${instanceId} did not reach the expected state; last: ${JSON.stringify(reply.body)}`);
      // Read after the GET: the instance may have moved on meanwhile.
      const work = durable.pendingWork(instanceId);
      const onlyTimers = work !== undefined && !work.episodePending && work.activities === 0 && work.timers.length > 0;
      if (onlyTimers && reply.status === 200 && (reply.body.waitingFor === undefined || options.throughPersonWaits)) await control('/clock', { advance: step });
      await app.runtime.durable.whenIdle({ timeoutMs: 2_000 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  return {
    ...app,
    waitMovingClock,
    // The runtime is replaced by restartRuntime: always the current one.
    get runtime() {
      return app.runtime;
    },
    temporaryDir,
    logs,
    responses,
    api,
    control,
    waitForOperation,
    advanceClock: async (duration) => {
      await control('/clock', { advance: duration });
    },
    async enterInFinOps(environmentId, instructions) {
      const { ClientSecretCredential } = await import('@azure/identity');
      const { SecretClient } = await import('@azure/keyvault-secrets');
      const operator = new ClientSecretCredential(app.endpoints.tenantId, app.endpoints.operator.clientId, app.endpoints.operator.clientSecret, {
        authorityHost: app.endpoints.authorityHost,
        disableInstanceDiscovery: true,
      });
      const vault = new SecretClient(app.endpoints.keyVaultUrl, operator, { disableChallengeResourceVerification: true });
      const where = instructions.keyVaultSecret as { name: string; version: string };
      const secret = (await vault.getSecret(where.name, { version: where.version })).value ?? '';
      await control(`/finops/${environmentId}/form`, { applicationId: instructions.applicationId, secret, batchProvider: 'Graph' });
    },
    environmentUrl: (id) => {
      const env = app.endpoints.environments.find((e) => e.id === id);
      if (!env) throw new Error(`no sandbox environment ${id}`);
      return env.url;
    },
  };
}
