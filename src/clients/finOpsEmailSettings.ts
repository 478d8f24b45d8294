/**
 * Typed client for a Finance and Operations environment's email settings, over F&O's OData endpoint
 * through `@azure/core-rest-pipeline` (so retries honouring `Retry-After` and the bearer-token policy
 * are the SDK's, not hand-written).
 *
 * It reads the standard `EmailParameters` entity, switches the batch email provider to Graph, and
 * writes the Graph application id and client secret through the customer-deployed credential entity
 * (the standard entity does not expose them). Every URL passes the host allowlist before anything,
 * token request included, is sent: the secret goes to that host.
 */
import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type HttpMethods,
  type Pipeline,
  type PipelineOptions,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { z } from 'zod';
import { fromHttpFailure, ServiceError, toServiceError, type ErrorContext } from './errors';
import { assertAllowedEnvironmentUrl } from './hostAllowlist';

// ---------------------------------------------------------------------------------------------------
// Public types

/** The standard `EmailParameters` record (form Email parameters, SysEmailParameters). */
export interface EmailParameters {
  id: string;
  /** `MailerNonInteractive`: the provider batch jobs send with (`SMTP`, `Exchange`, `Graph`). */
  batchEmailProvider: string;
  interactiveEmailEnabled: boolean | null;
  smtpServer: string | null;
  smtpPort: number | null;
  smtpUserName: string | null;
  smtpRequireSsl: boolean | null;
  smtpUseNtlm: boolean | null;
  maximumAttachmentSizeMb: number | null;
}

/**
 * Where the Graph application id and secret are written: an entity the customer deploys, since F&O's
 * standard entity lacks them. `key` is an OData key (`ID='1'`) or key properties (`{ ID: '1' }`);
 * when omitted, the credential record shares the key of the `EmailParameters` record.
 */
export interface GraphCredentialEntity {
  entitySet: string;
  key?: string | Record<string, string>;
  applicationIdField: string;
  secretField: string;
}

/** The product's documented default for the customer-deployed credential entity. */
export const DEFAULT_GRAPH_CREDENTIAL_ENTITY: Readonly<Required<Omit<GraphCredentialEntity, 'key'>>> = {
  entitySet: 'GraphEmailCredentials',
  applicationIdField: 'ApplicationId',
  secretField: 'ClientSecret',
};

export const GRAPH_PROVIDER = 'Graph';

export interface FinOpsEmailSettingsOptions {
  /** Hosts the product may send requests (and secrets) to; see `hostAllowlist.ts` for the syntax. */
  allowedHosts: readonly string[];
  credentialEntity?: Partial<GraphCredentialEntity>;
  /** core-rest-pipeline options (retry, proxy, TLS, user agent). */
  pipelineOptions?: PipelineOptions;
  /** Replaces the HTTP client (tests). */
  httpClient?: HttpClient;
}

export interface FinOpsCallOptions {
  environmentId?: string;
  /**
   * The email parameters record as the caller has just read it (`getEmailParameters`): its provider
   * and key are taken from it instead of reading the record again.
   */
  emailParameters?: EmailParameters;
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes

const noYes = z.enum(['Yes', 'No']).nullish();

const wireEmailParameters = z.object({
  ID: z.string(),
  MailerNonInteractive: z.string().nullish(),
  MailerInteractiveEnabled: noYes,
  SMTPRelayServerName: z.string().nullish(),
  SMTPPortNumber: z.number().nullish(),
  SMTPUserName: z.string().nullish(),
  SMTPRequireSSL: noYes,
  SMTPUseNTLM: noYes,
  MaximumEmailAttachmentSize: z.number().nullish(),
});

const wireODataError = z.object({
  error: z.object({
    code: z.string().nullish(),
    message: z.string().nullish(),
    innererror: z.object({ message: z.string().nullish(), type: z.string().nullish() }).nullish(),
  }),
});

function toEmailParameters(w: z.infer<typeof wireEmailParameters>): EmailParameters {
  const yes = (v: 'Yes' | 'No' | null | undefined): boolean | null => (v === undefined || v === null ? null : v === 'Yes');
  return {
    id: w.ID,
    batchEmailProvider: w.MailerNonInteractive ?? '',
    interactiveEmailEnabled: yes(w.MailerInteractiveEnabled),
    smtpServer: w.SMTPRelayServerName ?? null,
    smtpPort: w.SMTPPortNumber ?? null,
    smtpUserName: w.SMTPUserName ?? null,
    smtpRequireSsl: yes(w.SMTPRequireSSL),
    smtpUseNtlm: yes(w.SMTPUseNTLM),
    maximumAttachmentSizeMb: w.MaximumEmailAttachmentSize ?? null,
  };
}

/** An OData key predicate: `ID='1'`; quotes doubled, then URL-encoded. */
export function odataKey(key: string | Record<string, string>): string {
  if (typeof key === 'string') return key;
  const parts = Object.entries(key).map(([k, v]) => `${k}='${encodeURIComponent(v.replace(/'/g, "''"))}'`);
  if (parts.length === 0) throw new Error('an OData key needs at least one property');
  return parts.join(',');
}

// ---------------------------------------------------------------------------------------------------
// The client

const ENTITY_SET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class FinOpsEmailSettings {
  private readonly allowedHosts: readonly string[];
  private readonly entity: GraphCredentialEntity;
  private readonly credential: TokenCredential;
  private readonly pipelineOptions: PipelineOptions;
  private readonly httpClient: HttpClient;
  /** One pipeline per environment: the token's audience is the environment URL. */
  private readonly pipelines = new Map<string, Pipeline>();

  constructor(credential: TokenCredential, options: FinOpsEmailSettingsOptions) {
    this.credential = credential;
    this.allowedHosts = [...options.allowedHosts];
    this.entity = {
      entitySet: options.credentialEntity?.entitySet ?? DEFAULT_GRAPH_CREDENTIAL_ENTITY.entitySet,
      applicationIdField: options.credentialEntity?.applicationIdField ?? DEFAULT_GRAPH_CREDENTIAL_ENTITY.applicationIdField,
      secretField: options.credentialEntity?.secretField ?? DEFAULT_GRAPH_CREDENTIAL_ENTITY.secretField,
      ...(options.credentialEntity?.key !== undefined ? { key: options.credentialEntity.key } : {}),
    };
    for (const name of [this.entity.entitySet, this.entity.applicationIdField, this.entity.secretField]) {
      if (!ENTITY_SET_NAME.test(name)) throw new Error(`"${name}" is not a valid OData identifier for the Graph credential entity`);
    }
    this.pipelineOptions = options.pipelineOptions ?? {};
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
  }

  /** The environment's email parameters (the entity's single record). */
  async getEmailParameters(url: string, options: FinOpsCallOptions = {}): Promise<EmailParameters> {
    const ctx = this.ctx('Read the email parameters', options, {
      notFoundAction: 'Check the environment URL; the EmailParameters entity was not found there.',
    });
    const origin = this.check(url, ctx);
    const body = await this.send(origin, 'GET', '/data/EmailParameters', ctx);
    const parsed = parse(z.object({ value: z.array(wireEmailParameters) }), body, ctx);
    const first = parsed.value[0];
    if (!first) {
      throw new ServiceError({
        kind: 'not-found',
        service: 'finops',
        operation: ctx.operation,
        reason: 'the environment has no email parameters record',
        action: 'Open System administration > Setup > Email > Email parameters once and save, then run the step again.',
        ...(options.environmentId ? { environmentId: options.environmentId } : {}),
      });
    }
    return toEmailParameters(first);
  }

  /** Makes Graph the batch email provider; writes only when it is not already. */
  async setBatchProviderToGraph(url: string, options: FinOpsCallOptions = {}): Promise<{ written: boolean }> {
    const current = options.emailParameters ?? (await this.getEmailParameters(url, options));
    if (current.batchEmailProvider === GRAPH_PROVIDER) return { written: false };
    const ctx = this.ctx('Set the batch email provider to Graph', options);
    const origin = this.check(url, ctx);
    await this.send(origin, 'PATCH', `/data/EmailParameters(${odataKey({ ID: current.id })})`, ctx, {
      MailerNonInteractive: GRAPH_PROVIDER,
    });
    return { written: true };
  }

  /** Writes the Graph application id and client secret into the credential entity. */
  async setGraphCredential(
    url: string,
    credential: { applicationId: string; secret: string },
    options: FinOpsCallOptions = {},
  ): Promise<void> {
    const ctx = this.ctx('Deliver the client secret to Finance and Operations', options, {
      redact: [credential.secret],
      notFoundAction: `Deploy the Graph credential entity ${this.entity.entitySet} to the environment (see docs/http-api.md, Strategies), or switch the delivery strategy to manual.`,
    });
    const origin = this.check(url, ctx);
    const path = await this.credentialPath(origin, ctx, options);
    await this.send(origin, 'PATCH', path, ctx, {
      [this.entity.applicationIdField]: credential.applicationId,
      [this.entity.secretField]: credential.secret,
    });
  }

  /** The application id F&O currently uses for Graph, or null when none is set. */
  async getGraphCredentialApplicationId(url: string, options: FinOpsCallOptions = {}): Promise<string | null> {
    const ctx = this.ctx('Read the Graph application id from Finance and Operations', options, {
      notFoundAction: `Deploy the Graph credential entity ${this.entity.entitySet} to the environment (see docs/http-api.md, Strategies), or switch the delivery strategy to manual.`,
    });
    const origin = this.check(url, ctx);
    const path = await this.credentialPath(origin, ctx, options);
    const body = await this.send(origin, 'GET', `${path}?$select=${this.entity.applicationIdField}`, ctx);
    const record = parse(z.record(z.string(), z.unknown()), body, ctx);
    const value = record[this.entity.applicationIdField];
    return typeof value === 'string' && value.trim() !== '' ? value : null;
  }

  // ---- plumbing --------------------------------------------------------------------------------------

  private check(url: string, ctx: ErrorContext): string {
    return assertAllowedEnvironmentUrl(url, this.allowedHosts, ctx.environmentId, ctx.operation);
  }

  private async credentialPath(origin: string, ctx: ErrorContext, options: FinOpsCallOptions): Promise<string> {
    const key = this.entity.key ?? { ID: (options.emailParameters ?? (await this.getEmailParameters(origin, options))).id };
    return `/data/${this.entity.entitySet}(${odataKey(key)})`;
  }

  private pipelineFor(origin: string): Pipeline {
    let pipeline = this.pipelines.get(origin);
    if (!pipeline) {
      pipeline = createPipelineFromOptions(this.pipelineOptions);
      pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: this.credential, scopes: [`${origin}/.default`] }));
      this.pipelines.set(origin, pipeline);
    }
    return pipeline;
  }

  private async send(
    origin: string,
    method: HttpMethods,
    path: string,
    ctx: ErrorContext,
    body?: Record<string, unknown>,
  ): Promise<unknown> {
    const request = createPipelineRequest({
      url: `${origin}${path}`,
      method,
      headers: createHttpHeaders({
        accept: 'application/json',
        'odata-version': '4.0',
        'odata-maxversion': '4.0',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      }),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    let response: PipelineResponse;
    try {
      response = await this.pipelineFor(origin).sendRequest(this.httpClient, request);
    } catch (e) {
      throw toServiceError(e, ctx);
    }
    if (response.status >= 200 && response.status < 300) {
      if (response.status === 204 || !response.bodyAsText) return undefined;
      try {
        return JSON.parse(response.bodyAsText) as unknown;
      } catch {
        throw unexpected(ctx, 'the answer is not JSON');
      }
    }
    throw failure(response, ctx);
  }

  private ctx(operation: string, options: FinOpsCallOptions, extra: Partial<ErrorContext> = {}): ErrorContext {
    return {
      operation,
      service: 'finops',
      ...(options.environmentId ? { environmentId: options.environmentId } : {}),
      ...extra,
    };
  }
}

function parse<T extends z.ZodType>(schema: T, body: unknown, ctx: ErrorContext): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw unexpected(ctx, `the answer did not have the expected shape (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
}

function unexpected(ctx: ErrorContext, reason: string): ServiceError {
  return new ServiceError({
    kind: 'permanent',
    service: 'finops',
    operation: ctx.operation,
    code: 'UnexpectedResponse',
    reason,
    action: 'Check that the environment URL points at a Finance and Operations environment.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}

/** F&O answers `{error: {code: '', message: 'An error has occurred.', innererror: {message}}}`; the cause is inside. */
function failure(response: PipelineResponse, ctx: ErrorContext): ServiceError {
  let code: string | undefined;
  let message: string | undefined;
  if (response.bodyAsText) {
    try {
      const parsed = wireODataError.safeParse(JSON.parse(response.bodyAsText));
      if (parsed.success) {
        const e = parsed.data.error;
        code = e.code || undefined;
        const inner = e.innererror?.message;
        message = inner && inner.trim() !== '' ? (e.message && e.message !== 'An error has occurred.' ? `${e.message} ${inner}` : inner) : (e.message ?? undefined);
      }
    } catch {
      // A gateway page rather than OData: the status decides.
    }
  }
  if (message === undefined) {
    const description = /error_description="([^"]*)"/.exec(response.headers.get('www-authenticate') ?? '')?.[1];
    if (description) message = description;
  }
  const requestId =
    response.headers.get('x-ms-request-id') ?? response.headers.get('request-id') ?? response.headers.get('ms-dyn-aid');
  return fromHttpFailure(
    {
      service: 'finops',
      status: response.status,
      ...(code ? { code } : {}),
      ...(message ? { message } : {}),
      ...(requestId ? { requestId } : {}),
      retryAfter: response.headers.get('retry-after') ?? null,
    },
    ctx,
  );
}
