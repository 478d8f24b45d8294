/**
 * Client-side pacing for a service limit counted per sliding window: at most `limit` requests in any
 * `windowMs`, turns taken in order. A caller waits for its turn instead of being answered 429 and
 * waiting out `Retry-After`, which would also spend the turn of everyone behind it.
 */
export interface RequestPacerOptions {
  limit: number;
  windowMs: number;
  /** The clock the service counts on (the product's clock; real time on Azure). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class RequestPacer {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #sent: number[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(options: RequestPacerOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Resolves when one more request fits the window, and counts it as sent. */
  turn(): Promise<void> {
    const mine = this.#queue.then(() => this.#wait());
    this.#queue = mine.catch(() => undefined);
    return mine;
  }

  async #wait(): Promise<void> {
    for (;;) {
      const t = this.#now();
      this.#sent = this.#sent.filter((at) => at > t - this.#windowMs);
      if (this.#sent.length < this.#limit) {
        this.#sent.push(t);
        return;
      }
      await this.#sleep(Math.max(1, (this.#sent[0] ?? t) + this.#windowMs - t + 1));
    }
  }
}
