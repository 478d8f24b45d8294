/**
 * The fault matrix: every external call a clean setup and a clean rotation make (enumerated from the
 * sandbox's call record) is hit with 429 (Retry-After: 1), 500, 503 (Retry-After: 1) and a connection
 * reset, once and in bursts of three, and with five 503s in a row (more than any SDK retries); the
 * fresh-object calls also with Entra's documented replication lag errors; Graph, Key Vault, F&O and
 * Entra calls with permanent refusals. Durable retries wait on timers: the sandbox clock is moved to
 * fire them (support.ts, TimeKeeper). Every transient cell must
 * end Completed with exactly the state a clean run leaves, every permanent one Failed at once with a
 * message naming the step, the service's code and what to do. Cells run side by side, each against
 * its own environment (faults aimed with `concerning`); the calls that concern the whole tenant are
 * covered by faultMatrix.tenantWide.test.ts.
 */
import type { CallRecord } from '../../sandbox/types';
import { startTestApp, type TestApp } from '../helpers/app';
import {
  activityOfCalls,
  describeCall,
  drive,
  endState,
  FAST_RETRY_PACING,
  faultName,
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
  type CallSignature,
} from './support';

type Section = 'setup' | 'rotation' | 'lag' | 'permanent';

interface FaultSpec {
  status: number;
  count: number;
  retryAfterSeconds?: number;
  code?: string;
  message?: string;
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
/** Signature key → the rotation activity that makes its first call. */
const rotationStepOf = new Map<string, string>();
/** How often the clean rotation scheduled each activity. */
let rotationScheduled: Record<string, number> = {};
const results: CellResult[] = [];
/** Cells each section must have, derived from the calls the clean runs made. */
const expected: Record<Section, number> = { setup: 0, rotation: 0, lag: 0, permanent: 0 };
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

async function startSetup(environmentId: string): Promise<string[]> {
  const reply = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) });
  return reply.status === 202 ? [] : [`setup answered ${reply.status}: ${reply.text}`];
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

/** One environment set up clean, then one rotation per fault, each checked during and after its grace period. */
async function rotationLane(section: Section, sig: CallSignature, environmentId: string, faults: Array<{ name: string; fault: FaultSpec; expectRetry: boolean }>): Promise<void> {
  const ready = await startSetup(environmentId);
  if (ready.length === 0) {
    const status = await drive(app, keeper, `setup-${environmentId}`);
    if (status.runtimeStatus !== 'Completed') ready.push(`the clean setup failed: ${failureOf(status)}`);
  }
  for (const { name, fault, expectRetry } of faults) {
    const began = Date.now();
    const problems: string[] = [...ready];
    try {
      if (problems.length === 0) {
        const before = endState(app, environmentId);
        const previous = before.versions[before.versions.length - 1]?.keyId ?? '';
        const instanceId = `rotate-${environmentId}`;
        keeper.watchGrace(instanceId, environmentId);
        // The on-demand trigger reads Key Vault only: a Key Vault fault is armed once the rotation has
        // started (so the trigger's own read does not take it), any other before, so the run cannot outrun it.
        const early = sig.service !== 'keyvault';
        if (early) await inject(sig, environmentId, fault, name);
        const reply = await app.api('POST', `/api/environments/${environmentId}/rotate`, {});
        if (reply.status !== 202) problems.push(`rotate answered ${reply.status}: ${reply.text}`);
        else {
          if (!early) await inject(sig, environmentId, fault, name);
          const status = await drive(app, keeper, instanceId);
          if (status.runtimeStatus !== 'Completed') problems.push(failureOf(status));
          else {
            const grace = keeper.graceStates.get(instanceId);
            if (!grace) problems.push('the grace period passed unobserved');
            else problems.push(...rotationProblems(grace, previous, 'grace').map((p) => `during grace: ${p}`));
            problems.push(...rotationProblems(endState(app, environmentId), previous, 'done').map((p) => `after grace: ${p}`));
          }
          keeper.unwatch(instanceId);
          const advisory = isAdvisory(sig, rotationStepOf);
          if (!advisory && unconsumed(name) > 0) problems.push('the fault was never hit');
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
      environmentIds: ['baseline', ...environments.setup, ...environments.lag, ...environments.permanent, ...environments.rotation],
      secretPropagationSeconds: 0,
    },
    appSettings: { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
    retryPacing: FAST_RETRY_PACING,
  });
  keeper = new TimeKeeper(app);

  // The clean run whose calls the matrix covers.
  expect((await startSetup('baseline'))).toEqual([]);
  expect((await drive(app, keeper, 'setup-baseline')).runtimeStatus).toBe('Completed');
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

  const tasks: Array<() => Promise<void>> = [];
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
  const sections: Section[] = ['setup', 'rotation', 'lag', 'permanent'];
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
      .join(', ')}; ${setupSignatures.length} setup calls, ${rotationSignatures.length} rotation calls; ${Math.round(elapsedMs / 1000)} s\n`,
  );
  recordFigures('faultMatrix', {
    tried,
    passed,
    ...figures,
    setupCalls: setupSignatures.map(describeCall),
    rotationCalls: rotationSignatures.map(describeCall),
  });
  await app?.stop();
});

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
  for (const section of ['setup', 'rotation', 'lag', 'permanent'] as const) {
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
