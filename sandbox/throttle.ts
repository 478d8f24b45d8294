/**
 * Service limits at their documented values, counted on the virtual clock and only while
 * `state.throttling` is on (`POST /settings {throttling: true}`; off by default).
 *
 * - Graph identity and access, per application and tenant: 3,500 resource units per 10 s (a small
 *   tenant, under 50 users) and 3,000 writes per 150 s; a write costs 1 RU and 1 write, a GET of
 *   `applications`, `users` or `oauth2PermissionGrants` 2 RU, other GETs 1, `$select` -1, `$top` < 20
 *   -1, never below 1 (https://learn.microsoft.com/en-us/graph/throttling-limits, "Identity and access
 *   service limits").
 * - Graph identity and access reports (`auditLogs`, `reports`): 5 requests per 10 s per application
 *   per tenant (same page, "Identity and access reports service limits").
 * - Key Vault, per vault per 10 s: 300 secret creations (`PUT /secrets/{name}`) and 4,000 of all other
 *   transactions; "Failed requests that return a 429 do not count towards the throttle limits"
 *   (https://learn.microsoft.com/en-us/azure/key-vault/general/service-limits,
 *   https://learn.microsoft.com/en-us/azure/key-vault/general/overview-throttling).
 *
 * Only admitted requests are counted, for Graph too (not documented there).
 */
import type { SandboxState } from './state';
import type { SandboxRequest, SandboxResponse, ServiceHandler } from './types';

interface Entry {
  at: number;
  cost: number;
}

/** A sliding window of admitted costs. */
class Window {
  private entries: Entry[] = [];
  private total = 0;

  constructor(
    private readonly windowMs: number,
    private readonly limit: number,
  ) {}

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.entries.length && (this.entries[drop]?.at ?? 0) <= now - this.windowMs) {
      this.total -= this.entries[drop]?.cost ?? 0;
      drop += 1;
    }
    if (drop > 0) this.entries = this.entries.slice(drop);
  }

  /** Milliseconds until `cost` fits; 0 when it fits now. */
  waitFor(now: number, cost: number): number {
    this.prune(now);
    if (this.total + cost <= this.limit) return 0;
    // The oldest entries leave first: find when enough of them have left.
    let freed = 0;
    for (const entry of this.entries) {
      freed += entry.cost;
      if (this.total - freed + cost <= this.limit) return entry.at + this.windowMs - now;
    }
    return this.windowMs;
  }

  add(now: number, cost: number): void {
    if (cost <= 0) return;
    this.entries.push({ at: now, cost });
    this.total += cost;
  }
}

export interface Quota {
  key: string;
  windowMs: number;
  limit: number;
  cost: number;
  /** Why, when this quota is the one exceeded (Graph's `x-ms-throttle-information`). */
  reason: string;
}

/** The throttling book of one sandbox: admits a request against all its quotas or says how long to wait. */
export class Throttles {
  private readonly windows = new Map<string, Window>();

  private window(q: Quota): Window {
    const id = `${q.key}|${q.windowMs}|${q.limit}`;
    let w = this.windows.get(id);
    if (!w) {
      w = new Window(q.windowMs, q.limit);
      this.windows.set(id, w);
    }
    return w;
  }

  /** Admits (and counts) the request if every quota has room; otherwise the longest wait and its reason. */
  admit(now: number, quotas: Quota[]): { waitMs: number; reason: string } | undefined {
    let worst: { waitMs: number; reason: string } | undefined;
    for (const q of quotas) {
      const waitMs = this.window(q).waitFor(now, q.cost);
      if (waitMs > 0 && (!worst || waitMs > worst.waitMs)) worst = { waitMs, reason: q.reason };
    }
    if (worst) return worst;
    for (const q of quotas) this.window(q).add(now, q.cost);
    return undefined;
  }
}

/** Retry-After in whole seconds (at least 1). */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

// ---- Graph ----------------------------------------------------------------------------------------

const GRAPH_RU_WINDOW_MS = 10_000;
const GRAPH_RU_LIMIT_SMALL_TENANT = 3_500;
const GRAPH_WRITE_WINDOW_MS = 150_000;
const GRAPH_WRITE_LIMIT = 3_000;
const REPORTS_WINDOW_MS = 10_000;
const REPORTS_LIMIT = 5;

const IDENTITY_ROOTS = new Set(['applications', 'servicePrincipals', 'oauth2PermissionGrants', 'policies', 'users', 'directoryObjects']);
const TWO_UNIT_READS = new Set(['applications', 'users', 'oauth2PermissionGrants']);
const REPORT_ROOTS = new Set(['auditLogs', 'reports']);

/**
 * The quotas a Graph request draws on, or none (mail, for instance, has its own Outlook limits the
 * sandbox does not model). `root` is the first path segment after the version; `sendMail` is not
 * an identity call even though it sits under `users`.
 */
export function graphQuotas(req: SandboxRequest, root: string, appId: string, tenantId: string): Quota[] {
  const scope = `${appId}/${tenantId}`;
  if (REPORT_ROOTS.has(root)) {
    return [{ key: `graph-reports/${scope}`, windowMs: REPORTS_WINDOW_MS, limit: REPORTS_LIMIT, cost: 1, reason: 'ResourceUnitLimitExceeded' }];
  }
  if (!IDENTITY_ROOTS.has(root) || /\/sendMail$/i.test(req.path)) return [];
  const write = req.method !== 'GET' && req.method !== 'HEAD';
  let units = write ? 1 : TWO_UNIT_READS.has(root) || /\/appRoleAssignments$/.test(req.path) ? 2 : 1;
  if (!write) {
    if (req.query.has('$select')) units -= 1;
    if (req.query.has('$expand')) units += 1;
    const top = Number(req.query.get('$top'));
    if (req.query.has('$top') && Number.isFinite(top) && top < 20) units -= 1;
  }
  const quotas: Quota[] = [
    { key: `graph-ru/${scope}`, windowMs: GRAPH_RU_WINDOW_MS, limit: GRAPH_RU_LIMIT_SMALL_TENANT, cost: Math.max(1, units), reason: 'ResourceUnitLimitExceeded' },
  ];
  if (write) quotas.push({ key: `graph-writes/${scope}`, windowMs: GRAPH_WRITE_WINDOW_MS, limit: GRAPH_WRITE_LIMIT, cost: 1, reason: 'WriteLimitExceeded' });
  return quotas;
}

// ---- Key Vault ------------------------------------------------------------------------------------

const VAULT_WINDOW_MS = 10_000;
const VAULT_CREATE_LIMIT = 300;
const VAULT_OTHER_LIMIT = 4_000;

/** Key Vault's 429 as the service words it (observed; the Retry-After is the sandbox's addition). */
function vaultThrottled(waitMs: number): SandboxResponse {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfterSeconds(waitMs)) },
    body: {
      error: {
        code: 'Throttled',
        message: 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
      },
    },
  };
}

/** Wraps the vault's handler with its per-vault limits while throttling is on. */
export function withKeyVaultThrottling(state: SandboxState, throttles: Throttles, handler: ServiceHandler): ServiceHandler {
  return (req) => {
    if (!state.throttling) return handler(req);
    const create = req.method === 'PUT' && /^\/secrets\/[^/]+\/?$/.test(req.path);
    const quota: Quota = create
      ? { key: 'vault-create', windowMs: VAULT_WINDOW_MS, limit: VAULT_CREATE_LIMIT, cost: 1, reason: 'VaultRequestTypeLimitReached' }
      : { key: 'vault-other', windowMs: VAULT_WINDOW_MS, limit: VAULT_OTHER_LIMIT, cost: 1, reason: 'VaultRequestTypeLimitReached' };
    const refused = throttles.admit(state.now(), [quota]);
    if (refused) return vaultThrottled(refused.waitMs);
    return handler(req);
  };
}
