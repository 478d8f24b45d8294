/**
 * Orchestration history events in the shape the durable extension serializes them for out-of-process
 * languages (Durable Task Framework field names, PascalCase), plus small constructors. These are the
 * events durable-functions' replay engine reads, and what the runtime persists per instance.
 */
import { HistoryEventType } from 'durable-functions/lib/src/history/HistoryEventType';

export { HistoryEventType };

/** Durable Task Framework's `OrchestrationStatus`, as written in `ExecutionCompleted` events. */
export const DtfxOrchestrationStatus = {
  Running: 0,
  Completed: 1,
  ContinuedAsNew: 2,
  Failed: 3,
  Canceled: 4,
  Terminated: 5,
  Pending: 6,
  Suspended: 7,
} as const;

export interface HistoryEvent {
  EventType: HistoryEventType;
  /** The task or timer id for `TaskScheduled`/`TimerCreated`; -1 for everything else. */
  EventId: number;
  /** True for events an earlier episode already processed. */
  IsPlayed: boolean;
  Timestamp: string;
  Name?: string;
  Version?: string;
  /** JSON text (activity input, orchestration input, event payload), or the termination reason. */
  Input?: string | null;
  /** JSON text of an activity result or of the orchestration output (failure text when failed). */
  Result?: string | null;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  Reason?: string;
  Details?: string;
  OrchestrationStatus?: number;
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  /** EventSent: the receiving instance (an entity's scheduler id, `@name@key`). */
  InstanceId?: string;
  ParentInstance?: null;
  Tags?: null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function base(type: HistoryEventType, at: number, eventId = -1): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: iso(at) };
}

export const events = {
  orchestratorStarted: (at: number): HistoryEvent => base(HistoryEventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: number): HistoryEvent => base(HistoryEventType.OrchestratorCompleted, at),
  executionStarted: (at: number, name: string, input: string | null, instanceId: string, executionId: string): HistoryEvent => ({
    ...base(HistoryEventType.ExecutionStarted, at),
    Name: name,
    Version: '',
    Input: input,
    OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
    ParentInstance: null,
    Tags: null,
  }),
  taskScheduled: (at: number, id: number, name: string, input: string | null): HistoryEvent => ({
    ...base(HistoryEventType.TaskScheduled, at, id),
    Name: name,
    Version: '',
    Input: input,
  }),
  taskCompleted: (at: number, id: number, result: string | null): HistoryEvent => ({
    ...base(HistoryEventType.TaskCompleted, at),
    TaskScheduledId: id,
    Result: result,
  }),
  taskFailed: (at: number, id: number, reason: string, details: string): HistoryEvent => ({
    ...base(HistoryEventType.TaskFailed, at),
    TaskScheduledId: id,
    Reason: reason,
    Details: details,
  }),
  timerCreated: (at: number, id: number, fireAt: number): HistoryEvent => ({
    ...base(HistoryEventType.TimerCreated, at, id),
    FireAt: iso(fireAt),
  }),
  timerFired: (at: number, id: number, fireAt: string): HistoryEvent => ({
    ...base(HistoryEventType.TimerFired, at),
    TimerId: id,
    FireAt: fireAt,
  }),
  /** A message the orchestration sent (an entity operation request); `input` is the request as JSON text. */
  eventSent: (at: number, id: number, instanceId: string, name: string, input: string): HistoryEvent => ({
    ...base(HistoryEventType.EventSent, at, id),
    InstanceId: instanceId,
    Name: name,
    Input: input,
  }),
  eventRaised: (at: number, name: string, input: string | null): HistoryEvent => ({
    ...base(HistoryEventType.EventRaised, at),
    Name: name,
    Input: input,
  }),
  executionCompleted: (at: number, status: number, result: string | null): HistoryEvent => ({
    ...base(HistoryEventType.ExecutionCompleted, at),
    OrchestrationStatus: status,
    Result: result,
  }),
  executionTerminated: (at: number, reason: string): HistoryEvent => ({
    ...base(HistoryEventType.ExecutionTerminated, at),
    Input: reason,
  }),
  executionSuspended: (at: number, reason: string): HistoryEvent => ({
    ...base(HistoryEventType.ExecutionSuspended, at),
    Reason: reason,
  }),
  executionResumed: (at: number, reason: string): HistoryEvent => ({
    ...base(HistoryEventType.ExecutionResumed, at),
    Reason: reason,
  }),
};

/** `JSON.stringify` that never returns `undefined` (the extension stores JSON null for "no value"). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

/** Parses JSON text the way the extension's status API does: invalid JSON comes back as the raw text. */
export function parseJsonText(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  const trimmed = text.trim();
  if (trimmed === '') return '';
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}
