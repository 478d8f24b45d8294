/**
 * The command line of `fno-graph-mail`: usage text, option parsing and the validation that needs no
 * settings. A setup is checked with the same schemas as the HTTP API (`environmentIdSchema`,
 * `setupRequestSchema`), so a bad id or field is refused here, before anything starts, with the
 * option's name in the message.
 */
import type { DeliveryStrategy } from '../../src/contracts/operations';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { environmentIdSchema } from '../../src/contracts/setup';
import { setupRequestSchema, type SetupRequest } from '../../src/contracts/setup';
import { describeIssues } from '../../src/functions/http';

export type CommandName = 'setup' | 'rotate' | 'status';
export const COMMAND_NAMES: readonly CommandName[] = ['setup', 'rotate', 'status'];

/** Where the durable state lives when `--state-dir` is not given (relative to the working directory). */
export const DEFAULT_STATE_DIR = '.fno-graph-mail';

export interface CommonOptions {
  json: boolean;
  verbose: boolean;
  /** Absolute. */
  stateDir: string;
  /** `--settings local.settings.json` (absolute): its `Values` are the app settings. */
  settingsFile?: string;
  /** `--sandbox .sandbox/endpoints.json` (absolute): run against a running sandbox. */
  sandboxFile?: string;
}

export interface RunOptions extends CommonOptions {
  /** Stop following the run after this long (it stays saved in the state directory). */
  waitTimeoutMs?: number;
  /** Tell a run that waits for a person that the person acted (raises the event it waits for). */
  confirm: boolean;
  /** Discard an unfinished run of the environment saved in the state directory and start over. */
  restart: boolean;
}

export type Command =
  | { kind: 'help'; topic?: CommandName }
  | { kind: 'setup'; options: RunOptions; environmentId: string; request: SetupRequest }
  | { kind: 'rotate'; options: RunOptions; environmentId: string; graceHours?: number; delivery?: DeliveryStrategy }
  | { kind: 'status'; options: CommonOptions; environmentId?: string };

/** A usage or validation problem: exit code 2, nothing started. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
  }
}

const SETTINGS_HELP = `Settings (the app settings of docs/settings.md), later sources win:
  environment variables
  --sandbox <endpoints.json>  a running sandbox (\`npm run sandbox\` writes .sandbox/endpoints.json)
  --settings <file>           the "Values" of a local.settings.json
Against Azure the product's identity is DefaultAzureCredential: sign in first (e.g. \`az login\`)
with an account that holds the permissions docs/settings.md lists.`;

const COMMON_HELP = `  --state-dir <dir>     durable state of the runs (default ./${DEFAULT_STATE_DIR})
  --json                print one JSON document on stdout (the result, or {"error": ...})
  --verbose             also print the function app's log lines on stderr
  -h, --help            this help`;

const RUN_HELP = `  --wait-timeout <t>    stop following after t (e.g. 90s, 30m, 2h; bare numbers are seconds);
                        the run stays saved and the same command resumes it
  --confirm             when the run waits for a person, tell it that the person acted
                        (ConsentGranted / EmailParametersUpdated)
  --restart             discard an unfinished run of this environment saved in the state
                        directory and start over`;

export const USAGE: Record<'main' | CommandName, string> = {
  main: `Usage: fno-graph-mail <command> [options]

Sets up and rotates the Microsoft Graph email credential of Dynamics 365 F&O environments from this
machine: the same orchestrations as the function app, run in-process on the local runtime.

Commands:
  setup <environmentId> --url <environmentUrl>   register the app, consent, secret, deliver, verify
  rotate <environmentId>                         rotate the environment's credential now
  status [environmentId]                         the registry (Key Vault tags): all, or one

Run \`fno-graph-mail <command> --help\` for a command's options.

${SETTINGS_HELP}

Exit codes: 0 success, 1 the operation failed, 2 usage or validation error, 3 settings error,
130 interrupted (the run stays saved; the same command resumes it).`,

  setup: `Usage: fno-graph-mail setup <environmentId> --url <environmentUrl> [options]

Runs the setupEnvironment orchestration (instance setup-<environmentId>) and prints the environment
record when it completes. Progress goes to stderr, step by step; when the run waits for a person
(consent request, manual delivery) it prints what to do and keeps waiting.

Options:
  --url <url>           the F&O environment, e.g. https://contoso-uat.sandbox.operations.dynamics.com;
                        its host must be in FINOPS_ALLOWED_HOSTS (required)
  --tenant <guid>       tenant to register the app in (default ENTRA_TENANT_ID)
  --consent <s>         grant | request (default CONSENT_STRATEGY)
  --delivery <s>        auto | odata | manual (default DELIVERY_STRATEGY)
  --lifetime-days <n>   lifetime of the client secret, 1-730 (default SECRET_LIFETIME_DAYS)
  --display-name <s>    display name of the app registration (default APP_DISPLAY_NAME_TEMPLATE)
  --sender <mail>       mailbox a test message is sent from (default SENDER_MAILBOX)
  --test-recipient <m>  with a sender: send a test message with the new credential
${RUN_HELP}
${COMMON_HELP}

${SETTINGS_HELP}`,

  rotate: `Usage: fno-graph-mail rotate <environmentId> [options]

Runs the rotateCredential orchestration (instance rotate-<environmentId>): a new client secret,
verified, into Key Vault and F&O; Entra shows F&O signing in with it; then - after the grace period,
and once F&O no longer signs in with the previous credential - the previous credential is revoked.
This command waits for it (Ctrl-C leaves the run saved; \`rotate\` again later finishes it).

Options:
  --grace-hours <n>     least hours the previous credential stays valid, 0-720 (default
                        ROTATION_GRACE_HOURS; 0 revokes it as soon as F&O is seen on the new one)
  --delivery <s>        auto | odata | manual (default DELIVERY_STRATEGY)
${RUN_HELP}
${COMMON_HELP}

${SETTINGS_HELP}`,

  status: `Usage: fno-graph-mail status [environmentId] [options]

Prints the fleet registry (the product's Key Vault secrets' tags, never a value) as a table, or one
environment's record. Unfinished runs saved in the state directory are mentioned on stderr.

Options:
${COMMON_HELP}

${SETTINGS_HELP}`,
};

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'state-dir': { type: 'string' },
  settings: { type: 'string' },
  sandbox: { type: 'string' },
} as const;

const RUN_OPTIONS = {
  ...COMMON_OPTIONS,
  'wait-timeout': { type: 'string' },
  confirm: { type: 'boolean' },
  restart: { type: 'boolean' },
} as const;

const SETUP_OPTIONS = {
  ...RUN_OPTIONS,
  url: { type: 'string' },
  tenant: { type: 'string' },
  consent: { type: 'string' },
  delivery: { type: 'string' },
  'lifetime-days': { type: 'string' },
  'display-name': { type: 'string' },
  sender: { type: 'string' },
  'test-recipient': { type: 'string' },
} as const;

const ROTATE_OPTIONS = {
  ...RUN_OPTIONS,
  'grace-hours': { type: 'string' },
  delivery: { type: 'string' },
} as const;

/** The setup request field each option fills, so schema messages name the option the user typed. */
const SETUP_FIELD_OPTIONS: Record<string, string> = {
  environmentUrl: '--url',
  tenantId: '--tenant',
  consent: '--consent',
  delivery: '--delivery',
  secretLifetimeDays: '--lifetime-days',
  appDisplayName: '--display-name',
  senderMailbox: '--sender',
  testRecipient: '--test-recipient',
};

/** True when the raw arguments ask for JSON output (also for reporting a usage error as JSON). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** Parses `argv` (without node and the script); relative paths resolve against `cwd`. */
export function parseCommandLine(argv: readonly string[], cwd: string): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('No command given.');
  if (first === '--help' || first === '-h') return { kind: 'help' };
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help' };
    if (!isCommandName(topic)) throw new UsageError(`Unknown command ${JSON.stringify(topic)}; expected one of ${COMMAND_NAMES.join(', ')}.`);
    return { kind: 'help', topic };
  }
  if (!isCommandName(first)) {
    throw new UsageError(`Unknown command ${JSON.stringify(first)}; expected one of ${COMMAND_NAMES.join(', ')}.`);
  }
  switch (first) {
    case 'setup':
      return parseSetup(rest, cwd);
    case 'rotate':
      return parseRotate(rest, cwd);
    case 'status':
      return parseStatus(rest, cwd);
  }
}

function isCommandName(value: string): value is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(value);
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: CommandName, args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's messages are right but long: keep the first sentence.
    const raw = (error as { message?: unknown } | null)?.message;
    const text = typeof raw === 'string' ? raw : String(error);
    const message = text.split('\n')[0]?.split(/(?<=\.) /)[0] ?? text;
    throw new UsageError(message, command);
  }
}

function common(command: CommandName, values: { json?: boolean; verbose?: boolean; 'state-dir'?: string; settings?: string; sandbox?: string }, cwd: string): CommonOptions {
  const options: CommonOptions = {
    json: values.json === true,
    verbose: values.verbose === true,
    stateDir: path.resolve(cwd, nonEmpty(command, '--state-dir', values['state-dir']) ?? DEFAULT_STATE_DIR),
  };
  const settings = nonEmpty(command, '--settings', values.settings);
  if (settings !== undefined) options.settingsFile = path.resolve(cwd, settings);
  const sandbox = nonEmpty(command, '--sandbox', values.sandbox);
  if (sandbox !== undefined) options.sandboxFile = path.resolve(cwd, sandbox);
  return options;
}

function runOptions(
  command: CommandName,
  values: Parameters<typeof common>[1] & { 'wait-timeout'?: string; confirm?: boolean; restart?: boolean },
  cwd: string,
): RunOptions {
  const options: RunOptions = { ...common(command, values, cwd), confirm: values.confirm === true, restart: values.restart === true };
  const timeout = values['wait-timeout'];
  if (timeout !== undefined) options.waitTimeoutMs = parseDuration(command, '--wait-timeout', timeout);
  return options;
}

function nonEmpty(command: CommandName, flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw new UsageError(`${flag} needs a value.`, command);
  return value;
}

function environmentId(command: CommandName, raw: string): string {
  const parsed = environmentIdSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(`The environment id ${JSON.stringify(raw.slice(0, 80))} ${parsed.error.issues[0]?.message ?? 'is invalid'}.`, command);
  }
  return parsed.data;
}

function onePositional(command: CommandName, positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`Missing the ${what}.`, command);
  if (positionals.length > 1) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[1])}.`, command);
  return positionals[0] as string;
}

function parseSetup(args: readonly string[], cwd: string): Command {
  const { values, positionals } = parse('setup', args, SETUP_OPTIONS);
  if (values.help) return { kind: 'help', topic: 'setup' };
  const id = environmentId('setup', onePositional('setup', positionals, 'environment id (fno-graph-mail setup <environmentId> --url <environmentUrl>)'));
  if (values.url === undefined) throw new UsageError('Missing --url <environmentUrl>: the F&O environment to set up.', 'setup');

  const body: Record<string, unknown> = { environmentUrl: values.url };
  if (values.tenant !== undefined) body.tenantId = values.tenant;
  if (values.consent !== undefined) body.consent = values.consent;
  if (values.delivery !== undefined) body.delivery = values.delivery;
  if (values['display-name'] !== undefined) body.appDisplayName = values['display-name'];
  if (values.sender !== undefined) body.senderMailbox = values.sender;
  if (values['test-recipient'] !== undefined) body.testRecipient = values['test-recipient'];
  const lifetime = values['lifetime-days'];
  if (lifetime !== undefined) body.secretLifetimeDays = /^\s*-?\d+\s*$/.test(lifetime) ? Number(lifetime) : lifetime;

  const parsed = setupRequestSchema.safeParse(body);
  if (!parsed.success) {
    const { detail, field } = describeIssues(parsed.error, body);
    const flag = field !== undefined ? SETUP_FIELD_OPTIONS[field] : undefined;
    throw new UsageError(flag !== undefined && field !== undefined && detail.startsWith(field) ? `${flag}${detail.slice(field.length)}` : detail, 'setup');
  }
  return { kind: 'setup', options: runOptions('setup', values, cwd), environmentId: id, request: parsed.data };
}

function parseRotate(args: readonly string[], cwd: string): Command {
  const { values, positionals } = parse('rotate', args, ROTATE_OPTIONS);
  if (values.help) return { kind: 'help', topic: 'rotate' };
  const id = environmentId('rotate', onePositional('rotate', positionals, 'environment id (fno-graph-mail rotate <environmentId>)'));
  const command: Command = { kind: 'rotate', options: runOptions('rotate', values, cwd), environmentId: id };
  const grace = values['grace-hours'];
  if (grace !== undefined) {
    if (!/^\d+$/.test(grace.trim()) || Number(grace) > 720) throw new UsageError('--grace-hours must be a whole number of hours from 0 to 720.', 'rotate');
    command.graceHours = Number(grace);
  }
  const delivery = values.delivery;
  if (delivery !== undefined) {
    if (delivery !== 'auto' && delivery !== 'odata' && delivery !== 'manual') throw new UsageError('--delivery must be "auto", "odata" or "manual".', 'rotate');
    command.delivery = delivery;
  }
  return command;
}

function parseStatus(args: readonly string[], cwd: string): Command {
  const { values, positionals } = parse('status', args, COMMON_OPTIONS);
  if (values.help) return { kind: 'help', topic: 'status' };
  if (positionals.length > 1) throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[1])}.`, 'status');
  const command: Command = { kind: 'status', options: common('status', values, cwd) };
  if (positionals[0] !== undefined) command.environmentId = environmentId('status', positionals[0]);
  return command;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90`, `90s`, `30m`, `2h`, `1d` → milliseconds. */
export function parseDuration(command: CommandName, flag: string, raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(raw);
  const amount = m ? Number(m[1]) : NaN;
  const unit = UNIT_MS[(m?.[2] ?? '').toLowerCase() || 's'] ?? 1000;
  const ms = Math.round(amount * unit);
  // setTimeout's limit (about 24.8 days) bounds a single wait.
  if (!Number.isFinite(ms) || ms <= 0 || ms > 2_147_483_647) {
    throw new UsageError(`${flag} must be a positive duration such as 90s, 30m or 2h (at most 24 days), not ${JSON.stringify(raw)}.`, command);
  }
  return ms;
}
