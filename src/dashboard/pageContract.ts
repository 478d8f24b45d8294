/**
 * What the served page (page.ts) and its browser script (browser/) agree on: the settings in the page's
 * JSON data block and the elements the script reads and fills, by id and tag. Plain data, so both the
 * server and the browser bundle import it.
 */

/** The settings the page needs; nothing secret. Served as JSON in `<script type="application/json" id="dashboard-config">`. */
export interface DashboardConfig {
  /** `ROTATION_LEAD_DAYS`: the rotation window marked on each credential's timeline. */
  rotationLeadDays: number;
  /** The app's clock when the page was served (the sandbox's virtual clock may differ from the browser's). */
  serverTime: string;
}

/** The page's elements the script uses. The script refuses to start when one is missing or has another tag. */
export const PAGE_ELEMENTS = {
  config: { id: 'dashboard-config', tag: 'script' },
  notice: { id: 'notice', tag: 'p' },
  keyPanel: { id: 'key-panel', tag: 'section' },
  keyReason: { id: 'key-reason', tag: 'p' },
  keyForm: { id: 'key-form', tag: 'form' },
  keyInput: { id: 'key-input', tag: 'input' },
  content: { id: 'content', tag: 'div' },
  updated: { id: 'updated', tag: 'span' },
  refresh: { id: 'refresh', tag: 'button' },
  actionStatus: { id: 'action-status', tag: 'p' },
  fleetBody: { id: 'fleet-body', tag: 'tbody' },
  fleetEmpty: { id: 'fleet-empty', tag: 'p' },
  horizon: { id: 'horizon', tag: 'span' },
  leadDays: { id: 'lead-days', tag: 'span' },
  operations: { id: 'operations', tag: 'div' },
  operationsEmpty: { id: 'operations-empty', tag: 'p' },
  operationsMore: { id: 'operations-more', tag: 'p' },
  runningCount: { id: 'running-count', tag: 'span' },
  setupForm: { id: 'setup-form', tag: 'form' },
  setupEnvironment: { id: 'setup-environment', tag: 'input' },
  setupUrl: { id: 'setup-url', tag: 'input' },
  setupConsent: { id: 'setup-consent', tag: 'select' },
  setupDelivery: { id: 'setup-delivery', tag: 'select' },
  setupStatus: { id: 'setup-status', tag: 'p' },
  knownEnvironments: { id: 'known-environments', tag: 'datalist' },
} as const satisfies Record<string, { id: string; tag: string }>;

export type PageElementName = keyof typeof PAGE_ELEMENTS;
