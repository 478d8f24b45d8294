/**
 * SignInLog against the sandbox's Entra and Graph, signed in as the function app's managed identity
 * with the evidence roles (AuditLog.Read.All, Directory.Read.All): an app's client-credentials
 * sign-ins, successful and failed, with the key id of the secret used; the window from `since`; the
 * ingestion delay; paging past Graph's 1,000 per page and the `maxSignIns` cut; the answers for a
 * missing permission and a tenant without the licence; an application id that is not a GUID refused
 * before any request; throttling ridden out through `Retry-After`; and no secret in any answer or error.
 */
import type { TokenCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import { isServiceError, SignInLog, type ServiceError, type SignInLogAnswer, type SignInLogOptions } from '../../src/clients';
import { DEFAULT_MANAGED_IDENTITY_ROLES, setGraphRoles, SIGN_IN_EVIDENCE_ROLES } from '../../sandbox/seed';
import type { CallRecord } from '../../sandbox/types';
import { addMailApp, type MailApp } from '../helpers/finopsMail';
import { GRAPH_SCOPE, useManagedIdentityEnv } from '../helpers/identity';
import { findLeaks } from '../helpers/leakForms';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const EVIDENCE_ROLES = [...DEFAULT_MANAGED_IDENTITY_ROLES, ...SIGN_IN_EVIDENCE_ROLES];
/** A secret no app holds (its sign-in fails with AADSTS7000215); it must not show up anywhere either. */
const WRONG_SECRET = 'Wr0ng~secret-that-no-application-holds-42';

let sandbox: TestSandbox;
let restoreEnv: () => void;
let mi: ManagedIdentityCredential;
/** Every answer and error message the tests saw, for the leak check at the end. */
const seen: string[] = [];

beforeAll(async () => {
  // The identity as a deployment that reads evidence leaves it (`grant-graph-permissions`).
  sandbox = await startTestSandbox({ managedIdentityRoles: EVIDENCE_ROLES });
  restoreEnv = useManagedIdentityEnv(sandbox);
  mi = new ManagedIdentityCredential();
});

afterAll(async () => {
  restoreEnv();
  await sandbox.stop();
});

afterEach(async () => {
  await sandbox.control('/faults', { method: 'DELETE' });
});

function signInLog(options: SignInLogOptions = {}, credential: TokenCredential = mi): SignInLog {
  return new SignInLog(credential, { graphBaseUrl: sandbox.endpoints.graphUrl, ...options });
}

async function read(log: SignInLog, appId: string, since: Date): Promise<SignInLogAnswer> {
  const answer = await log.servicePrincipalSignIns(appId, since, { environmentId: 'contoso-uat' });
  seen.push(JSON.stringify(answer));
  return answer;
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (!isServiceError(e)) throw e;
    seen.push(e.message, JSON.stringify(e.toJSON()), String(e.stack));
    return e;
  }
  throw new Error('expected the read to fail');
}

function signIns(answer: SignInLogAnswer) {
  if (!answer.available) throw new Error(`the sign-in log was unavailable: ${answer.reason}`);
  return answer.signIns;
}

/** The virtual now at whole seconds (the log keeps whole seconds, as Graph shows them). */
function nowSeconds(): Date {
  return new Date(Math.floor(sandbox.state.now() / 1000) * 1000);
}

async function advance(duration: string): Promise<void> {
  expect((await sandbox.control('/clock', { body: { advance: duration } })).status).toBe(200);
}

/** One client-credentials sign-in with `secret`, as F&O makes it (a fresh credential: no cached token). */
function signInWith(app: MailApp, secret: string): Promise<unknown> {
  return sandbox.clientSecretCredential(app.appId, secret).getToken(GRAPH_SCOPE);
}

/**
 * `count` successful sign-ins: the token request ClientSecretCredential sends (client credentials with a
 * client secret, form-encoded, to the tenant's v2.0 token endpoint), without building a credential each time.
 */
async function signInMany(app: MailApp, secret: string, count: number): Promise<void> {
  const url = `${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/oauth2/v2.0/token`;
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: app.appId, client_secret: secret, scope: GRAPH_SCOPE }).toString();
  const one = async (): Promise<void> => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`token request answered ${response.status}`);
  };
  for (let done = 0; done < count; done += 50) await Promise.all(Array.from({ length: Math.min(50, count - done) }, one));
}

/** The app's sign-ins as the sandbox's Entra logged them (ingestion delay ignored), newest first. */
async function loggedSignIns(appId: string, since: Date): Promise<Array<{ id: string; at: number }>> {
  const { signIns } = (await sandbox.control<{ signIns: Array<{ id: string; at: number; appId: string }> }>('/sign-ins')).body;
  return signIns.filter((s) => s.appId === appId && Math.floor(s.at / 1000) * 1000 >= since.getTime()).sort((a, b) => b.at - a.at);
}

/**
 * A client secret credential of an app holding exactly `roles` on Graph. (The managed identity's token is
 * cached by MSAL for the whole process, so switching its roles would not reach the token a test reads with.)
 */
function readerWith(name: string, roles: string[]): TokenCredential {
  const reader = addMailApp(sandbox.state, name, { mailSend: false });
  const sp = sandbox.state.findServicePrincipalByAppId(reader.appId);
  if (!sp) throw new Error(`no service principal for ${name}`);
  setGraphRoles(sandbox.state, sp.id, roles);
  return sandbox.clientSecretCredential(reader.appId, reader.addSecret().secret);
}

async function graphReads(): Promise<CallRecord[]> {
  const { calls } = (await sandbox.control<{ calls: CallRecord[] }>('/calls')).body;
  return calls.filter((c) => c.service === 'graph' && c.path.includes('/auditLogs/signIns'));
}

function expectNewestFirst(list: Array<{ at: string }>): void {
  for (let i = 1; i < list.length; i += 1) expect(Date.parse(list[i - 1]?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(list[i]?.at ?? ''));
}

describe('SignInLog against the sandbox', () => {
  it("reads an app's successful and failed client-credentials sign-ins with the key id of each secret", async () => {
    const app = addMailApp(sandbox.state, 'signin-basic');
    const first = app.addSecret();
    const second = app.addSecret();
    const expired = app.addSecret(-1);
    const other = addMailApp(sandbox.state, 'signin-bystander');
    const since = nowSeconds();

    await signInWith(app, first.secret);
    await signInWith(app, second.secret);
    await expect(signInWith(app, WRONG_SECRET)).rejects.toThrow(/AADSTS7000215/);
    await expect(signInWith(app, expired.secret)).rejects.toThrow(/AADSTS7000222/);
    await signInWith(other, other.addSecret().secret);
    await advance('PT2M');

    // Application ids arrive in any case (Key Vault tags, F&O): the log is read all the same.
    const found = signIns(await read(signInLog(), app.appId.toUpperCase(), since));
    expect(found).toHaveLength(4);
    expectNewestFirst(found);
    expect(found.every((s) => s.appId === app.appId)).toBe(true);
    const byKey = (keyId: string | null, errorCode: number) => found.filter((s) => s.keyId === keyId && s.errorCode === errorCode);
    expect(byKey(first.keyId, 0)).toEqual([expect.objectContaining({ failureReason: null })]);
    expect(byKey(second.keyId, 0)).toHaveLength(1);
    // A secret Entra does not know names no key; an expired one is named by its key.
    expect(byKey(null, 7000215)).toEqual([expect.objectContaining({ failureReason: expect.stringMatching(/^Invalid client secret provided/) as unknown })]);
    expect(byKey(expired.keyId, 7000222)).toEqual([expect.objectContaining({ failureReason: expect.stringMatching(/are expired/) as unknown })]);
    // The entries are Entra's own: its request ids and its times, at whole seconds.
    const logged = await loggedSignIns(app.appId, since);
    expect(found.map((s) => s.id).sort()).toEqual(logged.map((s) => s.id).sort());
    for (const s of found) expect(s.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('reads only the window from `since` on', async () => {
    const app = addMailApp(sandbox.state, 'signin-window');
    const key = app.addSecret();
    await signInWith(app, key.secret);
    await advance('PT1M');
    const since = nowSeconds();
    await signInWith(app, key.secret);
    await advance('PT2M');

    const inWindow = signIns(await read(signInLog(), app.appId, since));
    expect(inWindow.map((s) => s.id)).toEqual((await loggedSignIns(app.appId, since)).map((s) => s.id));
    expect(inWindow).toHaveLength(1);
    expect(Date.parse(inWindow[0]?.at ?? '')).toBeGreaterThanOrEqual(since.getTime());
    expect(signIns(await read(signInLog(), app.appId, new Date(since.getTime() - 120_000)))).toHaveLength(2);
    expect(signIns(await read(signInLog(), app.appId, new Date(sandbox.state.now() + 60_000)))).toEqual([]);
  });

  it('shows a sign-in only once Entra has ingested it (signInLogDelayMinutes)', async () => {
    const app = addMailApp(sandbox.state, 'signin-delay');
    const key = app.addSecret();
    const since = nowSeconds();
    await sandbox.control('/settings', { body: { signInLogDelayMinutes: 5 } });
    try {
      await signInWith(app, key.secret);
      expect(signIns(await read(signInLog(), app.appId, since))).toEqual([]);
      await advance('PT4M');
      expect(signIns(await read(signInLog(), app.appId, since))).toEqual([]);
      await advance('PT1M');
      expect(signIns(await read(signInLog(), app.appId, since))).toEqual([expect.objectContaining({ keyId: key.keyId, errorCode: 0 })]);
    } finally {
      await sandbox.control('/settings', { body: { signInLogDelayMinutes: 2 } });
    }
  });

  describe('more sign-ins than one page', () => {
    const COUNT = 1150;
    let app: MailApp;
    let since: Date;
    let logged: string[];

    beforeAll(async () => {
      app = addMailApp(sandbox.state, 'signin-busy');
      const key = app.addSecret();
      since = nowSeconds();
      await signInMany(app, key.secret, COUNT);
      await advance('PT2M');
      logged = (await loggedSignIns(app.appId, since)).map((s) => s.id);
      expect(logged).toHaveLength(COUNT);
    }, 120_000);

    it("follows Graph's nextLink past 1,000 and reads every sign-in in the window once", async () => {
      await sandbox.control('/calls', { method: 'DELETE' });
      const answer = await read(signInLog(), app.appId, since);
      const found = signIns(answer);
      expect(answer).toMatchObject({ available: true, truncated: false });
      expect(found).toHaveLength(COUNT);
      expect(new Set(found.map((s) => s.id)).size).toBe(COUNT);
      expect(new Set(found.map((s) => s.id))).toEqual(new Set(logged));
      expectNewestFirst(found);
      const pages = await graphReads();
      // Two pages: 1,000 and the nextLink's 150.
      expect(pages.map((c) => [c.method, c.status])).toEqual([
        ['GET', 200],
        ['GET', 200],
      ]);
    });

    it('stops at maxSignIns and says the answer is cut, keeping the newest', async () => {
      const all = signIns(await read(signInLog(), app.appId, since));
      await sandbox.control('/calls', { method: 'DELETE' });
      const cut = await read(signInLog({ maxSignIns: 1000 }), app.appId, since);
      expect(cut).toMatchObject({ available: true, truncated: true });
      expect(signIns(cut).map((s) => s.id)).toEqual(all.slice(0, 1000).map((s) => s.id));
      // One page read, the next one left alone.
      expect(await graphReads()).toHaveLength(1);
      // A limit the window fits in reads it whole.
      expect(await read(signInLog({ maxSignIns: 2000 }), app.appId, since)).toMatchObject({ available: true, truncated: false });
    });
  });

  it('answers "permission" when the identity may not read sign-in logs, without failing', async () => {
    const app = addMailApp(sandbox.state, 'signin-permission');
    // Identities holding what the product's identity holds without the evidence roles, and with only one of them.
    for (const roles of [DEFAULT_MANAGED_IDENTITY_ROLES, [...DEFAULT_MANAGED_IDENTITY_ROLES, 'AuditLog.Read.All'], ['Directory.Read.All']]) {
      const answer = await read(signInLog({}, readerWith(`reader-${roles.length}-${roles.at(-1) ?? ''}`, roles)), app.appId, nowSeconds());
      expect(answer).toEqual({ available: false, reason: 'permission', message: expect.stringContaining('AuditLog.Read.All') as unknown });
    }
    // Positive control: with both roles the same read works.
    expect(await read(signInLog({}, readerWith('reader-both', EVIDENCE_ROLES)), app.appId, nowSeconds())).toMatchObject({ available: true });
  });

  it('answers "licence" for a tenant without Entra ID P1/P2, and reads again once it has one', async () => {
    const app = addMailApp(sandbox.state, 'signin-licence');
    const home = sandbox.endpoints.tenantId;
    await sandbox.control(`/tenants/${home}/license`, { body: { premium: false } });
    try {
      expect(await read(signInLog(), app.appId, nowSeconds())).toEqual({
        available: false,
        reason: 'licence',
        message: "Neither tenant is B2C or tenant doesn't have premium license",
      });
    } finally {
      await sandbox.control(`/tenants/${home}/license`, { body: { premium: true } });
    }
    expect(await read(signInLog(), app.appId, nowSeconds())).toMatchObject({ available: true });
  });

  it.each([
    ['a name', 'contoso-uat'],
    ['an OData injection', "00000000-0000-0000-0000-000000000000' or appId ne '"],
    ['a GUID with more after it', '00000000-0000-0000-0000-000000000000 and 1 eq 1'],
    ['a GUID in braces', '{00000000-0000-0000-0000-000000000000}'],
    ['nothing', ''],
  ])('refuses an application id that is not a GUID before any request: %s', async (_label, appId) => {
    await sandbox.control('/calls', { method: 'DELETE' });
    const error = await failure(signInLog().servicePrincipalSignIns(appId, nowSeconds(), { environmentId: 'contoso-uat' }));
    expect(error).toMatchObject({ kind: 'permanent', service: 'graph', code: 'UnexpectedResponse', environmentId: 'contoso-uat' });
    expect(error.message).toContain('is not an application id');
    // Not a request, not even a token.
    expect((await sandbox.control<{ calls: CallRecord[] }>('/calls')).body.calls).toEqual([]);
  });

  it('refuses a window start that is not a time before any request', async () => {
    await sandbox.control('/calls', { method: 'DELETE' });
    const error = await failure(signInLog().servicePrincipalSignIns('00000000-0000-0000-0000-000000000000', new Date('yesterday')));
    expect(error.message).toContain('the start of the window is not a time');
    expect((await sandbox.control<{ calls: CallRecord[] }>('/calls')).body.calls).toEqual([]);
  });

  /**
   * An app that signed in two minutes ago; with the sandbox's limits on, `spender` reads its sign-ins five
   * times (the reports' whole window), then most of the window passes on the virtual clock and `sixth`
   * runs: the next read waits about two seconds of real time, paced or told by Retry-After.
   */
  async function afterSpentWindow(name: string, spender: SignInLog, sixth: (signedIn: { appId: string; keyId: string; since: Date }) => Promise<void>): Promise<void> {
    const app = addMailApp(sandbox.state, name);
    const key = app.addSecret();
    const since = nowSeconds();
    await signInWith(app, key.secret);
    await advance('PT2M');
    await sandbox.control('/settings', { body: { throttling: true } });
    try {
      await sandbox.control('/calls', { method: 'DELETE' });
      for (let i = 0; i < 5; i += 1) expect(signIns(await read(spender, app.appId, since))).toHaveLength(1);
      await advance('PT8S');
      await sixth({ appId: app.appId, keyId: key.keyId, since });
    } finally {
      await sandbox.control('/settings', { body: { throttling: false } });
    }
  }

  it("paces its reads to the reports' limit (5 per 10 s): the sixth in a window waits for room, none is refused", async () => {
    // Counted on the clock Graph counts on: here the sandbox's virtual one.
    const log = signInLog({ now: () => sandbox.state.now() });
    await afterSpentWindow('signin-paced', log, async ({ appId, keyId, since }) => {
      const started = Date.now();
      expect(signIns(await read(log, appId, since))).toEqual([expect.objectContaining({ keyId })]);
      expect((await graphReads()).map((c) => c.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    });
  });

  it("rides out the reports' throttling by waiting as Retry-After says when another reader spent the window", async () => {
    // Two readers of one tenant (two instances of the function app, say): each paces only itself.
    const first = signInLog({ now: () => sandbox.state.now() });
    const second = signInLog({ now: () => sandbox.state.now() });
    await afterSpentWindow('signin-throttled', first, async ({ appId, keyId, since }) => {
      const started = Date.now();
      expect(signIns(await read(second, appId, since))).toEqual([expect.objectContaining({ keyId })]);
      const statuses = (await graphReads()).map((c) => c.status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 200]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    });
  });

  it.each([
    ['throttled past every retry', 429],
    ['unavailable', 503],
    ['failing', 500],
  ])('throws when Graph is %s, so the run retries (never read as missing evidence)', async (_label, status) => {
    const app = addMailApp(sandbox.state, `signin-outage-${status}`);
    await sandbox.control('/faults', { body: { service: 'graph', pathPattern: 'auditLogs/signIns', status, count: 10, retryAfterSeconds: 0 } });
    const error = await failure(signInLog().servicePrincipalSignIns(app.appId, nowSeconds(), { environmentId: 'contoso-uat' }));
    expect(error).toMatchObject({ kind: 'transient', service: 'graph', status });
    expect(error.retryable).toBe(true);
  });

  it('never shows a client secret in any answer or error above', async () => {
    const minted = (await sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted.length).toBeGreaterThan(5);
    expect(seen.length).toBeGreaterThan(20);
    expect(findLeaks([...minted, WRONG_SECRET], seen.map((text, i) => [`answer #${i}`, text] as const))).toEqual([]);
  });
});
