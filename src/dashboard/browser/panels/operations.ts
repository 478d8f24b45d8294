/**
 * The operations panel: active runs first (newest first), then the most recently finished ones. Each
 * card shows the run's steps, what it waits for (links, ids, the Key Vault reference, the steps for a
 * person, and a button that sends the awaited event), its error and its outcome.
 */
import type { ConsentInstructions, MailboxScopeInstructions, ManualDeliveryInstructions, OperationView } from '../../../contracts/operations';
import { EVENT_BUTTONS, KIND_LABELS, TENANT_KIND_LABELS, isExternalEvent, stepLabel } from '../labels';
import { byCreatedDesc, byUpdatedDesc, environmentIdOf, isActive, isRecord, kindOf, runTone, safeUrl, tenantRunOf, token, type DashboardState, type RenderContext } from '../model';
import { chip, h, type View } from '../view';

/** Finished runs shown besides the active ones. */
export const RECENT_SHOWN = 20;

export interface OperationsPanel {
  cards: View[];
  empty: boolean;
  /** How many finished runs are left out, or empty. */
  more: string;
  running: string;
}

export function operationsPanel(state: DashboardState, ctx: RenderContext): OperationsPanel {
  const active = state.operations.filter(isActive).sort(byCreatedDesc);
  const recent = state.operations.filter((op) => !isActive(op)).sort(byUpdatedDesc);
  const shown = recent.slice(0, RECENT_SHOWN);
  return {
    cards: [...active, ...shown].map((op) => operationCard(op, ctx)),
    empty: state.operations.length === 0,
    more: recent.length > shown.length ? `${recent.length - shown.length} older runs are not shown.` : '',
    running: active.length ? `${active.length} running` : 'nothing running',
  };
}

/** "Setup · contoso-uat", or for a tenant's run (partner mode) "Tenant onboarding · {tenantId}". */
function runTitle(op: OperationView, kind: ReturnType<typeof kindOf>): string {
  const tenantRun = tenantRunOf(op);
  if (tenantRun) return `${TENANT_KIND_LABELS[tenantRun.kind]} · ${tenantRun.tenantId}`;
  return `${kind ? KIND_LABELS[kind] : 'Run'} · ${environmentIdOf(op) ?? op.instanceId}`;
}

export function operationCard(op: OperationView, ctx: RenderContext): View {
  const { formats } = ctx;
  const kind = kindOf(op);
  const tone = op.waitingFor ? 'warn' : runTone(op.runtimeStatus);
  const titleId = `op-${op.instanceId}`;
  return h('article', { className: `op tone-${tone}`, attrs: { 'aria-labelledby': titleId, 'data-instance-id': op.instanceId } }, [
    h('div', { className: 'op-head' }, [
      h('h3', { attrs: { id: titleId }, text: runTitle(op, kind) }),
      chip(op.runtimeStatus, runTone(op.runtimeStatus)),
    ]),
    h('p', { className: 'op-meta muted' }, [
      `Started ${formats.dateTime(op.createdTime)} · updated ${formats.ago(op.lastUpdatedTime)} · `,
      h('code', { text: op.instanceId }),
    ]),
    stepsBlock(op, ctx),
    op.waitingFor ? waiting(op, ctx) : null,
    op.error ? h('p', { className: 'op-error' }, [h('strong', { text: 'Error: ' }), op.error]) : null,
    outcome(op, ctx),
  ]);
}

/** Finished runs fold their steps away (a summary stays); running and failed ones show them. */
function stepsBlock(op: OperationView, ctx: RenderContext): View | null {
  const list = steps(op);
  const finished = op.runtimeStatus === 'Completed' || op.runtimeStatus === 'Terminated' || op.runtimeStatus === 'Canceled';
  if (!list || !finished) return list;
  const counts = new Map<string, number>();
  for (const step of op.steps) counts.set(step.status, (counts.get(step.status) ?? 0) + 1);
  const summary = `Steps: ${[...counts].map(([status, n]) => `${n} ${status}`).join(', ')}`;
  return h('details', { className: 'op-steps', attrs: { open: ctx.openSteps.has(op.instanceId) }, on: { toggle: (open) => ctx.actions.stepsToggled(op.instanceId, open) } }, [
    h('summary', { attrs: { 'data-focus-key': `steps:${op.instanceId}` }, text: summary }),
    list,
  ]);
}

function steps(op: OperationView): View | null {
  if (!Array.isArray(op.steps) || op.steps.length === 0) return null;
  return h(
    'ol',
    { className: 'steps', attrs: { 'aria-label': `Steps of ${op.instanceId}` } },
    op.steps.map((step) =>
      h('li', { className: `step step-${token(step.status)}` }, [
        h('span', { className: 'step-dot', attrs: { 'aria-hidden': 'true' } }),
        h('span', {}, [
          h('span', { className: 'step-name', text: stepLabel(step.name) }),
          h('span', { className: 'visually-hidden', text: ': ' }),
          h('span', { className: 'step-detail muted', text: step.status + (step.detail ? ` · ${step.detail}` : '') }),
        ]),
      ]),
    ),
  );
}

/** Every field some wait's instructions may carry; each is checked before it is shown. */
type InstructionFields = Partial<ConsentInstructions & ManualDeliveryInstructions & MailboxScopeInstructions>;

function waiting(op: OperationView, ctx: RenderContext): View | null {
  const w = op.waitingFor;
  if (!w) return null;
  const ins: InstructionFields = w.instructions ?? {};
  const details: Array<[string, View]> = [];
  const link = (href: string): View => h('a', { className: 'url', text: href, attrs: { href, target: '_blank', rel: 'noopener noreferrer' } });
  const consentUrl = safeUrl(ins.consentUrl);
  if (consentUrl) details.push(['Admin consent', link(consentUrl)]);
  const formUrl = safeUrl(ins.emailParametersUrl);
  if (formUrl) details.push(['Email parameters', link(formUrl)]);
  if (typeof ins.applicationId === 'string') details.push(['Application id', h('code', { text: ins.applicationId })]);
  const secret = ins.keyVaultSecret;
  if (isRecord(secret)) {
    details.push(['Key Vault secret', h('span', { className: 'url', text: [secret.vaultUrl, secret.name, secret.version].filter(Boolean).join(' / ') })]);
  }
  const event = isExternalEvent(w.event) ? w.event : undefined;
  const button = event ? EVENT_BUTTONS[event] : undefined;
  return h('div', { className: 'waiting', attrs: { role: 'group', 'aria-label': `What ${op.instanceId} waits for` } }, [
    h('p', {}, [h('strong', { text: `Waiting for ${w.event}` }), ` until ${ctx.formats.when(w.until)}`]),
    details.length ? h('dl', {}, details.map(([term, value]) => [h('dt', { text: term }), h('dd', {}, value)])) : null,
    Array.isArray(ins.steps) && ins.steps.length ? h('ol', {}, ins.steps.map((s) => h('li', { text: String(s) }))) : null,
    event && button
      ? h(
          'button',
          {
            attrs: { type: 'button', 'data-focus-key': `event:${op.instanceId}:${event}` },
            on: { click: (control) => ctx.actions.sendEvent(op.instanceId, event, control) },
          },
          button,
        )
      : null,
  ]);
}

/** A completed run's result: the credential's expiry and the application. */
function outcome(op: OperationView, ctx: RenderContext): View | null {
  if (op.runtimeStatus !== 'Completed' || !isRecord(op.output)) return null;
  const { credential, appId } = op.output;
  if (!isRecord(credential) || typeof credential.expiresOn !== 'string') return null;
  return h('p', {
    className: 'op-outcome',
    text: `Credential valid until ${ctx.formats.dateTime(credential.expiresOn)}${typeof appId === 'string' && appId ? ` · application ${appId}` : ''}`,
  });
}

