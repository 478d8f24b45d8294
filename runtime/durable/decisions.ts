/**
 * What the durable extension does with the actions an out-of-process orchestrator returns.
 *
 * For replay schemas V2 and V3 the extension's `OutOfProcOrchestrationShim` runs, inside a Durable
 * Task Framework (DTFx) orchestration, a loop over the flat action list: it calls the matching DTFx
 * API for each action and awaits it before the next one. DTFx replays that code against the history,
 * event by event: completions resume the awaits, and scheduling calls are matched by sequence number
 * (activities and timers share one counter) against the history; calls beyond it are new work.
 * This module replays that same process: external events go to the newest waiter of that name and
 * wait in a queue when nobody listens (the extension's rule), retries follow DTFx's
 * `RetryInterceptor`, and timers beyond `maximumShortTimerDuration` are split as for schema V3, so
 * task ids line up with what durable-functions' engine expects. Entity calls and signals are messages
 * the orchestration sends (`EventSent`, one sequence number each, like DTFx's `SendEvent`); a call's
 * answer arrives as an `EventRaised` named by the request id. It raises the errors DTFx and the
 * extension would (non-deterministic replay, unknown activity).
 */
import { ActionType } from 'durable-functions/lib/src/actions/ActionType';
import { ReplaySchema } from 'durable-functions/lib/src/orchestrations/ReplaySchema';
import { HistoryEventType, type HistoryEvent } from './history';

export interface DecisionLimits {
  /** Timers further away than this are split into intervals (the extension's `maximumShortTimerDuration`). */
  maximumShortTimerMs: number;
  /** Length of each interval of a split timer (`longRunningTimerIntervalDuration`). */
  longRunningTimerIntervalMs: number;
}

export interface NewActivity {
  taskId: number;
  name: string;
  /** The action's `input` exactly as the engine produced it (strings are already JSON-encoded once). */
  input: unknown;
}

export interface NewTimer {
  timerId: number;
  fireAt: number;
}

/** An operation request sent to an entity (`@name@key`): a call awaits its response, a signal does not. */
export interface NewEntityMessage {
  eventId: number;
  /** The entity's scheduler id, `@name@key` (name lower-cased, as durable-functions writes it). */
  target: string;
  requestId: string;
  operation: string;
  signal: boolean;
  /** The operation input as JSON text, if any. */
  input: string | undefined;
}

export interface DecisionResult {
  activities: NewActivity[];
  timers: NewTimer[];
  entityMessages: NewEntityMessage[];
  continueAsNew?: { input: unknown };
  /** Things worth telling the operator (e.g. a retry timeout ended retries). */
  warnings: string[];
}

export interface DecisionInput {
  history: readonly HistoryEvent[];
  /** `OrchestratorState.actions` as returned by the engine. */
  actions: unknown;
  schemaVersion: number;
  /** Timestamp of the current episode's `OrchestratorStarted`. */
  episodeTime: number;
  limits: DecisionLimits;
  /** Whether an activity of this name is registered (the extension refuses unknown ones). */
  isKnownActivity(name: string): boolean;
  knownActivityNames(): string[];
  /** A request id for the message with this sequence number: the same on every replay of this execution. */
  entityRequestId(eventId: number): string;
}

/** The replay does not match the history: DTFx's `NonDeterministicOrchestrationException`. */
export class NonDeterminismError extends Error {
  override name = 'NonDeterministicOrchestrationException';
}

/** The orchestrator asked for something the extension refuses (unknown activity, unsupported action). */
export class OrchestrationRequestError extends Error {
  override name = 'ArgumentException';
}

interface RawAction {
  actionType: ActionType;
  functionName?: string;
  input?: unknown;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  /** CallEntity / SignalEntity: the entity's scheduler id and operation. */
  instanceId?: string;
  operation?: string;
  compoundActions?: RawAction[];
  retryOptions?: RawRetryOptions;
}

interface RawRetryOptions {
  firstRetryIntervalInMilliseconds?: number;
  maxNumberOfAttempts?: number;
  backoffCoefficient?: number | null;
  maxRetryIntervalInMilliseconds?: number | null;
  retryTimeoutInMilliseconds?: number | null;
}

interface Scheduled {
  kind: 'task' | 'timer' | 'send';
  name?: string | undefined;
  /** For a recorded `EventSent`: the request id inside its message. */
  requestId?: string | undefined;
}

function isRawAction(value: unknown): value is RawAction {
  return typeof value === 'object' && value !== null && typeof (value as { actionType?: unknown }).actionType === 'number';
}

const SCHEMA_V2: number = ReplaySchema.V2;
const SCHEMA_V3: number = ReplaySchema.V3;

const ACTION_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ActionType)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** Flattens the engine's action list per the schema the engine used (V2+ sends `[[...all actions]]`). */
export function topLevelActions(actions: unknown, schemaVersion: number): RawAction[] {
  if (!Array.isArray(actions)) throw new OrchestrationRequestError('The orchestrator returned no action list.');
  if (schemaVersion < SCHEMA_V2) {
    throw new OrchestrationRequestError(`Replay schema ${schemaVersion} is not supported by the local runtime; expected V2 or later.`);
  }
  if (actions.length > 1) {
    throw new OrchestrationRequestError(`With replay schema V2 or later the outer action list must have one element, got ${actions.length}.`);
  }
  const inner: unknown = actions[0] ?? [];
  if (!Array.isArray(inner)) throw new OrchestrationRequestError('The orchestrator returned a malformed action list.');
  return inner.map((a: unknown) => {
    if (!isRawAction(a)) throw new OrchestrationRequestError('The orchestrator returned a malformed action.');
    return a;
  });
}

export function decide(input: DecisionInput): DecisionResult {
  return new Replay(input).run();
}

/** A DTFx task as the shim awaits it: done when completed, failed or canceled. */
class SimTask {
  done = false;
  failed = false;
  #continuations: Array<() => void> = [];

  complete(failed: boolean): void {
    if (this.done) return;
    this.done = true;
    this.failed = failed;
    const continuations = this.#continuations;
    this.#continuations = [];
    // DTFx runs continuations synchronously, before it processes the next history event.
    for (const continuation of continuations) continuation();
  }

  then(continuation: () => void): void {
    if (this.done) continuation();
    else this.#continuations.push(continuation);
  }

  static completed(): SimTask {
    const task = new SimTask();
    task.done = true;
    return task;
  }
}

class Replay {
  readonly #input: DecisionInput;
  readonly #actions: RawAction[];
  /** What the history says was scheduled under each id. */
  readonly #recorded = new Map<number, Scheduled>();
  readonly #tasks = new Map<number, SimTask>();
  /** Completions seen before the code scheduled the task (not expected in a consistent history). */
  readonly #early = new Map<number, boolean>();
  /** Per event name (case-insensitive, as in the extension): waiters, newest last. */
  readonly #waiters = new Map<string, SimTask[]>();
  /** Per event name: events that arrived while nobody waited. */
  readonly #buffered = new Map<string, number>();
  readonly #result: DecisionResult = { activities: [], timers: [], entityMessages: [], warnings: [] };
  #nextId = 0;
  #now: number;

  constructor(input: DecisionInput) {
    this.#input = input;
    this.#actions = topLevelActions(input.actions, input.schemaVersion);
    this.#now = input.episodeTime;
    for (const e of input.history) {
      if (e.EventType === HistoryEventType.TaskScheduled) this.#recorded.set(e.EventId, { kind: 'task', name: e.Name });
      if (e.EventType === HistoryEventType.TimerCreated) this.#recorded.set(e.EventId, { kind: 'timer' });
      if (e.EventType === HistoryEventType.EventSent) {
        this.#recorded.set(e.EventId, { kind: 'send', name: e.InstanceId ?? '', requestId: requestIdOf(e.Input) });
      }
    }
  }

  run(): DecisionResult {
    for (const e of this.#input.history) {
      switch (e.EventType) {
        case HistoryEventType.OrchestratorStarted:
          this.#now = Date.parse(e.Timestamp);
          break;
        case HistoryEventType.ExecutionStarted:
          this.#runActionsFrom(0);
          break;
        case HistoryEventType.TaskScheduled:
        case HistoryEventType.TimerCreated:
        case HistoryEventType.EventSent:
          if (!this.#tasks.has(e.EventId)) {
            const recorded = this.#recorded.get(e.EventId);
            throw new NonDeterminismError(
              `Non-Deterministic workflow detected: the history has ${recorded ? describe(recorded) : 'a task'} with id ${e.EventId}, ` +
                'but the orchestrator no longer schedules it.',
            );
          }
          break;
        case HistoryEventType.TaskCompleted:
          this.#complete(e.TaskScheduledId ?? -1, false);
          break;
        case HistoryEventType.TaskFailed:
          this.#complete(e.TaskScheduledId ?? -1, true);
          break;
        case HistoryEventType.TimerFired:
          this.#complete(e.TimerId ?? -1, false);
          break;
        case HistoryEventType.EventRaised:
          this.#raise(e.Name ?? '');
          break;
        default:
          break;
      }
    }
    return this.#result;
  }

  /** The shim's loop: invoke each action and await it before invoking the next. */
  #runActionsFrom(index: number): void {
    for (let i = index; i < this.#actions.length; i++) {
      const task = this.#invoke(this.#actions[i] as RawAction);
      if (!task.done) {
        task.then(() => this.#runActionsFrom(i + 1));
        return;
      }
    }
  }

  #invoke(action: RawAction): SimTask {
    switch (action.actionType) {
      case ActionType.CallActivity:
        return this.#activity(requireName(action), action.input);
      case ActionType.CallActivityWithRetry:
        return this.#activityWithRetry(action);
      case ActionType.CreateTimer:
        return this.#createTimer(action);
      case ActionType.WaitForExternalEvent:
        return this.#waitForEvent(action.externalEventName ?? '');
      case ActionType.CallEntity:
        return this.#sendToEntity(action, false);
      case ActionType.SignalEntity:
        return this.#sendToEntity(action, true);
      case ActionType.WhenAll:
      case ActionType.WhenAny: {
        const children = (action.compoundActions ?? []).map((child) => this.#invoke(child));
        const all = new SimTask();
        if (action.actionType === ActionType.WhenAny) {
          for (const child of children) child.then(() => all.complete(false));
        } else {
          let remaining = children.length;
          if (remaining === 0) all.complete(false);
          for (const child of children) child.then(() => --remaining === 0 && all.complete(false));
        }
        return all;
      }
      case ActionType.ContinueAsNew:
        this.#result.continueAsNew = { input: action.input };
        return SimTask.completed();
      default:
        throw new OrchestrationRequestError(
          `The local runtime does not support the durable action '${ACTION_NAMES[action.actionType] ?? action.actionType}'.`,
        );
    }
  }

  /** Schedules the next DTFx task id, checking it against the history. */
  #schedule(kind: Scheduled['kind'], name: string | undefined, onNew: (id: number) => void): SimTask {
    const id = this.#nextId++;
    const recorded = this.#recorded.get(id);
    if (recorded) {
      if (recorded.kind !== kind || recorded.name !== name) {
        const now = kind === 'task' ? `calls activity '${name ?? ''}'` : kind === 'timer' ? 'creates a timer' : `sends a message to '${name ?? ''}'`;
        throw new NonDeterminismError(`Non-Deterministic workflow detected: the history has ${describe(recorded)} with id ${id}, but the orchestrator now ${now}.`);
      }
    } else {
      onNew(id);
    }
    const task = new SimTask();
    this.#tasks.set(id, task);
    const early = this.#early.get(id);
    if (early !== undefined) {
      this.#early.delete(id);
      task.complete(early);
    }
    return task;
  }

  #complete(id: number, failed: boolean): void {
    const task = this.#tasks.get(id);
    if (task) task.complete(failed);
    else this.#early.set(id, failed);
  }

  #activity(name: string, input: unknown): SimTask {
    return this.#schedule('task', name, (taskId) => {
      if (!this.#input.isKnownActivity(name)) throw new OrchestrationRequestError(unknownActivityMessage(name, this.#input.knownActivityNames()));
      this.#result.activities.push({ taskId, name, input });
    });
  }

  #timer(fireAt: number): SimTask {
    return this.#schedule('timer', undefined, (timerId) => this.#result.timers.push({ timerId, fireAt }));
  }

  #createTimer(action: RawAction): SimTask {
    const fireAt = Date.parse(action.fireAt ?? '');
    if (Number.isNaN(fireAt)) throw new OrchestrationRequestError('A timer action has no valid fireAt.');
    const { maximumShortTimerMs, longRunningTimerIntervalMs } = this.#input.limits;
    const isLong = this.#input.schemaVersion >= SCHEMA_V3 && fireAt - this.#now > maximumShortTimerMs;
    const nextFireAt = (): number => (fireAt - this.#now > maximumShortTimerMs ? this.#now + longRunningTimerIntervalMs : fireAt);
    if (action.isCanceled === true) {
      // The extension creates the timer, then cancels its token: the await ends at once.
      this.#timer(isLong ? nextFireAt() : fireAt);
      return SimTask.completed();
    }
    if (!isLong) return this.#timer(fireAt);
    // Long timer: a chain of interval timers, each decided when the previous one fires.
    const whole = new SimTask();
    const step = (): void => {
      this.#timer(nextFireAt()).then(() => {
        if (fireAt > this.#now) step();
        else whole.complete(false);
      });
    };
    step();
    return whole;
  }

  #activityWithRetry(action: RawAction): SimTask {
    const name = requireName(action);
    const options = action.retryOptions ?? {};
    const first = options.firstRetryIntervalInMilliseconds;
    if (typeof first !== 'number' || !(first > 0)) {
      throw new OrchestrationRequestError('Retry options need a firstRetryIntervalInMilliseconds greater than 0.');
    }
    const maxAttempts = Math.max(1, Math.trunc(options.maxNumberOfAttempts ?? 1));
    const firstAttempt = this.#now;
    const whole = new SimTask();
    const attempt = (n: number): void => {
      const call = this.#activity(name, action.input);
      call.then(() => {
        if (!call.failed) return whole.complete(false);
        const failedAt = this.#now;
        if (n + 1 === maxAttempts) {
          // DTFx keeps an immediate "dummy timer for back-compat" after the last attempt; the JS engine waits for it.
          this.#timer(failedAt).then(() => whole.complete(true));
          return;
        }
        const delay = nextRetryDelay(options, n, firstAttempt, failedAt);
        if (delay === 0) {
          this.#result.warnings.push(
            `Retries of activity '${name}' stopped because the retry timeout elapsed. The durable extension creates no ` +
              'retry timer in this case, so the JavaScript orchestrator keeps waiting (the instance stays Running, as in Azure).',
          );
          whole.complete(true);
          return;
        }
        this.#timer(failedAt + delay).then(() => attempt(n + 1));
      });
    };
    attempt(0);
    return whole;
  }

  /**
   * DTFx `SendEvent` of an entity request: it consumes a sequence number and completes at once; a call
   * then waits for the response, an event named by the request id.
   */
  #sendToEntity(action: RawAction, signal: boolean): SimTask {
    const target = action.instanceId ?? '';
    const operation = action.operation ?? '';
    if (!/^@[^@]+@.+$/.test(target) || operation === '') throw new OrchestrationRequestError('An entity action has no valid entity id or operation.');
    let requestId = '';
    const sent = this.#schedule('send', target, (eventId) => {
      requestId = this.#input.entityRequestId(eventId);
      this.#result.entityMessages.push({ eventId, target, requestId, operation, signal, input: action.input === undefined ? undefined : JSON.stringify(action.input) });
    });
    sent.complete(false);
    if (signal) return sent;
    if (requestId === '') requestId = this.#recorded.get(this.#nextId - 1)?.requestId ?? '';
    return this.#waitForEvent(requestId);
  }

  #waitForEvent(name: string): SimTask {
    const key = name.toLowerCase();
    const waiter = new SimTask();
    const stack = this.#waiters.get(key) ?? [];
    stack.push(waiter);
    this.#waiters.set(key, stack);
    const buffered = this.#buffered.get(key) ?? 0;
    if (buffered > 0) {
      this.#buffered.set(key, buffered - 1);
      this.#raise(name);
    }
    return waiter;
  }

  /** The newest waiter takes the event; with nobody waiting it is kept for the next one. */
  #raise(name: string): void {
    const key = name.toLowerCase();
    const waiter = this.#waiters.get(key)?.pop();
    if (waiter) waiter.complete(false);
    else this.#buffered.set(key, (this.#buffered.get(key) ?? 0) + 1);
  }
}

/** DTFx `RetryInterceptor.ComputeNextDelay`; 0 means "stop retrying". */
export function nextRetryDelay(options: RawRetryOptions, attempt: number, firstAttempt: number, now: number): number {
  const first = options.firstRetryIntervalInMilliseconds ?? 0;
  const backoff = typeof options.backoffCoefficient === 'number' ? options.backoffCoefficient : 1;
  const maxInterval = typeof options.maxRetryIntervalInMilliseconds === 'number' ? options.maxRetryIntervalInMilliseconds : Infinity;
  const timeout = typeof options.retryTimeoutInMilliseconds === 'number' ? options.retryTimeoutInMilliseconds : Infinity;
  const expiration = firstAttempt + timeout;
  if (!(now < expiration)) return 0;
  const delay = first * Math.pow(backoff, attempt);
  return Math.round(delay < maxInterval ? delay : maxInterval);
}

function requireName(action: RawAction): string {
  if (typeof action.functionName !== 'string' || action.functionName.trim() === '') {
    throw new OrchestrationRequestError('An activity action has no function name.');
  }
  return action.functionName;
}

function describe(s: Scheduled): string {
  if (s.kind === 'task') return `a call to activity '${s.name ?? ''}'`;
  return s.kind === 'timer' ? 'a timer' : `a message to '${s.name ?? ''}'`;
}

/** The request id inside a recorded `EventSent` message. */
function requestIdOf(input: string | null | undefined): string {
  try {
    const parsed = JSON.parse(input ?? '') as { id?: unknown };
    return typeof parsed.id === 'string' ? parsed.id : '';
  } catch {
    return '';
  }
}

/** The extension's message for an activity name it does not know. */
export function unknownActivityMessage(name: string, known: string[]): string {
  return (
    `The function '${name}' doesn't exist, is disabled, or is not an activity function. Additional info: ` +
    (known.length > 0
      ? `The following are the known activity functions: '${known.join("', '")}'.`
      : 'No activity functions are currently registered!')
  );
}
