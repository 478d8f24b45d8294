/**
 * The error taxonomy: how each SDK's failures (Graph client, core-rest-pipeline, identity, sockets)
 * become transient / replication-lag / permanent / not-found, what the message tells a person, and
 * that it survives JSON and never carries a secret.
 */
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { GraphError } from '@microsoft/microsoft-graph-client';
import {
  isServiceError,
  isServiceErrorJSON,
  parseRetryAfter,
  scrub,
  ServiceError,
  toServiceError,
  type ErrorContext,
} from '../../src/clients';

const CTX: ErrorContext = { operation: 'Register the app', environmentId: 'contoso-uat', service: 'graph' };

function graphError(status: number, code: string, message: string, headers: Record<string, string> = {}): GraphError {
  const e = new GraphError(status, message);
  e.code = code;
  e.requestId = 'req-123';
  e.headers = new Headers(headers);
  return e;
}

function restError(status: number, code: string, message: string, headers: Record<string, string> = {}, body?: string): RestError {
  const request = createPipelineRequest({ url: 'https://vault.example/secrets/x', method: 'PUT', body: body ?? '' });
  return new RestError(message, {
    statusCode: status,
    code,
    request,
    response: { status, headers: createHttpHeaders(headers), request },
  });
}

describe('parseRetryAfter', () => {
  it('reads delay seconds and HTTP dates, and ignores junk', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('Graph errors', () => {
  it('429 is transient and carries the Retry-After delay', () => {
    const e = toServiceError(graphError(429, 'TooManyRequests', 'Too many requests.', { 'Retry-After': '12' }), CTX);
    expect(e.kind).toBe('transient');
    expect(e.retryAfterMs).toBe(12_000);
    expect(e.retryable).toBe(true);
    expect(e.action).toMatch(/wait 12 s/);
  });

  it('Retry-After as an HTTP date is honoured too', () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    const e = toServiceError(graphError(429, 'TooManyRequests', 'Slow down.', { 'Retry-After': at }), CTX);
    expect(e.retryAfterMs).toBeGreaterThan(55_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('5xx is transient', () => {
    expect(toServiceError(graphError(503, 'ServiceUnavailable', 'Unavailable.'), CTX).kind).toBe('transient');
    expect(toServiceError(graphError(500, 'InternalServerError', 'Boom.'), CTX).kind).toBe('transient');
  });

  it('403 Authorization_RequestDenied is permanent and says which permission to grant', () => {
    const e = toServiceError(graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'), {
      ...CTX,
      requiredPermission: 'AppRoleAssignment.ReadWrite.All',
    });
    expect(e.kind).toBe('permanent');
    expect(e.status).toBe(403);
    expect(e.code).toBe('Authorization_RequestDenied');
    expect(e.requestId).toBe('req-123');
    expect(e.message).toBe(
      'Register the app failed for environment contoso-uat: Microsoft Graph answered 403 Authorization_RequestDenied: ' +
        'Insufficient privileges to complete the operation. ' +
        "Grant the function app's identity the Graph application permission AppRoleAssignment.ReadWrite.All (see docs/settings.md, Permissions). " +
        '(request id req-123)',
    );
  });

  it('404 Request_ResourceNotFound is replication lag on a fresh object and not-found otherwise', () => {
    const err = () => graphError(404, 'Request_ResourceNotFound', "Resource 'x' does not exist or one of its queried reference-property objects are not present.");
    expect(toServiceError(err(), { ...CTX, freshObject: true }).kind).toBe('replication-lag');
    expect(toServiceError(err(), CTX).kind).toBe('not-found');
  });

  it('the replication-lag answers of a fresh application or service principal are recognised', () => {
    const sp = graphError(400, 'Request_BadRequest', "The appId 'abc' of the service principal does not reference a valid application object.");
    expect(toServiceError(sp, CTX).kind).toBe('replication-lag');
    const ref = graphError(400, 'Request_BadRequest', 'Not a valid reference update.');
    expect(toServiceError(ref, CTX).kind).toBe('replication-lag');
  });

  it("a tenant's credential lifetime policy is permanent with an action naming the policy", () => {
    const e = toServiceError(
      graphError(400, 'CredentialTypeNotAllowedAsPerAppPolicy', 'Credential lifetime exceeds the max value allowed as per assigned policy.'),
      { ...CTX, operation: 'Create a client secret' },
    );
    expect(e.kind).toBe('permanent');
    expect(e.action).toMatch(/app management policy limits secret lifetime/);
  });

  it('other 400s are permanent', () => {
    expect(toServiceError(graphError(400, 'Request_BadRequest', 'Invalid value.'), CTX).kind).toBe('permanent');
  });

  it('a connection failure wrapped by the Graph client is transient', () => {
    const wrapped = new GraphError(-1, 'fetch failed');
    wrapped.code = 'TypeError';
    const e = toServiceError(wrapped, CTX);
    expect(e.kind).toBe('transient');
    expect(e.status).toBeUndefined();
    expect(e.message).toContain('Microsoft Graph could not be reached');
  });

  it('a token failure wrapped by the Graph client is attributed to Entra', () => {
    const wrapped = new GraphError(-1, 'ManagedIdentityCredential: no endpoint');
    wrapped.code = 'CredentialUnavailableError';
    const e = toServiceError(wrapped, CTX);
    expect(e.service).toBe('entra');
    expect(e.kind).toBe('permanent');
  });
});

describe('Entra token errors', () => {
  const invalidClient = () =>
    new AuthenticationError(401, {
      error: 'invalid_client',
      error_description: "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\nTrace ID: 1",
    });

  it('invalid_client right after a secret was created is replication lag', () => {
    const e = toServiceError(invalidClient(), { ...CTX, freshSecret: true });
    expect(e.kind).toBe('replication-lag');
    expect(e.service).toBe('entra');
    expect(e.code).toBe('AADSTS7000215');
  });

  it('invalid_client otherwise is permanent: the secret is wrong', () => {
    const e = toServiceError(invalidClient(), CTX);
    expect(e.kind).toBe('permanent');
    expect(e.action).toMatch(/secret was refused/);
  });

  it("partner mode: the operator's federated credential refused names the code and says what the credential must trust", () => {
    const refusal = (code: string, description: string) =>
      toServiceError(new AuthenticationError(401, { error: 'invalid_client', error_description: `${code}: ${description}\nTrace ID: 1` }), CTX);
    // No credential matches: also what a credential created minutes ago answers while it propagates, so it is retried.
    const missing = refusal('AADSTS70021', 'No matching federated identity record found for presented assertion.');
    expect([missing.kind, missing.service, missing.code]).toEqual(['replication-lag', 'entra', 'AADSTS70021']);
    expect(missing.message).toContain('AADSTS70021');
    expect(missing.action).toMatch(/^No federated credential of the partner operator application matches the function app's managed identity/);
    expect(missing.action).toContain('audience api://AzureADTokenExchange');
    expect(missing.action).toContain('npm run partner-operator');
    // Not mistaken for a refused client secret (the exchange also answers invalid_client).
    expect(missing.action).not.toMatch(/secret was refused/);
    for (const [code, part] of [
      ['AADSTS700211', 'issuer'],
      ['AADSTS700212', 'audience'],
      ['AADSTS700213', 'subject'],
    ] as const) {
      const e = refusal(code, `No matching federated identity record found for presented assertion ${part} 'x'.`);
      expect([e.kind, e.code]).toEqual(['permanent', code]);
      expect(e.action).toMatch(new RegExp(`^The ${part} of the partner operator application's federated credential does not match`));
    }
    const notConsented = refusal('AADSTS7000229', 'The client application 1 is missing service principal in the tenant 2.');
    expect([notConsented.kind, notConsented.code]).toEqual(['permanent', 'AADSTS7000229']);
    expect(notConsented.action).toContain('POST /api/tenants/{tenantId}/onboard');
    // An expired assertion is fetched anew: worth a retry.
    expect(refusal('AADSTS700024', 'Client assertion is not within its valid time range.').kind).toBe('transient');
  });

  it('an unavailable credential is permanent', () => {
    const e = toServiceError(new CredentialUnavailableError('ManagedIdentityCredential: not available'), CTX);
    expect(e.kind).toBe('permanent');
    expect(e.service).toBe('entra');
  });
});

describe('RestError (Key Vault, F&O pipeline)', () => {
  const kv: ErrorContext = { operation: 'Store the client secret in Key Vault', environmentId: 'contoso-uat', service: 'keyvault' };

  it('maps status, code, request id and Retry-After', () => {
    const e = toServiceError(restError(429, 'Throttled', 'Rate limit exceeded.', { 'x-ms-request-id': 'kv-1', 'retry-after': '3' }), kv);
    expect(e).toMatchObject({ kind: 'transient', service: 'keyvault', status: 429, code: 'Throttled', requestId: 'kv-1', retryAfterMs: 3000 });
  });

  it('403 asks for the vault role, 404 is not-found', () => {
    const denied = toServiceError(restError(403, 'Forbidden', 'Caller is not authorized to perform action.', { 'x-ms-request-id': 'kv-2' }), kv);
    expect(denied.kind).toBe('permanent');
    expect(denied.action).toMatch(/Key Vault Secrets Officer/);
    expect(denied.message).toContain('(request id kv-2)');
    expect(toServiceError(restError(404, 'SecretNotFound', 'A secret with (name/id) x was not found in this key vault.'), kv).kind).toBe('not-found');
  });

  it('REQUEST_SEND_ERROR is transient', () => {
    const e = toServiceError(new RestError('connect ECONNREFUSED 127.0.0.1:1', { code: 'REQUEST_SEND_ERROR' }), kv);
    expect(e.kind).toBe('transient');
    expect(e.code).toBe('ECONNREFUSED');
  });

  it('never reads the SDK request (whose body holds the secret) into the message', () => {
    const secret = 'Zq8~abcdefghijklmnopqrstuvwxyz0123456789';
    const e = toServiceError(restError(400, 'BadParameter', 'The request is invalid.', {}, JSON.stringify({ value: secret })), kv);
    expect(e.message).not.toContain(secret);
    expect(JSON.stringify(e)).not.toContain(secret);
  });
});

describe('network errors and unknown errors', () => {
  it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED'])('%s is transient', (code) => {
    const sys = Object.assign(new Error(`socket ${code}`), { code });
    const e = toServiceError(sys, { operation: 'Read the email parameters', service: 'finops' });
    expect(e.kind).toBe('transient');
    expect(e.service).toBe('finops');
    expect(e.code).toBe(code);
  });

  it('fetch failures (TypeError with a cause) are transient', () => {
    const e = toServiceError(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }), CTX);
    expect(e.kind).toBe('transient');
    expect(e.code).toBe('ECONNRESET');
  });

  it('an unknown error is permanent and keeps only its scrubbed message', () => {
    const e = toServiceError(new Error('boom {"secretText":"abcdef123456"}'), CTX);
    expect(e.kind).toBe('permanent');
    expect(e.message).not.toContain('abcdef123456');
  });

  it('an already mapped error passes through, gaining the environment', () => {
    const first = toServiceError(graphError(503, 'x', 'y'), { operation: 'Read' });
    expect(first.environmentId).toBeUndefined();
    const second = toServiceError(first, { operation: 'ignored', environmentId: 'contoso-prod' });
    expect(second.environmentId).toBe('contoso-prod');
    expect(second.operation).toBe('Read');
    expect(second.message).toContain('for environment contoso-prod');
  });
});

describe('JSON round trip', () => {
  it('keeps message and details through JSON, and revives', () => {
    const e = toServiceError(graphError(429, 'TooManyRequests', 'Too many.', { 'Retry-After': '5' }), CTX);
    const json: unknown = JSON.parse(JSON.stringify(e));
    expect(isServiceErrorJSON(json)).toBe(true);
    expect(json).toMatchObject({
      name: 'ServiceError',
      message: e.message,
      kind: 'transient',
      service: 'graph',
      status: 429,
      code: 'TooManyRequests',
      requestId: 'req-123',
      retryAfterMs: 5000,
      environmentId: 'contoso-uat',
      operation: 'Register the app',
    });
    if (!isServiceErrorJSON(json)) throw new Error('unreachable');
    const revived = ServiceError.fromJSON(json);
    expect(isServiceError(revived)).toBe(true);
    expect(revived.message).toBe(e.message);
    expect(revived.kind).toBe('transient');
  });
});

describe('scrub', () => {
  it('removes listed values and credential-shaped fields', () => {
    const secret = 'S3cr3t~value.that-is-long';
    const text = `echo ${secret} client_secret=abc123&x=1 {"secretText":"q"} Authorization: Bearer eyJ.abc.def`;
    const out = scrub(text, [secret]);
    expect(out).not.toContain(secret);
    expect(out).not.toContain('abc123');
    expect(out).not.toContain('eyJ.abc.def');
    expect(out).toContain('client_secret=[redacted]');
  });

  it('a service message echoing the secret is scrubbed when the caller names it', () => {
    const secret = 'Zq8~0123456789abcdefghijklmnopqrstuvwxyz';
    const e = toServiceError(graphError(400, 'Request_BadRequest', `Invalid value '${secret}'.`), { ...CTX, redact: [secret] });
    expect(e.message).not.toContain(secret);
  });
});
