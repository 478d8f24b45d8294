/**
 * The HTTP host: routing by template, methods and auth levels, keys, request and response
 * conversion through the library's own invocation model, limits, and the log it writes.
 */
import './helpers/functionsCore';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLogFile } from '../../runtime/logs';
import { removeDirs, startTestRuntime, TEST_KEY, type TestRuntime } from './helpers/runtime';

let t: TestRuntime;

beforeAll(async () => {
  t = await startTestRuntime({ maxRequestBodyBytes: 64 * 1024 });
});

afterAll(async () => {
  await t.stop();
  removeDirs(t.dirs);
});

const ITEM_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('routing', () => {
  it('invokes an anonymous function with route parameters, an optional one and the query', async () => {
    const res = await t.api('/api/ping/alice?q=hello', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ name: 'alice', q: 'hello', functionName: 'ping' });

    const withoutName = await t.api('/api/ping', { key: null });
    expect(await withoutName.json()).toMatchObject({ name: null, q: null });
  });

  it('matches literal segments case-insensitively', async () => {
    const res = await t.api('/API/Ping/bob', { key: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'bob' });
  });

  it('answers 404 for unknown routes, failed constraints and other methods', async () => {
    expect((await t.api('/api/nothing-here')).status).toBe(404);
    expect((await t.api('/not-api/ping')).status).toBe(404);
    expect((await t.api('/api/items/not-a-guid', { method: 'PUT', body: '{}' })).status).toBe(404);
    expect((await t.api('/api/ping/alice', { method: 'DELETE', key: null })).status).toBe(404);
  });

  it('passes method, headers and body, and writes status, headers, cookies and JSON back', async () => {
    const res = await t.api(`/api/items/${ITEM_ID}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ color: 'blue' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-item-id')).toBe(ITEM_ID);
    expect(res.headers.get('set-cookie')).toBe('session=abc; Path=/; HttpOnly');
    expect(await res.json()).toEqual({ id: ITEM_ID, body: { color: 'blue' }, contentType: 'application/json' });
  });

  it('answers 500 with an empty body when the handler throws', async () => {
    const res = await t.api('/api/crash', { key: null });
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('');
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await t.api(`/api/items/${ITEM_ID}`, { method: 'PUT', body: 'x'.repeat(64 * 1024 + 1) });
    expect(res.status).toBe(413);
    const chunked = await t.api(`/api/items/${ITEM_ID}`, {
      method: 'PUT',
      body: new Blob(['y'.repeat(40 * 1024), 'z'.repeat(40 * 1024)]).stream(),
      duplex: 'half',
    });
    expect(chunked.status).toBe(413);
    const small = await t.api(`/api/items/${ITEM_ID}`, { method: 'PUT', body: JSON.stringify('x'.repeat(1000)) });
    expect(small.status).toBe(201);
  });
});

describe('keys', () => {
  it('requires the function key for function-level functions', async () => {
    const noKey = await t.api(`/api/items/${ITEM_ID}`, { method: 'PUT', body: '{}', key: null });
    expect(noKey.status).toBe(401);
    expect(await noKey.text()).toBe('');
    const wrongKey = await t.api(`/api/items/${ITEM_ID}`, { method: 'PUT', body: '{}', key: 'not-the-key' });
    expect(wrongKey.status).toBe(401);
    const headerKey = await t.api(`/api/items/${ITEM_ID}`, { method: 'PUT', body: '{}' });
    expect(headerKey.status).toBe(201);
    const queryKey = await t.api(`/api/items/${ITEM_ID}?code=${encodeURIComponent(TEST_KEY)}`, { method: 'PUT', body: '{}', key: null });
    expect(queryKey.status).toBe(201);
  });

  it('requires a key for admin-level functions', async () => {
    expect((await t.api('/api/admin-op', { method: 'POST', key: null })).status).toBe(401);
    const ok = await t.api('/api/admin-op', { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('admin ok');
  });

  it('does not need a key for anonymous functions, even a wrong one', async () => {
    expect((await t.api('/api/ping/x', { key: 'anything' })).status).toBe(200);
  });
});

describe('log', () => {
  it('writes invocation and user lines as JSON with function name and invocation id, and no keys', async () => {
    const res = await t.api('/api/ping/logger', { key: null });
    const { invocationId } = (await res.json()) as { invocationId: string };
    await t.api(`/api/items/${ITEM_ID}?code=${encodeURIComponent(TEST_KEY)}`, { method: 'PUT', body: '{}', key: null });

    const file = path.join(t.dirs.logs, 'functions.jsonl');
    const entries = readLogFile(file);
    const mine = entries.filter((e) => e.invocationId === invocationId);
    expect(mine.map((e) => [e.category, e.level, e.functionName])).toEqual([
      ['host', 'information', 'ping'],
      ['user', 'information', 'ping'],
      ['host', 'information', 'ping'],
    ]);
    expect(mine[1]?.message).toBe('ping from logger');
    expect(fs.readFileSync(file, 'utf8')).not.toContain(TEST_KEY);
  });
});
