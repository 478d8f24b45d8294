// ESLint flat config: strict type-aware rules everywhere, and determinism rules for orchestrators,
// which are replayed and must not read the clock, the environment or do I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.sandbox/**', 'test-output/**', '.fno-graph-mail/**', 'jest.config.js', 'test/setup/slowFirstSequencer.js', 'eslint.config.mjs', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['src/orchestrators/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', { name: 'process', message: 'Orchestrators are replayed: no environment access.' }],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use context.df.currentUtcDateTime: orchestrators are replayed.' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use context.df.currentUtcDateTime.' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Orchestrators must be deterministic.' },
        { selector: "CallExpression[callee.name='setTimeout']", message: 'Use context.df.createTimer.' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'http', 'https', 'crypto', 'os', 'child_process'], message: 'No Node built-ins in orchestrators.' },
            { group: ['**/clients/**', '**/activities/**', '**/config'], message: 'Orchestrators see contracts only.' },
          ],
        },
      ],
    },
  },
);
