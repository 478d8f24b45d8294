/**
 * `GET /api/operations/{instanceId}` and `POST /api/operations/{instanceId}/events/{eventName}`: the
 * public view of a run (steps, what it waits for, output, error) and the way a person tells a waiting
 * run that consent was granted or the email parameters were entered.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { z } from 'zod';
import { isProductInstanceId } from '../contracts/names';
import { composeMailboxScopeInstructions } from '../contracts/exchange';
import { EXTERNAL_EVENTS, type MailboxScopeInstructions, type OperationList, type OperationStatus, type OperationView } from '../contracts/operations';
import type { SetupInput } from '../contracts/setup';
import { now as clockNow } from '../clock';
import { BadRequest, json, parseWith, problem, readJsonBody } from './http';
import { findStatus, isActive } from './instances';

/**
 * Instance ids the product creates: `setup-…`, `rotate-…`, `drift-…` plus an environment id, and (partner
 * mode) `onboard-…`, `offboard-…` plus a tenant id; the emergency rotation's `fleet-rotate[-tenant]`.
 */
const instanceIdSchema = z.string().refine((id) => isProductInstanceId(id), { message: 'is not a valid operation id' });

function isOperationStatus(x: unknown): x is OperationStatus {
  return typeof x === 'object' && x !== null && Array.isArray((x as OperationStatus).steps);
}

/** Whether the run waits for an Exchange administrator with instructions whose commands are not stored. */
function needsComposedCommands(status: DurableOrchestrationStatus): boolean {
  const custom = isOperationStatus(status.customStatus) ? status.customStatus : undefined;
  return isActive(status) && custom?.waitingFor?.event === 'MailboxScopeApplied' && !('commands' in custom.waitingFor.instructions);
}

/**
 * The view of a run, its waiting instructions complete: the Exchange commands of a mailbox-scope wait are
 * composed from the run's input (read once more with it), since the status keeps them out.
 */
async function viewOf(client: DurableClient, status: DurableOrchestrationStatus): Promise<OperationView> {
  const full = needsComposedCommands(status) ? ((await findStatus(client, status.instanceId, { showInput: true })) ?? status) : status;
  return toOperationView(full);
}

/** Maps the durable status to the public shape; failures become the orchestration's own message. */
export function toOperationView(status: DurableOrchestrationStatus): OperationView {
  const custom = isOperationStatus(status.customStatus) ? status.customStatus : { steps: [] };
  const view: OperationView = {
    instanceId: status.instanceId,
    name: status.name,
    runtimeStatus: status.runtimeStatus,
    createdTime: new Date(status.createdTime).toISOString(),
    lastUpdatedTime: new Date(status.lastUpdatedTime).toISOString(),
    steps: custom.steps,
  };
  if (custom.waitingFor && isActive(status)) {
    const waiting = custom.waitingFor;
    const input = status.input as Partial<SetupInput> | null | undefined;
    view.waitingFor =
      waiting.event === 'MailboxScopeApplied' && input?.environmentId
        ? { ...waiting, instructions: composeMailboxScopeInstructions(waiting.instructions as MailboxScopeInstructions, input.environmentId, input.mailboxScope) }
        : waiting;
  }
  if (status.runtimeStatus === df.OrchestrationRuntimeStatus.Completed) view.output = status.output;
  if (status.runtimeStatus === df.OrchestrationRuntimeStatus.Failed) view.error = failureMessage(status.output);
  if (status.runtimeStatus === df.OrchestrationRuntimeStatus.Terminated) view.error = `terminated: ${typeof status.output === 'string' ? status.output : JSON.stringify(status.output ?? null)}`;
  return view;
}

/** The host stores a failed orchestration's output as the error text (sometimes wrapped as JSON). */
export function failureMessage(output: unknown): string {
  if (typeof output === 'string') {
    const m = /Orchestrator function '[^']*' failed: (.*)$/s.exec(output);
    const text = m?.[1] ?? output;
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      /* not JSON: the text is the message */
    }
    return text;
  }
  if (typeof output === 'object' && output !== null && typeof (output as { message?: unknown }).message === 'string') {
    return (output as { message: string }).message;
  }
  return 'the run failed';
}

export async function getOperationHttp(request: HttpRequest, client: DurableClient, _context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const instanceId = parseWith(instanceIdSchema, request.params.instanceId ?? '', 'instanceId');
    const status = await findStatus(client, instanceId);
    if (!status) return problem({ status: 404, title: 'Unknown operation', detail: `No operation with id ${instanceId}.` });
    return json(200, await viewOf(client, status));
  } catch (error) {
    if (error instanceof BadRequest) return error.toResponse();
    throw error;
  }
}

export async function raiseEventHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const instanceId = parseWith(instanceIdSchema, request.params.instanceId ?? '', 'instanceId');
    const eventName = request.params.eventName ?? '';
    if (!(EXTERNAL_EVENTS as readonly string[]).includes(eventName)) {
      throw new BadRequest(`Unknown event ${JSON.stringify(eventName.slice(0, 64))}; expected one of ${EXTERNAL_EVENTS.join(', ')}.`, 'eventName');
    }
    const data = await readJsonBody(request);
    const status = await findStatus(client, instanceId);
    if (!status) return problem({ status: 404, title: 'Unknown operation', detail: `No operation with id ${instanceId}.` });
    if (!isActive(status)) {
      return problem({
        status: 409,
        title: 'Operation finished',
        detail: `Operation ${instanceId} is ${status.runtimeStatus.toLowerCase()} and takes no more events.`,
      });
    }
    await client.raiseEvent(instanceId, eventName, data);
    context.info(`event ${eventName} raised on ${instanceId}`);
    return json(202, { instanceId, eventName, accepted: true });
  } catch (error) {
    if (error instanceof BadRequest) return error.toResponse();
    throw error;
  }
}

/** `GET /api/operations`: the runs of the last `days` (default 30, at most 365), newest first; `?status=Running` filters. */
export async function listOperationsHttp(request: HttpRequest, client: DurableClient, _context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const days = parseWith(
      z.coerce.number({ message: 'must be a number' }).int({ message: 'must be a whole number' }).min(1, { message: 'must be at least 1' }).max(365, { message: 'must be at most 365' }),
      request.query.get('days') ?? '30',
      'days',
    );
    const statusFilter = request.query.get('status');
    const known = Object.values(df.OrchestrationRuntimeStatus) as string[];
    if (statusFilter !== null && !known.includes(statusFilter)) {
      throw new BadRequest(`status must be one of ${known.join(', ')}.`, 'status');
    }
    const statuses = await client.getStatusBy({
      createdTimeFrom: new Date(clockNow() - days * 86_400_000),
      ...(statusFilter !== null ? { runtimeStatus: [statusFilter as df.OrchestrationRuntimeStatus] } : {}),
    });
    const operations = (await Promise.all(statuses.filter((s) => isProductInstanceId(s.instanceId)).map((s) => viewOf(client, s)))).sort((a, b) =>
      a.createdTime < b.createdTime ? 1 : a.createdTime > b.createdTime ? -1 : 0,
    );
    return json(200, { operations } satisfies OperationList);
  } catch (error) {
    if (error instanceof BadRequest) return error.toResponse();
    throw error;
  }
}
