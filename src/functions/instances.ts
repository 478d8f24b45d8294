/**
 * Durable instance look-ups shared by the HTTP triggers: a status read that tells "unknown instance"
 * apart from a failure, and the 409 answer naming the run that is already active for an environment.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { isActiveRuntimeStatus } from '../contracts/operations';
import { isInstanceNotFound, problem, statusUrlFor } from './http';
import type { RunStatus } from './runs';

export function isActive(status: DurableOrchestrationStatus): boolean {
  return isActiveRuntimeStatus(status.runtimeStatus);
}

/** The status, or undefined for an instance the task hub does not know. */
export async function findStatus(
  client: DurableClient,
  instanceId: string,
  options: { showInput?: boolean; showHistory?: boolean } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: options.showInput ?? false, showHistory: options.showHistory ?? false });
  } catch (error) {
    if (isInstanceNotFound(error)) return undefined;
    throw error;
  }
}

/** 409 naming the run that is already active for the environment, with its status URL. */
export function alreadyRunning(request: HttpRequest, environmentId: string, running: RunStatus): HttpResponseInit {
  return problem({
    status: 409,
    title: 'Already running',
    detail: `A ${running.name} run for environment ${environmentId} is already ${running.runtimeStatus.toLowerCase()}; follow it at statusUrl.`,
    instanceId: running.instanceId,
    statusUrl: statusUrlFor(request, running.instanceId),
  });
}
