/**
 * The emulated Dynamics 365 Finance & Operations OData endpoint of each environment: the standard
 * `EmailParameters` entity (SMTP fields and the batch email provider), `$metadata`, and, while the
 * FnoGraphMail extension is deployed, its entities and action under the names of
 * src/contracts/finopsExtension.ts: the Graph credential (write-only secret, `CredentialSetAt`), the
 * read-only email health computed from Email history, and `SendTestEmail`, which sends one message now
 * through the environment's own mailer (finops-mail.ts). Tokens must be issued for the environment's
 * URL to an app registered in that environment.
 *
 * Security: F&O authorizes the F&O user mapped to the calling Entra app (System administration >
 * Microsoft Entra applications) through its roles, duties and privileges (the extension's privilege is
 * FnoGraphMailCredentialMaintain). The sandbox checks only that the app is registered in the
 * environment; it does not model F&O role security beyond that.
 */
import { createHash } from 'node:crypto';
import {
  FINOPS_ODATA_NAMESPACE,
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../src/contracts/finopsExtension';
import { isResponse, type ServiceDeps } from './deps';
import { BATCH_EMAIL_PROVIDERS, emailHealth, FinOpsMail, FINOPS_NULL_DATETIME, scrubFailureText, writeSecret } from './finops-mail';
import { credentialEntityType, EMAIL_PARAMETERS_ENTITY_SET, entitySets, metadataDocument } from './finops-metadata';
import type {
  EmailParametersRecord,
  FinOpsEnvironmentRecord,
  FinOpsGraphCredentialEntityConfig,
  SandboxRequest,
  SandboxResponse,
  ServiceHandler,
} from './types';

export const EMAIL_PARAMETERS_ENTITY = EMAIL_PARAMETERS_ENTITY_SET;
export { BATCH_EMAIL_PROVIDERS };

const ENTITY_NAMESPACE = FINOPS_ODATA_NAMESPACE;
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

type EntityKind = 'emailParameters' | 'credential' | 'health';

const SEND_TEST_EMAIL_SEGMENT = `${ENTITY_NAMESPACE}.${SEND_TEST_EMAIL_ACTION.name}`;
const STATUS = SEND_TEST_EMAIL_ACTION.statuses;
const CREDENTIAL_FIELDS = GRAPH_CREDENTIAL_ENTITY.fields;
const HEALTH_FIELDS = GRAPH_EMAIL_HEALTH_ENTITY.fields;

/** One email address, no list or display name: the test of FnoGraphMailTestEmail.isSingleAddress. */
function isSingleAddress(text: string): boolean {
  return /^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>"]+$/.test(text);
}

function methodNotAllowed(): SandboxResponse {
  return odataError(405, 'The requested resource does not support this HTTP method.');
}

/**
 * The emulated F&O service. `mail` is the environments' mail subsystem (the server's, whose batch runs on
 * the clock); without one, `SendTestEmail` uses a private mailer that trusts Node's default CAs.
 */
export function createFinOpsService(deps: ServiceDeps, mail: FinOpsMail = new FinOpsMail(deps.state)): ServiceHandler {
  const { state } = deps;
  /** Revision per environment of the credential record: its etag must not be derived from the secret. */
  const credentialRevisions = new Map<string, number>();

  function credentialView(env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): Record<string, unknown> {
    const revision = credentialRevisions.get(env.id) ?? 0;
    return {
      '@odata.etag': `W/"${Buffer.from(`${env.id}:${revision}`).toString('base64')}"`,
      [CREDENTIAL_FIELDS.id]: env.emailParameters.ID,
      [CREDENTIAL_FIELDS.batchEmailProvider]: env.emailParameters.MailerNonInteractive,
      [config.applicationIdField]: env.graphCredential.applicationId ?? '',
      // The secret is write-only: F&O never reads it back through OData (postLoad leaves it empty).
      [config.secretField]: '',
      [CREDENTIAL_FIELDS.credentialSetAt]: env.credentialSetAt ?? FINOPS_NULL_DATETIME,
    };
  }

  function healthView(env: FinOpsEnvironmentRecord): Record<string, unknown> {
    const health = emailHealth(state, env, GRAPH_EMAIL_HEALTH_ENTITY.addressPlaceholder);
    return {
      '@odata.etag': etagOf(health),
      [HEALTH_FIELDS.id]: env.emailParameters.ID,
      [HEALTH_FIELDS.batchEmailProvider]: env.emailParameters.MailerNonInteractive,
      [HEALTH_FIELDS.lastSuccessAt]: health.lastSuccessAt,
      [HEALTH_FIELDS.lastSuccessProvider]: health.lastSuccessProvider,
      [HEALTH_FIELDS.failuresLast24Hours]: health.failuresLast24Hours,
      [HEALTH_FIELDS.lastFailureAt]: health.lastFailureAt,
      [HEALTH_FIELDS.lastFailureDetails]: health.lastFailureDetails,
      [HEALTH_FIELDS.queuedMessages]: health.queuedMessages,
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

  /**
   * The extension's mapEntityToDataSource: the provider and application id are written as given; a
   * secret is encrypted with this environment's key and stamps CredentialSetAt; CredentialSetAt itself is
   * read-only and ignored. (Not modelled: validateWrite's refusal of a non-GUID application id.)
   */
  function patchCredential(req: SandboxRequest, env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): SandboxResponse {
    const precondition = preconditionFails(req, credentialView(env, config)['@odata.etag'] as string);
    if (precondition) return precondition;
    const body = parseJsonObject(req);
    if (isResponse(body)) return body;
    let applicationId: string | null | undefined;
    let secret: string | null | undefined;
    let provider: string | undefined;
    const entityType = credentialEntityType(config);
    const known = new Set<string>([CREDENTIAL_FIELDS.id, CREDENTIAL_FIELDS.batchEmailProvider, CREDENTIAL_FIELDS.credentialSetAt, config.applicationIdField, config.secretField]);
    for (const [property, value] of Object.entries(body)) {
      if (isOdataAnnotation(property)) continue;
      if (!known.has(property)) return unknownProperty(property, entityType);
      if (property === CREDENTIAL_FIELDS.credentialSetAt) continue;
      if (typeof value !== 'string') return badRequest(`Cannot convert the literal '${property}' value to the expected type 'Edm.String'.`);
      if (property === CREDENTIAL_FIELDS.id) {
        if (value !== env.emailParameters.ID) return badRequest('Key properties cannot be changed.', 'System.InvalidOperationException');
      } else if (property === CREDENTIAL_FIELDS.batchEmailProvider) {
        if (!(BATCH_EMAIL_PROVIDERS as readonly string[]).includes(value)) return badRequest(`Requested value '${value}' was not found.`, 'System.ArgumentException');
        provider = value;
      } else if (property === config.applicationIdField) {
        applicationId = value === '' ? null : value;
      } else {
        secret = value === '' ? null : value;
      }
    }
    if (provider !== undefined) env.emailParameters.MailerNonInteractive = provider;
    if (applicationId !== undefined) env.graphCredential.applicationId = applicationId;
    if (secret !== undefined) {
      writeSecret(env, secret);
      if (secret !== null) env.credentialSetAt = state.nowIso();
    }
    credentialRevisions.set(env.id, (credentialRevisions.get(env.id) ?? 0) + 1);
    return { status: 204 };
  }

  /**
   * SendTestEmail(recipient): FnoGraphMailTestEmail.send. Sends one message now (not through the
   * queue) with the batch provider, which must be Graph, as the user running it. The sandbox maps every
   * registered client to the F&O user the Email distributor batch runs as, so that is the sender.
   */
  async function sendTestEmail(req: SandboxRequest, env: FinOpsEnvironmentRecord, base: string): Promise<SandboxResponse> {
    const body = parseJsonObject(req);
    if (isResponse(body)) return body;
    let recipient = '';
    for (const [name, value] of Object.entries(body)) {
      if (isOdataAnnotation(name)) continue;
      if (name !== SEND_TEST_EMAIL_ACTION.parameter) {
        return badRequest(`The parameter '${name}' in the request payload is not a valid parameter for the operation '${SEND_TEST_EMAIL_ACTION.name}'.`);
      }
      if (typeof value !== 'string' && value !== null) return badRequest(`Cannot convert the literal '${JSON.stringify(value)}' to the expected type 'Edm.String'.`);
      recipient = value ?? '';
    }
    const answer = (status: string, sentence: string): SandboxResponse => ({
      status: 200,
      body: { '@odata.context': `${base}/data/$metadata#Edm.String`, value: `${status}: ${sentence}` },
    });
    if (!isSingleAddress(recipient)) return answer(STATUS.invalidRecipient, 'the recipient must be exactly one email address; nothing was sent.');
    const provider = env.emailParameters.MailerNonInteractive;
    if (provider !== 'Graph') return answer(STATUS.notGraph, `the batch email provider is ${provider !== '' ? provider : 'empty'}, not Graph; nothing was sent.`);
    const record = await mail.send(
      env,
      provider,
      {
        subject: 'Test message from Finance and Operations',
        to: [recipient],
        body: 'This message was sent through the Microsoft Graph batch email provider of Finance and Operations to test its configuration.',
      },
      env.batch.user,
    );
    if (record.status === 'sent') return answer(STATUS.sent, 'Microsoft Graph accepted the test message.');
    return answer(STATUS.failed, scrubFailureText(record.error ?? 'a .NET error without a message', GRAPH_EMAIL_HEALTH_ENTITY.addressPlaceholder));
  }

  function serviceDocument(base: string, env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): SandboxResponse {
    return {
      status: 200,
      body: {
        '@odata.context': `${base}/data/$metadata`,
        value: entitySets(config, env.extensionInstalled).map(({ name }) => ({ name, kind: 'EntitySet', url: name })),
      },
    };
  }

  function kindOf(name: string, env: FinOpsEnvironmentRecord, config: FinOpsGraphCredentialEntityConfig): EntityKind | undefined {
    if (name === EMAIL_PARAMETERS_ENTITY) return 'emailParameters';
    // Without the extension its sets are unknown, as any entity set that is not deployed.
    if (!env.extensionInstalled) return undefined;
    if (name === config.entitySet) return 'credential';
    if (name === GRAPH_EMAIL_HEALTH_ENTITY.entitySet) return 'health';
    return undefined;
  }

  return async (req: SandboxRequest): Promise<SandboxResponse> => {
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
    if (path === '/data') return method === 'GET' ? serviceDocument(base, env, config) : methodNotAllowed();
    if (path === '/data/$metadata') {
      if (method !== 'GET') return methodNotAllowed();
      return { status: 200, headers: { 'content-type': 'application/xml; charset=utf-8' }, body: metadataDocument(config, env.extensionInstalled) };
    }
    if (!path.startsWith('/data/')) return noRoute(req);
    const rest = path.slice('/data/'.length);
    const slash = rest.indexOf('/');
    const first = slash < 0 ? rest : rest.slice(0, slash);
    const segment = parseEntitySegment(first);
    if (!segment) return badRequest(`The key in the request URI is not valid for resource '${first}'.`);
    const kind = kindOf(segment.name, env, config);
    if (!kind) return noRoute(req);

    if (slash >= 0) {
      const tail = rest.slice(slash + 1);
      // A static X++ action is bound to the entity collection, so it is called on the set, not on a record.
      if (kind === 'credential' && !segment.key && tail === SEND_TEST_EMAIL_SEGMENT) {
        return method === 'POST' ? sendTestEmail(req, env, base) : methodNotAllowed();
      }
      if (tail === SEND_TEST_EMAIL_SEGMENT) return noRoute(req);
      return segmentNotFound(tail);
    }

    const view = (): Record<string, unknown> =>
      kind === 'emailParameters' ? emailParametersView(env) : kind === 'credential' ? credentialView(env, config) : healthView(env);
    if (!segment.key) {
      if (method !== 'GET') return methodNotAllowed();
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
    if (method === 'PATCH') {
      if (kind === 'emailParameters') return patchEmailParameters(req, env);
      if (kind === 'credential') return patchCredential(req, env, config);
    }
    // The health entity is read-only (IsReadOnly), and records are neither created nor deleted here.
    return methodNotAllowed();
  };
}
