/**
 * What makes the emulated F&O send mail, as the real one does: per environment an outgoing email
 * queue, the Email distributor batch on the sandbox's virtual clock, Email history, and the batch email
 * provider (`MailerNonInteractive`). With Graph, F&O is an ordinary client of the sandbox's Entra and
 * Graph: it signs in with the application id and secret it holds (client credentials over HTTPS, cached
 * like MSAL caches) and posts `sendMail` as the batch user, so Entra and Graph see (and record) it like
 * any other caller. Also the control operations a person performs in F&O: the Email parameters form,
 * starting and stopping the batch, queueing messages, a database copy.
 *
 * Sources (Microsoft): Email parameters, the Email distributor batch, Email history and its failure
 * details, the Graph provider (Application ID and Application secret, 10.0.38+), the per-environment
 * encryption of secrets and its CryptoEncryptionException:
 * https://learn.microsoft.com/dynamics365/fin-ops-core/fin-ops/organization-administration/configure-email
 * What a database refresh copies and clears:
 * https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/database/database-refresh
 * Client credentials: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 * Where Microsoft is silent the code says "guess".
 */
import * as https from 'node:https';
import * as tls from 'node:tls';
import { ADMIN_MAILBOX } from './seed';
import type { SandboxState } from './state';
import type { FinOpsEmailHistoryRecord, FinOpsEnvironmentRecord, FinOpsOutgoingEmailRecord } from './types';

/** Values of F&O's batch email provider (`MailerNonInteractive`, a `SysMailerId` string). */
export const BATCH_EMAIL_PROVIDERS = ['SMTP', 'Exchange', 'Graph'] as const;
export type BatchEmailProvider = (typeof BATCH_EMAIL_PROVIDERS)[number];

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
/** MSAL renews a cached access token this long before it expires (msal-common DEFAULT_TOKEN_RENEWAL_OFFSET_SEC = 300). */
const TOKEN_RENEWAL_OFFSET_MS = 300 * 1000;
const MINUTE_MS = 60 * 1000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** "Email expiration in days": 0 means 30 days, after which a queued message expires (configure-email). */
const EMAIL_EXPIRATION_MS = 30 * DAY_MS;
/** "Number of days to retain email history": 0 means 30 days (configure-email). */
const HISTORY_RETENTION_MS = 30 * DAY_MS;
/** Sandbox bound on the history kept in memory (the real table has none besides retention). */
const HISTORY_LIMIT = 2000;
/** Sandbox bound on the queue: beyond it the oldest messages are dropped (the real queue has no documented cap). */
const QUEUE_LIMIT = 1000;
/** Sandbox bound on sends per batch run; F&O's batch size is not public (guess). */
const MAX_SENDS_PER_RUN = 100;
/**
 * Failed attempts after which a message leaves the queue as failed. The queue table has `RetryNum` and
 * `WithRetries` (F&O's Common Data Model schema, SysOutgoingEmailTable); the limit itself is not public (guess).
 */
const MAX_ATTEMPTS = 3;
const REQUEST_TIMEOUT_MS = 30_000;
/** How often (real time) the scheduler looks for due runs besides every clock advance. */
const SCHEDULER_TICK_MS = 1000;
/** Null value of an X++ utcdatetime, which F&O's OData shows for an empty date and time. */
export const FINOPS_NULL_DATETIME = '1900-01-01T00:00:00Z';

// ---- failure details (Email history > Failure details) -------------------------------------------

/** Documented for the SMTP password after a database move; guess: the Graph application secret fails alike. */
export const DECRYPTION_ERROR = 'Microsoft.Dynamics.Ax.Xpp.Security.CryptoEncryptionException: Encryption error occurred with exception';
/** Guess: the wording F&O uses when the Microsoft Graph settings lack an application id is not public. */
export const NO_APPLICATION_ID_ERROR =
  'No Graph application id is set: enter the Application ID on the Microsoft Graph settings tab of the Email parameters page.';
/** Guess, as above. */
export const NO_SECRET_ERROR =
  'No Graph application secret is set: enter the Application secret on the Microsoft Graph settings tab of the Email parameters page.';
/** The Exchange provider is deprecated and "only available in Microsoft-managed environments" (configure-email); wording is a guess. */
export const EXCHANGE_UNAVAILABLE_ERROR =
  'The Exchange email provider is not available in this environment: it is deprecated and only available in Microsoft-managed environments. Use Microsoft Graph.';
/** Guess: how an SMTP send fails without an outgoing mail server (a database refresh clears it). */
export const SMTP_NO_SERVER_ERROR = 'The SMTP server is not set: enter the Outgoing mail server on the SMTP settings tab of the Email parameters page.';

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

// ---- state operations (the control API's F&O routes) ----------------------------------------------

export class FinOpsInputError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FinOpsInputError';
  }
}

/** What a person enters on the Email parameters form. Empty texts (or null) clear a field. */
export interface EmailParametersForm {
  applicationId?: string | null | undefined;
  secret?: string | null | undefined;
  batchProvider?: BatchEmailProvider | undefined;
}

function blankToNull(value: string | null): string | null {
  return value === null || value.trim() === '' ? null : value;
}

/** Writes the Microsoft Graph settings and the batch provider as the form does (no CredentialSetAt stamp: only the extension's entity stamps it). */
export function applyEmailParametersForm(env: FinOpsEnvironmentRecord, form: EmailParametersForm): void {
  if (form.applicationId !== undefined) env.graphCredential.applicationId = blankToNull(form.applicationId);
  if (form.secret !== undefined) writeSecret(env, blankToNull(form.secret));
  if (form.batchProvider !== undefined) env.emailParameters.MailerNonInteractive = form.batchProvider;
}

/** Stores a secret encrypted with this environment's key: whatever was held before, readable or not, is replaced. */
export function writeSecret(env: FinOpsEnvironmentRecord, secret: string | null): void {
  env.graphCredential.secret = secret;
  env.foreignSecretFrom = null;
}

/** Appends `count` messages to the outgoing queue (oldest dropped beyond the sandbox's queue bound). */
export function enqueueMessages(state: SandboxState, env: FinOpsEnvironmentRecord, count: number, subject = 'Queued message'): void {
  for (let i = 0; i < count; i += 1) {
    env.outgoingEmail.push({
      id: state.newId(),
      subject,
      to: [ADMIN_MAILBOX],
      body: `A message from ${env.id}, queued for the Email distributor batch.`,
      queuedAt: state.nowIso(),
      attempts: 0,
    });
  }
  if (env.outgoingEmail.length > QUEUE_LIMIT) env.outgoingEmail.splice(0, env.outgoingEmail.length - QUEUE_LIMIT);
}

/**
 * A database refresh of `target` from `source` (LCS "Refresh database"). The database brings the email
 * parameters, the Graph application id, CredentialSetAt, Email history and the outgoing queue with it.
 * Encrypted values travel as ciphertext that only the source can decrypt. Per Microsoft the SMTP relay
 * server is not copied (database-refresh); an environment cannot be refreshed from another tenant.
 * Not modelled: the refresh also sets batch jobs to Withhold and the target's Microsoft Entra
 * applications list comes from the source; the sandbox leaves the target's batch and registrations as they were.
 */
export function copyDatabase(target: FinOpsEnvironmentRecord, source: FinOpsEnvironmentRecord): void {
  if (target.id === source.id) throw new FinOpsInputError(400, 'from: an environment cannot be refreshed from itself.');
  if (target.tenantId.toLowerCase() !== source.tenantId.toLowerCase()) {
    throw new FinOpsInputError(409, `An environment can't be refreshed from one tenant to another (${source.id} is in ${source.tenantId}, ${target.id} in ${target.tenantId}).`);
  }
  target.emailParameters = { ...source.emailParameters, ID: target.emailParameters.ID, SMTPRelayServerName: '' };
  target.graphCredential = { applicationId: source.graphCredential.applicationId, secret: null };
  target.foreignSecretFrom = source.foreignSecretFrom ?? (source.graphCredential.secret !== null ? source.id : null);
  target.credentialSetAt = source.credentialSetAt;
  target.emailHistory = source.emailHistory.map((r) => ({ ...r }));
  target.outgoingEmail = source.outgoingEmail.map((m) => ({ ...m, to: [...m.to] }));
}

/**
 * The Entra key id of `secret` among the credentials of application `appId` (expired ones too), null when
 * none matches. The application may live in any tenant: a customer tenant's environment holds the
 * credential of an application registered there.
 */
export function keyIdOf(state: SandboxState, appId: string, secret: string): string | null {
  const wanted = appId.toLowerCase();
  for (const app of state.tenants.flatMap((t) => t.applications)) {
    if (app.appId.toLowerCase() !== wanted) continue;
    const credential = app.passwordCredentials.find((c) => c.secretText === secret);
    if (credential) return credential.keyId;
  }
  return null;
}

// ---- health (the extension's GraphEmailHealth entity) ---------------------------------------------

export interface EmailHealth {
  lastSuccessAt: string;
  lastSuccessProvider: string;
  failuresLast24Hours: number;
  lastFailureAt: string;
  lastFailureDetails: string;
  queuedMessages: number;
}

/** Replaces email addresses in a failure text and cuts it to the field length, as FnoGraphMailFailureText.scrub does. */
export function scrubFailureText(text: string, placeholder: string, maxLength = 1000): string {
  return text.replace(/[^\s<>"(),;:[\]]+@[^\s<>"(),;:[\]]+/g, placeholder).slice(0, maxLength);
}

/** Computed from Email history and the queue only: status, provider, time and failure text. */
export function emailHealth(state: SandboxState, env: FinOpsEnvironmentRecord, addressPlaceholder: string): EmailHealth {
  const since = state.now() - DAY_MS;
  const lastSuccess = env.emailHistory.find((r) => r.status === 'sent');
  const lastFailure = env.emailHistory.find((r) => r.status === 'failed');
  return {
    lastSuccessAt: lastSuccess?.at ?? FINOPS_NULL_DATETIME,
    lastSuccessProvider: lastSuccess?.provider ?? '',
    failuresLast24Hours: env.emailHistory.filter((r) => r.status === 'failed' && Date.parse(r.at) >= since).length,
    lastFailureAt: lastFailure?.at ?? FINOPS_NULL_DATETIME,
    lastFailureDetails: scrubFailureText(lastFailure?.error ?? '', addressPlaceholder),
    queuedMessages: env.outgoingEmail.length,
  };
}

// ---- HTTPS --------------------------------------------------------------------------------------

interface HttpReply {
  status: number;
  text: string;
}

function describeNetworkError(error: unknown, url: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url || '(no address)';
    }
  })();
  return `An error occurred while sending the request to ${host}: ${code ?? (error instanceof Error ? error.message : String(error))}`;
}

// ---- the mailer and the batch scheduler ---------------------------------------------------------

interface CachedToken {
  applicationId: string;
  tenantId: string;
  accessToken: string;
  /** Virtual ms after which a new token is requested. */
  renewAt: number;
  keyId: string | null;
}

type TokenResult = { accessToken: string; keyId: string | null } | { error: string; keyId: string | null };

export interface FinOpsMailOptions {
  /**
   * PEM of the CA that signed the sandbox's server certificates, trusted by F&O's HTTPS client as a
   * real F&O trusts the public CAs. Absent: Node's default trust store.
   */
  caCertPem?: string;
}

export interface OutgoingMessage {
  subject: string;
  to: string[];
  body: string;
}

/**
 * F&O's mail subsystem for every environment of one sandbox. Runs are driven by the virtual clock:
 * on every clock advance and on a one-second real-time tick the scheduler starts the runs that are due,
 * never two at once for one environment, without blocking the event loop. A clock jump over many
 * intervals starts one run (missed runs collapse into one, as a late batch job's recurrence does), which
 * sends everything queued; the next run is due at the next point of the schedule after now.
 */
export class FinOpsMail {
  private readonly agent: https.Agent;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly state: SandboxState,
    options: FinOpsMailOptions = {},
  ) {
    // A connection per request. Kept alive, an idle connection the sandbox's server closes (its
    // keep-alive timeout) could be picked for F&O's next request just then, which fails with ECONNRESET
    // (https://nodejs.org/api/http.html#requestreusedsocket): a failed send in Email history that no
    // fault was asked for, seen under load. F&O's own connection handling (.NET's) is not emulated.
    // One TLS context for every connection: given only `ca`, each connection would parse it into a new one.
    this.agent = new https.Agent({ keepAlive: false, ...(options.caCertPem !== undefined ? { secureContext: tls.createSecureContext({ ca: options.caCertPem }) } : {}) });
  }

  /** Starts watching the clock. */
  start(): void {
    this.stopped = false;
    this.unsubscribe ??= this.state.onClockAdvanced(() => this.kick());
    if (!this.timer) {
      this.timer = setInterval(() => this.kick(), SCHEDULER_TICK_MS);
      this.timer.unref();
    }
    this.kick();
  }

  /** Stops the scheduler and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
    this.agent.destroy();
  }

  /** Resolves once no batch run is in progress (runs started meanwhile are waited for too). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()]);
  }

  /** Starts every due batch run that is not already running. */
  kick(): void {
    if (this.stopped) return;
    const now = this.state.now();
    for (const env of this.state.finops) {
      const { batch } = env;
      if (!batch.running || batch.nextRunAt === null || now < batch.nextRunAt || this.inFlight.has(env.id)) continue;
      const due = batch.nextRunAt;
      const interval = batch.intervalMinutes * MINUTE_MS;
      // Missed runs collapse into this one: the next is the first point of the schedule after now.
      batch.nextRunAt = due + (Math.floor((now - due) / interval) + 1) * interval;
      const run = this.runBatch(env)
        .catch((e: unknown) => {
          process.stderr.write(`sandbox F&O ${env.id}: the email batch run failed: ${e instanceof Error ? e.message : String(e)}\n`);
        })
        .finally(() => {
          this.inFlight.delete(env.id);
          // The clock may have jumped while this run was sending.
          setImmediate(() => this.kick());
        });
      this.inFlight.set(env.id, run);
    }
  }

  /** Turns the batch job on (its first run is due at once) or off (a run in progress stops before its next message). */
  setBatch(env: FinOpsEnvironmentRecord, settings: { running: boolean; intervalMinutes?: number | undefined; user?: string | undefined }): void {
    const { batch } = env;
    if (settings.intervalMinutes !== undefined && (!Number.isInteger(settings.intervalMinutes) || settings.intervalMinutes < 1)) {
      throw new FinOpsInputError(400, `intervalMinutes must be a whole number of minutes, at least 1, not ${settings.intervalMinutes}.`);
    }
    const now = this.state.now();
    const intervalChanged = settings.intervalMinutes !== undefined && settings.intervalMinutes !== batch.intervalMinutes;
    if (settings.intervalMinutes !== undefined) batch.intervalMinutes = settings.intervalMinutes;
    if (settings.user !== undefined) batch.user = settings.user;
    if (!settings.running) {
      batch.running = false;
      batch.nextRunAt = null;
      return;
    }
    if (!batch.running || batch.nextRunAt === null) {
      batch.running = true;
      batch.nextRunAt = now;
    } else if (intervalChanged) {
      batch.nextRunAt = Math.min(batch.nextRunAt, now + batch.intervalMinutes * MINUTE_MS);
    }
    this.kick();
  }

  /** A database refresh: the data moves, and the target's AOS restarts, so its cached tokens are gone. */
  copyDatabase(target: FinOpsEnvironmentRecord, source: FinOpsEnvironmentRecord): void {
    copyDatabase(target, source);
    this.tokens.delete(target.id);
  }

  /**
   * One run of the Email distributor batch: a workflow queues its notification, then the queued
   * messages go out oldest first through the batch provider read at the start of the run. The run stops
   * at the first failure, leaving the rest queued for the next run (guess: whether F&O tries every
   * message of a run against a broken provider is not public; stopping keeps one sign-in attempt per run).
   */
  private async runBatch(env: FinOpsEnvironmentRecord): Promise<void> {
    const provider = env.emailParameters.MailerNonInteractive;
    enqueueMessages(this.state, env, 1, `Workflow notification from ${env.id}`);
    const now = this.state.now();
    env.outgoingEmail = env.outgoingEmail.filter((m) => now - Date.parse(m.queuedAt) < EMAIL_EXPIRATION_MS);
    for (let sends = 0; sends < MAX_SENDS_PER_RUN && env.batch.running && !this.stopped; sends += 1) {
      const message: FinOpsOutgoingEmailRecord | undefined = env.outgoingEmail[0];
      if (!message) break;
      const record = await this.send(env, provider, message, env.batch.user);
      if (record.status === 'sent') {
        env.outgoingEmail = env.outgoingEmail.filter((m) => m.id !== message.id);
        continue;
      }
      message.attempts += 1;
      if (message.attempts >= MAX_ATTEMPTS) env.outgoingEmail = env.outgoingEmail.filter((m) => m.id !== message.id);
      break;
    }
  }

  /**
   * Sends one message now through `provider` as `sender` and records the attempt in Email history.
   * The Graph provider signs in to the environment's tenant with the Microsoft Graph settings as they
   * are at this moment.
   */
  async send(env: FinOpsEnvironmentRecord, provider: string, message: OutgoingMessage, sender: string): Promise<FinOpsEmailHistoryRecord> {
    let outcome: Omit<FinOpsEmailHistoryRecord, 'at' | 'provider'>;
    switch (provider) {
      case 'Graph':
        outcome = await this.sendWithGraph(env, message, sender);
        break;
      case 'SMTP':
        // The sandbox runs no SMTP server: an SMTP send is recorded as sent when a server is configured.
        outcome = env.emailParameters.SMTPRelayServerName.trim() === '' ? { status: 'failed', error: SMTP_NO_SERVER_ERROR } : { status: 'sent' };
        break;
      case 'Exchange':
        outcome = { status: 'failed', error: EXCHANGE_UNAVAILABLE_ERROR };
        break;
      default:
        outcome = { status: 'failed', error: `The email provider '${provider}' is not available.` };
    }
    const record: FinOpsEmailHistoryRecord = { at: this.state.nowIso(), provider, ...outcome };
    this.record(env, record);
    return record;
  }

  private record(env: FinOpsEnvironmentRecord, record: FinOpsEmailHistoryRecord): void {
    const oldest = this.state.now() - HISTORY_RETENTION_MS;
    env.emailHistory = [record, ...env.emailHistory.filter((r) => Date.parse(r.at) >= oldest)].slice(0, HISTORY_LIMIT);
  }

  private async sendWithGraph(env: FinOpsEnvironmentRecord, message: OutgoingMessage, sender: string): Promise<Omit<FinOpsEmailHistoryRecord, 'at' | 'provider'>> {
    const applicationId = env.graphCredential.applicationId;
    if (!applicationId) return { status: 'failed', error: NO_APPLICATION_ID_ERROR, keyId: null };
    // The secret is decrypted before any sign-in: an unreadable one fails here, and Entra never hears of it.
    if (env.foreignSecretFrom !== null) return { status: 'failed', error: DECRYPTION_ERROR, keyId: null };
    const secret = env.graphCredential.secret;
    if (!secret) return { status: 'failed', error: NO_SECRET_ERROR, keyId: null };

    const token = await this.accessToken(env, applicationId, secret);
    if ('error' in token) return { status: 'failed', error: token.error, keyId: token.keyId };

    const url = `${this.state.serviceUrls.graphUrl}/v1.0/users/${encodeURIComponent(sender)}/sendMail`;
    const payload = JSON.stringify({
      message: {
        subject: message.subject,
        body: { contentType: 'Text', content: message.body },
        toRecipients: message.to.map((address) => ({ emailAddress: { address } })),
      },
      saveToSentItems: false,
    });
    let reply: HttpReply;
    try {
      reply = await this.request(url, { authorization: `Bearer ${token.accessToken}`, 'content-type': 'application/json' }, payload);
    } catch (e) {
      return { status: 'failed', error: describeNetworkError(e, url), keyId: token.keyId };
    }
    if (reply.status >= 200 && reply.status < 300) return { status: 'sent', keyId: token.keyId };
    return { status: 'failed', error: graphFailure(reply), keyId: token.keyId };
  }

  /**
   * A Graph access token for the environment's application: the cached one until five minutes before
   * it expires (virtual time), else a client credentials request to the environment's tenant with the
   * secret held now. The cache belongs to the application id, so a new secret is used at the next
   * token request, not at once (guess: F&O's token cache is not public; MSAL's is per client application).
   */
  private async accessToken(env: FinOpsEnvironmentRecord, applicationId: string, secret: string): Promise<TokenResult> {
    const now = this.state.now();
    const cached = this.tokens.get(env.id);
    if (cached && cached.applicationId === applicationId && cached.tenantId === env.tenantId && now < cached.renewAt) {
      return { accessToken: cached.accessToken, keyId: cached.keyId };
    }
    const keyId = keyIdOf(this.state, applicationId, secret);
    const url = `${this.state.serviceUrls.authorityHost}/${encodeURIComponent(env.tenantId)}/oauth2/v2.0/token`;
    const form = new URLSearchParams({ client_id: applicationId, client_secret: secret, scope: GRAPH_SCOPE, grant_type: 'client_credentials' });
    let reply: HttpReply;
    try {
      reply = await this.request(url, { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
    } catch (e) {
      return { error: describeNetworkError(e, url), keyId };
    }
    const body = parseJson(reply.text);
    if (reply.status === 200 && typeof body['access_token'] === 'string') {
      const expiresIn = typeof body['expires_in'] === 'number' ? body['expires_in'] : Number(body['expires_in'] ?? 3599);
      const accessToken = body['access_token'];
      this.tokens.set(env.id, { applicationId, tenantId: env.tenantId, accessToken, renewAt: now + expiresIn * 1000 - TOKEN_RENEWAL_OFFSET_MS, keyId });
      return { accessToken, keyId };
    }
    // MSAL's exception message is Entra's error_description: the AADSTS code and text (guess: that F&O shows it unchanged).
    const description = typeof body['error_description'] === 'string' ? body['error_description'] : `The token request failed with HTTP ${reply.status}.`;
    return { error: description, keyId };
  }

  private request(url: string, headers: Record<string, string>, body: string): Promise<HttpReply> {
    return new Promise((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      const req = https.request(
        target,
        { method: 'POST', agent: this.agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('the request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Failure details for a Graph error answer. Microsoft documents "(401) Unauthorized", "(403) Forbidden"
 * and "(404) Not found" in Email history for mailbox problems (configure-email); the rest of the wording
 * (Graph's error code and message after the status) is a guess.
 */
function graphFailure(reply: HttpReply): string {
  const error = parseJson(reply.text)['error'];
  const code = typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : undefined;
  const message = typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['message'] : undefined;
  const detail = [typeof code === 'string' ? code : '', typeof message === 'string' ? message : ''].filter((s) => s !== '').join(': ');
  return `Microsoft Graph returned (${reply.status}) ${REASONS[reply.status] ?? 'Error'}${detail ? `. ${detail}` : '.'}`;
}
