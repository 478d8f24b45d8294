/**
 * Concurrency: twenty environments set up at once over HTTP while the rotation sweep runs again and
 * again over a fleet in which five environments are due (and Key Vault's near-expiry events for them
 * arrive too). Every run completes; each environment has exactly its own app, credential and secret,
 * F&O holds its own app's credential (no cross-talk), and each environment got exactly one run of each
 * kind it needed: one setup for the new ones, one rotation for the due ones.
 */
import { HistoryEventType } from '../../runtime/durable/history';
import { startTestApp, type TestApp } from '../helpers/app';
import { drive, endState, NEVER, rotationProblems, setupProblems, sleep, TimeKeeper, type EnvironmentEndState } from './support';

const NEW = Array.from({ length: 20 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
const DUE = Array.from({ length: 5 }, (_, i) => `due-${i}`);

let app: TestApp;
let keeper: TimeKeeper;
const before = new Map<string, EnvironmentEndState>();
let sweeps = 0;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [...DUE, ...NEW], secretPropagationSeconds: 1, eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] } },
    appSettings: { SECRET_LIFETIME_DAYS: '180', ROTATION_LEAD_DAYS: '30', ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
  // Five environments set up half a year ago: their credentials now expire within the lead time.
  for (const id of DUE) {
    expect((await app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) })).status).toBe(202);
  }
  for (const id of DUE) expect((await drive(app, keeper, `setup-${id}`)).runtimeStatus).toBe('Completed');
  for (const id of DUE) before.set(id, endState(app, id));
  await app.advanceClock('P155D');
}, 60_000);

afterAll(async () => {
  await app?.stop();
});

it('twenty setups started at once while sweeps run all complete', async () => {
  for (const id of DUE) keeper.watchGrace(`rotate-${id}`, id);
  let sweeping = true;
  const sweeper = (async () => {
    while (sweeping) {
      await app.runtime.timers.runNow('rotationSweep');
      sweeps += 1;
      await sleep(10);
    }
  })();
  const replies = await Promise.all(NEW.map((id) => app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) })));
  expect(replies.map((r) => r.status)).toEqual(NEW.map(() => 202));
  try {
    const setups = await Promise.all(NEW.map((id) => drive(app, keeper, `setup-${id}`, { timeoutMs: 90_000 })));
    expect(setups.filter((s) => s.runtimeStatus !== 'Completed').map((s) => `${s.instanceId}: ${JSON.stringify(s.output)}`)).toEqual([]);
  } finally {
    sweeping = false;
    await sweeper;
  }
  expect(sweeps).toBeGreaterThanOrEqual(3);
  // The due environments' rotations, started by the sweeps or by Key Vault's events, finish too.
  const rotations = await Promise.all(DUE.map((id) => drive(app, keeper, `rotate-${id}`, { timeoutMs: 60_000 })));
  expect(rotations.filter((s) => s.runtimeStatus !== 'Completed').map((s) => s.instanceId)).toEqual([]);
}, 120_000);

it('each new environment has exactly its own app, credential and Key Vault secret, and F&O holds its own app’s credential', () => {
  const problems = NEW.flatMap((id) => setupProblems(endState(app, id)).map((p) => `${id}: ${p}`));
  expect(problems).toEqual([]);
  const states = NEW.map((id) => endState(app, id));
  // No two environments share an app or a credential.
  expect(new Set(states.map((s) => s.appId)).size).toBe(NEW.length);
  expect(new Set(states.flatMap((s) => s.liveCredentials)).size).toBe(NEW.length);
  // Each Key Vault secret names its own environment and app; each F&O environment holds its own secret.
  for (const id of NEW) {
    const secret = app.sandbox.state.secrets.find((s) => s.name === `fno-graph-mail-${id}`);
    const version = secret?.versions[secret.versions.length - 1];
    const state = endState(app, id);
    expect({ id, env: version?.tags['environment-id'], app: version?.tags['app-id'], url: version?.tags['environment-url'] }).toEqual({
      id,
      env: id,
      app: state.appId,
      url: app.environmentUrl(id),
    });
    const held = app.sandbox.state.finops.find((e) => e.id === id)?.graphCredential.secret ?? '';
    expect(version?.value).toBe(held);
  }
});

it('each due environment was rotated once, with nothing orphaned, and without touching the others', () => {
  const problems = DUE.flatMap((id) => rotationProblems(endState(app, id), before.get(id)?.liveCredentials[0] ?? '', 'done').map((p) => `${id}: ${p}`));
  expect(problems).toEqual([]);
  const graceProblems = DUE.flatMap((id) => {
    const grace = keeper.graceStates.get(`rotate-${id}`);
    return grace ? rotationProblems(grace, before.get(id)?.liveCredentials[0] ?? '', 'grace').map((p) => `${id} during grace: ${p}`) : [`${id}: grace unobserved`];
  });
  expect(graceProblems).toEqual([]);
  // One rotation each: two Key Vault versions (the setup's, disabled, and the rotation's).
  expect(DUE.map((id) => endState(app, id).versions.length)).toEqual(DUE.map(() => 2));
});

it('one run per environment: one setup for each new environment and no rotation of them, one setup and one rotation for each due one', () => {
  const runs = app.runtime.durable.listInstances().map((s) => s.instanceId).sort();
  expect(runs).toEqual([...DUE.flatMap((id) => [`rotate-${id}`, `setup-${id}`]), ...NEW.map((id) => `setup-${id}`)].sort());
  // Only product code starts runs, each under the environment's own instance id: every one ran exactly one execution.
  for (const id of runs) {
    const history = app.runtime.durable.getStatus(id, { showHistory: true })?.history ?? [];
    expect({ id, starts: history.filter((e) => e.EventType === HistoryEventType.ExecutionStarted).length }).toEqual({ id, starts: 1 });
  }
});
