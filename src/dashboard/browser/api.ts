/**
 * The app's public HTTP API as the page calls it: JSON both ways, the function key as
 * `x-functions-key` (never in a URL), no cookies, no caching, no referrer. Errors carry the API's
 * problem detail; a refused key is reported to the page, which asks for another.
 */
import type { EnvironmentList } from '../../contracts/environment';
import type { ExternalEventName, OperationList, RunStarted } from '../../contracts/operations';
import { isRecord, listIn } from './model';
import type { SetupFormRequest } from './panels/setup';

export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the app could not be reached. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiOptions {
  /** The API's base path (`/api`). */
  base: string;
  key(): string;
  /** No key, or the app refused it (`reason` says which, for the person). */
  keyNeeded(reason?: string): void;
}

export interface Api {
  environments(): Promise<EnvironmentList>;
  operations(days: number): Promise<OperationList>;
  startSetup(environmentId: string, body: SetupFormRequest): Promise<RunStarted>;
  startRotation(environmentId: string): Promise<RunStarted>;
  raiseEvent(instanceId: string, event: ExternalEventName): Promise<void>;
}

export function createApi(options: ApiOptions): Api {
  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const key = options.key();
    if (!key) {
      options.keyNeeded();
      throw new ApiError(401, 'A function key is needed.');
    }
    const headers: Record<string, string> = { Accept: 'application/json', 'x-functions-key': key };
    const init: RequestInit = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response: Response;
    try {
      response = await fetch(options.base + path, init);
    } catch (error) {
      throw new ApiError(0, `The function app cannot be reached (${error instanceof Error && error.message ? error.message : 'network error'}).`);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (response.status === 401) {
      options.keyNeeded('The function app refused the function key. Enter the current key.');
      throw new ApiError(401, 'The function key was refused.');
    }
    if (!response.ok) throw new ApiError(response.status, problemText(data) ?? `HTTP ${response.status}`);
    return data;
  }

  const runStarted = (reply: unknown): RunStarted => ({
    instanceId: isRecord(reply) && typeof reply.instanceId === 'string' ? reply.instanceId : '',
    statusUrl: isRecord(reply) && typeof reply.statusUrl === 'string' ? reply.statusUrl : '',
  });
  const segment = encodeURIComponent;

  return {
    environments: async () => ({ environments: listIn(await call('GET', '/environments'), 'environments') }),
    operations: async (days) => ({ operations: listIn(await call('GET', `/operations?days=${days}`), 'operations') }),
    startSetup: async (environmentId, body) => runStarted(await call('POST', `/environments/${segment(environmentId)}/setup`, body)),
    startRotation: async (environmentId) => runStarted(await call('POST', `/environments/${segment(environmentId)}/rotate`)),
    raiseEvent: async (instanceId, event) => {
      await call('POST', `/operations/${segment(instanceId)}/events/${segment(event)}`, {});
    },
  };
}

/** The problem+json `detail` (or `title`) of an error reply. */
function problemText(data: unknown): string | undefined {
  if (!isRecord(data)) return undefined;
  if (typeof data.detail === 'string') return data.detail;
  if (typeof data.title === 'string') return data.title;
  return undefined;
}
