/**
 * `fno-graph-mail setup|rotate|status`: the product's orchestrations for one-off use from a terminal,
 * without deploying. The function app runs in this process on the local runtime, against Azure
 * (DefaultAzureCredential, settings from the environment or a local.settings.json) or a running
 * sandbox (`--sandbox .sandbox/endpoints.json`). Progress goes to stderr, the result to stdout
 * (`--json`: exactly one JSON document). Exit codes: 0 success, 1 the operation failed, 2 usage or
 * validation error, 3 settings error, 130 interrupted.
 */
import './cli/preload';
import * as tls from 'node:tls';
import { assertAllowedEnvironmentUrl, isEnvironmentUrlNotAllowedError } from '../src/clients/hostAllowlist';
import { now as productNow, useClock } from '../src/clock';
import { productServices } from '../src/composition';
import { ConfigError } from '../src/config';
import type { EnvironmentRecord } from '../src/contracts/environment';
import { instanceIds } from '../src/contracts/names';
import { toEnvironmentRecord, toTenantRecord } from '../src/contracts/registry';
import type { RotationInput } from '../src/contracts/rotation';
import { buildRotationInput, buildSetupInput, RunInputError } from '../src/functions/runs';
import type { Clock } from './clock';
import { parseCommandLine, USAGE, UsageError, wantsJson, type Command, type CommonOptions, type RunOptions } from './cli/args';
import { formatRecord, formatTable } from './cli/progress';
import { RunConflictError, runOrchestration, type RunOutcome, type StartSpec } from './cli/run';
import { readSandboxTarget, readSettingsFile, resolveSettings, SettingsSourceError, type ResolvedSettings } from './cli/settings';
import { acquireLock, LockedError, runDirectory, unfinishedRuns } from './cli/state';

export const EXIT = { ok: 0, failed: 1, usage: 2, settings: 3, interrupted: 130 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
  signal: AbortSignal;
  /** Asks to stop (Ctrl-C): a run in progress stops and stays saved. */
  interrupt(): void;
  terminal?: NodeJS.ReadStream;
  /** Where relative paths on the command line start from; default the process's working directory. */
  cwd?: string;
}

/** True while a run is followed: Ctrl-C then stops it and leaves it saved instead of exiting at once. */
let runInProgress = false;

const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Reads the settings sources the options name and parses them (ConfigError / SettingsSourceError: exit 3). */
async function loadSettings(options: CommonOptions): Promise<ResolvedSettings> {
  const sandbox = options.sandboxFile !== undefined ? readSandboxTarget(options.sandboxFile) : undefined;
  let sandboxSettings: Record<string, string> | undefined;
  if (sandbox) {
    let sandboxedApp: typeof import('./sandboxedApp');
    try {
      // The sandbox's code (and its dev dependencies) loads only when asked for.
      sandboxedApp = await import('./sandboxedApp');
    } catch (error) {
      throw new SettingsSourceError(
        `--sandbox needs the repository checkout with its development dependencies (npm ci): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    sandboxSettings = sandboxedApp.sandboxAppSettings(sandbox.endpoints);
  }
  return resolveSettings({
    env: process.env,
    ...(sandbox ? { sandbox } : {}),
    ...(sandboxSettings ? { sandboxSettings } : {}),
    ...(options.settingsFile !== undefined ? { file: readSettingsFile(options.settingsFile) } : {}),
  });
}

/**
 * Makes the settings this process's app settings (as the Functions host exposes them), trusts the
 * sandbox CA and follows the sandbox's virtual clock when running against one.
 */
async function activate(settings: ResolvedSettings): Promise<Clock> {
  Object.assign(process.env, settings.values);
  let clock: Clock = { now: () => Date.now() };
  const sandbox = settings.sandbox;
  if (sandbox) {
    if (typeof tls.setDefaultCACertificates !== 'function') {
      throw new Error(`--sandbox needs Node.js 22.19 or later to trust the sandbox CA in-process (this is ${process.version}).`);
    }
    const { trustCertificate } = await import('./sandboxedApp');
    trustCertificate(sandbox.caPem);
    let sandboxNow: number;
    try {
      const reply = await fetch(`${sandbox.endpoints.controlUrl}/clock`, { signal: AbortSignal.timeout(5000) });
      sandboxNow = Date.parse(((await reply.json()) as { now: string }).now);
    } catch {
      throw new Error(`The sandbox at ${sandbox.endpoints.controlUrl} does not answer; start it with \`npm run sandbox\` (or \`npm start\`) first.`);
    }
    // Credential expiry in the sandbox follows its virtual clock (which tests move forward): keep in step with it.
    const offset = Number.isFinite(sandboxNow) ? sandboxNow - Date.now() : 0;
    clock = { now: () => Date.now() + offset };
  }
  useClock(() => clock.now());
  return clock;
}

function targetLine(settings: ResolvedSettings): string {
  const where = settings.sandbox ? `the sandbox (Key Vault ${settings.config.keyVaultUrl})` : `Key Vault ${settings.config.keyVaultUrl}`;
  return `${where}, tenant ${settings.config.tenantId}`;
}

async function setup(command: Extract<Command, { kind: 'setup' }>, io: Io): Promise<number> {
  const { options, environmentId, request } = command;
  const settings = await loadSettings(options);
  let environmentUrl: string;
  try {
    environmentUrl = assertAllowedEnvironmentUrl(request.environmentUrl, settings.config.finOps.allowedHosts, environmentId);
  } catch (error) {
    if (isEnvironmentUrlNotAllowedError(error)) throw new UsageError(`--url: ${error.message}`, 'setup');
    throw error;
  }
  // Partner mode, a customer tenant: the registry says whether it is onboarded (which needs the settings active).
  const config = settings.config;
  const foreign = request.tenantId !== undefined && request.tenantId !== config.tenantId && config.operatorClientId !== undefined;
  const clock = foreign ? await activate(settings) : undefined;
  let onboarded = false;
  if (foreign && request.tenantId !== undefined) {
    const entry = await productServices().registry.tenantEntry(request.tenantId);
    onboarded = entry !== null && toTenantRecord(entry, request.tenantId)?.consent === 'granted';
  }
  let input;
  try {
    input = buildSetupInput(environmentId, environmentUrl, request, config, { onboarded });
  } catch (error) {
    if (error instanceof RunInputError) throw new UsageError(`--${error.field === 'senderMailbox' ? 'sender' : error.field}: ${error.detail}`, 'setup');
    throw error;
  }
  const active = clock ?? (await activate(settings));
  const instanceId = instanceIds.setup(environmentId);
  io.err(`Target: ${targetLine(settings)}.`);
  return runCommand(io, options, settings, active, environmentId, {
    instanceId,
    otherCommand: `fno-graph-mail rotate ${environmentId}`,
    what: 'setup',
    prepare: () => {
      io.err(
        `Setting up ${environmentId} (${environmentUrl}) as run ${instanceId}: consent ${input.consent}, delivery ${input.delivery}, secret lifetime ${input.secretLifetimeDays} days.`,
      );
      return Promise.resolve({ kind: 'setup', input });
    },
  });
}

async function rotate(command: Extract<Command, { kind: 'rotate' }>, io: Io): Promise<number> {
  const { options, environmentId } = command;
  const settings = await loadSettings(options);
  const clock = await activate(settings);
  const { config } = settings;
  const instanceId = instanceIds.rotation(environmentId);
  io.err(`Target: ${targetLine(settings)}.`);
  const graceHours = command.graceHours ?? config.rotation.graceHours;
  return runCommand(io, options, settings, clock, environmentId, {
    instanceId,
    otherCommand: `fno-graph-mail setup ${environmentId} --url <environmentUrl>`,
    what: 'rotation',
    prepare: async () => {
      const found = await productServices().activities.readEnvironment(
        { environmentId, asOf: new Date(productNow()).toISOString(), leadDays: config.rotation.leadDays },
        quietLog,
      );
      if (!found.found) {
        throw new UsageError(
          `No environment ${environmentId} is registered in Key Vault ${config.keyVaultUrl}; set it up first: fno-graph-mail setup ${environmentId} --url <environmentUrl>.`,
          'rotate',
        );
      }
      const input: RotationInput = { ...buildRotationInput(environmentId, 'manual', config), graceHours, delivery: command.delivery ?? config.deliveryStrategy };
      io.err(
        `Rotating the credential of ${environmentId} as run ${instanceId}: current credential ${found.record.credential.keyId} (${found.record.status}, expires ${found.record.credential.expiresOn}), delivery ${input.delivery}.`,
      );
      if (graceHours > 0) {
        io.err(
          `  Grace period ${graceHours} h: once F&O holds the new credential, the previous one stays valid for at least ${graceHours} hour(s), and until Entra shows F&O signing in with the new one and not the old; ` +
            'this command waits that long before revoking it (Ctrl-C leaves the run saved; `rotate` again later finishes it; --grace-hours 0 revokes as soon as F&O is seen on the new one).',
        );
      } else {
        io.err(
          '  Grace period 0 h: the previous credential is revoked as soon as Entra shows F&O signing in with the new one and not the old (without access to sign-in logs: as soon as F&O holds it).',
        );
      }
      return { kind: 'rotation', input };
    },
    // Only a real grace period is ever seen waiting: with 0 hours the step passes within one episode.
    onGrace: (detail) => {
      io.err(`  The new credential is in place; ${detail ?? 'the previous one stays valid during the grace period'}. Ctrl-C leaves the run saved: run \`fno-graph-mail rotate ${environmentId}\` after that to revoke it.`);
    },
  });
}

interface RunSpec {
  instanceId: string;
  otherCommand: string;
  what: 'setup' | 'rotation';
  prepare: () => Promise<StartSpec>;
  onGrace?: (detail: string | undefined) => void;
}

async function runCommand(io: Io, options: RunOptions, settings: ResolvedSettings, clock: Clock, environmentId: string, spec: RunSpec): Promise<number> {
  const run = runDirectory(options.stateDir, settings.config, environmentId);
  const release = acquireLock(run, environmentId);
  let outcome: RunOutcome;
  runInProgress = true;
  try {
    outcome = await runOrchestration({
      run,
      settings,
      clock,
      environmentId,
      instanceId: spec.instanceId,
      otherCommand: spec.otherCommand,
      prepare: spec.prepare,
      restart: options.restart,
      confirm: options.confirm,
      ...(options.waitTimeoutMs !== undefined ? { waitTimeoutMs: options.waitTimeoutMs } : {}),
      verbose: options.verbose,
      say: (line) => io.err(line),
      onSteps: (steps) => {
        const grace = steps.find((s) => s.name === 'gracePeriod' && s.status === 'waiting');
        if (grace) spec.onGrace?.(grace.detail);
      },
      signal: io.signal,
      ...(io.terminal ? { terminal: io.terminal } : {}),
      onTerminalInterrupt: () => io.interrupt(),
    });
  } finally {
    runInProgress = false;
    release();
  }

  switch (outcome.kind) {
    case 'completed': {
      const record = outcome.output as EnvironmentRecord;
      io.err(`Done: the ${spec.what} of ${environmentId} completed; the credential ${record.credential.keyId} expires ${record.credential.expiresOn}.`);
      io.out(io.json ? JSON.stringify(record, null, 2) : formatRecord(record));
      return EXIT.ok;
    }
    case 'failed':
      return failure(io, EXIT.failed, `The ${spec.what} of ${environmentId} failed: ${outcome.message}`, { instanceId: outcome.instanceId }, [
        `The function app's log: ${run.logFile}`,
      ]);
    case 'timed-out':
      return failure(
        io,
        EXIT.failed,
        `Stopped following the ${spec.what} of ${environmentId} after --wait-timeout: the run is still ${
          outcome.waitingFor ? `waiting for ${outcome.waitingFor}` : outcome.runtimeStatus.toLowerCase()
        }${outcome.step ? ` at step ${outcome.step.name}${outcome.step.detail ? ` (${outcome.step.detail})` : ''}` : ''}. It stays saved in ${run.dir}; run the same command again to continue it.`,
        {
          instanceId: outcome.instanceId,
          pending: true,
          ...(outcome.waitingFor ? { waitingFor: outcome.waitingFor } : {}),
          ...(outcome.step ? { step: outcome.step.name } : {}),
        },
      );
    case 'interrupted':
      if (!outcome.started) return failure(io, EXIT.interrupted, `Interrupted before the ${spec.what} of ${environmentId} started; nothing was changed.`);
      return failure(
        io,
        EXIT.interrupted,
        `Interrupted. The ${spec.what} run ${outcome.instanceId} stays saved in ${run.dir}; run the same command again to resume it (or with --restart to start over).`,
        { instanceId: outcome.instanceId, pending: true },
      );
  }
}

async function status(command: Extract<Command, { kind: 'status' }>, io: Io): Promise<number> {
  const { options } = command;
  const settings = await loadSettings(options);
  await activate(settings);
  const { config } = settings;
  const services = productServices();
  const notes = unfinishedRuns(options.stateDir).filter((r) => command.environmentId === undefined || r.instanceId.endsWith(`-${command.environmentId}`));
  for (const run of notes) {
    io.err(`Unfinished run ${run.instanceId} (${run.waitingFor ? `waiting for ${run.waitingFor}` : run.runtimeStatus.toLowerCase()}, started ${run.createdTime}) in ${run.file}; the same command resumes it.`);
  }

  if (command.environmentId !== undefined) {
    const environmentId = command.environmentId;
    const found = await services.activities.readEnvironment(
      { environmentId, asOf: new Date(productNow()).toISOString(), leadDays: config.rotation.leadDays },
      quietLog,
    );
    if (!found.found) {
      throw new UsageError(`No environment ${environmentId} is registered in Key Vault ${config.keyVaultUrl}.`, 'status');
    }
    io.out(io.json ? JSON.stringify(found.record, null, 2) : formatRecord(found.record));
    return EXIT.ok;
  }

  const environments: EnvironmentRecord[] = [];
  const now = productNow();
  for await (const page of services.registry.pages()) {
    for (const entry of page) {
      const record = toEnvironmentRecord(entry, now, config.rotation.leadDays);
      if (record) environments.push(record);
    }
  }
  environments.sort((a, b) => (a.environmentId < b.environmentId ? -1 : a.environmentId > b.environmentId ? 1 : 0));
  if (io.json) io.out(JSON.stringify({ environments }, null, 2));
  else if (environments.length === 0) io.err(`No environment is registered in Key Vault ${config.keyVaultUrl} yet.`);
  else io.out(formatTable(environments));
  return EXIT.ok;
}

function failure(io: Io, code: number, message: string, extra: Record<string, unknown> = {}, details: string[] = []): number {
  io.err(`fno-graph-mail: ${message}`);
  for (const line of details) io.err(`  ${line}`);
  if (io.json) io.out(JSON.stringify({ error: message, ...extra }, null, 2));
  return code;
}

/** Runs one command line; resolves with the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv, io.cwd ?? process.cwd());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (argv.length === 0) {
      io.err(USAGE.main);
      return failure(io, EXIT.usage, error.message);
    }
    return failure(io, EXIT.usage, error.message, {}, [`Run \`fno-graph-mail ${error.command ?? ''}${error.command ? ' ' : ''}--help\` for ${error.command ? 'its options' : 'the commands'}.`]);
  }
  if (command.kind === 'help') {
    io.out(USAGE[command.topic ?? 'main']);
    return EXIT.ok;
  }
  try {
    switch (command.kind) {
      case 'setup':
        return await setup(command, io);
      case 'rotate':
        return await rotate(command, io);
      case 'status':
        return await status(command, io);
    }
  } catch (error) {
    if (error instanceof UsageError) return failure(io, EXIT.usage, error.message);
    if (error instanceof ConfigError) {
      return failure(io, EXIT.settings, error.message, {}, [
        'Set them as environment variables, or pass --settings local.settings.json, or --sandbox .sandbox/endpoints.json.',
      ]);
    }
    if (error instanceof SettingsSourceError) return failure(io, EXIT.settings, error.message);
    if (error instanceof LockedError || error instanceof RunConflictError) return failure(io, EXIT.failed, error.message);
    return failure(io, EXIT.failed, error instanceof Error ? error.message : String(error));
  }
}

/** What `Io.out`/`Io.err` print for `text`: one or more whole lines. */
export function asLines(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Exits once everything written to stdout and stderr has been handed to the OS (pipes may be asynchronous). */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/** The process entry (bin/fno-graph-mail.js): parses `argv`, runs the command, exits with its code. */
export function runCli(argv: readonly string[] = process.argv.slice(2)): void {
  const controller = new AbortController();
  let signalCode: number | undefined;
  const interrupt = (code: number): void => {
    signalCode ??= code;
    // Outside a run there is nothing to save; a second Ctrl-C does not wait for the run to be saved.
    if (!runInProgress || controller.signal.aborted) {
      exitAfterFlush(code);
      return;
    }
    controller.abort();
  };
  // A reader that went away (`| head`) is no reason to abandon a run: the rest of the output is dropped.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  process.on('SIGINT', () => interrupt(EXIT.interrupted));
  process.on('SIGTERM', () => interrupt(143));
  const io: Io = {
    out: (text) => process.stdout.write(asLines(text)),
    err: (text) => process.stderr.write(asLines(text)),
    json: wantsJson(argv),
    signal: controller.signal,
    interrupt: () => interrupt(EXIT.interrupted),
    ...(process.stdin.isTTY ? { terminal: process.stdin } : {}),
  };
  main(argv, io).then(
    // Abandoned activities (after Ctrl-C) may still hold sockets open: their work is redone on resume.
    (code) => exitAfterFlush(signalCode ?? code),
    (error: unknown) => {
      process.stderr.write(`fno-graph-mail: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      exitAfterFlush(EXIT.failed);
    },
  );
}

if (require.main === module) runCli();
