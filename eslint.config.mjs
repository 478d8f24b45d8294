// ESLint flat config: strict type-aware rules everywhere, determinism rules for orchestrators, which
// are replayed and must not read the clock, the environment or do I/O, and browser rules for the
// dashboard's script (its own tsconfig with DOM types, found by the project service).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** What the dashboard's browser script may not import. */
const BROWSER_IMPORTS = [
  { group: ['node:*', 'fs', 'path', 'crypto', 'os', 'http', 'https', 'child_process'], message: 'The dashboard script runs in a browser.' },
  { group: ['**/dashboard/page', '**/dashboard/browserScript'], message: 'Server modules: the browser script cannot use them.' },
  // These modules build zod schemas when loaded: a value from them would put zod into the bundle.
  { group: ['zod', '**/contracts/setup', '**/contracts/environment'], allowTypeImports: true, message: 'Import only types from here; values come from runtime-free contracts (operations.ts).' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.sandbox/**', 'test-output/**', '.fno-graph-mail/**', 'jest.config.js', 'eslint.config.mjs', 'bin/**'] },
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
  {
    files: ['src/dashboard/browser/**/*.ts'],
    rules: {
      // Everything from the API reaches the page as text.
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Set text (textContent, text nodes): nothing from the API is parsed as HTML.' },
        { property: 'outerHTML', message: 'Set text (textContent, text nodes): nothing from the API is parsed as HTML.' },
        { property: 'insertAdjacentHTML', message: 'Set text (textContent, text nodes): nothing from the API is parsed as HTML.' },
        { object: 'document', property: 'write', message: 'Build elements (dom.ts): nothing from the API is parsed as HTML.' },
      ],
      'no-eval': 'error',
      'no-new-func': 'error',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: BROWSER_IMPORTS,
        },
      ],
    },
  },
  {
    // The panels and their helpers are pure (data in, views out) so tests render them without a browser.
    files: ['src/dashboard/browser/{view,format,labels,model}.ts', 'src/dashboard/browser/panels/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['document', 'window', 'location', 'sessionStorage', 'localStorage', 'fetch', 'navigator', 'CSS'].map((name) => ({
          name,
          message: 'Panels return views (view.ts); main.ts and dom.ts touch the browser.',
        })),
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...BROWSER_IMPORTS,
            { group: ['**/dom', '**/api', '**/main'], message: 'Panels return views; main.ts and dom.ts touch the browser.' },
          ],
        },
      ],
    },
  },
);
