/**
 * The function key in the dashboard's link (`/api/dashboard?code=<key>`, what `npm start` prints) does not
 * stay in the address bar or the browser's history, and the page sends it to the API only in the
 * `x-functions-key` header, never in a URL. In a real browser (Debian's chromium driven by
 * playwright-core). Positive control: the same page with its script's `history.replaceState` call
 * disabled (and the Content-Security-Policy hash fitted to the changed script, so it still runs) leaves
 * the key in the address bar, and the same check finds it. Without /usr/bin/chromium the suite is
 * skipped with the reason printed, except under CI, where it fails (as test/e2e/dashboard.test.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startTestApp, type TestApp } from '../helpers/app';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const inCi = Boolean(process.env.CI);
const browserInstalled = existsSync(CHROMIUM);
const SKIP_REASON = `${CHROMIUM} is missing, so the dashboard key test is skipped. Install it with \`apt-get update && apt-get install -y chromium\` (CI installs it, and fails without it).`;

if (!browserInstalled && !inCi) process.stderr.write(`\n[dashboardKey.test] SKIPPED: ${SKIP_REASON}\n\n`);

const suite = browserInstalled || inCi ? describe : describe.skip;

interface Visit {
  /** The address bar once the page has loaded its data. */
  url: string;
  /** Where Back leads. */
  back: string;
  /** Every API request the page made: its URL and the key header it carried. */
  requests: Array<{ url: string; key: string | undefined }>;
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

suite(browserInstalled || inCi ? 'the dashboard link with ?code=' : `the dashboard link with ?code= (skipped: ${SKIP_REASON})`, () => {
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    if (!browserInstalled) throw new Error(`CI must run the dashboard key test: ${CHROMIUM} is missing (.ci/run installs Debian's chromium).`);
    app = await startTestApp({ sandbox: { environmentIds: ['dash-key'] } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  /** Opens the printed link in a fresh browser context; `weakened` disables the script's removal of the key. */
  async function visit(weakened: boolean): Promise<Visit> {
    const context = await browser.newContext();
    const tab = await context.newPage();
    const requests: Visit['requests'] = [];
    tab.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/') && request.resourceType() === 'fetch') requests.push({ url: request.url(), key: request.headers()['x-functions-key'] });
    });
    if (weakened) {
      await tab.route(/\/api\/dashboard\?/, async (route) => {
        const response = await route.fetch();
        const page = await response.text();
        const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
        if (!script.includes('history.replaceState(')) throw new Error('the dashboard script no longer calls history.replaceState: the control must follow it');
        const disabled = script.replaceAll('history.replaceState(', 'void (');
        const headers = { ...response.headers(), 'content-security-policy': (response.headers()['content-security-policy'] ?? '').replace(sha256(script), sha256(disabled)) };
        await route.fulfill({ response, headers, body: page.replace(script, () => disabled) });
      });
    }
    try {
      await tab.goto(`${app.endpoints.functionsUrl}/api/dashboard?code=${encodeURIComponent(app.endpoints.functionKey)}`);
      await tab.getByText('No environment is set up yet. Start a setup below.').waitFor({ timeout: 20_000 });
      const url = tab.url();
      await tab.goBack();
      return { url, back: tab.url(), requests };
    } finally {
      await context.close();
    }
  }

  /** Where the key shows in what a visit leaves behind. */
  function keyFoundIn(v: Visit): string[] {
    const key = encodeURIComponent(app.endpoints.functionKey);
    const found: string[] = [];
    if (v.url.includes(key)) found.push('the address bar');
    if (v.back.includes(key)) found.push('the history (Back)');
    for (const r of v.requests) {
      if (r.url.includes(key)) found.push(`the URL of ${r.url.replace(key, '<key>')}`);
      if (r.key !== app.endpoints.functionKey) found.push(`a request without the key header: ${r.url}`);
    }
    return found;
  }

  it('leaves the key neither in the address bar nor in the history, and sends it only as x-functions-key', async () => {
    const v = await visit(false);
    expect(v.requests.length).toBeGreaterThan(0);
    expect(v.url).toBe(`${app.endpoints.functionsUrl}/api/dashboard`);
    expect(v.back).toBe('about:blank');
    expect(keyFoundIn(v)).toEqual([]);
  });

  it('positive control: without the script’s history.replaceState the key stays in the address bar, and the check finds it', async () => {
    const v = await visit(true);
    expect(keyFoundIn(v)).toEqual(['the address bar']);
  });
});
