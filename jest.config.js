/** Jest runs the TypeScript sources directly; the sandbox CA is trusted per worker (test/setup). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  setupFiles: ['<rootDir>/test/setup/trustSandboxCa.ts'],
  testTimeout: 60000,
};
