/**
 * Emergency rotation at fleet scale: `POST /api/fleet/rotate` over N environments spread across T
 * customer tenants (partner mode), with the sandbox enforcing Graph's and Key Vault's documented limits
 * on its virtual clock. In each tenant one environment is really set up through the product (onboarding,
 * setup); the others are copies of it (bench/emergencySeed.ts), checked to have the same shape. The
 * fleet run then rotates them all with no grace period, so each rotation runs to its end: new credential
 * created, verified, delivered to F&O, the previous one revoked.
 *
 * Virtual time moves only when every run waits on durable timers and nothing else (a wave's timer, a
 * rotation's wait): then the clock jumps to the earliest timer. Measured: virtual time from the request
 * until the last rotation ended, beside the time the limits allow for the same fleet
 * (`limitBoundSeconds`), the share of Graph and Key Vault calls answered 429, and the moments without a
 * working credential: at every clock move and every few real milliseconds meanwhile, for every
 * environment, whether the credential F&O holds is one of its app's credentials and not expired.
 * Wall time and the process's peak resident set (the app and the sandbox, which share this process)
 * are reported beside them.
 */
import { DOCUMENTED_LIMITS, limitBoundSeconds, waveCapacity, type FleetEnvironment } from '../src/contracts/fleet';
import { FLEET_LIMIT_SHARE } from '../src/functions/fleetRotation';
import { startBenchApp, type BenchApp } from './app';
import { copyEnvironment, environmentObjects, environmentShape, uncopiedReferences } from './emergencySeed';
import { figure, ms, round, type Figure } from './report';

export interface EmergencyOptions {
  /** Environments in the fleet (the T set up for real included). */
  size: number;
  /** Customer tenants they are spread over (round robin). */
  tenants: number;
  /** Give up after this much wall time. */
  timeoutMs?: number;
}

export interface EmergencyResult {
  size: number;
  tenants: number;
  /** The fleet run's and the rotations' end states. */
  fleetStatus: string;
  rotationsByStatus: Record<string, number>;
  /** The first few failed rotations' errors. */
  failureSamples: string[];
  /** Environments whose app holds exactly one credential, the new one, which F&O holds and Key Vault's current version names. */
  rotatedEndToEnd: number;
  /** Virtual ms from the request to the last rotation's end. */
  virtualMs: number;
  limitBoundSeconds: number;
  /** Rotations a wave may start (all tenants), and per tenant. */
  wave: { total: number; perTenant: number };
  waves: number;
  calls: { graph: number; keyVault: number; graphThrottled: number; keyVaultThrottled: number };
  /** The throttled requests by method and path (ids masked), most frequent first. */
  throttledKinds: Array<{ request: string; count: number }>;
  /** Virtual ms from the request to the start of the last rotation (the pacing), and the longest rotation (its own waits). */
  lastStartMs: number;
  longestRotationMs: number;
  /** Environment checks that found F&O without a working credential, over `checks` checks of the whole fleet. */
  violations: number;
  violationSamples: string[];
  checks: number;
  clockMoves: number;
  /** Wall ms of the rotation (request to last end), and of the preparation (setups, copies). */
  wallMs: number;
  prepareWallMs: number;
  peakRssBytes: number;
  /** A copied environment has the shape of the one set up in its tenant; what differs when not. */
  shapeMatches: boolean;
  shapeNote?: string;
}

const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

async function control(bench: BenchApp, route: string, body: unknown): Promise<unknown> {
  const reply = await fetch(`${bench.app.endpoints.controlUrl}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await reply.text();
  if (!reply.ok) throw new Error(`control ${route} answered ${reply.status}: ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

interface DriveOutcome {
  clockMoves: number;
}

/**
 * Runs the instances to their ends: whenever the durable driver is idle and every unfinished instance
 * waits on timers alone, the clock jumps to the earliest of them. `onCheck` runs after each jump and
 * every `checkEveryMs` of wall time meanwhile.
 */
async function driveToEnd(bench: BenchApp, instanceIds: () => readonly string[], options: { deadline: number; onCheck?: () => void; checkEveryMs?: number }): Promise<DriveOutcome> {
  const { app } = bench;
  let clockMoves = 0;
  let lastCheck = performance.now();
  for (;;) {
    if (options.onCheck && performance.now() - lastCheck >= (options.checkEveryMs ?? 50)) {
      options.onCheck();
      lastCheck = performance.now();
    }
    if (!app.runtime.durable.isIdle()) {
      await app.runtime.durable.whenIdle({ timeoutMs: 200 }).catch(() => undefined);
      continue;
    }
    await app.runtime.timers.whenIdle();
    let next = Number.POSITIVE_INFINITY;
    let open = 0;
    let busy = false;
    for (const id of instanceIds()) {
      const work = app.runtime.durable.pendingWork(id);
      if (!work) throw new Error(`no instance ${id}`);
      if (TERMINAL.has(work.runtimeStatus)) continue;
      open += 1;
      if (work.episodePending || work.activities > 0) busy = true;
      for (const t of work.timers) next = Math.min(next, t);
    }
    if (open === 0) return { clockMoves };
    if (performance.now() > options.deadline) throw new Error(`${open} run(s) did not end in time`);
    if (busy || !Number.isFinite(next)) {
      if (!busy) throw new Error(`${open} run(s) wait on something other than a timer`);
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    app.sandbox.state.advanceClock(Math.max(1, next - app.sandbox.state.now()));
    clockMoves += 1;
    options.onCheck?.();
    lastCheck = performance.now();
    await new Promise((r) => setImmediate(r));
  }
}

/** Sets up the tenant's own F&O environment through the product: consent, onboarding, setup. */
async function setUpTenant(bench: BenchApp, name: string, deadline: number): Promise<{ tenantId: string; environmentId: string }> {
  const created = (await control(bench, '/tenants', { name })) as { tenantId: string; environments: Array<{ id: string; url: string }> };
  const env = created.environments[0];
  if (!env) throw new Error(`tenant ${name} came without an F&O environment`);
  await control(bench, '/consent', { appId: bench.app.endpoints.partnerOperatorClientId, tenantId: created.tenantId });
  const onboard = await bench.api('POST', `/api/tenants/${created.tenantId}/onboard`);
  if (onboard.status !== 202) throw new Error(`onboarding ${name} answered ${onboard.status}: ${JSON.stringify(onboard.body)}`);
  const onboardId = (onboard.body as { instanceId: string }).instanceId;
  await driveToEnd(bench, () => [onboardId], { deadline });
  const setup = await bench.api('POST', `/api/environments/${env.id}/setup`, { environmentUrl: env.url, tenantId: created.tenantId });
  if (setup.status !== 202) throw new Error(`setup of ${env.id} answered ${setup.status}: ${JSON.stringify(setup.body)}`);
  await driveToEnd(bench, () => [`setup-${env.id}`], { deadline });
  const done = bench.app.runtime.durable.getStatus(`setup-${env.id}`);
  if (done?.runtimeStatus !== 'Completed') throw new Error(`setup of ${env.id} ended ${done?.runtimeStatus ?? 'unknown'}: ${JSON.stringify(done?.output)}`);
  return { tenantId: created.tenantId, environmentId: env.id };
}

/** Peak resident set size of this process so far (Linux reports `maxRSS` in KiB). */
const peakRssBytes = (): number => process.resourceUsage().maxRSS * 1024;

export async function measureEmergencyRotation(options: EmergencyOptions): Promise<EmergencyResult> {
  const { size, tenants } = options;
  if (!Number.isInteger(tenants) || tenants < 1 || !Number.isInteger(size) || size < tenants) throw new Error(`the emergency rotation needs 1 ≤ tenants ≤ size (${tenants}, ${size})`);
  const copies = Array.from({ length: size - tenants }, (_, i) => `em-${String(i).padStart(String(size).length, '0')}`);
  const prepareStart = performance.now();
  const deadline = prepareStart + (options.timeoutMs ?? 3_600_000);
  const bench = await startBenchApp({
    latencyMs: 0,
    secretPropagationSeconds: 0,
    environmentIds: copies,
    // One listener per F&O environment (IPv4 only): 10,000 environments fit the open-files limit.
    finopsIpv6: false,
    partner: true,
    finopsSparePorts: tenants,
  });
  try {
    const { state } = bench.app.sandbox;
    // Key Vault's near-expiry events would start rotations through another trigger: the fleet run alone here.
    await bench.app.sandbox.eventGrid.stop();

    const templates: Array<{ tenantId: string; environmentId: string }> = [];
    for (let t = 0; t < tenants; t += 1) templates.push(await setUpTenant(bench, `emt${String(t).padStart(2, '0')}`, deadline));
    const templateObjects = templates.map((t) => environmentObjects(state, t.environmentId));
    for (const [i, id] of copies.entries()) {
      const target = state.finops.find((e) => e.id === id);
      if (!target) throw new Error(`no F&O environment ${id}`);
      copyEnvironment(state, templateObjects[i % tenants]!, target);
    }

    // The copy must look like a setup: same objects, same fields, same values but for its own identifiers.
    let shapeMatches = true;
    let shapeNote: string | undefined;
    const missed = uncopiedReferences(state, templateObjects[0]!);
    if (missed.length > 0) {
      shapeMatches = false;
      shapeNote = `the set-up environment is also referenced from ${missed.join(', ')}, which copies lack`;
    } else if (copies.length > 0) {
      const a = JSON.stringify(environmentShape(templateObjects[0]!));
      const b = JSON.stringify(environmentShape(environmentObjects(state, copies[0]!)));
      if (a !== b) {
        shapeMatches = false;
        let at = 0;
        while (at < a.length && a[at] === b[at]) at += 1;
        shapeNote = `a copy differs from the setup at …${a.slice(Math.max(0, at - 60), at + 60)}… vs …${b.slice(Math.max(0, at - 60), at + 60)}…`;
      }
    }

    const environmentIds = [...templates.map((t) => t.environmentId), ...copies];
    const fleet: FleetEnvironment[] = environmentIds.map((environmentId) => ({ environmentId, tenantId: state.finops.find((e) => e.id === environmentId)!.tenantId.toLowerCase() }));
    const bound = limitBoundSeconds(fleet, DOCUMENTED_LIMITS);

    // F&O's side of each environment: its application, found once (the credentials change, the object stays).
    const watched = environmentIds.map((id) => {
      const o = environmentObjects(state, id);
      return { id, finops: o.finops, application: o.application };
    });
    let violations = 0;
    let checks = 0;
    const violationSamples: string[] = [];
    const check = (): void => {
      checks += 1;
      const now = state.now();
      for (const w of watched) {
        const secret = w.finops.graphCredential.secret;
        const held = secret ? w.application.passwordCredentials.find((c) => c.secretText === secret) : undefined;
        const working = held !== undefined && w.finops.graphCredential.applicationId === w.application.appId && Date.parse(held.endDateTime) > now && (held.usableFrom ?? 0) <= now;
        if (!working) {
          violations += 1;
          if (violationSamples.length < 5) violationSamples.push(`${w.id} at +${round((now - requestedAt) / 1000, 1)} s: ${held ? 'expired or not yet usable' : 'F&O holds no credential of its app'}`);
        }
      }
    };
    const prepareWallMs = performance.now() - prepareStart;

    await control(bench, '/settings', { throttling: true });
    const callsBefore = state.calls.length;
    const requestedAt = state.now();
    check();
    const wallStart = performance.now();
    const started = await bench.api('POST', '/api/fleet/rotate', { graceHours: 0 });
    if (started.status !== 202) throw new Error(`the emergency rotation answered ${started.status}: ${JSON.stringify(started.body)}`);
    const fleetId = (started.body as { instanceId: string }).instanceId;
    const rotationIds = environmentIds.map((id) => `rotate-${id}`);
    // The rotations exist once their wave started them: follow the fleet run and those already started.
    const known = (): string[] => [fleetId, ...rotationIds.filter((id) => bench.app.runtime.durable.pendingWork(id) !== undefined)];
    const driven = await driveToEnd(bench, known, { deadline, onCheck: check, checkEveryMs: 100 });
    const fleetStatus = bench.app.runtime.durable.getStatus(fleetId);
    // The fleet run ended: every rotation it started exists; drive those still running to their ends.
    const more = await driveToEnd(bench, known, { deadline, onCheck: check, checkEveryMs: 100 });
    const virtualMs = state.now() - requestedAt;
    const wallMs = performance.now() - wallStart;
    check();

    const calls = state.calls.slice(callsBefore);
    const graph = calls.filter((c) => c.service === 'graph');
    const keyVault = calls.filter((c) => c.service === 'keyvault');
    const rotationsByStatus: Record<string, number> = {};
    const failureSamples: string[] = [];
    for (const id of rotationIds) {
      const s = bench.app.runtime.durable.getStatus(id);
      const status = s?.runtimeStatus ?? 'NotStarted';
      rotationsByStatus[status] = (rotationsByStatus[status] ?? 0) + 1;
      if (status === 'Failed' && failureSamples.length < 3) failureSamples.push(`${id}: ${(typeof s?.output === 'string' ? s.output : JSON.stringify(s?.output)).slice(0, 400)}`);
    }
    const rotatedEndToEnd = watched.filter((w) => {
      const o = environmentObjects(state, w.id);
      const current = o.secret.versions.at(-1);
      const only = o.application.passwordCredentials.length === 1 ? o.application.passwordCredentials[0] : undefined;
      return only !== undefined && only.secretText === w.finops.graphCredential.secret && current?.tags['credential-key-id'] === only.keyId && o.secret.versions.length > 1;
    }).length;
    const kinds = new Map<string, number>();
    for (const c of calls) {
      if (c.status !== 429) continue;
      const request = `${c.service} ${c.method} ${c.path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, '{id}').replace(/fno-graph-mail-[\w-]+/g, '{name}')}`;
      kinds.set(request, (kinds.get(request) ?? 0) + 1);
    }
    const throttledKinds = [...kinds].map(([request, count]) => ({ request, count })).sort((a, b) => b.count - a.count).slice(0, 5);
    let lastStartMs = 0;
    let longestRotationMs = 0;
    for (const id of rotationIds) {
      const s = bench.app.runtime.durable.getStatus(id);
      if (!s) continue;
      const created = Date.parse(s.createdTime);
      lastStartMs = Math.max(lastStartMs, created - requestedAt);
      longestRotationMs = Math.max(longestRotationMs, Date.parse(s.lastUpdatedTime) - created);
    }
    const output = fleetStatus?.output as { waves?: number } | undefined;
    return {
      size,
      tenants,
      fleetStatus: fleetStatus?.runtimeStatus ?? 'unknown',
      rotationsByStatus,
      failureSamples,
      rotatedEndToEnd,
      virtualMs,
      limitBoundSeconds: bound,
      wave: waveCapacity(DOCUMENTED_LIMITS, FLEET_LIMIT_SHARE),
      waves: output?.waves ?? 0,
      calls: {
        graph: graph.length,
        keyVault: keyVault.length,
        graphThrottled: graph.filter((c) => c.status === 429).length,
        keyVaultThrottled: keyVault.filter((c) => c.status === 429).length,
      },
      throttledKinds,
      lastStartMs,
      longestRotationMs,
      violations,
      violationSamples,
      checks,
      clockMoves: driven.clockMoves + more.clockMoves,
      wallMs,
      prepareWallMs,
      peakRssBytes: peakRssBytes(),
      shapeMatches,
      ...(shapeNote ? { shapeNote } : {}),
    };
  } finally {
    await bench.stop();
  }
}

/** The issue's targets: within 1.2× the limit-bound time, under 1 % of calls throttled, never without a working credential. */
export const EMERGENCY_TARGETS = { maxTimeRatio: 1.2, maxThrottledShare: 0.01, violations: 0 } as const;

export function emergencyThrottledShare(r: EmergencyResult): number {
  const all = r.calls.graph + r.calls.keyVault;
  return all === 0 ? 0 : (r.calls.graphThrottled + r.calls.keyVaultThrottled) / all;
}

const MiB = 2 ** 20;

export function emergencyFigures(r: EmergencyResult, asked?: { size: number; tenants: number }): Figure[] {
  const n = r.size.toLocaleString('en-US');
  const section = `emergency rotation (${n} environments, ${r.tenants} tenants)`;
  const out: Figure[] = [];
  if (asked && (asked.size !== r.size || asked.tenants !== r.tenants)) {
    out.push(
      figure(section, 'size run', r.size, `${n} environments in ${r.tenants} tenants`, undefined, `the targets are set for ${asked.size.toLocaleString('en-US')} in ${asked.tenants} tenants; run with --emergency-size ${asked.size} --emergency-tenants ${asked.tenants}`),
    );
  }
  const completed = r.rotationsByStatus.Completed ?? 0;
  out.push(
    figure(
      section,
      'rotations',
      r.rotatedEndToEnd,
      `${completed}/${r.size} completed, ${r.rotatedEndToEnd} with only the new credential left (fleet run ${r.fleetStatus}, ${r.waves} waves of ≤ ${r.wave.total}, ≤ ${r.wave.perTenant} per tenant)`,
      { text: `all ${n}`, pass: r.fleetStatus === 'Completed' && completed === r.size && r.rotatedEndToEnd === r.size },
      r.failureSamples.length > 0 ? `failed: ${r.failureSamples.join(' | ')}` : undefined,
    ),
  );
  const ratio = r.virtualMs / 1000 / r.limitBoundSeconds;
  out.push(
    figure(section, 'virtual time, request → last rotation ended', round(r.virtualMs / 1000, 1), `${round(r.virtualMs / 1000, 1)} s (the limits allow ${round(r.limitBoundSeconds, 1)} s; ${ratio.toFixed(2)}×)`, {
      text: `≤ ${EMERGENCY_TARGETS.maxTimeRatio}× the limit-bound time`,
      pass: ratio <= EMERGENCY_TARGETS.maxTimeRatio,
    }, 'grace 0 h: each rotation ends with the previous credential revoked; the clock jumps to the next durable timer whenever every run waits on one.'),
  );
  const share = emergencyThrottledShare(r);
  out.push(
    figure(
      section,
      'calls throttled (429)',
      round(share * 100, 3),
      `${round(share * 100, 3)} % (Graph ${r.calls.graphThrottled}/${r.calls.graph}, Key Vault ${r.calls.keyVaultThrottled}/${r.calls.keyVault})`,
      { text: `< ${EMERGENCY_TARGETS.maxThrottledShare * 100} %`, pass: share < EMERGENCY_TARGETS.maxThrottledShare },
      r.throttledKinds.length > 0 ? `throttled: ${r.throttledKinds.map((k) => `${k.request} ×${k.count}`).join('; ')}` : undefined,
    ),
  );
  out.push(
    figure(
      section,
      'pacing: request → last rotation started; longest rotation',
      round(r.lastStartMs / 1000, 1),
      `${round(r.lastStartMs / 1000, 1)} s; ${round(r.longestRotationMs / 1000, 1)} s`,
      undefined,
      'the fleet run starts its waves every 10 s (sooner when this machine is slower than that); a rotation waits out each 429 for its Retry-After.',
    ),
  );
  out.push(
    figure(
      section,
      'moments without a working credential',
      r.violations,
      `${r.violations} over ${r.checks} checks of every environment (${r.clockMoves} clock moves)`,
      { text: String(EMERGENCY_TARGETS.violations), pass: r.violations === EMERGENCY_TARGETS.violations },
      r.violationSamples.length > 0 ? r.violationSamples.join('; ') : undefined,
    ),
  );
  out.push(
    figure(section, 'copied environments have the shape of a setup', r.shapeMatches ? 1 : 0, r.shapeMatches ? 'yes' : 'no', { text: 'yes', pass: r.shapeMatches }, r.shapeNote),
  );
  out.push(figure(section, 'wall time', round(r.wallMs), `${ms(r.wallMs)} (${round(r.wallMs / r.size, 1)} ms per environment; preparation ${ms(r.prepareWallMs)})`));
  out.push(figure(section, 'peak RSS (app and sandbox, one process)', round(r.peakRssBytes / MiB), `${round(r.peakRssBytes / MiB)} MiB`));
  return out;
}
