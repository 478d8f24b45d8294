/**
 * The vault's Event Grid system topic as a webhook receiver sees it: secrets written through the
 * unmodified SecretClient, the virtual clock moved through the control API, and events arriving at a
 * small loopback HTTP receiver — envelope, near-expiry and expiry per version, retries with the
 * delivery count, dead-lettering, duplicates on demand, hostile bodies, loopback-only endpoints.
 * Also the control API's tenant policy and mailbox scope switches, observed through Graph.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManagedIdentityCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { DeadLetterRecord, EventGridEvent, EventSubscriptionView, PublishedEventView } from '../../sandbox/eventgrid';
import { ADMIN_MAILBOX, DEFAULT_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const DAY_MS = 24 * 3600 * 1000;
const NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';
const EXPIRED = 'Microsoft.KeyVault.SecretExpired';
const NEW_VERSION = 'Microsoft.KeyVault.SecretNewVersionCreated';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let sandbox: TestSandbox;
let writer: SecretClient;
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  sandbox = await startTestSandbox({ eventGrid: { retryScheduleMs: [50, 100, 150], maxDeliveryAttempts: 4, tickMs: 50 } });
  for (const [k, v] of Object.entries(sandbox.managedIdentityEnv())) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  writer = sandbox.secretClient(new ManagedIdentityCredential());
});

afterAll(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await sandbox.stop();
});

// ---- a tiny webhook receiver --------------------------------------------------------------------

interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** The first events of the received JSON arrays. */
  events(): EventGridEvent[];
  close(): Promise<void>;
}

const openReceivers: Receiver[] = [];
const openSubscriptions: string[] = [];

/** Answers each request with the next status of `answers`, then 200. */
async function startReceiver(answers: number[] = []): Promise<Receiver> {
  const received: Received[] = [];
  const queue = [...answers];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, text: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(queue.shift() ?? 200);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/runtime/webhooks/eventgrid?functionName=onSecretEvent&code=function-key-123`,
    received,
    events: () => received.map((r) => (JSON.parse(r.text) as EventGridEvent[])[0] as EventGridEvent),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  openReceivers.push(receiver);
  return receiver;
}

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Long enough for several expiry checks (every 50 ms here) and retries to have happened. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 400));

async function subscribe(body: Record<string, unknown>): Promise<EventSubscriptionView> {
  const reply = await sandbox.control<EventSubscriptionView>('/eventgrid/subscriptions', { body });
  expect(reply.status).toBe(201);
  openSubscriptions.push(reply.body.id);
  return reply.body;
}

async function advance(duration: string): Promise<void> {
  expect((await sandbox.control('/clock', { body: { advance: duration } })).status).toBe(200);
}

/** Expiry as Key Vault stores it: whole epoch seconds. */
function inDays(days: number): Date {
  return new Date(Math.floor((sandbox.state.now() + days * DAY_MS) / 1000) * 1000);
}

async function eventsFor(subject: string): Promise<PublishedEventView[]> {
  return (await sandbox.control<{ events: PublishedEventView[] }>(`/eventgrid/events?subject=${encodeURIComponent(subject)}`)).body.events;
}

afterEach(async () => {
  for (const id of openSubscriptions.splice(0)) await sandbox.control(`/eventgrid/subscriptions/${id}`, { method: 'DELETE' });
  await Promise.all(openReceivers.splice(0).map((r) => r.close()));
});

// ---- expiry events ------------------------------------------------------------------------------

describe('expiry events by the virtual clock', () => {
  it('sends one SecretNearExpiry 30 days before exp and one SecretExpired at exp, in the documented envelope', async () => {
    const receiver = await startReceiver();
    const subscription = await subscribe({
      endpoint: receiver.url,
      name: 'secret-expiry',
      includedEventTypes: [NEAR_EXPIRY, EXPIRED],
      subjectBeginsWith: 'rotating-',
    });
    const expiresOn = inDays(40);
    const notBefore = new Date(Math.floor(sandbox.state.now() / 1000) * 1000 - 60_000);
    const stored = await writer.setSecret('rotating-one', 'first value', { expiresOn, notBefore });
    const version = stored.properties.version ?? '';
    expect(version).toMatch(/^[0-9a-f]{32}$/);
    await settle();
    expect(receiver.received).toHaveLength(0);

    const before = sandbox.state.now();
    await advance('P11D');
    await until(() => receiver.received.length >= 1, 'the near-expiry event');
    await settle();
    expect(receiver.received).toHaveLength(1);
    const first = receiver.received[0] as Received;
    expect(first.url).toBe('/runtime/webhooks/eventgrid?functionName=onSecretEvent&code=function-key-123');
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['aeg-event-type']).toBe('Notification');
    expect(first.headers['aeg-subscription-name']).toBe('SECRET-EXPIRY');
    expect(first.headers['aeg-delivery-count']).toBe('0');
    const batch = JSON.parse(first.text) as unknown[];
    expect(batch).toHaveLength(1);
    const near = batch[0] as EventGridEvent;
    expect(Object.keys(near).sort()).toEqual(['data', 'dataVersion', 'eventTime', 'eventType', 'id', 'metadataVersion', 'subject', 'topic']);
    expect(near.id).toMatch(UUID);
    expect(near.topic).toBe(sandbox.endpoints.eventGridTopic);
    expect(near.topic).toMatch(/^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/kv-sandbox$/);
    expect(near.subject).toBe('rotating-one');
    expect(near.eventType).toBe(NEAR_EXPIRY);
    expect(near.dataVersion).toBe('1');
    expect(near.metadataVersion).toBe('1');
    // eventTime follows the virtual clock, not the real one.
    expect(Date.parse(near.eventTime)).toBeGreaterThanOrEqual(before + 11 * DAY_MS - 1000);
    expect(Date.parse(near.eventTime)).toBeLessThanOrEqual(sandbox.state.now());
    expect(near.data).toEqual({
      Id: `${sandbox.endpoints.keyVaultUrl}/secrets/rotating-one/${version}`,
      VaultName: sandbox.endpoints.keyVaultName,
      ObjectType: 'Secret',
      ObjectName: 'rotating-one',
      Version: version,
      NBF: notBefore.getTime() / 1000,
      EXP: expiresOn.getTime() / 1000,
    });
    expect(sandbox.endpoints.keyVaultName).toBe('kv-sandbox');

    await advance('P30D');
    await until(() => receiver.received.length >= 2, 'the expiry event');
    await settle();
    expect(receiver.received).toHaveLength(2);
    const expired = receiver.events()[1] as EventGridEvent;
    expect(expired.eventType).toBe(EXPIRED);
    expect(expired.id).not.toBe(near.id);
    expect(expired.data).toEqual(near.data);
    expect(receiver.received[1]?.headers['aeg-delivery-count']).toBe('0');

    const published = await eventsFor('rotating-one');
    expect(published.map((e) => e.eventType)).toEqual([NEW_VERSION, NEAR_EXPIRY, EXPIRED]);
    const nearRecord = published[1] as PublishedEventView;
    expect(nearRecord.eventId).toBe(near.id);
    expect(nearRecord.deliveries).toEqual([
      expect.objectContaining({ subscriptionId: subscription.id, state: 'delivered', attempts: 1, lastStatus: 200 }),
    ]);
  });

  it('keeps sending events for an older, even disabled, version with that version in the event', async () => {
    const receiver = await startReceiver();
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEAR_EXPIRY, EXPIRED], subjectBeginsWith: 'versioned-' });
    const old = await writer.setSecret('versioned-one', 'old value', { expiresOn: inDays(40) });
    const oldVersion = old.properties.version ?? '';
    await writer.updateSecretProperties('versioned-one', oldVersion, { enabled: false });
    const current = await writer.setSecret('versioned-one', 'new value', { expiresOn: inDays(400) });
    const currentVersion = current.properties.version ?? '';
    expect(currentVersion).not.toBe(oldVersion);

    await advance('P11D');
    await until(() => receiver.received.length >= 1, 'the near-expiry event of the old version');
    await advance('P30D');
    await until(() => receiver.received.length >= 2, 'the expiry event of the old version');
    await settle();
    const events = receiver.events();
    expect(events.map((e) => e.eventType)).toEqual([NEAR_EXPIRY, EXPIRED]);
    for (const event of events) {
      expect(event.data.Version).toBe(oldVersion);
      expect(event.data.Id).toBe(`${sandbox.endpoints.keyVaultUrl}/secrets/versioned-one/${oldVersion}`);
    }
    // A consumer comparing versions finds the vault already moved on.
    expect((await writer.getSecret('versioned-one')).properties.version).toBe(currentVersion);
  });

  it('follows an expiry moved on a version already announced: brought within 30 days, its near-expiry is sent at once', async () => {
    const receiver = await startReceiver();
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEAR_EXPIRY, EXPIRED], subjectBeginsWith: 'moved-' });
    const stored = await writer.setSecret('moved-one', 'value', { expiresOn: inDays(400) });
    const version = stored.properties.version ?? '';
    await settle();
    expect(receiver.received).toHaveLength(0);

    // No clock move: the write itself makes the event due.
    const expiresOn = inDays(10);
    await writer.updateSecretProperties('moved-one', version, { expiresOn });
    await until(() => receiver.received.length >= 1, 'the near-expiry event after the expiry moved');
    await settle();
    expect(receiver.events().map((e) => [e.eventType, e.data.Version, e.data.EXP])).toEqual([[NEAR_EXPIRY, version, expiresOn.getTime() / 1000]]);
  });

  it('announces each new version, and carries NBF/EXP as strings when asked to', async () => {
    const receiver = await startReceiver();
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEW_VERSION], subjectBeginsWith: 'fresh-' });
    const plain = await writer.setSecret('fresh-one', 'value');
    await until(() => receiver.received.length >= 1, 'SecretNewVersionCreated');
    expect(receiver.events()[0]?.data).toMatchObject({ ObjectName: 'fresh-one', Version: plain.properties.version, NBF: null, EXP: null });

    expect((await sandbox.control('/eventgrid/settings', { body: { stringTimestamps: true } })).body).toMatchObject({ stringTimestamps: true });
    try {
      const expiresOn = inDays(90);
      await writer.setSecret('fresh-one', 'value 2', { expiresOn });
      await until(() => receiver.received.length >= 2, 'the second SecretNewVersionCreated');
      expect(receiver.events()[1]?.data.EXP).toBe(String(expiresOn.getTime() / 1000));
    } finally {
      await sandbox.control('/eventgrid/settings', { body: { stringTimestamps: false } });
    }
    expect((await sandbox.control('/eventgrid/settings', { body: { retryScheduleMs: [] } })).status).toBe(400);
  });
});

// ---- delivery -----------------------------------------------------------------------------------

describe('at-least-once delivery', () => {
  it('retries a receiver answering 500 and delivers on the third attempt with aeg-delivery-count 2', async () => {
    const receiver = await startReceiver([500, 500]);
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEW_VERSION], subjectBeginsWith: 'retried-' });
    await writer.setSecret('retried-one', 'value');
    await until(() => receiver.received.length >= 3, 'three attempts');
    await settle();
    expect(receiver.received.map((r) => r.headers['aeg-delivery-count'])).toEqual(['0', '1', '2']);
    expect(new Set(receiver.events().map((e) => e.id)).size).toBe(1);
    const [record] = await eventsFor('retried-one');
    expect(record?.deliveries[0]).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 200 });
  });

  it('dead-letters an event for an unreachable endpoint after the last attempt', async () => {
    const port = await freePort();
    const subscription = await subscribe({
      endpoint: `http://127.0.0.1:${port}/runtime/webhooks/eventgrid?functionName=gone&code=x`,
      includedEventTypes: [NEW_VERSION],
      subjectBeginsWith: 'lost-',
    });
    await writer.setSecret('lost-one', 'value');
    const dead = await until(async () => {
      const list = (await sandbox.control<{ deadLetters: DeadLetterRecord[] }>('/eventgrid/deadletter')).body.deadLetters;
      return list.find((d) => d.subscriptionId === subscription.id);
    }, 'the dead-letter entry');
    expect(dead).toMatchObject({
      deadLetterReason: 'MaxDeliveryAttemptsExceeded',
      deliveryAttempts: 4,
      lastHttpStatusCode: null,
      lastError: 'ECONNREFUSED',
      event: expect.objectContaining({ subject: 'lost-one', eventType: NEW_VERSION }),
    });
    const [record] = await eventsFor('lost-one');
    expect(record?.deliveries[0]).toMatchObject({ state: 'deadLettered', attempts: 4 });
  });

  it('does not retry a 400 answer, as Event Grid treats it as final', async () => {
    const receiver = await startReceiver([400]);
    const subscription = await subscribe({ endpoint: receiver.url, includedEventTypes: [NEW_VERSION], subjectBeginsWith: 'refused-' });
    await writer.setSecret('refused-one', 'value');
    await until(() => receiver.received.length >= 1, 'the first attempt');
    await settle();
    expect(receiver.received).toHaveLength(1);
    const list = (await sandbox.control<{ deadLetters: DeadLetterRecord[] }>('/eventgrid/deadletter')).body.deadLetters;
    expect(list.find((d) => d.subscriptionId === subscription.id)).toMatchObject({
      deadLetterReason: 'NonRetriableStatus',
      deliveryAttempts: 1,
      lastHttpStatusCode: 400,
      lastDeliveryOutcome: 'BadRequest',
    });
  });

  it('redelivers an already delivered event as a duplicate with the same id', async () => {
    const receiver = await startReceiver();
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEW_VERSION], subjectBeginsWith: 'dup-' });
    await writer.setSecret('dup-one', 'value');
    await until(() => receiver.received.length >= 1, 'the first delivery');
    const original = receiver.events()[0] as EventGridEvent;
    const reply = await sandbox.control<{ resent: string[] }>('/eventgrid/redeliver', { body: { eventId: original.id } });
    expect(reply.status).toBe(202);
    expect(reply.body.resent).toHaveLength(1);
    await until(() => receiver.received.length >= 2, 'the duplicate');
    expect(receiver.events()[1]).toEqual(original);
    expect(receiver.received[1]?.headers['aeg-delivery-count']).toBe('1');
    expect((await sandbox.control('/eventgrid/redeliver', { body: { eventId: 'no-such-event' } })).status).toBe(404);
  });

  it('sends hostile bodies from /eventgrid/publish to every subscription, whatever its filter', async () => {
    const receiver = await startReceiver();
    await subscribe({ endpoint: receiver.url, includedEventTypes: [NEAR_EXPIRY], subjectBeginsWith: 'nothing-matches-' });
    const hostile = { id: 'hostile-1', eventType: NEAR_EXPIRY, subject: ' fno-x ', data: { ' EXP ': ' not-a-number ' } };
    expect((await sandbox.control('/eventgrid/publish', { body: { event: hostile } })).status).toBe(202);
    expect((await sandbox.control('/eventgrid/publish', { body: { rawBody: '{"truncated": ' } })).status).toBe(202);
    await until(() => receiver.received.length >= 2, 'both hostile bodies');
    const texts = receiver.received.map((r) => r.text).sort();
    expect(texts).toEqual([JSON.stringify([hostile]), '{"truncated": '].sort());
    expect((await sandbox.control('/eventgrid/publish', { body: {} })).status).toBe(400);
    expect((await sandbox.control('/eventgrid/publish', { body: { event: 1, rawBody: 'x' } })).status).toBe(400);
  });

  it('stops delivering to a deleted subscription', async () => {
    const receiver = await startReceiver();
    const subscription = await subscribe({ endpoint: receiver.url, includedEventTypes: [NEW_VERSION], subjectBeginsWith: 'dropped-' });
    expect((await sandbox.control(`/eventgrid/subscriptions/${subscription.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await sandbox.control(`/eventgrid/subscriptions/${subscription.id}`, { method: 'DELETE' })).status).toBe(404);
    await writer.setSecret('dropped-one', 'value');
    await settle();
    expect(receiver.received).toHaveLength(0);
  });

  it('cancels pending retries when the sandbox stops', async () => {
    const other = await startTestSandbox({ eventGrid: { retryScheduleMs: [300], maxDeliveryAttempts: 10 } });
    try {
      const receiver = await startReceiver([500, 500, 500, 500]);
      expect((await other.control('/eventgrid/subscriptions', { body: { endpoint: receiver.url } })).status).toBe(201);
      expect((await other.control('/eventgrid/publish', { body: { event: { id: 'stop-me' } } })).status).toBe(202);
      await until(() => receiver.received.length >= 1, 'the first attempt');
      await other.stop();
      await new Promise((r) => setTimeout(r, 600));
      expect(receiver.received).toHaveLength(1);
      expect(other.eventGrid.events()[0]?.deliveries[0]?.state).toBe('cancelled');
    } finally {
      await other.stop();
    }
  });
});

// ---- subscriptions ------------------------------------------------------------------------------

describe('subscriptions', () => {
  it.each([
    'http://example.com/runtime/webhooks/eventgrid',
    'https://10.0.0.5/hook',
    'http://169.254.169.254/metadata',
    'http://localhost.example.com/hook',
    'ftp://127.0.0.1/hook',
    'not a url',
  ])('refuses the non-loopback endpoint %s with 400', async (endpoint) => {
    const before = (await sandbox.control<{ subscriptions: unknown[] }>('/eventgrid/subscriptions')).body.subscriptions.length;
    const reply = await sandbox.control<{ error: { code: string; message: string } }>('/eventgrid/subscriptions', { body: { endpoint } });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('InvalidRequest');
    expect((await sandbox.control<{ subscriptions: unknown[] }>('/eventgrid/subscriptions')).body.subscriptions).toHaveLength(before);
  });

  it('accepts loopback names and addresses, lists them without the function key, and rejects unknown event types', async () => {
    for (const endpoint of ['http://localhost:9/runtime/webhooks/eventgrid?functionName=a&code=secret-key', 'http://[::1]:9/x', 'https://127.0.0.2:9/x']) {
      await subscribe({ endpoint });
    }
    const listed = await sandbox.control<{ subscriptions: EventSubscriptionView[] }>('/eventgrid/subscriptions');
    expect(listed.body.subscriptions.map((s) => s.endpointBaseUrl)).toEqual(
      expect.arrayContaining(['http://localhost:9/runtime/webhooks/eventgrid', 'http://[::1]:9/x', 'https://127.0.0.2:9/x']),
    );
    expect(JSON.stringify(listed.body)).not.toContain('secret-key');
    const typo = await sandbox.control('/eventgrid/subscriptions', {
      body: { endpoint: 'http://127.0.0.1:1/x', includedEventTypes: ['Microsoft.KeyVault.SecretNearExpiring'] },
    });
    expect(typo.status).toBe(400);
    const info = await sandbox.control<{ keyVaultName: string; topic: string }>('/eventgrid');
    expect(info.body).toMatchObject({ keyVaultName: 'kv-sandbox', topic: sandbox.endpoints.eventGridTopic });
  });
});

// ---- tenant policy and mailbox scope switches -----------------------------------------------------

async function miGraphToken(): Promise<string> {
  const url = new URL(sandbox.endpoints.managedIdentity.identityEndpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', 'https://graph.microsoft.com');
  const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': sandbox.endpoints.managedIdentity.identityHeader } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function graph(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${sandbox.endpoints.graphUrl}/v1.0${path}`, {
    method,
    headers: { authorization: `Bearer ${await miGraphToken()}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('control switches observed through Graph', () => {
  it('caps client secret lifetimes with passwordLifetimeMaxDays', async () => {
    const app = await graph('POST', '/applications', { displayName: 'policy-capped' });
    expect(app.status).toBe(201);
    const addPassword = `/applications/${app.body.id as string}/addPassword`;

    expect((await sandbox.control('/settings', { body: { passwordLifetimeMaxDays: 0 } })).status).toBe(400);
    expect((await sandbox.control('/settings', { body: { passwordLifetimeMaxDays: '90' } })).status).toBe(400);
    const set = await sandbox.control<Record<string, unknown>>('/settings', { body: { passwordLifetimeMaxDays: 90 } });
    expect(set.status).toBe(200);
    expect(set.body.passwordLifetimeMaxDays).toBe(90);
    try {
      const refused = await graph('POST', addPassword, { passwordCredential: { displayName: 'two years' } });
      expect(refused.status).toBe(400);
      expect((refused.body.error as { code: string }).code).toBe('CredentialInvalidLifetimeAsPerAppPolicy');
      const endDateTime = new Date(sandbox.state.now() + 80 * DAY_MS).toISOString();
      expect((await graph('POST', addPassword, { passwordCredential: { endDateTime } })).status).toBe(200);
    } finally {
      const cleared = await sandbox.control<Record<string, unknown>>('/settings', { body: { passwordLifetimeMaxDays: null } });
      expect(cleared.body).not.toHaveProperty('passwordLifetimeMaxDays');
    }
    expect((await graph('POST', addPassword, { passwordCredential: {} })).status).toBe(200);
  });

  it('limits the mailboxes an app may send as with /mailbox-scopes', async () => {
    const appId = sandbox.endpoints.managedIdentity.clientId;
    const sender = sandbox.endpoints.senderMailbox;
    const message = { message: { subject: 'Test', body: { contentType: 'Text', content: 'hello' }, toRecipients: [{ emailAddress: { address: 'ops@contoso.com' } }] } };
    // RBAC for Applications only: the identity has no tenant-wide Mail.Send grant, the scope alone lets it send.
    expect((await sandbox.control('/permissions', { body: { managedIdentityRoles: DEFAULT_MANAGED_IDENTITY_ROLES } })).status).toBe(200);
    try {
      expect((await sandbox.control('/mailbox-scopes', { body: { appId: 'not-a-guid', mailboxes: [sender] } })).status).toBe(400);
      expect((await sandbox.control('/mailbox-scopes', { body: { appId, mailboxes: sender } })).status).toBe(400);
      expect((await sandbox.control('/mailbox-scopes', { body: { appId } })).status).toBe(400);
      const scoped = await sandbox.control<{ mailboxScopes: Record<string, string[] | null> }>('/mailbox-scopes', { body: { appId, mailboxes: [sender] } });
      expect(scoped.status).toBe(200);
      expect(scoped.body.mailboxScopes[appId]).toEqual([sender]);

      const outside = await graph('POST', `/users/${ADMIN_MAILBOX}/sendMail`, message);
      expect(outside.status).toBe(403);
      expect((outside.body.error as { code: string }).code).toBe('ErrorAccessDenied');
      expect((await graph('POST', `/users/${sender}/sendMail`, message)).status).toBe(202);

      expect((await sandbox.control('/mailbox-scopes', { body: { appId, mailboxes: null } })).status).toBe(200);
      expect((await graph('POST', `/users/${sender}/sendMail`, message)).status).toBe(403);
      expect(sandbox.state.sentMail.map((m) => m.from)).toEqual([sender]);
    } finally {
      await sandbox.control('/mailbox-scopes', { body: { appId, mailboxes: null } });
      await sandbox.control('/permissions', { body: { managedIdentityRoles: DEFAULT_MANAGED_IDENTITY_ROLES } });
    }
  });
});
