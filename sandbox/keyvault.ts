/**
 * Emulated Azure Key Vault secrets data plane, as @azure/keyvault-secrets speaks it: challenge-based
 * authentication, RBAC-style caller checks, versions, paging at 25 with absolute nextLinks, soft
 * delete with recover and purge, and the service's error bodies. Times follow the virtual clock.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isResponse, KEY_VAULT_RESOURCE, type ServiceDeps } from './deps';
import type { SandboxState } from './state';
import type { SandboxRequest, SandboxResponse, SecretRecord, SecretVersionRecord, ServiceHandler, TokenClaims } from './types';

export const RECOVERY_LEVEL = 'Recoverable+Purgeable';
export const RECOVERABLE_DAYS = 90;
const PAGE_SIZE = 25;
const MAX_TAGS = 15;
const MAX_VALUE_LENGTH = 25 * 1024;
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

type Access = 'read' | 'readwrite';

function kvError(status: number, code: string, message: string, innerCode?: string): SandboxResponse {
  return { status, body: { error: { code, message, ...(innerCode ? { innererror: { code: innerCode } } : {}) } } };
}

function nowSeconds(state: SandboxState): number {
  return Math.floor(state.now() / 1000);
}

function secretNotFound(name: string, version?: string): SandboxResponse {
  const id = version ? `${name}/${version}` : name;
  return kvError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function deletedSecretNotFound(name: string): SandboxResponse {
  return kvError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
}

// ---- wire views ---------------------------------------------------------------------------------

function attributesOf(v: SecretVersionRecord): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf !== null ? { nbf: v.nbf } : {}),
    ...(v.exp !== null ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

function optional(v: SecretVersionRecord): Record<string, unknown> {
  return {
    ...(v.contentType !== null ? { contentType: v.contentType } : {}),
    ...(Object.keys(v.tags).length > 0 ? { tags: { ...v.tags } } : {}),
  };
}

function bundle(vault: string, secret: SecretRecord, v: SecretVersionRecord, withValue: boolean): Record<string, unknown> {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: `${vault}/secrets/${secret.name}/${v.version}`,
    ...optional(v),
    attributes: attributesOf(v),
  };
}

function deletedBundle(vault: string, secret: SecretRecord): Record<string, unknown> {
  const current = currentVersion(secret);
  const deletedDate = secret.deletedDate ?? 0;
  return {
    recoveryId: `${vault}/deletedsecrets/${secret.name}`,
    deletedDate,
    scheduledPurgeDate: deletedDate + RECOVERABLE_DAYS * 24 * 3600,
    ...bundle(vault, secret, current, false),
  };
}

function currentVersion(secret: SecretRecord): SecretVersionRecord {
  const v = secret.versions[secret.versions.length - 1];
  if (!v) throw new Error(`secret ${secret.name} has no versions`);
  return v;
}

// ---- paging -------------------------------------------------------------------------------------

function parseMaxResults(req: SandboxRequest): number | SandboxResponse {
  const raw = req.query.get('maxresults');
  if (raw === null || raw === '') return PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > PAGE_SIZE) {
    return kvError(400, 'BadParameter', `invalid maxresults: the value must be an integer between 1 and ${PAGE_SIZE}.`);
  }
  return n;
}

function parseSkipToken(req: SandboxRequest): number | SandboxResponse {
  const raw = req.query.get('$skiptoken');
  if (raw === null) return 0;
  try {
    const decoded = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { offset?: unknown };
    if (typeof decoded.offset === 'number' && Number.isInteger(decoded.offset) && decoded.offset >= 0) return decoded.offset;
  } catch {
    // fall through to the error below
  }
  return kvError(400, 'BadParameter', 'The $skiptoken is invalid.');
}

/** One page of `items` and, when more remain, an absolute nextLink the SDK follows verbatim. */
function page(req: SandboxRequest, items: Array<Record<string, unknown>>): SandboxResponse {
  const size = parseMaxResults(req);
  if (isResponse(size)) return size;
  const offset = parseSkipToken(req);
  if (isResponse(offset)) return offset;
  const slice = items.slice(offset, offset + size);
  let nextLink: string | null = null;
  if (offset + size < items.length) {
    const next = new URLSearchParams();
    next.set('api-version', req.query.get('api-version') ?? '');
    next.set('$skiptoken', Buffer.from(JSON.stringify({ offset: offset + size })).toString('base64url'));
    next.set('maxresults', String(size));
    nextLink = `${req.origin}${req.path}?${next.toString()}`;
  }
  return { status: 200, body: { value: slice, nextLink } };
}

// ---- request bodies -----------------------------------------------------------------------------

// Other attributes (recoveryLevel, created, ...) are read-only and ignored, as the service does.
const attributesSchema = z.looseObject({
  enabled: z.boolean().optional(),
  nbf: z.number().int().nullable().optional(),
  exp: z.number().int().nullable().optional(),
});

const tagsSchema = z.record(z.string(), z.string());

const setSecretSchema = z.object({
  value: z.string({ error: 'The request body must carry the secret value.' }),
  contentType: z.string().nullable().optional(),
  tags: tagsSchema.nullable().optional(),
  attributes: attributesSchema.nullable().optional(),
});

const updateSecretSchema = z.object({
  contentType: z.string().nullable().optional(),
  tags: tagsSchema.nullable().optional(),
  attributes: attributesSchema.nullable().optional(),
});

function parseJson<T>(req: SandboxRequest, schema: z.ZodType<T>): T | SandboxResponse {
  let raw: unknown;
  try {
    raw = JSON.parse(req.body.toString('utf8') || 'null');
  } catch {
    return kvError(400, 'BadParameter', 'The request body is not valid JSON.');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first && first.path.length > 0 ? ` (${first.path.join('.')})` : '';
    return kvError(400, 'BadParameter', `${first?.message ?? 'The request body is invalid.'}${where}`);
  }
  return parsed.data;
}

function checkTags(tags: Record<string, string> | null | undefined): SandboxResponse | undefined {
  if (tags && Object.keys(tags).length > MAX_TAGS) {
    return kvError(400, 'BadParameter', `A secret can carry at most ${MAX_TAGS} tags.`);
  }
  return undefined;
}

// ---- authorization ------------------------------------------------------------------------------

function unauthorized(state: SandboxState, reason: string): SandboxResponse {
  return {
    status: 401,
    headers: {
      'www-authenticate': `Bearer authorization="${state.serviceUrls.authorityHost}/${state.tenantId}", resource="${KEY_VAULT_RESOURCE}"`,
    },
    body: { error: { code: 'Unauthorized', message: reason } },
  };
}

/** The vault's RBAC refusal, worded like the real service's ForbiddenByRbac. */
function forbiddenByRbac(req: SandboxRequest, claims: TokenClaims, action: string): SandboxResponse {
  const message = [
    'Caller is not authorized to perform action on resource.',
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
    `Caller: appid=${claims.appid};oid=${claims.oid};iss=${claims.iss}`,
    `Action: 'Microsoft.KeyVault/vaults/secrets/${action}'`,
    `Resource: '${req.origin}'`,
    'Assignment: (not found)',
    'DenyAssignmentId: null',
    'DecisionReason: null ',
    `Vault: ${new URL(req.origin).host};location=sandbox`,
    '',
  ].join('\r\n');
  return kvError(403, 'Forbidden', message, 'ForbiddenByRbac');
}

interface Operation {
  action: string;
  needs: Access;
}

const OPERATIONS = {
  get: { action: 'getSecret/action', needs: 'read' },
  list: { action: 'readMetadata/action', needs: 'read' },
  set: { action: 'setSecret/action', needs: 'readwrite' },
  update: { action: 'writeMetadata/action', needs: 'readwrite' },
  delete: { action: 'delete', needs: 'readwrite' },
  recover: { action: 'recover/action', needs: 'readwrite' },
  purge: { action: 'deletedSecrets/purge/action', needs: 'readwrite' },
} satisfies Record<string, Operation>;

function allowed(state: SandboxState, claims: TokenClaims, op: Operation): boolean {
  const access = state.keyVaultAccess[claims.oid];
  if (!access) return false;
  return op.needs === 'read' || access === 'readwrite';
}

// ---- the service --------------------------------------------------------------------------------

function findSecret(state: SandboxState, name: string): SecretRecord | undefined {
  const lower = name.toLowerCase();
  return state.secrets.find((s) => s.name.toLowerCase() === lower);
}

/** Soft-deleted secrets past their retention are purged lazily, by the virtual clock. */
function purgeExpiredDeletions(state: SandboxState): void {
  const cutoff = nowSeconds(state) - RECOVERABLE_DAYS * 24 * 3600;
  state.secrets = state.secrets.filter((s) => s.deletedDate === null || s.deletedDate > cutoff);
}

function newVersionId(): string {
  return randomBytes(16).toString('hex');
}

/** The Key Vault server's request handler. */
export function createKeyVaultService(deps: ServiceDeps): ServiceHandler {
  return (req) => {
    const { state } = deps;
    if (!req.query.get('api-version')) {
      return kvError(400, 'BadParameter', 'The api-version query parameter must be present.');
    }
    // The SDK's first request carries no token and an empty body: answer the challenge.
    const claims = deps.authenticate(req, [KEY_VAULT_RESOURCE], (reason) =>
      unauthorized(state, req.headers['authorization'] ? `AKV10022: ${reason}` : 'AKV10000: Request is missing a Bearer or PoP token.'),
    );
    if (isResponse(claims)) return claims;
    purgeExpiredDeletions(state);

    const segments = req.path.split('/').filter((s) => s !== '');
    const [collection, name, third, fourth] = segments;
    const vault = req.origin;
    const guard = (op: Operation): SandboxResponse | undefined =>
      allowed(state, claims, op) ? undefined : forbiddenByRbac(req, claims, op.action);
    if (name !== undefined && !SECRET_NAME.test(name)) {
      return kvError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    }

    if (collection === 'secrets') {
      // GET /secrets
      if (name === undefined) {
        if (req.method !== 'GET') return methodNotAllowed();
        const denied = guard(OPERATIONS.list);
        if (denied) return denied;
        const items = state.secrets
          .filter((s) => s.deletedDate === null)
          .map((s) => {
            const v = currentVersion(s);
            return { id: `${vault}/secrets/${s.name}`, ...optional(v), attributes: attributesOf(v) };
          });
        return page(req, items);
      }
      const secret = findSecret(state, name);
      const live = secret && secret.deletedDate === null ? secret : undefined;

      // GET /secrets/{name}/versions
      if (third === 'versions' && fourth === undefined) {
        if (req.method !== 'GET') return methodNotAllowed();
        const denied = guard(OPERATIONS.list);
        if (denied) return denied;
        if (!live) return secretNotFound(name);
        const items = live.versions.map((v) => ({ id: `${vault}/secrets/${live.name}/${v.version}`, ...optional(v), attributes: attributesOf(v) }));
        return page(req, items);
      }
      if (fourth !== undefined) return notEmulated(req);

      switch (req.method) {
        case 'PUT': {
          if (third !== undefined) return methodNotAllowed();
          const denied = guard(OPERATIONS.set);
          if (denied) return denied;
          const body = parseJson(req, setSecretSchema);
          if (isResponse(body)) return body;
          if (body.value.length > MAX_VALUE_LENGTH) return kvError(400, 'BadParameter', 'The secret value is longer than 25 KB.');
          const tagProblem = checkTags(body.tags);
          if (tagProblem) return tagProblem;
          if (secret && secret.deletedDate !== null) {
            return kvError(
              409,
              'Conflict',
              `Secret ${secret.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
              'ObjectIsDeletedButRecoverable',
            );
          }
          const now = nowSeconds(state);
          const version: SecretVersionRecord = {
            version: newVersionId(),
            value: body.value,
            contentType: body.contentType ?? null,
            tags: { ...(body.tags ?? {}) },
            enabled: body.attributes?.enabled ?? true,
            nbf: body.attributes?.nbf ?? null,
            exp: body.attributes?.exp ?? null,
            created: now,
            updated: now,
          };
          let target = secret;
          if (!target) {
            target = { name, versions: [], deletedDate: null };
            state.secrets.push(target);
          }
          target.versions.push(version);
          return { status: 200, body: bundle(vault, target, version, true) };
        }
        case 'GET': {
          const denied = guard(OPERATIONS.get);
          if (denied) return denied;
          if (!live) return secretNotFound(name, third);
          const v = third === undefined || third === '' ? currentVersion(live) : live.versions.find((x) => x.version === third);
          if (!v) return secretNotFound(name, third);
          if (!v.enabled) return kvError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
          return { status: 200, body: bundle(vault, live, v, true) };
        }
        case 'PATCH': {
          const denied = guard(OPERATIONS.update);
          if (denied) return denied;
          if (!live) return secretNotFound(name, third);
          const v = third === undefined || third === '' ? currentVersion(live) : live.versions.find((x) => x.version === third);
          if (!v) return secretNotFound(name, third);
          const body = parseJson(req, updateSecretSchema);
          if (isResponse(body)) return body;
          const tagProblem = checkTags(body.tags);
          if (tagProblem) return tagProblem;
          if (body.contentType !== undefined) v.contentType = body.contentType;
          if (body.tags !== undefined) v.tags = { ...(body.tags ?? {}) };
          const a = body.attributes;
          if (a) {
            if (a.enabled !== undefined) v.enabled = a.enabled;
            if (a.nbf !== undefined) v.nbf = a.nbf;
            if (a.exp !== undefined) v.exp = a.exp;
          }
          v.updated = nowSeconds(state);
          return { status: 200, body: bundle(vault, live, v, false) };
        }
        case 'DELETE': {
          if (third !== undefined) return methodNotAllowed();
          const denied = guard(OPERATIONS.delete);
          if (denied) return denied;
          if (!live) return secretNotFound(name);
          live.deletedDate = nowSeconds(state);
          return { status: 200, body: deletedBundle(vault, live) };
        }
        default:
          return methodNotAllowed();
      }
    }

    if (collection === 'deletedsecrets') {
      if (name === undefined) {
        if (req.method !== 'GET') return methodNotAllowed();
        const denied = guard(OPERATIONS.list);
        if (denied) return denied;
        return page(
          req,
          state.secrets.filter((s) => s.deletedDate !== null).map((s) => {
            const full = deletedBundle(vault, s);
            return { ...full, id: `${vault}/secrets/${s.name}` };
          }),
        );
      }
      const secret = findSecret(state, name);
      const deleted = secret && secret.deletedDate !== null ? secret : undefined;
      if (third === 'recover' && fourth === undefined) {
        if (req.method !== 'POST') return methodNotAllowed();
        const denied = guard(OPERATIONS.recover);
        if (denied) return denied;
        if (!deleted) return deletedSecretNotFound(name);
        deleted.deletedDate = null;
        return { status: 200, body: bundle(vault, deleted, currentVersion(deleted), false) };
      }
      if (third !== undefined) return notEmulated(req);
      if (req.method === 'GET') {
        const denied = guard(OPERATIONS.list);
        if (denied) return denied;
        if (!deleted) return deletedSecretNotFound(name);
        return { status: 200, body: deletedBundle(vault, deleted) };
      }
      if (req.method === 'DELETE') {
        const denied = guard(OPERATIONS.purge);
        if (denied) return denied;
        if (!deleted) return deletedSecretNotFound(name);
        state.secrets = state.secrets.filter((s) => s !== deleted);
        return { status: 204, body: undefined };
      }
      return methodNotAllowed();
    }
    return notEmulated(req);
  };
}

function methodNotAllowed(): SandboxResponse {
  return kvError(405, 'MethodNotAllowed', 'The requested method is not supported on this resource.');
}

function notEmulated(req: SandboxRequest): SandboxResponse {
  return kvError(404, 'NotFound', `The sandbox vault does not emulate ${req.method} ${req.path} (request ${randomUUID()}).`);
}
