/**
 * Starts the sandbox: one HTTPS server per emulated service (Entra, Graph, Key Vault, and one per F&O
 * environment, each its own origin) plus a plain-http control server. Every service request is
 * recorded, delayed by the configured latency, possibly answered by an injected fault, and only then
 * handed to the service as a `SandboxRequest`; the reply goes back as JSON with the service's headers.
 * The vault's Event Grid system topic runs alongside and is told about every vault write, and each F&O
 * environment's Email distributor batch runs on the virtual clock, reaching Entra and Graph over HTTPS.
 * A small pool of spare F&O listeners is opened at start for the environments of tenants added later
 * (`POST /tenants`), so their hosts are known before the function app starts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureCa, issueServerCert } from './ca';
import { createControlHandler, type ControlHandler } from './control';
import { createServiceDeps } from './deps';
import { createEntraService, createManagedIdentityHandler, entraErrorBody } from './entra';
import { EventGridEmulator, type EventGridOptions } from './eventgrid';
import { requestSubjects } from './faultScope';
import { createFinOpsService } from './finops';
import { FinOpsMail } from './finops-mail';
import { createGraphService } from './graph';
import { createKeyVaultService } from './keyvault';
import { DEFAULT_BATCH_INTERVAL_MINUTES, seedState } from './seed';
import { DEFAULT_FINOPS_SPARE_PORTS, SandboxState, type SandboxOptions } from './state';
import { withKeyVaultThrottling } from './throttle';
import { TokenAuthority } from './tokens';
import type { CallRecord, Fault, SandboxRequest, SandboxResponse, ServiceHandler, ServiceName } from './types';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const LOOPBACK_V4 = '127.0.0.1';
const LOOPBACK_V6 = '::1';

export interface SandboxPorts {
  /** First port of a fixed block: control = base, Entra = base+1, Graph = base+2, Key Vault = base+3, F&O = base+4... */
  base?: number;
  control?: number;
  entra?: number;
  graph?: number;
  keyvault?: number;
  /** F&O environment id → port. */
  finops?: Record<string, number>;
  /** Ports of the spare F&O listeners (default: after the seeded environments' ports in a fixed block, else ephemeral). */
  finopsSpare?: number[];
}

export interface StartSandboxOptions extends SandboxOptions {
  /** Where the CA lives (default `.sandbox/ca` in the repository). */
  caDir?: string;
  /** Fixed ports; anything not given is ephemeral. */
  ports?: SandboxPorts;
  /** The managed identity endpoint's secret header (default random). */
  identityHeader?: string;
  /** Event Grid emulation: retry schedule, attempts, `stringTimestamps`, expiry check period. */
  eventGrid?: EventGridOptions;
  /**
   * The Email distributor batch of every seeded F&O environment at start. Default: stopped (tests stay
   * quiet); `npm start` and `npm run sandbox` run it every minute of virtual time.
   */
  finopsBatch?: { running: boolean; intervalMinutes?: number };
  /** How many spare F&O listeners to open for tenants added later (default 6). */
  finopsSparePorts?: number;
  /**
   * F&O listeners on ::1 too (default true). False: on 127.0.0.1 only, one file descriptor per environment
   * instead of two, for fleets of thousands (`localhost` still reaches them: Node tries both addresses).
   */
  finopsIpv6?: boolean;
}

/** Exactly the shape of `.sandbox/endpoints.json`. */
export interface SandboxEndpoints {
  tenantId: string;
  /** Entra authority host, e.g. `https://localhost:8441` (AZURE_AUTHORITY_HOST). */
  authorityHost: string;
  /** Graph client `baseUrl`: requests go to `{graphUrl}/v1.0/...`. */
  graphUrl: string;
  keyVaultUrl: string;
  /** Absolute path of the CA certificate to trust (NODE_EXTRA_CA_CERTS). */
  caCertPath: string;
  /** Plain-http control API. */
  controlUrl: string;
  operator: { clientId: string; clientSecret: string };
  senderMailbox: string;
  environments: Array<{ id: string; url: string }>;
  managedIdentity: { identityEndpoint: string; identityHeader: string; clientId: string; servicePrincipalId: string };
  /** The vault's name as its Event Grid events carry it (`data.VaultName`). */
  keyVaultName: string;
  /** The vault's resource id: the `topic` of its Event Grid events. */
  eventGridTopic: string;
  /**
   * Ports of the F&O listeners kept for environments of tenants added later (`POST /tenants`): their
   * hosts (`localhost:{port}`) belong in the function app's F&O allowlist from the start.
   */
  finopsSparePorts: number[];
}

export interface RunningSandbox {
  state: SandboxState;
  /** The token authority: signs every token the sandbox issues (tests forge stale or foreign ones with it). */
  authority: TokenAuthority;
  endpoints: SandboxEndpoints;
  /** The vault's Event Grid system topic (also driven through the control API's `/eventgrid` routes). */
  eventGrid: EventGridEmulator;
  /** F&O's mail subsystem: batch runs on the virtual clock (`idle()` waits for runs in progress). */
  finopsMail: FinOpsMail;
  stop(): Promise<void>;
}

/**
 * Key Vault raises its events on writes: evaluating right after a successful write makes
 * SecretNewVersionCreated (and any expiry event already due for the new `exp`) follow it at once.
 */
function withEventGrid(handler: ServiceHandler, eventGrid: EventGridEmulator): ServiceHandler {
  return async (req) => {
    const response = await handler(req);
    if (req.method !== 'GET' && req.method !== 'HEAD' && response.status < 300) eventGrid.evaluate();
    return response;
  };
}

// ---- service error bodies -----------------------------------------------------------------------

const DEFAULT_FAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'BadRequest', message: 'The request is invalid.' },
  401: { code: 'Unauthorized', message: 'The request is not authorized.' },
  403: { code: 'Forbidden', message: 'The caller may not perform this operation.' },
  404: { code: 'NotFound', message: 'The resource was not found.' },
  409: { code: 'Conflict', message: 'The request conflicts with the current state of the resource.' },
  429: { code: 'TooManyRequests', message: 'Too many requests. Retry after the indicated time.' },
  500: { code: 'InternalServerError', message: 'The service encountered an internal error.' },
  502: { code: 'BadGateway', message: 'The service received an invalid response upstream.' },
  503: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable. Retry later.' },
  504: { code: 'GatewayTimeout', message: 'The service timed out.' },
};

function oauthErrorFor(status: number): string {
  if (status === 429 || status >= 500) return 'temporarily_unavailable';
  if (status === 401) return 'invalid_client';
  return 'invalid_request';
}

function graphDate(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 19);
}

/** An error reply in the given service's own body shape (used for faults and handler failures). */
export function serviceErrorResponse(
  state: SandboxState,
  req: SandboxRequest,
  status: number,
  code?: string,
  message?: string,
  retryAfterSeconds?: number,
): SandboxResponse {
  const fallback = DEFAULT_FAULTS[status] ?? { code: 'Error', message: `The service answered ${status}.` };
  const text = message ?? fallback.message;
  const headers: Record<string, string> = {};
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  let body: unknown;
  switch (req.service) {
    case 'graph': {
      const requestId = randomUUID();
      const clientRequestId = req.headers['client-request-id'] ?? requestId;
      headers['request-id'] = requestId;
      headers['client-request-id'] = clientRequestId;
      body = {
        error: {
          code: code ?? fallback.code,
          message: text,
          innerError: { date: graphDate(state.now()), 'request-id': requestId, 'client-request-id': clientRequestId },
        },
      };
      break;
    }
    case 'entra':
      body = entraErrorBody(state, req, code ?? oauthErrorFor(status), undefined, text);
      break;
    case 'keyvault':
    case 'finops':
      body = { error: { code: code ?? fallback.code, message: text } };
      break;
  }
  return { status, headers, body };
}

function compiled(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern);
  } catch {
    return undefined;
  }
}

/** Takes one use of the first matching fault (dropping it at zero). */
function takeFault(state: SandboxState, req: SandboxRequest): Fault | undefined {
  // What the request concerns, worked out once however many aimed faults are looked at.
  let subjects: Set<string> | undefined;
  const index = state.faults.findIndex(
    (f) =>
      f.service === req.service &&
      (f.method === undefined || f.method.toUpperCase() === req.method) &&
      (f.pathPattern === undefined || compiled(f.pathPattern)?.test(req.path) === true) &&
      (f.concerning === undefined || (subjects ??= requestSubjects(state, req)).has(f.concerning.toLowerCase())),
  );
  if (index < 0) return undefined;
  const fault = state.faults[index];
  if (!fault) return undefined;
  fault.count -= 1;
  if (fault.count <= 0) state.faults.splice(index, 1);
  return { ...fault };
}

// ---- HTTP plumbing ------------------------------------------------------------------------------

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function headersOf(req: http.IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

async function toSandboxRequest(
  req: http.IncomingMessage,
  service: ServiceName,
  scheme: 'http' | 'https',
  fallbackHost: string,
  environmentId: string | undefined,
): Promise<SandboxRequest> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q >= 0 ? url.slice(0, q) : url;
  const body = await readBody(req);
  return {
    service,
    ...(environmentId !== undefined ? { environmentId } : {}),
    method: (req.method ?? 'GET').toUpperCase(),
    path: safeDecode(rawPath),
    rawPath,
    query: new URLSearchParams(q >= 0 ? url.slice(q + 1) : ''),
    headers: headersOf(req),
    body,
    origin: `${scheme}://${req.headers.host ?? fallbackHost}`,
  };
}

function send(res: http.ServerResponse, req: SandboxRequest, response: SandboxResponse): void {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(response.headers ?? {})) headers[k.toLowerCase()] = v;
  if (req.service === 'graph') {
    const requestId = headers['request-id'] ?? randomUUID();
    headers['request-id'] = requestId;
    headers['client-request-id'] ??= req.headers['client-request-id'] ?? requestId;
  } else if (req.service === 'keyvault' || req.service === 'entra') {
    headers['x-ms-request-id'] ??= randomUUID();
  }
  let payload: Buffer | undefined;
  const { body } = response;
  if (body === undefined || body === null) {
    payload = undefined;
  } else if (Buffer.isBuffer(body)) {
    payload = body;
    headers['content-type'] ??= 'application/octet-stream';
  } else if (typeof body === 'string') {
    payload = Buffer.from(body, 'utf8');
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    payload = Buffer.from(JSON.stringify(body), 'utf8');
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  if (payload !== undefined && req.method !== 'HEAD') headers['content-length'] = String(payload.length);
  else if (response.status !== 204 && response.status !== 304) headers['content-length'] = '0';
  res.writeHead(response.status, headers);
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** The service's answer; a handler that throws is a 500 in the service's shape (and a line on stderr). */
async function serve(state: SandboxState, service: ServiceName, handler: ServiceHandler, sreq: SandboxRequest): Promise<SandboxResponse> {
  try {
    return await handler(sreq);
  } catch (e) {
    process.stderr.write(`sandbox ${service} failed on ${sreq.method} ${sreq.path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return serviceErrorResponse(state, sreq, 500);
  }
}

/**
 * The per-request pipeline shared by all services: record, latency, faults, dispatch. A status-0
 * fault drops the connection without an answer, which clients see as ECONNRESET. A fault marked
 * `after` lets the service serve the request first and then answers the fault (or drops the
 * connection) instead: the write happened, the caller cannot tell. Real services do this whenever the
 * answer is lost between the backend and the caller: a gateway such as Azure Front Door answers 504
 * when the origin is slow to reply, whatever the origin went on to do
 * (https://learn.microsoft.com/azure/frontdoor/troubleshoot-issues), Microsoft Graph's 504 is a proxy
 * that "didn't receive a timely response from the upstream server" (https://learn.microsoft.com/graph/errors),
 * and "a service might receive the
 * request, process the request successfully, but fail to send a response"
 * (https://learn.microsoft.com/azure/architecture/patterns/retry, Issues and considerations). Which
 * status a real gateway uses in that case is not documented per service; the fault says which.
 */
function servicePipeline(
  state: SandboxState,
  service: ServiceName,
  handler: ServiceHandler,
  scheme: 'http' | 'https',
  fallbackHost: () => string,
  environmentId?: () => string | undefined,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      let sreq: SandboxRequest;
      try {
        sreq = await toSandboxRequest(req, service, scheme, fallbackHost(), environmentId?.());
      } catch {
        res.writeHead(413, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: { code: 'RequestTooLarge', message: 'The request body is too large.' } }));
        return;
      }
      const record: CallRecord = { service, method: sreq.method, path: sreq.path, status: 0, at: state.now() };
      state.calls.push(record);
      if (state.latencyMs > 0) await delay(state.latencyMs);
      // Taken before the service runs, so `concerning` sees the state the request was sent against.
      const fault = takeFault(state, sreq);
      if (fault) {
        const { count: _left, ...which } = fault;
        record.fault = which;
      }
      if (fault?.after) {
        // The service does the work; the answer is lost on the way back (see `Fault.after`).
        record.servedStatus = (await serve(state, service, handler, sreq)).status;
      }
      if (fault && fault.status === 0) {
        record.status = 0;
        // Closing mid-request is what clients report as ECONNRESET ("socket hang up"); a raw RST is
        // not available on TLS sockets.
        req.socket.destroy();
        return;
      }
      const response = fault
        ? serviceErrorResponse(state, sreq, fault.status, fault.code, fault.message, fault.retryAfterSeconds)
        : await serve(state, service, handler, sreq);
      record.status = response.status;
      send(res, sreq, response);
    })().catch((e: unknown) => {
      process.stderr.write(`sandbox ${service} could not answer: ${e instanceof Error ? e.message : String(e)}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}

/** The control API is not an emulated service: no recording, latency or faults. */
function controlListener(handler: ControlHandler): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const reply = (res: http.ServerResponse, status: number, body: unknown): void => {
    const payload = JSON.stringify(body ?? {});
    // One connection per control request: a test whose event loop was blocked past the server's keep-alive
    // timeout would otherwise reuse a socket the server is closing that instant and get ECONNRESET.
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(payload)), connection: 'close' });
    res.end(payload);
  };
  return (req, res) => {
    void (async () => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      let body: Buffer;
      try {
        body = await readBody(req);
      } catch {
        reply(res, 413, { error: { code: 'RequestTooLarge', message: 'The request body is too large.' } });
        return;
      }
      try {
        const response = handler({
          method: (req.method ?? 'GET').toUpperCase(),
          path: safeDecode(q >= 0 ? url.slice(0, q) : url),
          query: new URLSearchParams(q >= 0 ? url.slice(q + 1) : ''),
          body,
        });
        reply(res, response.status, response.body);
      } catch (e) {
        process.stderr.write(`sandbox control API failed on ${req.method ?? ''} ${url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        reply(res, 500, { error: { code: 'InternalError', message: 'The control API failed; see the sandbox log.' } });
      }
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}

type AnyServer = http.Server | https.Server;

function listenOn(server: AnyServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Listens on 127.0.0.1 and, when the machine has IPv6 loopback, on ::1 at the same port: `localhost`
 * resolves to either depending on the machine, and URLs say `localhost`.
 */
async function listenLoopback(make: () => AnyServer, port: number, ipv6 = true): Promise<{ port: number; servers: AnyServer[] }> {
  const v4 = make();
  let bound: number;
  try {
    bound = await listenOn(v4, port, LOOPBACK_V4);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`the sandbox cannot listen on ${LOOPBACK_V4}:${port}${code === 'EADDRINUSE' ? ' (port in use)' : ''}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const servers: AnyServer[] = [v4];
  if (!ipv6) return { port: bound, servers };
  const v6 = make();
  try {
    await listenOn(v6, bound, LOOPBACK_V6);
    servers.push(v6);
  } catch {
    // No IPv6 loopback (or the port is taken there): IPv4 alone still serves `localhost`.
  }
  return { port: bound, servers };
}

async function closeAll(servers: AnyServer[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}

// ---- start --------------------------------------------------------------------------------------

export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const state = new SandboxState(options);
  seedState(state, {
    ...(options.environmentIds ? { environmentIds: options.environmentIds } : {}),
    ...(options.managedIdentityRoles ? { managedIdentityRoles: options.managedIdentityRoles } : {}),
  });
  const authority = new TokenAuthority();
  const deps = createServiceDeps(state, authority);
  const eventGrid = new EventGridEmulator(state, options.eventGrid);
  const ca = ensureCa(options.caDir);
  const leaf = issueServerCert(ca);
  const identityHeader = options.identityHeader ?? randomBytes(24).toString('hex');
  // F&O reaches Entra and Graph over HTTPS like any client, trusting the CA that signed their certificates.
  const finopsMail = new FinOpsMail(state, { caCertPem: ca.certPem });

  const ports = options.ports ?? {};
  const portFor = (offset: number, explicit: number | undefined): number =>
    explicit ?? (ports.base !== undefined && ports.base > 0 ? ports.base + offset : 0);

  const started: AnyServer[] = [];
  let hostOf: Record<string, string> = {};
  const tlsServer = (key: string, service: ServiceName, handler: ServiceHandler, environmentId?: () => string | undefined) => () =>
    https.createServer(
      { cert: leaf.certPem, key: leaf.keyPem, keepAliveTimeout: 5000 },
      servicePipeline(state, service, handler, 'https', () => hostOf[key] ?? 'localhost', environmentId),
    );

  try {
    const listenService = async (key: string, make: () => AnyServer, port: number, ipv6 = true): Promise<number> => {
      const { port: bound, servers } = await listenLoopback(make, port, ipv6);
      started.push(...servers);
      hostOf = { ...hostOf, [key]: `localhost:${bound}` };
      return bound;
    };

    const entraPort = await listenService('entra', tlsServer('entra', 'entra', createEntraService(deps)), portFor(1, ports.entra));
    const graphPort = await listenService('graph', tlsServer('graph', 'graph', createGraphService(deps)), portFor(2, ports.graph));
    const vault = withKeyVaultThrottling(state, state.throttles, withEventGrid(createKeyVaultService(deps), eventGrid));
    const kvPort = await listenService('keyvault', tlsServer('keyvault', 'keyvault', vault), portFor(3, ports.keyvault));
    const finops = createFinOpsService(deps, finopsMail);
    for (const [i, env] of state.finops.entries()) {
      const id = env.id;
      const port = await listenService(`finops:${id}`, tlsServer(`finops:${id}`, 'finops', finops, () => id), portFor(4 + i, ports.finops?.[id]), options.finopsIpv6 ?? true);
      env.url = `https://localhost:${port}`;
    }
    const spareCount = options.finopsSparePorts ?? DEFAULT_FINOPS_SPARE_PORTS;
    for (let i = 0; i < spareCount; i += 1) {
      const key = `finops-spare:${i}`;
      const listener = { port: 0, environmentId: null as string | null };
      const port = await listenService(
        key,
        tlsServer(key, 'finops', finops, () => listener.environmentId ?? undefined),
        ports.finopsSpare?.[i] ?? portFor(4 + state.finops.length + i, undefined),
      );
      listener.port = port;
      state.spareFinOpsListeners.push(listener);
    }

    const control = controlListener(createControlHandler(state, eventGrid, finopsMail));
    const msi = servicePipeline(state, 'entra', createManagedIdentityHandler(deps, { identityHeader }), 'http', () => hostOf['control'] ?? LOOPBACK_V4);
    const controlServer = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/msi/token') msi(req, res);
      else control(req, res);
    });
    // The control API changes the world: keep it on IPv4 loopback only.
    const controlPort = await listenOn(controlServer, portFor(0, ports.control), LOOPBACK_V4);
    started.push(controlServer);
    hostOf = { ...hostOf, control: `${LOOPBACK_V4}:${controlPort}` };

    const controlUrl = `http://${LOOPBACK_V4}:${controlPort}`;
    state.serviceUrls = {
      authorityHost: `https://localhost:${entraPort}`,
      graphUrl: `https://localhost:${graphPort}`,
      keyVaultUrl: `https://localhost:${kvPort}`,
      controlUrl,
    };
    const endpoints: SandboxEndpoints = {
      tenantId: state.tenantId,
      authorityHost: state.serviceUrls.authorityHost,
      graphUrl: state.serviceUrls.graphUrl,
      keyVaultUrl: state.serviceUrls.keyVaultUrl,
      caCertPath: ca.certPath,
      controlUrl,
      operator: { clientId: state.operator.appId, clientSecret: state.operator.clientSecret },
      senderMailbox: state.senderMailbox,
      environments: state.finops.map((e) => ({ id: e.id, url: e.url })),
      managedIdentity: {
        identityEndpoint: `${controlUrl}/msi/token`,
        identityHeader,
        clientId: state.managedIdentity.appId,
        servicePrincipalId: state.managedIdentity.servicePrincipalId,
      },
      keyVaultName: eventGrid.vaultName,
      eventGridTopic: eventGrid.topic,
      finopsSparePorts: state.spareFinOpsListeners.map((l) => l.port),
    };
    eventGrid.start();
    if (options.finopsBatch) {
      const { running, intervalMinutes } = options.finopsBatch;
      for (const env of state.finops) finopsMail.setBatch(env, { running, ...(intervalMinutes !== undefined ? { intervalMinutes } : {}) });
      // Environments of customer tenants added later run theirs too, as the seeded ones do.
      state.newEnvironmentBatch = running ? { intervalMinutes: intervalMinutes ?? DEFAULT_BATCH_INTERVAL_MINUTES } : null;
    }
    finopsMail.start();
    let stopping: Promise<void> | undefined;
    return {
      state,
      authority,
      endpoints,
      eventGrid,
      finopsMail,
      // F&O's runs still need Entra and Graph: they stop before the servers do.
      stop: () => (stopping ??= finopsMail.stop().then(() => eventGrid.stop()).then(() => closeAll(started))),
    };
  } catch (e) {
    await finopsMail.stop();
    await eventGrid.stop();
    await closeAll(started);
    throw e;
  }
}
