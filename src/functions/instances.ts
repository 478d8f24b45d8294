/**
 * Durable instance look-ups shared by the triggers: which run (setup or rotation) is active for an
 * environment, and a status read that tells "unknown instance" apart from a failure.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { isActiveRuntimeStatus } from '../contracts/operations';
import { isInstanceNotFound, problem, statusUrlFor } from './http';

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

/** The first of `instanceIds` that is still active, if any. */
export async function activeInstance(client: DurableClient, instanceIds: string[]): Promise<DurableOrchestrationStatus | undefined> {
  const statuses = await Promise.all(instanceIds.map((id) => findStatus(client, id)));
  return statuses.find((s): s is DurableOrchestrationStatus => s !== undefined && isActive(s));
}

/** 409 naming the run that is already active for the environment, with its status URL. */
export function alreadyRunning(request: HttpRequest, environmentId: string, running: DurableOrchestrationStatus): HttpResponseInit {
  return problem({
    status: 409,
    title: 'Already running',
    detail: `A ${running.name} run for environment ${environmentId} is already ${running.runtimeStatus.toLowerCase()}; follow it at statusUrl.`,
    instanceId: running.instanceId,
    statusUrl: statusUrlFor(request, running.instanceId),
  });
}
