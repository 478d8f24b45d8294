/**
 * The determinism rules for src/orchestrators/ (eslint.config.mjs): each thing a replayed orchestrator must
 * not do is reported once, by the rule whose message says what to use instead, and a realistic orchestrator
 * written with context.df APIs only reports nothing at all, type-aware rules included.
 *
 * How the snippets are linted: ESLint loads eslint.config.mjs with a dynamic import(), which Jest's module
 * sandbox refuses without --experimental-vm-modules, so one child Node process runs one ESLint instance
 * for all snippets. Each snippet is handed to lintText as the content of one virtual file,
 * `src/orchestrators/determinism.lint-case.ts`, so the orchestrator rule set applies and relative imports
 * resolve as in a real orchestrator; nothing is written to disk, so there is nothing to clean up and
 * nothing for a concurrent `eslint .` or `tsc` to trip over. typescript-eslint's project service only
 * type-checks files that a tsconfig finds on disk; the child admits this one path through
 * `projectService.allowDefaultProject`, whose default project takes its compiler options from
 * tsconfig.json. One path for every snippet, because the project service re-reads an open file's content
 * on each lintText and refuses more than 8 distinct default-project files. The override lives here only,
 * for a path no real file has, so the repository's configuration is linted exactly as `npx eslint .` uses it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const CASE_FILE = 'src/orchestrators/determinism.lint-case.ts';
const DETERMINISM_RULES = ['no-restricted-globals', 'no-restricted-properties', 'no-restricted-syntax', 'no-restricted-imports'] as const;
type Rule = (typeof DETERMINISM_RULES)[number];

interface LintMessage {
  ruleId: string | null;
  message: string;
  fatal: boolean;
}

/** Runs in the child: reads the cases as JSON on stdin, writes each case's messages as JSON on stdout. */
const RUNNER = `
const { ESLint } = require('eslint');
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { file, cases } = JSON.parse(input);
  const eslint = new ESLint({
    cwd: process.cwd(),
    overrideConfig: { files: [file], languageOptions: { parserOptions: { projectService: { allowDefaultProject: [file] } } } },
  });
  (async () => {
    const out = {};
    for (const c of cases) {
      const [result] = await eslint.lintText(c.code, { filePath: file });
      out[c.name] = result.messages.map((m) => ({ ruleId: m.ruleId, message: m.message, fatal: m.fatal === true }));
    }
    process.stdout.write(JSON.stringify(out));
  })().catch((error) => { console.error(error); process.exitCode = 1; });
});
`;

function lintCases(cases: { name: string; code: string }[]): Promise<Record<string, LintMessage[]>> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', RUNNER], { cwd: root, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`ESLint runner failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, LintMessage[]>);
    });
    child.stdin?.end(JSON.stringify({ file: CASE_FILE, cases }));
  });
}

/** A small orchestrator module around `body`; `preamble` goes after the imports. */
function orchestrator(body: string, preamble = ''): string {
  return `import type { OrchestrationContext, Task } from 'durable-functions';
${preamble}
export function* probe(context: OrchestrationContext): Generator<Task, null, unknown> {
  ${body}
  yield context.df.createTimer(context.df.currentUtcDateTime);
  return null;
}
`;
}

/** A module with the import `statement` (binding `imported`) that uses it, so only the import is in question. */
function importing(statement: string): string {
  return orchestrator('context.df.setCustomStatus(typeof imported);', statement);
}

/** [case name, module text, the rule that must report it, a phrase of the advice its message must give]. */
const FORBIDDEN: [string, string, Rule, string][] = [
  // The environment and the host.
  ['process-env', orchestrator('context.df.setCustomStatus(process.env.SENDER_MAILBOX);'), 'no-restricted-globals', 'in its input'],
  ['globalThis-process', orchestrator('context.df.setCustomStatus(globalThis.process.env.SENDER_MAILBOX);'), 'no-restricted-globals', 'context.df'],
  ['navigator', orchestrator('context.df.setCustomStatus(navigator.hardwareConcurrency);'), 'no-restricted-globals', 'in its input'],
  // The clock.
  ['new-Date', orchestrator('context.df.setCustomStatus(new Date().toISOString());'), 'no-restricted-syntax', 'context.df.currentUtcDateTime'],
  ['new-Date-no-parens', orchestrator('const now = new Date;\n  context.df.setCustomStatus(now.toISOString());'), 'no-restricted-syntax', 'context.df.currentUtcDateTime'],
  ['Date-called', orchestrator('context.df.setCustomStatus(Date());'), 'no-restricted-syntax', 'context.df.currentUtcDateTime'],
  ['Date-now', orchestrator('context.df.setCustomStatus(Date.now());'), 'no-restricted-properties', 'context.df.currentUtcDateTime'],
  ['new-Date-of-Date-now', orchestrator('context.df.setCustomStatus(new Date(Date.now()).toISOString());'), 'no-restricted-properties', 'context.df.currentUtcDateTime'],
  ['Date-now-as-value', orchestrator('const read = Date.now;\n  context.df.setCustomStatus(read());'), 'no-restricted-properties', 'context.df.currentUtcDateTime'],
  ['performance-now', orchestrator('context.df.setCustomStatus(performance.now());'), 'no-restricted-globals', 'context.df.currentUtcDateTime'],
  ['clock-import', importing("import { now as imported } from '../clock';"), 'no-restricted-imports', 'context.df.currentUtcDateTime'],
  // Time zone and locale of the host.
  ['local-date-components', orchestrator('context.df.setCustomStatus(new Date(2025, 0, 31).toISOString());'), 'no-restricted-syntax', 'Date.UTC'],
  ['Intl-time-zone', orchestrator('context.df.setCustomStatus(Intl.DateTimeFormat().resolvedOptions().timeZone);'), 'no-restricted-globals', 'toISOString()'],
  ['local-hours', orchestrator('context.df.setCustomStatus(context.df.currentUtcDateTime.getHours());'), 'no-restricted-properties', 'getUTC'],
  ['toLocaleString', orchestrator('context.df.setCustomStatus(context.df.currentUtcDateTime.toLocaleString());'), 'no-restricted-properties', 'toISOString()'],
  // Randomness.
  ['Math-random', orchestrator('context.df.setCustomStatus(Math.random());'), 'no-restricted-properties', 'context.df.newGuid'],
  ['crypto-randomUUID', orchestrator('context.df.setCustomStatus(crypto.randomUUID());'), 'no-restricted-globals', 'context.df.newGuid'],
  ['globalThis-crypto', orchestrator('context.df.setCustomStatus(globalThis.crypto.randomUUID());'), 'no-restricted-globals', 'context.df'],
  ['crypto-getRandomValues', orchestrator('context.df.setCustomStatus(crypto.getRandomValues(new Uint8Array(16)));'), 'no-restricted-globals', 'context.df.newGuid'],
  // Host timers and callbacks.
  ['setTimeout', orchestrator('setTimeout(() => context.df.setCustomStatus("late"), 1000);'), 'no-restricted-globals', 'context.df.createTimer'],
  ['setInterval', orchestrator('setInterval(() => context.df.setCustomStatus("tick"), 1000);'), 'no-restricted-globals', 'context.df.createTimer'],
  ['setImmediate', orchestrator('setImmediate(() => context.df.setCustomStatus("soon"));'), 'no-restricted-globals', 'context.df.createTimer'],
  ['queueMicrotask', orchestrator('queueMicrotask(() => context.df.setCustomStatus("later"));'), 'no-restricted-globals', 'inline, in order'],
  // Promises and async code.
  ['Promise-all', orchestrator('context.df.setCustomStatus(Promise.all([]));'), 'no-restricted-globals', 'context.df.Task.all/any'],
  ['new-Promise', orchestrator('context.df.setCustomStatus(new Promise<void>((done) => done()));'), 'no-restricted-globals', 'context.df.Task.all/any'],
  [
    'async-function',
    `import type { OrchestrationContext } from 'durable-functions';
export async function probe(context: OrchestrationContext): Promise<unknown> {
  return await context.df.callActivity('notify', {});
}
`,
    'no-restricted-syntax',
    'function*',
  ],
  [
    'async-generator',
    `import type { OrchestrationContext, Task } from 'durable-functions';
export async function* probe(context: OrchestrationContext): AsyncGenerator<Task, null, unknown> {
  yield context.df.createTimer(context.df.currentUtcDateTime);
  return null;
}
`,
    'no-restricted-syntax',
    'function*',
  ],
  ['await-in-callback', orchestrator('const later = async (): Promise<number> => await 1;\n  context.df.setCustomStatus(later);'), 'no-restricted-syntax', 'function*'],
  // I/O.
  ['fetch', orchestrator("context.df.setCustomStatus(fetch('https://graph.microsoft.com/v1.0/applications'));"), 'no-restricted-globals', 'context.df.callHttp'],
  ['XMLHttpRequest', orchestrator('context.df.setCustomStatus(new XMLHttpRequest());'), 'no-restricted-globals', 'activity'],
  ['WebSocket', orchestrator("context.df.setCustomStatus(new WebSocket('wss://example.invalid'));"), 'no-restricted-globals', 'activity'],
  // Module loading around the import rules.
  ['dynamic-import', orchestrator("context.df.setCustomStatus(import('./activityCalls'));"), 'no-restricted-syntax', 'static import'],
  ['require-call', orchestrator("context.df.setCustomStatus(require('node:fs'));"), 'no-restricted-globals', 'static import'],
  ['import-equals-require', importing("import imported = require('node:fs');"), 'no-restricted-imports', 'activity'],
  // Imports.
  ['node-builtin', importing("import { readFileSync as imported } from 'node:fs';"), 'no-restricted-imports', 'activity'],
  ['node-builtin-bare', importing("import { randomUUID as imported } from 'crypto';"), 'no-restricted-imports', 'activity'],
  ['node-builtin-subpath', importing("import { setTimeout as imported } from 'timers/promises';"), 'no-restricted-imports', 'activity'],
  ['config', importing("import { loadConfig as imported } from '../config';"), 'no-restricted-imports', 'in its input'],
  ['composition', importing("import { productServices as imported } from '../composition';"), 'no-restricted-imports', 'activity'],
  ['clients', importing("import { EntraApplications as imported } from '../clients/entraApplications';"), 'no-restricted-imports', 'activity'],
  ['activities', importing("import { notify as imported } from '../activities/notify';"), 'no-restricted-imports', 'activity'],
  ['functions', importing("import * as imported from '../functions/setupHttp';"), 'no-restricted-imports', 'activity'],
  ['dashboard', importing("import * as imported from '../dashboard/page';"), 'no-restricted-imports', 'activity'],
  ['side-effect-import', importing("import '../functions/setupHttp';\nconst imported = 1;"), 'no-restricted-imports', 'activity'],
  ['re-export', orchestrator('', "export * from '../clients/entraApplications';"), 'no-restricted-imports', 'activity'],
  ['azure-sdk', importing("import { SecretClient as imported } from '@azure/keyvault-secrets';"), 'no-restricted-imports', 'activity'],
  ['azure-functions-value', importing("import { app as imported } from '@azure/functions';"), 'no-restricted-imports', 'activity'],
  ['node-forge', importing("import * as imported from 'node-forge';"), 'no-restricted-imports', 'activity'],
  ['escape-from-orchestrators', importing("import * as imported from './../clients/errors';"), 'no-restricted-imports', 'activity'],
  ['escape-from-contracts', importing("import * as imported from '../contracts/../config';"), 'no-restricted-imports', 'in its input'],
  // State outside the run.
  ['module-let', orchestrator('attempts += 1;\n  context.df.setCustomStatus(attempts);', 'let attempts = 0;'), 'no-restricted-syntax', "generator's local variables"],
  ['exported-var', orchestrator('context.df.setCustomStatus(attempts);', 'export var attempts = 0;'), 'no-restricted-syntax', "generator's local variables"],
];

/** Things that look close to the forbidden ones and are fine in an orchestrator. */
const ALLOWED: [string, string][] = [
  ['type-import-durable-functions', orchestrator('context.df.setCustomStatus(context.df.instanceId);')],
  ['value-import-durable-functions', importing("import * as df from 'durable-functions';\nconst imported = new df.RetryOptions(1000, 3);")],
  ['type-import-client', importing("import type { EntraApplications } from '../clients/entraApplications';\nconst imported: EntraApplications | null = null;")],
  ['inline-type-import-activity', importing("import { type ActivityHandler } from '../activities/deps';\nconst imported: ActivityHandler<number, number> | null = null;")],
  ['type-import-azure-sdk', importing("import type { SecretProperties } from '@azure/keyvault-secrets';\nconst imported: SecretProperties | null = null;")],
  ['contracts', importing("import { SETUP_STEPS as imported } from '../contracts/operations';")],
  ['orchestrator-module', importing("import { RETRY as imported } from './activityCalls';")],
  ['date-from-history', orchestrator('context.df.setCustomStatus(new Date(context.df.currentUtcDateTime.getTime() + 60_000).toISOString());')],
  ['date-utc-components', orchestrator('context.df.setCustomStatus(new Date(Date.UTC(2025, 0, 31)).getUTCHours());')],
  ['module-const', orchestrator('context.df.setCustomStatus(HOUR);', 'const HOUR = 3_600_000;')],
];

/**
 * A clean orchestrator in the style of src/orchestrators: time from history, a deterministic id, an
 * activity with a named retry, a durable timer raced against an external event, and progress in the
 * custom status.
 */
const CLEAN = `/**
 * Orchestration that asks a person to confirm, reminds them once a day and gives up after a week.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ActivityResult, NotifyOutput } from '../contracts/activities';
import { EXTERNAL_EVENTS } from '../contracts/operations';
import { RETRY } from './activityCalls';

const DAY = 86_400_000;
const notifyRetry = new df.RetryOptions(2_000, 5);

export function* confirmWithReminders(context: OrchestrationContext): Generator<Task, string, unknown> {
  const environmentId = context.df.getInput<string>();
  const requestId = context.df.newGuid(\`\${context.df.instanceId}/confirm\`);
  const startedAt = context.df.currentUtcDateTime.getTime();
  const deadline = startedAt + 7 * DAY;
  const event = context.df.waitForExternalEvent(EXTERNAL_EVENTS[0]);
  for (;;) {
    const now = context.df.currentUtcDateTime;
    if (now.getTime() >= deadline) return 'timed-out';
    context.df.setCustomStatus({ requestId, waitingSince: new Date(startedAt).toISOString(), checkedAt: now.toISOString() });
    const sent = (yield context.df.callActivityWithRetry('notify', now.getTime() === startedAt ? RETRY.standard : notifyRetry, {
      environmentId,
      kind: now.getTime() === startedAt ? 'action-needed' : 'reminder',
      subject: \`Confirm \${environmentId}\`,
      lines: [\`Request \${requestId}\`],
    })) as ActivityResult<NotifyOutput>;
    if (!sent.ok) return 'not-notified';
    const timer = context.df.createTimer(new Date(Math.min(deadline, now.getTime() + DAY)));
    const winner: unknown = yield context.df.Task.any([event, timer]);
    if (winner === event) {
      timer.cancel();
      return 'confirmed';
    }
  }
}
`;

describe('orchestrator determinism rules', () => {
  let results: Record<string, LintMessage[]>;

  beforeAll(async () => {
    results = await lintCases([
      ...FORBIDDEN.map(([name, code]) => ({ name, code })),
      ...ALLOWED.map(([name, code]) => ({ name, code })),
      { name: 'clean-orchestrator', code: CLEAN },
    ]);
  }, 120_000);

  const determinismFindings = (name: string): { ruleId: string | null; message: string }[] => {
    const messages = results[name];
    if (!messages) throw new Error(`no lint result for ${name}`);
    expect(messages.filter((m) => m.fatal)).toEqual([]);
    return messages.filter((m) => m.ruleId !== null && (DETERMINISM_RULES as readonly string[]).includes(m.ruleId)).map(({ ruleId, message }) => ({ ruleId, message }));
  };

  it.each(FORBIDDEN)('%s is reported once, by the rule that says what to use instead', (name, _code, rule, advice) => {
    const findings = determinismFindings(name);
    expect(findings).toHaveLength(1);
    expect(findings[0]?.ruleId).toBe(rule);
    expect(findings[0]?.message).toContain(advice);
  });

  it.each(ALLOWED)('%s passes the determinism rules', (name) => {
    expect(determinismFindings(name)).toEqual([]);
  });

  it('a realistic orchestrator written with context.df APIs reports nothing, type-aware rules included', () => {
    expect(results['clean-orchestrator']).toEqual([]);
  });
});
