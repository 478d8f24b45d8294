/**
 * The fault matrix: every external call a clean setup and a clean rotation make (enumerated from the
 * sandbox's call record) is hit with 429 (Retry-After: 1), 500, 503 (Retry-After: 1) and a connection
 * reset, once and in bursts of three, and with five 503s in a row (more than any SDK retries); the
 * fresh-object calls also with Entra's documented replication lag errors; Graph, Key Vault, F&O and
 * Entra calls with permanent refusals. Every write (each call that changes something, token requests
 * aside) is also hit *after* it was committed: the service does the work and the caller gets a 500 or a
 * dropped connection, as when a gateway times out (the sandbox's `after` faults). Durable retries wait on
 * timers: the sandbox clock is moved to fire them (support.ts, TimeKeeper). Every transient and every
 * after-the-write cell must end Completed with exactly the state a clean run leaves (no duplicate and no
 * unrecorded credential, F&O on the current one), every permanent one Failed at once with a message
 * naming the step, the service's code and what to do. Cells run side by side, each against its own
 * environment (faults aimed with `concerning`); the calls that concern the whole tenant are covered by
 * faultMatrix.tenantWide.test.ts.
 */
import type { CallRecord } from '../../sandbox/types';
import { credentialDisplayName } from '../../src/contracts/names';
import { SECRET_TAGS } from '../../src/contracts/wellKnown';
import { startTestApp, type TestApp } from '../helpers/app';
import {
  activityOfCalls,
  describeCall,
  drive,
  endState,
  FAST_RETRY_PACING,
  faultName,
  finOpsSendProblems,
  historyCounts,
  matches,
  NEVER,
  recordFigures,
  rotationProblems,
  setupProblems,
  signaturesOf,
  stepsOf,
  TimeKeeper,
  TRANSIENT_FAULTS,
  unrecordedCredentials,
  type CallSignature,
  type EnvironmentEndState,
} from './support';

type Section = 'setup' | 'rotation' | 'lag' | 'permanent' | 'after';
const SECTIONS: Section[] = ['setup', 'rotation', 'lag', 'permanent', 'after'];

interface FaultSpec {
  status: number;
  count: number;
  retryAfterSeconds?: number;
  code?: string;
  message?: string;
  /** The service serves the request first; the caller gets the fault instead of the answer. */
  after?: boolean;
}

interface CellResult {
  section: Section;
  name: string;
  problems: string[];
  /** Real time the cell took. */
  ms: number;
}

const COUNTS = [1, 3];
/** Cells in flight at once: most of a cell's time is an SDK sleeping out a Retry-After or a back-off. */
const CONCURRENCY = 40;

/**
 * Faults after the write: the service commits the request, then the caller gets a 500 or the connection
 * drops, so it cannot tell whether the write happened (docs/sandbox.md, Faults after the write).
 */
const AFTER_FAULTS: Array<{ label: string; status: number }> = [
  { label: '500 after the write', status: 500 },
  { label: 'reset after the write', status: 0 },
];

/**
 * Setups of the after section name a test recipient, so F&O's own test send (SendTestEmail) and the
 * product's test message are writes of the run like any other, and F&O's Email history shows what F&O
 * sent with.
 */
const TEST_RECIPIENT = 'admin@contoso.onmicrosoft.com';

/** A call that changes something. Token requests change nothing the product or F&O keeps. */
function isWrite(sig: CallSignature): boolean {
  return sig.method !== 'GET' && sig.method !== 'HEAD' && !/\/oauth2\/v2\.0\/token$/.test(sig.example) && sig.example !== '/msi/token';
}

/** Calls about the whole tenant (no environment to aim at): faultMatrix.tenantWide.test.ts covers them. */
function isTenantWide(sig: CallSignature): boolean {
  return /openid-configuration$/.test(sig.example) || sig.example.includes("servicePrincipals(appId='00000003-0000-0000-c000-000000000000')");
}

/** The name a request's subject has for the sandbox: an F&O environment id, else the app's unique name (= the secret's name). */
function subjectFor(sig: CallSignature, environmentId: string): string {
  return sig.service === 'finops' || sig.example === '/msi/token' ? environmentId : `fno-graph-mail-${environmentId}`;
}

/** Entra's documented replication-lag answers, on the calls that address objects created moments before. */
const NOT_REPLICATED: Omit<FaultSpec, 'count'> = {
  status: 404,
  code: 'Request_ResourceNotFound',
  message: "Resource does not exist or one of its queried reference-property objects are not present.",
};
const LAG_FAULTS: Array<{ path: RegExp; method: string; fault: Omit<FaultSpec, 'count'>; rotation?: boolean }> = [
  { method: 'GET', path: /^\/v1\.0\/applications\/[0-9a-f-]{36}$/, fault: NOT_REPLICATED },
  { method: 'POST', path: /\/addPassword$/, fault: NOT_REPLICATED },
  { method: 'GET', path: /\/appRoleAssignments$/, fault: NOT_REPLICATED },
  { method: 'POST', path: /\/appRoleAssignedTo$/, fault: { status: 400, code: 'Request_BadRequest', message: 'Not a valid reference update.' } },
  {
    method: 'POST',
    path: /^\/v1\.0\/oauth2PermissionGrants$/,
    fault: { status: 400, code: 'Request_BadRequest', message: "Invalid value specified for property 'clientId' of resource 'OAuth2PermissionGrant'." },
  },
  {
    method: 'POST',
    path: /^\/v1\.0\/servicePrincipals$/,
    fault: { status: 400, code: 'Request_BadRequest', message: 'The appId of the service principal does not reference a valid application object.' },
  },
  ...[false, true].map((rotation) => ({
    method: 'POST',
    path: /\/oauth2\/v2\.0\/token$/,
    rotation,
    fault: {
      status: 401,
      code: 'invalid_client',
      message:
        'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
    },
  })),
];

/** Permanent refusals per service, with the words of the action a person must read. */
const PERMANENT: Array<{ service: CallRecord['service']; fault: Omit<FaultSpec, 'count'>; action: RegExp; only?: RegExp }> = [
  {
    service: 'graph',
    fault: { status: 403, code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' },
    action: /Grant the function app's identity the Graph application permissions? /,
  },
  {
    service: 'graph',
    fault: { status: 400, code: 'Request_BadRequest', message: "Invalid value specified for property 'displayName' of resource 'Application'." },
    action: /The service rejected the request; check the environment settings and the service message/,
  },
  {
    service: 'keyvault',
    fault: { status: 403, code: 'Forbidden', message: 'Caller is not authorized to perform action on resource (ForbiddenByRbac).' },
    action: /Key Vault Secrets Officer/,
  },
  {
    service: 'finops',
    fault: { status: 403, code: 'Forbidden', message: 'The caller is not registered as a Microsoft Entra application in this environment.' },
    action: /Register the function app's client id in Finance and Operations/,
  },
  {
    service: 'entra',
    only: /\/oauth2\/v2\.0\/token$/,
    fault: { status: 400, code: 'invalid_request', message: "AADSTS900144: The request body must contain the following parameter: 'grant_type'." },
    action: /No access token could be obtained/,
  },
];

const environments = {
  setup: Array.from({ length: 240 }, (_, i) => `s-${i}`),
  lag: Array.from({ length: 20 }, (_, i) => `l-${i}`),
  permanent: Array.from({ length: 48 }, (_, i) => `p-${i}`),
  rotation: Array.from({ length: 40 }, (_, i) => `r-${i}`),
  after: Array.from({ length: 40 }, (_, i) => `a-${i}`),
};

/**
 * Activities whose calls only look (F&O's metadata and the sign-in log, with F&O's own test send and
 * the evidence tag): a refusal there is reported in the step's detail and the run goes on (or falls
 * back to instructions), never a failed run. Transient faults on them are in the matrix like any call;
 * their refusals are tested in test/orchestrations (setup.test.ts, proof and auto).
 */
const ADVISORY_ACTIVITIES = new Set(['describeFinOps', 'readFinOpsEvidence', 'recordFinOpsEvidence', 'sendFinOpsTestEmail']);
/**
 * Calls of other activities that only look, likewise: the tenant's app management policies, read before
 * a secret is added (without Policy.Read.All the pre-flight is skipped and addPassword reports a refusal).
 */
const ADVISORY_CALLS = /\/policies\/defaultAppManagementPolicy$|\/appManagementPolicies$/;
const isAdvisory = (sig: CallSignature, stepOf: Map<string, string>): boolean => ADVISORY_ACTIVITIES.has(stepOf.get(keyOf(sig)) ?? '') || ADVISORY_CALLS.test(sig.example);

let app: TestApp;
let keeper: TimeKeeper;
let setupSignatures: CallSignature[] = [];
let rotationSignatures: CallSignature[] = [];
/** Signature key → the setup step that makes its first call. */
const setupStepOf = new Map<string, string>();
/** Writes of a clean setup with a test recipient, and those a setup repairing a taken-away permission adds. */
let afterSetupWrites: CallSignature[] = [];
let repairWrites: CallSignature[] = [];
/** The rotation's write that disables the previous Key Vault version (same signature as the tag update). */
let disableWrite: CallSignature | undefined;
/** Signature key → the rotation activity that makes its first call. */
const rotationStepOf = new Map<string, string>();
/** How often the clean rotation scheduled each activity. */
let rotationScheduled: Record<string, number> = {};
const results: CellResult[] = [];
/** Cells each section must have, derived from the calls the clean runs made. */
const expected: Record<Section, number> = { setup: 0, rotation: 0, lag: 0, permanent: 0, after: 0 };
/** Faults of the matrix that no recorded call matched: a finding, never silently dropped. */
const unmatched: string[] = [];
let elapsedMs = 0;

const keyOf = (sig: CallSignature): string => `${sig.service} ${sig.method} ${sig.pathPattern}`;

async function calls(): Promise<CallRecord[]> {
  return (await app.control<{ calls: CallRecord[] }>('/calls')).calls;
}

async function inject(sig: CallSignature, environmentId: string, fault: FaultSpec, tag: string): Promise<void> {
  await app.control('/faults', {
    service: sig.service,
    method: sig.method,
    pathPattern: sig.pathPattern,
    concerning: subjectFor(sig, environmentId),
    ...fault,
    message: `${fault.message ?? 'Injected fault.'} [${tag}]`,
  });
}

function unconsumed(tag: string): number {
  return app.sandbox.state.faults.filter((f) => f.message?.includes(`[${tag}]`)).length;
}

async function startSetup(environmentId: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const reply = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), ...extra });
  return reply.status === 202 ? [] : [`setup answered ${reply.status}: ${reply.text}`];
}

/**
 * What an administrator leaves who removes one delegated permission of several in the portal: the
 * tenant-wide grant stays, holding another delegated permission (here `Mail.Send`) but not `User.Read`.
 * A setup run again puts `User.Read` back into it (a grant update).
 */
function takeAwayUserRead(environmentId: string): void {
  const s = app.sandbox.state;
  const appId = endState(app, environmentId).appId;
  const sp = s.servicePrincipals.find((p) => p.appId === appId);
  const grant = s.oauth2PermissionGrants.find((g) => g.clientId === sp?.id && g.consentType === 'AllPrincipals');
  if (!grant) throw new Error(`environment ${environmentId} has no tenant-wide grant to take User.Read from`);
  grant.scope = 'Mail.Send';
}

/** Whether the after-the-write fault tagged `tag` met its call, and the service committed it. */
function committedProblems(tag: string): string[] {
  const hit = app.sandbox.state.calls.filter((c) => c.fault?.message?.includes(`[${tag}]`));
  if (hit.length === 0) return ['the fault was never hit'];
  return hit.filter((c) => (c.servedStatus ?? 0) >= 300).map((c) => `the service did not commit the write (answered ${c.servedStatus ?? 'nothing'})`);
}

/** Everything a clean setup leaves, no unrecorded credential, and nothing F&O failed to send. */
function afterSetupProblems(state: EnvironmentEndState): string[] {
  const unrecorded = unrecordedCredentials(state);
  return [
    ...setupProblems(state),
    ...(unrecorded.length > 0 ? [`unrecorded product credentials ${unrecorded.join(', ')}`] : []),
    ...finOpsSendProblems(state),
  ];
}

function failureOf(status: { runtimeStatus: string; output: unknown }): string {
  return status.runtimeStatus === 'Completed' ? '' : `${status.runtimeStatus}: ${JSON.stringify(status.output).slice(0, 400)}`;
}

// ---- cells --------------------------------------------------------------------------------------

async function setupCell(section: Section, name: string, sig: CallSignature, environmentId: string, fault: FaultSpec, expectRetry: boolean): Promise<void> {
  const began = Date.now();
  const problems: string[] = [];
  try {
    await inject(sig, environmentId, fault, name);
    problems.push(...(await startSetup(environmentId)));
    if (problems.length === 0) {
      const status = await drive(app, keeper, `setup-${environmentId}`);
      if (status.runtimeStatus !== 'Completed') problems.push(failureOf(status));
      else problems.push(...setupProblems(endState(app, environmentId)));
      // An advisory read that fails is a reading that shows nothing, not a step to retry: the run goes on.
      const advisory = isAdvisory(sig, setupStepOf);
      if (!advisory && unconsumed(name) > 0) problems.push('the fault was never hit');
      if (!advisory && expectRetry && historyCounts(app, `setup-${environmentId}`).timers === 0) problems.push('no durable retry was scheduled');
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  results.push({ section, name, problems, ms: Date.now() - began });
}

/**
 * A setup (with a test recipient) whose write `sig` is committed and then answered with `fault`. With
 * `repair`, the environment is set up clean first and loses `User.Read`; the fault meets the setup that
 * repairs it.
 */
async function afterSetupCell(name: string, sig: CallSignature, environmentId: string, fault: FaultSpec, repair: boolean): Promise<void> {
  const began = Date.now();
  const problems: string[] = [];
  const body = { testRecipient: TEST_RECIPIENT };
  try {
    if (repair) {
      problems.push(...(await startSetup(environmentId, body)));
      if (problems.length === 0) {
        const first = await drive(app, keeper, `setup-${environmentId}`);
        if (first.runtimeStatus !== 'Completed') problems.push(`the clean setup failed: ${failureOf(first)}`);
        else takeAwayUserRead(environmentId);
      }
    }
    if (problems.length === 0) {
      await inject(sig, environmentId, fault, name);
      problems.push(...(await startSetup(environmentId, body)));
    }
    if (problems.length === 0) {
      const status = await drive(app, keeper, `setup-${environmentId}`);
      if (status.runtimeStatus !== 'Completed') problems.push(failureOf(status));
      else {
        const state = endState(app, environmentId);
        problems.push(...afterSetupProblems(state));
        // F&O's own test send is what shows it holds the credential the vault records (finOpsSendProblems).
        if (!state.finOpsSends.some((h) => h.status === 'sent')) problems.push('F&O never sent: its test send did not run');
      }
      problems.push(...committedProblems(name));
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  results.push({ section: 'after', name, problems, ms: Date.now() - began });
}

interface LaneFault {
  name: string;
  fault: FaultSpec;
  expectRetry: boolean;
  /** Aims the fault at a path known only once the rotation is about to start (the previous version). */
  aim?: (before: EnvironmentEndState) => string;
}

/** One environment set up clean, then one rotation per fault, each checked during and after its grace period. */
async function rotationLane(section: Section, sig: CallSignature, environmentId: string, faults: LaneFault[]): Promise<void> {
  const ready = await startSetup(environmentId);
  if (ready.length === 0) {
    const status = await drive(app, keeper, `setup-${environmentId}`);
    if (status.runtimeStatus !== 'Completed') ready.push(`the clean setup failed: ${failureOf(status)}`);
  }
  for (const { name, fault, expectRetry, aim } of faults) {
    const began = Date.now();
    const problems: string[] = [...ready];
    try {
      if (problems.length === 0) {
        const before = endState(app, environmentId);
        const previous = before.versions[before.versions.length - 1]?.keyId ?? '';
        const target = aim ? { ...sig, pathPattern: aim(before) } : sig;
        const instanceId = `rotate-${environmentId}`;
        keeper.watchGrace(instanceId, environmentId);
        // The on-demand trigger reads Key Vault only: a Key Vault fault is armed once the rotation has
        // started (so the trigger's own read does not take it), any other before, so the run cannot outrun it.
        const early = sig.service !== 'keyvault';
        if (early) await inject(target, environmentId, fault, name);
        const reply = await app.api('POST', `/api/environments/${environmentId}/rotate`, {});
        if (reply.status !== 202) problems.push(`rotate answered ${reply.status}: ${reply.text}`);
        else {
          if (!early) await inject(target, environmentId, fault, name);
          const status = await drive(app, keeper, instanceId);
          if (status.runtimeStatus !== 'Completed') problems.push(failureOf(status));
          else {
            const grace = keeper.graceStates.get(instanceId);
            if (!grace) problems.push('the grace period passed unobserved');
            else problems.push(...rotationProblems(grace, previous, 'grace').map((p) => `during grace: ${p}`));
            problems.push(...rotationProblems(endState(app, environmentId), previous, 'done').map((p) => `after grace: ${p}`));
            problems.push(...finOpsSendProblems(endState(app, environmentId)));
          }
          keeper.unwatch(instanceId);
          const advisory = isAdvisory(sig, rotationStepOf);
          if (fault.after) problems.push(...committedProblems(name));
          else if (!advisory && unconsumed(name) > 0) problems.push('the fault was never hit');
          // An activity was scheduled more often than in the clean rotation: a durable retry (counted this
          // way because the grace timer may not exist at all when another lane's clock move has passed it,
          // and because a Key Vault fault armed after the start may meet a later activity's call).
          const scheduled = historyCounts(app, instanceId).scheduled;
          const retried = Object.entries(scheduled).some(([activity, n]) => n > (rotationScheduled[activity] ?? 0));
          if (!advisory && expectRetry && !retried) problems.push('no durable retry was scheduled');
        }
      }
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
    results.push({ section, name, problems, ms: Date.now() - began });
  }
}

async function permanentCell(name: string, sig: CallSignature, environmentId: string, fault: FaultSpec, action: RegExp): Promise<void> {
  const began = Date.now();
  const problems: string[] = [];
  try {
    // Two uses: a retry (by the SDK or the orchestration) would take the second one.
    await inject(sig, environmentId, { ...fault, count: 2 }, name);
    problems.push(...(await startSetup(environmentId)));
    if (problems.length === 0) {
      const instanceId = `setup-${environmentId}`;
      // No clock moves for this run: a retry timer of any length fails the drive.
      const status = await drive(app, keeper, instanceId, { maxAdvanceMs: 0 });
      const step = setupStepOf.get(keyOf(sig)) ?? '?';
      const op = await app.api<{ error?: string; steps: Array<{ name: string; status: string }> }>('GET', `/api/operations/${instanceId}`);
      const error = op.body.error ?? '';
      if (status.runtimeStatus !== 'Failed') problems.push(`ended ${status.runtimeStatus}`);
      if (!error.startsWith(`Step ${step} failed: `)) problems.push(`the error does not name step ${step}: ${error}`);
      if (!error.includes(fault.code ?? '')) problems.push(`the error does not name the code ${fault.code}: ${error}`);
      if (!action.test(error)) problems.push(`the error does not say what to do: ${error}`);
      if (op.body.steps.find((s) => s.name === step)?.status !== 'failed') problems.push(`step ${step} is not marked failed: ${JSON.stringify(op.body.steps)}`);
      const remaining = app.sandbox.state.faults.find((f) => f.message?.includes(`[${name}]`))?.count;
      if (remaining !== 1) problems.push(`the refused call was made ${2 - (remaining ?? 0)} times, not once`);
      const counts = historyCounts(app, instanceId);
      if (counts.timers > 0 || (counts.scheduled[step] ?? 0) !== 1) problems.push(`step ${step} was retried: ${JSON.stringify(counts)}`);
      const state = endState(app, environmentId);
      const recorded = new Set(state.versions.filter((v) => v.enabled).map((v) => v.keyId));
      const orphans = state.productCredentials.filter((k) => !recorded.has(k));
      if (orphans.length > 0) problems.push(`orphan credentials left: ${orphans.join(', ')}`);
    }
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  results.push({ section: 'permanent', name, problems, ms: Date.now() - began });
}

async function pool(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const task = tasks[next++];
        if (task) await task();
      }
    }),
  );
}

/** The recorded calls a replication-lag fault is aimed at; none is a finding (the run no longer makes the call). */
function lagTargets(lag: (typeof LAG_FAULTS)[number], signatures: CallSignature[], run: 'setup' | 'rotation'): CallSignature[] {
  const sigs = signatures.filter((s) => s.method === lag.method && lag.path.test(s.example));
  if (sigs.length === 0) unmatched.push(`${run} ${lag.method} ${lag.path.source} ${lag.fault.code}: no ${run} call matches`);
  return sigs;
}

function take(list: string[], label: string): string {
  const id = list.shift();
  if (!id) throw new Error(`not enough ${label} environments seeded`);
  return id;
}

// ---- the run ------------------------------------------------------------------------------------

beforeAll(async () => {
  const started = Date.now();
  app = await startTestApp({
    sandbox: {
      environmentIds: [
        'baseline',
        'after-baseline',
        'control',
        ...environments.setup,
        ...environments.lag,
        ...environments.permanent,
        ...environments.rotation,
        ...environments.after,
      ],
      secretPropagationSeconds: 0,
    },
    appSettings: { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
    retryPacing: FAST_RETRY_PACING,
  });
  keeper = new TimeKeeper(app);

  // The clean run whose calls the matrix covers.
  expect((await startSetup('baseline'))).toEqual([]);
  expect((await drive(app, keeper, 'setup-baseline')).runtimeStatus).toBe('Completed');
  const baselineVersion = endState(app, 'baseline').versions[0]?.version ?? '';
  const setupCalls = await calls();
  const activities = activityOfCalls(app, 'setup-baseline', setupCalls);
  setupSignatures = signaturesOf(setupCalls, 'baseline');
  for (const sig of setupSignatures) {
    const first = setupCalls.find((c) => matches(sig, c));
    if (first) setupStepOf.set(keyOf(sig), activities.get(first) ?? 'trigger');
  }
  await app.control('/calls', undefined, 'DELETE');
  keeper.watchGrace('rotate-baseline', 'baseline');
  expect((await app.api('POST', '/api/environments/baseline/rotate', {})).status).toBe(202);
  expect((await drive(app, keeper, 'rotate-baseline')).runtimeStatus).toBe('Completed');
  const rotationCalls = await calls();
  const rotationActivities = activityOfCalls(app, 'rotate-baseline', rotationCalls);
  rotationSignatures = signaturesOf(
    rotationCalls.filter((c) => rotationActivities.get(c) !== 'trigger'),
    'baseline',
  );
  rotationScheduled = historyCounts(app, 'rotate-baseline').scheduled;
  for (const sig of rotationSignatures) {
    const first = rotationCalls.find((c) => matches(sig, c) && rotationActivities.get(c) !== 'trigger');
    if (first) rotationStepOf.set(keyOf(sig), rotationActivities.get(first) ?? 'trigger');
  }
  // The revocation disables the version the setup stored: a write of its own, whose signature the tag
  // update of the new version shares, so its cells aim at the previous version by path.
  const disabling = rotationCalls.find((c) => c.service === 'keyvault' && c.method === 'PATCH' && c.path.endsWith(`/${baselineVersion}`));
  disableWrite = disabling ? rotationSignatures.find((s) => matches(s, disabling)) : undefined;

  // The writes of the after section: a clean setup with a test recipient, then the same environment
  // set up again after an administrator took User.Read away (the grant update).
  await app.control('/calls', undefined, 'DELETE');
  expect(await startSetup('after-baseline', { testRecipient: TEST_RECIPIENT })).toEqual([]);
  expect(failureOf(await drive(app, keeper, 'setup-after-baseline'))).toBe('');
  afterSetupWrites = signaturesOf(await calls(), 'after-baseline').filter((s) => isWrite(s) && !isTenantWide(s));
  await app.control('/calls', undefined, 'DELETE');
  takeAwayUserRead('after-baseline');
  expect(await startSetup('after-baseline', { testRecipient: TEST_RECIPIENT })).toEqual([]);
  expect(failureOf(await drive(app, keeper, 'setup-after-baseline'))).toBe('');
  repairWrites = signaturesOf(await calls(), 'after-baseline').filter((s) => isWrite(s) && !isTenantWide(s) && !afterSetupWrites.some((w) => keyOf(w) === keyOf(s)));

  const tasks: Array<() => Promise<void>> = [];
  // After-the-write rotation lanes first: one per rotation write, each fault a rotation of its own.
  const afterLaneFaults = (label: (f: (typeof AFTER_FAULTS)[number]) => string, aim?: LaneFault['aim']): LaneFault[] =>
    AFTER_FAULTS.map((f) => ({ name: label(f), fault: { status: f.status, count: 1, after: true }, expectRetry: false, ...(aim ? { aim } : {}) }));
  for (const sig of rotationSignatures.filter((s) => isWrite(s) && !isTenantWide(s))) {
    const environmentId = take(environments.after, 'after');
    tasks.push(() => rotationLane('after', sig, environmentId, afterLaneFaults((f) => `rotation ${describeCall(sig)} ${f.label}`)));
    expected.after += AFTER_FAULTS.length;
  }
  if (disableWrite) {
    const sig = disableWrite;
    const environmentId = take(environments.after, 'after');
    const previousVersion = (before: EnvironmentEndState): string => `^/secrets/fno-graph-mail-[a-z0-9-]+/${before.versions[before.versions.length - 1]?.version ?? 'none'}$`;
    tasks.push(() => rotationLane('after', sig, environmentId, afterLaneFaults((f) => `rotation ${sig.service} ${sig.method} (disable the previous version) ${f.label}`, previousVersion)));
    expected.after += AFTER_FAULTS.length;
  }
  for (const [sigs, repair] of [
    [afterSetupWrites, false],
    [repairWrites, true],
  ] as const) {
    for (const sig of sigs) {
      for (const f of AFTER_FAULTS) {
        const environmentId = take(environments.after, 'after');
        const name = `${repair ? 'setup again (User.Read taken away)' : 'setup'} ${describeCall(sig)} ${f.label}`;
        tasks.push(() => afterSetupCell(name, sig, environmentId, { status: f.status, count: 1, after: true }, repair));
      }
    }
    expected.after += sigs.length * AFTER_FAULTS.length;
  }
  // Rotation lanes first: each is a sequence of rotations, the longest path of the run.
  for (const sig of rotationSignatures.filter((s) => !isTenantWide(s))) {
    // Two lanes per call, so no lane is much longer than the others.
    for (const lane of [TRANSIENT_FAULTS.filter((f) => f.count === 3), TRANSIENT_FAULTS.filter((f) => f.count !== 3)]) {
      const environmentId = take(environments.rotation, 'rotation');
      const faults = lane.map((f) => ({
        name: `rotation ${describeCall(sig)} ${faultName(f)}`,
        fault: { status: f.status, count: f.count, ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}) },
        expectRetry: f.count > 3,
      }));
      tasks.push(() => rotationLane('rotation', sig, environmentId, faults));
    }
  }
  for (const lag of LAG_FAULTS.filter((l) => l.rotation)) {
    const sigs = lagTargets(lag, rotationSignatures, 'rotation');
    for (const sig of sigs) {
      const environmentId = take(environments.rotation, 'rotation');
      const faults = COUNTS.map((count) => ({ name: `rotation ${describeCall(sig)} ${lag.fault.code} x${count}`, fault: { ...lag.fault, count }, expectRetry: true }));
      tasks.push(() => rotationLane('lag', sig, environmentId, faults));
    }
    expected.lag += sigs.length * COUNTS.length;
  }
  // Longest first: bursts of five and three, then single faults.
  for (const f of [...TRANSIENT_FAULTS].sort((a, b) => b.count - a.count)) {
    for (const sig of setupSignatures.filter((s) => !isTenantWide(s))) {
      const environmentId = take(environments.setup, 'setup');
      const fault = { status: f.status, count: f.count, ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}) };
      // Five in a row outlast the SDKs' three retries, so the orchestration must retry the step; the
      // managed identity client retries five times itself.
      const expectRetry = f.count > 3 && sig.example !== '/msi/token';
      tasks.push(() => setupCell('setup', `setup ${describeCall(sig)} ${faultName(f)}`, sig, environmentId, fault, expectRetry));
    }
  }
  for (const lag of LAG_FAULTS.filter((l) => !l.rotation)) {
    const sigs = lagTargets(lag, setupSignatures, 'setup');
    for (const sig of sigs) {
      for (const count of COUNTS) {
        const environmentId = take(environments.lag, 'lag');
        tasks.push(() => setupCell('lag', `setup ${describeCall(sig)} ${lag.fault.code} x${count}`, sig, environmentId, { ...lag.fault, count }, true));
      }
    }
    expected.lag += sigs.length * COUNTS.length;
  }
  for (const refusal of PERMANENT) {
    const sigs = setupSignatures.filter(
      (s) =>
        s.service === refusal.service &&
        !isTenantWide(s) &&
        !isAdvisory(s, setupStepOf) &&
        (refusal.only?.test(s.example) ?? s.example !== '/msi/token'),
    );
    if (sigs.length === 0) unmatched.push(`${refusal.service} ${refusal.fault.status} ${refusal.fault.code}: no setup call of that service`);
    for (const sig of sigs) {
      const environmentId = take(environments.permanent, 'permanent');
      tasks.push(() => permanentCell(`setup ${describeCall(sig)} ${refusal.fault.status} ${refusal.fault.code}`, sig, environmentId, { ...refusal.fault, count: 2 }, refusal.action));
    }
    expected.permanent += sigs.length;
  }
  expected.setup = setupSignatures.filter((s) => !isTenantWide(s)).length * TRANSIENT_FAULTS.length;
  expected.rotation = rotationSignatures.filter((s) => !isTenantWide(s)).length * TRANSIENT_FAULTS.length;
  const poolStarted = Date.now();
  await pool(tasks, CONCURRENCY);
  elapsedMs = Date.now() - started;
  // FAULT_MATRIX_TIMING=1 lists the slowest cells, for whoever has to keep this file fast.
  if (process.env.FAULT_MATRIX_TIMING) {
    process.stdout.write(`start+baseline ${poolStarted - started} ms, pool ${Date.now() - poolStarted} ms\n`);
    for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, 15)) process.stdout.write(`${r.ms} ms ${r.name}\n`);
  }
}, 170_000);

afterAll(async () => {
  const sections = SECTIONS;
  const figures = Object.fromEntries(
    sections.map((s) => {
      const cells = results.filter((r) => r.section === s);
      return [s, { tried: cells.length, passed: cells.filter((r) => r.problems.length === 0).length }];
    }),
  );
  const tried = results.length;
  const passed = results.filter((r) => r.problems.length === 0).length;
  process.stdout.write(
    `\nfault matrix (environment-scoped calls): ${tried} cells tried, ${passed} passed — ${sections
      .map((s) => `${s} ${(figures[s] as { passed: number }).passed}/${(figures[s] as { tried: number }).tried}`)
      .join(', ')}; ${setupSignatures.length} setup calls, ${rotationSignatures.length} rotation calls, ${afterWrites().length} writes; ${Math.round(elapsedMs / 1000)} s\n`,
  );
  recordFigures('faultMatrix', {
    tried,
    passed,
    ...figures,
    setupCalls: setupSignatures.map(describeCall),
    rotationCalls: rotationSignatures.map(describeCall),
    writes: afterWrites(),
  });
  await app?.stop();
});

/** The writes the after section covers, as its cells name them. */
function afterWrites(): string[] {
  return [
    ...afterSetupWrites.map((s) => `setup ${describeCall(s)}`),
    ...repairWrites.map((s) => `setup again ${describeCall(s)}`),
    ...rotationSignatures.filter((s) => isWrite(s) && !isTenantWide(s)).map((s) => `rotation ${describeCall(s)}`),
    ...(disableWrite ? [`rotation ${disableWrite.service} ${disableWrite.method} (disable the previous version)`] : []),
  ];
}

function failuresOf(section: Section): string[] {
  return results.filter((r) => r.section === section && r.problems.length > 0).map((r) => `${r.name}: ${r.problems.join('; ')}`);
}

it('a clean setup and rotation call Graph, Entra, Key Vault and F&O: the rows of the matrix', () => {
  const services = (sigs: CallSignature[]): string[] => [...new Set(sigs.map((s) => s.service))].sort();
  expect(services(setupSignatures)).toEqual(['entra', 'finops', 'graph', 'keyvault']);
  expect(services(rotationSignatures)).toEqual(['entra', 'finops', 'graph', 'keyvault']);
  expect(setupSignatures.length).toBeGreaterThanOrEqual(18);
  expect(rotationSignatures.map((s) => s.example)).toEqual(expect.arrayContaining([expect.stringMatching(/\/removePassword$/), expect.stringMatching(/\/versions$/)]));
  // Every setup call belongs to a step of the run.
  expect([...setupStepOf.values()].filter((step) => step === 'trigger')).toEqual([]);
});

/** The names of a section's cells, each once: as many as the recorded calls call for, none twice. */
function cellsOf(section: Section): string[] {
  return results.filter((r) => r.section === section).map((r) => r.name);
}

it('every fault of the matrix found the call it is meant for, and every cell ran once', () => {
  expect(unmatched).toEqual([]);
  for (const section of SECTIONS) {
    const names = cellsOf(section);
    expect({ section, cells: names.length, distinct: new Set(names).size }).toEqual({ section, cells: expected[section], distinct: expected[section] });
  }
});

it('every setup call survives 429, 500, 503 and connection resets, once and three times in a row, and five 503s in a row', () => {
  expect(expected.setup).toBe(setupSignatures.filter((s) => !isTenantWide(s)).length * TRANSIENT_FAULTS.length);
  expect(cellsOf('setup')).toHaveLength(expected.setup);
  expect(failuresOf('setup')).toEqual([]);
});

it('every rotation call survives them too, with two live credentials during the grace period and one after', () => {
  expect(expected.rotation).toBe(rotationSignatures.filter((s) => !isTenantWide(s)).length * TRANSIENT_FAULTS.length);
  expect(cellsOf('rotation')).toHaveLength(expected.rotation);
  expect(failuresOf('rotation')).toEqual([]);
});

it('Entra replication lag on fresh objects and a new secret is retried by the orchestration until it clears', () => {
  // Each lag fault is aimed at at least one recorded call, once and in a burst.
  expect(expected.lag).toBeGreaterThanOrEqual(LAG_FAULTS.length * COUNTS.length);
  expect(cellsOf('lag')).toHaveLength(expected.lag);
  expect(failuresOf('lag')).toEqual([]);
});

it('permanent refusals fail the run at once, naming the step, the service code and what to do, leaving no orphan', () => {
  expect(expected.permanent).toBeGreaterThanOrEqual(PERMANENT.length);
  expect(cellsOf('permanent')).toHaveLength(expected.permanent);
  expect(failuresOf('permanent')).toEqual([]);
  // The failed runs' steps are visible to a person.
  const failed = app.runtime.durable.listInstances({ runtimeStatus: ['Failed'] });
  expect(failed.every((s) => stepsOf(s.customStatus).some((step) => step.status === 'failed'))).toBe(true);
});

it('every write survives a fault after it was committed (500 or reset): no duplicate, no unrecorded credential, F&O on the current one', () => {
  // The writes of the product, each covered: derived from the clean runs, so a write the runs stop making is a finding.
  const covered = afterWrites().join('\n');
  for (const write of [
    /setup graph PATCH \/v1\.0\/applications\(uniqueName=/,
    /setup graph POST \/v1\.0\/servicePrincipals$/m,
    /setup graph POST \/v1\.0\/servicePrincipals\/[0-9a-f-]+\/appRoleAssignedTo/,
    /setup graph POST \/v1\.0\/oauth2PermissionGrants$/m,
    /setup again graph PATCH \/v1\.0\/oauth2PermissionGrants\/[^/\s]+$/m,
    /setup graph POST \/v1\.0\/applications\/[0-9a-f-]+\/addPassword/,
    /setup keyvault PUT \/secrets\//,
    /setup finops PATCH \/data\/EmailParameters\(/,
    /setup finops PATCH \/data\/GraphEmailCredentials\(/,
    /setup finops POST \/data\/GraphEmailCredentials\/.*SendTestEmail/,
    /setup keyvault PATCH \/secrets\//,
    /rotation graph POST \/v1\.0\/applications\/[0-9a-f-]+\/addPassword/,
    /rotation graph POST \/v1\.0\/applications\/[0-9a-f-]+\/removePassword/,
    /rotation keyvault PUT \/secrets\//,
    /rotation keyvault PATCH \/secrets\//,
    /rotation keyvault PATCH \(disable the previous version\)/,
    /rotation finops PATCH \/data\/GraphEmailCredentials\(/,
  ]) {
    expect(covered).toMatch(write);
  }
  expect(expected.after).toBe(afterWrites().length * AFTER_FAULTS.length);
  expect(cellsOf('after')).toHaveLength(expected.after);
  expect(failuresOf('after')).toEqual([]);
});

/** The managed identity's token for a resource: what the product's clients get, used here without their guards. */
async function identityToken(resource: string): Promise<string> {
  const { identityEndpoint, identityHeader } = app.sandbox.endpoints.managedIdentity;
  const url = new URL(identityEndpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', resource);
  const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': identityHeader } });
  return ((await response.json()) as { access_token: string }).access_token;
}

it('the after cells can fail: a client that repeats a write it saw fail, without read-back or operation marker, leaves a duplicate', async () => {
  expect(await startSetup('control')).toEqual([]);
  expect((await drive(app, keeper, 'setup-control')).runtimeStatus).toBe('Completed');
  const clean = endState(app, 'control');
  expect(afterSetupProblems(clean)).toEqual([]);
  const send = async (url: string, method: string, token: string, body: unknown): Promise<number> =>
    (await fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;

  // addPassword answered 500 after the write, and the same request again, as a client that trusts the status.
  const graphToken = await identityToken('https://graph.microsoft.com');
  await app.control('/faults', { service: 'graph', method: 'POST', pathPattern: '/addPassword$', concerning: 'fno-graph-mail-control', status: 500, count: 1, after: true });
  const addPassword = `${app.sandbox.endpoints.graphUrl}/v1.0/applications/${clean.appObjectId ?? ''}/addPassword`;
  const credential = { passwordCredential: { displayName: credentialDisplayName('blind-retry'), endDateTime: new Date(app.sandbox.state.now() + 86_400_000).toISOString() } };
  expect([await send(addPassword, 'POST', graphToken, credential), await send(addPassword, 'POST', graphToken, credential)]).toEqual([500, 200]);

  // A Key Vault set answered 503 after the write, repeated: two new versions recording one credential.
  const vaultToken = await identityToken('https://vault.azure.net');
  const current = app.sandbox.state.secrets.find((x) => x.name === 'fno-graph-mail-control')?.versions.at(-1);
  await app.control('/faults', { service: 'keyvault', method: 'PUT', concerning: 'fno-graph-mail-control', status: 503, count: 1, after: true });
  const setSecret = `${app.sandbox.endpoints.keyVaultUrl}/secrets/fno-graph-mail-control?api-version=7.6`;
  // The version as the credential's first store wrote it: the delivered tag comes later.
  const { [SECRET_TAGS.delivered]: _delivered, ...tags } = current?.tags ?? {};
  const version = { value: current?.value ?? '', tags, attributes: { exp: current?.exp ?? null } };
  expect([await send(setSecret, 'PUT', vaultToken, version), await send(setSecret, 'PUT', vaultToken, version)]).toEqual([503, 200]);

  const problems = afterSetupProblems(endState(app, 'control'));
  expect(problems).toEqual(
    expect.arrayContaining([
      '3 product credentials',
      expect.stringMatching(/^unrecorded product credentials [0-9a-f-]{36}, [0-9a-f-]{36}$/),
      '3 Key Vault versions',
      expect.stringMatching(/^current Key Vault version .* does not hold the live credential/),
    ]),
  );
});
