/**
 * One run per environment, atomically. One environment is hammered over HTTP with setup and rotate
 * requests, spread over a few hundred milliseconds, while the drift check runs again and again: exactly
 * one run acts, every other request is answered 409 naming the active run or its run ends `superseded`
 * having scheduled nothing, the environment ends as one clean run leaves it, and its lock is free again.
 * Positive control: two starts through the product's own start path that check at the same moment
 * (held at a barrier between the check and the start, bypassing the HTTP layer) both pass the check
 * "is a run of this environment active?" and both start — what check-then-start alone allows — and
 * only the run lock, a durable entity, makes one of them end superseded.
 */
import type { InstanceStatus } from '../../runtime';
import { HistoryEventType } from '../../runtime/durable/history';
import { loadConfig } from '../../src/config';
import { RUN_LOCK_ENTITY, runOfInstanceId } from '../../src/contracts/names';
import type { RunHolder } from '../../src/contracts/operations';
import { buildRotationInput, buildSetupInput, startEnvironmentRun, type RunHost, type StartOutcome } from '../../src/functions/runs';
import { startTestApp, type TestApp } from '../helpers/app';
import { drive, endState, historyCounts, NEVER, rotationProblems, setupProblems, sleep, TimeKeeper } from './support';

const HAMMERED = 'hammer';
const CONTROL = 'lockctl';

let app: TestApp;
let keeper: TimeKeeper;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [HAMMERED, CONTROL], secretPropagationSeconds: 0 },
    // A rotation waits out an hour of grace before it revokes: it holds the environment until the clock is moved.
    appSettings: { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
});

afterAll(async () => {
  await app?.stop();
});

async function setUp(environmentId: string): Promise<void> {
  expect((await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) })).status).toBe(202);
  expect((await drive(app, keeper, `setup-${environmentId}`)).runtimeStatus).toBe('Completed');
  // Forgotten, so every run of the environment seen from here on was started by what the test does next.
  await app.runtime.durable.purge(`setup-${environmentId}`);
}

/** The environment's runs the task hub holds. */
function runsOf(environmentId: string): InstanceStatus[] {
  return app.runtime.durable.listInstances().filter((s) => runOfInstanceId(s.instanceId)?.environmentId === environmentId);
}

const outcomeOf = (s: InstanceStatus): string | undefined => (s.output as { outcome?: string } | null)?.outcome;

/** Drives every run of the environment to its end and sorts them into the one that acted and the superseded. */
async function settleRuns(environmentId: string): Promise<{ acting: InstanceStatus[]; superseded: InstanceStatus[]; all: InstanceStatus[] }> {
  const all: InstanceStatus[] = [];
  for (const run of runsOf(environmentId)) all.push(await drive(app, keeper, run.instanceId));
  return { all, acting: all.filter((s) => outcomeOf(s) !== 'superseded'), superseded: all.filter((s) => outcomeOf(s) === 'superseded') };
}

function expectSupersededBy(superseded: InstanceStatus[], acting: InstanceStatus): void {
  for (const s of superseded) {
    expect({ id: s.instanceId, status: s.runtimeStatus, activeRun: (s.output as { activeRun: RunHolder }).activeRun.instanceId }).toEqual({
      id: s.instanceId,
      status: 'Completed',
      activeRun: acting.instanceId,
    });
    // It ended at its claim: not one step of its own, so not one call to a service.
    expect({ id: s.instanceId, scheduled: historyCounts(app, s.instanceId).scheduled }).toEqual({ id: s.instanceId, scheduled: {} });
  }
}

function startsOf(instanceId: string): number {
  const history = app.runtime.durable.getStatus(instanceId, { showHistory: true })?.history ?? [];
  return history.filter((e) => e.EventType === HistoryEventType.ExecutionStarted).length;
}

function lockHolder(environmentId: string): RunHolder | null | undefined {
  return (app.runtime.durable.readEntityState(RUN_LOCK_ENTITY, environmentId)?.state as { holder: RunHolder | null } | undefined)?.holder;
}

/** The environment's end state against what the run that acted must leave: a clean setup, or a clean rotation from `previousKeyId`. */
function endProblems(environmentId: string, acting: InstanceStatus, previousKeyId: string): string[] {
  const state = endState(app, environmentId);
  return acting.name === 'rotateCredential' ? rotationProblems(state, previousKeyId, 'done') : setupProblems(state);
}

describe('one environment hammered over HTTP', () => {
  it('lets exactly one run act: the other requests are answered 409 or their runs end superseded, and the end state is clean', async () => {
    await setUp(HAMMERED);
    const previousKeyId = endState(app, HAMMERED).liveCredentials[0] ?? '';
    // Every call to a service takes 200 ms, so the run that acts (a dozen calls or more) is still acting
    // when the last request, sent 290 ms after the first, is checked.
    await app.control('/settings', { latencyMs: 200 });
    const kinds = ['setup', 'rotate', 'drift'] as const;
    const answers = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const kind = kinds[i % kinds.length]!;
        await sleep(i * 10);
        if (kind === 'drift') {
          const outcome = await app.runtime.timers.runNow('driftCheck');
          if (!outcome.ok) throw outcome.error;
          return { kind, status: 0, instanceId: undefined };
        }
        const body = kind === 'setup' ? { environmentUrl: app.environmentUrl(HAMMERED) } : {};
        const reply = await app.api<{ instanceId?: string }>('POST', `/api/environments/${HAMMERED}/${kind}`, body);
        return { kind, status: reply.status, instanceId: reply.body.instanceId };
      }),
    );
    await app.control('/settings', { latencyMs: 0 });

    const http = answers.filter((a) => a.kind !== 'drift');
    expect(http.filter((a) => a.status !== 202 && a.status !== 409)).toEqual([]);
    expect(http.filter((a) => a.status === 409).length).toBeGreaterThan(0);

    const { all, acting, superseded } = await settleRuns(HAMMERED);
    expect(acting.map((s) => s.instanceId)).toHaveLength(1);
    const winner = acting[0]!;
    expect(winner.runtimeStatus).toBe('Completed');
    expectSupersededBy(superseded, winner);
    // Every 409 named a run that exists; every 202 started one; no run was started twice.
    const ids = new Set(all.map((s) => s.instanceId));
    for (const a of http.filter((x) => x.status === 202)) expect(ids.has(a.instanceId ?? '')).toBe(true);
    expect(all.map((s) => [s.instanceId, startsOf(s.instanceId)])).toEqual(all.map((s) => [s.instanceId, 1]));

    expect(endProblems(HAMMERED, winner, previousKeyId)).toEqual([]);
    expect(lockHolder(HAMMERED)).toBeNull();
    process.stdout.write(`\nrun lock: ${answers.length} triggers, ${http.filter((a) => a.status === 409).length} answered 409, ${all.length} run(s) started, 1 acted (${winner.instanceId})\n`);
  }, 60_000);
});

describe('positive control: the check before a start does not keep two runs apart, the lock does', () => {
  it('two starts that check at the same moment both start; one acts, the other ends superseded', async () => {
    await setUp(CONTROL);
    const previousKeyId = endState(app, CONTROL).liveCredentials[0] ?? '';
    const driver = app.runtime.durable;
    // The product's start path over the task hub, with both starts held between their check and their start.
    let checked = 0;
    let releaseStarts: () => void = () => undefined;
    const bothChecked = new Promise<void>((resolve) => (releaseStarts = resolve));
    const host: RunHost = {
      status: (instanceId) => Promise.resolve(driver.getStatus(instanceId)),
      lockHolder: (environmentId) => Promise.resolve(lockHolder(environmentId) ?? undefined),
      start: async (orchestration, instanceId, input) => {
        checked += 1;
        if (checked === 2) releaseStarts();
        await bothChecked;
        driver.startNew(orchestration, { instanceId, input });
      },
    };
    const config = loadConfig(app.appSettings);
    const url = app.environmentUrl(CONTROL);
    const outcomes: StartOutcome[] = await Promise.all([
      startEnvironmentRun(host, 'setup', buildSetupInput(CONTROL, url, { environmentUrl: url }, config)),
      startEnvironmentRun(host, 'rotation', buildRotationInput(CONTROL, 'manual', config)),
    ]);
    // What check-then-start alone allows: both saw no active run, and both were started.
    expect(outcomes).toEqual([
      { started: true, instanceId: `setup-${CONTROL}` },
      { started: true, instanceId: `rotate-${CONTROL}` },
    ]);

    const { acting, superseded } = await settleRuns(CONTROL);
    expect(acting).toHaveLength(1);
    expect(superseded).toHaveLength(1);
    expect(acting[0]!.runtimeStatus).toBe('Completed');
    expectSupersededBy(superseded, acting[0]!);
    expect(endProblems(CONTROL, acting[0]!, previousKeyId)).toEqual([]);
    expect(lockHolder(CONTROL)).toBeNull();
  }, 60_000);
});
