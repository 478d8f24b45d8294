/**
 * Starts the local runtime on the test function app with free ports, temporary directories and a
 * manual clock, and offers small HTTP helpers. Import `./functionsCore` first (it mocks the core).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManualClock } from '../../../runtime/clock';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../../runtime';

export const FIXTURE_APP = path.join(__dirname, '..', 'fixtures', 'app.ts');
export const TEST_KEY = 'test-function-key-0123456789';

export interface TestRuntime {
  rt: LocalRuntime;
  clock: ManualClock;
  dirs: { durable: string; logs: string };
  api(pathAndQuery: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  stop(): Promise<void>;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fno-runtime-${label}-`));
}

export async function startTestRuntime(options: Partial<LocalRuntimeOptions> & { clock?: ManualClock; dirs?: { durable: string; logs: string } } = {}): Promise<TestRuntime> {
  const clock = options.clock ?? new ManualClock();
  const dirs = options.dirs ?? { durable: tempDir('durable'), logs: tempDir('logs') };
  const rt = await startLocalRuntime({
    entry: FIXTURE_APP,
    port: 0,
    rpcPort: 0,
    functionKey: TEST_KEY,
    durableDir: dirs.durable,
    logsDir: dirs.logs,
    schedulerIntervalMs: 20,
    ...options,
    clock,
  });
  return {
    rt,
    clock,
    dirs,
    api: (pathAndQuery, init = {}) => {
      const { key = TEST_KEY, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set('x-functions-key', key);
      return fetch(`${rt.url}${pathAndQuery}`, { ...rest, headers });
    },
    stop: () => rt.stop(),
  };
}

export function removeDirs(dirs: { durable: string; logs: string }): void {
  fs.rmSync(dirs.durable, { recursive: true, force: true });
  fs.rmSync(dirs.logs, { recursive: true, force: true });
}
