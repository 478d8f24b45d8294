/**
 * The data the page shows (the API's replies, typed by the contracts) and what the panels derive from
 * it: which run belongs to which environment and kind, which runs are active, tones, safe links.
 */
import type { EnvironmentRecord } from '../../contracts/environment';
import { runOfInstanceId, tenantRunOfInstanceId } from '../../contracts/names';
import { isActiveRuntimeStatus, type ExternalEventName, type OperationView, type RunKind, type TenantRunKind } from '../../contracts/operations';
import type { Formats } from './format';
import type { Control, Tone } from './view';

export interface DashboardState {
  environments: readonly EnvironmentRecord[];
  operations: readonly OperationView[];
}

/** What the panels' buttons and disclosures ask the page to do. */
export interface Actions {
  rotate(environmentId: string, control: Control): void;
  sendEvent(instanceId: string, event: ExternalEventName, control: Control): void;
  stepsToggled(instanceId: string, open: boolean): void;
}

/** Everything a panel needs besides the data. */
export interface RenderContext {
  /** The app's clock, in milliseconds. */
  now: number;
  /** `ROTATION_LEAD_DAYS`. */
  leadDays: number;
  formats: Formats;
  /** Finished runs whose steps the reader opened; kept across re-renders. */
  openSteps: ReadonlySet<string>;
  actions: Actions;
}

export function kindOf(op: OperationView): RunKind | undefined {
  return runOfInstanceId(op.instanceId)?.kind;
}

/** A customer tenant's run (partner mode): which kind, for which tenant. */
export function tenantRunOf(op: OperationView): { kind: TenantRunKind; tenantId: string } | undefined {
  return tenantRunOfInstanceId(op.instanceId);
}

export function environmentIdOf(op: OperationView): string | undefined {
  return runOfInstanceId(op.instanceId)?.environmentId;
}

export function isActive(op: OperationView): boolean {
  return isActiveRuntimeStatus(op.runtimeStatus);
}

export function byUpdatedDesc(a: OperationView, b: OperationView): number {
  return b.lastUpdatedTime.localeCompare(a.lastUpdatedTime);
}

export function byCreatedDesc(a: OperationView, b: OperationView): number {
  return b.createdTime.localeCompare(a.createdTime);
}

export function runTone(status: string): Tone {
  if (status === 'Completed') return 'ok';
  if (status === 'Failed' || status === 'Terminated') return 'bad';
  if (status === 'Running' || status === 'Pending' || status === 'ContinuedAsNew') return 'info';
  return 'idle';
}

/** A value safe to put in a class name. */
export function token(value: string): string {
  return /^[a-z-]{1,32}$/.test(value) ? value : 'unknown';
}

/** Only http(s) links: a value like "javascript:..." from the API never becomes a link. */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The list in `field` of a reply, or empty. The items are taken as the contract types: the page and
 * the API are served by the same app, so they share one version of the contracts.
 */
export function listIn<T>(reply: unknown, field: string): T[] {
  const value = isRecord(reply) ? reply[field] : undefined;
  return Array.isArray(value) ? (value as T[]) : [];
}
