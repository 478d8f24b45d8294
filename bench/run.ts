/**
 * `npm run bench`: API economy, setup latency, fleet scale and cold start of the function app on the
 * local runtime against the in-process sandbox. Prints a table (figure, value, target, pass or fail),
 * writes bench/results.json with the machine it ran on, and exits non-zero when a target fails unless
 * `--no-fail` is given.
 *
 * Flags: --latency-ms N (80), --propagation-s N (2), --scheduler-ms N (10), --latency-samples N (3),
 * --poll-ms N (20), --fleet-latency-ms N (20), --fleet-sizes 1000,10000, --cold-samples N (15),
 * --emergency-size N (see EMERGENCY_DEFAULT_SIZE), --emergency-tenants N (20),
 * --only economy,latency,revocation,fleet,emergency,cold, --out PATH, --no-fail.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { coldStartFigures, measureColdStart, type ColdStartResult } from './coldStart';
import { emergencyFigures, type EmergencyResult } from './emergency';
import { economyFigures, type EconomyResult } from './economy';
import { fleetFigures, measureFleet, type FleetResult } from './fleet';
import { latencyFigures, type LatencyResult } from './latency';
import { revocationFigures, type RevocationCase } from './revocation';
import { describeMachine, machineInfo } from './machine';
import { formatTable, ms, type Figure } from './report';
import { inChildProcess } from './worker';

const SECTIONS = ['economy', 'latency', 'revocation', 'fleet', 'emergency', 'cold'] as const;
type Section = (typeof SECTIONS)[number];

/** The fleet the emergency rotation's targets are set for: 10,000 environments across 20 tenants. */
const EMERGENCY_ASKED = { size: 10_000, tenants: 20 } as const;
/**
 * The size run by default: one that finishes in about seven minutes on a 2-core machine (about 85 ms of
 * wall time per environment, app and sandbox in one process). `--emergency-size 10000` runs the fleet the
 * targets are set for in about 18 minutes there (one F&O listener per environment: it fits an open-files
 * limit of 20,000).
 */
const EMERGENCY_DEFAULT_SIZE = 5_000;

/** The runtime's own default scheduler interval (runtime/durable/driver.ts), measured for comparison. */
const RUNTIME_DEFAULT_SCHEDULER_MS = 100;

interface Settings {
  latencyMs: number;
  propagationSeconds: number;
  schedulerIntervalMs: number;
  latencySamples: number;
  pollMs: number;
  fleetLatencyMs: number;
  fleetSizes: number[];
  coldSamples: number;
  emergencySize: number;
  emergencyTenants: number;
  only: Section[];
  out: string;
  fail: boolean;
}

function parseArgs(argv: readonly string[]): Settings {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
    return v;
  };
  const int = (name: string, fallback: number, min = 0): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, not ${raw}`);
    return n;
  };
  const known = new Set(['latency-ms', 'propagation-s', 'scheduler-ms', 'latency-samples', 'poll-ms', 'fleet-latency-ms', 'fleet-sizes', 'cold-samples', 'emergency-size', 'emergency-tenants', 'only', 'out', 'no-fail']);
  for (const arg of argv) {
    if (arg.startsWith('--') && !known.has(arg.slice(2))) throw new Error(`unknown flag ${arg}`);
  }
  const only = (value('only') ?? SECTIONS.join(',')).split(',').map((s) => s.trim());
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only takes ${SECTIONS.join(', ')}; not ${s}`);
  const sizes = (value('fleet-sizes') ?? '1000,10000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--fleet-sizes takes positive integers, e.g. 1000,10000');
  return {
    latencyMs: int('latency-ms', 80),
    propagationSeconds: int('propagation-s', 2),
    schedulerIntervalMs: int('scheduler-ms', 10, 1),
    latencySamples: int('latency-samples', 3, 1),
    pollMs: int('poll-ms', 20, 1),
    fleetLatencyMs: int('fleet-latency-ms', 20),
    fleetSizes: sizes,
    coldSamples: int('cold-samples', 15, 1),
    emergencySize: int('emergency-size', EMERGENCY_DEFAULT_SIZE, 1),
    emergencyTenants: int('emergency-tenants', EMERGENCY_ASKED.tenants, 1),
    only: only as Section[],
    out: path.resolve(value('out') ?? path.join(__dirname, '..', '..', 'bench', 'results.json')),
    fail: !argv.includes('--no-fail'),
  };
}

async function main(): Promise<number> {
  const settings = parseArgs(process.argv.slice(2));
  const machine = machineInfo();
  const started = performance.now();
  process.stdout.write(`fno-graph-mail bench on ${describeMachine(machine)}\n`);
  const step = (text: string): void => void process.stdout.write(`  ${text} (${ms(performance.now() - started)} elapsed)\n`);

  const figures: Figure[] = [];
  const results: { economy?: EconomyResult; latency?: LatencyResult; revocation?: RevocationCase[]; fleet?: FleetResult; emergency?: EmergencyResult; coldStart?: ColdStartResult } = {};
  const wants = (s: Section): boolean => settings.only.includes(s);

  if (wants('economy')) {
    step(`API economy at ${settings.latencyMs} ms per call`);
    results.economy = await inChildProcess({ kind: 'economy', options: { latencyMs: settings.latencyMs, pollMs: settings.pollMs } });
    figures.push(...economyFigures(results.economy));
  }
  if (wants('latency')) {
    step(`setup latency at ${settings.latencyMs} ms per call, ${settings.propagationSeconds} s propagation`);
    const latencyAt = (schedulerIntervalMs: number) =>
      inChildProcess({
        kind: 'latency',
        options: {
          latencyMs: settings.latencyMs,
          secretPropagationSeconds: settings.propagationSeconds,
          schedulerIntervalMs,
          samples: settings.latencySamples,
          pollMs: settings.pollMs,
        },
      });
    const tuned = await latencyAt(settings.schedulerIntervalMs);
    const runtimeDefault = settings.schedulerIntervalMs === RUNTIME_DEFAULT_SCHEDULER_MS ? [] : await latencyAt(RUNTIME_DEFAULT_SCHEDULER_MS);
    results.latency = {
      latencyMs: settings.latencyMs,
      secretPropagationSeconds: settings.propagationSeconds,
      pollMs: settings.pollMs,
      tuned,
      runtimeDefault,
    };
    figures.push(...latencyFigures(results.latency));
  }
  if (wants('revocation')) {
    step('revocation waits for F&O: virtual time from its first sign-in with the new key to the old key revoked');
    results.revocation = [
      await inChildProcess({ kind: 'revocation', options: { graceHours: 24, pollMinutes: 5, stoppedHours: 0 } }),
      await inChildProcess({ kind: 'revocation', options: { graceHours: 2, pollMinutes: 5, stoppedHours: 6 } }),
    ];
    figures.push(...revocationFigures(results.revocation));
  }
  if (wants('fleet')) {
    step(`fleet sweep over ${settings.fleetSizes.join(', ')} environments at ${settings.fleetLatencyMs} ms per call`);
    results.fleet = await measureFleet({
      sizes: settings.fleetSizes,
      latencyMs: settings.fleetLatencyMs,
      dueEvery: 100,
      schedulerIntervalMs: settings.schedulerIntervalMs,
      throttle: { count: 3, retryAfterSeconds: 1 },
      rotationTimeoutMs: 180_000,
    });
    figures.push(...fleetFigures(results.fleet));
  }
  if (wants('emergency')) {
    const { emergencySize: size, emergencyTenants: tenants } = settings;
    step(`emergency rotation of ${size.toLocaleString('en-US')} environments across ${tenants} customer tenants, Graph and Key Vault throttled at their documented limits`);
    results.emergency = await inChildProcess({ kind: 'emergency', options: { size, tenants } });
    figures.push(...emergencyFigures(results.emergency, EMERGENCY_ASKED));
  }
  if (wants('cold')) {
    step(`cold start, ${settings.coldSamples} child processes per app`);
    results.coldStart = measureColdStart({ samples: settings.coldSamples });
    figures.push(...coldStartFigures(results.coldStart));
  }

  const elapsedMs = performance.now() - started;
  process.stdout.write(`\n${formatTable(figures)}\n\nTotal ${ms(elapsedMs)}.\n`);
  const failed = figures.filter((f) => f.pass === false);
  mkdirSync(path.dirname(settings.out), { recursive: true });
  writeFileSync(
    settings.out,
    `${JSON.stringify({ machine, settings: { ...settings, out: undefined }, elapsedMs, figures, failed: failed.map((f) => `${f.section} / ${f.name}`), results }, null, 2)}\n`,
  );
  process.stdout.write(`Results written to ${path.relative(process.cwd(), settings.out) || settings.out}.\n`);
  if (failed.length > 0) {
    process.stdout.write(`${failed.length} target(s) missed: ${failed.map((f) => `${f.section} / ${f.name}`).join('; ')}\n`);
    return settings.fail ? 1 : 0;
  }
  return 0;
}

main()
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  });
