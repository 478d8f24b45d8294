/**
 * Hostile input: a corpus of bad requests to every HTTP endpoint of the app (malformed and oversized
 * bodies, wrong types, unknown fields, odd characters and traversal in ids, environment URLs that are
 * not https, not allowlisted, carry credentials or IP literals, absurd lifetimes, missing or wrong
 * keys, unknown runs, events for finished runs) and malformed or foreign Key Vault events. Each request
 * must be refused with a 4xx `application/problem+json` naming the problem (the host's own 401 carries
 * no body), start no orchestration and change nothing in the sandbox; each event must start nothing.
 * A valid request and a valid event at the end prove the checks would have seen a change.
 */
import type { InstanceStatus } from '../../runtime';
import { startTestApp, type TestApp } from '../helpers/app';
import { drive, NEVER, persistedInstance, recordFigures, TimeKeeper } from './support';

interface HttpCase {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** Function key to send: the app's key unless given (null = none). */
  key?: string | null;
  status: number;
  /** Answered by the host before the function runs: status only. */
  host?: boolean;
  /** What the problem's detail must say. */
  detail?: RegExp;
  field?: string;
}

interface Outcome {
  name: string;
  problems: string[];
}

let app: TestApp;
let keeper: TimeKeeper;
let good = '';
const outcomes: Outcome[] = [];
const eventOutcomes: Outcome[] = [];

/** The runs as the task hub holds them: which exist, their status and how much history they have. */
function instances(): string {
  return JSON.stringify(
    app.runtime.durable
      .listInstances()
      .map((s: InstanceStatus) => ({
        id: s.instanceId,
        status: s.runtimeStatus,
        history: app.runtime.durable.getStatus(s.instanceId, { showHistory: true })?.history?.length ?? 0,
        inbox: persistedInstance(app, s.instanceId)?.inbox.length ?? 0,
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  );
}

async function world(): Promise<string> {
  const state = await app.control<Record<string, unknown>>('/state');
  delete state.now;
  return JSON.stringify(state);
}

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: ['finished', 'waiting', 'target'], secretPropagationSeconds: 0 },
    appSettings: { ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
  good = app.environmentUrl('target');
  // A finished run, and one waiting for an administrator's consent.
  expect((await app.api('POST', '/api/environments/finished/setup', { environmentUrl: app.environmentUrl('finished') })).status).toBe(202);
  expect((await drive(app, keeper, 'setup-finished')).runtimeStatus).toBe('Completed');
  expect((await app.api('POST', '/api/environments/waiting/setup', { environmentUrl: app.environmentUrl('waiting'), consent: 'request' })).status).toBe(202);
  await app.waitForOperation('setup-waiting', (op) => op.waitingFor?.event === 'ConsentGranted');
});

afterAll(async () => {
  const rejected = outcomes.filter((o) => o.problems.length === 0).length;
  const eventsRejected = eventOutcomes.filter((o) => o.problems.length === 0).length;
  process.stdout.write(
    `\nhostile input: ${outcomes.length} bad HTTP requests, ${rejected} refused cleanly; ${eventOutcomes.length} bad Key Vault events, ${eventsRejected} ignored\n`,
  );
  recordFigures('hostileInput', {
    corpus: outcomes.length + eventOutcomes.length,
    rejected: rejected + eventsRejected,
    http: { tried: outcomes.length, rejected },
    eventGrid: { tried: eventOutcomes.length, ignored: eventsRejected },
  });
  await app?.stop();
});

// ---- the HTTP corpus ----------------------------------------------------------------------------

function corpus(): HttpCase[] {
  const S = '/api/environments/target/setup';
  const port = new URL(good).port;
  const setup = (name: string, body: unknown, status: number, field: string | undefined, detail: RegExp): HttpCase => ({
    name,
    method: 'POST',
    path: S,
    body,
    status,
    detail,
    ...(field !== undefined ? { field } : {}),
  });
  const raw = (name: string, path: string, rawBody: string, status: number, detail: RegExp, contentType = 'application/json'): HttpCase => ({
    name,
    method: 'POST',
    path,
    rawBody,
    headers: { 'content-type': contentType },
    status,
    detail,
  });
  const url = (name: string, environmentUrl: unknown, detail: RegExp): HttpCase => setup(`setup: environmentUrl ${name}`, { environmentUrl }, 400, 'environmentUrl', detail);
  const field = (name: string, extra: Record<string, unknown>, fieldName: string, detail: RegExp): HttpCase =>
    setup(`setup: ${name}`, { environmentUrl: good, ...extra }, 400, fieldName, detail);
  const badId = (name: string, method: 'GET' | 'POST', path: string, fieldName: string, body?: unknown): HttpCase => ({
    name,
    method,
    path,
    ...(body !== undefined ? { body } : {}),
    status: 400,
    field: fieldName,
    detail: new RegExp(fieldName),
  });
  const noKey = (name: string, method: 'GET' | 'POST' | 'DELETE', path: string, key: string | null): HttpCase => ({ name, method, path, key, status: 401, host: true });
  const WAITING = '/api/operations/setup-waiting/events';
  return [
    // Body syntax and size.
    raw('setup: truncated JSON', S, '{"environmentUrl":', 400, /not valid JSON/),
    raw('setup: a JSON array', S, '[]', 400, /JSON object/),
    raw('setup: a JSON string', S, '"https://evil.example.com"', 400, /JSON object/),
    raw('setup: JSON null', S, 'null', 400, /JSON object/),
    raw('setup: a JSON number', S, '12', 400, /JSON object/),
    raw('setup: 8000 nested arrays', S, `${'['.repeat(8000)}${']'.repeat(8000)}`, 400, /JSON object/),
    raw('setup: JSON sent as text/plain', S, JSON.stringify({ environmentUrl: good }), 415, /Content-Type: application\/json/, 'text/plain'),
    raw('setup: XML', S, `<setup environmentUrl="${good}"/>`, 415, /must be JSON/, 'application/xml'),
    raw('setup: a 20 kB body', S, JSON.stringify({ environmentUrl: good, appDisplayName: 'x'.repeat(20_000) }), 413, /at most 16384 bytes/),
    raw('setup: __proto__ field', S, `{"environmentUrl":"${good}","__proto__":{"polluted":true}}`, 400, /Unknown field: __proto__/),
    raw('setup: constructor field', S, `{"environmentUrl":"${good}","constructor":{"prototype":{"x":1}}}`, 400, /Unknown field: constructor/),
    raw('setup: an infinite lifetime (1e999)', S, `{"environmentUrl":"${good}","secretLifetimeDays":1e999}`, 400, /secretLifetimeDays/),
    // The environment URL: the secret is sent to its host.
    setup('setup: no environmentUrl', {}, 400, 'environmentUrl', /environmentUrl is required/),
    url('as a number', 42, /must be a string/),
    url('as null', null, /must be a string/),
    url('as an array', [good], /must be a string/),
    url('as an object', { href: good }, /must be a string/),
    url('over http', good.replace('https:', 'http:'), /does not use https/),
    url('on a host not allowed', 'https://evil.example.com', /not in the allowed hosts/),
    url('with user and password', good.replace('https://', 'https://admin:hunter2@'), /carries user information/),
    url('as an IPv4 literal', `https://127.0.0.1:${port}`, /not in the allowed hosts/),
    url('as an IPv6 literal', `https://[::1]:${port}`, /not in the allowed hosts/),
    url('as a hex IPv4 literal', `https://0x7f.0.0.1:${port}`, /not in the allowed hosts/),
    url('on another port of an allowed host', 'https://localhost:1', /not in the allowed hosts/),
    url('on an allowed name inside another domain', `https://localhost.evil.example.com:${port}`, /not in the allowed hosts/),
    url('with a traversing path', `${good}/../../data/EmailParameters`, /has a path, query or fragment/),
    url('with a query', `${good}/?redirect=https://evil.example.com`, /has a path, query or fragment/),
    url('with a fragment', `${good}#x`, /has a path, query or fragment/),
    url('as javascript:', 'javascript:alert(1)', /does not use https/),
    url('as file:', 'file:///etc/passwd', /does not use https/),
    url('that is no URL', 'contoso uat', /not a valid URL/),
    url('with a backslash trick', `https://evil.example.com\\@localhost:${port}`, /has a path, query or fragment/),
    url('with a trailing NUL byte', `${good}\u0000`, /must not contain control characters/),
    url('with a line break and a header', `${good}\r\nHost: evil.example.com`, /must not contain control characters/),
    url('of 3000 characters', `https://${'a'.repeat(3000)}.operations.dynamics.com`, /too long/),
    // Other fields.
    field('an unknown field', { surprise: true }, 'surprise', /Unknown field: surprise/),
    field('a huge lifetime', { secretLifetimeDays: 100_000 }, 'secretLifetimeDays', /at most 730/),
    field('a negative lifetime', { secretLifetimeDays: -5 }, 'secretLifetimeDays', /at least 1/),
    field('a zero lifetime', { secretLifetimeDays: 0 }, 'secretLifetimeDays', /at least 1/),
    field('a fractional lifetime', { secretLifetimeDays: 1.5 }, 'secretLifetimeDays', /whole number/),
    field('a lifetime as a string', { secretLifetimeDays: '180' }, 'secretLifetimeDays', /must be a number/),
    field('a lifetime of 1e308', { secretLifetimeDays: 1e308 }, 'secretLifetimeDays', /whole number|at most 730/),
    field('a tenant that is no GUID', { tenantId: 'contoso.onmicrosoft.com' }, 'tenantId', /GUID/),
    field('a tenant as a number', { tenantId: 12 }, 'tenantId', /must be a string/),
    field('a tenant other than the home tenant', { tenantId: '0b0b0b0b-1111-2222-3333-444444444444' }, 'tenantId', /is not the tenant this function app works in/),
    field('an unknown consent strategy', { consent: 'maybe' }, 'consent', /"grant" or "request"/),
    field('an unknown delivery strategy', { delivery: 'email' }, 'delivery', /"odata" or "manual"/),
    field('an empty display name', { appDisplayName: '   ' }, 'appDisplayName', /must not be empty/),
    field('control characters in the display name', { appDisplayName: 'F&O\u0007mail\r\nX-Injected: 1' }, 'appDisplayName', /may contain only letters, digits, spaces/),
    // What would close a PowerShell string (any of its five single quotes) and run a command after it.
    ...["'", '\u2018', '\u2019', '\u201a', '\u201b'].map((q) =>
      field(`a display name closing a PowerShell string with U+${q.codePointAt(0)!.toString(16).padStart(4, '0')}`, { appDisplayName: `x${q}; Remove-Mailbox -Identity ceo -Confirm:$false; ${q}` }, 'appDisplayName', /may contain only letters, digits, spaces/),
    ),
    field('a display name with a PowerShell subexpression', { appDisplayName: 'F&O $(Invoke-WebRequest evil)' }, 'appDisplayName', /may contain only letters, digits, spaces/),
    field('a mailbox in the scope closing a quote', { mailboxScope: { groupOrMailboxes: ["o'neil@contoso.com"] } }, 'mailboxScope.groupOrMailboxes.0', /plain email address/),
    field('a scope group closing a typographic quote', { mailboxScope: { groupOrMailboxes: 'erp\u2019;Remove-Mailbox x;\u2019@contoso.com' } }, 'mailboxScope.groupOrMailboxes', /plain email address|group or a list/),
    field('a sender mailbox other than SENDER_MAILBOX', { senderMailbox: 'ceo@contoso.com' }, 'senderMailbox', /must be the configured SENDER_MAILBOX/),
    field('a 500-character display name', { appDisplayName: 'a'.repeat(500) }, 'appDisplayName', /at most 120/),
    field('a sender that is no address', { senderMailbox: 'nobody' }, 'senderMailbox', /plain email address/),
    field('a recipient as a number', { testRecipient: 123 }, 'testRecipient', /must be a string/),
    field('a recipient with two @', { testRecipient: 'a@b@contoso.com' }, 'testRecipient', /plain email address/),
    // Environment ids in the route.
    badId('setup: id with capitals and underscore', 'POST', '/api/environments/Bad_Id/setup', 'environmentId', { environmentUrl: good }),
    badId('setup: id of 64 characters', 'POST', `/api/environments/${'a'.repeat(64)}/setup`, 'environmentId', { environmentUrl: good }),
    badId('setup: id with a non-ASCII letter', 'POST', `/api/environments/${encodeURIComponent('contosó')}/setup`, 'environmentId', { environmentUrl: good }),
    badId('setup: id traversing with encoded ../', 'POST', '/api/environments/%2e%2e%2f%2e%2e%2fadmin/setup', 'environmentId', { environmentUrl: good }),
    badId('setup: id with a NUL byte', 'POST', '/api/environments/a%00b/setup', 'environmentId', { environmentUrl: good }),
    badId('setup: id with a leading hyphen', 'POST', '/api/environments/-contoso/setup', 'environmentId', { environmentUrl: good }),
    badId("setup: id with a quote (OData injection)", 'POST', "/api/environments/a'%20or%20'1'eq'1/setup", 'environmentId', { environmentUrl: good }),
    badId('setup: id with an encoded slash', 'POST', '/api/environments/a%2Fb/setup', 'environmentId', { environmentUrl: good }),
    noKey('setup: no function key', 'POST', S, null),
    noKey('setup: a wrong function key', 'POST', S, 'not-the-key'),
    noKey('setup: a wrong key in the query', 'POST', `${S}?code=not-the-key`, null),
    // Operations.
    { name: 'operation: unknown run', method: 'GET', path: '/api/operations/setup-nobody', status: 404, detail: /No operation with id setup-nobody/ },
    badId('operation: id with capitals', 'GET', '/api/operations/Setup-Finished', 'instanceId'),
    badId('operation: id traversing with encoded ../', 'GET', '/api/operations/%2e%2e%2fsetup-finished', 'instanceId'),
    badId('operation: id of 200 characters', 'GET', `/api/operations/setup-${'a'.repeat(200)}`, 'instanceId'),
    badId('operation: id starting with @', 'GET', '/api/operations/%40setup-finished', 'instanceId'),
    noKey('operation: no function key', 'GET', '/api/operations/setup-finished', null),
    { name: 'operations: zero days', method: 'GET', path: '/api/operations?days=0', status: 400, field: 'days', detail: /days must be at least 1/ },
    { name: 'operations: days that are no number', method: 'GET', path: '/api/operations?days=abc', status: 400, field: 'days', detail: /days must be a number/ },
    { name: 'operations: 100000 days', method: 'GET', path: '/api/operations?days=100000', status: 400, field: 'days', detail: /at most 365/ },
    { name: 'operations: negative days', method: 'GET', path: '/api/operations?days=-1', status: 400, field: 'days', detail: /at least 1/ },
    { name: 'operations: fractional days', method: 'GET', path: '/api/operations?days=1.5', status: 400, field: 'days', detail: /whole number/ },
    { name: 'operations: an unknown status', method: 'GET', path: '/api/operations?status=Bogus', status: 400, field: 'status', detail: /status must be one of/ },
    noKey('operations: no function key', 'GET', '/api/operations', null),
    // Events.
    { name: 'event: unknown event name', method: 'POST', path: `${WAITING}/Whatever`, body: {}, status: 400, field: 'eventName', detail: /Unknown event "Whatever"/ },
    { name: 'event: name in lower case', method: 'POST', path: `${WAITING}/consentgranted`, body: {}, status: 400, field: 'eventName', detail: /Unknown event/ },
    { name: 'event: name traversing with encoded ../', method: 'POST', path: `${WAITING}/..%2F..%2Fadmin`, body: {}, status: 400, field: 'eventName', detail: /Unknown event/ },
    { name: 'event: unknown run', method: 'POST', path: '/api/operations/setup-nobody/events/ConsentGranted', body: {}, status: 404, detail: /No operation with id setup-nobody/ },
    { name: 'event: ConsentGranted for a finished run', method: 'POST', path: '/api/operations/setup-finished/events/ConsentGranted', body: {}, status: 409, detail: /completed and takes no more events/ },
    { name: 'event: EmailParametersUpdated for a finished run', method: 'POST', path: '/api/operations/setup-finished/events/EmailParametersUpdated', body: {}, status: 409, detail: /takes no more events/ },
    raw('event: truncated JSON', `${WAITING}/ConsentGranted`, '{"by":', 400, /not valid JSON/),
    raw('event: a JSON array', `${WAITING}/ConsentGranted`, '[1,2]', 400, /JSON object/),
    raw('event: sent as text/plain', `${WAITING}/ConsentGranted`, '{}', 415, /must be JSON/, 'text/plain'),
    raw('event: a 20 kB body', `${WAITING}/ConsentGranted`, JSON.stringify({ note: 'x'.repeat(20_000) }), 413, /at most 16384 bytes/),
    badId('event: run id with an underscore', 'POST', '/api/operations/Setup_X/events/ConsentGranted', 'instanceId', {}),
    noKey('event: no function key', 'POST', `${WAITING}/ConsentGranted`, null),
    noKey('event: a wrong function key', 'POST', `${WAITING}/ConsentGranted`, 'not-the-key'),
    // The registry.
    { name: 'environment: never set up', method: 'GET', path: '/api/environments/never-set-up', status: 404, detail: /No environment never-set-up is registered/ },
    badId('environment: id with capitals', 'GET', '/api/environments/Bad_Id', 'environmentId'),
    badId('environment: id traversing with encoded ../', 'GET', '/api/environments/%2e%2e%2fsecrets', 'environmentId'),
    noKey('environments: no function key', 'GET', '/api/environments', null),
    noKey('environments: a wrong function key', 'GET', '/api/environments', 'not-the-key'),
    noKey('environment: no function key', 'GET', '/api/environments/finished', null),
    // On-demand rotation.
    { name: 'rotate: never set up', method: 'POST', path: '/api/environments/never-set-up/rotate', status: 404, detail: /No environment never-set-up is registered/ },
    badId('rotate: id with capitals', 'POST', '/api/environments/Bad_Id/rotate', 'environmentId'),
    raw('rotate: truncated JSON', '/api/environments/finished/rotate', '{"force":', 400, /not valid JSON/),
    { name: 'rotate: an unknown option', method: 'POST', path: '/api/environments/finished/rotate', body: { force: true }, status: 400, field: 'force', detail: /Unknown field: force/ },
    raw('rotate: a JSON array', '/api/environments/finished/rotate', '[]', 400, /JSON object/),
    raw('rotate: sent as text/plain', '/api/environments/finished/rotate', 'now please', 415, /must be JSON/, 'text/plain'),
    noKey('rotate: no function key', 'POST', '/api/environments/finished/rotate', null),
    // Emergency rotation (nothing starts: every request here is refused).
    { name: 'fleet rotate: a tenant id that is no GUID', method: 'POST', path: '/api/fleet/rotate', body: { tenantId: "x' or '1'='1" }, status: 400, field: 'tenantId', detail: /must be a GUID/ },
    { name: 'fleet rotate: a negative grace period', method: 'POST', path: '/api/fleet/rotate', body: { graceHours: -5 }, status: 400, field: 'graceHours' },
    { name: 'fleet rotate: a grace period of years', method: 'POST', path: '/api/fleet/rotate', body: { graceHours: 100000 }, status: 400, field: 'graceHours', detail: /at most 720/ },
    { name: 'fleet rotate: an unknown option', method: 'POST', path: '/api/fleet/rotate', body: { everything: true }, status: 400, field: 'everything', detail: /Unknown field: everything/ },
    raw('fleet rotate: truncated JSON', '/api/fleet/rotate', '{"tenantId":', 400, /not valid JSON/),
    raw('fleet rotate: sent as text/plain', '/api/fleet/rotate', 'rotate everything', 415, /must be JSON/, 'text/plain'),
    noKey('fleet rotate: no function key', 'POST', '/api/fleet/rotate', null),
    noKey('fleet rotate: a wrong function key', 'POST', '/api/fleet/rotate', 'not-the-key'),
    // The tenant routes (partner mode is off in this app, as in every single-tenant deployment).
    noKey('tenants: no function key', 'GET', '/api/tenants', null),
    noKey('tenants: a wrong function key', 'GET', '/api/tenants', 'not-the-key'),
    { name: 'onboard: a tenant id that is no GUID', method: 'POST', path: "/api/tenants/x'%20or%20'1'%3D'1/onboard", body: {}, status: 400, field: 'tenantId', detail: /must be a tenant id/ },
    { name: 'onboard: a GUID with a script in its tail', method: 'POST', path: '/api/tenants/11111111-2222-4333-8444-555555555555%3Cscript%3E/onboard', body: {}, status: 400, field: 'tenantId', detail: /must be a tenant id/ },
    { name: 'onboard: an unknown option', method: 'POST', path: '/api/tenants/11111111-2222-4333-8444-555555555555/onboard', body: { permissions: ['Application.ReadWrite.All'] }, status: 400, field: 'permissions', detail: /Unknown field: permissions/ },
    { name: 'onboard: partner mode off', method: 'POST', path: '/api/tenants/11111111-2222-4333-8444-555555555555/onboard', body: {}, status: 400, detail: /OPERATOR_CLIENT_ID is not set/ },
    raw('onboard: truncated JSON', '/api/tenants/11111111-2222-4333-8444-555555555555/onboard', '{"x":', 400, /not valid JSON/),
    noKey('onboard: no function key', 'POST', '/api/tenants/11111111-2222-4333-8444-555555555555/onboard', null),
    { name: 'remove tenant: a tenant id that is no GUID', method: 'DELETE', path: '/api/tenants/..%2F..%2Fenvironments', status: 400, field: 'tenantId', detail: /must be a tenant id/ },
    { name: 'remove tenant: partner mode off', method: 'DELETE', path: '/api/tenants/11111111-2222-4333-8444-555555555555?confirm=anything', status: 400, detail: /OPERATOR_CLIENT_ID is not set/ },
    noKey('remove tenant: no function key', 'DELETE', '/api/tenants/11111111-2222-4333-8444-555555555555', null),
    noKey('remove tenant: a wrong function key', 'DELETE', '/api/tenants/11111111-2222-4333-8444-555555555555', 'not-the-key'),
    // The dashboard page is served without a key (it holds no data); what it reads is not.
    noKey('dashboard data: no function key', 'GET', '/api/environments', null),
    noKey('dashboard data: a wrong function key', 'GET', '/api/operations?code=not-the-key', null),
  ];
}

async function send(c: HttpCase): Promise<{ status: number; contentType: string; text: string; body: Record<string, unknown> | undefined }> {
  const reply = await app.api<Record<string, unknown>>(c.method, c.path, c.body, {
    ...(c.key !== undefined ? { key: c.key } : {}),
    ...(c.headers ? { headers: c.headers } : {}),
    ...(c.rawBody !== undefined ? { rawBody: c.rawBody } : {}),
  });
  return { status: reply.status, contentType: reply.headers.get('content-type') ?? '', text: reply.text, body: reply.body };
}

describe('every bad HTTP request is refused with a 4xx problem naming the problem, and changes nothing', () => {
  it('the corpus covers every HTTP function of the app with at least 60 requests', () => {
    const cases = corpus();
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const routes = app.runtime.registry.httpFunctions().map((f) => ({ route: f.http?.route ?? f.name, methods: f.http?.methods ?? [] }));
    const covered = (route: string, method: string): boolean => {
      const pattern = new RegExp(`^/api/${route.replace(/\{[^}]+\}/g, '[^/?]+')}(\\?.*)?$`);
      return cases.some((c) => c.method === method && pattern.test(c.path));
    };
    // The dashboard page takes no input and serves the same static page to everyone: nothing to refuse there
    // (the next test shows nothing a request sends is reflected into it).
    const uncovered = routes.flatMap((r) => r.methods.filter((m) => !covered(r.route, m)).map((m) => `${m} ${r.route}`)).filter((r) => r !== 'GET dashboard');
    expect(uncovered).toEqual([]);
  });

  it('the dashboard page reflects nothing a request sends: the same page whatever the query', async () => {
    const page = async (query: string): Promise<string> => (await (await fetch(`${app.endpoints.functionsUrl}/api/dashboard${query}`)).text()).replace(/"serverTime":"[^"]*"/, '');
    const plain = await page('');
    for (const query of ['?code=%3Cscript%3Ealert(1)%3C%2Fscript%3E', '?x="><img src=x onerror=alert(1)>', `?code=${'a'.repeat(4000)}`, '?environmentId=../../etc/passwd']) {
      expect(await page(query)).toBe(plain);
    }
  });

  it('each request of the corpus', async () => {
    const failures: string[] = [];
    for (const c of corpus()) {
      const beforeRuns = instances();
      const beforeWorld = await world();
      const reply = await send(c);
      const problems: string[] = [];
      if (reply.status !== c.status) problems.push(`answered ${reply.status}, expected ${c.status}: ${reply.text.slice(0, 200)}`);
      if (reply.status < 400 || reply.status > 499) problems.push('not a 4xx');
      if (!c.host) {
        if (!reply.contentType.startsWith('application/problem+json')) problems.push(`content type ${reply.contentType}`);
        const body = reply.body ?? {};
        if (typeof body.title !== 'string' || body.status !== reply.status || typeof body.detail !== 'string') problems.push(`not a problem document: ${reply.text.slice(0, 200)}`);
        if (c.detail && !c.detail.test(String(body.detail))) problems.push(`detail "${String(body.detail)}" does not match ${String(c.detail)}`);
        if (c.field !== undefined && body.field !== c.field) problems.push(`field ${String(body.field)}, expected ${c.field}`);
      }
      if (/hunter2/.test(reply.text)) problems.push('the answer echoes the password of the URL');
      await new Promise((r) => setTimeout(r, 30));
      if (instances() !== beforeRuns) problems.push('the runs changed (an orchestration started or an event was delivered)');
      if ((await world()) !== beforeWorld) problems.push('the sandbox changed');
      outcomes.push({ name: c.name, problems });
      if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});

// ---- Key Vault events ---------------------------------------------------------------------------

describe('malformed and foreign Key Vault events start nothing', () => {
  function validEvent(): Record<string, unknown> {
    const secret = app.sandbox.state.secrets.find((s) => s.name === 'fno-graph-mail-finished');
    const version = secret?.versions[secret.versions.length - 1]?.version ?? '';
    const vault = new URL(app.endpoints.keyVaultUrl);
    return {
      id: '0d8d5c4b-5c6c-4f9e-9d8e-3b1f0c1a2b3c',
      topic: app.endpoints.eventGridTopic,
      subject: 'fno-graph-mail-finished',
      eventType: 'Microsoft.KeyVault.SecretNearExpiry',
      eventTime: new Date(app.sandbox.state.now()).toISOString(),
      data: {
        Id: `${vault.origin}/secrets/fno-graph-mail-finished/${version}`,
        VaultName: app.endpoints.keyVaultName,
        ObjectType: 'Secret',
        ObjectName: 'fno-graph-mail-finished',
        Version: version,
        NBF: null,
        EXP: Math.floor(app.sandbox.state.now() / 1000) + 86_400,
      },
      dataVersion: '1',
      metadataVersion: '1',
    };
  }

  function withData(data: Record<string, unknown>, top: Record<string, unknown> = {}): Record<string, unknown> {
    const e = validEvent();
    return { ...e, ...top, data: { ...(e.data as Record<string, unknown>), ...data } };
  }

  function events(): Array<[string, unknown]> {
    const e = validEvent();
    const version = (e.data as { Version: string }).Version;
    const { data: _data, ...noData } = e;
    return [
      ['null', null],
      ['a string', 'Microsoft.KeyVault.SecretNearExpiry'],
      ['an array of events', [e]],
      ['an empty object', {}],
      ['no event type', { ...e, eventType: undefined }],
      ['an event type that is a number', { ...e, eventType: 42 }],
      ['a new-version event', { ...e, eventType: 'Microsoft.KeyVault.SecretNewVersionCreated' }],
      ['an event type with a suffix', { ...e, eventType: 'Microsoft.KeyVault.SecretNearExpiry2' }],
      ['no data and no subject', { ...noData, subject: undefined }],
      ['data that is an array', { ...e, data: [e.data] }],
      ['an object name that is a number', withData({ ObjectName: 7, Id: undefined }, { subject: undefined })],
      ['an object name traversing', withData({ ObjectName: '../../secrets/fno-graph-mail-finished', Id: undefined }, { subject: undefined })],
      ['an object name of 300 characters', withData({ ObjectName: `fno-graph-mail-${'a'.repeat(285)}`, Id: undefined })],
      ['a version with a slash', withData({ Version: `${version}/../x`, Id: undefined })],
      ['another vault by name', withData({ VaultName: 'someone-elses-vault', Id: undefined })],
      ['another vault by secret URL', withData({ Id: `https://someone-elses-vault.vault.azure.net/secrets/fno-graph-mail-finished/${version}`, VaultName: 'someone-elses-vault' })],
      ['a secret URL over http', withData({ Id: `http://${new URL(app.endpoints.keyVaultUrl).host}/secrets/fno-graph-mail-finished/${version}`, VaultName: undefined })],
      ['a secret URL contradicting the object name', withData({ ObjectName: 'fno-graph-mail-waiting' })],
      ['a secret the product does not manage', withData({ ObjectName: 'payroll-api-key', Id: undefined }, { subject: 'payroll-api-key' })],
      ['a product-named secret of no environment', withData({ ObjectName: 'fno-graph-mail-nobody', Id: undefined }, { subject: 'fno-graph-mail-nobody' })],
      ['a version that is not the current one', withData({ Version: 'a'.repeat(32), Id: undefined })],
    ];
  }

  it('each event of the corpus is ignored: no run starts and the sandbox does not change', async () => {
    const failures: string[] = [];
    for (const [name, event] of events()) {
      const beforeRuns = instances();
      const beforeWorld = await world();
      const result = await app.runtime.deliverEventGridEvent('secretExpiryEvents', event);
      await new Promise((r) => setTimeout(r, 30));
      const problems: string[] = [];
      if (instances() !== beforeRuns) problems.push(`a run started or changed (delivery ${JSON.stringify(result)})`);
      if ((await world()) !== beforeWorld) problems.push('the sandbox changed');
      eventOutcomes.push({ name: `event: ${name}`, problems });
      if (problems.length > 0) failures.push(`${name}: ${problems.join('; ')}`);
    }
    expect(eventOutcomes.length).toBeGreaterThanOrEqual(20);
    expect(failures).toEqual([]);
  });

  it('the checks see a change when there is one: a valid event starts a rotation, a valid request a setup', async () => {
    const beforeRuns = instances();
    // Genuine: the vault agrees that the current version expires within Key Vault's 30-day window.
    const secret = app.sandbox.state.secrets.find((s) => s.name === 'fno-graph-mail-finished');
    const current = secret?.versions[secret.versions.length - 1];
    if (!current) throw new Error('no version for finished');
    current.exp = Math.floor(app.sandbox.state.now() / 1000) + 86_400;
    const result = await app.runtime.deliverEventGridEvent('secretExpiryEvents', validEvent());
    expect(result.ok).toBe(true);
    await app.waitForOperation('rotate-finished', () => true);
    expect(instances()).not.toBe(beforeRuns);
    const reply = await app.api('POST', '/api/environments/target/setup', { environmentUrl: good });
    expect(reply.status).toBe(202);
    expect((await drive(app, keeper, 'setup-target')).runtimeStatus).toBe('Completed');
    expect((await drive(app, keeper, 'rotate-finished')).runtimeStatus).toBe('Completed');
  });
});
