/**
 * Keeping the fleet alive, for the timer triggers: the sweep that finds credentials due for rotation
 * from the registry's properties alone and starts their rotations, and the daily drift check, which
 * starts one drift run per environment. Both only read the registry and start runs; every repair is a
 * step of a run.
 */
import type { AppConfig } from '../config';
import type { EnvironmentRecord } from '../contracts/environment';
import { toEnvironmentRecord, type FleetRegistry } from '../contracts/registry';
import { now as clockNow } from '../clock';
import { buildDriftInput, buildRotationInput, startEnvironmentRun, type RunHost } from './runs';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Due: expiring within the lead time, expired, or stored but never delivered (a failed rotation). */
export function isDue(record: EnvironmentRecord): boolean {
  return record.status === 'expiring' || record.status === 'expired' || record.status === 'pending-delivery';
}

export interface FleetPass {
  environments: number;
  /** Environments the pass wanted a run for (due for rotation; every enabled one for drift). */
  selected: number;
  started: string[];
  alreadyRunning: string[];
}

/** Every record of the registry, page by page (one Key Vault call per page, properties only). */
async function eachRecord(registry: FleetRegistry, config: AppConfig, visit: (record: EnvironmentRecord) => void): Promise<number> {
  const now = clockNow();
  let environments = 0;
  for await (const page of registry.pages()) {
    for (const entry of page) {
      const record = toEnvironmentRecord(entry, now, config.rotation.leadDays);
      if (!record) continue;
      environments += 1;
      visit(record);
    }
  }
  return environments;
}

async function startAll(ids: string[], config: AppConfig, start: (environmentId: string) => Promise<boolean>): Promise<Pick<FleetPass, 'started' | 'alreadyRunning'>> {
  const result = { started: [] as string[], alreadyRunning: [] as string[] };
  await forEachLimited(ids, config.rotation.concurrency, async (environmentId) => {
    ((await start(environmentId)) ? result.started : result.alreadyRunning).push(environmentId);
  });
  return result;
}

/**
 * The rotation sweep: pages through the product's Key Vault secrets (properties only) and starts a
 * rotation for each due environment, a bounded number at a time. With nothing due it makes exactly one
 * Key Vault call per page and nothing else.
 */
export async function sweepFleet(registry: FleetRegistry, config: AppConfig, host: RunHost, log: Logger): Promise<FleetPass> {
  const due: string[] = [];
  const environments = await eachRecord(registry, config, (record) => {
    if (isDue(record)) due.push(record.environmentId);
  });
  const runs = await startAll(due, config, async (id) => (await startEnvironmentRun(host, 'rotation', buildRotationInput(id, 'sweep', config))).started);
  log.info(`rotation sweep: ${environments} environment(s), ${due.length} due, ${runs.started.length} rotation(s) started, ${runs.alreadyRunning.length} already running`);
  return { environments, selected: due.length, ...runs };
}

/** The drift check: one `checkDrift` run per enabled environment (an environment with an active run is looked at next time). */
export async function startDriftChecks(registry: FleetRegistry, config: AppConfig, host: RunHost, log: Logger): Promise<FleetPass> {
  const ids: string[] = [];
  const environments = await eachRecord(registry, config, (record) => {
    if (record.status !== 'disabled') ids.push(record.environmentId);
  });
  const runs = await startAll(ids, config, async (id) => (await startEnvironmentRun(host, 'drift', buildDriftInput(id, config))).started);
  log.info(`drift check: ${environments} environment(s), ${runs.started.length} drift run(s) started, ${runs.alreadyRunning.length} skipped (a run is active)`);
  return { environments, selected: ids.length, ...runs };
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        errors.push(error);
      }
    }
  });
  await Promise.all(runners);
  if (errors.length > 0) throw errors[0];
}
