/**
 * Plumbing shared by the emulated Graph endpoints: the per-request context, Graph's error body,
 * JSON body parsing, the small OData query subset ($filter eq/and, $top with nextLink, $select),
 * replication-lag visibility and ownership checks, and the wire views of directory objects.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { SandboxState } from './state';
import type { TenantDirectory } from './tenants';
import type {
  ApplicationRecord,
  AppRoleAssignmentRecord,
  OAuth2PermissionGrantRecord,
  PasswordCredentialRecord,
  SandboxRequest,
  SandboxResponse,
  ServicePrincipalRecord,
  TokenClaims,
  UserRecord,
} from './types';

export const GRAPH_VERSION_PREFIX = '/v1.0';
export const GRAPH_BETA_PREFIX = '/beta';

export type GraphVersion = 'v1.0' | 'beta';

export interface GraphContext {
  req: SandboxRequest;
  state: SandboxState;
  /** The tenant the caller's token was issued in (`tid`): the directory this request acts on. */
  tenant: TenantDirectory;
  claims: TokenClaims;
  requestId: string;
  clientRequestId: string;
  /** `{origin}/v1.0` or `{origin}/beta`: base of `@odata.context` and `@odata.nextLink`. */
  serviceRoot: string;
  version: GraphVersion;
}

export function header(req: SandboxRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.toLowerCase() === wanted && v !== undefined) return v;
  }
  return undefined;
}

export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

export function requestIdsOf(req: SandboxRequest): RequestIds {
  const requestId = randomUUID();
  return { requestId, clientRequestId: header(req, 'client-request-id') ?? requestId };
}

export function responseHeaders(ids: RequestIds): Record<string, string> {
  return { 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId };
}

/** Graph writes `innerError.date` as a UTC timestamp without fraction or zone. */
function errorDate(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 19);
}

export interface GraphErrorExtra {
  details?: Array<{ code: string; message: string; target?: string }>;
  headers?: Record<string, string>;
}

export function graphErrorResponse(
  ids: RequestIds,
  nowMs: number,
  status: number,
  code: string,
  message: string,
  extra: GraphErrorExtra = {},
): SandboxResponse {
  return {
    status,
    headers: { ...responseHeaders(ids), ...(extra.headers ?? {}) },
    body: {
      error: {
        code,
        message,
        ...(extra.details ? { details: extra.details } : {}),
        innerError: { date: errorDate(nowMs), 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId },
      },
    },
  };
}

export function fail(ctx: GraphContext, status: number, code: string, message: string, extra?: GraphErrorExtra): SandboxResponse {
  return graphErrorResponse(ctx, ctx.state.now(), status, code, message, extra);
}

export function ok(ctx: GraphContext, status: number, body?: unknown, headers: Record<string, string> = {}): SandboxResponse {
  return { status, headers: { ...responseHeaders(ctx), ...headers }, ...(body === undefined ? {} : { body }) };
}

export function insufficientPrivileges(ctx: GraphContext): SandboxResponse {
  return fail(ctx, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
}

export function methodNotAllowed(ctx: GraphContext): SandboxResponse {
  return fail(ctx, 405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
}

export function resourceNotFound(ctx: GraphContext, key: string): SandboxResponse {
  return fail(
    ctx,
    404,
    'Request_ResourceNotFound',
    `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
  );
}

/** Parses the JSON body with a schema; the error names the first offending property. */
export function parseBody<T>(ctx: GraphContext, schema: z.ZodType<T>): { value: T } | { response: SandboxResponse } {
  let raw: unknown;
  try {
    const text = ctx.req.body.toString('utf8');
    raw = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    return {
      response: fail(
        ctx,
        400,
        'BadRequest',
        'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
      ),
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'body';
    const message =
      issue?.code === 'unrecognized_keys'
        ? `Property '${issue.keys.join("', '")}' does not exist on the target type.`
        : `Invalid value specified for property '${where}': ${issue?.message ?? 'invalid'}.`;
    return { response: fail(ctx, 400, 'Request_BadRequest', message) };
  }
  return { value: parsed.data };
}

// ---- replication lag and ownership -------------------------------------------------------------

/** A fresh object is invisible to reads by id until Entra's replicas have caught up. */
export function isVisible(state: SandboxState, record: { visibleFrom: number }): boolean {
  return state.now() >= record.visibleFrom;
}

export function ownsApplication(claims: TokenClaims, app: ApplicationRecord): boolean {
  return app.owners.includes(claims.oid);
}

export function ownsServicePrincipal(claims: TokenClaims, sp: ServicePrincipalRecord): boolean {
  return (sp.owners ?? []).includes(claims.oid);
}

/** Directory ids Graph hands out for assignments and grants are 43-character base64url strings. */
export function newOpaqueId(): string {
  return randomBytes(32).toString('base64url');
}

// ---- OData key segments --------------------------------------------------------------------------

export interface Segment {
  name: string;
  /** `name(prop='value')` alternate key, e.g. `applications(uniqueName='x')`. */
  altKey?: { property: string; value: string };
}

/** Splits a decoded path into segments, keeping `/` inside quoted key values. */
export function splitSegments(path: string): Segment[] | undefined {
  const parts: string[] = [];
  let current = '';
  let inQuote = false;
  for (const ch of path) {
    if (ch === "'") inQuote = !inQuote;
    if (ch === '/' && !inQuote) {
      if (current !== '') parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current !== '') parts.push(current);
  const segments: Segment[] = [];
  for (const part of parts) {
    const m = /^([^()]+)\(\s*([A-Za-z]+)\s*=\s*'((?:[^']|'')*)'\s*\)$/.exec(part);
    if (m) {
      segments.push({ name: m[1] as string, altKey: { property: m[2] as string, value: (m[3] as string).replace(/''/g, "'") } });
    } else if (/[()]/.test(part)) {
      // `applications('id')` is also valid OData addressing by key.
      const k = /^([^()]+)\('((?:[^']|'')*)'\)$/.exec(part);
      if (!k) return undefined;
      segments.push({ name: k[1] as string }, { name: (k[2] as string).replace(/''/g, "'") });
    } else {
      segments.push({ name: part });
    }
  }
  return segments;
}

// ---- $filter / $top / $select ----------------------------------------------------------------------

export interface FilterClause {
  property: string;
  value: string | number | boolean | null;
}

/** Parses `prop eq value [and prop eq value]*`; anything else is unsupported here (as in much of Graph). */
export function parseFilter(text: string): FilterClause[] | { unsupported: string } {
  const clauses: FilterClause[] = [];
  let rest = text.trim();
  const clause = /^([A-Za-z][A-Za-z0-9_]*)\s+eq\s+('(?:[^']|'')*'|[^\s()']+)\s*/i;
  while (rest.length > 0) {
    const m = clause.exec(rest);
    if (!m) return { unsupported: rest };
    const property = m[1] as string;
    const literal = m[2] as string;
    let value: FilterClause['value'];
    if (literal.startsWith("'")) value = literal.slice(1, -1).replace(/''/g, "'");
    else if (literal === 'null') value = null;
    else if (literal === 'true' || literal === 'false') value = literal === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(literal)) value = Number(literal);
    else value = literal; // unquoted GUIDs are tolerated
    clauses.push({ property, value });
    rest = rest.slice(m[0].length);
    if (rest.length === 0) break;
    const and = /^and\s+/i.exec(rest);
    if (!and) return { unsupported: rest };
    rest = rest.slice(and[0].length);
  }
  return clauses;
}

function matches(item: Record<string, unknown>, clause: FilterClause): boolean {
  const actual = item[clause.property];
  if (typeof actual === 'string' && typeof clause.value === 'string') return actual.toLowerCase() === clause.value.toLowerCase();
  return actual === clause.value;
}

/** `$select` keeps the named properties; annotations such as `@odata.type` stay. */
export function project(item: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
  if (!select) return item;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) if (key.startsWith('@odata.')) out[key] = value;
  for (const key of select) if (key in item) out[key] = item[key];
  return out;
}

export function selectOf(ctx: GraphContext): string[] | undefined {
  const raw = ctx.req.query.get('$select');
  if (!raw) return undefined;
  return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * The absolute `@odata.nextLink` of the page starting at `offset`: the request's own query with a
 * `$skiptoken`, written as Graph writes it (`$` kept, spaces as `%20`).
 */
export function nextLink(ctx: GraphContext, offset: number): string {
  const query = new URLSearchParams(ctx.req.query);
  query.set('$skiptoken', Buffer.from(String(offset)).toString('base64url'));
  const encoded = [...query.entries()].map(([k, v]) => `${encodeURIComponent(k).replace(/%24/g, '$')}=${encodeURIComponent(v)}`).join('&');
  const rawPath = ctx.req.rawPath.split('?')[0] ?? ctx.req.rawPath;
  return `${ctx.req.origin}${rawPath}?${encoded}`;
}

/** A single entity with `@odata.context`, honouring `$select`. */
export function entity(ctx: GraphContext, entitySet: string, item: Record<string, unknown>, status = 200): SandboxResponse {
  const select = selectOf(ctx);
  const context = select
    ? `${ctx.serviceRoot}/$metadata#${entitySet}(${select.join(',')})/$entity`
    : `${ctx.serviceRoot}/$metadata#${entitySet}/$entity`;
  return ok(ctx, status, { '@odata.context': context, ...project(item, select) });
}

/**
 * A collection answer: applies `$filter` (on the wire view), `$top` with a `$skiptoken` nextLink, and
 * `$select`. `resource` names the entity type in Graph's unsupported-filter message.
 */
export function collection(
  ctx: GraphContext,
  contextPath: string,
  resource: string,
  items: Array<Record<string, unknown>>,
): SandboxResponse {
  let filtered = items;
  const filterText = ctx.req.query.get('$filter');
  if (filterText) {
    const clauses = parseFilter(filterText);
    if (!Array.isArray(clauses)) {
      return fail(ctx, 400, 'Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified for resource '${resource}': '${clauses.unsupported}'.`);
    }
    for (const c of clauses) {
      if (!items.every((i) => c.property in i) && items.length > 0) {
        return fail(ctx, 400, 'Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified for property '${c.property}' of resource '${resource}'.`);
      }
    }
    filtered = items.filter((i) => clauses.every((c) => matches(i, c)));
  }
  const topText = ctx.req.query.get('$top');
  let top: number | undefined;
  if (topText !== null) {
    top = Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > 999) {
      return fail(ctx, 400, 'Request_BadRequest', `Invalid page size specified: '${topText}'. Must be between 1 and 999 inclusive.`);
    }
  }
  const skipText = ctx.req.query.get('$skiptoken');
  let offset = 0;
  if (skipText !== null) {
    offset = Number(Buffer.from(skipText, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) return fail(ctx, 400, 'Request_BadRequest', 'The specified page token value has expired and can no longer be included in your request.');
  }
  const end = top === undefined ? filtered.length : offset + top;
  const select = selectOf(ctx);
  const body: Record<string, unknown> = {
    '@odata.context': select ? `${ctx.serviceRoot}/$metadata#${contextPath}(${select.join(',')})` : `${ctx.serviceRoot}/$metadata#${contextPath}`,
  };
  if (end < filtered.length) body['@odata.nextLink'] = nextLink(ctx, end);
  body.value = filtered.slice(offset, end).map((i) => project(i, select));
  return ok(ctx, 200, body);
}

// ---- wire views ----------------------------------------------------------------------------------

export function applicationView(tenant: TenantDirectory, app: ApplicationRecord): Record<string, unknown> {
  return {
    id: app.id,
    deletedDateTime: null,
    appId: app.appId,
    uniqueName: app.uniqueName,
    displayName: app.displayName,
    description: app.description,
    notes: app.notes,
    signInAudience: app.signInAudience,
    publisherDomain: tenant.verifiedDomain,
    servicePrincipalLockConfiguration: app.servicePrincipalLockConfiguration ? { ...app.servicePrincipalLockConfiguration } : null,
    createdDateTime: app.createdDateTime,
    tags: [...app.tags],
    identifierUris: [],
    requiredResourceAccess: app.requiredResourceAccess.map((r) => ({
      resourceAppId: r.resourceAppId,
      resourceAccess: r.resourceAccess.map((a) => ({ id: a.id, type: a.type })),
    })),
    keyCredentials: [],
    passwordCredentials: app.passwordCredentials.map(passwordCredentialView),
    web: { redirectUris: [...(app.webRedirectUris ?? [])] },
  };
}

export function passwordCredentialView(c: PasswordCredentialRecord): Record<string, unknown> {
  return {
    customKeyIdentifier: c.customKeyIdentifier,
    displayName: c.displayName,
    endDateTime: c.endDateTime,
    hint: c.hint,
    keyId: c.keyId,
    secretText: null,
    startDateTime: c.startDateTime,
  };
}

export function servicePrincipalView(state: SandboxState, sp: ServicePrincipalRecord): Record<string, unknown> {
  const found = state.findApplicationAnywhere(sp.appId);
  const app = found?.app;
  return {
    id: sp.id,
    deletedDateTime: null,
    accountEnabled: true,
    appId: sp.appId,
    appDisplayName: app ? app.displayName : sp.displayName,
    appOwnerOrganizationId: found ? found.tenant.tenantId : null,
    displayName: sp.displayName,
    servicePrincipalType: sp.servicePrincipalType,
    servicePrincipalNames: [sp.appId],
    signInAudience: app ? app.signInAudience : 'AzureADMultipleOrgs',
    tags: [],
    appRoles: sp.appRoles.map((r) => ({ ...r, allowedMemberTypes: [...r.allowedMemberTypes] })),
    oauth2PermissionScopes: sp.oauth2PermissionScopes.map((s) => ({ ...s })),
    keyCredentials: [],
    passwordCredentials: (sp.passwordCredentials ?? []).map(passwordCredentialView),
  };
}

export function appRoleAssignmentView(a: AppRoleAssignmentRecord): Record<string, unknown> {
  return { ...a };
}

export function grantView(g: OAuth2PermissionGrantRecord): Record<string, unknown> {
  return { ...g };
}

export function userView(u: UserRecord): Record<string, unknown> {
  return { id: u.id, displayName: u.displayName, mail: u.mail, userPrincipalName: u.userPrincipalName };
}

/** A directory object as a navigation property lists it (`owners`): its `@odata.type` tells users and service principals apart. */
export function directoryObjectView(tenant: TenantDirectory, id: string): Record<string, unknown> | undefined {
  const sp = tenant.findServicePrincipalById(id);
  if (sp) {
    return {
      '@odata.type': '#microsoft.graph.servicePrincipal',
      id: sp.id,
      appId: sp.appId,
      displayName: sp.displayName,
      servicePrincipalType: sp.servicePrincipalType,
    };
  }
  const user = tenant.users.find((u) => u.id === id);
  if (user) return { '@odata.type': '#microsoft.graph.user', ...userView(user) };
  return undefined;
}
