const os = require('node:os');

/**
 * Jest runs the TypeScript sources directly; the sandbox CA is trusted per worker (test/setup).
 *
 * - The dashboard's browser script is a build output (`npm run build` writes it beside the compiled
 *   page), so under jest page.ts's `./browserScript` is a helper that bundles the browser sources on
 *   first use.
 * - ts-jest only transpiles, file by file: tsconfig.json sets `isolatedModules`, which ts-jest 29
 *   reads as "transpile only" (its own `isolatedModules` option is deprecated in favour of that).
 *   Type checking is `npm run typecheck`'s job.
 * - Workers: twice the cores (at most 8). Much of the suite waits rather than computes (Retry-After
 *   in the fault matrix, the CLI's and npm start's child processes, the dashboard's browser, real-time
 *   retries), so more workers than cores keep the cores busy. A cold run of the whole suite on 2 cores
 *   took 86 s with 2 workers, 94 s with 3 and 67 s with 4 (other work shared the machine; Jest's
 *   default, cores - 1, is one worker there: about 270 s). Override with --maxWorkers.
 * - Order: longest files first, also on a clean checkout without Jest's timing cache
 *   (test/setup/slowFirstSequencer.js).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleNameMapper: { '^\\./browserScript$': '<rootDir>/test/helpers/dashboardScript.ts' },
  setupFiles: ['<rootDir>/test/setup/trustSandboxCa.ts'],
  testSequencer: '<rootDir>/test/setup/slowFirstSequencer.js',
  maxWorkers: Math.min(8, 2 * os.availableParallelism()),
  testTimeout: 60000,
};
