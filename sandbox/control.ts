/**
 * The sandbox's control API (plain http on 127.0.0.1, JSON): a value-free view of the world, the
 * minted secrets (for leak scanning), fault injection, the virtual clock, consent, the managed
 * identity's Graph permissions, the call record and runtime settings. Tests and `npm start` drive
 * the emulated cloud through it.
 *
 * Faults: `POST /faults` also takes `concerning` (an app's uniqueName, a Key Vault secret name or an F&O
 * environment id): only requests about that subject fail, so one environment can be hit while others
 * run (see faultScope.ts). `after: true` serves the request first and answers the fault after it (a write
 * committed, the answer lost; see server.ts); `GET /calls` shows what the service answered as `servedStatus`,
 * and on every call a fault answered, that fault (`fault`).
 *
 * Tenant policy and Exchange switches:
 *   POST /settings        also `passwordLifetimeMaxDays: number | null` (the home tenant's default app
 *                         management policy, kept for compatibility: Graph addPassword beyond it fails with
 *                         CredentialInvalidLifetimeAsPerAppPolicy); the reply shows it only while a cap is set.
 *                         `signInLogDelayMinutes` (virtual minutes before a sign-in shows in Graph, default 2)
 *                         and `throttling` (documented Graph and Key Vault limits, default off).
 *   POST /consent, /revoke-consent  {appId, tenantId?} (default the home tenant)
 *
 * Tenants and identities (partner mode, attack tests): see control-identity.ts.
 *   GET  /mailbox-scopes  → {mailboxScopes: {appId: string[] | null}}
 *   POST /mailbox-scopes  {appId, mailboxes: string[] | null} (RBAC for Applications: the app may send
 *                         only as these mailboxes; null lifts the scope)
 *
 * F&O (what a person does in an environment; every route answers 200 with the environment's /state view):
 *   POST /finops/{environmentId}/form           {applicationId?, secret?, batchProvider?: "SMTP" | "Exchange" | "Graph"}
 *                                               (the Email parameters form: Microsoft Graph settings and batch provider)
 *   POST /finops/{environmentId}/batch          {running: boolean, intervalMinutes?, user?} (the Email distributor batch)
 *   POST /finops/{environmentId}/copy-database  {from: "<environmentId>"} (a database refresh)
 *   POST /finops/{environmentId}/enqueue        {count?} (messages for the outgoing queue)
 *   POST /finops/{environmentId}/extension      {installed: boolean} (deploys or removes FnoGraphMail)
 *
 * Event Grid (the vault's system topic; deliveries to loopback http(s) endpoints only):
 *   GET    /eventgrid                    → {keyVaultName, topic, settings}
 *   GET    /eventgrid/settings           → {stringTimestamps, retryScheduleMs, maxDeliveryAttempts, eventTimeToLiveMs, deliveryTimeoutMs}
 *   POST   /eventgrid/settings           any subset of those
 *   POST   /eventgrid/subscriptions      {endpoint, name?, includedEventTypes?, subjectBeginsWith?, subjectEndsWith?,
 *                                         retryPolicy?: {maxDeliveryAttempts?, eventTimeToLiveInMinutes?}}
 *                                        → 201 subscription (endpointBaseUrl only: the query carries the function key)
 *   GET    /eventgrid/subscriptions      → {subscriptions}
 *   DELETE /eventgrid/subscriptions/{id} drops it and its pending retries
 *   GET    /eventgrid/events[?eventType=&subject=] → {events: [{eventId, eventType, subject, source, publishedAt, event, deliveries}]}
 *   GET    /eventgrid/deadletter         → {deadLetters}
 *   POST   /eventgrid/redeliver          {eventId, subscriptionId?} → 202: the same event again (duplicate delivery)
 *   POST   /eventgrid/publish            {event} (sent as [event]) or {rawBody} (sent verbatim) to every
 *                                        subscription, for hostile-input tests → 202
 */
import { z } from 'zod';
import { parseIsoDuration } from './duration';
import { applicationStateView, identityControlRoute, tenantStateView } from './control-identity';
import { ConsentError, grantAdminConsent, revokeAdminConsent } from './entra';
import { EventGridInputError, loopbackEndpoint, type EventGridEmulator } from './eventgrid';
import { applyEmailParametersForm, BATCH_EMAIL_PROVIDERS, enqueueMessages, FinOpsInputError, type FinOpsMail } from './finops-mail';
import { setGraphRoles } from './seed';
import type { SandboxState } from './state';
import type { FinOpsEnvironmentRecord } from './types';

export { parseIsoDuration };

export interface ControlRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Buffer;
}

export interface ControlResponse {
  status: number;
  body?: unknown;
}

export type ControlHandler = (req: ControlRequest) => ControlResponse;

// ---- input schemas ------------------------------------------------------------------------------

const faultSchema = z.strictObject({
  service: z.enum(['graph', 'entra', 'keyvault', 'finops']),
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, 'method must be an HTTP method name')
    .transform((m) => m.toUpperCase())
    .optional(),
  pathPattern: z
    .string()
    .min(1)
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'pathPattern must be a valid regular expression')
    .optional(),
  status: z
    .number()
    .int()
    .refine((s) => s === 0 || (s >= 400 && s <= 599), 'status must be 0 (connection reset) or 400-599'),
  count: z.number().int().min(1).default(1),
  retryAfterSeconds: z.number().int().min(0).optional(),
  code: z.string().min(1).optional(),
  message: z.string().min(1).optional(),
  concerning: z.string().min(1).optional(),
  after: z.boolean().optional(),
});

const clockSchema = z.strictObject({ advance: z.string().min(2) });
const appIdSchema = z.strictObject({ appId: z.string().min(1), tenantId: z.string().min(1).optional() });
const permissionsSchema = z.strictObject({ managedIdentityRoles: z.array(z.string().min(1)) });
const settingsSchema = z.strictObject({
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  secretPropagationSeconds: z.number().min(0).max(3600).optional(),
  replicationLagSeconds: z.number().min(0).max(3600).optional(),
  passwordLifetimeMaxDays: z.number().int().min(1).max(36_500).nullable().optional(),
  signInLogDelayMinutes: z.number().min(0).max(24 * 60).optional(),
  throttling: z.boolean().optional(),
});
const mailboxScopeSchema = z.strictObject({
  appId: z.guid('appId must be an application (client) id'),
  mailboxes: z.array(z.string().regex(/^[^@\s]+@[^@\s]+$/, 'each mailbox must be a UPN or SMTP address')).nullable(),
});

const mailbox = z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be a UPN or SMTP address');
const finopsFormSchema = z.strictObject({
  applicationId: z.string().max(36).nullable().optional(),
  secret: z.string().max(255).nullable().optional(),
  batchProvider: z.enum(BATCH_EMAIL_PROVIDERS).optional(),
});
const finopsBatchSchema = z.strictObject({
  running: z.boolean(),
  intervalMinutes: z.number().int().min(1).max(7 * 24 * 60).optional(),
  user: mailbox.optional(),
});
const finopsCopySchema = z.strictObject({ from: z.string().min(1) });
const finopsEnqueueSchema = z.strictObject({ count: z.number().int().min(1).max(1000).optional() });
const finopsExtensionSchema = z.strictObject({ installed: z.boolean() });

const eventGridSettingsSchema = z.strictObject({
  stringTimestamps: z.boolean().optional(),
  retryScheduleMs: z.array(z.number().int().min(0).max(24 * 3600 * 1000)).min(1).max(30).optional(),
  maxDeliveryAttempts: z.number().int().min(1).max(30).optional(),
  eventTimeToLiveMs: z.number().int().min(1).max(24 * 3600 * 1000).optional(),
  deliveryTimeoutMs: z.number().int().min(1).max(120_000).optional(),
});
const subscriptionSchema = z.strictObject({
  endpoint: z.string().superRefine((text, ctx) => {
    const url = loopbackEndpoint(text);
    if (typeof url === 'string') ctx.addIssue({ code: 'custom', message: url });
  }),
  name: z.string().regex(/^[A-Za-z0-9-]{3,64}$/, 'name must be 3-64 letters, digits or hyphens').optional(),
  includedEventTypes: z.array(z.string().min(1)).min(1).nullable().optional(),
  subjectBeginsWith: z.string().min(1).optional(),
  subjectEndsWith: z.string().min(1).optional(),
  retryPolicy: z
    .strictObject({
      maxDeliveryAttempts: z.number().int().min(1).max(30).optional(),
      eventTimeToLiveInMinutes: z.number().int().min(1).max(1440).optional(),
    })
    .optional(),
});
const redeliverSchema = z.strictObject({ eventId: z.string().min(1), subscriptionId: z.string().min(1).optional() });
const publishSchema = z
  .strictObject({ event: z.unknown(), rawBody: z.string() })
  .partial()
  .refine((v) => Object.prototype.hasOwnProperty.call(v, 'event') !== Object.prototype.hasOwnProperty.call(v, 'rawBody'), {
    message: 'give exactly one of event (sent as a one-element array) or rawBody (sent verbatim)',
  });

function problem(status: number, code: string, message: string, issues?: unknown): ControlResponse {
  return { status, body: { error: { code, message, ...(issues !== undefined ? { issues } : {}) } } };
}

function parse<T>(req: ControlRequest, schema: z.ZodType<T>): { value: T } | { response: ControlResponse } {
  let raw: unknown;
  try {
    raw = JSON.parse(req.body.toString('utf8') || '{}');
  } catch {
    return { response: problem(400, 'InvalidJson', 'The request body is not valid JSON.') };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    return { response: problem(400, 'InvalidRequest', summary, issues) };
  }
  return { value: result.data };
}

// ---- views --------------------------------------------------------------------------------------

function isoSeconds(epochSeconds: number | null): string | null {
  return epochSeconds === null ? null : new Date(epochSeconds * 1000).toISOString();
}

/** How many Email history records `/state` shows per environment (newest first). */
const EMAIL_HISTORY_VIEW_LIMIT = 50;

/** One F&O environment without secret values: what `/state` shows under `finops[id]`. */
export function finopsView(state: SandboxState, env: FinOpsEnvironmentRecord): Record<string, unknown> {
  const secret = env.graphCredential.secret;
  return {
    url: env.url,
    tenantId: env.tenantId,
    extensionInstalled: env.extensionInstalled,
    emailParameters: { ...env.emailParameters },
    graphCredential: {
      applicationId: env.graphCredential.applicationId,
      // A secret another environment encrypted is still held, though unreadable here: it has no key id.
      secretSet: (secret !== null && secret !== '') || env.foreignSecretFrom !== null,
      keyId: secret && env.foreignSecretFrom === null ? (state.findLiveCredentialBySecret(secret)?.keyId ?? null) : null,
    },
    registeredClients: [...env.registeredClients],
    batch: { running: env.batch.running, intervalMinutes: env.batch.intervalMinutes, user: env.batch.user },
    queuedMessages: env.outgoingEmail.length,
    emailHistory: env.emailHistory.slice(0, EMAIL_HISTORY_VIEW_LIMIT).map((r) => ({ ...r })),
  };
}

/** Everything a test or person wants to see, without a single secret value. */
export function stateView(state: SandboxState): Record<string, unknown> {
  const finops: Record<string, unknown> = {};
  for (const env of state.finops) finops[env.id] = finopsView(state, env);
  return {
    now: state.nowIso(),
    tenantId: state.tenantId,
    verifiedDomain: state.verifiedDomain,
    managedIdentity: state.managedIdentity,
    operator: { appId: state.operator.appId, servicePrincipalId: state.operator.servicePrincipalId, displayName: state.operator.displayName },
    graphServicePrincipalId: state.graphServicePrincipalId,
    senderMailbox: state.senderMailbox,
    settings: settingsView(state),
    mailboxScopes: state.mailboxScopes,
    applications: state.applications.map(applicationStateView),
    servicePrincipals: state.servicePrincipals.map((s) => ({
      id: s.id,
      appId: s.appId,
      displayName: s.displayName,
      servicePrincipalType: s.servicePrincipalType,
      ...(s.owners ? { owners: [...s.owners] } : {}),
    })),
    appRoleAssignments: state.appRoleAssignments,
    oauth2PermissionGrants: state.oauth2PermissionGrants,
    users: state.users,
    sentMail: state.sentMail,
    finops,
    keyVault: {
      secrets: state.secrets.map((s) => ({
        name: s.name,
        deleted: s.deletedDate !== null,
        versions: s.versions.map((v) => ({
          version: v.version,
          enabled: v.enabled,
          contentType: v.contentType,
          notBefore: isoSeconds(v.nbf),
          expiresOn: isoSeconds(v.exp),
          createdOn: isoSeconds(v.created),
          updatedOn: isoSeconds(v.updated),
          tags: { ...v.tags },
        })),
      })),
    },
    faults: state.faults,
    tenants: state.tenants.map((t) => tenantStateView(state, t)),
    finopsSpareListeners: state.spareFinOpsListeners.map((l) => ({ ...l })),
  };
}

/** `passwordLifetimeMaxDays` appears only while a cap is set (absent = no tenant policy). */
function settingsView(state: SandboxState): Record<string, number | boolean> {
  const maxDays = state.passwordLifetimeMaxDays;
  return {
    latencyMs: state.latencyMs,
    secretPropagationSeconds: state.secretPropagationSeconds,
    replicationLagSeconds: state.replicationLagSeconds,
    signInLogDelayMinutes: state.signInLogDelayMinutes,
    throttling: state.throttling,
    ...(maxDays !== null ? { passwordLifetimeMaxDays: maxDays } : {}),
  };
}

// ---- routes -------------------------------------------------------------------------------------

export function createControlHandler(state: SandboxState, eventGrid: EventGridEmulator, finopsMail: FinOpsMail): ControlHandler {
  const eventGridRoute = createEventGridRoutes(eventGrid);
  const finopsRoute = createFinOpsRoutes(state, finopsMail);
  return (req) => {
    const route = `${req.method} ${req.path.replace(/\/+$/, '') || '/'}`;
    if (route === 'GET /eventgrid' || route.startsWith(`${req.method} /eventgrid/`)) return eventGridRoute(route, req);
    if (route.startsWith(`${req.method} /finops/`)) return finopsRoute(route, req);
    const identity = identityControlRoute(state, route, (schema) => parse(req, schema), problem, req.query);
    if (identity) return identity;
    switch (route) {
      case 'GET /':
      case 'GET /healthz':
        return { status: 200, body: { ok: true, now: state.nowIso() } };
      case 'GET /state':
        return { status: 200, body: stateView(state) };
      case 'GET /minted-secrets':
        return { status: 200, body: { secrets: [...state.mintedSecrets] } };

      case 'GET /faults':
        return { status: 200, body: { faults: state.faults } };
      case 'POST /faults': {
        const parsed = parse(req, faultSchema);
        if ('response' in parsed) return parsed.response;
        const { method, pathPattern, retryAfterSeconds, code, message, after, ...rest } = parsed.value;
        const fault = {
          ...rest,
          ...(after === true ? { after } : {}),
          ...(method !== undefined ? { method } : {}),
          ...(pathPattern !== undefined ? { pathPattern } : {}),
          ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
          ...(code !== undefined ? { code } : {}),
          ...(message !== undefined ? { message } : {}),
        };
        state.faults.push(fault);
        return { status: 201, body: { fault, faults: state.faults } };
      }
      case 'DELETE /faults': {
        const cleared = state.faults.length;
        state.faults = [];
        return { status: 200, body: { cleared } };
      }

      case 'GET /clock':
        return { status: 200, body: { now: state.nowIso() } };
      case 'POST /clock': {
        const parsed = parse(req, clockSchema);
        if ('response' in parsed) return parsed.response;
        const ms = parseIsoDuration(parsed.value.advance);
        if (ms === undefined) {
          return problem(400, 'InvalidRequest', `advance: '${parsed.value.advance}' is not an ISO 8601 duration such as P30D or PT12H`);
        }
        state.advanceClock(ms);
        return { status: 200, body: { now: state.nowIso() } };
      }

      case 'POST /consent':
      case 'POST /revoke-consent': {
        const parsed = parse(req, appIdSchema);
        if ('response' in parsed) return parsed.response;
        try {
          const { appId, tenantId } = parsed.value;
          const result = route === 'POST /consent' ? grantAdminConsent(state, appId, tenantId) : revokeAdminConsent(state, appId, tenantId);
          return { status: 200, body: result };
        } catch (e) {
          if (e instanceof ConsentError) return problem(e.status, e.status === 404 ? 'NotFound' : 'InvalidRequest', e.message);
          throw e;
        }
      }

      case 'POST /permissions': {
        const parsed = parse(req, permissionsSchema);
        if ('response' in parsed) return parsed.response;
        try {
          setGraphRoles(state, state.managedIdentity.servicePrincipalId, parsed.value.managedIdentityRoles);
        } catch (e) {
          return problem(400, 'InvalidRequest', (e as Error).message);
        }
        return { status: 200, body: { managedIdentityRoles: state.graphRolesOf(state.managedIdentity.servicePrincipalId) } };
      }

      case 'GET /calls':
        return { status: 200, body: { calls: state.calls } };
      case 'DELETE /calls': {
        const cleared = state.calls.length;
        state.calls = [];
        return { status: 200, body: { cleared } };
      }

      case 'GET /settings':
        return { status: 200, body: settingsView(state) };
      case 'POST /settings': {
        const parsed = parse(req, settingsSchema);
        if ('response' in parsed) return parsed.response;
        const s = parsed.value;
        if (s.latencyMs !== undefined) state.latencyMs = s.latencyMs;
        if (s.secretPropagationSeconds !== undefined) state.secretPropagationSeconds = s.secretPropagationSeconds;
        if (s.replicationLagSeconds !== undefined) state.replicationLagSeconds = s.replicationLagSeconds;
        if (s.passwordLifetimeMaxDays !== undefined) state.passwordLifetimeMaxDays = s.passwordLifetimeMaxDays;
        if (s.signInLogDelayMinutes !== undefined) state.signInLogDelayMinutes = s.signInLogDelayMinutes;
        if (s.throttling !== undefined) state.throttling = s.throttling;
        return { status: 200, body: settingsView(state) };
      }

      case 'GET /mailbox-scopes':
        return { status: 200, body: { mailboxScopes: state.mailboxScopes } };
      case 'POST /mailbox-scopes': {
        const parsed = parse(req, mailboxScopeSchema);
        if ('response' in parsed) return parsed.response;
        const { appId, mailboxes } = parsed.value;
        state.mailboxScopes[appId.toLowerCase()] = mailboxes === null ? null : [...new Set(mailboxes.map((m) => m.toLowerCase()))];
        return { status: 200, body: { appId: appId.toLowerCase(), mailboxes: state.mailboxScopes[appId.toLowerCase()], mailboxScopes: state.mailboxScopes } };
      }
      default:
        return problem(404, 'NotFound', `The control API has no route ${route}.`);
    }
  };
}

/** `POST /finops/{environmentId}/{form | batch | copy-database | enqueue | extension}`. */
function createFinOpsRoutes(state: SandboxState, finopsMail: FinOpsMail): (route: string, req: ControlRequest) => ControlResponse {
  const findEnvironment = (id: string): FinOpsEnvironmentRecord | undefined => state.finops.find((e) => e.id === id);
  return (route, req) => {
    const m = /^POST \/finops\/([^/]+)\/([a-z-]+)$/.exec(route);
    if (!m) return problem(404, 'NotFound', `The control API has no route ${route}.`);
    const [, id = '', operation] = m;
    const env = findEnvironment(id);
    if (!env) return problem(404, 'NotFound', `There is no F&O environment '${id}'.`);
    const answer = (): ControlResponse => ({ status: 200, body: finopsView(state, env) });
    switch (operation) {
      case 'form': {
        const parsed = parse(req, finopsFormSchema);
        if ('response' in parsed) return parsed.response;
        applyEmailParametersForm(env, parsed.value);
        return answer();
      }
      case 'batch': {
        const parsed = parse(req, finopsBatchSchema);
        if ('response' in parsed) return parsed.response;
        finopsMail.setBatch(env, parsed.value);
        return answer();
      }
      case 'copy-database': {
        const parsed = parse(req, finopsCopySchema);
        if ('response' in parsed) return parsed.response;
        const source = findEnvironment(parsed.value.from);
        if (!source) return problem(404, 'NotFound', `from: there is no F&O environment '${parsed.value.from}'.`);
        try {
          finopsMail.copyDatabase(env, source);
        } catch (e) {
          if (e instanceof FinOpsInputError) return problem(e.status, e.status === 409 ? 'Conflict' : 'InvalidRequest', e.message);
          throw e;
        }
        return answer();
      }
      case 'enqueue': {
        const parsed = parse(req, finopsEnqueueSchema);
        if ('response' in parsed) return parsed.response;
        enqueueMessages(state, env, parsed.value.count ?? 1);
        return answer();
      }
      case 'extension': {
        const parsed = parse(req, finopsExtensionSchema);
        if ('response' in parsed) return parsed.response;
        env.extensionInstalled = parsed.value.installed;
        return answer();
      }
      default:
        return problem(404, 'NotFound', `The control API has no route ${route}.`);
    }
  };
}

function createEventGridRoutes(eventGrid: EventGridEmulator): (route: string, req: ControlRequest) => ControlResponse {
  const info = (): Record<string, unknown> => ({ keyVaultName: eventGrid.vaultName, topic: eventGrid.topic, settings: eventGrid.settings() });
  const inputError = (e: unknown): ControlResponse => {
    if (e instanceof EventGridInputError) return problem(e.status, e.status === 409 ? 'Conflict' : 'InvalidRequest', e.message);
    throw e;
  };
  return (route, req) => {
    const subscriptionPrefix = 'DELETE /eventgrid/subscriptions/';
    if (route.startsWith(subscriptionPrefix)) {
      const id = route.slice(subscriptionPrefix.length);
      if (id.includes('/') || !eventGrid.unsubscribe(id)) return problem(404, 'NotFound', `There is no event subscription '${id}'.`);
      return { status: 200, body: { deleted: id } };
    }
    switch (route) {
      case 'GET /eventgrid':
        return { status: 200, body: info() };
      case 'GET /eventgrid/settings':
        return { status: 200, body: eventGrid.settings() };
      case 'POST /eventgrid/settings': {
        const parsed = parse(req, eventGridSettingsSchema);
        if ('response' in parsed) return parsed.response;
        const { stringTimestamps, retryScheduleMs, maxDeliveryAttempts, eventTimeToLiveMs, deliveryTimeoutMs } = parsed.value;
        try {
          return {
            status: 200,
            body: eventGrid.updateSettings({
              ...(stringTimestamps !== undefined ? { stringTimestamps } : {}),
              ...(retryScheduleMs !== undefined ? { retryScheduleMs } : {}),
              ...(maxDeliveryAttempts !== undefined ? { maxDeliveryAttempts } : {}),
              ...(eventTimeToLiveMs !== undefined ? { eventTimeToLiveMs } : {}),
              ...(deliveryTimeoutMs !== undefined ? { deliveryTimeoutMs } : {}),
            }),
          };
        } catch (e) {
          return inputError(e);
        }
      }
      case 'GET /eventgrid/subscriptions':
        return { status: 200, body: { subscriptions: eventGrid.listSubscriptions() } };
      case 'POST /eventgrid/subscriptions': {
        const parsed = parse(req, subscriptionSchema);
        if ('response' in parsed) return parsed.response;
        const { endpoint, name, includedEventTypes, subjectBeginsWith, subjectEndsWith, retryPolicy } = parsed.value;
        try {
          const subscription = eventGrid.subscribe({
            endpoint,
            ...(name !== undefined ? { name } : {}),
            ...(includedEventTypes !== undefined ? { includedEventTypes } : {}),
            ...(subjectBeginsWith !== undefined ? { subjectBeginsWith } : {}),
            ...(subjectEndsWith !== undefined ? { subjectEndsWith } : {}),
            ...(retryPolicy?.maxDeliveryAttempts !== undefined ? { maxDeliveryAttempts: retryPolicy.maxDeliveryAttempts } : {}),
            ...(retryPolicy?.eventTimeToLiveInMinutes !== undefined ? { eventTimeToLiveMs: retryPolicy.eventTimeToLiveInMinutes * 60_000 } : {}),
          });
          return { status: 201, body: subscription };
        } catch (e) {
          return inputError(e);
        }
      }
      case 'GET /eventgrid/events': {
        const eventType = req.query.get('eventType');
        const subject = req.query.get('subject');
        return {
          status: 200,
          body: { events: eventGrid.events({ ...(eventType !== null ? { eventType } : {}), ...(subject !== null ? { subject } : {}) }) },
        };
      }
      case 'GET /eventgrid/deadletter':
        return { status: 200, body: { deadLetters: eventGrid.deadLettered() } };
      case 'POST /eventgrid/redeliver': {
        const parsed = parse(req, redeliverSchema);
        if ('response' in parsed) return parsed.response;
        const result = eventGrid.redeliver(parsed.value.eventId, parsed.value.subscriptionId);
        if (!result) return problem(404, 'NotFound', `No event with id '${parsed.value.eventId}' was published.`);
        return { status: 202, body: { eventId: parsed.value.eventId, ...result } };
      }
      case 'POST /eventgrid/publish': {
        const parsed = parse(req, publishSchema);
        if ('response' in parsed) return parsed.response;
        const v = parsed.value;
        const published = Object.prototype.hasOwnProperty.call(v, 'event') ? eventGrid.publishRaw({ event: v.event }) : eventGrid.publishRaw({ rawBody: v.rawBody ?? '' });
        return { status: 202, body: published };
      }
      default:
        return problem(404, 'NotFound', `The control API has no route ${route}.`);
    }
  };
}
