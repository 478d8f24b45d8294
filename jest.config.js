/**
 * Jest runs the TypeScript sources directly; the sandbox CA is trusted per worker (test/setup).
 *
 * - ts-jest only transpiles, file by file: tsconfig.json sets `isolatedModules`, which ts-jest 29
 *   reads as "transpile only" (its own `isolatedModules` option is deprecated in favour of that).
 *   Type checking is `npm run typecheck`'s job.
 * - Workers: most files spend their time waiting (on the sandbox's answers, on Retry-After, on a
 *   child process), not computing, so more workers than cores keep the cores busy. Measured on 2 cores
 *   (see the suite's history): MAXWORKERS.
 * - Order: longest files first, also on a clean checkout without Jest's timing cache
 *   (test/setup/slowFirstSequencer.js).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  setupFiles: ['<rootDir>/test/setup/trustSandboxCa.ts'],
  testSequencer: '<rootDir>/test/setup/slowFirstSequencer.js',
  testTimeout: 60000,
};
