/**
 * The HTTP side of the local host: listens on loopback, routes `/api/<route>` to the registered HTTP
 * functions (route templates, methods, auth levels), builds the request the worker would send
 * (`RpcHttpData`, turned into a real `HttpRequest` by the library's invocation model) and writes the
 * function's `HttpResponse` back. It also serves the extension webhooks the host exposes:
 * `/runtime/webhooks/durabletask/...` (durable management API) and `/runtime/webhooks/eventgrid`,
 * plus `/admin/functions/{name}` to run a non-HTTP function on demand, all guarded by keys.
 * For people with a browser, `GET /` redirects to the app's dashboard (never carrying a key), and a
 * page request without a key gets a small form asking for it instead of a blank 401.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { FunctionInvoker } from './invoke';
import { fromTypedData } from './invoke';
import type { RpcHttpCookie, RpcHttpData, RpcInvocationResponse } from './functionsCore';
import type { RuntimeLog } from './logs';
import type { FunctionRegistration, Registry } from './registry';
import { byPrecedence, compileRoute, matchRoute, pathSegments, type CompiledRoute } from './routes';
import {
  BodyTooLargeError,
  emptyResponse,
  headerValue,
  jsonResponse,
  readBody,
  toHostRequest,
  writeResponse,
  type HostRequest,
  type HostResponse,
} from './http';
import type { DurableHttpApi } from './durable/httpApi';
import { DURABLE_WEBHOOK_PATH } from './durable/clientBinding';

export const EVENT_GRID_WEBHOOK_PATH = '/runtime/webhooks/eventgrid';
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 1024 * 1024;

export interface EventDeliveryResult {
  ok: boolean;
  error?: string;
}

export interface HttpHostOptions {
  registry: Registry;
  invoker: FunctionInvoker;
  log: RuntimeLog;
  /** Default 7071; 0 picks a free port. */
  port?: number | undefined;
  /** Default 127.0.0.1 (the host is for this machine only). */
  hostname?: string;
  /** Accepted for `function` and `admin` level functions. */
  functionKey: string;
  /** The only key the extension webhooks and the admin API take; defaults to the function key (tests of the host alone). */
  systemKey?: string;
  /** Route prefix, `api` as in host.json's default. */
  routePrefix?: string;
  maxRequestBodyBytes?: number | undefined;
  durableApi?: DurableHttpApi;
  /** Delivers one Event Grid event to a function (used by the Event Grid webhook). */
  deliverEventGridEvent?: (functionName: string, event: unknown) => Promise<EventDeliveryResult>;
  /** Runs a non-HTTP function on demand (`POST /admin/functions/{name}`). */
  runFunction?: (registration: FunctionRegistration, input: string | undefined) => Promise<void>;
  /**
   * Where `GET /` redirects, as a route below the prefix; default `dashboard` when a GET function has
   * that route, otherwise `/` is not found.
   */
  rootRoute?: string;
}

export interface HttpHost {
  /** Base URL of the host, e.g. `http://127.0.0.1:7071`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface HttpRoute {
  registration: FunctionRegistration;
  route: CompiledRoute;
}

export async function startHttpHost(options: HttpHostOptions): Promise<HttpHost> {
  const hostname = options.hostname ?? '127.0.0.1';
  const prefix = (options.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
  const maxBody = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;
  const routes: HttpRoute[] = options.registry
    .httpFunctions()
    .map((registration) => ({ registration, route: compileRoute(registration.http?.route ?? registration.name) }))
    .sort((a, b) => byPrecedence(a.route, b.route));
  const systemKey = options.systemKey ?? options.functionKey;
  const rootRoute = options.rootRoute ?? (routes.some((r) => r.registration.http?.route === 'dashboard' && r.registration.http.methods.includes('GET')) ? 'dashboard' : undefined);

  const server = http.createServer((req, res) => {
    void (async () => {
      let response: HostResponse;
      try {
        const body = await readBody(req, maxBody);
        response = await dispatch(toHostRequest(req, body, `${hostname}`));
      } catch (err) {
        if (err instanceof BodyTooLargeError) response = emptyResponse(413, { Connection: 'close' });
        else {
          options.log.host('error', `Request ${req.method ?? ''} ${safePath(req.url)} failed in the host: ${err instanceof Error ? err.message : String(err)}`);
          response = emptyResponse(500);
        }
      }
      // A refused body may still be arriving: discard it so the client reads the 413, then close.
      if (response.status === 413) req.resume();
      if (!res.headersSent) writeResponse(res, response);
    })();
  });

  async function dispatch(request: HostRequest): Promise<HostResponse> {
    const path = request.url.pathname;
    const lower = path.toLowerCase();
    // The extension webhooks and the admin API take the host's system key, never a function key: a
    // function key opens the app's HTTP functions only, as in the Functions host
    // (https://learn.microsoft.com/azure/azure-functions/function-keys-how-to).
    if (lower === DURABLE_WEBHOOK_PATH || lower.startsWith(`${DURABLE_WEBHOOK_PATH}/`)) {
      if (!hasKey(request, [systemKey])) return emptyResponse(401);
      if (!options.durableApi) return emptyResponse(404);
      return options.durableApi.handle(request, path.slice(DURABLE_WEBHOOK_PATH.length + 1));
    }
    if (lower === EVENT_GRID_WEBHOOK_PATH) {
      if (!hasKey(request, [systemKey])) return emptyResponse(401);
      return eventGridWebhook(request);
    }
    const admin = /^\/admin\/functions\/([^/]+)\/?$/i.exec(path);
    if (admin) {
      if (!hasKey(request, [systemKey])) return emptyResponse(401);
      return adminRun(request, decodeURIComponent(admin[1] ?? ''));
    }
    if (lower === '/admin/host/status') {
      if (!hasKey(request, [systemKey])) return emptyResponse(401);
      return jsonResponse(200, { state: 'Running' });
    }
    if (lower === `/${prefix}` || lower.startsWith(`/${prefix}/`)) return invokeHttpFunction(request, path.slice(prefix.length + 1));
    if (path === '/' && rootRoute !== undefined && (request.method === 'GET' || request.method === 'HEAD')) {
      // The query is dropped on purpose: a key given to `/?code=` must not travel on in a Location header.
      return emptyResponse(302, { Location: `/${prefix}/${rootRoute}`, 'Cache-Control': 'no-store' });
    }
    return emptyResponse(404);
  }

  /** A browser opening a protected page without a key: a form that reloads the page with `?code=`. */
  function keyRequired(request: HostRequest): HostResponse {
    const wantsPage = request.method === 'GET' && /\btext\/html\b/i.test(headerValue(request.headers, 'accept') ?? '');
    if (!wantsPage) return emptyResponse(401);
    const given = request.url.searchParams.has('code') || headerValue(request.headers, 'x-functions-key') !== undefined;
    return {
      status: 401,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'Content-Security-Policy': "default-src 'none'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      },
      body: KEY_FORM_PAGE.replace('{message}', given ? 'That function key was not accepted.' : 'This page needs the function key (npm start prints it).'),
    };
  }

  function hasKey(request: HostRequest, accepted: string[]): boolean {
    const given = headerValue(request.headers, 'x-functions-key') ?? request.url.searchParams.get('code') ?? '';
    return accepted.some((key) => key !== '' && safeEqual(given, key));
  }

  async function invokeHttpFunction(request: HostRequest, routePath: string): Promise<HostResponse> {
    const segments = pathSegments(routePath);
    if (!segments) return emptyResponse(400);
    let match: { route: HttpRoute; params: Record<string, string> } | undefined;
    for (const route of routes) {
      const params = matchRoute(route.route, segments);
      if (!params) continue;
      if (!(route.registration.http?.methods ?? []).includes(request.method)) continue;
      match = { route, params };
      break;
    }
    if (!match) return emptyResponse(404);
    const { registration } = match.route;
    const authLevel = registration.http?.authLevel ?? 'anonymous';
    if (authLevel !== 'anonymous' && !hasKey(request, [options.functionKey])) return keyRequired(request);

    const rpcRequest: RpcHttpData = {
      method: request.method,
      url: request.url.href,
      headers: flattenHeaders(request.headers),
      params: match.params,
      body: request.body.length > 0 ? { bytes: request.body } : undefined,
    };
    const outcome = await options.invoker.invoke({
      registration,
      trigger: { http: rpcRequest },
      reason: 'This function was programmatically called via the host APIs.',
    });
    if (!outcome.ok) return emptyResponse(500);
    return toHostResponse(httpOutput(registration, outcome.response));
  }

  async function eventGridWebhook(request: HostRequest): Promise<HostResponse> {
    if (request.method !== 'POST') return emptyResponse(405);
    const functionName = request.url.searchParams.get('functionName') ?? '';
    const registration = options.registry.get(functionName);
    if (!registration || registration.triggerType.toLowerCase() !== 'eventgridtrigger') return emptyResponse(404);
    let payload: unknown;
    try {
      payload = JSON.parse(request.body.toString('utf8'));
    } catch {
      return jsonResponse(400, { error: 'The request body is not JSON.' });
    }
    const items = Array.isArray(payload) ? payload : [payload];
    const kind = headerValue(request.headers, 'aeg-event-type') ?? 'Notification';
    if (kind.toLowerCase() === 'subscriptionvalidation') {
      const code = (items[0] as { data?: { validationCode?: unknown } } | undefined)?.data?.validationCode;
      return jsonResponse(200, { validationResponse: typeof code === 'string' ? code : '' });
    }
    if (!options.deliverEventGridEvent) return emptyResponse(404);
    for (const event of items) {
      const result = await options.deliverEventGridEvent(registration.name, event);
      // Event Grid redelivers the batch when the endpoint does not answer with a 2xx.
      if (!result.ok) return emptyResponse(500);
    }
    return emptyResponse(202);
  }

  function adminRun(request: HostRequest, functionName: string): HostResponse {
    if (request.method !== 'POST') return emptyResponse(405);
    const registration = options.registry.get(functionName);
    if (!registration || !options.runFunction || registration.http) return emptyResponse(404);
    let input: string | undefined;
    const text = request.body.toString('utf8').trim();
    if (text !== '') {
      try {
        const parsed = JSON.parse(text) as { input?: unknown };
        input = typeof parsed.input === 'string' ? parsed.input : parsed.input === undefined ? undefined : JSON.stringify(parsed.input);
      } catch {
        return jsonResponse(400, { error: 'The request body must be JSON like {"input": "..."}.' });
      }
    }
    const run = options.runFunction;
    // The host accepts the request and runs the function in the background.
    void run(registration, input).catch((err: unknown) => {
      options.log.host('error', `Running '${registration.name}' on demand failed: ${err instanceof Error ? err.message : String(err)}`, {
        functionName: registration.name,
      });
    });
    return emptyResponse(202);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7071, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${hostname}:${port}`;
  options.log.host('information', `Functions host listening on ${url} (${routes.length} HTTP function(s)).`);

  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Static on purpose: nothing from the request is echoed into it. The form submits to the page it is on. */
const KEY_FORM_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>Function key needed</title><link rel="icon" href="data:,"></head>
<body>
<main>
<h1>Function key needed</h1>
<p>{message}</p>
<form method="get">
<p><label for="code">Function key</label><br><input id="code" name="code" type="password" autocomplete="off" spellcheck="false" required size="60"></p>
<p><button type="submit">Open</button></p>
</form>
</main>
</body>
</html>
`;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The request path without its query, which may carry a key. */
function safePath(url: string | undefined): string {
  return (url ?? '').split('?')[0] ?? '';
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The function's HTTP output: its return value, or a named `http` output binding. */
function httpOutput(registration: FunctionRegistration, response: RpcInvocationResponse): RpcHttpData | undefined {
  if (registration.returnBinding?.type.toLowerCase() === 'http' && response.returnValue?.http) return response.returnValue.http;
  for (const output of response.outputData ?? []) {
    const binding = registration.extraOutputs.find((b) => b.name === output.name);
    if (binding?.type.toLowerCase() === 'http' && output.data?.http) return output.data.http;
  }
  return undefined;
}

function toHostResponse(data: RpcHttpData | undefined): HostResponse {
  if (!data) return emptyResponse(204);
  const status = Number(data.statusCode ?? 200) || 200;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(data.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') continue;
    headers[name] = value;
  }
  const cookies = (data.cookies ?? []).map(serializeCookie);
  if (cookies.length > 0) headers['Set-Cookie'] = cookies;
  const body = fromTypedData(data.body);
  if (body === undefined || body === null) return { status, headers };
  if (Buffer.isBuffer(body)) return { status, headers, body };
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

function serializeCookie(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name ?? ''}=${cookie.value ?? ''}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  const seconds = cookie.expires?.value?.seconds;
  if (typeof seconds === 'number') parts.push(`Expires=${new Date(seconds * 1000).toUTCString()}`);
  if (typeof cookie.maxAge?.value === 'number') parts.push(`Max-Age=${cookie.maxAge.value}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  if (cookie.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (cookie.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (cookie.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}
