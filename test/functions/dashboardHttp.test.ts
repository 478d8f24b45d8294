/**
 * `GET /api/dashboard` through the local host, as a browser or a script meets it: the key is
 * required, the response is locked down (CSP that allows exactly the inline script and style by hash,
 * no caching, no sniffing, no referrer), the page carries no key and no secret, and `GET /` redirects
 * to it without passing a key on.
 */
import { createHash } from 'node:crypto';
import { Script } from 'node:vm';
import { startTestApp, type TestApp } from '../helpers/app';
import { DASHBOARD_INLINE } from '../../src/dashboard/page';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});

afterAll(async () => {
  await app?.stop();
});

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Directive name → its sources. */
function parseCsp(header: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name, sources);
  }
  return directives;
}

function inlineBlocks(html: string, tag: 'script' | 'style'): Array<{ attributes: string; body: string }> {
  const blocks: Array<{ attributes: string; body: string }> = [];
  const pattern = new RegExp(`<${tag}([^>]*)>([\\s\\S]*?)</${tag}>`, 'g');
  for (const m of html.matchAll(pattern)) blocks.push({ attributes: m[1] ?? '', body: m[2] ?? '' });
  return blocks;
}

describe('GET /api/dashboard', () => {
  it('needs the function key: 401 without it or with a wrong one, and a key form (not the page) for a browser', async () => {
    const url = `${app.endpoints.functionsUrl}/api/dashboard`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(`${url}?code=wrong`)).status).toBe(401);
    expect((await fetch(url, { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);

    const browser = await fetch(url, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(browser.status).toBe(401);
    const form = await browser.text();
    expect(form).toContain('Function key needed');
    expect(form).toMatch(/<input id="code" name="code" type="password"/);
    expect(form).not.toContain('dashboard-config');
    expect(browser.headers.get('cache-control')).toBe('no-store');
    expect(browser.headers.get('content-security-policy')).toContain("default-src 'none'");

    // The API itself stays a plain 401 for a browser too: only GET pages get the form.
    expect(await (await fetch(`${app.endpoints.functionsUrl}/api/environments`, { method: 'POST', headers: { accept: 'text/html' } })).text()).toBe('');
  });

  it('serves the page with a strict CSP that allows exactly its inline script and style', async () => {
    const reply = await app.api('GET', '/api/dashboard');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
    expect(reply.headers.get('referrer-policy')).toBe('no-referrer');

    const csp = parseCsp(reply.headers.get('content-security-policy') ?? '');
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(reply.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);

    // A browser runs an inline block only if its hash is listed: every executable one must be.
    const scripts = inlineBlocks(reply.text, 'script').filter((s) => !/type="application\/json"/.test(s.attributes));
    expect(scripts).toHaveLength(1);
    expect(csp.get('script-src')).toEqual([sha256(scripts[0]!.body)]);
    const styles = inlineBlocks(reply.text, 'style');
    expect(styles).toHaveLength(1);
    expect(csp.get('style-src')).toEqual([sha256(styles[0]!.body)]);
    expect(reply.text).not.toMatch(/\sstyle="/);

    // Self-contained: nothing loaded from elsewhere.
    expect(reply.text).not.toMatch(/\s(src|href)="(https?:)?\/\//i);
    expect(reply.text).not.toMatch(/<link[^>]+rel="stylesheet"/i);
  });

  it('embeds the rotation lead time in a data block, and its script is valid JavaScript', async () => {
    const reply = await app.api('GET', '/api/dashboard');
    const data = inlineBlocks(reply.text, 'script').find((s) => /id="dashboard-config"/.test(s.attributes));
    expect(data).toBeDefined();
    const config = JSON.parse(data!.body) as { rotationLeadDays: number; serverTime: string };
    expect(config.rotationLeadDays).toBe(Number(app.appSettings.ROTATION_LEAD_DAYS ?? '30'));
    expect(Number.isNaN(Date.parse(config.serverTime))).toBe(false);

    expect(() => new Script(DASHBOARD_INLINE.script)).not.toThrow();
    expect(DASHBOARD_INLINE.script).not.toMatch(/<\/script|<!--/i);
    // Text from the API reaches the DOM only as text.
    expect(DASHBOARD_INLINE.script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });

  it('carries no function key and no secret, even when opened with ?code= after a setup', async () => {
    const started = await app.api<{ instanceId: string }>('POST', '/api/environments/contoso-uat/setup', { environmentUrl: app.environmentUrl('contoso-uat') });
    expect(started.status).toBe(202);
    expect((await app.waitForOperation(started.body.instanceId)).runtimeStatus).toBe('Completed');

    const key = app.endpoints.functionKey;
    const response = await fetch(`${app.endpoints.functionsUrl}/api/dashboard?code=${encodeURIComponent(key)}`);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).not.toContain(key);
    for (const [name, value] of response.headers) expect(`${name}: ${value}`).not.toContain(key);

    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(page).not.toContain(secret);
    expect(page).not.toContain(app.endpoints.operator.clientSecret);
  });
});

describe('GET / on the local host', () => {
  it('redirects to the dashboard and never passes a key on', async () => {
    const plain = await fetch(`${app.endpoints.functionsUrl}/`, { redirect: 'manual' });
    expect(plain.status).toBe(302);
    expect(plain.headers.get('location')).toBe('/api/dashboard');

    const withKey = await fetch(`${app.endpoints.functionsUrl}/?code=${encodeURIComponent(app.endpoints.functionKey)}`, { redirect: 'manual' });
    expect(withKey.status).toBe(302);
    expect(withKey.headers.get('location')).toBe('/api/dashboard');

    expect((await fetch(`${app.endpoints.functionsUrl}/`, { method: 'POST', redirect: 'manual' })).status).toBe(404);
  });
});
