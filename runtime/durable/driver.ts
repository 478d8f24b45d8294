/**
 * The durable driver: plays the part of the durable extension and its task hub on one machine.
 *
 * Each orchestration instance is a persisted record (history, inbox of undelivered events, pending
 * activities and timers). A scheduler loop (an interval plus `poke()`) fires due timers against the
 * injected clock, runs pending activities through their registered handlers, and runs an episode for
 * every instance with undelivered events: it appends `OrchestratorStarted` (timestamp from the clock)
 * and the new events, replays the orchestration through durable-functions' engine, turns the returned
 * actions into new work the way the extension does (see decisions.ts), and saves the record.
 * Activities run at least once: a completion is recorded before the activity leaves the pending list,
 * so a driver started later on the same directory re-runs any activity whose completion was lost.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import { isObservableClock, systemClock } from '../clock';
import type { FunctionInvoker } from '../invoke';
import { fromTypedData } from '../invoke';
import type { RpcTypedData } from '../functionsCore';
import type { RuntimeLog } from '../logs';
import type { FunctionRegistration, Registry } from '../registry';
import { decide, unknownActivityMessage, type DecisionLimits, type DecisionResult } from './decisions';
import {
  buildTriggerPayload,
  LONG_RUNNING_TIMER_INTERVAL_MS,
  MAXIMUM_SHORT_TIMER_MS,
  runEpisode,
  type EpisodeOutcome,
} from './engine';
import { DtfxOrchestrationStatus, events, HistoryEventType, toJsonText, type HistoryEvent } from './history';
import { InstanceStore, TERMINAL_STATUSES, type InstanceRecord, type PendingActivity, type RuntimeStatus } from './store';
import {
  entityBatchResultSchema,
  EntityStore,
  newEntityRecord,
  schedulerIdOf,
  type EntityBatchResult,
  type EntityRecord,
  type EntityRequest,
} from './entities';

export type { RuntimeStatus } from './store';

export interface DurableDriverOptions {
  registry: Registry;
  invoker: FunctionInvoker;
  log: RuntimeLog;
  /** Directory of the persisted instances (default `.sandbox/durable`). */
  dir: string;
  clock?: Clock;
  /** Scheduler interval in ms (default 100). */
  intervalMs?: number | undefined;
  limits?: Partial<DecisionLimits>;
}

export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  /** The raw history (only when asked for). */
  history?: HistoryEvent[];
}

/** What an instance still waits on, as the scheduler sees it now (for tests and tools that follow a run). */
export interface PendingWork {
  runtimeStatus: RuntimeStatus;
  /** Grows whenever the instance's record is saved or an episode of it starts or ends: compare to see a change. */
  revision: number;
  /** An episode is running, or events wait for one. */
  episodePending: boolean;
  /** Activities scheduled whose completion is not recorded yet. */
  activities: number;
  /** Durable timers armed, as epoch ms. */
  timers: number[];
}

export interface StatusQuery {
  runtimeStatus?: RuntimeStatus[] | undefined;
  createdTimeFrom?: Date | undefined;
  createdTimeTo?: Date | undefined;
  instanceIdPrefix?: string | undefined;
  showInput?: boolean | undefined;
}

export class DurableError extends Error {}
export class InstanceNotFoundError extends DurableError {
  override name = 'InstanceNotFoundError';
  constructor(instanceId: string) {
    super(`No instance with ID '${instanceId}' found.`);
  }
}
/** The instance already finished (the HTTP API answers 410 Gone). */
export class InstanceCompletedError extends DurableError {
  override name = 'InstanceCompletedError';
  constructor(instanceId: string, status: RuntimeStatus) {
    super(`The instance '${instanceId}' is already ${status}.`);
  }
}
/** DTFx's `OrchestrationAlreadyExistsException` (the default `overridableExistingInstanceStates` is NonRunningStates). */
export class InstanceAlreadyExistsError extends DurableError {
  override name = 'OrchestrationAlreadyExistsException';
  constructor(status: RuntimeStatus) {
    super(`An Orchestration instance with the status ${status} already exists.`);
  }
}
/** The extension's `ArgumentException`s for bad names and ids (the HTTP API answers 400). */
export class DurableArgumentError extends DurableError {
  override name = 'ArgumentException';
}

const MAX_INSTANCE_ID_LENGTH = 256;

export class DurableDriver {
  readonly #registry: Registry;
  readonly #invoker: FunctionInvoker;
  readonly #log: RuntimeLog;
  readonly #clock: Clock;
  readonly #store: InstanceStore;
  readonly #intervalMs: number;
  readonly #limits: DecisionLimits;
  readonly #records = new Map<string, InstanceRecord>();
  readonly #turns = new Map<string, Promise<void>>();
  readonly #activitiesInFlight = new Set<string>();
  readonly #entityStore: EntityStore;
  readonly #entities = new Map<string, EntityRecord>();
  readonly #entityTurns = new Map<string, Promise<void>>();
  /** Request ids an entity already took, so a message sent again after a restart runs once. */
  readonly #takenRequests = new Map<string, Set<string>>();
  /** Every activity invocation still running, including those a stopped driver abandoned. */
  readonly #activityRuns = new Set<Promise<void>>();
  readonly #revisions = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  #interval: NodeJS.Timeout | undefined;
  #pokeQueued = false;
  #started = false;
  #stopped = false;
  #unsubscribeClock: (() => void) | undefined;

  constructor(options: DurableDriverOptions) {
    this.#registry = options.registry;
    this.#invoker = options.invoker;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#store = new InstanceStore(options.dir);
    this.#entityStore = new EntityStore(options.dir);
    this.#intervalMs = options.intervalMs ?? 100;
    this.#limits = {
      maximumShortTimerMs: options.limits?.maximumShortTimerMs ?? MAXIMUM_SHORT_TIMER_MS,
      longRunningTimerIntervalMs: options.limits?.longRunningTimerIntervalMs ?? LONG_RUNNING_TIMER_INTERVAL_MS,
    };
  }

  get directory(): string {
    return this.#store.dir;
  }

  /** Loads persisted instances and starts the scheduler; non-terminal instances resume. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const record of this.#store.loadAll((file, reason) => this.#log.host('warning', `Skipped unreadable instance file ${file}: ${reason}`))) {
      this.#records.set(record.instanceId, record);
      this.#revise(record.instanceId);
    }
    for (const entity of this.#entityStore.loadAll((file, reason) => this.#log.host('warning', `Skipped unreadable entity file ${file}: ${reason}`))) {
      this.#entities.set(entity.schedulerId, entity);
    }
    const resumed = [...this.#records.values()].filter((r) => !TERMINAL_STATUSES.has(r.runtimeStatus)).length;
    if (this.#records.size > 0) {
      this.#log.host('information', `Durable driver loaded ${this.#records.size} instance(s) from ${this.#store.dir}; ${resumed} not finished.`);
    }
    this.#interval = setInterval(() => this.#tick(), this.#intervalMs);
    this.#interval.unref();
    if (isObservableClock(this.#clock)) this.#unsubscribeClock = this.#clock.onChange(() => this.poke());
    this.poke();
  }

  /** Stops scheduling and waits for running episodes; activities still running are abandoned (they run again later). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#interval) clearInterval(this.#interval);
    this.#unsubscribeClock?.();
    await Promise.allSettled([...this.#turns.values(), ...this.#entityTurns.values()]);
    this.#notify();
  }

  /** Runs a scheduler pass soon (after a clock jump, a raised event, ...). */
  poke(): void {
    if (this.#pokeQueued || !this.#started || this.#stopped) return;
    this.#pokeQueued = true;
    setImmediate(() => {
      this.#pokeQueued = false;
      this.#tick();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Management API
  // -------------------------------------------------------------------------------------------

  startNew(name: string, options: { instanceId?: string | undefined; input?: unknown } = {}): string {
    const orchestration = this.#registry.get(name);
    if (!orchestration || orchestration.triggerType !== 'orchestrationTrigger') {
      throw new DurableArgumentError(unknownOrchestratorMessage(name, this.#registry.orchestrations().map((f) => f.name)));
    }
    const instanceId = options.instanceId && options.instanceId !== '' ? options.instanceId : randomUUID().replace(/-/g, '');
    validateInstanceId(instanceId);
    const existing = this.#records.get(instanceId);
    if (existing && !TERMINAL_STATUSES.has(existing.runtimeStatus)) throw new InstanceAlreadyExistsError(existing.runtimeStatus);

    const now = this.#clock.now();
    const executionId = randomUUID().replace(/-/g, '');
    const input = options.input === undefined ? null : options.input;
    const record: InstanceRecord = {
      formatVersion: 1,
      instanceId,
      executionId,
      name,
      input,
      runtimeStatus: 'Pending',
      customStatus: null,
      output: null,
      createdTime: iso(now),
      lastUpdatedTime: iso(now),
      history: [],
      inbox: [events.executionStarted(now, name, toJsonText(input), instanceId, executionId)],
      pendingActivities: [],
      pendingTimers: [],
    };
    this.#records.set(instanceId, record);
    this.#save(record);
    this.#log.host('information', `Scheduled orchestration '${name}' as instance '${instanceId}'.`, { instanceId });
    this.poke();
    return instanceId;
  }

  getStatus(instanceId: string, options: { showHistory?: boolean; showInput?: boolean } = {}): InstanceStatus | undefined {
    const record = this.#records.get(instanceId);
    return record ? toStatus(record, options) : undefined;
  }

  listInstances(query: StatusQuery = {}): InstanceStatus[] {
    return this.#matching(query).map((r) => toStatus(r, { showInput: query.showInput ?? true }));
  }

  raiseEvent(instanceId: string, eventName: string, data?: unknown): void {
    if (!eventName) throw new DurableArgumentError('eventName must be a valid string.');
    const record = this.#liveRecord(instanceId);
    record.inbox.push(events.eventRaised(this.#clock.now(), eventName, toJsonText(data ?? null)));
    this.#touchAndSave(record);
    this.poke();
  }

  terminate(instanceId: string, reason = ''): void {
    const record = this.#liveRecord(instanceId);
    record.inbox.push(events.executionTerminated(this.#clock.now(), reason));
    this.#touchAndSave(record);
    this.poke();
  }

  async suspend(instanceId: string, reason = ''): Promise<void> {
    await this.#turns.get(instanceId);
    const record = this.#liveRecord(instanceId);
    if (record.runtimeStatus === 'Suspended') return;
    record.history.push(events.executionSuspended(this.#clock.now(), reason));
    record.runtimeStatus = 'Suspended';
    this.#touchAndSave(record);
  }

  async resume(instanceId: string, reason = ''): Promise<void> {
    await this.#turns.get(instanceId);
    const record = this.#liveRecord(instanceId);
    if (record.runtimeStatus !== 'Suspended') return;
    record.history.push(events.executionResumed(this.#clock.now(), reason));
    record.runtimeStatus = 'Running';
    this.#touchAndSave(record);
    this.poke();
  }

  async purge(instanceId: string): Promise<{ instancesDeleted: number }> {
    await this.#turns.get(instanceId);
    if (!this.#records.delete(instanceId)) return { instancesDeleted: 0 };
    this.#store.delete(instanceId);
    this.#revise(instanceId);
    this.#notify();
    return { instancesDeleted: 1 };
  }

  async purgeInstances(query: StatusQuery): Promise<{ instancesDeleted: number }> {
    let instancesDeleted = 0;
    for (const record of this.#matching(query)) instancesDeleted += (await this.purge(record.instanceId)).instancesDeleted;
    return { instancesDeleted };
  }

  /** `DurableClient.signalEntity`: queues a one-way operation for the entity `name`/`key`. */
  signalEntity(name: string, key: string, operation: string, input?: unknown): void {
    if (!name || !key) throw new DurableArgumentError('An entity id needs a name and a key.');
    if (!operation) throw new DurableArgumentError('operationName must be a valid string.');
    const now = this.#clock.now();
    this.#enqueue(schedulerIdOf(name, key), {
      id: randomUUID(),
      op: operation,
      signal: true,
      ...(input === undefined ? {} : { input: JSON.stringify(input) }),
      timestamp: now,
    });
  }

  /** `DurableClient.readEntityState`: the entity's last committed state, or undefined when it has none. */
  readEntityState(name: string, key: string): { state: unknown } | undefined {
    const record = this.#entities.get(schedulerIdOf(name, key));
    if (!record || !record.exists) return undefined;
    return { state: record.state === undefined ? null : (JSON.parse(record.state) as unknown) };
  }

  /** Resolves with the status once `predicate` holds; rejects after `timeoutMs` (real time). */
  waitFor(instanceId: string, predicate: (status: InstanceStatus) => boolean, options: { timeoutMs?: number } = {}): Promise<InstanceStatus> {
    const timeoutMs = options.timeoutMs ?? 30000;
    return new Promise<InstanceStatus>((resolve, reject) => {
      // Every change of any instance calls the listener; the status (a copy) is read only when this one changed.
      let seen: number | undefined;
      const check = (): boolean => {
        const revision = this.#revisions.get(instanceId) ?? 0;
        if (revision === seen) return false;
        seen = revision;
        const status = this.getStatus(instanceId);
        if (status && predicate(status)) {
          cleanup();
          resolve(status);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        const status = this.getStatus(instanceId);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for instance '${instanceId}' (status: ${status?.runtimeStatus ?? 'unknown'}).`));
      }, timeoutMs);
      const listener = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      this.#listeners.add(listener);
      check();
    });
  }

  /** Resolves once the instance reaches Completed, Failed, Terminated or Canceled. */
  waitForCompletion(instanceId: string, options: { timeoutMs?: number } = {}): Promise<InstanceStatus> {
    return this.waitFor(instanceId, (s) => TERMINAL_STATUSES.has(s.runtimeStatus), options);
  }

  /**
   * Calls `listener` after anything that may change what `getStatus`, `pendingWork` or `whenIdle`
   * report: an instance saved or purged, an episode or activity finished, a scheduler pass. Returns
   * the unsubscribe. Listeners run synchronously; keep them cheap.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** What the instance still waits on; undefined for an unknown instance. */
  pendingWork(instanceId: string): PendingWork | undefined {
    const record = this.#records.get(instanceId);
    if (!record) return undefined;
    return {
      runtimeStatus: record.runtimeStatus,
      revision: this.#revisions.get(instanceId) ?? 0,
      episodePending: this.#turns.has(instanceId) || record.inbox.length > 0,
      activities: record.pendingActivities.length,
      timers: record.pendingTimers.map((t) => Date.parse(t.fireAt)),
    };
  }

  /**
   * Resolves once no activity invocation is running any more, including those abandoned by `stop()`
   * (they finish their calls; their completions are not recorded). Handy before restarting on the
   * same directory.
   */
  async whenActivitiesSettled(): Promise<void> {
    while (this.#activityRuns.size > 0) await Promise.allSettled([...this.#activityRuns]);
  }

  /** True when nothing can progress without outside help (see `whenIdle`). */
  isIdle(): boolean {
    return this.#isIdle();
  }

  /**
   * Resolves when nothing can progress without outside help: no episode or activity running, no
   * undelivered event, no due timer. Handy after a clock jump.
   */
  whenIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 30000;
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.#isIdle()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`The durable driver did not become idle within ${timeoutMs} ms.`));
      }, timeoutMs);
      const listener = (): void => {
        setImmediate(check);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
      };
      this.#listeners.add(listener);
      this.poke();
      setImmediate(check);
    });
  }

  /**
   * Replays an instance's recorded history through the engine again without changing anything, and
   * reports what the engine returned and what the extension would schedule from it. A deterministic
   * orchestrator yields the same actions and output as the recorded run and schedules nothing new.
   */
  async replay(instanceId: string): Promise<{ outcome: EpisodeOutcome; decisions: DecisionResult | undefined }> {
    const record = this.#records.get(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    const registration = this.#orchestration(record.name);
    const history = structuredClone(record.history).map((e) => ({ ...e, IsPlayed: true }));
    const payload = buildTriggerPayload({ history, input: record.input, instanceId, isReplaying: true });
    const outcome = await runEpisode(this.#invoker, registration, payload);
    const state = outcome.state;
    const decisions = state
      ? decide({
          history,
          actions: state.actions,
          schemaVersion: state.schemaVersion ?? 0,
          episodeTime: lastEpisodeTime(history) ?? this.#clock.now(),
          limits: this.#limits,
          isKnownActivity: (name) => this.#activity(name) !== undefined,
          knownActivityNames: () => this.#registry.activities().map((f) => f.name),
          entityRequestId: (eventId) => entityRequestId(record.instanceId, record.executionId, eventId),
        })
      : undefined;
    return { outcome, decisions };
  }

  // -------------------------------------------------------------------------------------------
  // Scheduler
  // -------------------------------------------------------------------------------------------

  #tick(): void {
    if (!this.#started || this.#stopped) return;
    const now = this.#clock.now();
    for (const record of this.#records.values()) {
      if (TERMINAL_STATUSES.has(record.runtimeStatus)) continue;
      this.#fireDueTimers(record, now);
      for (const activity of record.pendingActivities) this.#startActivity(record, activity);
      if (!this.#turns.has(record.instanceId) && this.#canRunEpisode(record)) this.#startTurn(record);
    }
    for (const entity of this.#entities.values()) {
      if (entity.queue.length > 0 && !this.#entityTurns.has(entity.schedulerId)) this.#startEntityBatch(entity);
    }
    this.#notify();
  }

  #canRunEpisode(record: InstanceRecord): boolean {
    if (record.inbox.length === 0) return false;
    if (record.runtimeStatus !== 'Suspended') return true;
    return record.inbox.some((e) => e.EventType === HistoryEventType.ExecutionTerminated);
  }

  #fireDueTimers(record: InstanceRecord, now: number): void {
    const due = record.pendingTimers
      .filter((t) => Date.parse(t.fireAt) <= now)
      .sort((a, b) => Date.parse(a.fireAt) - Date.parse(b.fireAt) || a.timerId - b.timerId);
    if (due.length === 0) return;
    for (const timer of due) record.inbox.push(events.timerFired(now, timer.timerId, timer.fireAt));
    record.pendingTimers = record.pendingTimers.filter((t) => !due.includes(t));
    this.#touchAndSave(record);
  }

  #isIdle(): boolean {
    if (this.#turns.size > 0 || this.#activitiesInFlight.size > 0 || this.#entityTurns.size > 0) return false;
    for (const entity of this.#entities.values()) if (entity.queue.length > 0) return false;
    const now = this.#clock.now();
    for (const record of this.#records.values()) {
      if (TERMINAL_STATUSES.has(record.runtimeStatus)) continue;
      if (this.#canRunEpisode(record)) return false;
      if (record.pendingActivities.length > 0) return false;
      if (record.pendingTimers.some((t) => Date.parse(t.fireAt) <= now)) return false;
    }
    return true;
  }

  #startTurn(record: InstanceRecord): void {
    this.#revise(record.instanceId);
    const turn = this.#runTurn(record).finally(() => {
      this.#turns.delete(record.instanceId);
      this.#revise(record.instanceId);
      this.#notify();
      if (record.inbox.length > 0 || record.pendingActivities.length > 0) this.poke();
    });
    this.#turns.set(record.instanceId, turn);
  }

  async #runTurn(record: InstanceRecord): Promise<void> {
    const inbox = record.inbox;
    const historyLength = record.history.length;
    record.inbox = [];
    try {
      await this.#episode(record, inbox);
    } catch (err) {
      // An infrastructure failure (not the orchestrator's): undo the episode, keep the events for the next attempt.
      record.history.length = historyLength;
      record.inbox = [...inbox, ...record.inbox];
      this.#log.host('error', `Episode of instance '${record.instanceId}' could not run: ${err instanceof Error ? err.message : String(err)}`, {
        instanceId: record.instanceId,
      });
    }
    if (this.#records.get(record.instanceId) === record) this.#save(record);
  }

  async #episode(record: InstanceRecord, inbox: HistoryEvent[]): Promise<void> {
    const now = this.#clock.now();
    const history = record.history;
    for (const event of history) event.IsPlayed = true;
    const wasReplaying = history.length > 0;

    const termination = inbox.find((e) => e.EventType === HistoryEventType.ExecutionTerminated);
    if (termination) {
      const reason = termination.Input ?? '';
      history.push(events.orchestratorStarted(now), termination);
      this.#finish(record, 'Terminated', reason, now);
      this.#log.host('information', `Instance '${record.instanceId}' was terminated.`, { instanceId: record.instanceId });
      return;
    }

    history.push(events.orchestratorStarted(now), ...inbox);
    const registration = this.#registry.get(record.name);
    if (!registration || registration.triggerType !== 'orchestrationTrigger') {
      this.#fail(record, unknownOrchestratorMessage(record.name, this.#registry.orchestrations().map((f) => f.name)), now);
      return;
    }

    const payload = buildTriggerPayload({ history, input: record.input, instanceId: record.instanceId, isReplaying: wasReplaying });
    const outcome = await runEpisode(this.#invoker, registration, payload);
    if (this.#records.get(record.instanceId) !== record) return; // purged meanwhile

    const state = outcome.state;
    if (state?.customStatus !== undefined && state.customStatus !== null) {
      // The extension keeps custom status in an Azure Table column: at most 16 KB of UTF-16 JSON text
      // (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-custom-orchestration-status).
      // A larger one fails the orchestration; the extension's exact wording for out-of-process workers is not documented.
      const size = customStatusBytes(state.customStatus);
      if (size > MAX_CUSTOM_STATUS_BYTES) {
        this.#fail(
          record,
          `Orchestrator function '${record.name}' failed: the custom status is ${size} bytes of UTF-16 JSON, more than the ${MAX_CUSTOM_STATUS_BYTES} bytes (16 KB) the Durable Functions extension stores.`,
          now,
        );
        return;
      }
      record.customStatus = state.customStatus;
    }

    if (outcome.kind === 'failed') {
      this.#fail(record, `Orchestrator function '${record.name}' failed: ${outcome.error}`, now);
      return;
    }

    let decisions: DecisionResult;
    try {
      decisions = decide({
        history,
        actions: outcome.state.actions,
        schemaVersion: outcome.state.schemaVersion ?? 0,
        episodeTime: now,
        limits: this.#limits,
        isKnownActivity: (name) => this.#activity(name) !== undefined,
        knownActivityNames: () => this.#registry.activities().map((f) => f.name),
        entityRequestId: (eventId) => entityRequestId(record.instanceId, record.executionId, eventId),
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#fail(record, `Orchestrator function '${record.name}' failed: ${message}`, now);
      return;
    }
    for (const warning of decisions.warnings) this.#log.host('warning', warning, { instanceId: record.instanceId });

    if (outcome.state.isDone) {
      if (decisions.continueAsNew) {
        this.#continueAsNew(record, decisions.continueAsNew.input, now);
        return;
      }
      this.#finish(record, 'Completed', outcome.state.output ?? null, now);
      this.#log.host('information', `Orchestration '${record.name}' (instance '${record.instanceId}') completed.`, { instanceId: record.instanceId });
      return;
    }

    const requests = decisions.entityMessages.map((m) => ({
      target: m.target,
      eventId: m.eventId,
      request: {
        id: m.requestId,
        op: m.operation,
        signal: m.signal,
        ...(m.input === undefined ? {} : { input: m.input }),
        ...(m.signal ? {} : { parent: { instanceId: record.instanceId, executionId: record.executionId } }),
        timestamp: now,
      } satisfies EntityRequest,
    }));
    const scheduled = [
      ...decisions.activities.map((a) => ({ id: a.taskId, event: events.taskScheduled(now, a.taskId, a.name, toJsonText(a.input)) })),
      ...decisions.timers.map((t) => ({ id: t.timerId, event: events.timerCreated(now, t.timerId, t.fireAt) })),
      ...requests.map((r) => ({ id: r.eventId, event: events.eventSent(now, r.eventId, r.target, 'op', JSON.stringify(requestMessage(r.request))) })),
    ].sort((a, b) => a.id - b.id);
    for (const s of scheduled) history.push(s.event);
    history.push(events.orchestratorCompleted(now));
    for (const r of requests) this.#enqueue(r.target, r.request);
    for (const a of decisions.activities) record.pendingActivities.push({ taskId: a.taskId, name: a.name, input: a.input });
    for (const t of decisions.timers) record.pendingTimers.push({ timerId: t.timerId, fireAt: iso(t.fireAt) });
    if (record.runtimeStatus === 'Pending' || record.runtimeStatus === 'ContinuedAsNew') record.runtimeStatus = 'Running';
    record.lastUpdatedTime = iso(now);
  }

  #finish(record: InstanceRecord, status: 'Completed' | 'Failed' | 'Terminated', output: unknown, now: number): void {
    const dtfxStatus = DtfxOrchestrationStatus[status];
    const resultText = status === 'Completed' ? toJsonText(output) : String(output);
    record.history.push(events.executionCompleted(now, dtfxStatus, resultText), events.orchestratorCompleted(now));
    record.runtimeStatus = status;
    record.output = output;
    record.pendingActivities = [];
    record.pendingTimers = [];
    record.lastUpdatedTime = iso(now);
  }

  #fail(record: InstanceRecord, message: string, now: number): void {
    this.#finish(record, 'Failed', message, now);
    this.#log.host('error', `Orchestration '${record.name}' (instance '${record.instanceId}') failed: ${message}`, { instanceId: record.instanceId });
  }

  #continueAsNew(record: InstanceRecord, input: unknown, now: number): void {
    record.history.push(events.executionCompleted(now, DtfxOrchestrationStatus.ContinuedAsNew, toJsonText(input)), events.orchestratorCompleted(now));
    const executionId = randomUUID().replace(/-/g, '');
    // Events that arrived while the last episode ran still belong to the instance, as in the task hub queue.
    const carried = record.inbox.filter((e) => e.EventType === HistoryEventType.EventRaised);
    record.executionId = executionId;
    record.input = input ?? null;
    record.history = [];
    record.inbox = [events.executionStarted(now, record.name, toJsonText(input ?? null), record.instanceId, executionId), ...carried];
    record.pendingActivities = [];
    record.pendingTimers = [];
    record.runtimeStatus = 'ContinuedAsNew';
    record.lastUpdatedTime = iso(now);
    this.#log.host('information', `Instance '${record.instanceId}' continued as new.`, { instanceId: record.instanceId });
  }

  #startActivity(record: InstanceRecord, pending: PendingActivity): void {
    const key = `${record.instanceId}\u0000${record.executionId}\u0000${pending.taskId}`;
    if (this.#activitiesInFlight.has(key)) return;
    this.#activitiesInFlight.add(key);
    const { instanceId, executionId } = record;
    const run = this.#runActivity(instanceId, pending)
      .then((completion) => this.#recordCompletion(instanceId, executionId, pending.taskId, completion))
      .catch((err: unknown) => {
        this.#log.host('error', `Activity '${pending.name}' of instance '${instanceId}' could not run: ${err instanceof Error ? err.message : String(err)}`, {
          instanceId,
        });
      })
      .finally(() => {
        this.#activitiesInFlight.delete(key);
        this.#activityRuns.delete(run);
        this.#notify();
      });
    this.#activityRuns.add(run);
  }

  async #runActivity(instanceId: string, pending: PendingActivity): Promise<HistoryEvent> {
    const registration = this.#activity(pending.name);
    if (!registration) {
      const message = unknownActivityMessage(pending.name, this.#registry.activities().map((f) => f.name));
      return events.taskFailed(this.#clock.now(), pending.taskId, `Activity function '${pending.name}' failed: ${message}`, failureDetails('ArgumentException', message));
    }
    const outcome = await this.#invoker.invoke({
      registration,
      trigger: activityInput(pending.input),
      triggerMetadata: { instanceId: { string: instanceId } },
      reason: '(null)',
      logFields: { instanceId },
    });
    const at = this.#clock.now();
    if (outcome.ok) return events.taskCompleted(at, pending.taskId, resultText(outcome.response.returnValue));
    const error = outcome.error;
    return events.taskFailed(at, pending.taskId, `Activity function '${pending.name}' failed: ${error.message}`, failureDetails(error.name, error.message));
  }

  #recordCompletion(instanceId: string, executionId: string, taskId: number, completion: HistoryEvent): void {
    if (this.#stopped) return; // a later driver runs it again: at-least-once
    const record = this.#records.get(instanceId);
    if (!record || record.executionId !== executionId || TERMINAL_STATUSES.has(record.runtimeStatus)) return;
    const index = record.pendingActivities.findIndex((p) => p.taskId === taskId);
    if (index < 0) return;
    record.pendingActivities.splice(index, 1);
    record.inbox.push(completion);
    this.#touchAndSave(record);
    this.poke();
  }

  // -------------------------------------------------------------------------------------------
  // Entities
  // -------------------------------------------------------------------------------------------

  #enqueue(schedulerId: string, request: EntityRequest): void {
    let record = this.#entities.get(schedulerId);
    if (!record) {
      record = newEntityRecord(schedulerId, this.#clock.now());
      this.#entities.set(schedulerId, record);
    }
    if (record.queue.some((r) => r.id === request.id) || this.#takenRequests.get(schedulerId)?.has(request.id)) return;
    record.queue.push(request);
    this.#saveEntity(record);
    this.poke();
  }

  #startEntityBatch(record: EntityRecord): void {
    const batch = record.queue.slice();
    const turn = this.#runEntityBatch(record, batch)
      .catch((err: unknown) => {
        this.#log.host('error', `Entity '${record.schedulerId}' could not run: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => {
        this.#entityTurns.delete(record.schedulerId);
        this.#notify();
        if (record.queue.length > 0) this.poke();
      });
    this.#entityTurns.set(record.schedulerId, turn);
  }

  /**
   * Runs queued operations through the entity function in one batch (the extension batches too), then
   * commits the new state, answers the calls and forwards the entity's own signals. Operations run in
   * arrival order and never overlap with another batch of the same entity.
   */
  async #runEntityBatch(record: EntityRecord, batch: EntityRequest[]): Promise<void> {
    const registration = this.#entityFunction(record.name);
    let result: EntityBatchResult;
    if (!registration) {
      const message = `The function '${record.name}' doesn't exist, is disabled, or is not an entity function.`;
      result = { entityExists: record.exists, ...(record.state === undefined ? {} : { entityState: record.state }), results: batch.map(() => ({ isError: true, result: JSON.stringify({ message }) })), signals: [] };
    } else {
      const payload = {
        self: { name: record.name, key: record.key },
        exists: record.exists,
        ...(record.state === undefined ? {} : { state: record.state }),
        batch: batch.map((r) => ({ name: r.op, signal: r.signal, ...(r.input === undefined ? {} : { input: r.input }), id: r.id })),
      };
      const outcome = await this.#invoker.invoke({
        registration,
        trigger: { string: JSON.stringify(payload) },
        reason: '(null)',
        logFields: { instanceId: record.schedulerId },
      });
      if (!outcome.ok) {
        // The whole batch failed (not one operation): the state stays; every caller hears about it.
        const message = outcome.error.message;
        result = { entityExists: record.exists, ...(record.state === undefined ? {} : { entityState: record.state }), results: batch.map(() => ({ isError: true, result: JSON.stringify({ message }) })), signals: [] };
      } else {
        const parsed = entityBatchResultSchema.safeParse(fromTypedData(outcome.response.returnValue));
        if (!parsed.success) throw new Error(`the entity function '${record.name}' returned no entity state`);
        const r = parsed.data;
        result = {
          entityExists: r.entityExists,
          ...(r.entityState === null || r.entityState === undefined ? {} : { entityState: r.entityState }),
          results: r.results.map((x) => ({ isError: x.isError, ...(x.result === null || x.result === undefined ? {} : { result: x.result }) })),
          signals: r.signals.map((x) => ({ target: x.target, name: x.name, ...(x.input === null || x.input === undefined ? {} : { input: x.input }) })),
        };
      }
    }
    if (this.#stopped) return; // not committed: a later driver runs the batch again
    const now = this.#clock.now();
    record.exists = result.entityExists;
    if (result.entityExists && result.entityState !== undefined) record.state = result.entityState;
    else delete record.state;
    const taken = this.#takenRequests.get(record.schedulerId) ?? new Set<string>();
    this.#takenRequests.set(record.schedulerId, taken);
    record.queue = record.queue.filter((r) => !batch.includes(r));
    batch.forEach((request, i) => {
      taken.add(request.id);
      if (request.signal || !request.parent) return;
      const outcome = result.results[i] ?? { isError: true, result: JSON.stringify({ message: 'the operation produced no result' }) };
      const response = { result: outcome.result ?? 'null', ...(outcome.isError ? { exceptionType: 'System.Exception' } : {}) };
      const parent = this.#records.get(request.parent.instanceId);
      if (!parent || parent.executionId !== request.parent.executionId || TERMINAL_STATUSES.has(parent.runtimeStatus)) return;
      parent.inbox.push(events.eventRaised(now, request.id, JSON.stringify(response)));
      this.#touchAndSave(parent);
    });
    record.lastUpdatedTime = iso(now);
    this.#saveEntity(record);
    for (const signal of result.signals) {
      this.#enqueue(schedulerIdOf(signal.target.name, signal.target.key), {
        id: randomUUID(),
        op: signal.name,
        signal: true,
        ...(signal.input === undefined || signal.input === '' ? {} : { input: signal.input }),
        timestamp: now,
      });
    }
    this.poke();
  }

  #entityFunction(name: string): FunctionRegistration | undefined {
    const lower = name.toLowerCase();
    return this.#registry.byTrigger('entityTrigger').find((f) => f.name.toLowerCase() === lower);
  }

  #saveEntity(record: EntityRecord): void {
    if (this.#stopped) return;
    this.#entityStore.save(record);
    this.#notify();
  }

  // -------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------

  #activity(name: string): FunctionRegistration | undefined {
    const registration = this.#registry.get(name);
    return registration?.triggerType === 'activityTrigger' ? registration : undefined;
  }

  #orchestration(name: string): FunctionRegistration {
    const registration = this.#registry.get(name);
    if (!registration || registration.triggerType !== 'orchestrationTrigger') {
      throw new DurableArgumentError(unknownOrchestratorMessage(name, this.#registry.orchestrations().map((f) => f.name)));
    }
    return registration;
  }

  #liveRecord(instanceId: string): InstanceRecord {
    const record = this.#records.get(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    if (TERMINAL_STATUSES.has(record.runtimeStatus)) throw new InstanceCompletedError(instanceId, record.runtimeStatus);
    return record;
  }

  #matching(query: StatusQuery): InstanceRecord[] {
    return [...this.#records.values()]
      .filter((r) => !query.runtimeStatus || query.runtimeStatus.length === 0 || query.runtimeStatus.includes(r.runtimeStatus))
      .filter((r) => !query.createdTimeFrom || Date.parse(r.createdTime) >= query.createdTimeFrom.getTime())
      .filter((r) => !query.createdTimeTo || Date.parse(r.createdTime) <= query.createdTimeTo.getTime())
      .filter((r) => !query.instanceIdPrefix || r.instanceId.startsWith(query.instanceIdPrefix))
      .sort((a, b) => Date.parse(a.createdTime) - Date.parse(b.createdTime) || a.instanceId.localeCompare(b.instanceId));
  }

  #touchAndSave(record: InstanceRecord): void {
    record.lastUpdatedTime = iso(this.#clock.now());
    this.#save(record);
  }

  #revise(instanceId: string): void {
    this.#revisions.set(instanceId, (this.#revisions.get(instanceId) ?? 0) + 1);
  }

  #save(record: InstanceRecord): void {
    // Changed in memory either way: waiters see it even when a stopped driver no longer persists it.
    this.#revise(record.instanceId);
    if (this.#stopped && !this.#turns.has(record.instanceId)) return;
    this.#store.save(record);
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The Durable Functions limit on custom status: 16 KB of UTF-16 encoded JSON text. */
export const MAX_CUSTOM_STATUS_BYTES = 16 * 1024;

/** Size of a custom status as the extension measures it: its JSON text in UTF-16, two bytes per code unit. */
export function customStatusBytes(value: unknown): number {
  return (JSON.stringify(value) ?? '').length * 2;
}

/**
 * The id of an entity request: derived from the sending execution and its sequence number, so every
 * replay of the episode that sent it writes the same id (DTFx uses the orchestration's deterministic
 * `NewGuid` for it).
 */
function entityRequestId(instanceId: string, executionId: string, eventId: number): string {
  const h = createHash('sha1').update(`${instanceId}\u0000${executionId}\u0000${eventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/** The request as the extension writes it into `EventSent.Input` (DTFx `RequestMessage`). */
function requestMessage(request: EntityRequest): Record<string, unknown> {
  return {
    id: request.id,
    op: request.op,
    signal: request.signal,
    input: request.input ?? null,
    parent: request.parent?.instanceId ?? null,
    parentExecution: request.parent?.executionId ?? null,
    timestamp: new Date(request.timestamp).toISOString(),
  };
}

function toStatus(record: InstanceRecord, options: { showHistory?: boolean; showInput?: boolean }): InstanceStatus {
  const status: InstanceStatus = {
    name: record.name,
    instanceId: record.instanceId,
    runtimeStatus: record.runtimeStatus,
    input: options.showInput === false ? null : structuredClone(record.input),
    output: structuredClone(record.output),
    customStatus: structuredClone(record.customStatus),
    createdTime: record.createdTime,
    lastUpdatedTime: record.lastUpdatedTime,
  };
  if (options.showHistory) status.history = structuredClone(record.history);
  return status;
}

function lastEpisodeTime(history: readonly HistoryEvent[]): number | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i];
    if (e && e.EventType === HistoryEventType.OrchestratorStarted) return Date.parse(e.Timestamp);
  }
  return undefined;
}

function validateInstanceId(instanceId: string): void {
  if (instanceId.startsWith('@')) throw new DurableArgumentError('Orchestration instance ids must not start with @.');
  // eslint-disable-next-line no-control-regex
  if (/[/\\?#\u0000-\u001f\u007f-\u009f]/.test(instanceId)) {
    throw new DurableArgumentError('Orchestration instance ids must not contain /, \\, #, ?, or control characters.');
  }
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH) {
    throw new DurableArgumentError(`Instance ID lengths must not exceed ${MAX_INSTANCE_ID_LENGTH} characters.`);
  }
}

export function unknownOrchestratorMessage(name: string, known: string[]): string {
  return (
    `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function. Additional info: ` +
    (known.length > 0
      ? `The following are the known orchestrator functions: '${known.join("', '")}'.`
      : 'No orchestrator functions are currently registered!')
  );
}

/** Activity input as the extension passes it: the engine's JSON value (strings are JSON-encoded once already). */
function activityInput(input: unknown): RpcTypedData | undefined {
  if (input === undefined) return undefined;
  if (typeof input === 'string') return { string: input };
  return { json: JSON.stringify(input) };
}

/** The JSON text the extension records for an activity's return value. */
function resultText(returnValue: RpcTypedData | null | undefined): string | null {
  if (!returnValue) return null;
  if (typeof returnValue.json === 'string') return returnValue.json;
  const value = fromTypedData(returnValue);
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  return toJsonText(value);
}

function failureDetails(className: string, message: string): string {
  return JSON.stringify({ $type: 'System.Exception, System.Private.CoreLib', ClassName: className, Message: message });
}

