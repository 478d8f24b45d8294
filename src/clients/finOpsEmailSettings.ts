/**
 * Typed client for a Finance and Operations environment's email settings, over F&O's OData endpoint
 * through `@azure/core-rest-pipeline` (so retries honouring `Retry-After` and the bearer-token policy
 * are the SDK's, not hand-written).
 *
 * It reads the standard `EmailParameters` entity, switches the batch email provider to Graph, and
 * writes the Graph application id and client secret through the customer-deployed credential entity
 * (the standard entity does not expose them). With the FnoGraphMail extension (finops/, names in
 * src/contracts/finopsExtension.ts) it also tells from `$metadata` what of the extension is deployed,
 * reads the credential record back (never its secret), asks F&O to send a test message and reads F&O's
 * email health. Every URL passes the host allowlist before anything, token request included, is sent:
 * the secret goes to that host.
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
import {
  FINOPS_EXTENSION_MODEL,
  FINOPS_ODATA_NAMESPACE,
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../contracts/finopsExtension';
import { MAILBOX_ADDRESS_PATTERN } from '../contracts/setup';
import { fromHttpFailure, scrub, ServiceError, toServiceError, type ErrorContext } from './errors';
import { extensionInMetadata, MalformedMetadataError, type FinOpsExtension } from './finOpsMetadata';
import { assertAllowedEnvironmentUrl } from './hostAllowlist';

export type { FinOpsExtension } from './finOpsMetadata';

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

/** The product's default for the credential entity: the FnoGraphMail extension's names. */
export const DEFAULT_GRAPH_CREDENTIAL_ENTITY: Readonly<Required<Omit<GraphCredentialEntity, 'key'>>> = {
  entitySet: GRAPH_CREDENTIAL_ENTITY.entitySet,
  applicationIdField: GRAPH_CREDENTIAL_ENTITY.fields.applicationId,
  secretField: GRAPH_CREDENTIAL_ENTITY.fields.clientSecret,
};

/** The Graph credential record as F&O shows it: never the secret, which the entity does not return. */
export interface GraphCredential {
  applicationId: string | null;
  /** The batch email provider (`MailerNonInteractive`), as the credential entity shows it. */
  batchEmailProvider: string | null;
  /** When a secret was last written through the entity (F&O's clock, UTC); null when never. */
  credentialSetAt: string | null;
}

export type TestEmailStatus = (typeof SEND_TEST_EMAIL_ACTION.statuses)[keyof typeof SEND_TEST_EMAIL_ACTION.statuses];

/** F&O's answer to SendTestEmail: the status word and F&O's sentence after it. */
export interface TestEmailResult {
  status: TestEmailStatus;
  message: string;
}

/** F&O's email health (from Email history and the outgoing queue); no recipients, subjects or bodies. */
export interface EmailHealth {
  batchEmailProvider: string | null;
  lastSuccessAt: string | null;
  lastSuccessProvider: string | null;
  failuresLast24Hours: number;
  lastFailureAt: string | null;
  /** F&O's failure text, email addresses replaced by `[address]`. */
  lastFailureDetails: string | null;
  queuedMessages: number;
}

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
   * The email parameters record as the caller has just read it, or is reading it (`getEmailParameters`):
   * its provider and key are taken from it instead of reading the record again. A read still under way is
   * awaited only where the record is needed (not for a credential entity with a configured key), and its
   * failure is that call's failure.
   */
  emailParameters?: EmailParameters | Promise<EmailParameters>;
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

/**
 * ASP.NET Web API's error body, `{"Message": "No HTTP resource was found that matches the request URI
 * '…'."}`, which Web API answers (404) for a path no route serves. A guess: Microsoft does not document
 * what F&O's `/data` answers for an entity set it does not serve (an extension not deployed); the
 * sandbox answers that text in the OData error shape. Both shapes are read; the status decides the kind.
 */
const wireWebApiError = z.object({ Message: z.string() });

const CREDENTIAL_FIELDS = GRAPH_CREDENTIAL_ENTITY.fields;
const HEALTH_FIELDS = GRAPH_EMAIL_HEALTH_ENTITY.fields;

const count = z.number().int().nonnegative();

const wireEmailHealth = z.object({
  [HEALTH_FIELDS.batchEmailProvider]: z.string().nullish(),
  [HEALTH_FIELDS.lastSuccessAt]: z.string().nullish(),
  [HEALTH_FIELDS.lastSuccessProvider]: z.string().nullish(),
  [HEALTH_FIELDS.failuresLast24Hours]: count,
  [HEALTH_FIELDS.lastFailureAt]: z.string().nullish(),
  [HEALTH_FIELDS.lastFailureDetails]: z.string().nullish(),
  [HEALTH_FIELDS.queuedMessages]: count,
});

/**
 * An action's answer of a primitive type: `{"@odata.context": "…#Edm.String", "value": "…"}` (OData JSON
 * Format 4.01, "Individual Primitive or Complex Value": https://docs.oasis-open.org/odata/odata-json-format/v4.01/odata-json-format-v4.01.html).
 */
const wireStringResult = z.object({ value: z.string() });

/**
 * X++'s empty utcDateTime is its minimum, 1900-01-01T00:00:00 (DateTimeUtil::minValue,
 * https://learn.microsoft.com/dotnet/api/dynamics.ax.application.datetimeutil.minvalue), and F&O's
 * OData shows it as `1900-01-01T00:00:00Z`: that, or anything before it, means "never".
 */
const FINOPS_NULL_DATETIME_MS = Date.UTC(1900, 0, 1);

function text(value: string | null | undefined): string | null {
  return value === null || value === undefined || value.trim() === '' ? null : value;
}

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

/** `Edm.DateTimeOffset` as OData JSON writes it (RFC 3339 with an offset). */
const DATE_TIME_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;

function finOpsDateTime(value: string | null | undefined, field: string, ctx: ErrorContext): string | null {
  const given = text(value);
  if (given === null) return null;
  const ms = DATE_TIME_OFFSET.test(given) ? Date.parse(given) : Number.NaN;
  if (Number.isNaN(ms)) throw unexpected(ctx, `${field} is not a date and time`);
  return ms <= FINOPS_NULL_DATETIME_MS ? null : given;
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
    // The secret is never read: no field the client reads may be the secret field.
    if (this.credentialReadFields().includes(this.entity.secretField)) {
      throw new Error(`the secret field "${this.entity.secretField}" of the Graph credential entity must differ from the fields read back`);
    }
    this.pipelineOptions = options.pipelineOptions ?? {};
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
  }

  /**
   * The environment's origin when its host is allowed, else `EnvironmentUrlNotAllowedError`: for what
   * sends a person rather than a request there (the link in manual delivery instructions, where they
   * enter the secret).
   */
  allowedOrigin(url: string, options: FinOpsCallOptions = {}): string {
    return this.check(url, this.ctx('Give instructions for the Email parameters form', options));
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
    const current = await (options.emailParameters ?? this.getEmailParameters(url, options));
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
      // The forms a service quoting the request body or URL back would show it in.
      redact: [credential.secret, JSON.stringify(credential.secret).slice(1, -1), encodeURIComponent(credential.secret)],
      notFoundAction: this.credentialEntityMissing(),
    });
    const origin = this.check(url, ctx);
    const path = await this.credentialPath(origin, ctx, options);
    await this.send(origin, 'PATCH', path, ctx, {
      [this.entity.applicationIdField]: credential.applicationId,
      [this.entity.secretField]: credential.secret,
    });
  }

  /**
   * The Graph credential record as F&O holds it: application id, batch provider and when a secret was
   * last written. The secret field is never requested (`$select` names the others only).
   */
  async getGraphCredential(url: string, options: FinOpsCallOptions = {}): Promise<GraphCredential> {
    const ctx = this.ctx('Read the Graph credential from Finance and Operations', options, {
      notFoundAction: this.credentialEntityMissing(),
    });
    const origin = this.check(url, ctx);
    const path = await this.credentialPath(origin, ctx, options);
    const body = await this.send(origin, 'GET', `${path}?$select=${this.credentialReadFields().join(',')}`, ctx);
    const record = parse(z.record(z.string(), z.unknown()), body, ctx);
    const field = (name: string): string | null | undefined => parse(z.string().nullish(), record[name], ctx, name);
    return {
      applicationId: text(field(this.entity.applicationIdField)),
      batchEmailProvider: text(field(CREDENTIAL_FIELDS.batchEmailProvider)),
      credentialSetAt: finOpsDateTime(field(CREDENTIAL_FIELDS.credentialSetAt), CREDENTIAL_FIELDS.credentialSetAt, ctx),
    };
  }

  /** The application id F&O currently uses for Graph, or null when none is set. */
  async getGraphCredentialApplicationId(url: string, options: FinOpsCallOptions = {}): Promise<string | null> {
    return (await this.getGraphCredential(url, options)).applicationId;
  }

  /**
   * What of the FnoGraphMail extension the environment declares in `/data/$metadata`: one request, the
   * document read as finOpsMetadata.ts explains (tens of MB on a real environment). Malformed XML, or XML
   * that is not CSDL, fails as UnexpectedResponse rather than reading as "not deployed".
   */
  async describeExtension(url: string, options: FinOpsCallOptions = {}): Promise<FinOpsExtension> {
    const ctx = this.ctx('Read the metadata of Finance and Operations', options, {
      notFoundAction: 'Check the environment URL; no OData metadata was found there.',
    });
    const origin = this.check(url, ctx);
    const response = await this.exchange(origin, 'GET', '/data/$metadata', ctx, { accept: 'application/xml' });
    try {
      return extensionInMetadata(response.bodyAsText ?? '', this.entity.entitySet);
    } catch (e) {
      if (e instanceof MalformedMetadataError) throw unexpected(ctx, e.message);
      throw e;
    }
  }

  /**
   * Asks F&O to send one test message to `recipient` now, through its batch email provider, as the
   * F&O user mapped to the product's application (the extension's SendTestEmail action). The recipient
   * must be one plain address; anything else is refused before a request is made.
   */
  async sendTestEmail(url: string, recipient: string, options: FinOpsCallOptions = {}): Promise<TestEmailResult> {
    const ctx = this.ctx('Send a test message through Finance and Operations', options, {
      notFoundAction: this.extensionMissing(`the action ${SEND_TEST_EMAIL_ACTION.name} on ${this.entity.entitySet}`),
    });
    // Checked before anything else and never repeated in the error: the address may be anything a caller typed.
    if (typeof recipient !== 'string' || recipient.length > 254 || !MAILBOX_ADDRESS_PATTERN.test(recipient)) {
      throw new ServiceError({
        kind: 'permanent',
        service: 'finops',
        operation: ctx.operation,
        code: 'InvalidRecipient',
        reason: 'the recipient is not one plain email address',
        action: 'Give one plain email address (letters, digits and ._%+- before the @, a domain after it); nothing was sent.',
        ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
      });
    }
    const origin = this.check(url, ctx);
    // The contract's path, on the configured entity set (a deployment may have renamed it).
    const path = `/data/${this.entity.entitySet}/${FINOPS_ODATA_NAMESPACE}.${SEND_TEST_EMAIL_ACTION.name}`;
    const body = await this.send(origin, 'POST', path, ctx, { [SEND_TEST_EMAIL_ACTION.parameter]: recipient });
    const answer = parse(wireStringResult, body, ctx).value;
    const match = /^([A-Za-z]+):\s*([\s\S]*)$/.exec(answer);
    const status = TEST_EMAIL_STATUSES.find((s) => s === match?.[1]);
    if (!match || status === undefined) {
      throw unexpected(ctx, `${SEND_TEST_EMAIL_ACTION.name} answered with an unknown status`, EXTENSION_VERSION_ACTION);
    }
    return { status, message: scrub(match[2] ?? '') };
  }

  /** F&O's email health: last success, failures of the last 24 hours, the last failure, the queue. */
  async getEmailHealth(url: string, options: FinOpsCallOptions = {}): Promise<EmailHealth> {
    const ctx = this.ctx('Read the email health of Finance and Operations', options, {
      notFoundAction: this.extensionMissing(`the entity ${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}`),
    });
    const origin = this.check(url, ctx);
    const select = Object.values(HEALTH_FIELDS).join(',');
    const body = await this.send(origin, 'GET', `/data/${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}?$select=${select}`, ctx);
    const first = parse(z.object({ value: z.array(wireEmailHealth) }), body, ctx).value[0];
    if (!first) {
      throw new ServiceError({
        kind: 'not-found',
        service: 'finops',
        operation: ctx.operation,
        reason: 'the environment has no email parameters record, so no email health',
        action: 'Open System administration > Setup > Email > Email parameters once and save, then run the step again.',
        ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
      });
    }
    return {
      batchEmailProvider: text(first[HEALTH_FIELDS.batchEmailProvider]),
      lastSuccessAt: finOpsDateTime(first[HEALTH_FIELDS.lastSuccessAt], HEALTH_FIELDS.lastSuccessAt, ctx),
      lastSuccessProvider: text(first[HEALTH_FIELDS.lastSuccessProvider]),
      failuresLast24Hours: first[HEALTH_FIELDS.failuresLast24Hours],
      lastFailureAt: finOpsDateTime(first[HEALTH_FIELDS.lastFailureAt], HEALTH_FIELDS.lastFailureAt, ctx),
      lastFailureDetails: text(first[HEALTH_FIELDS.lastFailureDetails]),
      queuedMessages: first[HEALTH_FIELDS.queuedMessages],
    };
  }

  // ---- plumbing --------------------------------------------------------------------------------------

  private check(url: string, ctx: ErrorContext): string {
    return assertAllowedEnvironmentUrl(url, this.allowedHosts, ctx.environmentId, ctx.operation);
  }

  /** The credential entity's fields the client reads: every one but the secret. */
  private credentialReadFields(): string[] {
    return [CREDENTIAL_FIELDS.id, CREDENTIAL_FIELDS.batchEmailProvider, this.entity.applicationIdField, CREDENTIAL_FIELDS.credentialSetAt];
  }

  /** What to do when an object of the extension is not there (F&O answers 404 for an entity set it does not serve). */
  private extensionMissing(what: string): string {
    return `${what} was not found: deploy the ${FINOPS_EXTENSION_MODEL} extension to the environment (finops/README.md), or use the manual delivery strategy (DELIVERY_STRATEGY=manual, see docs/http-api.md, Strategies).`;
  }

  private credentialEntityMissing(): string {
    return `${this.extensionMissing(`The Graph credential entity ${this.entity.entitySet}`)} If the extension is deployed, check FINOPS_CREDENTIAL_ENTITY and FINOPS_CREDENTIAL_KEY.`;
  }

  private async credentialPath(origin: string, ctx: ErrorContext, options: FinOpsCallOptions): Promise<string> {
    const key = this.entity.key ?? { ID: (await (options.emailParameters ?? this.getEmailParameters(origin, options))).id };
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

  /** One request; a non-2xx answer becomes a ServiceError. */
  private async exchange(
    origin: string,
    method: HttpMethods,
    path: string,
    ctx: ErrorContext,
    init: { body?: Record<string, unknown>; accept?: string } = {},
  ): Promise<PipelineResponse> {
    const { body } = init;
    const request = createPipelineRequest({
      url: `${origin}${path}`,
      method,
      headers: createHttpHeaders({
        accept: init.accept ?? 'application/json',
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
    if (response.status >= 200 && response.status < 300) return response;
    throw failure(response, ctx);
  }

  /** One JSON request: the parsed answer, or undefined for 204 / an empty body. */
  private async send(
    origin: string,
    method: HttpMethods,
    path: string,
    ctx: ErrorContext,
    body?: Record<string, unknown>,
  ): Promise<unknown> {
    const response = await this.exchange(origin, method, path, ctx, body !== undefined ? { body } : {});
    if (response.status === 204 || !response.bodyAsText) return undefined;
    try {
      return JSON.parse(response.bodyAsText) as unknown;
    } catch {
      throw unexpected(ctx, 'the answer is not JSON');
    }
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

/** Validates a wire value; the error names the path (or `label`) and never quotes the value. */
function parse<T extends z.ZodType>(schema: T, body: unknown, ctx: ErrorContext, label?: string): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = [label, ...(issue?.path ?? []).map(String)].filter((p) => p !== undefined && p !== '').join('.') || 'body';
  throw unexpected(ctx, `the answer did not have the expected shape (${issue ? `${where}: ${issue.message}` : 'invalid'})`);
}

const URL_ACTION = 'Check that the environment URL points at a Finance and Operations environment.';
const EXTENSION_VERSION_ACTION = `Check that the ${FINOPS_EXTENSION_MODEL} extension deployed to the environment is the version this product expects (finops/README.md).`;

const TEST_EMAIL_STATUSES: readonly TestEmailStatus[] = Object.values(SEND_TEST_EMAIL_ACTION.statuses);

function unexpected(ctx: ErrorContext, reason: string, action: string = URL_ACTION): ServiceError {
  return new ServiceError({
    kind: 'permanent',
    service: 'finops',
    operation: ctx.operation,
    code: 'UnexpectedResponse',
    reason,
    action,
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}

/** F&O answers `{error: {code: '', message: 'An error has occurred.', innererror: {message}}}`; the cause is inside. */
function failure(response: PipelineResponse, ctx: ErrorContext): ServiceError {
  let code: string | undefined;
  let message: string | undefined;
  if (response.bodyAsText) {
    try {
      const json: unknown = JSON.parse(response.bodyAsText);
      const parsed = wireODataError.safeParse(json);
      if (parsed.success) {
        const e = parsed.data.error;
        code = e.code || undefined;
        const inner = e.innererror?.message;
        message = inner && inner.trim() !== '' ? (e.message && e.message !== 'An error has occurred.' ? `${e.message} ${inner}` : inner) : (e.message ?? undefined);
      } else {
        const webApi = wireWebApiError.safeParse(json);
        if (webApi.success) message = webApi.data.Message;
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
