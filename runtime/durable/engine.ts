/**
 * Runs one orchestration episode: builds the orchestration trigger payload the durable extension
 * sends (history, input, instance id, schema handshake, timer limits), invokes the registered
 * orchestration function (which wraps durable-functions' own replay engine) through the invoker,
 * and reads back the engine's `OrchestratorState`, including from a failed invocation.
 */
import { z } from 'zod';
import { ReplaySchema } from 'durable-functions/lib/src/orchestrations/ReplaySchema';
import type { FunctionInvoker } from '../invoke';
import { fromTypedData } from '../invoke';
import type { FunctionRegistration } from '../registry';
import type { HistoryEvent } from './history';

/** What the extension offers: `upperSchemaVersion` V2 for old SDKs, `upperSchemaVersionNew` V3. */
export const UPPER_SCHEMA_VERSION = ReplaySchema.V2;
export const UPPER_SCHEMA_VERSION_NEW = ReplaySchema.V3;

/** Azure Storage's limits as the extension reports them ("d.hh:mm:ss" TimeSpans). */
export const MAXIMUM_SHORT_TIMER_DURATION = '6.00:00:00';
export const LONG_RUNNING_TIMER_INTERVAL_DURATION = '3.00:00:00';
export const MAXIMUM_SHORT_TIMER_MS = 6 * 24 * 3600 * 1000;
export const LONG_RUNNING_TIMER_INTERVAL_MS = 3 * 24 * 3600 * 1000;
export const DEFAULT_HTTP_ASYNC_SLEEP_MS = 30000;

export interface OrchestrationTriggerPayload {
  history: HistoryEvent[];
  input: unknown;
  instanceId: string;
  isReplaying: boolean;
  parentInstanceId: string | null;
  upperSchemaVersion: number;
  upperSchemaVersionNew: number;
  longRunningTimerIntervalDuration: string;
  maximumShortTimerDuration: string;
  defaultHttpAsyncRequestSleepTimeMillseconds: number;
}

const orchestratorStateSchema = z.object({
  isDone: z.boolean(),
  actions: z.array(z.unknown()),
  output: z.unknown().optional(),
  error: z.string().optional(),
  customStatus: z.unknown().optional(),
  schemaVersion: z.number().optional(),
});

export type OrchestratorState = z.infer<typeof orchestratorStateSchema>;

export type EpisodeOutcome =
  | { kind: 'state'; state: OrchestratorState }
  /** The orchestrator threw; `state` holds the actions and custom status the engine reported with it. */
  | { kind: 'failed'; error: string; state: OrchestratorState | undefined };

const OUT_OF_PROC_DATA = '\n\n$OutOfProcData$:';

export function buildTriggerPayload(args: {
  history: HistoryEvent[];
  input: unknown;
  instanceId: string;
  isReplaying: boolean;
}): OrchestrationTriggerPayload {
  return {
    history: args.history,
    input: args.input,
    instanceId: args.instanceId,
    isReplaying: args.isReplaying,
    parentInstanceId: null,
    upperSchemaVersion: UPPER_SCHEMA_VERSION,
    upperSchemaVersionNew: UPPER_SCHEMA_VERSION_NEW,
    longRunningTimerIntervalDuration: LONG_RUNNING_TIMER_INTERVAL_DURATION,
    maximumShortTimerDuration: MAXIMUM_SHORT_TIMER_DURATION,
    defaultHttpAsyncRequestSleepTimeMillseconds: DEFAULT_HTTP_ASYNC_SLEEP_MS,
  };
}

/**
 * Invokes the orchestration function once. The payload travels as JSON text, as the extension sends
 * it, so the engine sees string timestamps and parses them itself.
 */
export async function runEpisode(
  invoker: FunctionInvoker,
  registration: FunctionRegistration,
  payload: OrchestrationTriggerPayload,
): Promise<EpisodeOutcome> {
  const outcome = await invoker.invoke({
    registration,
    trigger: { string: JSON.stringify(payload) },
    reason: '(null)',
    logFields: { instanceId: payload.instanceId },
  });
  if (outcome.ok) {
    const value = fromTypedData(outcome.response.returnValue);
    const parsed = orchestratorStateSchema.safeParse(value);
    if (!parsed.success) {
      return { kind: 'failed', error: 'The orchestrator function returned no orchestration state.', state: undefined };
    }
    return { kind: 'state', state: parsed.data };
  }
  return parseFailure(outcome.error.message);
}

/** Splits `OrchestrationFailureError`'s message into the user error and the embedded state. */
export function parseFailure(message: string): EpisodeOutcome & { kind: 'failed' } {
  const at = message.indexOf(OUT_OF_PROC_DATA);
  if (at < 0) return { kind: 'failed', error: message, state: undefined };
  const text = message.slice(at + OUT_OF_PROC_DATA.length);
  try {
    const parsed = orchestratorStateSchema.safeParse(JSON.parse(text));
    if (parsed.success) return { kind: 'failed', error: parsed.data.error ?? message.slice(0, at), state: parsed.data };
  } catch {
    // fall through: keep the readable part of the message
  }
  return { kind: 'failed', error: message.slice(0, at), state: undefined };
}
