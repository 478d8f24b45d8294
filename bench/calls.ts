/**
 * Counting and timing the calls the sandbox serves. The sandbox records each request (service, method,
 * path, status); the recorder adds when it started and ended in this process's monotonic time, so a
 * run's critical path can be computed from the calls themselves: calls that overlap in time ran in
 * parallel, calls that do not were sequential.
 */
import type { CallRecord, ServiceName } from '../sandbox/types';
import type { SandboxState } from '../sandbox/state';

/** The four columns the API economy is reported in. */
export type ServiceColumn = 'graph' | 'entraToken' | 'keyvault' | 'finops';
export const SERVICE_COLUMNS: readonly ServiceColumn[] = ['graph', 'entraToken', 'keyvault', 'finops'];
export const COLUMN_LABELS: Record<ServiceColumn, string> = { graph: 'Graph', entraToken: 'Entra token', keyvault: 'Key Vault', finops: 'F&O' };

/**
 * What a call did. `read`: GET. `write`: anything that can change a resource (PUT, PATCH, POST,
 * DELETE). `token`: acquiring an access token (managed identity endpoint, the token endpoint) or the
 * OIDC discovery that precedes it — Entra state never changes. `challenge`: Key Vault's 401 answer to
 * the SDK's first, token-less request (the SDK learns the authority and scope from it, once per client).
 */
export type CallKind = 'read' | 'write' | 'token' | 'challenge';

export interface TimedCall {
  service: ServiceName;
  method: string;
  path: string;
  status: number;
  /** The sandbox's clock (epoch ms, real time plus any advance) when the request arrived. */
  at: number;
  /** performance.now() when the sandbox received the request (before its latency). */
  startMs: number;
  /** performance.now() when the answer was ready; undefined while in flight. */
  endMs: number | undefined;
}

export interface ServiceTally {
  total: number;
  reads: number;
  writes: number;
  tokens: number;
  challenges: number;
}

export type CallTally = Record<ServiceColumn, ServiceTally> & { all: ServiceTally };

export function columnOf(call: Pick<TimedCall, 'service'>): ServiceColumn {
  return call.service === 'entra' ? 'entraToken' : call.service;
}

export function kindOf(call: Pick<TimedCall, 'service' | 'method' | 'status'>): CallKind {
  if (call.service === 'entra') return 'token';
  if (call.service === 'keyvault' && call.status === 401) return 'challenge';
  return call.method === 'GET' || call.method === 'HEAD' ? 'read' : 'write';
}

function emptyTally(): ServiceTally {
  return { total: 0, reads: 0, writes: 0, tokens: 0, challenges: 0 };
}

export function tally(calls: readonly TimedCall[]): CallTally {
  const out = { graph: emptyTally(), entraToken: emptyTally(), keyvault: emptyTally(), finops: emptyTally(), all: emptyTally() };
  for (const call of calls) {
    const kind = kindOf(call);
    for (const t of [out[columnOf(call)], out.all]) {
      t.total += 1;
      if (kind === 'read') t.reads += 1;
      else if (kind === 'write') t.writes += 1;
      else if (kind === 'token') t.tokens += 1;
      else t.challenges += 1;
    }
  }
  return out;
}

/** "12 (11 R, 1 W)"-style summary of one service's calls; Entra's are all token requests. */
export function describeTally(t: ServiceTally): string {
  if (t.total === 0) return '0';
  const parts = t.reads + t.writes > 0 || t.tokens === 0 ? [`${t.reads} R`, `${t.writes} W`] : [];
  if (t.tokens > 0) parts.push(`${t.tokens} token`);
  if (t.challenges > 0) parts.push(`${t.challenges} challenge`);
  return `${t.total} (${parts.join(', ')})`;
}

/**
 * Times every call the sandbox records from now on. The sandbox pushes a record when a request arrives
 * and sets its status when the answer is ready; the recorder stamps both moments.
 */
export class CallRecorder {
  readonly #times = new WeakMap<CallRecord, { start: number; end: number | undefined }>();
  readonly #state: SandboxState;
  readonly #calls: CallRecord[];

  constructor(state: SandboxState) {
    this.#state = state;
    const calls = state.calls;
    this.#calls = calls;
    const push = calls.push.bind(calls);
    calls.push = (...records: CallRecord[]): number => {
      for (const record of records) this.#watch(record);
      return push(...records);
    };
  }

  /** A position in the call log; `since(mark)` returns what came after it. */
  mark(): number {
    this.#assertSameLog();
    return this.#calls.length;
  }

  since(mark: number): TimedCall[] {
    this.#assertSameLog();
    return this.#calls.slice(mark).map((record) => {
      const t = this.#times.get(record);
      return {
        service: record.service,
        method: record.method,
        path: record.path,
        status: record.status,
        at: record.at,
        startMs: t?.start ?? Number.NaN,
        endMs: t?.end,
      };
    });
  }

  #watch(record: CallRecord): void {
    const times = { start: performance.now(), end: undefined as number | undefined };
    this.#times.set(record, times);
    let status = record.status;
    Object.defineProperty(record, 'status', {
      configurable: true,
      enumerable: true,
      get: () => status,
      set: (value: number) => {
        status = value;
        times.end = performance.now();
      },
    });
  }

  #assertSameLog(): void {
    // The control API's DELETE /calls replaces the array; the bench never uses it.
    if (this.#state.calls !== this.#calls) throw new Error('the sandbox call log was replaced; marks no longer apply');
  }
}

/**
 * Length of the longest chain of calls where each starts after the previous one ended: the number of
 * sequential dependent calls. Calls that overlap in time are parallel and count once.
 */
export function criticalPathCalls(calls: ReadonlyArray<Pick<TimedCall, 'startMs' | 'endMs'>>): number {
  const sorted = [...calls].filter((c) => c.endMs !== undefined).sort((a, b) => a.startMs - b.startMs);
  const depth: number[] = [];
  let longest = 0;
  for (const [i, call] of sorted.entries()) {
    let before = 0;
    for (let j = 0; j < i; j++) {
      const earlier = sorted[j];
      if (earlier?.endMs !== undefined && earlier.endMs <= call.startMs) before = Math.max(before, depth[j] ?? 0);
    }
    depth[i] = before + 1;
    longest = Math.max(longest, before + 1);
  }
  return longest;
}

/** The Key Vault list calls of a sweep: `GET /secrets` and the pages it links to (the challenge is counted apart). */
export function isVaultListCall(call: Pick<TimedCall, 'service' | 'method' | 'path' | 'status'>): boolean {
  return call.service === 'keyvault' && call.method === 'GET' && call.status !== 401 && /^\/secrets\/?$/.test(call.path);
}
