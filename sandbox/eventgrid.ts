/**
 * Emulated Event Grid system topic of the sandbox vault, delivering Key Vault secret events to
 * webhook subscriptions as Event Grid does: SecretNewVersionCreated on every new version,
 * SecretNearExpiry 30 days before a version's `exp` and SecretExpired at it — for every version with
 * an `exp`, current or not, enabled or not — following the virtual clock. Delivery is at least once:
 * one event per POST (a JSON array), `aeg-*` headers, retries on a configurable real-time schedule,
 * no retry on the statuses Event Grid treats as final for webhooks, then a dead-letter list.
 * Deliveries go to loopback endpoints only: the sandbox never sends traffic off the machine.
 */
import { randomUUID } from 'node:crypto';
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { SandboxState } from './state';

/** Name of the sandbox vault as Azure would know it (its URL is the sandbox's localhost origin). */
export const KEY_VAULT_NAME = 'kv-sandbox';
/** Stable Azure ids the sandbox vault's resource id (the Event Grid topic) is built from. */
export const AZURE_SUBSCRIPTION_ID = '5b0a1c8e-3d7f-4f1a-9e2b-6c4d8a7f0e13';
export const RESOURCE_GROUP = 'rg-fno-graph-mail-sandbox';

export const SECRET_NEW_VERSION_CREATED = 'Microsoft.KeyVault.SecretNewVersionCreated';
export const SECRET_NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';
export const SECRET_EXPIRED = 'Microsoft.KeyVault.SecretExpired';

/** Every event type a Key Vault system topic offers (subscriptions may filter on any of them). */
export const KEY_VAULT_EVENT_TYPES = [
  'Microsoft.KeyVault.CertificateNewVersionCreated',
  'Microsoft.KeyVault.CertificateNearExpiry',
  'Microsoft.KeyVault.CertificateExpired',
  'Microsoft.KeyVault.KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired',
  SECRET_NEW_VERSION_CREATED,
  SECRET_NEAR_EXPIRY,
  SECRET_EXPIRED,
  'Microsoft.KeyVault.VaultAccessPolicyChanged',
] as const;

/** Key Vault's fixed lead time for near-expiry events. */
export const NEAR_EXPIRY_LEAD_MS = 30 * 24 * 3600 * 1000;

/** Webhook answers Event Grid does not retry (it dead-letters at once). */
const FINAL_STATUSES = new Set([400, 401, 403, 413]);
const MAX_EVENT_RECORDS = 2000;
const SUBSCRIPTION_NAME = /^[A-Za-z0-9-]{3,64}$/;

export function keyVaultTopic(vaultName: string = KEY_VAULT_NAME): string {
  return `/subscriptions/${AZURE_SUBSCRIPTION_ID}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/${vaultName}`;
}

// ---- public shapes ------------------------------------------------------------------------------

export interface KeyVaultSecretEventData {
  /** `{vaultUrl}/secrets/{name}/{version}` */
  Id: string;
  VaultName: string;
  ObjectType: 'Secret';
  ObjectName: string;
  Version: string;
  /** Epoch seconds (strings when `stringTimestamps` is on), null when the version has none. */
  NBF: number | string | null;
  EXP: number | string | null;
}

/** An event in the Event Grid schema. */
export interface EventGridEvent<T = KeyVaultSecretEventData> {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: T;
  dataVersion: string;
  metadataVersion: string;
}

export interface EventGridSettings {
  /** Emit `NBF`/`EXP` as strings, as some real events carry them. */
  stringTimestamps: boolean;
  /** Real-time waits between attempts; the last one repeats. Event Grid's own: 10 s, 30 s, 1 min, 5 min, ... */
  retryScheduleMs: number[];
  /** Attempts before dead-lettering (Event Grid: 1–30, default 30), unless a subscription sets its own. */
  maxDeliveryAttempts: number;
  /** Real time after publication past which an undelivered event is dead-lettered. */
  eventTimeToLiveMs: number;
  /** How long an endpoint may take to answer (Event Grid: 30 s). */
  deliveryTimeoutMs: number;
}

export interface EventGridOptions extends Partial<EventGridSettings> {
  /** Real-time period of the expiry check (besides every clock advance and vault write); default 250 ms. */
  tickMs?: number;
}

export const DEFAULT_EVENT_GRID_SETTINGS: EventGridSettings = {
  stringTimestamps: false,
  retryScheduleMs: [1000, 2000, 5000, 10_000, 30_000, 60_000],
  maxDeliveryAttempts: 10,
  eventTimeToLiveMs: 30 * 60 * 1000,
  deliveryTimeoutMs: 30_000,
};

export interface EventSubscriptionInput {
  /** Loopback http(s) URL, e.g. the Functions host's `/runtime/webhooks/eventgrid?functionName=...&code=...`. */
  endpoint: string;
  /** Event subscription name (3–64 letters, digits, hyphens); default generated. */
  name?: string;
  /** Only these event types are delivered; null or absent means all. */
  includedEventTypes?: string[] | null;
  /** Event Grid's subject filters (case-insensitive); the subject of a vault event is the secret name. */
  subjectBeginsWith?: string;
  subjectEndsWith?: string;
  maxDeliveryAttempts?: number;
  eventTimeToLiveMs?: number;
}

/** A subscription as the control API shows it: like Azure, without the endpoint's query (it carries a key). */
export interface EventSubscriptionView {
  id: string;
  name: string;
  endpointBaseUrl: string;
  includedEventTypes: string[] | null;
  subjectBeginsWith: string | null;
  subjectEndsWith: string | null;
  maxDeliveryAttempts: number | null;
  eventTimeToLiveMs: number | null;
  createdAt: string;
}

export type DeliveryState = 'pending' | 'delivered' | 'deadLettered' | 'cancelled';

export interface DeliveryView {
  subscriptionId: string;
  subscriptionName: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastOutcome: string | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
}

export interface PublishedEventView {
  eventId: string;
  eventType: string | null;
  subject: string | null;
  /** `keyvault` for events the vault raised, `control` for bodies sent with `POST /eventgrid/publish`. */
  source: 'keyvault' | 'control';
  publishedAt: string;
  event: unknown;
  deliveries: DeliveryView[];
}

export type DeadLetterReason = 'MaxDeliveryAttemptsExceeded' | 'TimeToLiveExceeded' | 'NonRetriableStatus';

/** A dead-lettered delivery, with the fields Event Grid adds to dead-lettered events. */
export interface DeadLetterRecord {
  event: unknown;
  eventId: string;
  subscriptionId: string;
  subscriptionName: string;
  deadLetterReason: DeadLetterReason;
  deliveryAttempts: number;
  lastDeliveryOutcome: string;
  lastHttpStatusCode: number | null;
  lastError: string | null;
  publishTime: string;
  lastDeliveryAttemptTime: string | null;
}

export class EventGridInputError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EventGridInputError';
  }
}

// ---- endpoint safety ----------------------------------------------------------------------------

function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const version = isIP(bare);
  if (version === 4) return bare.startsWith('127.');
  if (version === 6) return bare === '::1' || /^::ffff:127\./i.test(bare) || /^::ffff:7f[0-9a-f]{2}:/i.test(bare);
  return false;
}

/**
 * Parses a subscription endpoint and refuses anything but http(s) on loopback. Returns the URL or
 * the reason (which names the host but never the query, where function keys travel).
 */
export function loopbackEndpoint(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'the endpoint is not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the endpoint must use http or https, not ${url.protocol.replace(/:$/, '')}`;
  // WHATWG URL parsing already normalised 127.1, 0x7f.0.0.1 and friends to dotted quads.
  if (url.hostname !== 'localhost' && !isLoopbackAddress(url.hostname)) {
    return `the sandbox delivers only to loopback endpoints (127.0.0.0/8, [::1], localhost), not to '${url.hostname}'`;
  }
  return url;
}

/** `localhost` is resolved by the system: keep only loopback answers, so /etc/hosts cannot send us away. */
const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    const loopback = addresses.filter((a) => isLoopbackAddress(a.address));
    const first = loopback[0];
    if (!first) {
      callback(Object.assign(new Error(`${hostname} does not resolve to a loopback address`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (options.all) callback(null, loopback);
    else callback(null, first.address, first.family);
  });
};

interface AttemptOutcome {
  status: number | null;
  error: string | null;
  timedOut: boolean;
}

function post(url: URL, body: Buffer, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: AttemptOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = (url.protocol === 'https:' ? https : http).request(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, 'content-length': String(body.length) },
        lookup: loopbackLookup,
        agent: false,
        signal,
      },
      (response) => {
        response.resume();
        response.on('end', () => finish({ status: response.statusCode ?? 0, error: null, timedOut: false }));
        response.on('error', (e) => finish({ status: response.statusCode ?? 0, error: e.message, timedOut: false }));
        response.on('close', () => finish({ status: response.statusCode ?? 0, error: null, timedOut: false }));
      },
    );
    const timer = setTimeout(() => {
      finish({ status: null, error: `no answer within ${timeoutMs} ms`, timedOut: true });
      request.destroy();
    }, timeoutMs);
    timer.unref();
    request.on('error', (e: NodeJS.ErrnoException) => finish({ status: null, error: e.code ?? e.message, timedOut: false }));
    request.end(body);
  });
}

/** Event Grid's own words for how an attempt went (dead-letter `lastDeliveryOutcome`). */
function outcomeName(outcome: AttemptOutcome): string {
  if (outcome.timedOut) return 'TimedOut';
  const s = outcome.status;
  if (s === null) return 'GenericError';
  if (s >= 200 && s < 300) return 'Succeeded';
  const named: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 408: 'TimedOut', 413: 'RequestEntityTooLarge', 503: 'Busy' };
  return named[s] ?? 'GenericError';
}

// ---- internal records ---------------------------------------------------------------------------

interface Subscription {
  id: string;
  name: string;
  endpoint: URL;
  includedEventTypes: string[] | null;
  subjectBeginsWith: string | null;
  subjectEndsWith: string | null;
  maxDeliveryAttempts: number | null;
  eventTimeToLiveMs: number | null;
  createdAt: string;
  deleted: boolean;
}

interface Delivery {
  subscription: Subscription;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastOutcome: string | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
  /** Real ms when this round of delivery began (TTL reference). */
  startedRealMs: number;
  inFlight: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface EventRecord {
  eventId: string;
  eventType: string | null;
  subject: string | null;
  source: 'keyvault' | 'control';
  publishedAt: string;
  event: unknown;
  payload: Buffer;
  deliveries: Map<string, Delivery>;
}

function stringField(value: unknown, key: string): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const field = (value as Record<string, unknown>)[key];
  return typeof field === 'string' ? field : null;
}

function canonicalEventType(type: string): string | undefined {
  const lower = type.trim().toLowerCase();
  return KEY_VAULT_EVENT_TYPES.find((t) => t.toLowerCase() === lower);
}

// ---- the emulator -------------------------------------------------------------------------------

export class EventGridEmulator {
  readonly vaultName: string;
  readonly topic: string;
  private settingsValue: EventGridSettings;
  private readonly tickMs: number;
  private readonly subscriptions = new Map<string, Subscription>();
  private records: EventRecord[] = [];
  private readonly deadLetters: DeadLetterRecord[] = [];
  /** `{secret}/{version}` of every version already announced with SecretNewVersionCreated. */
  private readonly announced = new Set<string>();
  /**
   * The version objects already announced: `evaluate` runs after every write and clock move, over every
   * version in the vault, and skips these without building their keys.
   */
  private readonly announcedVersions = new WeakSet<object>();
  /** `{secret}/{version}/{eventType}/{exp}`: an expiry event fires once per version and `exp`. */
  private readonly fired = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private tick: NodeJS.Timeout | undefined;
  private unlistenClock: (() => void) | undefined;
  private stopped = false;
  private subscriptionCount = 0;

  constructor(
    private readonly state: SandboxState,
    options: EventGridOptions = {},
  ) {
    this.vaultName = KEY_VAULT_NAME;
    this.topic = keyVaultTopic(this.vaultName);
    const { tickMs, ...settings } = options;
    this.tickMs = tickMs ?? 250;
    this.settingsValue = { ...DEFAULT_EVENT_GRID_SETTINGS };
    this.updateSettings(settings);
  }

  /** Starts watching the clock (advances and a real-time tick). */
  start(): void {
    if (this.stopped || this.tick) return;
    this.unlistenClock = this.state.onClockAdvanced(() => this.evaluate());
    this.tick = setInterval(() => this.evaluate(), this.tickMs);
    this.tick.unref();
    this.evaluate();
  }

  /** Stops the clock watch, cancels pending retries and aborts deliveries in flight. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      if (this.tick) clearInterval(this.tick);
      this.unlistenClock?.();
      for (const record of this.records) {
        for (const delivery of record.deliveries.values()) this.cancel(delivery);
      }
      this.abort.abort();
    }
    await Promise.allSettled([...this.inFlight]);
  }

  settings(): EventGridSettings {
    return { ...this.settingsValue, retryScheduleMs: [...this.settingsValue.retryScheduleMs] };
  }

  updateSettings(update: Partial<EventGridSettings>): EventGridSettings {
    const next = { ...this.settingsValue };
    if (update.stringTimestamps !== undefined) next.stringTimestamps = update.stringTimestamps;
    if (update.retryScheduleMs !== undefined) {
      if (update.retryScheduleMs.length === 0 || update.retryScheduleMs.some((ms) => !Number.isFinite(ms) || ms < 0)) {
        throw new EventGridInputError(400, 'retryScheduleMs must list at least one non-negative delay');
      }
      next.retryScheduleMs = [...update.retryScheduleMs];
    }
    if (update.maxDeliveryAttempts !== undefined) next.maxDeliveryAttempts = update.maxDeliveryAttempts;
    if (update.eventTimeToLiveMs !== undefined) next.eventTimeToLiveMs = update.eventTimeToLiveMs;
    if (update.deliveryTimeoutMs !== undefined) next.deliveryTimeoutMs = update.deliveryTimeoutMs;
    this.settingsValue = next;
    return this.settings();
  }

  // ---- subscriptions ----

  subscribe(input: EventSubscriptionInput): EventSubscriptionView {
    const endpoint = loopbackEndpoint(input.endpoint);
    if (typeof endpoint === 'string') throw new EventGridInputError(400, endpoint);
    let includedEventTypes: string[] | null = null;
    if (input.includedEventTypes !== undefined && input.includedEventTypes !== null) {
      includedEventTypes = [];
      for (const type of input.includedEventTypes) {
        const canonical = canonicalEventType(type);
        if (!canonical) throw new EventGridInputError(400, `'${type}' is not an event type of a Key Vault system topic`);
        if (!includedEventTypes.includes(canonical)) includedEventTypes.push(canonical);
      }
    }
    this.subscriptionCount += 1;
    const name = input.name ?? `sandbox-subscription-${this.subscriptionCount}`;
    if (!SUBSCRIPTION_NAME.test(name)) throw new EventGridInputError(400, 'name must be 3-64 letters, digits or hyphens');
    if ([...this.subscriptions.values()].some((s) => s.name.toLowerCase() === name.toLowerCase())) {
      throw new EventGridInputError(409, `An event subscription named '${name}' already exists.`);
    }
    const subscription: Subscription = {
      id: randomUUID(),
      name,
      endpoint,
      includedEventTypes,
      subjectBeginsWith: input.subjectBeginsWith ?? null,
      subjectEndsWith: input.subjectEndsWith ?? null,
      maxDeliveryAttempts: input.maxDeliveryAttempts ?? null,
      eventTimeToLiveMs: input.eventTimeToLiveMs ?? null,
      createdAt: this.state.nowIso(),
      deleted: false,
    };
    this.subscriptions.set(subscription.id, subscription);
    return this.subscriptionView(subscription);
  }

  /** Deletes a subscription; its pending retries are dropped, as Event Grid does. */
  unsubscribe(id: string): boolean {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return false;
    subscription.deleted = true;
    this.subscriptions.delete(id);
    for (const record of this.records) {
      const delivery = record.deliveries.get(id);
      if (delivery) this.cancel(delivery);
    }
    return true;
  }

  listSubscriptions(): EventSubscriptionView[] {
    return [...this.subscriptions.values()].map((s) => this.subscriptionView(s));
  }

  // ---- views ----

  events(filter: { eventType?: string; subject?: string } = {}): PublishedEventView[] {
    const type = filter.eventType?.toLowerCase();
    return this.records
      .filter((r) => (type === undefined || r.eventType?.toLowerCase() === type) && (filter.subject === undefined || r.subject === filter.subject))
      .map((r) => this.eventView(r));
  }

  deadLettered(): DeadLetterRecord[] {
    return [...this.deadLetters];
  }

  // ---- publishing ----

  /**
   * Publishes every Key Vault event that is due by the virtual clock and not yet published, and
   * returns them. Safe to call any time; each event fires once.
   */
  evaluate(): Array<EventGridEvent> {
    if (this.stopped) return [];
    const now = this.state.now();
    const published: EventGridEvent[] = [];
    for (const secret of this.state.secrets) {
      // A soft-deleted secret is gone from the vault's point of view until recovered.
      if (secret.deletedDate !== null) continue;
      for (const version of secret.versions) {
        const known = this.announcedVersions.has(version);
        // Nothing due for an announced version before its near-expiry time.
        if (known && (version.exp === null || now < version.exp * 1000 - NEAR_EXPIRY_LEAD_MS)) continue;
        const key = `${secret.name.toLowerCase()}/${version.version}`;
        const emit = (eventType: string): void => {
          const event = this.secretEvent(eventType, secret.name, version.version, version.nbf, version.exp);
          this.publish(event, 'keyvault');
          published.push(event);
        };
        if (!known) {
          this.announcedVersions.add(version);
          if (!this.announced.has(key)) {
            this.announced.add(key);
            emit(SECRET_NEW_VERSION_CREATED);
          }
        }
        if (version.exp === null) continue;
        const expMs = version.exp * 1000;
        const due: Array<[string, number]> = [
          [SECRET_NEAR_EXPIRY, expMs - NEAR_EXPIRY_LEAD_MS],
          [SECRET_EXPIRED, expMs],
        ];
        for (const [eventType, at] of due) {
          const firedKey = `${key}/${eventType}/${version.exp}`;
          if (now >= at && !this.fired.has(firedKey)) {
            this.fired.add(firedKey);
            emit(eventType);
          }
        }
      }
    }
    return published;
  }

  /**
   * Sends any body to every subscription (whatever its filter), for hostile-input tests: `event` is
   * wrapped in an array like a real delivery, `rawBody` goes out verbatim.
   */
  publishRaw(input: { event: unknown } | { rawBody: string }): PublishedEventView {
    const event = 'event' in input ? input.event : input.rawBody;
    const payload = 'event' in input ? Buffer.from(JSON.stringify([input.event ?? null]), 'utf8') : Buffer.from(input.rawBody, 'utf8');
    const record = this.record(event, payload, 'control');
    for (const subscription of this.subscriptions.values()) this.startDelivery(record, subscription);
    return this.eventView(record);
  }

  /**
   * Sends an event again (same id) to the subscriptions it is meant for, or only to `subscriptionId`:
   * the duplicate at-least-once delivery produces. The delivery count continues where it stopped.
   * Returns undefined when no such event was published.
   */
  redeliver(eventId: string, subscriptionId?: string): { resent: string[]; alreadyPending: string[] } | undefined {
    const record = [...this.records].reverse().find((r) => r.eventId === eventId);
    if (!record) return undefined;
    const resent: string[] = [];
    const alreadyPending: string[] = [];
    for (const subscription of this.subscriptions.values()) {
      if (subscriptionId !== undefined && subscription.id !== subscriptionId) continue;
      if (!record.deliveries.has(subscription.id) && !this.matches(subscription, record)) continue;
      const existing = record.deliveries.get(subscription.id);
      if (existing && existing.state === 'pending') {
        alreadyPending.push(subscription.id);
        continue;
      }
      if (existing) {
        existing.state = 'pending';
        existing.startedRealMs = Date.now();
        existing.deliveredAt = null;
        this.schedule(record, existing, 0);
      } else {
        this.startDelivery(record, subscription);
      }
      resent.push(subscription.id);
    }
    return { resent, alreadyPending };
  }

  // ---- internals ----

  private secretEvent(eventType: string, name: string, version: string, nbf: number | null, exp: number | null): EventGridEvent {
    const stamp = (value: number | null): number | string | null => (value === null ? null : this.settingsValue.stringTimestamps ? String(value) : value);
    return {
      id: randomUUID(),
      topic: this.topic,
      subject: name,
      eventType,
      eventTime: this.state.nowIso(),
      data: {
        Id: `${this.state.serviceUrls.keyVaultUrl}/secrets/${name}/${version}`,
        VaultName: this.vaultName,
        ObjectType: 'Secret',
        ObjectName: name,
        Version: version,
        NBF: stamp(nbf),
        EXP: stamp(exp),
      },
      dataVersion: '1',
      metadataVersion: '1',
    };
  }

  private publish(event: EventGridEvent, source: 'keyvault'): void {
    const record = this.record(event, Buffer.from(JSON.stringify([event]), 'utf8'), source);
    for (const subscription of this.subscriptions.values()) {
      if (this.matches(subscription, record)) this.startDelivery(record, subscription);
    }
  }

  private record(event: unknown, payload: Buffer, source: 'keyvault' | 'control'): EventRecord {
    const record: EventRecord = {
      eventId: stringField(event, 'id') ?? `control-${randomUUID()}`,
      eventType: stringField(event, 'eventType'),
      subject: stringField(event, 'subject'),
      source,
      publishedAt: this.state.nowIso(),
      event,
      payload,
      deliveries: new Map(),
    };
    this.records.push(record);
    if (this.records.length > MAX_EVENT_RECORDS) {
      const settled = (r: EventRecord): boolean => [...r.deliveries.values()].every((d) => d.state !== 'pending');
      const drop = this.records.findIndex(settled);
      if (drop >= 0) this.records.splice(drop, 1);
    }
    return record;
  }

  private matches(subscription: Subscription, record: EventRecord): boolean {
    if (record.source === 'control') return true;
    const subject = (record.subject ?? '').toLowerCase();
    if (subscription.subjectBeginsWith !== null && !subject.startsWith(subscription.subjectBeginsWith.toLowerCase())) return false;
    if (subscription.subjectEndsWith !== null && !subject.endsWith(subscription.subjectEndsWith.toLowerCase())) return false;
    if (subscription.includedEventTypes === null) return true;
    const type = record.eventType?.toLowerCase();
    return subscription.includedEventTypes.some((t) => t.toLowerCase() === type);
  }

  private startDelivery(record: EventRecord, subscription: Subscription): void {
    const delivery: Delivery = {
      subscription,
      state: 'pending',
      attempts: 0,
      lastStatus: null,
      lastOutcome: null,
      lastError: null,
      lastAttemptAt: null,
      deliveredAt: null,
      startedRealMs: Date.now(),
      inFlight: false,
      timer: undefined,
    };
    record.deliveries.set(subscription.id, delivery);
    // Never on the caller's stack: publication happens inside control and vault requests.
    this.schedule(record, delivery, 0);
  }

  private schedule(record: EventRecord, delivery: Delivery, delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(delivery.timer);
    delivery.timer = setTimeout(() => this.attempt(record, delivery), delayMs);
    delivery.timer.unref();
  }

  private cancel(delivery: Delivery): void {
    clearTimeout(delivery.timer);
    delivery.timer = undefined;
    if (delivery.state === 'pending') delivery.state = 'cancelled';
  }

  private attempt(record: EventRecord, delivery: Delivery): void {
    delivery.timer = undefined;
    if (this.stopped || delivery.state !== 'pending' || delivery.inFlight) return;
    const subscription = delivery.subscription;
    const ttl = subscription.eventTimeToLiveMs ?? this.settingsValue.eventTimeToLiveMs;
    if (Date.now() - delivery.startedRealMs > ttl) {
      this.deadLetter(record, delivery, 'TimeToLiveExceeded');
      return;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'aeg-event-type': 'Notification',
      'aeg-subscription-name': subscription.name.toUpperCase(),
      'aeg-delivery-count': String(delivery.attempts),
    };
    const dataVersion = stringField(record.event, 'dataVersion');
    const metadataVersion = stringField(record.event, 'metadataVersion');
    if (dataVersion !== null) headers['aeg-data-version'] = dataVersion;
    if (metadataVersion !== null) headers['aeg-metadata-version'] = metadataVersion;
    delivery.attempts += 1;
    delivery.inFlight = true;
    const sending = post(subscription.endpoint, record.payload, headers, this.settingsValue.deliveryTimeoutMs, this.abort.signal).then((outcome) => {
      delivery.inFlight = false;
      this.settle(record, delivery, outcome);
    });
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
  }

  private settle(record: EventRecord, delivery: Delivery, outcome: AttemptOutcome): void {
    delivery.lastStatus = outcome.status;
    delivery.lastError = outcome.error;
    delivery.lastOutcome = outcomeName(outcome);
    delivery.lastAttemptAt = this.state.nowIso();
    if (delivery.state !== 'pending') return;
    if (this.stopped) {
      delivery.state = 'cancelled';
      return;
    }
    if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) {
      delivery.state = 'delivered';
      delivery.deliveredAt = delivery.lastAttemptAt;
      return;
    }
    if (outcome.status !== null && FINAL_STATUSES.has(outcome.status)) {
      this.deadLetter(record, delivery, 'NonRetriableStatus');
      return;
    }
    const maxAttempts = delivery.subscription.maxDeliveryAttempts ?? this.settingsValue.maxDeliveryAttempts;
    if (delivery.attempts >= maxAttempts) {
      this.deadLetter(record, delivery, 'MaxDeliveryAttemptsExceeded');
      return;
    }
    const schedule = this.settingsValue.retryScheduleMs;
    const wait = schedule[Math.min(delivery.attempts - 1, schedule.length - 1)] ?? 0;
    const ttl = delivery.subscription.eventTimeToLiveMs ?? this.settingsValue.eventTimeToLiveMs;
    if (Date.now() + wait - delivery.startedRealMs > ttl) {
      this.deadLetter(record, delivery, 'TimeToLiveExceeded');
      return;
    }
    this.schedule(record, delivery, wait);
  }

  private deadLetter(record: EventRecord, delivery: Delivery, reason: DeadLetterReason): void {
    delivery.state = 'deadLettered';
    this.deadLetters.push({
      event: record.event,
      eventId: record.eventId,
      subscriptionId: delivery.subscription.id,
      subscriptionName: delivery.subscription.name,
      deadLetterReason: reason,
      deliveryAttempts: delivery.attempts,
      lastDeliveryOutcome: delivery.lastOutcome ?? 'GenericError',
      lastHttpStatusCode: delivery.lastStatus,
      lastError: delivery.lastError,
      publishTime: record.publishedAt,
      lastDeliveryAttemptTime: delivery.lastAttemptAt,
    });
  }

  private eventView(r: EventRecord): PublishedEventView {
    return {
      eventId: r.eventId,
      eventType: r.eventType,
      subject: r.subject,
      source: r.source,
      publishedAt: r.publishedAt,
      event: r.event,
      deliveries: [...r.deliveries.values()].map((d) => ({
        subscriptionId: d.subscription.id,
        subscriptionName: d.subscription.name,
        state: d.state,
        attempts: d.attempts,
        lastStatus: d.lastStatus,
        lastOutcome: d.lastOutcome,
        lastError: d.lastError,
        lastAttemptAt: d.lastAttemptAt,
        deliveredAt: d.deliveredAt,
      })),
    };
  }

  private subscriptionView(s: Subscription): EventSubscriptionView {
    return {
      id: s.id,
      name: s.name,
      endpointBaseUrl: `${s.endpoint.origin}${s.endpoint.pathname}`,
      includedEventTypes: s.includedEventTypes ? [...s.includedEventTypes] : null,
      subjectBeginsWith: s.subjectBeginsWith,
      subjectEndsWith: s.subjectEndsWith,
      maxDeliveryAttempts: s.maxDeliveryAttempts,
      eventTimeToLiveMs: s.eventTimeToLiveMs,
      createdAt: s.createdAt,
    };
  }
}
