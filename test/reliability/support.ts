/**
 * What the reliability suites share: driving a run to an end while firing the durable timers its
 * retries wait on (by moving the sandbox's virtual clock to the next timer), the end state of one
 * environment as a person would check it in the portals (apps, consent, live credentials, Key Vault
 * versions, what F&O holds), the checks that state must pass after setup and after a rotation, call
 * signatures (service + method + path pattern) from the sandbox's call record, and the figures the
 * README quotes, merged into `test-output/reliability.json`.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DurableDriver, InstanceStatus } from '../../runtime';
import { HistoryEventType } from '../../runtime/durable/history';
import type { CallRecord } from '../../sandbox/types';
import type { RetryPacing } from '../../src/composition';
import type { TestApp } from '../helpers/app';

export const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

/**
 * The SDKs' own back-off between retries, shortened for the fault matrix: the same number of retries
 * and `Retry-After` still honoured, but no second-long sleeps between attempts at a 500 or a reset.
 * How long each SDK waits by default is the clients' concern (test/clients); what the matrix proves is
 * that every call rides out each fault.
 */
export const FAST_RETRY_PACING: RetryPacing = { retryDelayInMs: 5, maxRetryDelayInMs: 20, graphDelaySeconds: 0 };

/** Timer functions parked on a date that never comes (31 February), so no sweep or drift check runs uninvited. */
export const NEVER = '0 0 3 31 2 *';

const MARKER = 'fno-graph-mail ';

/** One transient fault of the matrix: what the service answers, and how many times in a row. */
export interface TransientFault {
  label: string;
  status: number;
  retryAfterSeconds?: number;
  count: number;
}

const TRANSIENT_KINDS: Array<Omit<TransientFault, 'count'>> = [
  { label: '429 Retry-After 1', status: 429, retryAfterSeconds: 1 },
  { label: '500', status: 500 },
  { label: '503 Retry-After 1', status: 503, retryAfterSeconds: 1 },
  { label: 'connection reset', status: 0 },
];

/**
 * Each kind once and three times in a row (three is the retry budget of the Key Vault, F&O and Entra
 * token clients, and of Graph's client for 429 and 503: the fourth attempt gets through), and a burst
 * of five that outlasts those retries, so the orchestration's retry preset has to take over.
 */
export const TRANSIENT_FAULTS: TransientFault[] = [
  ...[1, 3].flatMap((count) => TRANSIENT_KINDS.map((k) => ({ ...k, count }))),
  { label: '503 Retry-After 1', status: 503, retryAfterSeconds: 1, count: 5 },
];

export function faultName(f: TransientFault): string {
  return `${f.label} x${f.count}`;
}

// ---- driving a run ------------------------------------------------------------------------------

interface PersistedInstance {
  runtimeStatus: string;
  customStatus: unknown;
  inbox: unknown[];
  pendingActivities: unknown[];
  pendingTimers: Array<{ timerId: number; fireAt: string }>;
}

/** The instance as the durable driver last persisted it (its armed timers, pending work, inbox). */
export function persistedInstance(app: TestApp, instanceId: string): PersistedInstance | undefined {
  const file = path.join(app.runtime.durable.directory, `${encodeURIComponent(instanceId).replace(/\*/g, '%2A')}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PersistedInstance;
  } catch {
    return undefined;
  }
}

export interface StepView {
  name: string;
  status: string;
  detail?: string;
}

export function stepsOf(customStatus: unknown): StepView[] {
  const steps = (customStatus as { steps?: unknown } | null)?.steps;
  return Array.isArray(steps) ? (steps as StepView[]) : [];
}

function stepStatus(customStatus: unknown, name: string): string | undefined {
  return stepsOf(customStatus).find((s) => s.name === name)?.status;
}

/**
 * The one way the suites move the sandbox's virtual clock, shared by runs that progress side by side.
 * Moves are serialised, and before each one every watched rotation that sits in its grace period is
 * photographed (`graceStates`): the grace timer can only fire through a move, so the state during
 * the grace period is always seen, even when another run's retry is what moves the clock past it.
 */
export class TimeKeeper {
  readonly graceStates = new Map<string, EnvironmentEndState>();
  private readonly watched = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  /** Virtual time moved forward so far. */
  advancedMs = 0;

  constructor(private readonly app: TestApp) {}

  /** Photograph this rotation's environment when it reaches its grace period. */
  watchGrace(instanceId: string, environmentId: string): void {
    this.graceStates.delete(instanceId);
    this.watched.set(instanceId, environmentId);
  }

  unwatch(instanceId: string): void {
    this.watched.delete(instanceId);
  }

  /** Moves the clock to `targetMs` unless it is already there. */
  advanceTo(targetMs: number): Promise<void> {
    const run = this.chain.then(() => this.move(targetMs));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async move(targetMs: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.app.sandbox.state.now() >= targetMs) return;
      // Checked and moved without yielding to the event loop, so no episode can start in between:
      // an episode that has already read the clock shows as an unprocessed inbox until it is saved.
      let settling = false;
      for (const [instanceId, environmentId] of this.watched) {
        const record = persistedInstance(this.app, instanceId);
        // A finished instance may be the previous run under the same id, about to be replaced.
        if (!record || TERMINAL.has(record.runtimeStatus)) continue;
        // From delivery to revocation (proof, grace period) both credentials must be live: photograph that.
        const delivered = stepStatus(record.customStatus, 'deliverToFinOps') === 'succeeded' || stepStatus(record.customStatus, 'deliverToFinOps') === 'skipped';
        const revoking = stepStatus(record.customStatus, 'revokePreviousCredentials');
        if (delivered && revoking === 'pending' && !this.graceStates.has(instanceId)) {
          this.graceStates.set(instanceId, endState(this.app, environmentId));
        }
        // A rotation whose verification or delivery result is being processed is about to start the
        // grace period from the current time: let that episode finish first.
        const handingOver = stepStatus(record.customStatus, 'verifyCredential') === 'running' || stepStatus(record.customStatus, 'deliverToFinOps') === 'running';
        if (handingOver && record.inbox.length > 0) settling = true;
      }
      if (!settling || attempt >= 2000) {
        const ms = targetMs - this.app.sandbox.state.now();
        if (ms > 0) {
          this.app.sandbox.state.advanceClock(ms);
          this.advancedMs += ms;
        }
        return;
      }
      await sleep(5);
    }
  }
}

export interface DriveOptions {
  /** Real-time budget (default 60 s). */
  timeoutMs?: number;
  /** Longest clock move allowed towards this run's next timer (default one day): a longer wait is a finding. */
  maxAdvanceMs?: number;
  /** Stop early when this holds. */
  until?: (status: InstanceStatus) => boolean;
}

/** Longest wait on one driver for a change before looking again (the runtime may have been restarted). */
const SLICE_MS = 100;

/** Changes whenever anything that can decide what `drive` does next changes (status, pending work). */
function progressKey(driver: DurableDriver, instanceId: string): number {
  return driver.pendingWork(instanceId)?.revision ?? -1;
}

/** Resolves when the driver reports a change of the instance, or after `ms`. */
function nextChange(driver: DurableDriver, instanceId: string, ms: number): Promise<void> {
  const seen = progressKey(driver, instanceId);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = driver.onChange(() => {
      if (progressKey(driver, instanceId) !== seen) done();
    });
  });
}

/**
 * Lets a run progress until it ends; whenever it waits on nothing but a durable timer (a retry's
 * back-off, the grace period), moves the clock to that timer. Other runs may progress at the same
 * time: only this instance's own pending work decides when it is waiting. Follows the driver's change
 * notifications rather than polling.
 */
export async function drive(app: TestApp, keeper: TimeKeeper, instanceId: string, options: DriveOptions = {}): Promise<InstanceStatus> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const maxAdvanceMs = options.maxAdvanceMs ?? 86_400_000;
  for (;;) {
    const driver = app.runtime.durable;
    // The full status (a copy of the run's custom status and output) only when it can end the drive.
    const work = driver.pendingWork(instanceId);
    if (work && (TERMINAL.has(work.runtimeStatus) || options.until)) {
      const status = driver.getStatus(instanceId);
      if (status && (TERMINAL.has(status.runtimeStatus) || options.until?.(status))) return status;
    }
    if (Date.now() > deadline) {
      throw new Error(`${instanceId} did not finish in time; last status ${JSON.stringify(driver.getStatus(instanceId)?.customStatus ?? null)}`);
    }
    if (work && !work.episodePending && work.activities === 0 && work.timers.length > 0) {
      const next = Math.min(...work.timers);
      const wait = next - app.sandbox.state.now();
      if (wait > maxAdvanceMs) throw new Error(`${instanceId} waits ${Math.round(wait / 1000)} s on a timer, longer than this drive allows`);
      if (wait > 0) {
        await keeper.advanceTo(next + 5);
        continue;
      }
    }
    await nextChange(driver, instanceId, Math.min(SLICE_MS, Math.max(1, deadline - Date.now())));
  }
}

/** Timers the instance armed (retry back-offs, grace period) and activities it scheduled, from its history. */
export function historyCounts(app: TestApp, instanceId: string): { timers: number; scheduled: Record<string, number> } {
  const history = app.runtime.durable.getStatus(instanceId, { showHistory: true })?.history ?? [];
  const scheduled: Record<string, number> = {};
  let timers = 0;
  for (const e of history) {
    if (e.EventType === HistoryEventType.TimerCreated) timers += 1;
    if (e.EventType === HistoryEventType.TaskScheduled && e.Name) scheduled[e.Name] = (scheduled[e.Name] ?? 0) + 1;
  }
  return { timers, scheduled };
}

/**
 * Which activity made each call of a run, from the run's history: a call belongs to the activity
 * scheduled before it and completed after it (activities of one run do not overlap).
 */
export function activityOfCalls(app: TestApp, instanceId: string, calls: CallRecord[]): Map<CallRecord, string> {
  const history = app.runtime.durable.getStatus(instanceId, { showHistory: true })?.history ?? [];
  const spans: Array<{ name: string; from: number; to: number }> = [];
  for (const e of history) {
    if (e.EventType !== HistoryEventType.TaskScheduled || !e.Name) continue;
    const done = history.find(
      (x) => (x.EventType === HistoryEventType.TaskCompleted || x.EventType === HistoryEventType.TaskFailed) && x.TaskScheduledId === e.EventId,
    );
    spans.push({ name: e.Name, from: Date.parse(e.Timestamp), to: done ? Date.parse(done.Timestamp) : Number.POSITIVE_INFINITY });
  }
  const out = new Map<CallRecord, string>();
  for (const call of calls) {
    const span = spans.find((s) => call.at >= s.from && call.at <= s.to);
    out.set(call, span?.name ?? 'trigger');
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- end state ----------------------------------------------------------------------------------

export interface EnvironmentEndState {
  applications: number;
  appId: string | undefined;
  appObjectId: string | undefined;
  servicePrincipals: number;
  mailSendAssignments: number;
  userReadGrants: number;
  /** Live credentials the product created (by their marker), oldest first. */
  liveCredentials: string[];
  /** Every credential the product created that still exists, expired or not. */
  productCredentials: string[];
  versions: Array<{ version: string; keyId: string; enabled: boolean; delivered: boolean }>;
  finops: { provider: string; applicationId: string | null; keyId: string | null };
  /** F&O's Email history (newest first): each send attempt, with the key id it signed in with. */
  finOpsSends: Array<{ status: 'sent' | 'failed'; keyId: string | null; error?: string }>;
}

const MAIL_SEND = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';

/** One environment as the sandbox holds it (read in process: F&O's secret is matched to its credential). */
export function endState(app: TestApp, environmentId: string): EnvironmentEndState {
  const s = app.sandbox.state;
  const now = s.now();
  const apps = s.applications.filter((a) => a.uniqueName === `fno-graph-mail-${environmentId}`);
  const application = apps[0];
  const sps = application ? s.servicePrincipals.filter((p) => p.appId === application.appId) : [];
  const sp = sps[0];
  const product = (application?.passwordCredentials ?? []).filter((c) => c.displayName?.startsWith(MARKER));
  const secret = s.secrets.find((x) => x.name === `fno-graph-mail-${environmentId}` && x.deletedDate === null);
  const env = s.finops.find((e) => e.id === environmentId);
  const held = env?.graphCredential.secret ? s.findLiveCredentialBySecret(env.graphCredential.secret) : undefined;
  return {
    applications: apps.length,
    appId: application?.appId,
    appObjectId: application?.id,
    servicePrincipals: sps.length,
    mailSendAssignments: sp ? s.appRoleAssignments.filter((a) => a.principalId === sp.id && a.appRoleId === MAIL_SEND).length : 0,
    userReadGrants: sp
      ? s.oauth2PermissionGrants.filter((g) => g.clientId === sp.id && g.consentType === 'AllPrincipals' && g.scope.split(' ').includes('User.Read')).length
      : 0,
    liveCredentials: product.filter((c) => Date.parse(c.endDateTime) > now).map((c) => c.keyId),
    productCredentials: product.map((c) => c.keyId),
    versions: (secret?.versions ?? []).map((v) => ({
      version: v.version,
      keyId: v.tags['credential-key-id'] ?? '',
      enabled: v.enabled,
      delivered: v.tags['delivered-to-finops'] === 'true',
    })),
    finops: {
      provider: env?.emailParameters.MailerNonInteractive ?? '',
      applicationId: env?.graphCredential.applicationId ?? null,
      keyId: held && held.application.appId === application?.appId ? held.keyId : null,
    },
    finOpsSends: (env?.emailHistory ?? []).map((h) => ({ status: h.status, keyId: h.keyId ?? null, ...(h.error !== undefined ? { error: h.error } : {}) })),
  };
}

/** Product credentials that no enabled Key Vault version records: nothing uses them, nothing would rotate or revoke them. */
export function unrecordedCredentials(state: EnvironmentEndState): string[] {
  const recorded = new Set(state.versions.filter((v) => v.enabled).map((v) => v.keyId.toLowerCase()));
  return state.productCredentials.filter((k) => !recorded.has(k.toLowerCase()));
}

/**
 * Problems F&O's own sends show: any failed attempt in its Email history, and a newest send made with
 * another credential than the current Key Vault version's. No sends, no problems (its batch is stopped
 * unless a test starts it; F&O's test send is the one a setup with a test recipient asks for).
 */
export function finOpsSendProblems(state: EnvironmentEndState): string[] {
  const problems = state.finOpsSends.filter((h) => h.status === 'failed').map((h) => `F&O failed to send: ${h.error ?? 'no details'}`);
  const newest = state.finOpsSends.find((h) => h.status === 'sent');
  const current = state.versions[state.versions.length - 1];
  if (newest && newest.keyId !== current?.keyId) problems.push(`F&O last sent with credential ${newest.keyId ?? 'unknown'}, not the current one ${current?.keyId ?? 'none'}`);
  return problems;
}

/** Problems with an environment that setup finished: empty when it is exactly what setup should leave. */
export function setupProblems(state: EnvironmentEndState): string[] {
  const problems: string[] = [];
  if (state.applications !== 1) problems.push(`${state.applications} app registrations`);
  if (state.servicePrincipals !== 1) problems.push(`${state.servicePrincipals} service principals`);
  if (state.mailSendAssignments !== 1) problems.push(`${state.mailSendAssignments} Mail.Send assignments`);
  if (state.userReadGrants !== 1) problems.push(`${state.userReadGrants} User.Read grants`);
  if (state.productCredentials.length !== 1) problems.push(`${state.productCredentials.length} product credentials`);
  if (state.versions.length !== 1) problems.push(`${state.versions.length} Key Vault versions`);
  const current = state.versions[state.versions.length - 1];
  if (!current || current.keyId !== state.liveCredentials[0] || !current.enabled || !current.delivered) {
    problems.push(`current Key Vault version ${JSON.stringify(current)} does not hold the live credential ${state.liveCredentials[0] ?? 'none'}`);
  }
  problems.push(...finOpsProblems(state));
  return problems;
}

/**
 * Problems with an environment during (`grace`) or after (`done`) a rotation from `previousKeyId`:
 * during the grace period two live product credentials (the previous and the new one), each in its own
 * enabled version; after it only the new one; F&O holds the new one throughout; every version holds a
 * distinct credential and nothing unrecorded is left on the app.
 */
export function rotationProblems(state: EnvironmentEndState, previousKeyId: string, phase: 'grace' | 'done'): string[] {
  const problems: string[] = [];
  if (state.applications !== 1) problems.push(`${state.applications} app registrations`);
  const current = state.versions[state.versions.length - 1];
  const newKey = current?.keyId;
  if (!current || !newKey || newKey === previousKeyId) problems.push('the current Key Vault version does not hold a new credential');
  else if (!current.enabled || !current.delivered) problems.push('the new version is not enabled and delivered');
  const expectedLive = phase === 'grace' ? [previousKeyId, newKey] : [newKey];
  if (JSON.stringify([...state.liveCredentials].sort()) !== JSON.stringify([...expectedLive].sort())) {
    problems.push(`live product credentials ${JSON.stringify(state.liveCredentials)}, expected ${JSON.stringify(expectedLive)}`);
  }
  const enabled = state.versions.filter((v) => v.enabled).map((v) => v.keyId);
  if (JSON.stringify([...enabled].sort()) !== JSON.stringify([...expectedLive].sort())) {
    problems.push(`enabled versions hold ${JSON.stringify(enabled)}, expected ${JSON.stringify(expectedLive)}`);
  }
  const keys = state.versions.map((v) => v.keyId);
  if (new Set(keys).size !== keys.length) problems.push('two Key Vault versions hold the same credential');
  const recorded = new Set(enabled);
  const orphans = state.productCredentials.filter((k) => !recorded.has(k));
  if (orphans.length > 0) problems.push(`unrecorded product credentials ${orphans.join(', ')}`);
  problems.push(...finOpsProblems(state));
  return problems;
}

function finOpsProblems(state: EnvironmentEndState): string[] {
  const problems: string[] = [];
  const current = state.versions[state.versions.length - 1];
  if (state.finops.provider !== 'Graph') problems.push(`F&O batch provider is ${state.finops.provider}`);
  if (state.finops.applicationId !== state.appId) problems.push('F&O holds another application id');
  if (!current || state.finops.keyId !== current.keyId) problems.push(`F&O holds credential ${state.finops.keyId ?? 'none'}, not the current one`);
  return problems;
}

// ---- call signatures ----------------------------------------------------------------------------

export interface CallSignature {
  service: CallRecord['service'];
  method: string;
  /** Anchored regular expression over the request path (ids and versions generalised). */
  pathPattern: string;
  /** One path it was seen with. */
  example: string;
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const GRAPH_APP = '00000003-0000-0000-c000-000000000000';

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The pattern of a recorded path: GUIDs (except Microsoft Graph's well-known app id), 32-hex Key Vault
 * versions, delegated permission grant ids (base64url, not GUIDs) and the environment's names
 * generalised, everything else literal.
 */
export function pathPatternOf(p: string, environmentId: string): string {
  const tokens: Array<[RegExp, string]> = [
    [/(?<=\/oauth2PermissionGrants\/)[A-Za-z0-9_-]+/g, '\uE005'],
    [new RegExp(escape(GRAPH_APP), 'g'), '\uE001'],
    [GUID, '\uE002'],
    [/\b[0-9a-f]{32}\b/g, '\uE003'],
    [new RegExp(escape(`fno-graph-mail-${environmentId}`), 'g'), '\uE004'],
  ];
  let marked = p;
  for (const [re, mark] of tokens) marked = marked.replace(re, mark);
  const pattern = escape(marked)
    .replace(/\uE001/g, escape(GRAPH_APP))
    .replace(/\uE002/g, '[0-9a-fA-F-]{36}')
    .replace(/\uE003/g, '[0-9a-f]{32}')
    .replace(/\uE004/g, 'fno-graph-mail-[a-z0-9-]+')
    .replace(/\uE005/g, '[A-Za-z0-9_-]+');
  return `^${pattern}$`;
}

/** Distinct signatures of the calls, in the order first seen. */
export function signaturesOf(calls: CallRecord[], environmentId: string): CallSignature[] {
  const seen = new Map<string, CallSignature>();
  for (const c of calls) {
    const pathPattern = pathPatternOf(c.path, environmentId);
    const key = `${c.service} ${c.method} ${pathPattern}`;
    if (!seen.has(key)) seen.set(key, { service: c.service, method: c.method, pathPattern, example: c.path });
  }
  return [...seen.values()];
}

export function describeCall(sig: CallSignature): string {
  return `${sig.service} ${sig.method} ${sig.example}`;
}

export function matches(sig: CallSignature, call: CallRecord): boolean {
  return call.service === sig.service && call.method === sig.method && new RegExp(sig.pathPattern).test(call.path);
}

// ---- figures ------------------------------------------------------------------------------------

const OUTPUT = path.resolve(__dirname, '..', '..', 'test-output', 'reliability.json');

/** Blocks this thread for `ms` (recordFigures runs in jest's afterAll and may not yield while it holds the lock). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Merges one suite's figures into `test-output/reliability.json`: read, merge, replace atomically,
 * under a lock directory, since suites in parallel workers finish at the same time and an unlocked
 * read-merge-write would drop the other's section. A lock older than 30 s is taken over (its holder died).
 */
export function recordFigures(section: string, figures: Record<string, unknown>): void {
  mkdirSync(path.dirname(OUTPUT), { recursive: true });
  const lock = `${OUTPUT}.lock`;
  for (const deadline = Date.now() + 60_000; ; ) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      let age: number;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > 30_000 || Date.now() > deadline) rmSync(lock, { recursive: true, force: true });
      else pause(10);
    }
  }
  try {
    let current: Record<string, unknown>;
    try {
      current = JSON.parse(readFileSync(OUTPUT, 'utf8')) as Record<string, unknown>;
    } catch {
      current = {};
    }
    current[section] = { ...figures, recordedAt: new Date().toISOString() };
    const temp = `${OUTPUT}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(current, null, 2)}\n`);
    renameSync(temp, OUTPUT);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
