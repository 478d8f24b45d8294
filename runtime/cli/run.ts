/**
 * One run of an orchestration for the command line: the function app on the local runtime in this
 * process (free ports, no timers, durable state in the environment's run directory), the run started
 * or — when the state directory holds an unfinished one — resumed, and followed until it finishes,
 * the person stops it, or the wait times out. While the run waits for a person, a terminal's Enter
 * (or `--confirm`) raises the event it waits for, in-process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Clock } from '../clock';
import { formatLogEntry } from '../logs';
import { startLocalRuntime, type LocalRuntime } from '../index';
import type { DurableDriver, InstanceStatus } from '../durable/driver';
import { InstanceStore, TERMINAL_STATUSES, type InstanceRecord } from '../durable/store';
import { instanceIds, RUN_LOCK_ENTITY } from '../../src/contracts/names';
import type { RunHolder, RunKind, StepState, WaitingFor } from '../../src/contracts/operations';
import { failureMessage } from '../../src/functions/operationsHttp';
import { startEnvironmentRun, type RunHost } from '../../src/functions/runs';
import type { ResolvedSettings } from './settings';
import type { RunDirectory } from './state';
import { ProgressReporter } from './progress';

export interface StartSpec {
  kind: RunKind;
  input: { environmentId: string };
}

export type RunOutcome =
  | { kind: 'completed'; instanceId: string; output: unknown }
  | { kind: 'failed'; instanceId: string; message: string }
  | { kind: 'interrupted'; instanceId: string; started: boolean }
  | { kind: 'timed-out'; instanceId: string; runtimeStatus: string; waitingFor?: string; step?: StepState };

/** The environment has an unfinished run of the other kind (exit code 1; `--restart` discards it). */
export class RunConflictError extends Error {
  override name = 'RunConflictError';
}

export interface RunRequest {
  run: RunDirectory;
  settings: ResolvedSettings;
  clock: Clock;
  environmentId: string;
  /** The instance this command runs (the other kinds of run of the environment are in conflict with it). */
  instanceId: string;
  /** How to continue the other kind of run, for the conflict message. */
  otherCommand: string;
  /** Builds the input of a new run (not called when resuming); may refuse by throwing. */
  prepare: () => Promise<StartSpec>;
  restart: boolean;
  confirm: boolean;
  waitTimeoutMs?: number;
  verbose: boolean;
  /** Progress and instructions (stderr). */
  say: (line: string) => void;
  /** Step changes, for command-specific hints. */
  onSteps?: (steps: StepState[]) => void;
  signal: AbortSignal;
  /** A terminal to accept the confirmation from; undefined when stdin is not one. */
  terminal?: NodeJS.ReadStream;
  /** Ctrl-C typed while the terminal is read line by line (readline takes it from the process). */
  onTerminalInterrupt: () => void;
}

/** The function app's entry next to this module: compiled `dist/src/index.js`, or the source under Jest. */
export function appEntry(): string {
  return __filename.endsWith('.ts') ? path.join(__dirname, '..', '..', 'src', 'index.ts') : path.join(__dirname, '..', '..', 'src', 'index.js');
}

export async function runOrchestration(request: RunRequest): Promise<RunOutcome> {
  const { run, say } = request;
  // Read before the runtime starts (and resumes whatever is saved); a refused command creates nothing.
  const store = fs.existsSync(run.durableDir) ? new InstanceStore(run.durableDir) : undefined;
  const saved = new Map<string, InstanceRecord>(
    (store?.loadAll(() => undefined) ?? []).filter((r) => !TERMINAL_STATUSES.has(r.runtimeStatus)).map((r) => [r.instanceId, r]),
  );
  if (request.restart) {
    for (const record of saved.values()) {
      store?.delete(record.instanceId);
      say(`Discarded the unfinished run ${record.instanceId} (started ${record.createdTime}).`);
    }
    saved.clear();
  }
  const other = instanceIds
    .all(request.environmentId)
    .filter((id) => id !== request.instanceId)
    .map((id) => saved.get(id))
    .find((r) => r !== undefined);
  if (other) {
    throw new RunConflictError(
      `The ${other.name} run ${other.instanceId} of this environment, started ${other.createdTime}, is unfinished in ${run.dir}. ` +
        `Finish it with \`${request.otherCommand}\`, or add --restart to discard it.`,
    );
  }
  const resumed = saved.get(request.instanceId);
  const spec = resumed ? undefined : await request.prepare();
  if (spec && request.signal.aborted) return { kind: 'interrupted', instanceId: request.instanceId, started: false };
  if (resumed) {
    say(`Resuming the unfinished run ${resumed.instanceId} started ${resumed.createdTime}; it keeps the options it was started with (--restart starts over).`);
  }

  const runtime = await startLocalRuntime({
    entry: appEntry(),
    port: 0,
    rpcPort: 0,
    durableDir: run.durableDir,
    logsDir: run.logsDir,
    appSettings: request.settings.values,
    taskHubName: request.settings.config.taskHub,
    clock: request.clock,
    ...(request.verbose ? { onLog: (entry) => say(formatLogEntry(entry)) } : {}),
  });
  try {
    // One-off use: this process runs its own orchestration only, never the sweep or the drift check.
    await runtime.timers.stop();
    if (spec) {
      const outcome = await startEnvironmentRun(driverHost(runtime.durable), spec.kind, spec.input);
      if (!outcome.started) {
        throw new RunConflictError(`The ${outcome.running.name} run ${outcome.running.instanceId} of this environment is active; let it finish first.`);
      }
    }
    return await follow(runtime, request);
  } finally {
    await runtime.stop();
  }
}

/** The command line's own durable driver as a run host: the same start path as the triggers. */
function driverHost(driver: DurableDriver): RunHost {
  return {
    status: (instanceId) => Promise.resolve(driver.getStatus(instanceId, { showInput: false })),
    start: (orchestration, instanceId, input) => {
      driver.startNew(orchestration, { instanceId, input });
      return Promise.resolve();
    },
    lockHolder: (environmentId) => {
      const lock = driver.readEntityState(RUN_LOCK_ENTITY, environmentId)?.state as { holder?: RunHolder | null } | null | undefined;
      return Promise.resolve(lock?.holder ?? undefined);
    },
  };
}

function changeKey(status: InstanceStatus | undefined): string {
  return status ? `${status.runtimeStatus}\u0000${JSON.stringify(status.customStatus)}` : '';
}

function waitingFor(status: InstanceStatus): WaitingFor | undefined {
  const custom = status.customStatus as { waitingFor?: WaitingFor } | null;
  return custom?.waitingFor ?? undefined;
}

async function follow(runtime: LocalRuntime, request: RunRequest): Promise<RunOutcome> {
  const { say, instanceId, signal } = request;
  const driver = runtime.durable;
  const reporter = new ProgressReporter(say);
  const deadline = request.waitTimeoutMs !== undefined ? Date.now() + request.waitTimeoutMs : undefined;
  let current: WaitingFor | undefined;
  let prompt: readline.Interface | undefined;

  const confirm = (wait: WaitingFor): void => {
    try {
      driver.raiseEvent(instanceId, wait.event, {});
      say(
        wait.event === 'ConsentGranted'
          ? '  Told the run: ConsentGranted. It checks Graph now and goes on once the consent shows there.'
          : `  Told the run: ${wait.event}.`,
      );
    } catch (error) {
      say(`  Could not raise ${wait.event}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  try {
    for (;;) {
      const status = driver.getStatus(instanceId);
      if (!status) throw new Error(`The run ${instanceId} disappeared from ${request.run.durableDir}.`);
      const { newWait, changedSteps } = reporter.update(status.customStatus);
      if (changedSteps.length > 0) request.onSteps?.(changedSteps);
      const terminal = TERMINAL_STATUSES.has(status.runtimeStatus);
      current = terminal ? undefined : waitingFor(status);

      if (newWait && !terminal) {
        if (request.confirm) {
          say(`  --confirm: telling the run that this was done.`);
          confirm(newWait);
        } else if (request.terminal) {
          say(`  Press Enter here once done. Ctrl-C stops waiting; the run stays saved and the same command resumes it.`);
          prompt ??= openPrompt(request.terminal, request.onTerminalInterrupt, () => {
            if (current) confirm(current);
            else say('  The run is not waiting for anyone right now.');
          });
        } else if (newWait.event === 'ConsentGranted') {
          say('  The run checks Graph periodically and continues by itself once consent shows. Ctrl-C stops waiting; the same command resumes the run.');
        } else {
          say('  Once done, stop this command (Ctrl-C) and run it again with --confirm; the run stays saved meanwhile.');
        }
      }

      if (terminal) return outcomeOf(status);
      if (signal.aborted) return { kind: 'interrupted', instanceId, started: true };
      if (deadline !== undefined && Date.now() >= deadline) {
        const step = currentStep(status);
        return {
          kind: 'timed-out',
          instanceId,
          runtimeStatus: status.runtimeStatus,
          ...(current ? { waitingFor: current.event } : {}),
          ...(step ? { step } : {}),
        };
      }
      const slice = Math.min(1000, deadline !== undefined ? Math.max(1, deadline - Date.now()) : 1000);
      await nextChange(driver, instanceId, changeKey(status), slice, signal);
    }
  } finally {
    prompt?.close();
  }
}

/** The step the run is busy with or waiting in. */
function currentStep(status: InstanceStatus): StepState | undefined {
  const custom = status.customStatus as { steps?: StepState[] } | null;
  return custom?.steps?.find((s) => s.status === 'running' || s.status === 'waiting');
}

function outcomeOf(status: InstanceStatus): RunOutcome {
  const instanceId = status.instanceId;
  switch (status.runtimeStatus) {
    case 'Completed':
      return { kind: 'completed', instanceId, output: status.output };
    case 'Failed':
      return { kind: 'failed', instanceId, message: failureMessage(status.output) };
    default:
      return { kind: 'failed', instanceId, message: `the run was ${status.runtimeStatus.toLowerCase()}${typeof status.output === 'string' && status.output !== '' ? `: ${status.output}` : ''}` };
  }
}

/** Resolves when the run's status changes, after `timeoutMs`, or when interrupted. */
async function nextChange(driver: DurableDriver, instanceId: string, key: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([
      driver.waitFor(instanceId, (s) => changeKey(s) !== key, { timeoutMs }).then(
        () => undefined,
        () => undefined,
      ),
      aborted,
    ]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function openPrompt(terminal: NodeJS.ReadStream, onInterrupt: () => void, onLine: () => void): readline.Interface {
  const rl = readline.createInterface({ input: terminal, output: process.stderr, terminal: true });
  rl.on('line', onLine);
  rl.on('SIGINT', onInterrupt);
  return rl;
}
