/**
 * Jest runs the TypeScript sources directly; the sandbox CA is trusted per worker (test/setup). The
 * dashboard's browser script is a build output (`npm run build` writes it beside the compiled page), so
 * under jest page.ts's `./browserScript` is a helper that bundles the browser sources on first use.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleNameMapper: { '^\\./browserScript$': '<rootDir>/test/helpers/dashboardScript.ts' },
  setupFiles: ['<rootDir>/test/setup/trustSandboxCa.ts'],
  testTimeout: 60000,
};
