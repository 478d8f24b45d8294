/**
 * Typed activity calls for orchestrators: one helper so an activity name or input shape cannot be
 * misspelled, with named retry presets chosen per step. Permanent failures arrive as values
 * (`ActivityResult`) and are rethrown here as `StepFailedError`, so they fail the run at once.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ActivityInput, ActivityName, ActivityOutput, ActivityResult, StepFailure } from '../contracts/activities';

function preset(firstMs: number, attempts: number, backoff: number, maxMs: number): df.RetryOptions {
  const options = new df.RetryOptions(firstMs, attempts);
  options.backoffCoefficient = backoff;
  options.maxRetryIntervalInMilliseconds = maxMs;
  return options;
}

/**
 * Retry presets. Transient faults (429, 5xx, resets) are already retried inside the SDKs with
 * Retry-After; these cover what is left: longer outages and Entra replication lag, whose documented
 * duration is "seconds, sometimes minutes".
 */
export const RETRY = {
  /** Graph and Key Vault reads and idempotent writes: ~1 minute in total. */
  standard: preset(2_000, 5, 2, 30_000),
  /** Objects just created in Entra that other calls do not see yet: backs off from 1 s to 20 s, ~3 minutes. */
  replication: preset(1_000, 12, 1.6, 20_000),
  /** A new client secret that Entra does not accept yet (5–20 s typical): short polls first, ~2 minutes. */
  propagation: preset(500, 14, 1.5, 15_000),
  /** Exchange applies RBAC for Applications assignments within about an hour: 1 minute doubling to 15, ~2 hours. */
  exchange: preset(60_000, 10, 2, 900_000),
  /** F&O OData: environments restart for servicing; ~5 minutes. */
  finOps: preset(5_000, 6, 2, 120_000),
} as const;

export type RetryPresetName = keyof typeof RETRY;

/** A step failed in a way retrying cannot fix. The message names the step, the service's code and what to do. */
export class StepFailedError extends Error {
  override name = 'StepFailedError';
  constructor(
    readonly step: string,
    readonly failure: StepFailure,
  ) {
    super(`Step ${step} failed: ${failure.message}`);
  }
}

/** Schedules an activity with a retry preset; yield the returned task, then pass its result to `unwrap`. */
export function scheduleActivity<N extends ActivityName>(
  context: OrchestrationContext,
  name: N,
  input: ActivityInput<N>,
  retry: RetryPresetName | null = 'standard',
): Task {
  return retry === null ? context.df.callActivity(name, input) : context.df.callActivityWithRetry(name, RETRY[retry], input);
}

/** Turns an activity's result into its value, or throws `StepFailedError` for a permanent failure. */
export function unwrap<N extends ActivityName>(name: N, result: unknown): ActivityOutput<N> {
  const r = result as ActivityResult<ActivityOutput<N>>;
  if (r.ok) return r.value;
  throw new StepFailedError(name, r.failure);
}

/**
 * Calls an activity and returns its output (use with `yield*`):
 * `const app = yield* callActivity(context, 'registerApplication', input, 'standard');`
 */
export function* callActivity<N extends ActivityName>(
  context: OrchestrationContext,
  name: N,
  input: ActivityInput<N>,
  retry: RetryPresetName | null = 'standard',
): Generator<Task, ActivityOutput<N>, unknown> {
  const result: unknown = yield scheduleActivity(context, name, input, retry);
  return unwrap(name, result);
}
