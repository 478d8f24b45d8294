/**
 * The product's wall clock outside orchestrations (which use `currentUtcDateTime`): what the sweep
 * and the registry compare expiry dates with. Azure runs it on real time; the local runtime points
 * it at the sandbox's virtual clock so time-travel tests exercise the same code.
 */
let source: () => number = () => Date.now();

export function now(): number {
  return source();
}

/** Replaces the time source (the local runtime and tests); `undefined` restores real time. */
export function useClock(next: (() => number) | undefined): void {
  source = next ?? (() => Date.now());
}
