/**
 * Typed client for Entra's service principal sign-in log over Microsoft Graph: every client-credentials
 * sign-in of an app, successful or not, with the key id of the secret it used. The product reads it as
 * evidence of which credential F&O really uses.
 *
 * Microsoft Graph reference (beta: the `signInEventTypes` filter and the service principal fields exist
 * only there): https://learn.microsoft.com/graph/api/signin-list?view=graph-rest-beta and
 * https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta
 * - `GET /beta/auditLogs/signIns?$filter=createdDateTime ge {t} and signInEventTypes/any(t: t eq
 *   'servicePrincipal') and appId eq '{appId}'`; newest first; at most 1,000 per page; `@odata.nextLink`.
 * - `servicePrincipalCredentialKeyId` has no documented filter support, so the key is matched here.
 * - Permission: `AuditLog.Read.All` and `Directory.Read.All` (a documented known issue requires both).
 * - Licence: Microsoft Entra ID P1 or P2; without it 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`
 *   (https://learn.microsoft.com/entra/identity/monitoring-health/howto-analyze-activity-logs-with-microsoft-graph).
 * - Throttling: 5 requests per 10 s per app per tenant (https://learn.microsoft.com/graph/throttling-limits,
 *   identity and access reports). One client serves one tenant and paces its requests to that limit
 *   (with a quarter second to spare for the way there), so a fleet of rotations waiting for evidence
 *   queues here instead of meeting 429s; the Graph client's retry still honours `Retry-After`.
 * Reading is optional: without the permission or the licence the answer says so instead of failing.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { Client } from '@microsoft/microsoft-graph-client';
import { z } from 'zod';
import type { EvidenceUnavailableReason } from '../contracts/evidence';
import { ServiceError, toServiceError, type ErrorContext } from './errors';
import { createGraphClient, type GraphClientOptions } from './graphClient';
import { RequestPacer } from './requestPacer';

/** One client-credentials sign-in of an app. */
export interface ServicePrincipalSignIn {
  id: string;
  /** ISO time of the sign-in. */
  at: string;
  appId: string;
  /** The key id of the credential used; null when Entra could not tell (an unknown secret). */
  keyId: string | null;
  /** 0 for success, else Entra's error code (the AADSTS number). */
  errorCode: number;
  failureReason: string | null;
}

export type SignInLogAnswer =
  | { available: true; signIns: ServicePrincipalSignIn[]; truncated: boolean }
  | { available: false; reason: EvidenceUnavailableReason; message: string };

export interface SignInLogOptions extends Omit<GraphClientOptions, 'version'> {
  /** Most sign-ins read per query (newest first); default 5,000 (five pages). */
  maxSignIns?: number;
  /** The clock Graph's limit is counted on (default real time). */
  now?: () => number;
  /** Reads allowed per 10 s (default Graph's limit, `SIGN_IN_LOG_LIMIT.requests`). */
  readsPer10s?: number;
}

/** Graph's limit for the identity and access reports, per app per tenant. */
export const SIGN_IN_LOG_LIMIT = { requests: 5, windowMs: 10_000 } as const;

const PAGE_SIZE = 1000;

const wireSignIn = z.object({
  id: z.string(),
  createdDateTime: z.string(),
  appId: z.string().nullish(),
  servicePrincipalCredentialKeyId: z.string().nullish(),
  status: z.object({ errorCode: z.number().nullish(), failureReason: z.string().nullish() }).nullish(),
});
const wirePage = z.object({ value: z.array(wireSignIn), '@odata.nextLink': z.string().nullish() });

/** A GUID as it may appear inside an OData literal; anything else is refused before a request is built. */
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export class SignInLog {
  private readonly client: Client;
  private readonly maxSignIns: number;
  private readonly pacer: RequestPacer;

  constructor(credential: TokenCredential, options: SignInLogOptions = {}) {
    const { now, maxSignIns, readsPer10s, ...graph } = options;
    this.client = createGraphClient(credential, { ...graph, version: 'beta' }).client;
    this.maxSignIns = maxSignIns ?? 5 * PAGE_SIZE;
    this.pacer = new RequestPacer({ limit: readsPer10s ?? SIGN_IN_LOG_LIMIT.requests, windowMs: SIGN_IN_LOG_LIMIT.windowMs + 250, ...(now ? { now } : {}) });
  }

  /**
   * The app's service principal sign-ins since `since`, newest first (as Graph orders them). Answers
   * `available: false` when the identity may not read sign-in logs or the tenant keeps none.
   */
  async servicePrincipalSignIns(appId: string, since: Date, options: { environmentId?: string } = {}): Promise<SignInLogAnswer> {
    const ctx: ErrorContext = {
      operation: "Read the app's sign-ins from the Entra sign-in log",
      service: 'graph',
      requiredPermission: 'AuditLog.Read.All',
      ...(options.environmentId ? { environmentId: options.environmentId } : {}),
    };
    if (!GUID.test(appId)) throw invalid(ctx, `"${appId.slice(0, 60)}" is not an application id`);
    if (Number.isNaN(since.getTime())) throw invalid(ctx, 'the start of the window is not a time');
    const filter = `createdDateTime ge ${since.toISOString()} and signInEventTypes/any(t: t eq 'servicePrincipal') and appId eq '${appId.toLowerCase()}'`;
    const signIns: ServicePrincipalSignIn[] = [];
    let next: string | undefined;
    let truncated = false;
    try {
      for (let first = true; first || next !== undefined; first = false) {
        const request = first
          ? this.client
              .api('/auditLogs/signIns')
              .filter(filter)
              .top(PAGE_SIZE)
              .select(['id', 'createdDateTime', 'appId', 'servicePrincipalCredentialKeyId', 'status'])
          : this.client.api(next as string);
        await this.pacer.turn();
        const body: unknown = await request.get();
        const page = wirePage.safeParse(body);
        if (!page.success) throw invalid(ctx, `the answer did not have the expected shape (${page.error.issues[0]?.path.join('.') ?? 'body'})`);
        for (const w of page.data.value) {
          signIns.push({
            id: w.id,
            at: w.createdDateTime,
            appId: w.appId ?? appId,
            keyId: w.servicePrincipalCredentialKeyId ? w.servicePrincipalCredentialKeyId.toLowerCase() : null,
            errorCode: w.status?.errorCode ?? 0,
            failureReason: w.status?.failureReason ?? null,
          });
        }
        next = page.data['@odata.nextLink'] ?? undefined;
        if (next !== undefined && signIns.length >= this.maxSignIns) {
          truncated = true;
          break;
        }
      }
    } catch (e) {
      if (e instanceof ServiceError) throw e;
      const err = toServiceError(e, ctx);
      const reason = unavailableReason(err);
      if (reason) return { available: false, reason, message: err.serviceMessage ?? err.message };
      throw err;
    }
    return { available: true, signIns, truncated };
  }
}

/**
 * 403 without the licence (`Authentication_RequestFromNonPremiumTenantOrB2CTenant`) or without the
 * permission (`Authorization_RequestDenied`, or any other 403: Graph words it several ways); 400 or 404
 * where a cloud's Graph has no service principal sign-ins (the beta filter is global only).
 */
function unavailableReason(err: ServiceError): EvidenceUnavailableReason | undefined {
  if (err.status === 403) return /NonPremium|premium licen[cs]e|B2C/i.test(`${err.code ?? ''} ${err.serviceMessage ?? ''}`) ? 'licence' : 'permission';
  if (err.status === 404 || (err.status === 400 && /signInEventTypes|servicePrincipalCredentialKeyId|Could not find a property/i.test(err.serviceMessage ?? ''))) {
    return 'unsupported';
  }
  return undefined;
}

function invalid(ctx: ErrorContext, reason: string): ServiceError {
  return new ServiceError({
    kind: 'permanent',
    service: 'graph',
    operation: ctx.operation,
    code: 'UnexpectedResponse',
    reason,
    action: 'Check that GRAPH_BASE_URL points at Microsoft Graph.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}
