/**
 * Timer triggers: evaluates each timer function's NCRONTAB schedule against the runtime's clock and
 * invokes it with the `Timer` object the host sends (`isPastDue`, `scheduleStatus`). A clock jump
 * over several occurrences runs the function once, with `isPastDue` set, as the host does after a
 * missed schedule. One invocation per function at a time (the host's singleton behaviour).
 */
import type { Clock } from './clock';
import { isObservableClock, systemClock } from './clock';
import type { FunctionInvoker, InvocationOutcome } from './invoke';
import type { RuntimeLog } from './logs';
import { nextOccurrence, parseSchedule, type CronSchedule } from './ncrontab';
import type { FunctionRegistration, Registry } from './registry';

export interface TimerRunnerOptions {
  registry: Registry;
  invoker: FunctionInvoker;
  log: RuntimeLog;
  clock?: Clock;
  /** Scheduler interval in ms (default 100). */
  intervalMs?: number | undefined;
}

interface TimerState {
  registration: FunctionRegistration;
  schedule: CronSchedule;
  next: number | undefined;
  last: number | undefined;
  running: boolean;
}

export class TimerRunner {
  readonly #invoker: FunctionInvoker;
  readonly #log: RuntimeLog;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #timers = new Map<string, TimerState>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #interval: NodeJS.Timeout | undefined;
  #unsubscribeClock: (() => void) | undefined;
  #stopped = false;

  constructor(options: TimerRunnerOptions) {
    this.#invoker = options.invoker;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 100;
    const now = this.#clock.now();
    for (const registration of options.registry.byTrigger('timerTrigger')) {
      const expression = resolveAppSettings(registration.timer?.schedule ?? '');
      try {
        const schedule = parseSchedule(expression);
        this.#timers.set(registration.name.toLowerCase(), { registration, schedule, next: nextOccurrence(schedule, now), last: undefined, running: false });
      } catch (err) {
        this.#log.host('error', `Timer function '${registration.name}' is disabled: ${err instanceof Error ? err.message : String(err)}`, {
          functionName: registration.name,
        });
      }
    }
  }

  /** Next scheduled run per timer function (epoch ms), for diagnostics and tests. */
  schedule(): Record<string, number | undefined> {
    return Object.fromEntries([...this.#timers.values()].map((t) => [t.registration.name, t.next]));
  }

  start(): void {
    for (const timer of this.#timers.values()) {
      const next = timer.next === undefined ? 'never' : new Date(timer.next).toISOString();
      this.#log.host('information', `Timer '${timer.registration.name}' (${timer.schedule.expression}) next runs at ${next}.`, {
        functionName: timer.registration.name,
      });
      if (timer.registration.timer?.runOnStartup) this.#fire(timer, false, undefined);
    }
    this.#interval = setInterval(() => this.poke(), this.#intervalMs);
    this.#interval.unref();
    if (isObservableClock(this.#clock)) this.#unsubscribeClock = this.#clock.onChange(() => setImmediate(() => this.poke()));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#interval) clearInterval(this.#interval);
    this.#unsubscribeClock?.();
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Runs every timer whose occurrence is due. */
  poke(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    for (const timer of this.#timers.values()) {
      if (timer.running || timer.next === undefined || now < timer.next) continue;
      const due = timer.next;
      const following = nextOccurrence(timer.schedule, due);
      // Past due when the clock is already beyond the occurrence after this one: at least one run was missed.
      const isPastDue = following !== undefined && now >= following;
      this.#fire(timer, isPastDue, due);
    }
  }

  /** True when no timer function is running or overdue (tests settle on it after a clock jump). */
  isIdle(): boolean {
    const now = this.#clock.now();
    return [...this.#timers.values()].every((t) => !t.running && (t.next === undefined || now < t.next));
  }

  /** Runs whatever is due now and resolves once no timer function is running (or due, unless stopped). */
  async whenIdle(): Promise<void> {
    for (;;) {
      this.poke();
      if (this.#inFlight.size === 0) return;
      await Promise.allSettled([...this.#inFlight]);
    }
  }

  /** Runs a timer function now, outside its schedule (`POST /admin/functions/{name}`). */

  async runNow(functionName: string): Promise<InvocationOutcome> {
    const timer = this.#timers.get(functionName.toLowerCase());
    if (!timer) throw new Error(`'${functionName}' is not an enabled timer function.`);
    return this.#invoke(timer, false, this.#clock.now());
  }

  #fire(timer: TimerState, isPastDue: boolean, due: number | undefined): void {
    timer.running = true;
    const now = this.#clock.now();
    timer.last = due ?? now;
    timer.next = nextOccurrence(timer.schedule, now);
    const run = this.#invoke(timer, isPastDue, due ?? now).finally(() => {
      timer.running = false;
      this.#inFlight.delete(run);
    });
    this.#inFlight.add(run);
  }

  #invoke(timer: TimerState, isPastDue: boolean, firedAt: number): Promise<InvocationOutcome> {
    const now = this.#clock.now();
    const info = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: new Date(timer.last ?? now).toISOString(),
        Next: timer.next === undefined ? null : new Date(timer.next).toISOString(),
        LastUpdated: new Date(now).toISOString(),
      },
      IsPastDue: isPastDue,
    };
    return this.#invoker.invoke({
      registration: timer.registration,
      trigger: { json: JSON.stringify(info) },
      reason: `Timer fired at ${new Date(firedAt).toISOString()}`,
    });
  }
}

/** `%NAME%` in a binding expression is replaced by the app setting NAME, as the Functions host does. */
export function resolveAppSettings(expression: string): string {
  return expression.replace(/%([A-Za-z0-9_.:-]+)%/g, (whole, name: string) => {
    const value = process.env[name];
    if (value === undefined) throw new Error(`the app setting ${name} referenced by "${whole}" is not set`);
    return value;
  });
}
