/**
 * What a function key opens, and what it does not: the product's HTTP API, yes; the durable extension's
 * management webhooks (status with input and history, raise events, terminate, purge), the Event Grid
 * webhook and the host's admin API, no — they take the host's system key only, as in the Functions
 * host. Positive control: the system key opens them.
 */
import { startTestApp, type TestApp } from '../helpers/app';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ sandbox: { environmentIds: ['keys'] } });
  expect((await app.api('POST', '/api/environments/keys/setup', { environmentUrl: app.environmentUrl('keys') })).status).toBe(202);
  await app.waitForOperation('setup-keys');
});

afterAll(async () => {
  await app?.stop();
});

async function hostCall(method: string, path: string, key: string | null): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers['x-functions-key'] = key;
  const response = await fetch(`${app.endpoints.functionsUrl}${path}`, { method, headers, ...(method === 'GET' ? {} : { body: '{}' }) });
  await response.arrayBuffer();
  return response.status;
}

const HOST_ROUTES: Array<[string, string]> = [
  ['GET', '/runtime/webhooks/durabletask/instances/setup-keys?showInput=true&showHistory=true'],
  ['GET', '/runtime/webhooks/durabletask/instances'],
  ['POST', '/runtime/webhooks/durabletask/instances/setup-keys/raiseEvent/ConsentGranted'],
  ['POST', '/runtime/webhooks/durabletask/instances/setup-keys/terminate?reason=x'],
  ['DELETE', '/runtime/webhooks/durabletask/instances/setup-keys'],
  ['GET', '/runtime/webhooks/durabletask/entities/environmentRun/keys'],
  ['POST', '/runtime/webhooks/eventgrid?functionName=secretExpiryEvents'],
  ['POST', '/admin/functions/rotationSweep'],
  ['GET', '/admin/host/status'],
];

describe('keys', () => {
  it('a function key opens the product API', async () => {
    expect(await hostCall('GET', '/api/environments', app.endpoints.functionKey)).toBe(200);
    expect(await hostCall('GET', '/api/environments', null)).toBe(401);
  });

  it.each(HOST_ROUTES)('%s %s refuses the function key and no key', async (method, path) => {
    expect(await hostCall(method, path, app.endpoints.functionKey)).toBe(401);
    expect(await hostCall(method, path, null)).toBe(401);
    expect(await hostCall(method, `${path}${path.includes('?') ? '&' : '?'}code=${encodeURIComponent(app.endpoints.functionKey)}`, null)).toBe(401);
  });

  it('positive control: the system key opens the host routes (read-only ones here)', async () => {
    expect(await hostCall('GET', HOST_ROUTES[0]![1], app.runtime.systemKey)).toBe(200);
    expect(await hostCall('GET', '/admin/host/status', app.runtime.systemKey)).toBe(200);
    expect(app.runtime.systemKey).not.toBe(app.endpoints.functionKey);
  });
});
