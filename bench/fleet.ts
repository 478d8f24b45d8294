/**
 * Fleet scale: the rotation sweep over 1,000 and 10,000 managed environments seeded into the sandbox's
 * vault (1 % due), at a small per-call latency. Each size runs in a fresh child process holding only
 * the function app, so its time and peak memory are the app's own; the sandbox serves it from this
 * process and counts the calls. The sweep is timed by itself; the rotations it starts (bounded by
 * ROTATION_CONCURRENCY, the directory throttling a few of them with 429 + Retry-After) are then awaited
 * outside the measured time, until each has a new credential stored, verified, delivered and live. The
 * previous one is revoked only once F&O signs in with the new one; one stand-in F&O serves every
 * environment here, so that wait belongs to the revocation section.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { sandboxAppSettings } from '../runtime/sandboxedApp';
import { startSandbox, type RunningSandbox } from '../sandbox/server';
import { SECRET_TAGS } from '../src/contracts/wellKnown';
import { secretNameFor } from '../src/contracts/names';
import { uniqueNameFor } from '../src/contracts/names';
import { NEVER } from './app';
import { CallRecorder, COLUMN_LABELS, SERVICE_COLUMNS, describeTally, isVaultListCall, tally, type CallTally } from './calls';
import { seedFleet } from './fleetSeed';
import type { FleetCommand, FleetReply } from './fleetProtocol';
import { figure, ms, round, type Figure } from './report';

export interface FleetOptions {
  sizes: number[];
  latencyMs: number;
  /** One environment in this many is due. */
  dueEvery: number;
  schedulerIntervalMs: number;
  /** 429s with Retry-After the directory answers to the rotations' first credential creations. */
  throttle: { count: number; retryAfterSeconds: number };
  rotationTimeoutMs: number;
}

export interface FleetSample {
  environments: number;
  due: number;
  concurrency: number;
  sweepMs: number;
  summary: string | undefined;
  listCalls: number;
  expectedListCalls: number;
  /** Every call the sandbox served between the sweep's start and end, rotations started meanwhile included. */
  sweepWindow: CallTally;
  rssAtStartBytes: number;
  peakRssDuringSweepBytes: number;
  peakRssWithRotationsBytes: number;
  rotations: { byStatus: Record<string, number>; waitedMs: number; errors: string[] };
  throttled: number;
  /** Throttled calls that were retried no sooner than their Retry-After. */
  retriedAfterDelay: number;
  /** Due environments whose vault now holds a delivered new credential, the old one revoked and disabled. */
  rotatedEndToEnd: number;
}

export interface FleetResult {
  latencyMs: number;
  samples: FleetSample[];
}

/** Linear enough: the time per environment at the larger size is at most 20 % above the smaller size's (10× → ≤ 12×). */
export const FLEET_TARGETS = { maxSweepMs10k: 60_000, maxPeakRssBytes: 256 * 2 ** 20, perEnvironmentGrowth: 1.2 } as const;

const LEAD_DAYS = 30;
const FINOPS = 'fleet-finops';

export async function measureFleet(options: FleetOptions): Promise<FleetResult> {
  const samples: FleetSample[] = [];
  for (const size of options.sizes) samples.push(await measureSize(size, options));
  return { latencyMs: options.latencyMs, samples };
}

async function measureSize(size: number, options: FleetOptions): Promise<FleetSample> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fno-graph-mail-fleet-'));
  const sandbox: RunningSandbox = await startSandbox({
    ports: { base: 0 },
    latencyMs: options.latencyMs,
    secretPropagationSeconds: 0,
    environmentIds: [FINOPS],
  });
  let child: ChildProcess | undefined;
  try {
    // Near-expiry events would start the same rotations through the other trigger: measure the sweep alone.
    await sandbox.eventGrid.stop();
    const { state, endpoints } = sandbox;
    const finopsUrl = endpoints.environments[0]?.url ?? '';
    const fleet = seedFleet(state, { count: size, idPrefix: 'fleet-', environmentUrl: finopsUrl, leadDays: LEAD_DAYS, dueEvery: options.dueEvery });
    const seededKeys = new Map(fleet.dueIds.map((id) => [id, currentTags(sandbox, id)[SECRET_TAGS.credentialKeyId] ?? '']));
    const recorder = new CallRecorder(state);
    const appSettings: Record<string, string> = {
      ...sandboxAppSettings(endpoints),
      ROTATION_GRACE_HOURS: '0',
      ROTATION_LEAD_DAYS: String(LEAD_DAYS),
      ROTATION_SWEEP_SCHEDULE: NEVER,
      DRIFT_CHECK_SCHEDULE: NEVER,
    };

    child = fork(path.join(__dirname, 'fleetChild.js'), [], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: endpoints.caCertPath },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const talk = conversation(child);
    const ready = await talk({
      type: 'start',
      entry: path.join(__dirname, '..', 'src', 'index.js'),
      appSettings,
      durableDir: path.join(dir, 'durable'),
      logsDir: path.join(dir, 'logs'),
      schedulerIntervalMs: options.schedulerIntervalMs,
    });
    if (ready.type !== 'ready') throw new Error(`the fleet child did not start: ${JSON.stringify(ready)}`);

    if (options.throttle.count > 0) {
      state.faults.push({
        service: 'graph',
        method: 'POST',
        pathPattern: '/addPassword$',
        status: 429,
        count: options.throttle.count,
        retryAfterSeconds: options.throttle.retryAfterSeconds,
      });
    }
    const mark = recorder.mark();
    const swept = await talk({ type: 'sweep' });
    if (swept.type !== 'swept') throw new Error(`the sweep did not report: ${JSON.stringify(swept)}`);
    if (!swept.ok) throw new Error(`the sweep failed: ${swept.error ?? 'unknown error'}`);
    const sweepCalls = recorder.since(mark).filter((c) => c.at <= swept.endEpochMs);

    const rotations = await talk({ type: 'waitRotations', timeoutMs: options.rotationTimeoutMs });
    if (rotations.type !== 'rotations') throw new Error(`the rotations did not report: ${JSON.stringify(rotations)}`);
    const all = recorder.since(mark);
    const throttledCalls = all.filter((c) => c.status === 429);
    const retryAfterMs = options.throttle.retryAfterSeconds * 1000;
    // A retry of the same request that starts at least Retry-After (less 50 ms of timer slack) after the 429.
    const retriedAfterDelay = throttledCalls.filter((t) =>
      all.some((c) => c !== t && c.method === t.method && c.path === t.path && t.endMs !== undefined && c.startMs >= t.endMs + retryAfterMs - 50),
    ).length;
    const rotatedEndToEnd = fleet.dueIds.filter((id) => rotatedCleanly(sandbox, id, seededKeys.get(id) ?? '')).length;
    await talk({ type: 'stop' });

    return {
      environments: size,
      due: fleet.dueIds.length,
      concurrency: Number(appSettings.ROTATION_CONCURRENCY ?? 10),
      sweepMs: swept.sweepMs,
      summary: swept.summary,
      listCalls: sweepCalls.filter(isVaultListCall).length,
      expectedListCalls: Math.ceil(state.secrets.length / 25),
      sweepWindow: tally(sweepCalls),
      rssAtStartBytes: ready.rssBytes,
      peakRssDuringSweepBytes: swept.maxRssBytes,
      peakRssWithRotationsBytes: rotations.maxRssBytes,
      rotations: { byStatus: rotations.byStatus, waitedMs: rotations.waitedMs, errors: rotations.errors },
      throttled: throttledCalls.length,
      retriedAfterDelay,
      rotatedEndToEnd,
    };
  } finally {
    if (child && child.exitCode === null) child.kill();
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function currentTags(sandbox: RunningSandbox, environmentId: string): Record<string, string> {
  const secret = sandbox.state.secrets.find((s) => s.name === secretNameFor(environmentId));
  return secret?.versions.at(-1)?.tags ?? {};
}

/**
 * The new credential is in the vault, verified and delivered, and live on the app. (The seeded one is
 * revoked only once F&O signs in with the new one, which the revocation section measures.)
 */
function rotatedCleanly(sandbox: RunningSandbox, environmentId: string, seededKeyId: string): boolean {
  const secret = sandbox.state.secrets.find((s) => s.name === secretNameFor(environmentId));
  const current = secret?.versions.at(-1);
  const app = sandbox.state.applications.find((a) => a.uniqueName === uniqueNameFor(environmentId));
  if (!secret || !current || !app) return false;
  const newKey = current.tags[SECRET_TAGS.credentialKeyId];
  return (
    newKey !== undefined &&
    newKey !== seededKeyId &&
    current.tags[SECRET_TAGS.delivered] === 'true' &&
    current.enabled &&
    app.passwordCredentials.some((c) => c.keyId === newKey)
  );
}

/** Sends a command and resolves with the child's next reply. */
function conversation(child: ChildProcess): (command: FleetCommand) => Promise<FleetReply> {
  return (command) =>
    new Promise<FleetReply>((resolve, reject) => {
      const onMessage = (message: FleetReply): void => {
        cleanup();
        if (message.type === 'failed') reject(new Error(`fleet child: ${message.error}`));
        else resolve(message);
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`the fleet child exited (${code ?? 'signal'}) during '${command.type}'`));
      };
      const cleanup = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(command);
    });
}

const MiB = 2 ** 20;

export function fleetFigures(r: FleetResult): Figure[] {
  const section = `fleet (${r.latencyMs} ms latency)`;
  const out: Figure[] = [];
  for (const s of r.samples) {
    const n = s.environments.toLocaleString('en-US');
    const rotationsOk =
      (s.rotations.byStatus.Completed ?? 0) + (s.rotations.byStatus.Delivered ?? 0) === s.due && s.rotatedEndToEnd === s.due && s.retriedAfterDelay === s.throttled;
    const timeTarget = s.environments >= 10_000 ? { text: `< ${FLEET_TARGETS.maxSweepMs10k / 1000} s`, pass: s.sweepMs < FLEET_TARGETS.maxSweepMs10k } : undefined;
    out.push(figure(section, `${n}: sweep time`, round(s.sweepMs), `${ms(s.sweepMs)} (${round((s.sweepMs * 1000) / s.environments)} µs per environment)`, timeTarget, s.summary));
    out.push(
      figure(
        section,
        `${n}: Key Vault list calls`,
        s.listCalls,
        `${s.listCalls} (+${s.sweepWindow.keyvault.challenges} challenge)`,
        { text: `= ceil(N/25) = ${s.expectedListCalls}`, pass: s.listCalls === s.expectedListCalls },
        s.sweepWindow.keyvault.challenges > 0
          ? 'the sweep is the first Key Vault request of this fresh process: the SDK challenge (401) and one managed-identity token come first.'
          : undefined,
      ),
    );
    out.push(
      figure(
        section,
        `${n}: all calls during the sweep`,
        s.sweepWindow.all.total,
        SERVICE_COLUMNS.filter((c) => s.sweepWindow[c].total > 0)
          .map((c) => `${COLUMN_LABELS[c]} ${describeTally(s.sweepWindow[c])}`)
          .join('; '),
        undefined,
        'besides the list calls: the rotations the sweep had already started were running (their calls overlap the sweep).',
      ),
    );
    out.push(
      figure(section, `${n}: peak RSS of the function app`, round(s.peakRssDuringSweepBytes / MiB), `${round(s.peakRssDuringSweepBytes / MiB)} MiB (at start ${round(s.rssAtStartBytes / MiB)} MiB, with rotations ${round(s.peakRssWithRotationsBytes / MiB)} MiB)`, {
        text: `< ${FLEET_TARGETS.maxPeakRssBytes / MiB} MiB`,
        pass: s.peakRssWithRotationsBytes < FLEET_TARGETS.maxPeakRssBytes,
      }),
    );
    out.push(
      figure(
        section,
        `${n}: rotations started (concurrency ${s.concurrency})`,
        s.rotatedEndToEnd,
        `${s.rotatedEndToEnd}/${s.due} delivered a new, verified credential in ${ms(s.rotations.waitedMs)} after the sweep; ${s.retriedAfterDelay}/${s.throttled} throttled calls retried after Retry-After`,
        { text: `all ${s.due} delivered, Retry-After kept`, pass: rotationsOk },
        s.rotations.errors.length > 0 ? s.rotations.errors.join(' | ') : undefined,
      ),
    );
  }
  const small = r.samples.find((s) => s.environments === 1000) ?? r.samples[0];
  const large = r.samples.find((s) => s.environments === 10_000) ?? r.samples.at(-1);
  if (small && large && small !== large) {
    const ratio = large.sweepMs / small.sweepMs;
    const sizeRatio = large.environments / small.environments;
    out.push(
      figure(
        section,
        `time ${large.environments.toLocaleString('en-US')} / ${small.environments.toLocaleString('en-US')}`,
        round(ratio, 2),
        `${ratio.toFixed(2)}× for ${sizeRatio}× the environments`,
        { text: `≤ ${round(sizeRatio * FLEET_TARGETS.perEnvironmentGrowth, 1)}× (linear: time per environment grows ≤ 20 %)`, pass: ratio <= sizeRatio * FLEET_TARGETS.perEnvironmentGrowth },
      ),
    );
  }
  return out;
}
