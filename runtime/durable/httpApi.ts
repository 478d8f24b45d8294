/**
 * The durable extension's HTTP API (the subset `DurableClient` and the management links use): start
 * an orchestration, get one or many statuses, raise an event, terminate, suspend, resume, purge,
 * read an entity's state and signal it.
 * Routes, status codes and bodies follow the extension's `HttpApiHandler`; the same handler serves
 * the loopback RPC endpoint and the key-protected webhooks on the function host.
 */
import { HistoryEventType, parseJsonText, type HistoryEvent } from './history';
import {
  DurableArgumentError,
  InstanceAlreadyExistsError,
  type DurableDriver,
  type InstanceStatus,
  type RuntimeStatus,
  type StatusQuery,
} from './driver';
import { managementUrls, type DurableEndpoints } from './clientBinding';
import { emptyResponse, headerValue, jsonResponse, type HostRequest, type HostResponse } from '../http';
import { TERMINAL_STATUSES } from './store';

const RUNTIME_STATUSES: readonly RuntimeStatus[] = ['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended'];

export interface DurableHttpApi {
  /** Handles a request whose path below the API base is `subPath` (no leading slash). */
  handle(request: HostRequest, subPath: string): Promise<HostResponse>;
}

export function createDurableHttpApi(driver: DurableDriver, endpoints: () => DurableEndpoints): DurableHttpApi {
  return {
    async handle(request, subPath) {
      try {
        return await route(driver, endpoints(), request, subPath);
      } catch (err) {
        if (err instanceof DurableArgumentError) return errorResponse(400, 'One or more of the arguments submitted is incorrect', err, 'System.ArgumentException');
        if (err instanceof InstanceAlreadyExistsError) {
          return errorResponse(500, 'Something went wrong while processing your request', err, 'DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException');
        }
        return errorResponse(500, 'Something went wrong while processing your request', err instanceof Error ? err : new Error(String(err)), 'System.Exception');
      }
    },
  };
}

function errorResponse(status: number, message: string, error: Error, exceptionType: string): HostResponse {
  return jsonResponse(status, { Message: message, ExceptionMessage: error.message, ExceptionType: exceptionType });
}

async function route(driver: DurableDriver, endpoints: DurableEndpoints, request: HostRequest, subPath: string): Promise<HostResponse> {
  const segments = subPath
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
  const [controller, a, b, c, ...rest] = segments;
  const method = request.method;
  const query = request.url.searchParams;

  if (controller === 'orchestrators' && a !== undefined && c === undefined) {
    if (method !== 'POST') return emptyResponse(404);
    return startOrchestration(driver, endpoints, request, a, b);
  }

  if (controller === 'instances' && rest.length === 0) {
    if (a === undefined) {
      if (method === 'GET') return jsonResponse(200, driver.listInstances(statusQuery(query, true)).map((s) => statusPayload(s, false, false)));
      if (method === 'DELETE') return purgeByFilter(driver, query);
      return emptyResponse(404);
    }
    if (b === undefined) {
      if (method === 'GET') return getStatus(driver, request, a);
      if (method === 'DELETE') {
        const result = await driver.purge(a);
        return result.instancesDeleted === 0 ? emptyResponse(404) : jsonResponse(200, result);
      }
      return emptyResponse(404);
    }
    if (c === undefined && method === 'POST') {
      const operation = b.toLowerCase();
      if (operation === 'terminate' || operation === 'suspend' || operation === 'resume') return lifecycle(driver, a, operation, query.get('reason') ?? '');
      if (operation === 'rewind' || operation === 'restart') {
        return jsonResponse(501, { Message: `The ${operation} operation is not supported by the local runtime.` });
      }
    }
    if (b === 'raiseEvent' && c !== undefined && method === 'POST') return raiseEvent(driver, request, a, c);
  }

  if (controller === 'entities' && a !== undefined && b !== undefined && c === undefined) {
    if (method === 'GET') {
      const found = driver.readEntityState(a, b);
      return found ? jsonResponse(200, found.state) : emptyResponse(404);
    }
    if (method === 'POST') {
      const text = request.body.toString('utf8');
      let input: unknown = undefined;
      if (text.length > 0) {
        try {
          input = JSON.parse(text) as unknown;
        } catch (err) {
          return errorResponse(400, 'Invalid JSON content', err instanceof Error ? err : new Error(String(err)), 'Newtonsoft.Json.JsonReaderException');
        }
      }
      driver.signalEntity(a, b, query.get('op') ?? '', input);
      return emptyResponse(202);
    }
  }
  return emptyResponse(404);
}

async function startOrchestration(
  driver: DurableDriver,
  endpoints: DurableEndpoints,
  request: HostRequest,
  functionName: string,
  instanceId: string | undefined,
): Promise<HostResponse> {
  let input: unknown = undefined;
  const text = request.body.toString('utf8');
  if (text.length > 0) {
    try {
      input = JSON.parse(text) as unknown;
    } catch (err) {
      return errorResponse(400, 'Invalid JSON content', err instanceof Error ? err : new Error(String(err)), 'Newtonsoft.Json.JsonReaderException');
    }
  }
  const id = driver.startNew(functionName, { instanceId, input });
  const timeout = Number(request.url.searchParams.get('timeout'));
  const polling = Number(request.url.searchParams.get('pollingInterval'));
  if (request.url.searchParams.has('timeout') && request.url.searchParams.has('pollingInterval') && timeout > 0 && polling > 0) {
    try {
      const status = await driver.waitForCompletion(id, { timeoutMs: timeout * 1000 });
      if (status.runtimeStatus === 'Completed') return jsonResponse(200, status.output);
      return jsonResponse(200, statusPayload(status, false, false));
    } catch {
      // still running after the timeout: fall through to the 202 check-status response
    }
  }
  return checkStatusResponse(endpoints, id);
}

function checkStatusResponse(endpoints: DurableEndpoints, instanceId: string): HostResponse {
  const links = managementUrls(endpoints, instanceId);
  const { rewindPostUri: _rewind, ...body } = links;
  return jsonResponse(202, body, { Location: links.statusQueryGetUri, 'Retry-After': '10' });
}

function getStatus(driver: DurableDriver, request: HostRequest, instanceId: string): HostResponse {
  const query = request.url.searchParams;
  const showHistory = booleanParam(query, 'showHistory') ?? false;
  const showHistoryOutput = booleanParam(query, 'showHistoryOutput') ?? false;
  const showInput = booleanParam(query, 'showInput') ?? true;
  const failAs500 = booleanParam(query, 'returnInternalServerErrorOnFailure') ?? false;
  const status = driver.getStatus(instanceId, { showHistory, showInput });
  if (!status) return emptyResponse(404);
  const payload = statusPayload(status, showHistory, showHistoryOutput, showInput);
  switch (status.runtimeStatus) {
    case 'Running':
    case 'Pending':
    case 'ContinuedAsNew':
    case 'Suspended':
      return jsonResponse(202, payload, { Location: request.url.href, 'Retry-After': '5' });
    case 'Failed':
      return jsonResponse(failAs500 ? 500 : 200, payload);
    default:
      return jsonResponse(200, payload);
  }
}

async function lifecycle(driver: DurableDriver, instanceId: string, operation: 'terminate' | 'suspend' | 'resume', reason: string): Promise<HostResponse> {
  const status = driver.getStatus(instanceId);
  if (!status) return emptyResponse(404);
  if (TERMINAL_STATUSES.has(status.runtimeStatus)) return emptyResponse(410);
  if (operation === 'terminate') driver.terminate(instanceId, reason);
  else if (operation === 'suspend') await driver.suspend(instanceId, reason);
  else await driver.resume(instanceId, reason);
  return emptyResponse(202);
}

function raiseEvent(driver: DurableDriver, request: HostRequest, instanceId: string, eventName: string): HostResponse {
  const status = driver.getStatus(instanceId);
  if (!status) return emptyResponse(404);
  if (TERMINAL_STATUSES.has(status.runtimeStatus)) return emptyResponse(410);
  const mediaType = (headerValue(request.headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') return jsonResponse(400, { Message: 'Only application/json request content is supported' });
  const text = request.body.toString('utf8').trim();
  let data: unknown = null;
  if (text !== '') {
    try {
      data = JSON.parse(text) as unknown;
    } catch (err) {
      return errorResponse(400, 'Invalid JSON content', err instanceof Error ? err : new Error(String(err)), 'Newtonsoft.Json.JsonReaderException');
    }
  }
  driver.raiseEvent(instanceId, eventName, data);
  return emptyResponse(202);
}

async function purgeByFilter(driver: DurableDriver, query: URLSearchParams): Promise<HostResponse> {
  const from = dateParam(query, 'createdTimeFrom');
  if (!from) return jsonResponse(400, "Please provide value for 'createdTimeFrom' parameter.");
  const filter = statusQuery(query, false);
  const result = await driver.purgeInstances({ ...filter, createdTimeFrom: from, createdTimeTo: filter.createdTimeTo ?? new Date(8.64e15) });
  return result.instancesDeleted === 0 ? emptyResponse(404) : jsonResponse(200, result);
}

function statusQuery(query: URLSearchParams, withInput: boolean): StatusQuery {
  const statuses = query
    .getAll('runtimeStatus')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v): v is RuntimeStatus => (RUNTIME_STATUSES as readonly string[]).includes(v));
  return {
    runtimeStatus: statuses.length > 0 ? statuses : undefined,
    createdTimeFrom: dateParam(query, 'createdTimeFrom'),
    createdTimeTo: dateParam(query, 'createdTimeTo'),
    instanceIdPrefix: query.get('instanceIdPrefix') ?? undefined,
    showInput: withInput ? (booleanParam(query, 'showInput') ?? true) : false,
  };
}

function booleanParam(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name)?.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

function dateParam(query: URLSearchParams, name: string): Date | undefined {
  const value = query.get(name);
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** .NET's `ToString("s") + "Z"`: second precision. */
function seconds(isoTime: string): string {
  return `${new Date(isoTime).toISOString().slice(0, 19)}Z`;
}

/** The extension's `StatusResponsePayload`. */
export function statusPayload(status: InstanceStatus, showHistory: boolean, showHistoryOutput: boolean, showInput = true): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    name: status.name,
    instanceId: status.instanceId,
    runtimeStatus: status.runtimeStatus,
    input: showInput ? (status.input ?? null) : null,
    customStatus: status.customStatus ?? null,
    output: status.output ?? null,
    createdTime: seconds(status.createdTime),
    lastUpdatedTime: seconds(status.lastUpdatedTime),
  };
  if (showHistory && status.history) payload.historyEvents = summarizeHistory(status.history, showHistoryOutput, showInput);
  return payload;
}

const EVENT_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(HistoryEventType)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);
const DTFX_STATUS_NAMES = ['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended'];

/**
 * The status API's history view (the extension's `GetDurableOrchestrationStatusAsync`): event types
 * as names, `TaskScheduled` merged into its completion (`FunctionName`, `ScheduledTime`), orchestrator
 * episode markers removed, outputs only with `showHistoryOutput`.
 */
export function summarizeHistory(history: readonly HistoryEvent[], showHistoryOutput: boolean, showInput: boolean): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const merged = new Set<HistoryEvent>();
  for (const e of history) {
    if (e.EventType === HistoryEventType.TaskScheduled) scheduled.set(e.EventId, e);
  }
  const out: Array<{ source: HistoryEvent; item: Record<string, unknown> }> = [];
  for (const e of history) {
    if (e.EventType === HistoryEventType.OrchestratorStarted || e.EventType === HistoryEventType.OrchestratorCompleted) continue;
    const item: Record<string, unknown> = { ...e, EventType: EVENT_TYPE_NAMES[e.EventType] ?? String(e.EventType) };
    switch (e.EventType) {
      case HistoryEventType.TaskScheduled:
        delete item.Version;
        break;
      case HistoryEventType.TaskCompleted:
      case HistoryEventType.TaskFailed: {
        const source = scheduled.get(e.TaskScheduledId ?? -1);
        if (source) {
          item.ScheduledTime = source.Timestamp;
          item.FunctionName = source.Name;
          if (showInput) item.Input = source.Input;
          merged.add(source);
        }
        delete item.TaskScheduledId;
        if (e.EventType === HistoryEventType.TaskCompleted) {
          if (showHistoryOutput) item.Result = parseJsonText(e.Result);
          else delete item.Result;
        }
        break;
      }
      case HistoryEventType.ExecutionStarted:
        item.FunctionName = e.Name;
        delete item.Name;
        delete item.OrchestrationInstance;
        delete item.ParentInstance;
        delete item.Version;
        delete item.Tags;
        break;
      case HistoryEventType.ExecutionCompleted:
        item.OrchestrationStatus = DTFX_STATUS_NAMES[e.OrchestrationStatus ?? -1] ?? e.OrchestrationStatus;
        if (showHistoryOutput) item.Result = parseJsonText(e.Result);
        else delete item.Result;
        break;
      case HistoryEventType.TimerFired:
        delete item.TimerId;
        break;
      default:
        break;
    }
    if (!showInput) delete item.Input;
    delete item.EventId;
    delete item.IsPlayed;
    out.push({ source: e, item });
  }
  // Scheduled events that found their completion are folded into it, as the extension does.
  return out.filter((o) => !merged.has(o.source)).map((o) => o.item);
}
