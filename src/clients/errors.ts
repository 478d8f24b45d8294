/**
 * The one error type every client throws, and the mapping from each SDK's wire errors into it.
 *
 * Callers only need four answers: retry soon (`transient`), retry for longer because Entra is still
 * replicating something just created (`replication-lag`), stop and tell a person (`permanent`), or the
 * thing is not there (`not-found`). Each error carries the service's code and request id so a support
 * ticket can be opened, and an action a person can take. Messages are built from scrubbed service text
 * only: SDK request objects (which hold bodies, and so secrets) are never read into them.
 */
import type { isRestError as IsRestError, RestError } from '@azure/core-rest-pipeline';

/**
 * core-rest-pipeline's `isRestError`, loaded on first use: this module is also reached from the HTTP
 * triggers (through the host allowlist), and the function app must start without loading the SDKs.
 */
let restErrorCheck: typeof IsRestError | undefined;
function isRestError(e: unknown): e is RestError {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  restErrorCheck ??= (require('@azure/core-rest-pipeline') as typeof import('@azure/core-rest-pipeline')).isRestError;
  return restErrorCheck(e);
}

export type ServiceErrorKind = 'transient' | 'replication-lag' | 'permanent' | 'not-found';
export type ServiceId = 'graph' | 'entra' | 'keyvault' | 'finops';

export interface ServiceErrorDetails {
  kind: ServiceErrorKind;
  service: ServiceId;
  /** What was being done, e.g. "Register the app". */
  operation: string;
  /** What a person can do about it. */
  action: string;
  status?: number;
  /** The service's own error code (e.g. `Authorization_RequestDenied`, `SecretNotFound`). */
  code?: string;
  /** The service's message, already scrubbed. */
  serviceMessage?: string;
  /** What went wrong, in words, when no service answer explains it (validation, network). */
  reason?: string;
  requestId?: string;
  retryAfterMs?: number;
  environmentId?: string;
}

/** The JSON form of a `ServiceError`, as durable history stores it. */
export interface ServiceErrorJSON extends ServiceErrorDetails {
  name: 'ServiceError';
  message: string;
}

const SERVICE_NAMES: Record<ServiceId, string> = {
  graph: 'Microsoft Graph',
  entra: 'Microsoft Entra ID',
  keyvault: 'Key Vault',
  finops: 'Finance and Operations',
};

export class ServiceError extends Error {
  override name = 'ServiceError';
  readonly kind: ServiceErrorKind;
  readonly service: ServiceId;
  readonly operation: string;
  readonly action: string;
  readonly status?: number;
  readonly code?: string;
  readonly serviceMessage?: string;
  readonly reason?: string;
  readonly requestId?: string;
  readonly retryAfterMs?: number;
  readonly environmentId?: string;

  constructor(details: ServiceErrorDetails) {
    super(formatMessage(details));
    this.kind = details.kind;
    this.service = details.service;
    this.operation = details.operation;
    this.action = details.action;
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = details.code;
    if (details.serviceMessage !== undefined) this.serviceMessage = details.serviceMessage;
    if (details.reason !== undefined) this.reason = details.reason;
    if (details.requestId !== undefined) this.requestId = details.requestId;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    if (details.environmentId !== undefined) this.environmentId = details.environmentId;
  }

  /** True for the kinds a caller should retry (with a longer schedule for replication lag). */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'replication-lag';
  }

  toJSON(): ServiceErrorJSON {
    const json: ServiceErrorJSON = {
      name: 'ServiceError',
      message: this.message,
      kind: this.kind,
      service: this.service,
      operation: this.operation,
      action: this.action,
    };
    if (this.status !== undefined) json.status = this.status;
    if (this.code !== undefined) json.code = this.code;
    if (this.serviceMessage !== undefined) json.serviceMessage = this.serviceMessage;
    if (this.reason !== undefined) json.reason = this.reason;
    if (this.requestId !== undefined) json.requestId = this.requestId;
    if (this.retryAfterMs !== undefined) json.retryAfterMs = this.retryAfterMs;
    if (this.environmentId !== undefined) json.environmentId = this.environmentId;
    return json;
  }

  /** Rebuilds an error from its JSON form (e.g. read back from durable history). */
  static fromJSON(json: ServiceErrorJSON): ServiceError {
    const { name: _name, message: _message, ...details } = json;
    return new ServiceError(details);
  }

  /** A copy with the environment filled in, for errors raised below the layer that knows it. */
  withEnvironment(environmentId: string): ServiceError {
    if (this.environmentId === environmentId) return this;
    return ServiceError.fromJSON({ ...this.toJSON(), environmentId });
  }
}

function formatMessage(d: ServiceErrorDetails): string {
  const where = d.environmentId ? ` for environment ${d.environmentId}` : '';
  const svc = SERVICE_NAMES[d.service];
  let what: string;
  if (d.reason !== undefined) {
    what = d.reason;
  } else if (d.status === undefined) {
    what = `${svc} could not be reached${d.code ? ` (${d.code})` : ''}`;
  } else {
    what = `${svc} answered ${d.status}${d.code ? ` ${d.code}` : ''}`;
  }
  const said = d.serviceMessage ? `: ${stripTrailingDot(d.serviceMessage)}` : '';
  const rid = d.requestId ? ` (request id ${d.requestId})` : '';
  return `${d.operation} failed${where}: ${what}${said}. ${d.action}${rid}`;
}

function stripTrailingDot(s: string): string {
  return s.replace(/\.+\s*$/, '');
}

export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof ServiceError;
}

/** True for the JSON form of a `ServiceError` (what survives a trip through durable history). */
export function isServiceErrorJSON(x: unknown): x is ServiceErrorJSON {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return (
    o.name === 'ServiceError' &&
    typeof o.message === 'string' &&
    typeof o.kind === 'string' &&
    typeof o.service === 'string' &&
    typeof o.operation === 'string' &&
    typeof o.action === 'string'
  );
}

// ---------------------------------------------------------------------------------------------------
// Context the caller gives when mapping

export interface ErrorContext {
  /** What was being done, e.g. "Register the app" (becomes the start of the message). */
  operation: string;
  environmentId?: string;
  /** Which service was called; needed only where the error itself cannot tell (network errors). */
  service?: ServiceId;
  /**
   * The call addresses an object created moments ago (by this caller). Graph's 404
   * `Request_ResourceNotFound` then means "not replicated yet" rather than "gone".
   */
  freshObject?: boolean;
  /**
   * The credential making the call holds a client secret created moments ago. Entra's
   * `invalid_client` / AADSTS7000215 then means "not propagated yet" rather than "wrong secret".
   */
  freshSecret?: boolean;
  /** The Graph application permission the call needs; named in the action of a 403. */
  requiredPermission?: string;
  /** Overrides the not-found action (e.g. what to check when this object is missing). */
  notFoundAction?: string;
  /** Values that must never appear in a message (secret values in flight). */
  redact?: readonly string[];
}

// ---------------------------------------------------------------------------------------------------
// Scrubbing

const MAX_SERVICE_MESSAGE = 600;

/**
 * Removes known secret values and anything shaped like a credential from service text. Services do
 * not normally echo secrets, but a proxy error page or a validation message quoting the request body
 * might, and the result lands in durable history in plain text.
 */
export function scrub(text: string, redact: readonly string[] = []): string {
  let out = text;
  for (const value of redact) {
    if (value.length >= 4) out = out.split(value).join('[redacted]');
  }
  out = out
    .replace(/\b(client_secret|client_assertion|password)=[^&\s]+/gi, '$1=[redacted]')
    .replace(/"(secretText|value|client_secret|password|secret)"\s*:\s*"(?:[^"\\]|\\.)*"/gi, '"$1":"[redacted]"')
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1[redacted]')
    .replace(/\s+/g, ' ')
    .trim();
  if (out.length > MAX_SERVICE_MESSAGE) out = `${out.slice(0, MAX_SERVICE_MESSAGE)}…`;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Retry-After

/**
 * Parses `Retry-After` (delay seconds or an HTTP-date) into milliseconds from `nowMs`.
 * Returns undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

// ---------------------------------------------------------------------------------------------------
// The common decision, once the wire error is reduced to its parts

/** A failed HTTP exchange reduced to what the taxonomy needs. */
export interface HttpFailure {
  service: ServiceId;
  status: number;
  code?: string;
  message?: string;
  requestId?: string;
  retryAfter?: string | null;
}

/**
 * Graph's 400s for a reference to an object its replicas do not know yet: a service principal for an app
 * created moments ago, an app role assignment or a delegated grant for a fresh service principal. The
 * product only ever sends ids it has just read or created, so these mean lag, not a wrong id.
 */
const LAG_MESSAGES = [
  /does not reference a valid application object/i,
  /not a valid reference update/i,
  /Invalid value specified for property '(clientId|resourceId)' of resource 'OAuth2PermissionGrant'/i,
];

const CREDENTIAL_POLICY = /(credential|password|secret)[^.]*(lifetime|policy)|(lifetime|policy)[^.]*(credential|password|secret)|passwordAddition|passwordLifetime|AsPerAppPolicy/i;

function defaultPermission(service: ServiceId): string {
  switch (service) {
    case 'graph':
      return "Grant the function app's identity the Graph application permission Application.ReadWrite.OwnedBy (see docs/settings.md, Permissions).";
    case 'keyvault':
      return "Grant the function app's identity the Key Vault Secrets Officer role on the vault (see docs/settings.md, Permissions).";
    case 'finops':
      return "Register the function app's client id in Finance and Operations under System administration > Microsoft Entra applications (see docs/settings.md, Permissions).";
    case 'entra':
      return 'Check the tenant id and the identity the function app signs in with (see docs/settings.md, Permissions).';
  }
}

function transientAction(retryAfterMs: number | undefined): string {
  return retryAfterMs !== undefined
    ? `The service asked to wait ${Math.ceil(retryAfterMs / 1000)} s; the step is retried automatically.`
    : 'The service is busy or briefly unavailable; the step is retried automatically.';
}

const LAG_ACTION =
  'Entra ID is still replicating an object created moments ago; the step is retried automatically for a few minutes.';

/** Classifies a failed HTTP exchange. Exported for clients that see raw responses (RAW Graph calls, OData). */
export function fromHttpFailure(f: HttpFailure, ctx: ErrorContext): ServiceError {
  const base = {
    service: f.service,
    operation: ctx.operation,
    status: f.status,
    ...(f.code ? { code: f.code } : {}),
    ...(f.message ? { serviceMessage: scrub(f.message, ctx.redact) } : {}),
    ...(f.requestId ? { requestId: f.requestId } : {}),
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  };
  const text = `${f.code ?? ''} ${f.message ?? ''}`;

  if (f.status === 429 || f.status >= 500 || f.status === 408) {
    const retryAfterMs = parseRetryAfter(f.retryAfter);
    return new ServiceError({
      ...base,
      kind: 'transient',
      action: transientAction(retryAfterMs),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  if (f.service === 'graph' || f.service === 'entra') {
    if (f.status === 400 && LAG_MESSAGES.some((r) => r.test(text))) {
      return new ServiceError({ ...base, kind: 'replication-lag', action: LAG_ACTION });
    }
    if (f.status === 404 && f.code === 'Request_ResourceNotFound' && ctx.freshObject) {
      return new ServiceError({ ...base, kind: 'replication-lag', action: LAG_ACTION });
    }
    if (isInvalidClient(text)) return refusedSecret(base, ctx);
    if ((f.status === 400 || f.status === 403) && CREDENTIAL_POLICY.test(text)) {
      return new ServiceError({
        ...base,
        kind: 'permanent',
        action:
          "The tenant's app management policy limits secret lifetime or forbids new secrets: lower SECRET_LIFETIME_DAYS below the policy's maximum, or ask an administrator to exempt this app (see docs/settings.md, Permissions).",
      });
    }
  }

  if (f.status === 404) {
    return new ServiceError({
      ...base,
      kind: 'not-found',
      action: ctx.notFoundAction ?? 'Check that the object exists; it may have been deleted outside this product.',
    });
  }

  if (f.status === 403) {
    const action =
      f.service === 'graph' && ctx.requiredPermission
        ? `Grant the function app's identity the Graph application permission ${ctx.requiredPermission} (see docs/settings.md, Permissions).`
        : defaultPermission(f.service);
    return new ServiceError({ ...base, kind: 'permanent', action });
  }

  if (f.status === 401) {
    const action =
      f.service === 'finops'
        ? defaultPermission('finops')
        : `The access token was refused. ${defaultPermission('entra')}`;
    return new ServiceError({ ...base, kind: 'permanent', action });
  }

  if (f.status === 409) {
    return new ServiceError({
      ...base,
      kind: 'permanent',
      action: 'The object already exists or was changed concurrently; run the step again.',
    });
  }

  return new ServiceError({
    ...base,
    kind: 'permanent',
    action: 'The service rejected the request; check the environment settings and the service message.',
  });
}

/** Entra refused a client secret: right after creation that is propagation (retry), otherwise it is gone or wrong. */
function refusedSecret(base: Omit<ServiceErrorDetails, 'kind' | 'action'>, ctx: ErrorContext): ServiceError {
  return ctx.freshSecret
    ? new ServiceError({
        ...base,
        kind: 'replication-lag',
        action: 'Entra ID has not propagated the new client secret yet (this takes 5–20 s); the step is retried automatically.',
      })
    : new ServiceError({
        ...base,
        kind: 'permanent',
        action: 'The client secret was refused: it may have expired or been removed. Rotate the credential.',
      });
}

function isInvalidClient(text: string): boolean {
  return /invalid_client|AADSTS7000215|AADSTS7000222/i.test(text);
}

// ---------------------------------------------------------------------------------------------------
// Recognising each SDK's errors (duck-typed: several copies of an SDK may be installed)

interface GraphErrorLike {
  statusCode: number;
  code: string | null;
  message: string;
  requestId: string | null;
  body: unknown;
  headers?: { get(name: string): string | null };
  date?: unknown;
}

/** Duck-typed, because errors may come from another realm (VM contexts) or another copy of a package. */
function isErrorLike(x: unknown): x is { name: string; message: string } {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as { name?: unknown; message?: unknown };
  return typeof o.name === 'string' && typeof o.message === 'string';
}

function isGraphErrorLike(e: unknown): e is GraphErrorLike {
  if (!isErrorLike(e)) return false;
  const o = e as unknown as Record<string, unknown>;
  return typeof o.statusCode === 'number' && 'requestId' in o && 'body' in o && 'date' in o;
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message: string;
  response?: { headers: { get(name: string): string | undefined } };
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'REQUEST_SEND_ERROR',
]);

/** The system error code of a network failure, looking through `cause` chains (fetch wraps them). */
function networkCode(e: unknown, depth = 0): string | undefined {
  if (depth > 4 || typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; cause?: unknown; name?: unknown; message?: unknown };
  if (typeof o.code === 'string' && NETWORK_CODES.has(o.code)) {
    // A RestError's REQUEST_SEND_ERROR hides the real system code in its message or cause.
    if (o.code === 'REQUEST_SEND_ERROR') return networkCode(o.cause, depth + 1) ?? codeInText(o.message) ?? o.code;
    return o.code;
  }
  const inner = networkCode(o.cause, depth + 1);
  if (inner) return inner;
  // fetch() rejects with a bare TypeError ("fetch failed") when the connection fails.
  if (o.name === 'TypeError' && typeof o.message === 'string' && /fetch failed|network|socket/i.test(o.message)) {
    return 'FETCH_FAILED';
  }
  return undefined;
}

function codeInText(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  for (const c of NETWORK_CODES) if (c !== 'REQUEST_SEND_ERROR' && text.includes(c)) return c;
  return undefined;
}

function networkFailure(service: ServiceId, code: string, ctx: ErrorContext): ServiceError {
  return new ServiceError({
    kind: 'transient',
    service,
    operation: ctx.operation,
    code,
    action: 'The connection failed or timed out; the step is retried automatically. If it persists, check the network path to the service.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}

const IDENTITY_ERRORS = new Set([
  'AuthenticationError',
  'AuthenticationRequiredError',
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
  'ClientAuthError',
  'ServerError',
]);

/** Maps a Graph client error (`GraphError`, or a token failure the Graph client wrapped into one). */
export function fromGraphError(e: GraphErrorLike, ctx: ErrorContext): ServiceError {
  // The Graph client wraps anything thrown below it (token acquisition, fetch) with statusCode -1
  // and the original error's name as code.
  if (e.statusCode <= 0) {
    // An error from another realm (fetch's TypeError under a VM context) fails the client's
    // `instanceof Error` test and is kept whole in `body` instead of being unpacked.
    const inner = isErrorLike(e.body) ? e.body : undefined;
    const name = e.code ?? inner?.name;
    const message = e.message || inner?.message || '';
    if (name && IDENTITY_ERRORS.has(name)) {
      const status = (inner as { statusCode?: unknown } | undefined)?.statusCode;
      return fromIdentityFailure(name, message, typeof status === 'number' ? status : undefined, ctx);
    }
    const net = networkCode(inner) ?? (name === 'TypeError' ? 'FETCH_FAILED' : undefined) ?? codeInText(message) ?? networkCode(e);
    if (net) return networkFailure('graph', net, ctx);
    return new ServiceError({
      kind: 'permanent',
      service: 'graph',
      operation: ctx.operation,
      ...(name ? { code: name } : {}),
      ...(message ? { serviceMessage: scrub(message, ctx.redact) } : {}),
      action: 'The request could not be completed; check the Graph base URL and the function app identity.',
      ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
    });
  }
  const requestId = e.requestId ?? e.headers?.get('request-id') ?? e.headers?.get('client-request-id') ?? undefined;
  return fromHttpFailure(
    {
      service: 'graph',
      status: e.statusCode,
      ...(e.code ? { code: e.code } : {}),
      message: e.message,
      ...(requestId ? { requestId } : {}),
      retryAfter: e.headers?.get('retry-after') ?? null,
    },
    ctx,
  );
}

/** Maps a core-rest-pipeline `RestError` (Key Vault SDK, F&O pipeline). */
export function fromRestError(e: RestErrorLike, service: ServiceId, ctx: ErrorContext): ServiceError {
  if (e.statusCode === undefined) {
    const net = networkCode(e);
    if (net) return networkFailure(service, net, ctx);
    return new ServiceError({
      kind: 'permanent',
      service,
      operation: ctx.operation,
      ...(e.code ? { code: e.code } : {}),
      serviceMessage: scrub(e.message, ctx.redact),
      action: 'The response could not be read; check the service URL.',
      ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
    });
  }
  const headers = e.response?.headers;
  const requestId = headers?.get('x-ms-request-id') ?? headers?.get('request-id') ?? headers?.get('ms-dyn-aid');
  return fromHttpFailure(
    {
      service,
      status: e.statusCode,
      ...(e.code ? { code: e.code } : {}),
      message: e.message,
      ...(requestId ? { requestId } : {}),
      retryAfter: headers?.get('retry-after') ?? null,
    },
    ctx,
  );
}

function fromIdentityFailure(name: string, message: string, status: number | undefined, ctx: ErrorContext): ServiceError {
  const text = message;
  const aadsts = /AADSTS\d+/.exec(text)?.[0];
  const oauth = /^(invalid_client|unauthorized_client|invalid_request|invalid_scope|invalid_grant|temporarily_unavailable)\b/.exec(text.trim())?.[1];
  const code = aadsts ?? oauth ?? name;
  // Entra puts its correlation id (what support asks for) in the description.
  const correlationId = /Correlation ID:\s*([0-9a-f-]{36})/i.exec(text)?.[1];
  const httpStatus = status !== undefined && status > 0 ? status : undefined;
  const base = {
    service: 'entra' as const,
    operation: ctx.operation,
    code,
    reason: `Microsoft Entra ID issued no access token (${httpStatus !== undefined ? `${httpStatus} ` : ''}${code})`,
    serviceMessage: scrub(entraDescription(text), ctx.redact),
    ...(httpStatus !== undefined ? { status: httpStatus } : {}),
    ...(correlationId ? { requestId: correlationId } : {}),
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  };
  const federated = aadsts ? federatedFailure(aadsts, base) : undefined;
  if (federated) return federated;
  if (isInvalidClient(text)) return refusedSecret(base, ctx);
  // MSAL reports an authority whose OpenID metadata it could not fetch (throttled, 5xx, reset) as
  // endpoints_resolution_error, without the status: as retryable as the failures behind it.
  if (
    (status !== undefined && (status === 429 || status >= 500)) ||
    /temporarily_unavailable|network_error|network unreachable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|fetch failed|endpoints_resolution_error/i.test(text)
  ) {
    return new ServiceError({ ...base, kind: 'transient', action: transientAction(undefined) });
  }
  return new ServiceError({
    ...base,
    kind: 'permanent',
    action: `No access token could be obtained. ${defaultPermission('entra')}`,
  });
}

const FIC_EXPECTED =
  "issuer {AUTHORITY_HOST}/{home tenant id}/v2.0, subject the object (principal) id of the function app's managed identity, audience api://AzureADTokenExchange (api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina in those clouds)";
const FIC_REPAIR = 'Run the partner post-provision step again (`npm run partner-operator`, docs/deploying.md, Partner mode): it puts the one credential the operator needs back.';

/**
 * Refusals of the token exchange in partner mode, where the product signs in to a customer tenant as the
 * operator application with its managed identity's token as the client assertion
 * (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 * AADSTS70021 is documented ("No matching federated identity record found for presented assertion",
 * also for a credential created minutes ago that has not propagated, so it is retried); 700211, 700212 and 700213 (issuer,
 * audience, subject), 700024 (assertion time range), 700226/700229 (not a managed identity's app-only token)
 * and 7000229 (no service principal of the application in the tenant) are as observed in public reports.
 */
function federatedFailure(code: string, base: Omit<ServiceErrorDetails, 'kind' | 'action'>): ServiceError | undefined {
  switch (code) {
    case 'AADSTS70021':
      // Microsoft documents this code for a credential created minutes ago that has not propagated, and
      // recommends retrying: it is retried for a few minutes, then the run fails with this action.
      return new ServiceError({
        ...base,
        kind: 'replication-lag',
        action: `No federated credential of the partner operator application matches the function app's managed identity: one created in the last minutes may still be propagating (the step is retried for a few minutes). It must trust ${FIC_EXPECTED}. ${FIC_REPAIR}`,
      });
    case 'AADSTS700211':
    case 'AADSTS700212':
    case 'AADSTS700213': {
      const part = code === 'AADSTS700211' ? 'issuer' : code === 'AADSTS700212' ? 'audience' : 'subject';
      return new ServiceError({
        ...base,
        kind: 'permanent',
        action: `The ${part} of the partner operator application's federated credential does not match the function app's managed identity. It must trust ${FIC_EXPECTED}. ${FIC_REPAIR}`,
      });
    }
    case 'AADSTS700024':
      return new ServiceError({ ...base, kind: 'transient', action: 'The managed identity token used as the client assertion had expired; a new one is fetched and the step is retried automatically.' });
    case 'AADSTS700226':
    case 'AADSTS700229':
    case 'AADSTS700222':
      return new ServiceError({
        ...base,
        kind: 'permanent',
        action: "In partner mode the client assertion must be the function app's user-assigned managed identity token: run the function app with that identity (AZURE_CLIENT_ID), not a developer sign-in or another application.",
      });
    case 'AADSTS7000229':
      return new ServiceError({
        ...base,
        kind: 'permanent',
        action:
          'The tenant has not consented to the partner operator application (it has no service principal there): onboard the tenant (POST /api/tenants/{tenantId}/onboard) and have an administrator of that tenant grant the consent it asks for.',
      });
    default:
      return undefined;
  }
}

/**
 * The readable part of a token failure: Entra's `AADSTSnnn: description` without the trace,
 * correlation and timestamp trailer (MSAL repeats those), else the first lines of the message.
 */
function entraDescription(text: string): string {
  const m = /AADSTS\d+:\s*(.*?)(?=\s+Trace ID:|\s+-\s+Correlation ID:|\r?\n|$)/s.exec(text);
  if (m?.[1]) return m[1];
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '' && !/^More details:?$/i.test(l.trim()))
    .slice(0, 3)
    .join(' ');
}

/**
 * Turns anything a client call threw into a `ServiceError`. Already-mapped errors pass through (with
 * the environment filled in when missing); unknown errors become permanent so they are not retried
 * blindly, keeping only their scrubbed message.
 */
export function toServiceError(e: unknown, ctx: ErrorContext): ServiceError {
  if (isServiceError(e)) {
    return ctx.environmentId && !e.environmentId ? e.withEnvironment(ctx.environmentId) : e;
  }
  if (isGraphErrorLike(e)) return fromGraphError(e, ctx);
  if (isErrorLike(e) && IDENTITY_ERRORS.has(e.name)) {
    const status = (e as { statusCode?: unknown }).statusCode;
    return fromIdentityFailure(e.name, e.message, typeof status === 'number' ? status : undefined, ctx);
  }
  if (isRestError(e)) return fromRestError(e, ctx.service ?? 'keyvault', ctx);
  const service = ctx.service ?? 'graph';
  const net = networkCode(e);
  if (net) return networkFailure(service, net, ctx);
  const message = isErrorLike(e) ? e.message : String(e);
  return new ServiceError({
    kind: 'permanent',
    service,
    operation: ctx.operation,
    code: isErrorLike(e) ? e.name : 'UnknownError',
    serviceMessage: scrub(message, ctx.redact),
    action: 'An unexpected error occurred; see the function app logs.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}
