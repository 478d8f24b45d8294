/**
 * The fleet dashboard: one self-contained HTML page (inline CSS and script, no external resources)
 * that reads the same public HTTP API as every other client, with the function key taken from the
 * page's `?code=` (or typed into a form and kept in sessionStorage) and sent as `x-functions-key`.
 * The script and style are constants, so the Content-Security-Policy allows exactly them by hash;
 * the only per-response part is a JSON data block (not executed) with a few settings.
 * Everything the page shows is inserted with `textContent`, never as HTML.
 */
import { createHash } from 'node:crypto';

/** The settings the page needs; nothing secret. */
export interface DashboardConfig {
  /** `ROTATION_LEAD_DAYS`: the rotation window marked on each credential's timeline. */
  rotationLeadDays: number;
  /** The app's clock when the page was served (the sandbox's virtual clock may differ from the browser's). */
  serverTime: string;
}

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

const SCRIPT = String.raw`
(function () {
  'use strict';

  var KEY_STORAGE = 'fno-graph-mail.functionKey';
  var DAY = 86400000;
  var ACTIVE = ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'];
  var FAST_MS = 2000;
  var SLOW_MS = 15000;
  var RECENT_SHOWN = 20;
  var STEP_NAMES = {
    registerApplication: 'Register app',
    ensureServicePrincipal: 'Service principal',
    grantAdminConsent: 'Admin consent',
    createClientSecret: 'Secret to Key Vault',
    deliverToFinOps: 'Deliver to F&O',
    verifyCredential: 'Verify credential',
    readEnvironment: 'Read environment',
    gracePeriod: 'Grace period',
    revokePreviousCredentials: 'Revoke previous'
  };
  var ENV_STATUS = {
    'active': ['active', 'ok'],
    'pending-delivery': ['not delivered to F&O', 'warn'],
    'expiring': ['expiring', 'warn'],
    'expired': ['expired', 'bad'],
    'disabled': ['disabled', 'idle']
  };
  var EVENT_BUTTONS = {
    ConsentGranted: 'I granted consent: send ConsentGranted',
    EmailParametersUpdated: 'I entered the email parameters: send EmailParametersUpdated'
  };

  function byId(id) { return document.getElementById(id); }
  var ui = {
    notice: byId('notice'),
    keyPanel: byId('key-panel'),
    keyReason: byId('key-reason'),
    keyForm: byId('key-form'),
    keyInput: byId('key-input'),
    content: byId('content'),
    updated: byId('updated'),
    refresh: byId('refresh'),
    actionStatus: byId('action-status'),
    fleetBody: byId('fleet-body'),
    fleetEmpty: byId('fleet-empty'),
    horizon: byId('horizon'),
    leadDays: byId('lead-days'),
    operations: byId('operations'),
    operationsEmpty: byId('operations-empty'),
    operationsMore: byId('operations-more'),
    runningCount: byId('running-count'),
    setupForm: byId('setup-form'),
    setupEnv: byId('setup-environment'),
    setupUrl: byId('setup-url'),
    setupConsent: byId('setup-consent'),
    setupDelivery: byId('setup-delivery'),
    setupStatus: byId('setup-status'),
    knownEnvironments: byId('known-environments')
  };

  var config = readConfig();
  var leadDays = typeof config.rotationLeadDays === 'number' && config.rotationLeadDays > 0 ? config.rotationLeadDays : 30;
  var serverTime = typeof config.serverTime === 'string' ? Date.parse(config.serverTime) : NaN;
  var clockSkew = Number.isNaN(serverTime) ? 0 : serverTime - Date.now();
  var apiBase = location.pathname.replace(/\/dashboard\/?$/i, '');
  var dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  var dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  var timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

  var key = initialKey();
  var state = { environments: [], operations: [] };
  var timer = 0;
  var generation = 0;
  var lastSignature = '';
  var lastRenderAt = 0;
  /** Finished runs whose steps the reader opened; kept across re-renders. */
  var openSteps = new Set();

  function readConfig() {
    try { return JSON.parse(byId('dashboard-config').textContent || '{}'); } catch (e) { return {}; }
  }

  function initialKey() {
    var fromUrl = new URLSearchParams(location.search).get('code');
    if (fromUrl) return fromUrl;
    try { return sessionStorage.getItem(KEY_STORAGE) || ''; } catch (e) { return ''; }
  }

  function now() { return Date.now() + clockSkew; }

  /** Builds an element; strings become text nodes, so nothing from the API is ever parsed as HTML. */
  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'className') node.className = value;
      else if (name === 'onClick') node.addEventListener('click', value);
      else node.setAttribute(name, value === true ? '' : String(value));
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function chip(text, tone) { return h('span', { className: 'chip tone-' + tone, text: text }); }

  /** Only http(s) links: a value like "javascript:..." from the API never becomes a link. */
  function safeUrl(value) {
    if (typeof value !== 'string') return null;
    try {
      var url = new URL(value);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch (e) { return null; }
  }

  function relative(ms) {
    var abs = Math.abs(ms);
    var text;
    if (abs < 60000) text = 'less than a minute';
    else if (abs < 3600000) text = plural(Math.round(abs / 60000), 'minute');
    else if (abs < 2 * DAY) text = plural(Math.round(abs / 3600000), 'hour');
    else text = plural(Math.round(abs / DAY), 'day');
    return ms >= 0 ? 'in ' + text : text + ' ago';
  }
  function plural(n, unit) { return n + ' ' + unit + (n === 1 ? '' : 's'); }
  function dateTime(iso) {
    var t = Date.parse(iso);
    return Number.isNaN(t) ? 'unknown' : dateTimeFormat.format(t);
  }
  function ago(iso) {
    var t = Date.parse(iso);
    return Number.isNaN(t) ? 'unknown' : relative(t - now());
  }
  function when(iso) {
    var t = Date.parse(iso);
    return Number.isNaN(t) ? 'unknown' : dateTimeFormat.format(t) + ' (' + relative(t - now()) + ')';
  }

  function environmentIdOf(op) {
    var m = /^(setup|rotate)-(.+)$/.exec(op.instanceId || '');
    return m ? m[2] : null;
  }
  function kindOf(op) { return /^rotate-/.test(op.instanceId || '') ? 'Rotation' : 'Setup'; }
  function isActive(op) { return ACTIVE.indexOf(op.runtimeStatus) >= 0; }
  function byUpdatedDesc(a, b) { return String(b.lastUpdatedTime).localeCompare(String(a.lastUpdatedTime)); }
  function byCreatedDesc(a, b) { return String(b.createdTime).localeCompare(String(a.createdTime)); }
  function runTone(status) {
    if (status === 'Completed') return 'ok';
    if (status === 'Failed' || status === 'Terminated') return 'bad';
    if (status === 'Running' || status === 'Pending' || status === 'ContinuedAsNew') return 'info';
    return 'idle';
  }
  function token(value) { return /^[a-z-]{1,32}$/.test(value) ? value : 'unknown'; }

  // ----- API -----

  function ApiError(status, message) { this.status = status; this.message = message; }

  function api(method, path, body) {
    if (!key) {
      askForKey();
      return Promise.reject(new ApiError(401, 'A function key is needed.'));
    }
    var headers = { 'Accept': 'application/json', 'x-functions-key': key };
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(apiBase + path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        if (response.status === 401) {
          askForKey('The function app refused the function key. Enter the current key.');
          throw new ApiError(401, 'The function key was refused.');
        }
        if (!response.ok) {
          var detail = data && typeof data.detail === 'string' ? data.detail : data && typeof data.title === 'string' ? data.title : 'HTTP ' + response.status;
          throw new ApiError(response.status, detail);
        }
        return data;
      });
    }, function (error) {
      throw new ApiError(0, 'The function app cannot be reached (' + (error && error.message ? error.message : 'network error') + ').');
    });
  }

  // ----- key -----

  function askForKey(reason) {
    window.clearTimeout(timer);
    ui.keyReason.textContent = reason || 'Enter the function key to read the function app. It stays in this browser tab only.';
    ui.keyPanel.hidden = false;
    ui.content.hidden = true;
    ui.keyInput.focus();
  }

  ui.keyForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var value = ui.keyInput.value.trim();
    if (!value) return;
    key = value;
    try { sessionStorage.setItem(KEY_STORAGE, value); } catch (e) { /* storage unavailable: the key lives in memory only */ }
    ui.keyInput.value = '';
    ui.keyPanel.hidden = true;
    ui.content.hidden = false;
    lastSignature = '';
    refresh();
  });

  // ----- refresh -----

  function busy() { return state.operations.some(isActive); }

  function refresh() {
    window.clearTimeout(timer);
    var mine = ++generation;
    if (!key) { askForKey(); return Promise.resolve(); }
    return Promise.all([api('GET', '/environments'), api('GET', '/operations?days=365')]).then(function (results) {
      if (mine !== generation) return;
      state = {
        environments: results[0] && Array.isArray(results[0].environments) ? results[0].environments : [],
        operations: results[1] && Array.isArray(results[1].operations) ? results[1].operations : []
      };
      showNotice('');
      render();
      var every = busy() ? FAST_MS : SLOW_MS;
      ui.updated.textContent = 'Updated ' + timeFormat.format(new Date()) + ' · refreshing every ' + every / 1000 + ' s';
      schedule(every);
    }, function (error) {
      if (mine !== generation) return;
      if (error.status === 401) return;
      showNotice('Could not refresh: ' + error.message + ' Retrying.');
      schedule(SLOW_MS / 3);
    });
  }

  function schedule(ms) {
    window.clearTimeout(timer);
    if (ui.keyPanel.hidden) timer = window.setTimeout(refresh, ms);
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function announce(target, text, isError) {
    target.textContent = text;
    target.classList.toggle('error', !!isError);
  }

  // ----- render -----

  function render() {
    var signature = JSON.stringify(state);
    // Same data: keep the DOM (and the reader's focus and place) unless relative times went stale.
    if (signature === lastSignature && Date.now() - lastRenderAt < 30000) return;
    lastSignature = signature;
    lastRenderAt = Date.now();
    var active = document.activeElement;
    var focusKey = active && active.getAttribute ? active.getAttribute('data-focus-key') : null;
    renderFleet();
    renderOperations();
    renderKnownEnvironments();
    if (focusKey) {
      var again = document.querySelector('[data-focus-key="' + CSS.escape(focusKey) + '"]');
      if (again && !again.disabled) again.focus();
    }
  }

  function horizonDays(t) {
    var max = leadDays * 2;
    state.environments.forEach(function (env) {
      var expires = Date.parse(env.credential && env.credential.expiresOn);
      if (!Number.isNaN(expires)) max = Math.max(max, (expires - t) / DAY);
    });
    return Math.max(30, Math.ceil(max / 30) * 30);
  }

  function renderFleet() {
    var rows = {};
    state.environments.forEach(function (env) { rows[env.environmentId] = { id: env.environmentId, record: env }; });
    state.operations.forEach(function (op) {
      var id = environmentIdOf(op);
      if (id && !rows[id] && kindOf(op) === 'Setup') rows[id] = { id: id, record: null };
    });
    var ids = Object.keys(rows).sort();
    var t = now();
    var horizon = horizonDays(t);
    ui.horizon.textContent = '(now to ' + horizon + ' days)';
    ui.fleetBody.replaceChildren.apply(ui.fleetBody, ids.map(function (id) { return fleetRow(rows[id], t, horizon); }));
    ui.fleetEmpty.hidden = ids.length > 0;
  }

  function operationsOf(id) {
    return state.operations.filter(function (op) { return environmentIdOf(op) === id; });
  }

  function fleetRow(row, t, horizon) {
    var env = row.record;
    var ops = operationsOf(row.id);
    var active = ops.filter(isActive)[0];
    var rotation = ops.filter(function (op) { return kindOf(op) === 'Rotation'; }).sort(byUpdatedDesc)[0];
    var setup = ops.filter(function (op) { return kindOf(op) === 'Setup'; }).sort(byUpdatedDesc)[0];
    var host = '';
    if (env) { try { host = new URL(env.environmentUrl).host; } catch (e) { host = String(env.environmentUrl || ''); } }
    return h('tr', { 'data-environment-id': row.id }, [
      h('th', { scope: 'row' }, [h('span', { className: 'env-id', text: row.id }), host ? h('span', { className: 'env-url', text: host }) : null]),
      h('td', {}, env ? h('code', { className: 'app-id', text: env.appId }) : h('span', { className: 'muted', text: 'not registered yet' })),
      h('td', { className: 'timeline-cell' }, env ? timeline(env, t, horizon) : h('span', { className: 'muted small', text: 'no credential yet' })),
      h('td', { className: 'last-rotation' }, lastRotation(rotation)),
      h('td', {}, statusCell(env, active, setup)),
      h('td', { className: 'actions' }, h('button', {
        type: 'button',
        className: 'secondary',
        'aria-label': 'Rotate the credential of ' + row.id,
        'data-focus-key': 'rotate:' + row.id,
        disabled: !env || !!active,
        title: !env ? 'Set the environment up first' : active ? 'A run is active for this environment' : null,
        onClick: function (event) { rotate(row.id, event.currentTarget); }
      }, 'Rotate'))
    ]);
  }

  function timeline(env, t, horizon) {
    var expires = Date.parse(env.credential && env.credential.expiresOn);
    if (Number.isNaN(expires)) return h('span', { className: 'muted small', text: 'expiry unknown' });
    var remaining = (expires - t) / DAY;
    var pct = function (days) { return Math.max(0, Math.min(100, days / horizon * 100)); };
    var track = h('div', { className: 'track', 'aria-hidden': 'true' });
    if (remaining > 0) {
      var bar = h('div', { className: 'bar' });
      bar.style.width = pct(remaining) + '%';
      var windowStart = pct(Math.max(0, remaining - leadDays));
      var rotationWindow = h('div', { className: 'window' });
      rotationWindow.style.left = windowStart + '%';
      rotationWindow.style.width = (pct(remaining) - windowStart) + '%';
      track.append(bar, rotationWindow);
      if (remaining > leadDays) {
        var marker = h('div', { className: 'marker' });
        marker.style.left = windowStart + '%';
        track.append(marker);
      }
    }
    var due = expires - leadDays * DAY;
    var summary = remaining > 0 ? 'Expires ' + dateFormat.format(expires) + ' (' + relative(expires - t) + ')' : 'Expired ' + dateFormat.format(expires) + ' (' + relative(expires - t) + ')';
    var rotationText = remaining > leadDays ? 'rotation due ' + dateFormat.format(due) : remaining > 0 ? 'in the rotation window' : 'rotation overdue';
    return h('div', { className: 'timeline' }, [
      track,
      h('div', { className: 'timeline-text' }, [h('span', { text: summary }), h('span', { className: 'sub', text: rotationText })])
    ]);
  }

  function lastRotation(op) {
    if (!op) return h('span', { className: 'muted', text: 'none' });
    if (isActive(op)) return [h('span', { text: 'in progress' }), h('span', { className: 'sub', text: 'started ' + ago(op.createdTime) })];
    if (op.runtimeStatus === 'Completed') return [h('span', { text: dateTime(op.lastUpdatedTime) }), h('span', { className: 'sub', text: ago(op.lastUpdatedTime) })];
    return [chip(String(op.runtimeStatus).toLowerCase(), runTone(op.runtimeStatus)), h('span', { className: 'sub', text: ago(op.lastUpdatedTime) })];
  }

  function statusCell(env, active, setup) {
    var cells = [];
    if (env) {
      var s = ENV_STATUS[env.status] || [String(env.status), 'idle'];
      cells.push(chip(s[0], s[1]));
    } else if (setup && !isActive(setup)) {
      cells.push(chip('setup ' + String(setup.runtimeStatus).toLowerCase(), runTone(setup.runtimeStatus)));
    }
    if (active) {
      var waitingFor = active.waitingFor && active.waitingFor.event;
      cells.push(chip(waitingFor ? 'waiting for ' + waitingFor : kindOf(active).toLowerCase() + ' running', waitingFor ? 'warn' : 'info'));
    }
    return cells;
  }

  function renderOperations() {
    var active = state.operations.filter(isActive).sort(byCreatedDesc);
    var recent = state.operations.filter(function (op) { return !isActive(op); }).sort(byUpdatedDesc);
    var shown = recent.slice(0, RECENT_SHOWN);
    ui.operations.replaceChildren.apply(ui.operations, active.concat(shown).map(operationCard));
    ui.operationsEmpty.hidden = state.operations.length > 0;
    ui.operationsMore.textContent = recent.length > shown.length ? (recent.length - shown.length) + ' older runs are not shown.' : '';
    ui.runningCount.textContent = active.length ? active.length + ' running' : 'nothing running';
  }

  function operationCard(op) {
    var environmentId = environmentIdOf(op) || op.instanceId;
    var tone = op.waitingFor ? 'warn' : runTone(op.runtimeStatus);
    var titleId = 'op-' + op.instanceId;
    return h('article', { className: 'op tone-' + tone, 'aria-labelledby': titleId, 'data-instance-id': op.instanceId }, [
      h('div', { className: 'op-head' }, [
        h('h3', { id: titleId, text: kindOf(op) + ' · ' + environmentId }),
        chip(op.runtimeStatus, runTone(op.runtimeStatus))
      ]),
      h('p', { className: 'op-meta muted' }, ['Started ' + dateTime(op.createdTime) + ' · updated ' + ago(op.lastUpdatedTime) + ' · ', h('code', { text: op.instanceId })]),
      stepsBlock(op),
      op.waitingFor ? waiting(op) : null,
      op.error ? h('p', { className: 'op-error' }, [h('strong', { text: 'Error: ' }), String(op.error)]) : null,
      outcome(op)
    ]);
  }

  /** Finished runs fold their steps away (a summary stays); running and failed ones show them. */
  function stepsBlock(op) {
    var list = steps(op);
    var finished = op.runtimeStatus === 'Completed' || op.runtimeStatus === 'Terminated' || op.runtimeStatus === 'Canceled';
    if (!list || !finished) return list;
    var counts = {};
    op.steps.forEach(function (step) { counts[step.status] = (counts[step.status] || 0) + 1; });
    var summary = 'Steps: ' + Object.keys(counts).map(function (status) { return counts[status] + ' ' + status; }).join(', ');
    var details = h('details', { className: 'op-steps', open: openSteps.has(op.instanceId) }, [
      h('summary', { 'data-focus-key': 'steps:' + op.instanceId, text: summary }),
      list
    ]);
    details.addEventListener('toggle', function () {
      if (details.open) openSteps.add(op.instanceId); else openSteps.delete(op.instanceId);
    });
    return details;
  }

  function steps(op) {
    if (!Array.isArray(op.steps) || op.steps.length === 0) return null;
    return h('ol', { className: 'steps', 'aria-label': 'Steps of ' + op.instanceId }, op.steps.map(function (step) {
      var status = String(step.status);
      return h('li', { className: 'step step-' + token(status) }, [
        h('span', { className: 'step-dot', 'aria-hidden': 'true' }),
        h('span', {}, [
          h('span', { className: 'step-name', text: STEP_NAMES[step.name] || String(step.name) }),
          h('span', { className: 'visually-hidden', text: ': ' }),
          h('span', { className: 'step-detail muted', text: status + (step.detail ? ' · ' + step.detail : '') })
        ])
      ]);
    }));
  }

  function waiting(op) {
    var w = op.waitingFor;
    var ins = w.instructions || {};
    var box = h('div', { className: 'waiting', role: 'group', 'aria-label': 'What ' + op.instanceId + ' waits for' }, [
      h('p', {}, [h('strong', { text: 'Waiting for ' + w.event }), ' until ' + when(w.until)])
    ]);
    var details = [];
    var consentUrl = safeUrl(ins.consentUrl);
    if (consentUrl) details.push(['Admin consent', h('a', { href: consentUrl, target: '_blank', rel: 'noopener noreferrer', className: 'url', text: consentUrl })]);
    var formUrl = safeUrl(ins.emailParametersUrl);
    if (formUrl) details.push(['Email parameters', h('a', { href: formUrl, target: '_blank', rel: 'noopener noreferrer', className: 'url', text: formUrl })]);
    if (typeof ins.applicationId === 'string') details.push(['Application id', h('code', { text: ins.applicationId })]);
    if (ins.keyVaultSecret && typeof ins.keyVaultSecret === 'object') {
      var ref = ins.keyVaultSecret;
      details.push(['Key Vault secret', h('span', { className: 'url', text: [ref.vaultUrl, ref.name, ref.version].filter(Boolean).join(' / ') })]);
    }
    if (details.length) {
      box.append(h('dl', {}, details.reduce(function (all, d) { return all.concat([h('dt', { text: d[0] }), h('dd', {}, d[1])]); }, [])));
    }
    if (Array.isArray(ins.steps) && ins.steps.length) {
      box.append(h('ol', {}, ins.steps.map(function (s) { return h('li', { text: String(s) }); })));
    }
    if (EVENT_BUTTONS[w.event]) {
      box.append(h('button', {
        type: 'button',
        'data-focus-key': 'event:' + op.instanceId + ':' + w.event,
        onClick: function (event) { sendEvent(op.instanceId, w.event, event.currentTarget); }
      }, EVENT_BUTTONS[w.event]));
    }
    return box;
  }

  function outcome(op) {
    if (op.runtimeStatus !== 'Completed' || !op.output || typeof op.output !== 'object') return null;
    var credential = op.output.credential;
    if (!credential || typeof credential.expiresOn !== 'string') return null;
    return h('p', { className: 'op-outcome', text: 'Credential valid until ' + dateTimeFormat.format(Date.parse(credential.expiresOn)) + (op.output.appId ? ' · application ' + op.output.appId : '') });
  }

  function renderKnownEnvironments() {
    ui.knownEnvironments.replaceChildren.apply(ui.knownEnvironments, state.environments.map(function (env) {
      return h('option', { value: env.environmentId });
    }));
  }

  // ----- actions -----

  function rotate(environmentId, button) {
    button.disabled = true;
    announce(ui.actionStatus, 'Starting a rotation of ' + environmentId + '…');
    return api('POST', '/environments/' + encodeURIComponent(environmentId) + '/rotate').then(function (reply) {
      announce(ui.actionStatus, 'Rotation of ' + environmentId + ' started (' + reply.instanceId + ').');
    }, function (error) {
      announce(ui.actionStatus, 'Rotation of ' + environmentId + ' was not started: ' + error.message, true);
    }).then(forceRefresh);
  }

  function sendEvent(instanceId, eventName, button) {
    button.disabled = true;
    return api('POST', '/operations/' + encodeURIComponent(instanceId) + '/events/' + encodeURIComponent(eventName), {}).then(function () {
      announce(ui.actionStatus, eventName + ' sent to ' + instanceId + '.');
    }, function (error) {
      announce(ui.actionStatus, eventName + ' was not sent to ' + instanceId + ': ' + error.message, true);
    }).then(forceRefresh);
  }

  function forceRefresh() {
    lastSignature = '';
    return refresh();
  }

  ui.setupEnv.addEventListener('change', function () {
    var known = state.environments.filter(function (env) { return env.environmentId === ui.setupEnv.value.trim(); })[0];
    if (known && !ui.setupUrl.value) ui.setupUrl.value = known.environmentUrl;
  });

  ui.setupForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var environmentId = ui.setupEnv.value.trim();
    var body = { environmentUrl: ui.setupUrl.value.trim() };
    if (ui.setupConsent.value) body.consent = ui.setupConsent.value;
    if (ui.setupDelivery.value) body.delivery = ui.setupDelivery.value;
    var submit = ui.setupForm.querySelector('button[type="submit"]');
    submit.disabled = true;
    announce(ui.setupStatus, 'Starting setup of ' + environmentId + '…');
    api('POST', '/environments/' + encodeURIComponent(environmentId) + '/setup', body).then(function (reply) {
      announce(ui.setupStatus, 'Setup of ' + environmentId + ' started (' + reply.instanceId + ').');
      ui.setupForm.reset();
    }, function (error) {
      announce(ui.setupStatus, 'Setup was not started: ' + error.message, true);
    }).then(function () {
      submit.disabled = false;
      return forceRefresh();
    });
  });

  ui.refresh.addEventListener('click', function () { forceRefresh(); });

  ui.leadDays.textContent = String(leadDays);
  if (key) refresh(); else askForKey();
})();
`;

function cspHash(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

/**
 * Only the page's own script and style run; the API is the only place it talks to; it cannot be
 * framed, and its forms cannot submit anywhere (they are handled by the script).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

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
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>F&amp;O Graph mail · fleet dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
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
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** The inline script and style, for checks that the policy above lets exactly them run. */
export const DASHBOARD_INLINE = { script: SCRIPT, style: STYLE } as const;
