/**
 * The command line's durable state on disk. Each environment of each target (Key Vault + tenant) has
 * its own directory — `<stateDir>/<vault host>-<tenant>/<environmentId>/` with the durable instances
 * (`durable/`), the function app's log (`logs/`) and a lock — so a saved run only ever resumes
 * against the cloud it was started in, runs for different environments never resume each other,
 * and two processes never drive the same environment's runs at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppConfig } from '../../src/config';
import { TERMINAL_STATUSES, type RuntimeStatus } from '../durable/store';

export interface RunDirectory {
  dir: string;
  durableDir: string;
  logsDir: string;
  logFile: string;
  lockFile: string;
}

/** `<vault host>-<first block of the tenant id>`, safe as a directory name on every platform. */
export function targetKey(config: Pick<AppConfig, 'keyVaultUrl' | 'tenantId'>): string {
  const host = new URL(config.keyVaultUrl).host.toLowerCase().replace(/[^a-z0-9.-]+/g, '_');
  return `${host}-${config.tenantId.slice(0, 8)}`;
}

export function runDirectory(stateDir: string, config: Pick<AppConfig, 'keyVaultUrl' | 'tenantId'>, environmentId: string): RunDirectory {
  const dir = path.join(stateDir, targetKey(config), environmentId);
  const logsDir = path.join(dir, 'logs');
  return { dir, durableDir: path.join(dir, 'durable'), logsDir, logFile: path.join(logsDir, 'functions.jsonl'), lockFile: path.join(dir, 'lock') };
}

/** Another live process holds the environment's lock. */
export class LockedError extends Error {
  override name = 'LockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the environment's lock (a file holding this process id); a lock left by a process that no
 * longer runs is taken over. Returns the release function.
 */
export function acquireLock(run: RunDirectory, environmentId: string): () => void {
  fs.mkdirSync(run.dir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(run.lockFile, String(process.pid), { flag: 'wx' });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(run.lockFile, { force: true });
        // A refused command (unknown environment, conflict) leaves no empty directories behind.
        for (const dir of [run.dir, path.dirname(run.dir)]) {
          try {
            fs.rmdirSync(dir);
          } catch {
            break;
          }
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(run.lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new LockedError(
          `Another fno-graph-mail process (pid ${holder}) is working on ${environmentId} with this state directory (${run.dir}); wait for it to finish or stop it first.`,
        );
      }
      fs.rmSync(run.lockFile, { force: true });
    }
  }
  throw new LockedError(`Could not take the lock ${run.lockFile}.`);
}

export interface SavedRun {
  instanceId: string;
  name: string;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  /** What the run waits for, if it stopped while waiting for a person. */
  waitingFor?: string;
  file: string;
}

/** Unfinished runs saved anywhere under the state directory (read only; nothing is created). */
export function unfinishedRuns(stateDir: string): SavedRun[] {
  const found: SavedRun[] = [];
  for (const target of subdirectories(stateDir)) {
    for (const environment of subdirectories(target)) {
      const durable = path.join(environment, 'durable');
      let files: string[];
      try {
        files = fs.readdirSync(durable).filter((f) => f.endsWith('.json'));
      } catch {
        continue;
      }
      for (const file of files) {
        const run = readSavedRun(path.join(durable, file));
        if (run && !TERMINAL_STATUSES.has(run.runtimeStatus)) found.push(run);
      }
    }
  }
  return found.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

function subdirectories(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

function readSavedRun(file: string): SavedRun | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      instanceId?: unknown;
      name?: unknown;
      runtimeStatus?: unknown;
      createdTime?: unknown;
      customStatus?: { waitingFor?: { event?: unknown } } | null;
    };
    if (typeof record.instanceId !== 'string' || typeof record.name !== 'string' || typeof record.runtimeStatus !== 'string') return undefined;
    const run: SavedRun = {
      instanceId: record.instanceId,
      name: record.name,
      runtimeStatus: record.runtimeStatus as RuntimeStatus,
      createdTime: typeof record.createdTime === 'string' ? record.createdTime : '',
      file,
    };
    const event = record.customStatus?.waitingFor?.event;
    if (typeof event === 'string') run.waitingFor = event;
    return run;
  } catch {
    return undefined;
  }
}
