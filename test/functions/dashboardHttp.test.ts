/**
 * `GET /api/dashboard` through the local host, as a browser or a script meets it: the key is
 * required, the response is locked down (CSP that allows exactly the inline script and style by hash),
 * the inline script is the bundle of the TypeScript under src/dashboard/browser and finds every element
 * it needs, the page carries no key and no secret, and `GET /` redirects to it without passing a key
 * on. The page's panels render here without a browser, to show that the step names, kinds and events
 * it knows are the contracts'.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { bundleDashboardScript } from '../../scripts/bundleDashboard';
import { instanceIds } from '../../src/contracts/names';
import { EXTERNAL_EVENTS, RUN_STEPS, type OperationView, type RunKind, type WaitingFor } from '../../src/contracts/operations';
import { createFormats } from '../../src/dashboard/browser/format';
import { KIND_LABELS, STEP_LABELS } from '../../src/dashboard/browser/labels';
import type { Actions, RenderContext } from '../../src/dashboard/browser/model';
import { operationCard } from '../../src/dashboard/browser/panels/operations';
import type { View } from '../../src/dashboard/browser/view';
import { PAGE_ELEMENTS } from '../../src/dashboard/pageContract';
import { startTestApp, type TestApp } from '../helpers/app';

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
  it('is served without a key, as the same page with or without one, and holds no data: every API call needs the key', async () => {
    const url = `${app.endpoints.functionsUrl}/api/dashboard`;
    const bare = await fetch(url);
    expect(bare.status).toBe(200);
    const page = await bare.text();
    expect(page).toContain('id="key-form"');
    expect((await (await fetch(`${url}?code=${encodeURIComponent(app.endpoints.functionKey)}`)).text()).replace(/"serverTime":"[^"]*"/, '')).toBe(page.replace(/"serverTime":"[^"]*"/, ''));
    // Everything the page reads stays behind the key.
    for (const route of ['/api/environments', '/api/operations']) {
      expect((await fetch(`${app.endpoints.functionsUrl}${route}`)).status).toBe(401);
      expect((await fetch(`${app.endpoints.functionsUrl}${route}`, { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
    }
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

    // The inline script is the bundle of the browser sources, byte for byte (what `npm run build` writes).
    const bundle = bundleDashboardScript(path.join(__dirname, '..', '..'));
    expect(scripts[0]!.body).toBe(bundle);
    expect(csp.get('script-src')).toEqual([sha256(bundle)]);

    // Self-contained: nothing loaded from elsewhere.
    expect(reply.text).not.toMatch(/\s(src|href)="(https?:)?\/\//i);
    expect(reply.text).not.toMatch(/<link[^>]+rel="stylesheet"/i);
  });

  it('embeds the rotation lead time in a data block, and holds every element its script looks up', async () => {
    const reply = await app.api('GET', '/api/dashboard');
    const data = inlineBlocks(reply.text, 'script').find((s) => /id="dashboard-config"/.test(s.attributes));
    expect(data).toBeDefined();
    const config = JSON.parse(data!.body) as { rotationLeadDays: number; serverTime: string };
    expect(config.rotationLeadDays).toBe(Number(app.appSettings.ROTATION_LEAD_DAYS ?? '30'));
    expect(Number.isNaN(Date.parse(config.serverTime))).toBe(false);

    // The script refuses to start without these; each id once, on an element of the expected tag.
    for (const { id, tag } of Object.values(PAGE_ELEMENTS)) {
      expect({ id, count: reply.text.split(`id="${id}"`).length - 1 }).toEqual({ id, count: 1 });
      expect(reply.text).toMatch(new RegExp(`<${tag}\\s[^>]*\\bid="${id}"`));
    }

    const script = inlineBlocks(reply.text, 'script').find((s) => s.attributes === '')!.body;
    // Text from the API reaches the DOM only as text.
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(script).toContain('textContent');
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

/** Every view in the tree, depth first. */
function views(view: View): View[] {
  return [view, ...view.children.flatMap((child) => (typeof child === 'string' ? [] : views(child)))];
}

function textOf(view: View): string {
  return (view.props.text ?? '') + view.children.map((child) => (typeof child === 'string' ? child : textOf(child))).join('');
}

function withClass(root: View, className: string): View[] {
  return views(root).filter((v) => (v.props.className ?? '').split(' ').includes(className));
}

describe('the names the page shows come from the contracts', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const sent: Array<{ instanceId: string; event: string }> = [];
  const actions: Actions = {
    rotate: () => undefined,
    sendEvent: (instanceId, event, control) => {
      sent.push({ instanceId, event });
      control.disable();
    },
    stepsToggled: () => undefined,
  };
  const ctx: RenderContext = { now, leadDays: 30, formats: createFormats(() => now, 'en-GB'), openSteps: new Set(), actions };
  const kinds = Object.keys(RUN_STEPS) as RunKind[];

  function run(kind: RunKind, steps: readonly string[], waitingFor?: WaitingFor): OperationView {
    return {
      instanceId: instanceIds[kind]('contoso-uat'),
      name: kind,
      runtimeStatus: 'Running',
      createdTime: '2026-03-01T11:59:00Z',
      lastUpdatedTime: '2026-03-01T11:59:30Z',
      steps: steps.map((name) => ({ name, status: 'pending' })),
      ...(waitingFor ? { waitingFor } : {}),
    };
  }

  it('labels exactly the steps the contracts define, no more', () => {
    const contractSteps = new Set(Object.values(RUN_STEPS).flat());
    expect(new Set(Object.keys(STEP_LABELS))).toEqual(contractSteps);
  });

  it.each(kinds)('renders each %s step under its own label, in the contract order', (kind) => {
    const steps = RUN_STEPS[kind];
    const card = operationCard(run(kind, steps), ctx);
    const shown = withClass(card, 'step-name').map(textOf);
    expect(shown).toEqual(steps.map((name) => STEP_LABELS[name]));
    // A person tells the steps apart by their labels, none of which is the bare identifier.
    expect(new Set(shown).size).toBe(steps.length);
    for (const name of steps) expect(shown).not.toContain(name);
    expect(textOf(views(card).find((v) => v.tag === 'h3')!)).toBe(`${KIND_LABELS[kind]} · contoso-uat`);
  });

  it('shows a step name the contracts do not know (a newer app) as it is', () => {
    const card = operationCard(run('setup', ['registerApplication', 'someFutureStep']), ctx);
    expect(withClass(card, 'step-name').map(textOf)).toEqual([STEP_LABELS.registerApplication, 'someFutureStep']);
  });

  it.each(EXTERNAL_EVENTS)('gives a wait for %s a button only when a person answers it on the page, and the button sends that event to that run', (event) => {
    const op = run('setup', RUN_STEPS.setup, {
      event,
      until: '2026-03-04T12:00:00Z',
      instructions: { consentUrl: 'https://login.example/adminconsent?client_id=1', steps: ['Open the link.'] },
    });
    const card = operationCard(op, ctx);
    expect(textOf(withClass(card, 'waiting')[0]!)).toContain(`Waiting for ${event}`);
    const buttons = views(card).filter((v) => v.tag === 'button');
    if (event === 'MailboxScopeApplied') {
      // Exchange commands are run and confirmed outside the page: it shows the instructions only.
      expect(buttons).toEqual([]);
      return;
    }
    expect(buttons).toHaveLength(1);
    expect(textOf(buttons[0]!)).toContain(`send ${event}`);
    let disabled = false;
    sent.length = 0;
    buttons[0]!.props.on!.click!({ disable: () => (disabled = true) });
    expect(sent).toEqual([{ instanceId: op.instanceId, event }]);
    expect(disabled).toBe(true);
  });
});
