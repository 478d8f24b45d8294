/**
 * What every emulated service receives from the sandbox server: the shared state, the token
 * authority, and bearer-token authentication with the service's own 401 body. Also the one place
 * that issues access tokens, so token lifetimes stay coherent with the SDKs' token caches.
 */
import type { SandboxState } from './state';
import { bearerToken, type TokenAuthority } from './tokens';
import type { SandboxRequest, SandboxResponse, TokenClaims } from './types';

/** Resource URIs of the emulated services as Entra names them (token `aud`). */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
/** Access tokens live 3599 s, as Entra's client credential and managed identity tokens do. */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 3599;

export interface ServiceDeps {
  state: SandboxState;
  authority: TokenAuthority;
  /**
   * Verifies the bearer token for one of `audiences` (exact match, trailing slash ignored) and for a
   * tenant the service serves: Graph serves every tenant (the token's `tid` picks the directory), an
   * F&O environment its own tenant, everything else the home tenant. Returns the claims, or the 401
   * response the service must send (its error body built by `unauthorized`).
   */
  authenticate(
    req: SandboxRequest,
    audiences: string[],
    unauthorized: (reason: string) => SandboxResponse,
  ): TokenClaims | SandboxResponse;
}

export interface AccessTokenInput {
  /** Token `aud`. */
  audience: string;
  /** Token `iss`, e.g. `https://localhost:8441/{tenant}/v2.0`. */
  issuer: string;
  appId: string;
  servicePrincipalId: string;
  roles: string[];
  /** Token `tid` (default the home tenant). */
  tenantId?: string;
}

/** The deps the sandbox's own Entra service needs on top of `ServiceDeps`. */
export interface SandboxDeps extends ServiceDeps {
  issueAccessToken(input: AccessTokenInput): { token: string; claims: TokenClaims };
  /**
   * Verifies a token this sandbox issued (signature, then lifetime on the clock it was issued
   * against): how Entra checks a managed identity token presented as a client assertion.
   */
  verifyIssuedToken(token: string): { claims: TokenClaims } | { reason: string; kind: 'signature' | 'malformed' | 'lifetime' };
}

/** Tells a response produced by `authenticate` apart from token claims. */
export function isResponse(x: unknown): x is SandboxResponse {
  return typeof x === 'object' && x !== null && typeof (x as { status?: unknown }).status === 'number' && !('aud' in x);
}

function withoutTrailingSlash(value: string): string {
  return value.replace(/\/+$/, '');
}

/** Which tenants' tokens a service accepts (see `ServiceDeps.authenticate`). */
function servesTenant(state: SandboxState, req: SandboxRequest, tid: string): boolean {
  if (req.service === 'graph') return state.tenant(tid) !== undefined;
  if (req.service === 'finops') {
    const env =
      req.environmentId !== undefined
        ? state.finops.find((e) => e.id === req.environmentId)
        : state.finops.find((e) => withoutTrailingSlash(e.url) === withoutTrailingSlash(req.origin));
    return env !== undefined && env.tenantId === tid;
  }
  return tid === state.tenantId;
}

/** Token ledger entries older than this (real time) are dropped; tokens live an hour. */
const LEDGER_RETENTION_MS = 2 * 3600 * 1000;

/**
 * Builds the deps shared by all services of one sandbox.
 *
 * Tokens carry virtual-clock claims (`iat`, `exp`), but the SDKs cache them by the real clock. If a
 * resource judged a token by the virtual clock, `POST /clock {advance: "P30D"}` would leave every
 * cached token dead while the SDK keeps sending it (they do not refresh on 401). So a token's
 * lifetime is measured in real elapsed time since issuance: the ledger remembers the virtual-clock
 * offset at issuance and verification replays the real clock with that offset.
 */
export function createServiceDeps(state: SandboxState, authority: TokenAuthority): SandboxDeps {
  const ledger = new Map<string, { offsetMs: number; issuedAtMs: number }>();

  function prune(nowMs: number): void {
    if (ledger.size < 5000) return;
    for (const [token, entry] of ledger) {
      if (nowMs - entry.issuedAtMs > LEDGER_RETENTION_MS) ledger.delete(token);
    }
  }

  return {
    state,
    authority,
    issueAccessToken(input) {
      const realNow = Date.now();
      const virtualNow = state.now();
      const issued = authority.issue({
        audience: input.audience,
        issuer: input.issuer,
        tenantId: input.tenantId ?? state.tenantId,
        appId: input.appId,
        servicePrincipalId: input.servicePrincipalId,
        roles: input.roles,
        now: virtualNow,
        lifetimeSeconds: ACCESS_TOKEN_LIFETIME_SECONDS,
      });
      prune(realNow);
      ledger.set(issued.token, { offsetMs: virtualNow - realNow, issuedAtMs: realNow });
      return issued;
    },
    verifyIssuedToken(token) {
      const entry = ledger.get(token);
      const verifyAt = entry ? Date.now() + entry.offsetMs : state.now();
      const verified = authority.verify(token, verifyAt);
      if (!('reason' in verified)) return verified;
      const kind = /signature/.test(verified.reason) ? 'signature' : /Lifetime/.test(verified.reason) ? 'lifetime' : 'malformed';
      return { reason: verified.reason, kind };
    },
    authenticate(req, audiences, unauthorized) {
      const token = bearerToken(req.headers['authorization']);
      if (!token) return unauthorized('The request carries no bearer token.');
      const entry = ledger.get(token);
      const verifyAt = entry ? Date.now() + entry.offsetMs : state.now();
      const verified = authority.verify(token, verifyAt);
      if ('reason' in verified) return unauthorized(verified.reason);
      const { claims } = verified;
      if (!servesTenant(state, req, claims.tid)) return unauthorized(`The token was issued for tenant '${claims.tid}', not this one.`);
      const wanted = audiences.map(withoutTrailingSlash);
      if (!wanted.includes(withoutTrailingSlash(claims.aud))) {
        return unauthorized(`The token audience '${claims.aud}' is not valid here.`);
      }
      return claims;
    },
  };
}
