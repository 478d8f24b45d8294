/**
 * The dashboard's browser script (bundled into one IIFE and inlined by page.ts): finds the page's
 * elements, keeps the function key (from `?code=`, which it then removes from the address bar and
 * history, or typed into the key form; kept in this tab's sessionStorage), polls the API (every 2 s while a run is active, every 15 s otherwise), renders the
 * panels and carries out what their buttons and the setup form ask for.
 */
import type { EnvironmentList } from '../../contracts/environment';
import type { ExternalEventName, OperationList } from '../../contracts/operations';
import { PAGE_ELEMENTS, type DashboardConfig, type PageElementName } from '../pageContract';
import { ApiError, createApi } from './api';
import { fill } from './dom';
import { createFormats } from './format';
import { isActive, isRecord, type Actions, type DashboardState, type RenderContext } from './model';
import { fleetPanel } from './panels/fleet';
import { operationsPanel } from './panels/operations';
import { knownEnvironmentOptions, knownEnvironmentUrl, setupRequest } from './panels/setup';
import type { Control } from './view';

const KEY_STORAGE = 'fno-graph-mail.functionKey';
const FAST_MS = 2_000;
const SLOW_MS = 15_000;
/** Unchanged data is rendered again after this long, so relative times stay true. */
const STALE_MS = 30_000;
const DEFAULT_LEAD_DAYS = 30;

type PageElements = { [K in PageElementName]: HTMLElementTagNameMap[(typeof PAGE_ELEMENTS)[K]['tag']] };

function pageElements(): PageElements {
  const found: Partial<Record<PageElementName, HTMLElement>> = {};
  for (const [name, { id, tag }] of Object.entries(PAGE_ELEMENTS) as Array<[PageElementName, { id: string; tag: string }]>) {
    const element = document.getElementById(id);
    if (!element || element.localName !== tag) throw new Error(`The dashboard page has no <${tag} id="${id}">.`);
    found[name] = element;
  }
  // Each element was checked to have the tag PAGE_ELEMENTS gives it.
  return found as PageElements;
}

function readConfig(element: HTMLScriptElement): Partial<DashboardConfig> {
  try {
    const parsed: unknown = JSON.parse(element.textContent || '{}');
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * The key from `?code=` (then kept in this tab's sessionStorage and removed from the address bar and the
 * history entry, so it is not left on screen, in a bookmark or in the browser's history), or from
 * sessionStorage.
 */
function initialKey(): string {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('code');
  if (fromUrl) {
    try {
      sessionStorage.setItem(KEY_STORAGE, fromUrl);
    } catch {
      // Storage unavailable: the key lives in memory only, and a reload asks for it again.
    }
    params.delete('code');
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function start(): void {
  const ui = pageElements();
  const config = readConfig(ui.config);
  const leadDays = typeof config.rotationLeadDays === 'number' && config.rotationLeadDays > 0 ? config.rotationLeadDays : DEFAULT_LEAD_DAYS;
  const serverTime = typeof config.serverTime === 'string' ? Date.parse(config.serverTime) : NaN;
  const clockSkew = Number.isNaN(serverTime) ? 0 : serverTime - Date.now();
  const now = (): number => Date.now() + clockSkew;
  const formats = createFormats(now);

  let key = initialKey();
  let state: DashboardState = { environments: [], operations: [] };
  let timer = 0;
  let generation = 0;
  let lastSignature = '';
  let lastRenderAt = 0;
  const openSteps = new Set<string>();

  const api = createApi({ base: location.pathname.replace(/\/dashboard\/?$/i, ''), key: () => key, keyNeeded: askForKey });

  // ----- key -----

  function askForKey(reason?: string): void {
    window.clearTimeout(timer);
    ui.keyReason.textContent = reason || 'Enter the function key to read the function app. It stays in this browser tab only.';
    ui.keyPanel.hidden = false;
    ui.content.hidden = true;
    ui.keyInput.focus();
  }

  ui.keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = ui.keyInput.value.trim();
    if (!value) return;
    key = value;
    try {
      sessionStorage.setItem(KEY_STORAGE, value);
    } catch {
      // Storage unavailable: the key lives in memory only.
    }
    ui.keyInput.value = '';
    ui.keyPanel.hidden = true;
    ui.content.hidden = false;
    lastSignature = '';
    void refresh();
  });

  // ----- refresh -----

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    const mine = ++generation;
    if (!key) {
      askForKey();
      return;
    }
    let replies: [EnvironmentList, OperationList];
    try {
      replies = await Promise.all([api.environments(), api.operations(365)]);
    } catch (error) {
      if (mine !== generation) return;
      if (error instanceof ApiError && error.status === 401) return;
      showNotice(`Could not refresh: ${messageOf(error)} Retrying.`);
      schedule(SLOW_MS / 3);
      return;
    }
    if (mine !== generation) return;
    state = { environments: replies[0].environments, operations: replies[1].operations };
    showNotice('');
    render();
    const every = state.operations.some(isActive) ? FAST_MS : SLOW_MS;
    ui.updated.textContent = `Updated ${formats.time(new Date())} · refreshing every ${every / 1000} s`;
    schedule(every);
  }

  function forceRefresh(): Promise<void> {
    lastSignature = '';
    return refresh();
  }

  function schedule(ms: number): void {
    window.clearTimeout(timer);
    if (ui.keyPanel.hidden) timer = window.setTimeout(() => void refresh(), ms);
  }

  function showNotice(text: string): void {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function announce(target: HTMLElement, text: string, isError = false): void {
    target.textContent = text;
    target.classList.toggle('error', isError);
  }

  // ----- render -----

  const actions: Actions = {
    rotate: (environmentId, control) => void rotate(environmentId, control),
    sendEvent: (instanceId, event, control) => void sendEvent(instanceId, event, control),
    stepsToggled: (instanceId, open) => {
      if (open) openSteps.add(instanceId);
      else openSteps.delete(instanceId);
    },
  };

  function render(): void {
    const signature = JSON.stringify(state);
    // Same data: keep the DOM (and the reader's focus and place) unless relative times went stale.
    if (signature === lastSignature && Date.now() - lastRenderAt < STALE_MS) return;
    lastSignature = signature;
    lastRenderAt = Date.now();
    const focusKey = document.activeElement?.getAttribute('data-focus-key');
    const ctx: RenderContext = { now: now(), leadDays, formats, openSteps, actions };

    const fleet = fleetPanel(state, ctx);
    ui.horizon.textContent = fleet.horizon;
    fill(ui.fleetBody, fleet.rows);
    ui.fleetEmpty.hidden = !fleet.empty;

    const operations = operationsPanel(state, ctx);
    fill(ui.operations, operations.cards);
    ui.operationsEmpty.hidden = !operations.empty;
    ui.operationsMore.textContent = operations.more;
    ui.runningCount.textContent = operations.running;

    fill(ui.knownEnvironments, knownEnvironmentOptions(state));

    if (focusKey) {
      const again = document.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again && !again.hasAttribute('disabled')) again.focus();
    }
  }

  // ----- actions -----

  async function rotate(environmentId: string, control: Control): Promise<void> {
    control.disable();
    announce(ui.actionStatus, `Starting a rotation of ${environmentId}…`);
    try {
      const reply = await api.startRotation(environmentId);
      announce(ui.actionStatus, `Rotation of ${environmentId} started (${reply.instanceId}).`);
    } catch (error) {
      announce(ui.actionStatus, `Rotation of ${environmentId} was not started: ${messageOf(error)}`, true);
    }
    await forceRefresh();
  }

  async function sendEvent(instanceId: string, event: ExternalEventName, control: Control): Promise<void> {
    control.disable();
    try {
      await api.raiseEvent(instanceId, event);
      announce(ui.actionStatus, `${event} sent to ${instanceId}.`);
    } catch (error) {
      announce(ui.actionStatus, `${event} was not sent to ${instanceId}: ${messageOf(error)}`, true);
    }
    await forceRefresh();
  }

  ui.setupEnvironment.addEventListener('change', () => {
    const url = knownEnvironmentUrl(state, ui.setupEnvironment.value);
    if (url !== undefined && !ui.setupUrl.value) ui.setupUrl.value = url;
  });

  ui.setupForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void startSetup();
  });

  async function startSetup(): Promise<void> {
    const environmentId = ui.setupEnvironment.value.trim();
    const body = setupRequest({ environmentUrl: ui.setupUrl.value, consent: ui.setupConsent.value, delivery: ui.setupDelivery.value });
    const submit = ui.setupForm.querySelector<HTMLButtonElement>('button[type="submit"]');
    if (submit) submit.disabled = true;
    announce(ui.setupStatus, `Starting setup of ${environmentId}…`);
    try {
      const reply = await api.startSetup(environmentId, body);
      announce(ui.setupStatus, `Setup of ${environmentId} started (${reply.instanceId}).`);
      ui.setupForm.reset();
    } catch (error) {
      announce(ui.setupStatus, `Setup was not started: ${messageOf(error)}`, true);
    }
    if (submit) submit.disabled = false;
    await forceRefresh();
  }

  ui.refresh.addEventListener('click', () => void forceRefresh());

  ui.leadDays.textContent = String(leadDays);
  if (key) void refresh();
  else askForKey();
}

start();
