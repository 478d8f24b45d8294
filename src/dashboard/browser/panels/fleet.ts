/**
 * The fleet panel: one row per environment (the registry's, plus any whose first setup is still under
 * way), with its application id, a credential timeline from now to expiry with the rotation window,
 * the last rotation, its status and a Rotate button; grouped under a header row per tenant when the
 * fleet spans several (partner mode).
 */
import type { EnvironmentRecord } from '../../../contracts/environment';
import type { OperationView } from '../../../contracts/operations';
import { DAY_MS } from '../format';
import { ENVIRONMENT_STATUS_LABELS, KIND_LABELS } from '../labels';
import { byUpdatedDesc, environmentIdOf, isActive, kindOf, runTone, type DashboardState, type RenderContext } from '../model';
import { chip, h, type Child, type View } from '../view';

export interface FleetPanel {
  rows: View[];
  /** The timeline's span, for the column header. */
  horizon: string;
  empty: boolean;
}

interface FleetRow {
  environmentId: string;
  /** Undefined while the first setup has not registered the environment yet. */
  record: EnvironmentRecord | undefined;
  operations: OperationView[];
}

export function fleetPanel(state: DashboardState, ctx: RenderContext): FleetPanel {
  const records = new Map<string, EnvironmentRecord | undefined>();
  for (const env of state.environments) records.set(env.environmentId, env);
  for (const op of state.operations) {
    const id = environmentIdOf(op);
    if (id !== undefined && !records.has(id) && kindOf(op) === 'setup') records.set(id, undefined);
  }
  const rows: FleetRow[] = [...records.keys()].sort().map((environmentId) => ({
    environmentId,
    record: records.get(environmentId),
    operations: state.operations.filter((op) => environmentIdOf(op) === environmentId),
  }));
  const horizon = horizonDays(state.environments, ctx);
  return {
    rows: groupedByTenant(rows).flatMap(({ tenantId, rows: group, grouped }) => [
      ...(grouped ? [tenantHeader(tenantId, group.length)] : []),
      ...group.map((row) => fleetRow(row, horizon, ctx)),
    ]),
    horizon: `(now to ${horizon} days)`,
    empty: rows.length === 0,
  };
}

/** Columns of the fleet table (page.ts): a group header spans them all. */
const FLEET_COLUMNS = 7;

/**
 * Rows by tenant (partner mode), tenants in id order, environments whose first setup has not registered
 * them yet last; headed only when the fleet spans more than one tenant.
 */
function groupedByTenant(rows: readonly FleetRow[]): Array<{ tenantId: string | undefined; rows: FleetRow[]; grouped: boolean }> {
  const byTenant = new Map<string | undefined, FleetRow[]>();
  for (const row of rows) {
    const key = row.record?.tenantId.toLowerCase();
    byTenant.set(key, [...(byTenant.get(key) ?? []), row]);
  }
  const tenants = [...byTenant.keys()].filter((t): t is string => t !== undefined).sort();
  const grouped = tenants.length > 1;
  const order: Array<string | undefined> = [...tenants, ...(byTenant.has(undefined) ? [undefined] : [])];
  return order.map((tenantId) => ({ tenantId, rows: byTenant.get(tenantId) ?? [], grouped }));
}

function tenantHeader(tenantId: string | undefined, count: number): View {
  const text = tenantId === undefined ? `Not registered yet · ${count} environment${count === 1 ? '' : 's'}` : `Tenant ${tenantId} · ${count} environment${count === 1 ? '' : 's'}`;
  return h('tr', { className: 'tenant-group', attrs: { 'data-tenant-id': tenantId ?? '' } }, h('th', { attrs: { scope: 'colgroup', colspan: FLEET_COLUMNS }, text }));
}

/** Days the timeline spans: at least two rotation windows and the furthest expiry, in whole months. */
function horizonDays(environments: readonly EnvironmentRecord[], ctx: RenderContext): number {
  let max = ctx.leadDays * 2;
  for (const env of environments) {
    const expires = Date.parse(env.credential.expiresOn);
    if (!Number.isNaN(expires)) max = Math.max(max, (expires - ctx.now) / DAY_MS);
  }
  return Math.max(30, Math.ceil(max / 30) * 30);
}

function fleetRow(row: FleetRow, horizon: number, ctx: RenderContext): View {
  const env = row.record;
  const active = row.operations.find(isActive);
  const latest = (kind: 'setup' | 'rotation'): OperationView | undefined => row.operations.filter((op) => kindOf(op) === kind).sort(byUpdatedDesc)[0];
  let host = '';
  if (env) {
    try {
      host = new URL(env.environmentUrl).host;
    } catch {
      host = env.environmentUrl;
    }
  }
  return h('tr', { attrs: { 'data-environment-id': row.environmentId } }, [
    h('th', { attrs: { scope: 'row' } }, [h('span', { className: 'env-id', text: row.environmentId }), host ? h('span', { className: 'env-url', text: host }) : null]),
    h('td', {}, env ? h('code', { className: 'app-id', text: env.appId }) : h('span', { className: 'muted', text: 'not registered yet' })),
    h('td', { className: 'timeline-cell' }, env ? timeline(env, horizon, ctx) : h('span', { className: 'muted small', text: 'no credential yet' })),
    h('td', { className: 'last-rotation' }, lastRotation(latest('rotation'), ctx)),
    h('td', { className: 'finops-evidence' }, finOpsCell(env, ctx)),
    h('td', {}, statusCell(env, active, latest('setup'))),
    h(
      'td',
      { className: 'actions' },
      h(
        'button',
        {
          className: 'secondary',
          attrs: {
            type: 'button',
            'aria-label': `Rotate the credential of ${row.environmentId}`,
            'data-focus-key': `rotate:${row.environmentId}`,
            disabled: !env || active !== undefined,
            title: !env ? 'Set the environment up first' : active ? 'A run is active for this environment' : null,
          },
          on: { click: (control) => ctx.actions.rotate(row.environmentId, control) },
        },
        'Rotate',
      ),
    ),
  ]);
}

function timeline(env: EnvironmentRecord, horizon: number, ctx: RenderContext): View {
  const expires = Date.parse(env.credential.expiresOn);
  if (Number.isNaN(expires)) return h('span', { className: 'muted small', text: 'expiry unknown' });
  const { leadDays, formats } = ctx;
  const remaining = (expires - ctx.now) / DAY_MS;
  const pct = (days: number): number => Math.max(0, Math.min(100, (days / horizon) * 100));
  const track: Child[] = [];
  if (remaining > 0) {
    const windowStart = pct(Math.max(0, remaining - leadDays));
    track.push(
      h('div', { className: 'bar', style: { width: `${pct(remaining)}%` } }),
      h('div', { className: 'window', style: { left: `${windowStart}%`, width: `${pct(remaining) - windowStart}%` } }),
    );
    if (remaining > leadDays) track.push(h('div', { className: 'marker', style: { left: `${windowStart}%` } }));
  }
  const distance = formats.relative(expires - ctx.now);
  const summary = remaining > 0 ? `Expires ${formats.date(expires)} (${distance})` : `Expired ${formats.date(expires)} (${distance})`;
  const rotation =
    remaining > leadDays ? `rotation due ${formats.date(expires - leadDays * DAY_MS)}` : remaining > 0 ? 'in the rotation window' : 'rotation overdue';
  return h('div', { className: 'timeline' }, [
    h('div', { className: 'track', attrs: { 'aria-hidden': 'true' } }, track),
    h('div', { className: 'timeline-text' }, [h('span', { text: summary }), h('span', { className: 'sub', text: rotation })]),
  ]);
}

function lastRotation(op: OperationView | undefined, ctx: RenderContext): Child {
  const { formats } = ctx;
  if (!op) return h('span', { className: 'muted', text: 'none' });
  if (isActive(op)) return [h('span', { text: 'in progress' }), h('span', { className: 'sub', text: `started ${formats.ago(op.createdTime)}` })];
  if (op.runtimeStatus === 'Completed') return [h('span', { text: formats.dateTime(op.lastUpdatedTime) }), h('span', { className: 'sub', text: formats.ago(op.lastUpdatedTime) })];
  return [chip(op.runtimeStatus.toLowerCase(), runTone(op.runtimeStatus)), h('span', { className: 'sub', text: formats.ago(op.lastUpdatedTime) })];
}

/** What Entra and F&O have shown of F&O using the current credential. */
function finOpsCell(env: EnvironmentRecord | undefined, ctx: RenderContext): Child {
  const { formats } = ctx;
  const e = env?.finops;
  if (!env) return h('span', { className: 'muted', text: '—' });
  if (!e) return h('span', { className: 'muted', text: 'not checked yet' });
  const cells: Child[] = [];
  if (e.provenAt) cells.push(chip('F&O signs in with it', 'ok'));
  else if (e.unavailable) cells.push(chip(e.unavailable === 'licence' ? 'no sign-in log (licence)' : e.unavailable === 'permission' ? 'no sign-in log access' : 'no sign-in log here', 'idle'));
  else cells.push(chip('not seen yet', 'warn'));
  if (e.provider && e.provider !== 'Graph') cells.push(chip(`provider ${e.provider}`, 'bad'));
  const lines: string[] = [];
  if (e.lastSignInAt) lines.push(`last sign-in ${formats.ago(e.lastSignInAt)}`);
  if (e.lastFailureAt && (!e.lastSignInAt || Date.parse(e.lastFailureAt) > Date.parse(e.lastSignInAt))) {
    lines.push(`failed ${formats.ago(e.lastFailureAt)}${e.lastFailureCode !== undefined ? ` (AADSTS${e.lastFailureCode})` : ''}`);
  }
  lines.push(`checked ${formats.ago(e.checkedAt)}`);
  return [...cells, h('span', { className: 'sub', text: lines.join(' · ') })];
}

function statusCell(env: EnvironmentRecord | undefined, active: OperationView | undefined, setup: OperationView | undefined): View[] {
  const cells: View[] = [];
  if (env) {
    const status = Object.hasOwn(ENVIRONMENT_STATUS_LABELS, env.status) ? ENVIRONMENT_STATUS_LABELS[env.status] : { text: String(env.status), tone: 'idle' as const };
    cells.push(chip(status.text, status.tone));
  } else if (setup && !isActive(setup)) {
    cells.push(chip(`setup ${setup.runtimeStatus.toLowerCase()}`, runTone(setup.runtimeStatus)));
  }
  if (active) {
    const waitingFor = active.waitingFor?.event;
    const kind = kindOf(active);
    const running = `${kind ? KIND_LABELS[kind].toLowerCase() : 'run'} running`;
    cells.push(chip(waitingFor ? `waiting for ${waitingFor}` : running, waitingFor ? 'warn' : 'info'));
  }
  return cells;
}
