/**
 * The fleet dashboard: one self-contained HTML page (inline CSS and script, no external resources)
 * that reads the same public HTTP API as every other client, with the function key taken from the
 * page's `?code=` (or typed into a form and kept in sessionStorage) and sent as `x-functions-key`.
 * The script is the TypeScript under `browser/`, bundled at build time (browserScript.ts); it and the
 * style are the same for every response, so the Content-Security-Policy allows exactly them by hash;
 * the only per-response part is a JSON data block (not executed) with a few settings.
 * Everything the page shows is inserted as text, never as HTML.
 */
import { createHash } from 'node:crypto';
import { readDashboardScript } from './browserScript';
import type { DashboardConfig } from './pageContract';

const STYLE = String.raw`
:root {
  --bg: #f5f6f8; --panel: #ffffff; --line: #d8dde3; --text: #1f2328; --muted: #5a6470;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #8a5a00; --warn-bg: #fff4cc; --bad: #b42318; --bad-bg: #ffebe9;
  --info: #0b5cad; --info-bg: #ddf0ff; --idle: #4b5563; --idle-bg: #eceff3; --accent: #0b5cad;
  --bar: #2f9e55; --window: #e3a21a;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--text); background: var(--bg); font-size: 15px; line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.top { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: center; justify-content: space-between; padding: 14px 28px; background: #1d2b3a; color: #fff; }
.top h1 { margin: 0; font-size: 20px; font-weight: 650; letter-spacing: .2px; }
.top p { margin: 2px 0 0; color: #c9d3de; font-size: 13px; }
.top-actions { display: flex; gap: 12px; align-items: center; font-size: 13px; color: #c9d3de; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 28px 40px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin-bottom: 20px; }
.panel h2 { margin: 0 0 4px; font-size: 17px; }
.panel-head { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 8px; margin-bottom: 10px; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
.columns { display: grid; grid-template-columns: minmax(0, 1.75fr) minmax(300px, 1fr); gap: 20px; align-items: start; }
@media (max-width: 960px) { .columns { grid-template-columns: minmax(0, 1fr); } main { padding: 16px; } }
.columns > .panel { margin-bottom: 0; }
button { font: inherit; font-size: 14px; border-radius: 6px; padding: 6px 14px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button:hover { filter: brightness(1.08); }
button.secondary { background: #fff; color: var(--accent); }
button.quiet { background: transparent; border-color: #6b7b8c; color: #fff; }
button:disabled { opacity: .45; cursor: not-allowed; filter: none; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #5aa9ff; outline-offset: 2px; }
a { color: var(--accent); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; background: #f0f2f5; border-radius: 4px; padding: 1px 5px; }
.notice { background: var(--bad-bg); color: var(--bad); border: 1px solid #f3b3ad; border-radius: 8px; padding: 10px 14px; margin: 0 0 16px; }
.action-status { min-height: 1.45em; margin: 0 0 14px; font-size: 14px; }
.action-status.error, .form-status.error { color: var(--bad); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: middle; padding: 10px 8px; border-bottom: 1px solid #eceff2; }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); white-space: nowrap; }
tbody tr:last-child > * { border-bottom: none; }
tbody th { font-weight: 600; }
tr.tenant-group > th { background: var(--bg); color: var(--muted); font-size: .85rem; text-align: left; padding-top: 14px; }
.env-id { display: block; white-space: nowrap; }
.app-id { white-space: nowrap; }
.table-scroll { overflow-x: auto; }
.env-url { display: block; font-weight: 400; font-size: 12.5px; color: var(--muted); }
.timeline-cell { width: 30%; min-width: 220px; }
.track { position: relative; height: 12px; background: var(--idle-bg); border-radius: 6px; overflow: hidden; }
.bar { position: absolute; left: 0; top: 0; bottom: 0; background: var(--bar); border-radius: 6px 0 0 6px; }
.window { position: absolute; top: 0; bottom: 0; background: repeating-linear-gradient(135deg, var(--window) 0 5px, #f0c25a 5px 10px); }
.marker { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #1f2328; }
.timeline-text { margin-top: 5px; font-size: 12.5px; }
.sub { display: block; font-size: 12.5px; color: var(--muted); }
.last-rotation { white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 12.5px; color: var(--muted); margin: 0 0 8px; }
.swatch { display: inline-block; width: 18px; height: 9px; border-radius: 3px; vertical-align: middle; margin-right: 6px; }
.swatch-valid { background: var(--bar); }
.swatch-window { background: repeating-linear-gradient(135deg, var(--window) 0 4px, #f0c25a 4px 8px); }
.chip { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 9px; border-radius: 999px; white-space: nowrap; margin: 1px 4px 1px 0; }
.tone-ok { color: var(--ok); background: var(--ok-bg); }
.tone-warn { color: var(--warn); background: var(--warn-bg); }
.tone-bad { color: var(--bad); background: var(--bad-bg); }
.tone-info { color: var(--info); background: var(--info-bg); }
.tone-idle { color: var(--idle); background: var(--idle-bg); }
.actions { text-align: right; white-space: nowrap; }
.empty { color: var(--muted); padding: 12px 0 4px; margin: 0; }
.operations { display: grid; gap: 12px; }
.op { border: 1px solid var(--line); border-left: 4px solid var(--idle); border-radius: 8px; padding: 12px 14px; }
.op.tone-ok { border-left-color: var(--ok); background: #fff; color: inherit; }
.op.tone-info { border-left-color: var(--info); background: #fff; color: inherit; }
.op.tone-warn { border-left-color: var(--window); background: #fff; color: inherit; }
.op.tone-bad { border-left-color: var(--bad); background: #fff; color: inherit; }
.op.tone-idle { background: #fff; color: inherit; }
.op-head { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.op-head h3 { margin: 0; font-size: 15px; }
.op-meta { margin: 2px 0 8px; font-size: 12.5px; }
.steps { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 6px; }
.step { display: flex; align-items: center; gap: 7px; font-size: 13px; padding: 5px 8px; background: #f7f8fa; border-radius: 6px; }
.step-dot { flex: none; width: 9px; height: 9px; border-radius: 50%; background: #b7c0ca; }
.step-succeeded .step-dot { background: var(--ok); }
.step-running .step-dot { background: var(--info); }
.step-waiting .step-dot { background: var(--window); }
.step-failed .step-dot { background: var(--bad); }
.step-skipped .step-dot { background: #d5dae0; }
.step-skipped .step-name { color: var(--muted); }
.step-detail { display: block; font-size: 12px; }
.waiting { margin-top: 10px; padding: 10px 12px; border-radius: 8px; background: var(--warn-bg); border: 1px solid #f0d68a; font-size: 13.5px; }
.waiting p { margin: 0 0 6px; }
.waiting ol { margin: 4px 0 8px; padding-left: 20px; }
.waiting dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0 0 8px; }
.waiting dt { color: var(--muted); }
.waiting dd { margin: 0; overflow-wrap: anywhere; }
.url { overflow-wrap: anywhere; }
.op-error { margin: 10px 0 0; color: var(--bad); font-size: 13.5px; overflow-wrap: anywhere; }
.op-outcome { margin: 8px 0 0; font-size: 13px; color: var(--muted); }
details.op-steps > summary { cursor: pointer; font-size: 13px; color: var(--muted); margin: 2px 0 6px; width: max-content; }
details.op-steps > summary:hover { color: var(--text); }
.more { margin: 10px 0 0; font-size: 13px; }
form.stack { display: grid; gap: 12px; }
.field { display: grid; gap: 4px; }
.field label { font-weight: 600; font-size: 13.5px; }
.hint { font-size: 12px; color: var(--muted); }
input, select { font: inherit; font-size: 14px; padding: 7px 9px; border: 1px solid #b9c1ca; border-radius: 6px; background: #fff; color: inherit; width: 100%; }
.inline-form { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; }
.inline-form .field { flex: 1 1 260px; }
.form-status { min-height: 1.45em; margin: 4px 0 0; font-size: 13.5px; }
footer { max-width: 1280px; margin: 0 auto; padding: 0 28px 28px; font-size: 12.5px; color: var(--muted); }
`;

function cspHash(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

/** The page's inline script and style, and the policy that lets exactly them run. */
export interface DashboardAssets {
  script: string;
  style: string;
  csp: string;
}

let assets: DashboardAssets | undefined;

/** Read (and checked) on first use, then kept: the bundle does not change while the app runs. */
export function dashboardAssets(): DashboardAssets {
  if (assets) return assets;
  const script = readDashboardScript();
  // The bundle is inlined as it is: a closing tag or a comment opener in it would end or hide the element.
  if (/<\/script|<!--/i.test(script)) throw new Error('The dashboard script contains "</script" or "<!--" and cannot be inlined.');
  assets = {
    script,
    style: STYLE,
    /**
     * Only the page's own script and style run; the API is the only place it talks to; it cannot be
     * framed, and its forms cannot submit anywhere (they are handled by the script).
     */
    csp: [
      "default-src 'none'",
      `script-src ${cspHash(script)}`,
      `style-src ${cspHash(STYLE)}`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  };
  return assets;
}

/** JSON that is safe inside a `<script>` data block: no `<`, `>`, `&` or line separators left to break out. */
function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function renderDashboard(config: DashboardConfig): string {
  const { script, style } = dashboardAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>F&amp;O Graph mail · fleet dashboard</title>
<link rel="icon" href="data:,">
<style>${style}</style>
<script type="application/json" id="dashboard-config">${scriptSafeJson(config)}</script>
</head>
<body>
<header class="top">
  <div>
    <h1>F&amp;O Graph mail</h1>
    <p>Microsoft Graph email credentials of the Dynamics 365 Finance &amp; Operations fleet</p>
  </div>
  <div class="top-actions">
    <span id="updated">Loading…</span>
    <button type="button" class="quiet" id="refresh">Refresh now</button>
  </div>
</header>
<main>
  <p id="notice" class="notice" role="alert" hidden></p>
  <section id="key-panel" class="panel" aria-labelledby="key-title" hidden>
    <h2 id="key-title">Function key</h2>
    <p id="key-reason" class="muted"></p>
    <form id="key-form" class="inline-form">
      <div class="field">
        <label for="key-input">Function key</label>
        <input id="key-input" type="password" autocomplete="off" spellcheck="false" required>
      </div>
      <button type="submit">Use this key</button>
    </form>
  </section>
  <div id="content">
    <p id="action-status" class="action-status" role="status" aria-live="polite"></p>
    <section class="panel" aria-labelledby="fleet-title">
      <div class="panel-head">
        <h2 id="fleet-title">Fleet</h2>
        <p class="legend" id="fleet-legend">
          <span><span class="swatch swatch-valid"></span>credential valid (from now to expiry)</span>
          <span><span class="swatch swatch-window"></span>rotation window: the last <span id="lead-days">30</span> days before expiry</span>
        </p>
      </div>
      <div class="table-scroll">
      <table aria-labelledby="fleet-title" aria-describedby="fleet-legend">
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Application id</th>
            <th scope="col">Credential expiry <span class="muted" id="horizon"></span></th>
            <th scope="col">Last rotation</th>
            <th scope="col">F&amp;O evidence</th>
            <th scope="col">Status</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody id="fleet-body"></tbody>
      </table>
      </div>
      <p id="fleet-empty" class="empty" hidden>No environment is set up yet. Start a setup below.</p>
    </section>
    <div class="columns">
      <section class="panel" aria-labelledby="operations-title">
        <div class="panel-head">
          <h2 id="operations-title">Operations</h2>
          <span class="muted small" id="running-count"></span>
        </div>
        <div id="operations" class="operations"></div>
        <p id="operations-empty" class="empty" hidden>No setup or rotation has run in the last year.</p>
        <p id="operations-more" class="more muted"></p>
      </section>
      <section class="panel" aria-labelledby="setup-title">
        <h2 id="setup-title">Start setup</h2>
        <p class="muted small">Registers the app, grants consent, stores a secret in Key Vault and writes it into F&amp;O. Running it again for a configured environment changes nothing.</p>
        <form id="setup-form" class="stack">
          <div class="field">
            <label for="setup-environment">Environment id</label>
            <input id="setup-environment" name="environmentId" required pattern="[a-z0-9][a-z0-9\\-]{0,62}" maxlength="63" list="known-environments" autocomplete="off" spellcheck="false" placeholder="contoso-uat" aria-describedby="setup-environment-hint">
            <span class="hint" id="setup-environment-hint">Lowercase letters, digits and hyphens.</span>
            <datalist id="known-environments"></datalist>
          </div>
          <div class="field">
            <label for="setup-url">F&amp;O environment URL</label>
            <input id="setup-url" name="environmentUrl" type="url" required autocomplete="off" spellcheck="false" placeholder="https://contoso-uat.sandbox.operations.dynamics.com">
          </div>
          <div class="field">
            <label for="setup-consent">Admin consent</label>
            <select id="setup-consent" name="consent">
              <option value="">Setting default (CONSENT_STRATEGY)</option>
              <option value="grant">grant: the function app grants it</option>
              <option value="request">request: wait for an administrator</option>
            </select>
          </div>
          <div class="field">
            <label for="setup-delivery">Delivery to F&amp;O</label>
            <select id="setup-delivery" name="delivery">
              <option value="">Setting default (DELIVERY_STRATEGY)</option>
              <option value="odata">odata: written through OData</option>
              <option value="manual">manual: an administrator enters it</option>
            </select>
          </div>
          <div><button type="submit">Start setup</button></div>
          <p id="setup-status" class="form-status" role="status" aria-live="polite"></p>
        </form>
      </section>
    </div>
  </div>
</main>
<footer>Refreshes every 2 s while a run is active and every 15 s otherwise. Secrets never reach this page: it shows Key Vault references only.</footer>
<script>${script}</script>
</body>
</html>
`;
}
