/**
 * Ambient declarations for the parts of durable-functions' compiled internals (`lib/src`, shipped
 * without `.d.ts` files) that the local runtime uses: the replay engine and the enums shared by the
 * engine and the durable extension's wire format.
 */

declare module 'durable-functions/lib/src/orchestrations/ReplaySchema' {
  export enum ReplaySchema {
    V1 = 0,
    V2 = 1,
    V3 = 2,
    V4 = 3,
  }
  export const LatestReplaySchema: ReplaySchema;
}

declare module 'durable-functions/lib/src/history/HistoryEventType' {
  export enum HistoryEventType {
    ExecutionStarted = 0,
    ExecutionCompleted = 1,
    ExecutionFailed = 2,
    ExecutionTerminated = 3,
    TaskScheduled = 4,
    TaskCompleted = 5,
    TaskFailed = 6,
    SubOrchestrationInstanceCreated = 7,
    SubOrchestrationInstanceCompleted = 8,
    SubOrchestrationInstanceFailed = 9,
    TimerCreated = 10,
    TimerFired = 11,
    OrchestratorStarted = 12,
    OrchestratorCompleted = 13,
    EventSent = 14,
    EventRaised = 15,
    ContinueAsNew = 16,
    GenericEvent = 17,
    HistoryState = 18,
    ExecutionSuspended = 19,
    ExecutionResumed = 20,
  }
}

declare module 'durable-functions/lib/src/actions/ActionType' {
  export enum ActionType {
    CallActivity = 0,
    CallActivityWithRetry = 1,
    CallSubOrchestrator = 2,
    CallSubOrchestratorWithRetry = 3,
    ContinueAsNew = 4,
    CreateTimer = 5,
    WaitForExternalEvent = 6,
    CallEntity = 7,
    CallHttp = 8,
    SignalEntity = 9,
    WhenAny = 11,
    WhenAll = 12,
    LockEntities = 13,
    ReleaseEntities = 14,
  }
}

declare module 'durable-functions/lib/src/orchestrations/Orchestrator' {
  import type { InvocationContext } from '@azure/functions';
  import type { OrchestrationHandler } from 'durable-functions';

  /** The replay engine: `listen()` gives the handler the durable extension's trigger invokes. */
  export class Orchestrator {
    constructor(fn: OrchestrationHandler);
    listen(): (orchestrationTrigger: unknown, context: InvocationContext) => Promise<unknown>;
  }
}
