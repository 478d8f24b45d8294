/**
 * Throttling at the documented limits, off by default: Graph identity writes (3,000 per 150 s per app
 * and tenant) and resource units (3,500 per 10 s), Key Vault secret creations (300 per 10 s per vault)
 * and its other transactions, answered with 429 and Retry-After in each service's shape, counted on
 * the virtual clock. Through the Graph client and SecretClient with their retries switched off; the
 * thousands of Graph requests that fill a window before that are plain HTTPS with the same token (through
 * the client they cost seconds of CPU and show nothing more), each checked to have been answered 2xx.
 */
import * as https from 'node:https';
import { ManagedIdentityCredential } from '@azure/identity';
import type { RestError } from '@azure/core-rest-pipeline';
import type { Client } from '@microsoft/microsoft-graph-client';
import type { SecretClient } from '@azure/keyvault-secrets';
import { graphClient, graphErrorOf, noRetries, useManagedIdentityEnv, type Json } from '../helpers/identity';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;
let restoreEnv: () => void;
let mi: ManagedIdentityCredential;
let client: Client;
let vault: SecretClient;

beforeAll(async () => {
  sandbox = await startTestSandbox();
  restoreEnv = useManagedIdentityEnv(sandbox);
  mi = new ManagedIdentityCredential();
  client = graphClient(sandbox, mi);
  vault = sandbox.secretClient(mi, { retryOptions: { maxRetries: 0 } });
});

afterAll(async () => {
  restoreEnv();
  keptAlive.destroy();
  await sandbox.stop();
});

/** Runs `count` calls, `width` at a time. */
async function burst(count: number, width: number, call: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => call(start + k)));
  }
}

let graphToken: string | undefined;
const keptAlive = new https.Agent({ keepAlive: true, maxSockets: 50 });

/** One Graph request as the client would send it (bearer token, JSON), answered with a 2xx or thrown. */
async function plainGraph(method: 'GET' | 'PATCH', path: string, body?: unknown): Promise<void> {
  graphToken ??= (await mi.getToken('https://graph.microsoft.com/.default')).token;
  const url = new URL(`${sandbox.endpoints.graphUrl}/v1.0${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        agent: keptAlive,
        headers: { authorization: `Bearer ${graphToken}`, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
  if (status < 200 || status >= 300) throw new Error(`${method} ${path} answered ${status}`);
}

async function restErrorOf(promise: Promise<unknown>): Promise<RestError> {
  try {
    await promise;
  } catch (e) {
    return e as RestError;
  }
  throw new Error('the call succeeded but a RestError was expected');
}

describe('Graph identity limits', () => {
  let app: Json;

  beforeAll(async () => {
    app = (await client.api('/applications').post({ displayName: 'throttled' })) as Json;
  });

  afterEach(async () => {
    await sandbox.control('/settings', { body: { throttling: false } });
    // Let every window empty before the next test.
    await sandbox.control('/clock', { body: { advance: 'PT10M' } });
  });

  it('is off by default: a burst beyond the read budget passes', async () => {
    expect((await sandbox.control<Json>('/settings')).body.throttling).toBe(false);
    await burst(1800, 50, () => plainGraph('GET', '/applications'));
    await client.api('/applications').middlewareOptions(noRetries()).get();
  });

  it('answers the 3,001st write within 150 s with 429 WriteLimitExceeded, and writes again after the window', async () => {
    await sandbox.control('/settings', { body: { throttling: true } });
    const write = (i: number): Promise<unknown> => client.api(`/applications/${app.id as string}`).middlewareOptions(noRetries()).patch({ tags: [`n${i}`] });
    await burst(2999, 50, (i) => plainGraph('PATCH', `/applications/${app.id as string}`, { tags: [`n${i}`] }));
    await write(2999);
    const refused = await graphErrorOf(write(3000));
    expect([refused.statusCode, refused.code, refused.message]).toEqual([429, 'TooManyRequests', 'Please retry again later.']);
    expect(refused.headers?.get('x-ms-throttle-information')).toBe('WriteLimitExceeded');
    const retryAfter = Number(refused.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(100);
    expect(retryAfter).toBeLessThanOrEqual(150);
    // Reads draw on the resource units, still available.
    await client.api(`/applications/${app.id as string}`).middlewareOptions(noRetries()).get();
    await sandbox.control('/clock', { body: { advance: `PT${retryAfter}S` } });
    await write(3001);
  });

  it('answers reads beyond 3,500 resource units in 10 s with ResourceUnitLimitExceeded (a list of applications costs 2)', async () => {
    await sandbox.control('/settings', { body: { throttling: true } });
    const list = (): Promise<unknown> => client.api('/applications').middlewareOptions(noRetries()).get();
    await burst(1749, 50, () => plainGraph('GET', '/applications'));
    await list();
    const refused = await graphErrorOf(list());
    expect(refused.statusCode).toBe(429);
    expect(refused.headers?.get('x-ms-throttle-information')).toBe('ResourceUnitLimitExceeded');
    expect(Number(refused.headers?.get('retry-after'))).toBeLessThanOrEqual(10);
    await sandbox.control('/clock', { body: { advance: 'PT10S' } });
    await list();
  });
});

describe('Key Vault limits', () => {
  afterEach(async () => {
    await sandbox.control('/settings', { body: { throttling: false } });
    await sandbox.control('/clock', { body: { advance: 'PT1M' } });
  });

  it('answers the 301st secret creation within 10 s with 429 Throttled, while reads go on, and again after the window', async () => {
    await vault.setSecret('seed', 'value');
    await sandbox.control('/settings', { body: { throttling: true } });
    await burst(300, 25, (i) => vault.setSecret(`burst-${i % 10}`, `v${i}`));
    const refused = await restErrorOf(vault.setSecret('one-too-many', 'v'));
    expect(refused.statusCode).toBe(429);
    expect(refused.code).toBe('Throttled');
    expect(refused.message).toContain('VaultRequestTypeLimitReached');
    expect(Number(refused.response?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await vault.getSecret('seed')).value).toBe('value');
    await sandbox.control('/clock', { body: { advance: 'PT10S' } });
    expect((await vault.setSecret('one-too-many', 'v')).name).toBe('one-too-many');
  });

  it('does not count refused requests against the limit', async () => {
    await sandbox.control('/settings', { body: { throttling: true } });
    await burst(300, 25, (i) => vault.setSecret(`again-${i % 10}`, `v${i}`));
    // Refused five seconds later: had they counted, they would still fill the window after the first 300 leave it.
    await sandbox.control('/clock', { body: { advance: 'PT5S' } });
    for (let i = 0; i < 5; i += 1) expect((await restErrorOf(vault.setSecret('refused', 'v'))).statusCode).toBe(429);
    await sandbox.control('/clock', { body: { advance: 'PT5S' } });
    await burst(300, 25, (i) => vault.setSecret(`later-${i % 10}`, `v${i}`));
    expect((await restErrorOf(vault.setSecret('refused', 'v'))).statusCode).toBe(429);
  });
});
