// ESLint flat config: strict type-aware rules everywhere, determinism rules for orchestrators, which
// are replayed and must not read the clock, the environment or do I/O, and browser rules for the
// dashboard's script (its own tsconfig with DOM types, found by the project service).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// ---------------------------------------------------------------------------------------------------
// Determinism of orchestrators. The durable-functions replay engine re-runs an orchestrator from the
// start of its history every time it wakes, possibly on another worker, and expects the same sequence of
// context.df calls each time. So an orchestrator may not read the clock, randomness, the environment or
// the host's locale, may not do I/O, and may not start async work other than context.df tasks; it uses
// context.df.currentUtcDateTime, newGuid, createTimer, callActivity*, callHttp, Task.all/any instead.
// https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-code-constraints
// These rules are a net for the obvious cases, not a proof: an alias (`const D = Date; new D()`) or a
// computed member passes them. The replay tests under test/ catch what reaches history.
// ---------------------------------------------------------------------------------------------------

const INSTEAD_OF_CLOCK = 'Use context.df.currentUtcDateTime, which is replayed from history.';
const INSTEAD_OF_IO = 'Do the work in an activity and call it with callActivity(context, name, input) from ./activityCalls.';

const timer = (name) => ({
  name,
  message: `${name} schedules a host callback that the replay does not see and that is lost when the worker unloads. Wait with \`yield context.df.createTimer(fireAt)\`.`,
});
const io = (name) => ({
  name,
  message: `${name} does network I/O, whose answer differs between replays. Call an activity (callActivity(context, name, input) from ./activityCalls) or use context.df.callHttp.`,
});
const globalObject = (name) => ({
  name,
  message: `${name} reaches host globals (process, crypto, timers) around these rules. Use the context.df APIs.`,
});

const restrictedGlobals = [
  {
    name: 'process',
    message: `process (env, argv, hrtime, cwd) belongs to the host and can change between replays. Pass what the run needs in its input; settings are read by config.ts and activities.`,
  },
  {
    name: 'crypto',
    message: `crypto.randomUUID()/getRandomValues() give new values on every replay. Use context.df.newGuid(name) for ids; other randomness belongs in an activity, whose result is recorded.`,
  },
  { name: 'performance', message: `performance.now() reads the host clock. ${INSTEAD_OF_CLOCK}` },
  {
    name: 'Intl',
    message: `Intl follows the host's locale and time zone, which can differ between workers and replays. Format instants with toISOString() (UTC).`,
  },
  { name: 'navigator', message: `navigator describes the host, which can differ between replays. Pass what the run needs in its input.` },
  timer('setTimeout'),
  timer('setInterval'),
  timer('setImmediate'),
  timer('clearTimeout'),
  timer('clearInterval'),
  timer('clearImmediate'),
  {
    // Not a source of different values by itself, but its callback runs after the orchestrator has
    // yielded, outside the ordered replay: context.df calls or state changes made there are not replayed.
    name: 'queueMicrotask',
    message: `queueMicrotask runs its callback after the orchestrator has yielded, outside the replayed sequence of steps. Do the work inline, in order, in the generator.`,
  },
  {
    name: 'Promise',
    message: `Orchestrators yield durable tasks; the replay engine cannot wait for or replay a Promise. Combine tasks with context.df.Task.all/any and do async work in an activity.`,
  },
  io('fetch'),
  io('XMLHttpRequest'),
  io('WebSocket'),
  io('EventSource'),
  globalObject('globalThis'),
  globalObject('global'),
  globalObject('self'),
  globalObject('window'),
  {
    name: 'require',
    message: `require() loads modules at run time, around the import rules. Use a static import of durable-functions, ../contracts/* or another orchestrator module.`,
  },
  { name: 'module', message: `module.require() loads modules at run time, around the import rules. Use a static import.` },
  { name: 'eval', message: `eval runs code that the determinism rules cannot check.` },
];

// Read through no-restricted-properties so that `const now = Date.now` and `const { random } = Math` count too.
const restrictedProperties = [
  { object: 'Date', property: 'now', message: `Date.now() reads the host clock, different on every replay. ${INSTEAD_OF_CLOCK}` },
  {
    object: 'Math',
    property: 'random',
    message: `Math.random() differs on every replay. Use context.df.newGuid(name) for ids; other randomness belongs in an activity, whose result is recorded.`,
  },
  // Local-time and locale-dependent methods follow the host's TZ and locale, which can differ between the
  // workers that replay one run. Matched by name on any object: orchestrators have no other use for them.
  ...[
    'getFullYear', 'getMonth', 'getDate', 'getDay', 'getHours', 'getMinutes', 'getTimezoneOffset',
    'setFullYear', 'setMonth', 'setDate', 'setHours', 'setMinutes',
    'toDateString', 'toTimeString', 'toLocaleString', 'toLocaleDateString', 'toLocaleTimeString',
    'toLocaleUpperCase', 'toLocaleLowerCase', 'localeCompare',
  ].map((property) => ({
    property,
    message: `${property} depends on the host's time zone or locale, which can differ between replays. Use the getUTC*/setUTC* methods, toISOString() and plain comparison.`,
  })),
];

const restrictedSyntax = [
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `new Date() reads the host clock, different on every replay. ${INSTEAD_OF_CLOCK}` },
  { selector: "CallExpression[callee.name='Date']", message: `Date() returns the host's current time as text. ${INSTEAD_OF_CLOCK}` },
  {
    selector: "NewExpression[callee.name='Date'][arguments.length>1]",
    message: `new Date(year, month, …) reads the components in the host's time zone. Use new Date(Date.UTC(year, month, …)).`,
  },
  {
    selector: 'ImportExpression',
    message: `import() loads a module at run time, around the import rules, and returns a Promise the replay cannot wait for. Use a static import.`,
  },
  {
    selector: ':function[async=true]',
    message: `async functions and await run outside the replay: the engine can only wait for tasks an orchestrator yields. Write a generator (function*) that yields context.df tasks.`,
  },
  ...['Program > VariableDeclaration', 'Program > ExportNamedDeclaration > VariableDeclaration'].map((parent) => ({
    selector: `${parent}[kind!='const']`,
    message: `Module-level let/var outlives one replay and is shared by every run on the worker. Keep state in the generator's local variables.`,
  })),
];

// Imports: only durable-functions (df.RetryOptions, types), ../contracts/* and other orchestrator modules.
// Each other import is reported once, by the first group it matches, with what to do instead; `import type`
// is always allowed because types are erased and cannot run.
const ALLOWED_IMPORT = String.raw`durable-functions|\.\./contracts/[\w/-]+|\./[\w-]+(?:/[\w-]+)*`;
const importGroups = [
  {
    body: String.raw`node:.*|(?:${builtinModules.join('|')})(?:/.*)?`,
    message: `Node built-ins reach the host (files, network, processes, clock, randomness), which differs between replays. ${INSTEAD_OF_IO}`,
  },
  { body: String.raw`\.\.?/(?:.*/)?clock`, message: `The product clock reads real time. ${INSTEAD_OF_CLOCK}` },
  {
    body: String.raw`\.\.?/(?:.*/)?config`,
    message: `Settings come from the environment, which can change between replays. Pass what the run needs in its input (see ../contracts).`,
  },
  {
    body: String.raw`\.\.?/(?:.*/)?(?:clients|activities|functions|dashboard)(?:/.*)?|\.\.?/(?:.*/)?composition`,
    message: `Orchestrators see contracts only: clients, activities, triggers, the dashboard and the composition root do I/O. ${INSTEAD_OF_IO}`,
  },
  {
    body: '.*',
    message: `Orchestrators import only durable-functions, ../contracts/* and other orchestrator modules: other packages (Azure SDKs, node-forge, …) and modules may do I/O or keep state outside the replay. Use them in an activity.`,
  },
];
const importPatterns = importGroups.map(({ body, message }, index) => ({
  regex: `^(?!(?:${ALLOWED_IMPORT})$)${importGroups
    .slice(0, index)
    .map((earlier) => `(?!(?:${earlier.body})$)`)
    .join('')}(?:${body})$`,
  caseSensitive: true,
  allowTypeImports: true,
  message,
}));

const ORCHESTRATOR_DETERMINISM = {
  'no-restricted-globals': ['error', ...restrictedGlobals],
  'no-restricted-properties': ['error', ...restrictedProperties],
  'no-restricted-syntax': ['error', ...restrictedSyntax],
  'no-restricted-imports': ['error', { patterns: importPatterns }],
};

/** What the dashboard's browser script may not import. */
const BROWSER_IMPORTS = [
  { group: ['node:*', 'fs', 'path', 'crypto', 'os', 'http', 'https', 'child_process'], message: 'The dashboard script runs in a browser.' },
  { group: ['**/dashboard/page', '**/dashboard/browserScript'], message: 'Server modules: the browser script cannot use them.' },
  // These modules build zod schemas when loaded: a value from them would put zod into the bundle.
  { group: ['zod', '**/contracts/setup', '**/contracts/activities', '**/contracts/registry'], allowTypeImports: true, message: 'Import only types from here; values come from runtime-free contracts (operations.ts, names.ts, environment.ts).' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.sandbox/**', 'test-output/**', '.fno-graph-mail/**', '.deploy/**', 'jest.config.js', 'test/setup/slowFirstSequencer.js', 'eslint.config.mjs', 'bin/**'] },
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
    rules: ORCHESTRATOR_DETERMINISM,
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
