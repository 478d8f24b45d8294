/**
 * Setup latency: the wall time of a fresh setup, from the HTTP start to the poll that sees it Completed,
 * against its critical path — the sequential dependent calls (from the recorded calls: overlapping calls
 * were parallel) times the sandbox latency, plus the secret propagation delay. Verify attempts refused
 * while the new secret propagated are left out of the path: the propagation delay stands for them.
 * Measured at the tuned scheduler interval and at the runtime's default (each in its own process), to
 * show what the scheduler adds.
 */
import type { EnvironmentRecord } from '../src/contracts/environment';
import { criticalPathCalls, type TimedCall } from './calls';
import { startBenchApp } from './app';
import { figure, median, ms, round, type Figure } from './report';

export interface LatencySampleOptions {
  latencyMs: number;
  secretPropagationSeconds: number;
  schedulerIntervalMs: number;
  samples: number;
  pollMs: number;
}

export interface LatencySample {
  environmentId: string;
  schedulerIntervalMs: number;
  firstInProcess: boolean;
  runtimeStatus: string;
  wallMs: number;
  /** From the HTTP start to the moment the durable driver recorded completion. */
  completedMs: number;
  calls: number;
  refusedVerifyAttempts: number;
  criticalPathCalls: number;
  criticalPathMs: number;
  ratio: number;
  /**
   * A tighter bound: the calls up to the new secret's creation, then whichever is longer of the
   * propagation delay and the calls after it (delivery runs while the secret propagates).
   */
  overlappedPathMs: number;
  /** From the HTTP start to the moment Entra accepts the new secret. */
  secretUsableMs: number;
  /** How long after the secret became usable the successful token request reached Entra. */
  verifyOvershootMs: number;
}

export interface LatencyResult {
  latencyMs: number;
  secretPropagationSeconds: number;
  pollMs: number;
  tuned: LatencySample[];
  runtimeDefault: LatencySample[];
}

export const LATENCY_TARGET_RATIO = 1.25;

/** Fresh setups of `samples` environments, one after the other, in one app (the first is the process's first). */
export async function measureLatencySamples(options: LatencySampleOptions): Promise<LatencySample[]> {
  const { schedulerIntervalMs } = options;
  const ids = Array.from({ length: options.samples }, (_, i) => `latency-${i + 1}`);
  const bench = await startBenchApp({
    latencyMs: options.latencyMs,
    secretPropagationSeconds: options.secretPropagationSeconds,
    schedulerIntervalMs,
    environmentIds: ids,
  });
  const { state } = bench.app.sandbox;
  const samples: LatencySample[] = [];
  try {
    for (const [i, environmentId] of ids.entries()) {
      const mark = bench.recorder.mark();
      const t0 = performance.now();
      const reply = await bench.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: bench.environmentUrl(environmentId) });
      if (reply.status !== 202) throw new Error(`setup of ${environmentId} answered ${reply.status}`);
      const instanceId = `setup-${environmentId}`;
      const run = await bench.waitForRun(instanceId, options.pollMs);
      const calls = bench.recorder.since(mark);
      // The sandbox clock is real time plus an offset; this maps its instants onto performance.now().
      const virtualToPerf = (virtualMs: number): number => virtualMs - (state.now() - performance.now());
      const status = bench.app.runtime.durable.getStatus(instanceId);
      const completedAt = status ? virtualToPerf(Date.parse(status.lastUpdatedTime)) : run.observedAtMs;

      const refused = refusedVerifyAttempts(calls);
      const path = calls.filter((c) => !refused.calls.has(c));
      const pathCalls = criticalPathCalls(path);
      const criticalPathMs = pathCalls * options.latencyMs + options.secretPropagationSeconds * 1000;
      const created = path.find((c) => c.service === 'graph' && c.method === 'POST' && c.path.endsWith('/addPassword'));
      const before = created ? criticalPathCalls(path.filter((c) => c.startMs <= created.startMs)) : pathCalls;
      const after = created?.endMs !== undefined ? criticalPathCalls(path.filter((c) => c.startMs >= (created.endMs ?? 0))) : 0;
      const overlappedPathMs = before * options.latencyMs + Math.max(options.secretPropagationSeconds * 1000, after * options.latencyMs);
      const wallMs = run.observedAtMs - t0;

      const keyId = (run.output as EnvironmentRecord | undefined)?.credential.keyId;
      const credential = state.applications.flatMap((a) => a.passwordCredentials).find((c) => c.keyId === keyId);
      const usableAt = credential ? virtualToPerf(credential.usableFrom) : Number.NaN;
      const accepted = calls.filter((c) => isTokenRequest(c) && c.status === 200).at(-1);
      const acceptedAt = accepted ? accepted.startMs + options.latencyMs : Number.NaN;

      samples.push({
        environmentId,
        schedulerIntervalMs,
        firstInProcess: i === 0,
        runtimeStatus: run.runtimeStatus,
        wallMs,
        completedMs: completedAt - t0,
        calls: calls.length,
        refusedVerifyAttempts: refused.attempts,
        criticalPathCalls: pathCalls,
        criticalPathMs,
        ratio: wallMs / criticalPathMs,
        overlappedPathMs,
        secretUsableMs: usableAt - t0,
        verifyOvershootMs: acceptedAt - usableAt,
      });
    }
  } finally {
    await bench.stop();
  }
  return samples;
}

function isTokenRequest(c: TimedCall): boolean {
  return c.service === 'entra' && c.method === 'POST' && c.path.endsWith('/oauth2/v2.0/token');
}

function isVerifyAttemptCall(c: TimedCall): boolean {
  return (
    (c.service === 'keyvault' && c.method === 'GET' && /^\/secrets\/[^/]+\/[^/]+$/.test(c.path)) ||
    (c.service === 'entra' && c.method === 'GET' && c.path.endsWith('/.well-known/openid-configuration'))
  );
}

/**
 * The calls of verify attempts Entra refused because the new secret had not propagated yet: each is a
 * Key Vault read of the secret, the OIDC discovery and a token request answered 401.
 */
export function refusedVerifyAttempts(calls: readonly TimedCall[]): { attempts: number; calls: Set<TimedCall> } {
  const excluded = new Set<TimedCall>();
  let attempts = 0;
  let pending: TimedCall[] = [];
  for (const c of [...calls].sort((a, b) => a.startMs - b.startMs)) {
    if (isTokenRequest(c)) {
      if (c.status === 401) {
        attempts += 1;
        for (const p of [...pending, c]) excluded.add(p);
      }
      pending = [];
    } else if (isVerifyAttemptCall(c)) {
      pending.push(c);
    } else {
      pending = [];
    }
  }
  return { attempts, calls: excluded };
}

export function latencyFigures(r: LatencyResult): Figure[] {
  const section = 'setup latency';
  const out: Figure[] = [];
  const ok = r.tuned.length > 0 && r.tuned.every((s) => s.runtimeStatus === 'Completed');
  const ratios = r.tuned.map((s) => s.ratio);
  const med = median(ratios);
  const interval = r.tuned[0]?.schedulerIntervalMs ?? 0;
  const typical = [...r.tuned].sort((a, b) => a.ratio - b.ratio)[Math.floor(r.tuned.length / 2)];
  out.push(
    figure(
      section,
      `wall / critical path (median of ${r.tuned.length}, scheduler ${interval} ms)`,
      round(med, 2),
      `${med.toFixed(2)}× (samples ${ratios.map((x) => x.toFixed(2)).join(', ')})`,
      { text: `≤ ${LATENCY_TARGET_RATIO}×`, pass: ok && med <= LATENCY_TARGET_RATIO },
    ),
  );
  if (typical) {
    out.push(
      figure(
        section,
        'median sample: wall, critical path',
        round(typical.wallMs),
        `${ms(typical.wallMs)} vs ${ms(typical.criticalPathMs)} = ${typical.criticalPathCalls} calls × ${r.latencyMs} ms + ${r.secretPropagationSeconds} s`,
      ),
    );
  }
  const tight = median(r.tuned.map((s) => s.wallMs / s.overlappedPathMs));
  out.push(
    figure(
      section,
      'wall / tighter bound (propagation overlapping delivery)',
      round(tight, 2),
      `${tight.toFixed(2)}×`,
      undefined,
      'the bound counts the calls up to addPassword, then the longer of the propagation delay and the calls after it; ' +
        'what remains above 1× is mostly the verify retry landing after the secret became usable (next row).',
    ),
  );
  const overshoot = median(r.tuned.map((s) => s.verifyOvershootMs));
  const refused = median(r.tuned.map((s) => s.refusedVerifyAttempts));
  out.push(
    figure(
      section,
      'verify: refused attempts, overshoot after the secret was usable',
      round(overshoot),
      `${refused} refused, +${ms(overshoot)}`,
      undefined,
      'verify polls with the durable retry preset `propagation` (first retry after 0.5 s, ×1.5 each time), so the accepted ' +
        'attempt lands up to one retry interval after the secret propagated; each refused attempt costs a Key Vault read, ' +
        'an OIDC discovery and a token request.',
    ),
  );
  out.push(
    figure(
      section,
      `completion seen by polling every ${r.pollMs} ms (median lag)`,
      round(median(r.tuned.map((s) => s.wallMs - s.completedMs))),
      ms(median(r.tuned.map((s) => s.wallMs - s.completedMs))),
    ),
  );
  if (r.runtimeDefault.length > 0) {
    const defMed = median(r.runtimeDefault.map((s) => s.ratio));
    const added = median(r.runtimeDefault.map((s) => s.wallMs)) - median(r.tuned.map((s) => s.wallMs));
    out.push(
      figure(
        section,
        `at the runtime's default scheduler interval (${r.runtimeDefault[0]?.schedulerIntervalMs ?? '?'} ms)`,
        round(defMed, 2),
        `${defMed.toFixed(2)}×, ${added >= 0 ? '+' : ''}${ms(added)} wall vs ${interval} ms`,
        undefined,
        'the scheduler interval delays durable timers (the verify retries) by up to one interval each; activities and ' +
          'orchestration episodes start at once (the driver is poked), so the interval matters only where a retry waits.',
      ),
    );
  }
  return out;
}
