/**
 * Registration glue for activities: each registered handler resolves the product's services on first
 * use, logs through the invocation context, and turns errors into the contract orchestrators expect:
 * failures worth retrying are thrown (the step's retry preset applies), the rest come back as
 * `{ok: false, failure}` so the run fails at once with a message naming the service's code and what to do.
 */
import type { InvocationContext } from '@azure/functions';
import type { ActivityLogger, ProductActivityName } from '../activities';
import type { ActivityResult, StepFailure } from '../contracts/activities';
import type { ProductServices } from '../composition';

function loggerFor(context: InvocationContext): ActivityLogger {
  return {
    info: (message) => context.info(message),
    warn: (message) => context.warn(message),
    error: (message) => context.error(message),
  };
}

export function createActivityHandler(name: ProductActivityName, services: () => ProductServices) {
  return async function activity(input: unknown, context: InvocationContext): Promise<ActivityResult<unknown>> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the SDK error types load on first use
    const { isServiceError } = require('../clients/errors') as typeof import('../clients/errors');
    const handler = services().activities[name] as (input: unknown, log: ActivityLogger) => Promise<unknown>;
    try {
      return { ok: true, value: await handler(input, loggerFor(context)) };
    } catch (error) {
      if (isServiceError(error) && !error.retryable) {
        context.error(`${name}: ${error.message}`);
        const failure: StepFailure = {
          kind: error.kind === 'not-found' ? 'not-found' : 'permanent',
          service: error.service,
          message: error.message,
          action: error.action,
          ...(error.code !== undefined ? { code: error.code } : {}),
          ...(error.status !== undefined ? { status: error.status } : {}),
          ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
        };
        return { ok: false, failure };
      }
      context.warn(`${name}: ${error instanceof Error ? error.message : String(error)} (will be retried)`);
      throw error;
    }
  };
}
