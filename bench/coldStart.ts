/**
 * Cold start: how long Node takes to load the function app's entry with all its registrations, against
 * a baseline app that loads only `@azure/functions` and `durable-functions` and registers one function.
 * Each sample is a fresh child process; the two apps alternate so that load on a shared machine hits
 * both alike; medians are compared. One more run of each lists the packages the product adds.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { figure, median, ms, round, type Figure } from './report';

export interface ColdStartOptions {
  samples: number;
}

export interface AppSamples {
  entry: string;
  registrations: number;
  /** `require(entry)` in ms, per sample. */
  loadMs: number[];
  /** Spawn to exit of the child, per sample. */
  processMs: number[];
}

export interface ColdStartResult {
  samples: number;
  app: AppSamples;
  baseline: AppSamples;
  /** median(app load) / median(baseline load). */
  ratio: number;
  processRatio: number;
  /** Packages (and product files) the app loads that the baseline does not, with their file counts. */
  added: Array<{ name: string; files: number }>;
}

export const COLD_START_TARGET_RATIO = 1.5;

interface ChildResult {
  loadMs: number;
  registrations: number;
  modules?: string[];
}

function runChild(entry: string, listModules = false): { result: ChildResult; processMs: number } {
  const t0 = performance.now();
  const child = spawnSync(process.execPath, [path.join(__dirname, 'coldStartChild.js'), entry], {
    encoding: 'utf8',
    env: { ...process.env, BENCH_LIST_MODULES: listModules ? '1' : '0' },
    maxBuffer: 64 * 2 ** 20,
  });
  const processMs = performance.now() - t0;
  if (child.status !== 0) throw new Error(`loading ${entry} failed (${child.status ?? child.signal}): ${child.stderr}`);
  return { result: JSON.parse(child.stdout) as ChildResult, processMs };
}

export function measureColdStart(options: ColdStartOptions): ColdStartResult {
  const appEntry = path.join(__dirname, '..', 'src', 'index.js');
  const baselineEntry = path.join(__dirname, 'baselineApp.js');
  const app: AppSamples = { entry: appEntry, registrations: 0, loadMs: [], processMs: [] };
  const baseline: AppSamples = { entry: baselineEntry, registrations: 0, loadMs: [], processMs: [] };
  // One unmeasured run each warms the file system cache.
  runChild(baselineEntry);
  runChild(appEntry);
  for (let i = 0; i < options.samples; i++) {
    for (const target of i % 2 === 0 ? [baseline, app] : [app, baseline]) {
      const { result, processMs } = runChild(target.entry);
      target.loadMs.push(result.loadMs);
      target.processMs.push(processMs);
      target.registrations = result.registrations;
    }
  }
  return {
    samples: options.samples,
    app,
    baseline,
    ratio: median(app.loadMs) / median(baseline.loadMs),
    processRatio: median(app.processMs) / median(baseline.processMs),
    added: addedPackages(runChild(baselineEntry, true).result.modules ?? [], runChild(appEntry, true).result.modules ?? []),
  };
}

function packageOf(file: string): string {
  const i = file.lastIndexOf('node_modules/');
  if (i < 0) {
    const dist = file.indexOf('/dist/');
    return dist >= 0 ? `(product) ${file.slice(dist + 6).split('/')[0] ?? ''}/` : file;
  }
  const rest = file.slice(i + 'node_modules/'.length).split('/');
  return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? file);
}

function addedPackages(baselineModules: string[], appModules: string[]): Array<{ name: string; files: number }> {
  const before = new Set(baselineModules);
  const counts = new Map<string, number>();
  for (const file of appModules) {
    if (before.has(file)) continue;
    const name = packageOf(file.split(path.sep).join('/'));
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts.entries()].map(([name, files]) => ({ name, files })).sort((a, b) => b.files - a.files);
}

export function coldStartFigures(r: ColdStartResult): Figure[] {
  const section = 'cold start';
  const added = r.added.slice(0, 6).map((p) => `${p.name} (${p.files})`).join(', ');
  return [
    figure(section, `load ${r.app.registrations} registrations / baseline (median of ${r.samples})`, round(r.ratio, 2), `${r.ratio.toFixed(2)}× (${ms(median(r.app.loadMs))} vs ${ms(median(r.baseline.loadMs))})`, {
      text: `≤ ${COLD_START_TARGET_RATIO}×`,
      pass: r.ratio <= COLD_START_TARGET_RATIO,
    }),
    figure(
      section,
      'whole process (spawn to exit) / baseline',
      round(r.processRatio, 2),
      `${r.processRatio.toFixed(2)}× (${ms(median(r.app.processMs))} vs ${ms(median(r.baseline.processMs))})`,
      undefined,
      `modules the app loads beyond the baseline (files): ${added || 'none'}`,
    ),
  ];
}
