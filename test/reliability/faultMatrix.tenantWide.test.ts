/**
 * The fault matrix for the calls that concern the whole tenant rather than one environment, so a fault
 * cannot be aimed at one run among many: Microsoft Graph's own service principal (read once per
 * process and tenant, so each cell gets a fresh app) and Entra's OpenID metadata (fetched by every
 * sign-in with a new secret, in setup and in rotation). Each is hit with 429 (Retry-After: 1), 500,
 * 503 (Retry-After: 1) and a connection reset, once and three times in a row, one cell at a time.
 * Also the sandbox's own replication lag and secret propagation delay, which affect every call.
 */
import type { CallRecord } from '../../sandbox/types';
import { startTestApp, type TestApp } from '../helpers/app';
import {
  drive,
  endState,
  FAST_RETRY_PACING,
  faultName,
  historyCounts,
  NEVER,
  pathPatternOf,
  recordFigures,
  rotationProblems,
  setupProblems,
  TimeKeeper,
  TRANSIENT_FAULTS,
  type TransientFault,
} from './support';

function faultBody(t: TransientFault): Record<string, number> {
  return { status: t.status, count: t.count, ...(t.retryAfterSeconds !== undefined ? { retryAfterSeconds: t.retryAfterSeconds } : {}) };
}

const SETTINGS = { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER };
const GRAPH_SP_PATH = "/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')";

interface Cell {
  name: string;
  problems: string[];
}
const cells: Cell[] = [];

const GSP_ENVIRONMENTS = Array.from({ length: 10 }, (_, i) => `gsp-${i}`);
const OIDC_ENVIRONMENTS = Array.from({ length: 9 }, (_, i) => `oidc-${i}`);

// One sandbox per process: the managed identity's endpoint is remembered process-wide by the identity library.
let app: TestApp;
let keeper: TimeKeeper;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [...GSP_ENVIRONMENTS, ...OIDC_ENVIRONMENTS, 'oidc-rotation', 'lagged'], secretPropagationSeconds: 0 },
    appSettings: SETTINGS,
    retryPacing: FAST_RETRY_PACING,
  });
  keeper = new TimeKeeper(app);
});

async function setUp(app: TestApp, keeper: TimeKeeper, environmentId: string): Promise<string[]> {
  const reply = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) });
  if (reply.status !== 202) return [`setup answered ${reply.status}: ${reply.text}`];
  const status = await drive(app, keeper, `setup-${environmentId}`);
  if (status.runtimeStatus !== 'Completed') return [`${status.runtimeStatus}: ${JSON.stringify(status.output).slice(0, 300)}`];
  return setupProblems(endState(app, environmentId));
}

function unconsumed(app: TestApp): number {
  return app.sandbox.state.faults.length;
}

afterAll(async () => {
  await app?.stop();
  const passed = cells.filter((c) => c.problems.length === 0).length;
  process.stdout.write(`\nfault matrix (tenant-wide calls): ${cells.length} cells tried, ${passed} passed\n`);
  recordFigures('faultMatrixTenantWide', { tried: cells.length, passed, calls: [`graph GET ${GRAPH_SP_PATH}`, 'entra GET /{tenant}/v2.0/.well-known/openid-configuration'] });
});

describe("Microsoft Graph's service principal, read once per process and Graph endpoint", () => {
  const environments = GSP_ENVIRONMENTS;

  /**
   * A fresh runtime: new services, whose clients have not read Graph's service principal yet (the
   * memory of it belongs to one set of services, not to the process), so the next setup reads it cold.
   */
  async function coldRuntime(): Promise<void> {
    await app.restartRuntime();
  }

  async function injectOnGraphServicePrincipal(fault: Record<string, unknown>): Promise<void> {
    await app.control('/faults', { service: 'graph', method: 'GET', pathPattern: pathPatternOf(GRAPH_SP_PATH, 'none'), ...fault });
  }

  it('the first read survives every transient fault', async () => {
    const problems: string[] = [];
    let variant = 0;
    for (const t of TRANSIENT_FAULTS) {
      const name = `setup graph GET ${GRAPH_SP_PATH} ${faultName(t)}`;
      await coldRuntime();
      await injectOnGraphServicePrincipal(faultBody(t));
      const cell = await setUp(app, keeper, environments[variant] ?? '');
      if (unconsumed(app) > 0) cell.push('the fault was never hit');
      await app.control('/faults', undefined, 'DELETE');
      cells.push({ name, problems: cell });
      problems.push(...cell.map((p) => `${name}: ${p}`));
      variant += 1;
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it('a refusal fails the run at once at grantAdminConsent, naming the permission to grant', async () => {
    await coldRuntime();
    await injectOnGraphServicePrincipal({ status: 403, count: 2, code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' });
    expect((await app.api('POST', '/api/environments/gsp-9/setup', { environmentUrl: app.environmentUrl('gsp-9') })).status).toBe(202);
    const status = await drive(app, keeper, 'setup-gsp-9', { maxAdvanceMs: 0 });
    const op = await app.api<{ error: string }>('GET', '/api/operations/setup-gsp-9');
    const problems: string[] = [];
    if (status.runtimeStatus !== 'Failed') problems.push(`ended ${status.runtimeStatus}`);
    if (!/^Step grantAdminConsent failed: .*Authorization_RequestDenied.*Grant the function app's identity the Graph application permission/.test(op.body.error)) {
      problems.push(`unclear error: ${op.body.error}`);
    }
    if (app.sandbox.state.faults[0]?.count !== 1) problems.push('the refused read was retried');
    if (historyCounts(app, 'setup-gsp-9').timers > 0) problems.push('the step was retried');
    await app.control('/faults', undefined, 'DELETE');
    cells.push({ name: `setup graph GET ${GRAPH_SP_PATH} 403 Authorization_RequestDenied`, problems });
    expect(problems).toEqual([]);
  });
});

describe("Entra's OpenID metadata, fetched by every sign-in with a new secret", () => {
  let openId = '';

  beforeAll(() => {
    openId = pathPatternOf(`/${app.endpoints.tenantId}/v2.0/.well-known/openid-configuration`, 'none');
  });

  async function inject(t: TransientFault): Promise<void> {
    await app.control('/faults', { service: 'entra', method: 'GET', pathPattern: openId, ...faultBody(t) });
  }

  it('setup survives every transient fault on it', async () => {
    const problems: string[] = [];
    for (const [i, t] of TRANSIENT_FAULTS.entries()) {
      const name = `setup entra GET openid-configuration ${faultName(t)}`;
      const environmentId = OIDC_ENVIRONMENTS[i] ?? '';
      await inject(t);
      const cell = await setUp(app, keeper, environmentId);
      const calls = (await app.control<{ calls: CallRecord[] }>('/calls')).calls;
      if (unconsumed(app) > 0 || !calls.some((c) => c.status === t.status && /openid-configuration$/.test(c.path))) cell.push('the fault was never hit');
      // Five in a row outlast the identity library's own retries: the orchestration retries the step.
      if (t.count > 3 && historyCounts(app, `setup-${environmentId}`).timers === 0) cell.push('no durable retry');
      await app.control('/calls', undefined, 'DELETE');
      await app.control('/faults', undefined, 'DELETE');
      cells.push({ name, problems: cell });
      problems.push(...cell.map((p) => `${name}: ${p}`));
    }
    expect(problems).toEqual([]);
  }, 80_000);

  it('rotation survives every transient fault on it, two live credentials during the grace period and one after', async () => {
    expect(await setUp(app, keeper, 'oidc-rotation')).toEqual([]);
    const problems: string[] = [];
    for (const t of TRANSIENT_FAULTS) {
      const name = `rotation entra GET openid-configuration ${faultName(t)}`;
      const before = endState(app, 'oidc-rotation');
      const previous = before.versions[before.versions.length - 1]?.keyId ?? '';
      keeper.watchGrace('rotate-oidc-rotation', 'oidc-rotation');
      const cell: string[] = [];
      const reply = await app.api('POST', '/api/environments/oidc-rotation/rotate', {});
      if (reply.status !== 202) cell.push(`rotate answered ${reply.status}`);
      else {
        await inject(t);
        const status = await drive(app, keeper, 'rotate-oidc-rotation');
        const grace = keeper.graceStates.get('rotate-oidc-rotation');
        if (status.runtimeStatus !== 'Completed') cell.push(`${status.runtimeStatus}: ${JSON.stringify(status.output).slice(0, 300)}`);
        else if (!grace) cell.push('the grace period passed unobserved');
        else {
          cell.push(...rotationProblems(grace, previous, 'grace').map((p) => `during grace: ${p}`));
          cell.push(...rotationProblems(endState(app, 'oidc-rotation'), previous, 'done').map((p) => `after grace: ${p}`));
        }
        if (unconsumed(app) > 0) cell.push('the fault was never hit');
      }
      await app.control('/faults', undefined, 'DELETE');
      keeper.unwatch('rotate-oidc-rotation');
      cells.push({ name, problems: cell });
      problems.push(...cell.map((p) => `${name}: ${p}`));
    }
    expect(problems).toEqual([]);
  }, 80_000);
});

describe('Entra replication lag and secret propagation as the sandbox emulates them, for every call at once', () => {
  it('setup and rotation complete while fresh objects stay invisible for 30 s and a new secret is refused for 30 s', async () => {
    await app.control('/settings', { secretPropagationSeconds: 30, replicationLagSeconds: 30 });
    try {
      await app.control('/calls', undefined, 'DELETE');
      const setup = await setUp(app, keeper, 'lagged');
      const calls = (await app.control<{ calls: CallRecord[] }>('/calls')).calls;
      // The lag was real: fresh objects were not found and the new secret was refused at first.
      const lagged = calls.filter((c) => (c.service === 'graph' && [400, 404].includes(c.status) && !c.path.includes('uniqueName')) || (c.service === 'entra' && c.status === 401));
      const retries = historyCounts(app, 'setup-lagged').timers;
      cells.push({ name: 'setup with 30 s replication lag and 30 s secret propagation', problems: setup });
      expect(setup).toEqual([]);

      const before = endState(app, 'lagged');
      keeper.watchGrace('rotate-lagged', 'lagged');
      expect((await app.api('POST', '/api/environments/lagged/rotate', {})).status).toBe(202);
      const status = await drive(app, keeper, 'rotate-lagged');
      const grace = keeper.graceStates.get('rotate-lagged');
      const previous = before.versions[0]?.keyId ?? '';
      const rotation = [
        ...(status.runtimeStatus === 'Completed' ? [] : [`rotation ${status.runtimeStatus}`]),
        ...(grace ? rotationProblems(grace, previous, 'grace') : ['the grace period passed unobserved']),
        ...rotationProblems(endState(app, 'lagged'), previous, 'done'),
      ];
      cells.push({ name: 'rotation with 30 s secret propagation', problems: rotation });

      expect(setup).toEqual([]);
      expect(lagged.length).toBeGreaterThanOrEqual(2);
      expect(retries).toBeGreaterThanOrEqual(2);
      expect(rotation).toEqual([]);
    } finally {
      await app.control('/settings', { secretPropagationSeconds: 0, replicationLagSeconds: 0 });
    }
  });
});

it('tried every cell once: each transient fault on the three runs, the refusal, and setup and rotation under lag', () => {
  const names = cells.map((c) => c.name);
  expect(names).toHaveLength(3 * TRANSIENT_FAULTS.length + 1 + 2);
  expect(new Set(names).size).toBe(names.length);
});
