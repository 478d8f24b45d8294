const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/**
 * Temporary files in memory when the machine has room there: the local runtime persists every durable
 * instance after every change (write, then rename), and on a disk that is a sixth of the time of the
 * longest files. Workers and the processes tests start inherit TMPDIR. A TMPDIR already set wins.
 */
function memoryTmpDir() {
  try {
    const shm = fs.statfsSync('/dev/shm');
    if (shm.bavail * shm.bsize < 2 * 1024 ** 3) return undefined;
    const dir = path.join('/dev/shm', 'fno-graph-mail-tests');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  } catch {
    return undefined;
  }
}
if (!process.env.TMPDIR) {
  const dir = memoryTmpDir();
  if (dir) process.env.TMPDIR = dir;
}

/**
 * Jest runs the TypeScript sources directly; the sandbox CA is trusted per worker (test/setup).
 *
 * - The dashboard's browser script is a build output (`npm run build` writes it beside the compiled
 *   page), so under jest page.ts's `./browserScript` is a helper that bundles the browser sources on
 *   first use.
 * - @swc/jest transpiles each file on its own (no type checking: that is `npm run typecheck`'s job,
 *   and tsconfig.json's `isolatedModules` keeps every file transpilable alone). On a clean checkout,
 *   where Jest has no transform cache, it costs a few seconds where ts-jest cost about 15 s of the wall.
 * - Workers: twice the cores (at most 8). Much of the suite waits rather than computes (Retry-After
 *   in the fault matrix, the CLI's and npm start's child processes, the dashboard's browser, real-time
 *   retries), so more workers than cores keep the cores busy. On 2 cores the whole suite is CPU-bound
 *   with four workers (about 185 to 195 s of CPU): docs/development.md has the measured times. Override with
 *   --maxWorkers.
 * - Order: longest files first, also on a clean checkout without Jest's timing cache
 *   (test/setup/slowFirstSequencer.js).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'commonjs' }, sourceMaps: 'inline' }],
  },
  moduleNameMapper: { '^\\./browserScript$': '<rootDir>/test/helpers/dashboardScript.ts' },
  setupFiles: ['<rootDir>/test/setup/trustSandboxCa.ts'],
  testSequencer: '<rootDir>/test/setup/slowFirstSequencer.js',
  maxWorkers: Math.min(8, 2 * os.availableParallelism()),
  testTimeout: 60000,
};
