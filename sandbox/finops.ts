/**
 * The emulated Dynamics 365 Finance & Operations OData endpoint of each environment: the standard
 * `EmailParameters` entity (SMTP fields and the batch email provider) and the customer-deployed entity
 * that carries the Graph application id and client secret, which F&O's standard entity does not
 * expose. Tokens must be issued for the environment's URL to an app registered in that environment.
 */
import { createHash } from 'node:crypto';
import { isResponse, type ServiceDeps } from './deps';
import type {
  EmailParametersRecord,
  FinOpsEnvironmentRecord,
  FinOpsGraphCredentialEntityConfig,
  SandboxRequest,
  SandboxResponse,
  ServiceHandler,
} from './types';

export const EMAIL_PARAMETERS_ENTITY = 'EmailParameters';
/** Values of F&O's batch email provider (`MailerNonInteractive`). */
export const BATCH_EMAIL_PROVIDERS = ['SMTP', 'Exchange', 'Graph'] as const;

const ENTITY_NAMESPACE = 'Microsoft.Dynamics.DataEntities';
const NO_YES = ['No', 'Yes'];

type FieldKind = 'string' | 'number' | 'noYes' | 'provider';

const EMAIL_PARAMETER_FIELDS: Record<keyof EmailParametersRecord, FieldKind> = {
  ID: 'string',
  MaximumEmailAttachmentSize: 'number',
  SMTPUseNTLM: 'noYes',
  SMTPPortNumber: 'number',
  SMTPRelayServerName: 'string',
  SMTPUserName: 'string',
  SMTPRequireSSL: 'noYes',
  MailerNonInteractive: 'provider',
  MailerInteractiveEnabled: 'noYes',
};

/** F&O's OData error body: a generic message with the cause in `innererror`. */
function odataError(status: number, message: string, inner?: { message: string; type: string }): SandboxResponse {
  return {
    status,
    body: {
      error: {
        code: '',
        message,
        ...(inner ? { innererror: { message: inner.message, type: inner.type, stacktrace: '' } } : {}),
      },
    },
  };
}

function badRequest(innerMessage: string, type = 'Microsoft.OData.ODataException'): SandboxResponse {
  return odataError(400, 'An error has occurred.', { message: innerMessage, type });
}

function noRoute(req: SandboxRequest): SandboxResponse {
  return odataError(404, `No HTTP resource was found that matches the request URI '${req.origin}${req.path}'.`);
}

function segmentNotFound(segment: string): SandboxResponse {
  return odataError(404, `Resource not found for the segment '${segment}'.`);
}

function headerOf(req: SandboxRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() === wanted && v !== undefined) return v;
  return undefined;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function findEnvironment(deps: ServiceDeps, req: SandboxRequest): FinOpsEnvironmentRecord | undefined {
  const { finops } = deps.state;
  if (req.environmentId !== undefined) return finops.find((e) => e.id === req.environmentId);
  return finops.find((e) => trimSlash(e.url) === trimSlash(req.origin));
}

/** `Name(ID='x')` → name and key properties; `Name` → name only. */
function parseEntitySegment(segment: string): { name: string; key?: Record<string, string> } | undefined {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$/.exec(segment);
  if (!m) return undefined;
  const name = m[1] as string;
  if (m[2] === undefined) return { name };
  const key: Record<string, string> = {};
  const pairs = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'((?:[^']|'')*)'\s*(,|$)/gy;
  let consumed = 0;
  let pair: RegExpExecArray | null;
  while (consumed < m[2].length && (pair = pairs.exec(m[2])) !== null) {
    key[pair[1] as string] = (pair[2] as string).replace(/''/g, "'");
    consumed = pairs.lastIndex;
  }
  if (consumed !== m[2].length || Object.keys(key).length === 0) return undefined;
  return { name, key };
}

function parseJsonObject(req: SandboxRequest): Record<string, unknown> | SandboxResponse {
  try {
    const parsed: unknown = JSON.parse(req.body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return badRequest('The request payload must be a JSON object.');
    }
    return parsed as Record<string, unknown>;
  } catch {
    return badRequest('The request payload is not valid JSON.', 'Newtonsoft.Json.JsonReaderException');
  }
}

function unknownProperty(property: string, entityType: string): SandboxResponse {
  return badRequest(
    `The property '${property}' does not exist on type '${ENTITY_NAMESPACE}.${entityType}'. Make sure to only use property names that are defined by the type.`,
  );
}

function etagOf(content: unknown): string {
  return `W/"${createHash('sha256').update(JSON.stringify(content)).digest('base64').slice(0, 20)}"`;
}

/** Honours `If-Match` as F&O's OData layer does: `*` or the current etag, else 412. */
function preconditionFails(req: SandboxRequest, currentEtag: string): SandboxResponse | undefined {
  const ifMatch = headerOf(req, 'if-match');
  if (ifMatch === undefined || ifMatch.trim() === '*' || ifMatch.trim() === currentEtag) return undefined;
  return odataError(412, 'The record has been changed by another user. Refresh the record and try again.');
}

function isOdataAnnotation(key: string): boolean {
  return key.startsWith('@odata.');
}

export function createFinOpsService(deps: ServiceDeps): ServiceHandler {
  const { state } = deps;
  /** Revision per environment of the credential record: its etag must not be derived from the secret. */
  const credentialRevisions = new Map<string, number>();

  function credentialView(env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): Record<string, unknown> {
    const revision = credentialRevisions.get(env.id) ?? 0;
    return {
      '@odata.etag': `W/"${Buffer.from(`${env.id}:${revision}`).toString('base64')}"`,
      ID: env.emailParameters.ID,
      [config.applicationIdField]: env.graphCredential.applicationId ?? '',
      // The secret is write-only: F&O never reads it back through OData.
      [config.secretField]: '',
    };
  }

  function emailParametersView(env: FinOpsEnvironmentRecord): Record<string, unknown> {
    return { '@odata.etag': etagOf(env.emailParameters), ...env.emailParameters };
  }

  function patchEmailParameters(req: SandboxRequest, env: FinOpsEnvironmentRecord): SandboxResponse {
    const precondition = preconditionFails(req, etagOf(env.emailParameters));
    if (precondition) return precondition;
    const body = parseJsonObject(req);
    if (isResponse(body)) return body;
    const updates: Partial<Record<keyof EmailParametersRecord, string | number>> = {};
    for (const [property, value] of Object.entries(body)) {
      if (isOdataAnnotation(property)) continue;
      if (!Object.prototype.hasOwnProperty.call(EMAIL_PARAMETER_FIELDS, property)) return unknownProperty(property, 'EmailParameter');
      const field = property as keyof EmailParametersRecord;
      const kind = EMAIL_PARAMETER_FIELDS[field];
      if (kind === 'number') {
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          return badRequest(`Cannot convert the literal '${String(value)}' to the expected type 'Edm.Int32'.`);
        }
      } else if (typeof value !== 'string') {
        return badRequest(`Cannot convert the literal '${String(value)}' to the expected type 'Edm.String'.`);
      } else if (kind === 'noYes' && !NO_YES.includes(value)) {
        return badRequest(`Requested value '${value}' was not found.`, 'System.ArgumentException');
      } else if (kind === 'provider' && !(BATCH_EMAIL_PROVIDERS as readonly string[]).includes(value)) {
        return badRequest(`Requested value '${value}' was not found.`, 'System.ArgumentException');
      } else if (field === 'ID' && value !== env.emailParameters.ID) {
        return badRequest('Key properties cannot be changed.', 'System.InvalidOperationException');
      }
      updates[field] = value;
    }
    Object.assign(env.emailParameters, updates);
    return { status: 204 };
  }

  function patchCredential(req: SandboxRequest, env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): SandboxResponse {
    const precondition = preconditionFails(req, credentialView(env, config)['@odata.etag'] as string);
    if (precondition) return precondition;
    const body = parseJsonObject(req);
    if (isResponse(body)) return body;
    let applicationId: string | null | undefined;
    let secret: string | null | undefined;
    const entityType = config.entitySet.replace(/s$/, '');
    for (const [property, value] of Object.entries(body)) {
      if (isOdataAnnotation(property)) continue;
      if (property !== 'ID' && property !== config.applicationIdField && property !== config.secretField) {
        return unknownProperty(property, entityType);
      }
      if (typeof value !== 'string') return badRequest(`Cannot convert the literal '${property}' value to the expected type 'Edm.String'.`);
      if (property === 'ID') {
        if (value !== env.emailParameters.ID) return badRequest('Key properties cannot be changed.', 'System.InvalidOperationException');
      } else if (property === config.applicationIdField) {
        applicationId = value === '' ? null : value;
      } else {
        secret = value === '' ? null : value;
      }
    }
    if (applicationId !== undefined) env.graphCredential.applicationId = applicationId;
    if (secret !== undefined) env.graphCredential.secret = secret;
    credentialRevisions.set(env.id, (credentialRevisions.get(env.id) ?? 0) + 1);
    return { status: 204 };
  }

  function serviceDocument(base: string, config: FinOpsGraphCredentialEntityConfig): SandboxResponse {
    return {
      status: 200,
      body: {
        '@odata.context': `${base}/data/$metadata`,
        value: [EMAIL_PARAMETERS_ENTITY, config.entitySet].map((name) => ({ name, kind: 'EntitySet', url: name })),
      },
    };
  }

  return (req: SandboxRequest): SandboxResponse => {
    const env = findEnvironment(deps, req);
    if (!env) return noRoute(req);
    const claims = deps.authenticate(req, [env.url], (reason) => ({
      status: 401,
      headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${reason.replace(/"/g, "'")}"` },
    }));
    if (isResponse(claims)) return claims;
    const caller = claims.appid.toLowerCase();
    if (!env.registeredClients.some((c) => c.toLowerCase() === caller)) {
      // F&O turns away apps missing from System administration > Microsoft Entra applications with a bare 401.
      return {
        status: 401,
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="The application is not registered in this environment."' },
      };
    }

    const base = trimSlash(env.url);
    const config = state.finopsGraphCredentialEntity;
    const method = req.method.toUpperCase();
    const path = req.path.replace(/\/+$/, '');
    if (path === '/data') return method === 'GET' ? serviceDocument(base, config) : odataError(405, 'The requested resource does not support this HTTP method.');
    if (!path.startsWith('/data/')) return noRoute(req);
    const rest = path.slice('/data/'.length);
    if (rest.includes('/')) return segmentNotFound(rest.slice(rest.indexOf('/') + 1));
    const segment = parseEntitySegment(rest);
    if (!segment) return badRequest(`The key in the request URI is not valid for resource '${rest}'.`);

    const isEmailParameters = segment.name === EMAIL_PARAMETERS_ENTITY;
    const isCredential = segment.name === config.entitySet;
    if (!isEmailParameters && !isCredential) return noRoute(req);

    const view = (): Record<string, unknown> => (isEmailParameters ? emailParametersView(env) : credentialView(env, config));
    if (!segment.key) {
      if (method !== 'GET') return odataError(405, 'The requested resource does not support this HTTP method.');
      return { status: 200, body: { '@odata.context': `${base}/data/$metadata#${segment.name}`, value: [view()] } };
    }
    const keyNames = Object.keys(segment.key);
    if (keyNames.length !== 1 || keyNames[0] !== 'ID') {
      return badRequest(`The number of keys specified in the URI does not match number of key properties for the resource '${ENTITY_NAMESPACE}.${segment.name}'.`);
    }
    if (segment.key.ID !== env.emailParameters.ID) {
      return odataError(404, 'No resources were found when selecting for update.');
    }
    if (method === 'GET') return { status: 200, body: { '@odata.context': `${base}/data/$metadata#${segment.name}/$entity`, ...view() } };
    if (method === 'PATCH') return isEmailParameters ? patchEmailParameters(req, env) : patchCredential(req, env, config);
    return odataError(405, 'The requested resource does not support this HTTP method.');
  };
}
