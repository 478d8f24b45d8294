/**
 * Emulated Graph sign-in evidence: beta `GET /auditLogs/signIns` (the service principal sign-in log)
 * and beta `GET /reports/appCredentialSignInActivities` (last use per credential), read from the log
 * the token endpoints write (signins.ts), after the ingestion delay.
 *
 * - signIns (https://learn.microsoft.com/en-us/graph/api/signin-list?view=graph-rest-beta): `$filter`,
 *   `$top` (at most and by default 1,000), `$skiptoken` paging through `@odata.nextLink`, newest first;
 *   `$orderby` on `createdDateTime` (the resource says it "Supports `$orderby`"); `$select` (used on
 *   beta in public scripts). "Only interactive sign-ins are returned ... unless you set an explicit
 *   filter on the signInEventType property": the sandbox has no interactive sign-ins, so an
 *   unfiltered request returns none. The filter clauses accepted are the documented ones of the beta
 *   resource (https://learn.microsoft.com/en-us/graph/api/resources/signin?view=graph-rest-beta):
 *   `signInEventTypes/any(t: t eq|ne '…')`; `eq` on appId, appDisplayName, servicePrincipalId,
 *   servicePrincipalName, resourceId, resourceDisplayName, id, correlationId, originalRequestId,
 *   ipAddress and `status/errorCode`; `startswith` on appDisplayName, servicePrincipalId,
 *   servicePrincipalName and ipAddress; `createdDateTime` with `eq`, `ge`, `le` (documented) and `lt`
 *   (used in Microsoft's own example), joined by `and`. `servicePrincipalCredentialKeyId` has no
 *   documented filter support and is refused: match keys client-side.
 *   On v1.0 the resource has no `signInEventTypes` (nor the service principal fields), so such a
 *   filter is refused there; the wording of that 400 is the sandbox's own.
 * - appCredentialSignInActivities (https://learn.microsoft.com/en-us/graph/api/reportroot-list-appcredentialsigninactivities?view=graph-rest-beta):
 *   beta only; `$filter` on `keyId eq` and `appId eq`, `$top`, `$orderby`; `/{id}`. Each password
 *   credential of the tenant's applications and service principals, with its last successful sign-in.
 *
 * Both need the tenant to hold Entra ID P1/P2, else 403
 * `Authentication_RequestFromNonPremiumTenantOrB2CTenant` ("Neither tenant is B2C or tenant doesn't
 * have premium license", https://learn.microsoft.com/en-us/entra/identity/monitoring-health/howto-analyze-activity-logs-with-microsoft-graph),
 * and the caller's permissions, else 403 `Authentication_MSGraphPermissionMissing` (observed code;
 * the sandbox's message names the permissions). The permission check comes first (an assumption).
 */
import { describeRule, reachOf, type GraphOperation } from './graph-permissions';
import { fail, nextLink, ok, project, resourceNotFound, selectOf, type GraphContext, type Segment } from './graph-support';
import { visibleSignIns } from './signins';
import type { SignInRecord } from './tenants';
import type { PasswordCredentialRecord, SandboxResponse } from './types';

const MAX_PAGE = 1000;

function guard(ctx: GraphContext, operation: GraphOperation): SandboxResponse | undefined {
  if (reachOf(ctx.claims, operation) === 'none') {
    return fail(ctx, 403, 'Authentication_MSGraphPermissionMissing', `Calling principal does not have required MSGraph permissions ${describeRule(operation).join(' or ')}.`);
  }
  if (!ctx.tenant.premiumLicense) {
    return fail(ctx, 403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant', "Neither tenant is B2C or tenant doesn't have premium license");
  }
  return undefined;
}

function invalidFilter(ctx: GraphContext, detail: string): SandboxResponse {
  // The exact wording of Graph's refusal is not documented for this resource.
  return fail(ctx, 400, 'BadRequest', `Invalid filter clause: ${detail}`);
}

// ---- the signIns $filter ------------------------------------------------------------------------------

type Predicate = (s: SignInRecord) => boolean;

const EQ_PROPERTIES: Record<string, (s: SignInRecord) => string> = {
  appId: (s) => s.appId,
  appDisplayName: (s) => s.appDisplayName,
  servicePrincipalId: (s) => s.servicePrincipalId,
  servicePrincipalName: (s) => s.servicePrincipalName,
  resourceId: (s) => s.resourceId,
  resourceDisplayName: (s) => s.resourceDisplayName,
  id: (s) => s.id,
  correlationId: (s) => s.correlationId,
  originalRequestId: (s) => s.id,
  ipAddress: (s) => s.ipAddress,
};
const STARTSWITH_PROPERTIES = new Set(['appDisplayName', 'servicePrincipalId', 'servicePrincipalName', 'ipAddress']);
const DATE_OPERATORS: Record<string, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ge: (a, b) => a >= b,
  le: (a, b) => a <= b,
  lt: (a, b) => a < b,
};
/** Properties v1.0's signIn resource does not have. */
const BETA_ONLY = /\b(signInEventTypes|servicePrincipal\w*|clientCredentialType|federatedCredentialId)\b/;

const STRING = String.raw`'((?:[^']|'')*)'`;
const CLAUSES: Array<{ pattern: RegExp; build: (m: RegExpExecArray) => Predicate | string }> = [
  {
    pattern: new RegExp(String.raw`^signInEventTypes/any\(\s*(\w+)\s*:\s*(\w+)\s+(eq|ne)\s+${STRING}\s*\)`, 'i'),
    build: (m) => {
      if (m[1] !== m[2]) return `the lambda variable '${m[2] ?? ''}' is not declared`;
      const value = (m[4] ?? '').replace(/''/g, "'");
      return m[3]?.toLowerCase() === 'eq' ? (s) => (s.signInEventTypes as string[]).includes(value) : (s) => !(s.signInEventTypes as string[]).includes(value);
    },
  },
  {
    pattern: /^createdDateTime\s+(\w+)\s+(\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))/i,
    build: (m) => {
      const op = DATE_OPERATORS[(m[1] ?? '').toLowerCase()];
      if (!op) return `the operator '${m[1] ?? ''}' is not supported on createdDateTime`;
      const at = Date.parse(m[2] ?? '');
      if (Number.isNaN(at)) return `'${m[2] ?? ''}' is not a date and time`;
      // The log keeps whole seconds, as Graph shows them.
      return (s) => op(Math.floor(s.at / 1000) * 1000, at);
    },
  },
  {
    pattern: /^status\/errorCode\s+eq\s+(-?\d+)/i,
    build: (m) => {
      const code = Number(m[1]);
      return (s) => s.errorCode === code;
    },
  },
  {
    pattern: new RegExp(String.raw`^startswith\(\s*(\w+)\s*,\s*${STRING}\s*\)`, 'i'),
    build: (m) => {
      const property = m[1] ?? '';
      const read = EQ_PROPERTIES[property];
      if (!STARTSWITH_PROPERTIES.has(property) || !read) return `startswith is not supported on '${property}'`;
      const prefix = (m[2] ?? '').replace(/''/g, "'").toLowerCase();
      return (s) => read(s).toLowerCase().startsWith(prefix);
    },
  },
  {
    pattern: new RegExp(String.raw`^(\w+)\s+eq\s+${STRING}`, 'i'),
    build: (m) => {
      const read = EQ_PROPERTIES[m[1] ?? ''];
      if (!read) return `the property '${m[1] ?? ''}' does not support filtering`;
      const value = (m[2] ?? '').replace(/''/g, "'").toLowerCase();
      return (s) => read(s).toLowerCase() === value;
    },
  },
];

interface ParsedSignInFilter {
  predicates: Predicate[];
  /** Whether a `signInEventTypes` clause is present (without one only interactive sign-ins are returned). */
  eventTypeFiltered: boolean;
}

function parseSignInFilter(text: string): ParsedSignInFilter | string {
  const predicates: Predicate[] = [];
  let eventTypeFiltered = false;
  let rest = text.trim();
  while (rest.length > 0) {
    let matched = false;
    for (const clause of CLAUSES) {
      const m = clause.pattern.exec(rest);
      if (!m) continue;
      const built = clause.build(m);
      if (typeof built === 'string') return built;
      predicates.push(built);
      if (clause === CLAUSES[0]) eventTypeFiltered = true;
      rest = rest.slice(m[0].length).trim();
      matched = true;
      break;
    }
    if (!matched) return `'${rest}' is not a supported filter clause`;
    if (rest.length === 0) break;
    const and = /^and\s+/i.exec(rest);
    if (!and) return `'${rest}' is not supported; clauses can only be joined with 'and'`;
    rest = rest.slice(and[0].length);
  }
  return { predicates, eventTypeFiltered };
}

// ---- signIns ------------------------------------------------------------------------------------------

function signInView(s: SignInRecord, tenantId: string): Record<string, unknown> {
  return {
    id: s.id,
    createdDateTime: new Date(Math.floor(s.at / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    appId: s.appId,
    appDisplayName: s.appDisplayName,
    servicePrincipalId: s.servicePrincipalId,
    servicePrincipalName: s.servicePrincipalName,
    servicePrincipalCredentialKeyId: s.servicePrincipalCredentialKeyId,
    servicePrincipalCredentialThumbprint: '',
    clientCredentialType: s.clientCredentialType,
    federatedCredentialId: s.federatedCredentialId,
    resourceId: s.resourceId,
    resourceDisplayName: s.resourceDisplayName,
    resourceServicePrincipalId: s.resourceServicePrincipalId,
    resourceTenantId: tenantId,
    homeTenantId: '',
    ipAddress: s.ipAddress,
    correlationId: s.correlationId,
    originalRequestId: s.id,
    signInEventTypes: [...s.signInEventTypes],
    isInteractive: false,
    conditionalAccessStatus: 'notApplied',
    userId: '',
    userPrincipalName: '',
    userDisplayName: '',
    status: { errorCode: s.errorCode, failureReason: s.failureReason, additionalDetails: null },
  };
}

function pageParameters(ctx: GraphContext, max: number): { top: number; offset: number } | SandboxResponse {
  const topText = ctx.req.query.get('$top');
  let top = max;
  if (topText !== null) {
    top = Number(topText);
    if (!Number.isInteger(top) || top < 1 || top > max) {
      return fail(ctx, 400, 'BadRequest', `Invalid page size specified: '${topText}'. Must be between 1 and ${max} inclusive.`);
    }
  }
  const skip = ctx.req.query.get('$skiptoken');
  let offset = 0;
  if (skip !== null) {
    offset = Number(Buffer.from(skip, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) return fail(ctx, 400, 'BadRequest', 'The specified page token value has expired and can no longer be included in your request.');
  }
  return { top, offset };
}

/** One page of `items` with an absolute nextLink carrying `$skiptoken`, honouring `$select`. */
function paged(ctx: GraphContext, contextPath: string, items: Array<Record<string, unknown>>, page: { top: number; offset: number }): SandboxResponse {
  const end = page.offset + page.top;
  const select = selectOf(ctx);
  const body: Record<string, unknown> = {
    '@odata.context': select ? `${ctx.serviceRoot}/$metadata#${contextPath}(${select.join(',')})` : `${ctx.serviceRoot}/$metadata#${contextPath}`,
  };
  if (end < items.length) body['@odata.nextLink'] = nextLink(ctx, end);
  body.value = items.slice(page.offset, end).map((i) => project(i, select));
  return ok(ctx, 200, body);
}

function listSignIns(ctx: GraphContext): SandboxResponse {
  const denied = guard(ctx, 'auditLogs.signIns.read');
  if (denied) return denied;
  const filterText = ctx.req.query.get('$filter');
  if (ctx.version === 'v1.0' && filterText !== null && BETA_ONLY.test(filterText)) {
    return invalidFilter(ctx, "the property used in the filter is not available on the signIn resource of this version; use the beta endpoint for service principal sign-ins");
  }
  const filter = filterText === null ? { predicates: [], eventTypeFiltered: false } : parseSignInFilter(filterText);
  if (typeof filter === 'string') return invalidFilter(ctx, filter);
  const order = (ctx.req.query.get('$orderby') ?? 'createdDateTime desc').trim();
  const orderMatch = /^createdDateTime(?:\s+(asc|desc))?$/i.exec(order);
  if (!orderMatch) return fail(ctx, 400, 'BadRequest', `Sorting is supported on createdDateTime only, not '${order}'.`);
  const page = pageParameters(ctx, MAX_PAGE);
  if ('status' in page) return page;
  // Without an explicit event type filter only interactive sign-ins come back, and the sandbox has none.
  const matching = filter.eventTypeFiltered ? visibleSignIns(ctx.state, ctx.tenant).filter((s) => filter.predicates.every((p) => p(s))) : [];
  const ascending = orderMatch[1]?.toLowerCase() === 'asc';
  const ordered = [...matching].sort((a, b) => (ascending ? a.at - b.at : b.at - a.at));
  return paged(ctx, 'auditLogs/signIns', ordered.map((s) => signInView(s, ctx.tenant.tenantId)), page);
}

/** Routes `/auditLogs/...`: the sign-in log only. */
export function handleAuditLogs(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  if (segments.length === 2 && segments[1]?.name === 'signIns' && !segments[1].altKey) {
    if (ctx.req.method.toUpperCase() !== 'GET') return fail(ctx, 405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
    return listSignIns(ctx);
  }
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${segments[segments.length - 1]?.name ?? ''}'.`);
}

// ---- appCredentialSignInActivities ----------------------------------------------------------------------

interface CredentialActivity {
  view: Record<string, unknown>;
  keyId: string;
  appId: string;
  createdAt: number;
  expiresAt: number;
}

function activityId(keyId: string, origin: 'application' | 'servicePrincipal'): string {
  return Buffer.from(`${keyId}|${origin}`).toString('base64');
}

function credentialActivities(ctx: GraphContext): CredentialActivity[] {
  const { tenant } = ctx;
  // The last successful use of each key, from the log Graph can see now.
  const lastUse = new Map<string, SignInRecord>();
  for (const s of visibleSignIns(ctx.state, tenant)) {
    if (s.errorCode !== 0 || s.servicePrincipalCredentialKeyId === '') continue;
    const seen = lastUse.get(s.servicePrincipalCredentialKeyId);
    if (!seen || seen.at <= s.at) lastUse.set(s.servicePrincipalCredentialKeyId, s);
  }
  const out: CredentialActivity[] = [];
  const add = (c: PasswordCredentialRecord, origin: 'application' | 'servicePrincipal', appId: string, appObjectId: string | null, spId: string | null): void => {
    const use = lastUse.get(c.keyId);
    out.push({
      keyId: c.keyId,
      appId,
      createdAt: Date.parse(c.startDateTime),
      expiresAt: Date.parse(c.endDateTime),
      view: {
        id: activityId(c.keyId, origin),
        appId,
        appObjectId,
        servicePrincipalObjectId: spId,
        keyId: c.keyId,
        keyType: 'clientSecret',
        keyUsage: 'verify',
        credentialOrigin: origin,
        resourceId: use ? use.resourceId : null,
        createdDateTime: c.startDateTime,
        expirationDateTime: c.endDateTime,
        signInActivity: use ? { lastSignInDateTime: new Date(Math.floor(use.at / 1000) * 1000).toISOString().replace('.000Z', 'Z'), lastSignInRequestId: use.id } : null,
      },
    });
  };
  for (const app of tenant.applications) {
    const sp = tenant.findServicePrincipalByAppId(app.appId);
    for (const c of app.passwordCredentials) add(c, 'application', app.appId, app.id, sp?.id ?? null);
  }
  for (const sp of tenant.servicePrincipals) {
    const app = tenant.findApplicationByAppId(sp.appId);
    for (const c of sp.passwordCredentials ?? []) add(c, 'servicePrincipal', sp.appId, app?.id ?? null, sp.id);
  }
  return out;
}

function listCredentialActivities(ctx: GraphContext, id: string | undefined): SandboxResponse {
  if (ctx.version !== 'beta') return fail(ctx, 400, 'BadRequest', "Resource not found for the segment 'appCredentialSignInActivities'.");
  const denied = guard(ctx, 'reports.credentialActivity.read');
  if (denied) return denied;
  const activities = credentialActivities(ctx);
  if (id !== undefined) {
    const one = activities.find((a) => a.view.id === id);
    return one ? ok(ctx, 200, { '@odata.context': `${ctx.serviceRoot}/$metadata#reports/appCredentialSignInActivities/$entity`, ...one.view }) : resourceNotFound(ctx, id);
  }
  let items = activities;
  const filterText = ctx.req.query.get('$filter');
  if (filterText !== null) {
    const clauses = filterText.split(/\s+and\s+/i).map((c) => /^(keyId|appId)\s+eq\s+'([^']*)'$/i.exec(c.trim()));
    if (clauses.some((c) => c === null)) return invalidFilter(ctx, `only keyId eq '…' and appId eq '…' are supported, not '${filterText}'`);
    for (const c of clauses) {
      const property = (c?.[1] ?? '').toLowerCase();
      const value = (c?.[2] ?? '').toLowerCase();
      items = items.filter((a) => (property === 'keyid' ? a.keyId : a.appId).toLowerCase() === value);
    }
  }
  const order = ctx.req.query.get('$orderby');
  if (order !== null) {
    const m = /^(createdDateTime|expirationDateTime)(?:\s+(asc|desc))?$/i.exec(order.trim());
    if (!m) return fail(ctx, 400, 'BadRequest', `Sorting is supported on createdDateTime and expirationDateTime only, not '${order}'.`);
    const byExpiry = m[1]?.toLowerCase() === 'expirationdatetime';
    const sign = m[2]?.toLowerCase() === 'desc' ? -1 : 1;
    items = [...items].sort((a, b) => sign * (byExpiry ? a.expiresAt - b.expiresAt : a.createdAt - b.createdAt));
  }
  const page = pageParameters(ctx, MAX_PAGE);
  if ('status' in page) return page;
  return paged(ctx, 'reports/appCredentialSignInActivities', items.map((a) => a.view), page);
}

/** Routes `/reports/...`: the credential sign-in activity report only. */
export function handleReports(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const second = segments[1];
  if (second?.name === 'appCredentialSignInActivities' && segments.length <= 3) {
    if (ctx.req.method.toUpperCase() !== 'GET') return fail(ctx, 405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
    const item = second.altKey?.value ?? segments[2]?.name;
    return listCredentialActivities(ctx, item);
  }
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${segments[segments.length - 1]?.name ?? ''}'.`);
}
