/**
 * The sandbox's token authority: signs RS256 access tokens the way Entra's v2 endpoint does, publishes
 * the key as JWKS, and verifies tokens coming back to the emulated resources (Graph, Key Vault, F&O).
 */
import { generateKeyPairSync, createSign, createVerify, randomUUID, type KeyObject } from 'node:crypto';
import type { TokenClaims } from './types';

function b64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

export interface IssueTokenInput {
  audience: string;
  issuer: string;
  tenantId: string;
  appId: string;
  servicePrincipalId: string;
  roles: string[];
  /** Virtual now, epoch ms. */
  now: number;
  lifetimeSeconds: number;
}

export class TokenAuthority {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly keyId = randomUUID();
  /** Tokens whose signature was verified (bounded). */
  readonly #verified = new Set<string>();

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }

  issue(input: IssueTokenInput): { token: string; claims: TokenClaims } {
    const iat = Math.floor(input.now / 1000);
    const claims: TokenClaims = {
      aud: input.audience,
      iss: input.issuer,
      tid: input.tenantId,
      appid: input.appId,
      azp: input.appId,
      oid: input.servicePrincipalId,
      sub: input.servicePrincipalId,
      idtyp: 'app',
      ...(input.roles.length > 0 ? { roles: [...input.roles] } : {}),
      iat,
      nbf: iat - 300,
      exp: iat + input.lifetimeSeconds,
    };
    const header = { typ: 'JWT', alg: 'RS256', kid: this.keyId };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(this.privateKey);
    return { token: `${signingInput}.${b64url(signature)}`, claims };
  }

  /**
   * Verifies signature and lifetime against the virtual clock. Returns the claims, or a reason
   * (used in the 401 body) when the token is not acceptable.
   */
  verify(token: string, nowMs: number): { claims: TokenClaims } | { reason: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { reason: 'The access token is malformed.' };
    const [h, p, s] = parts as [string, string, string];
    // A client presents the same token until it expires: its signature is checked once (lifetime every time).
    if (!this.#verified.has(token)) {
      const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(this.publicKey, Buffer.from(s, 'base64url'));
      if (!ok) return { reason: 'The access token signature is invalid.' };
      if (this.#verified.size >= 10_000) this.#verified.clear();
      this.#verified.add(token);
    }
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { reason: 'The access token payload is malformed.' };
    }
    const now = Math.floor(nowMs / 1000);
    if (claims.exp <= now) return { reason: 'Lifetime validation failed, the token is expired.' };
    if (claims.nbf > now) return { reason: 'Lifetime validation failed, the token is not yet valid.' };
    return { claims };
  }

  jwks(): { keys: unknown[] } {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ ...jwk, kid: this.keyId, use: 'sig', alg: 'RS256' }] };
  }
}

/** Reads the bearer token out of an Authorization header value. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
  return m?.[1];
}
