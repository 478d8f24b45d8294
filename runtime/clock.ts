/**
 * The runtime's notion of time. Durable timers, timer triggers and orchestration timestamps read it,
 * so tests and the sandbox can move time forward without waiting.
 */

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told to. Listeners let a runtime react to a jump at once instead of
 * at its next scheduler tick.
 */
export class ManualClock implements Clock {
  #now: number;
  readonly #listeners = new Set<(now: number) => void>();

  constructor(start: number | Date = Date.UTC(2030, 0, 1, 0, 0, 0)) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('The clock only moves forward.');
    return this.set(this.#now + ms);
  }

  set(epochMs: number): number {
    if (epochMs < this.#now) throw new RangeError('The clock only moves forward.');
    this.#now = epochMs;
    for (const listener of this.#listeners) listener(epochMs);
    return epochMs;
  }

  /** Returns a function that removes the listener. */
  onChange(listener: (now: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** True when the clock can announce its own jumps (a `ManualClock` or anything shaped like one). */
export function isObservableClock(clock: Clock): clock is Clock & { onChange(listener: (now: number) => void): () => void } {
  return typeof (clock as { onChange?: unknown }).onChange === 'function';
}
