/**
 * Workload identity federation at the token endpoint: a client assertion presented for an application
 * is matched against the application's federated identity credentials (issuer, then subject, then
 * audience, each compared exactly), then its signature and lifetime are checked. The only issuer the
 * sandbox can verify is itself, so the assertion is in practice a managed identity token for
 * `api://AzureADTokenExchange` (https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity).
 *
 * Error codes: AADSTS70021 is documented (no matching record, also while a new credential
 * propagates); 700211/700212/700213 (issuer/audience/subject), 700024 (time range) and 700226 (non-MSI
 * Entra token) are as observed in public reports. 50027 (malformed) and 50013 (signature) are the
 * sandbox's choice for cases Microsoft does not document for this flow.
 */
import type { SandboxDeps } from './deps';
import type { ApplicationRecord, FederatedIdentityCredentialRecord, TokenClaims } from './types';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The audience of managed identity tokens used as federated credentials in the global cloud. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
const FIC_HELP = 'Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

export interface AssertionRefusal {
  status: number;
  error: string;
  code: number;
  description: string;
}

function refuse(code: number, description: string, status = 401, error = 'invalid_client'): AssertionRefusal {
  return { status, error, code, description };
}

function unverifiedClaims(assertion: string): Partial<TokenClaims> | undefined {
  const parts = assertion.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** Matches and verifies `assertion` for `app`; the matching credential, or Entra's refusal. */
export function matchFederatedAssertion(
  deps: SandboxDeps,
  app: ApplicationRecord,
  assertion: string,
): { credential: FederatedIdentityCredentialRecord } | AssertionRefusal {
  const { state } = deps;
  const claims = unverifiedClaims(assertion);
  if (!claims || typeof claims.iss !== 'string' || typeof claims.sub !== 'string' || typeof claims.aud !== 'string') {
    return refuse(50027, 'JWT token is invalid or malformed.', 400, 'invalid_request');
  }
  const { iss, sub, aud } = claims;
  const now = state.now();
  const propagated = (app.federatedIdentityCredentials ?? []).filter((f) => now >= f.usableFrom);
  if (propagated.length === 0) {
    return refuse(
      70021,
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${aud}'. ${FIC_HELP}`,
    );
  }
  const byIssuer = propagated.filter((f) => f.issuer === iss);
  if (byIssuer.length === 0) return refuse(700211, `No matching federated identity record found for presented assertion issuer '${iss}'. ${FIC_HELP}`);
  const bySubject = byIssuer.filter((f) => f.subject === sub);
  if (bySubject.length === 0) {
    return refuse(
      700213,
      `No matching federated identity record found for presented assertion subject '${sub}'. Please note that the matching is done using a case-sensitive comparison. ${FIC_HELP}`,
    );
  }
  const credential = bySubject.find((f) => f.audiences.includes(aud));
  if (!credential) return refuse(700212, `No matching federated identity record found for presented assertion audience '${aud}'. ${FIC_HELP}`);

  const verified = deps.verifyIssuedToken(assertion);
  if ('reason' in verified) {
    if (verified.kind === 'lifetime') return refuse(700024, 'Client assertion is not within its valid time range.');
    return refuse(50013, 'Assertion failed signature validation.');
  }
  // An Entra-issued assertion must be a managed identity's app-only token.
  const issuerTenant = state.tenants.find((t) => `${state.serviceUrls.authorityHost}/${t.tenantId}/v2.0` === iss);
  if (issuerTenant) {
    if (verified.claims.idtyp !== 'app') {
      return refuse(700229, 'ForbiddenTokenType - Only app-only tokens can be used as Federated Identity Credentials for Microsoft Entra issuer.');
    }
    const principal = issuerTenant.findServicePrincipalById(verified.claims.oid);
    if (principal?.servicePrincipalType !== 'ManagedIdentity') {
      return refuse(700226, 'Only MSI tokens may be used as Federated Identity Credentials for AAD issuer.');
    }
  }
  return { credential };
}
