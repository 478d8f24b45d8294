/**
 * Verify before deliver: F&O only ever receives a credential that has been shown to work (a token
 * acquired with it carries `Mail.Send`). A setup whose new secret Entra refuses, and a rotation whose new
 * secret yields a token without `Mail.Send` (someone revoked the consent), fail at `verifyCredential`
 * without one request to F&O: F&O holds nothing (setup) or keeps the credential it has, which stays
 * live (rotation). Positive control: in a clean setup and a clean rotation F&O does receive the new
 * credential, and only after its verification completed, as the run's history shows.
 */
import type { CallRecord } from '../../sandbox/types';
import { HistoryEventType } from '../../runtime/durable/history';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { drive, FAST_RETRY_PACING, NEVER, stepsOf, TimeKeeper } from './support';

const REFUSED = 'verify-a';
const REVOKED = 'verify-b';
const CLEAN = 'verify-c';

let app: TestApp;
let keeper: TimeKeeper;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [REFUSED, REVOKED, CLEAN], secretPropagationSeconds: 0 },
    appSettings: { ROTATION_GRACE_HOURS: '0', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
    retryPacing: FAST_RETRY_PACING,
  });
  keeper = new TimeKeeper(app);
  f = fleetView(app);
});

afterAll(async () => {
  await app?.stop();
});

/** Calls to the environment's F&O among `calls` (the sandbox serves each environment on its own listener). */
function finOpsCalls(calls: CallRecord[]): CallRecord[] {
  return calls.filter((c) => c.service === 'finops');
}

async function start(kind: 'setup' | 'rotate', environmentId: string): Promise<{ runtimeStatus: string; calls: CallRecord[]; failedStep: string | undefined }> {
  const before = app.sandbox.state.calls.length;
  const body = kind === 'setup' ? { environmentUrl: app.environmentUrl(environmentId) } : {};
  expect((await app.api('POST', `/api/environments/${environmentId}/${kind}`, body)).status).toBe(202);
  const status = await drive(app, keeper, `${kind}-${environmentId}`);
  return { runtimeStatus: status.runtimeStatus, calls: app.sandbox.state.calls.slice(before), failedStep: stepsOf(status.customStatus).find((s) => s.status === 'failed')?.name };
}

/**
 * Where in the run's history verification completed and delivery was scheduled (history is in order):
 * delivery comes after verification, or not at all.
 */
function historyOrder(instanceId: string): { verified: number; delivery: number } {
  const history = app.runtime.durable.getStatus(instanceId, { showHistory: true })?.history ?? [];
  const scheduled = history.find((e) => e.EventType === HistoryEventType.TaskScheduled && e.Name === 'verifyCredential');
  return {
    verified: history.findIndex((e) => e.EventType === HistoryEventType.TaskCompleted && e.TaskScheduledId === scheduled?.EventId),
    delivery: history.findIndex((e) => e.EventType === HistoryEventType.TaskScheduled && e.Name === 'deliverToFinOps'),
  };
}

/** F&O received a credential (the credential entity written) among `calls`. */
const credentialWritten = (calls: CallRecord[]): boolean => calls.some((c) => c.service === 'finops' && c.method === 'PATCH' && c.path.includes('GraphEmailCredentials'));

describe('a credential that does not work never reaches F&O', () => {
  it('setup: Entra refuses the new secret; the run fails at verifyCredential with no request to F&O', async () => {
    await app.control('/faults', {
      service: 'entra',
      method: 'POST',
      pathPattern: '/token$',
      concerning: `fno-graph-mail-${REFUSED}`,
      status: 401,
      count: 1000,
      code: 'invalid_client',
      message: 'AADSTS7000215: Invalid client secret provided.',
    });
    const run = await start('setup', REFUSED);
    await app.control('/faults', undefined, 'DELETE');
    expect([run.runtimeStatus, run.failedStep]).toEqual(['Failed', 'verifyCredential']);
    expect(historyOrder(`setup-${REFUSED}`)).toEqual({ verified: -1, delivery: -1 });
    expect(finOpsCalls(run.calls)).toEqual([]);
    expect(f.finOps(REFUSED).graphCredential).toMatchObject({ applicationId: null, secret: null });
    expect(f.currentVersion(REFUSED).tags.delivered).toBeUndefined();
  }, 60_000);

  it('rotation: consent was revoked, so the new secret yields no Mail.Send; F&O keeps its credential, which stays live', async () => {
    expect((await start('setup', REVOKED)).runtimeStatus).toBe('Completed');
    const held = f.finOpsKeyId(REVOKED);
    expect(held).toBeDefined();
    await app.control('/revoke-consent', { appId: f.application(REVOKED).appId });
    const run = await start('rotate', REVOKED);
    expect([run.runtimeStatus, run.failedStep]).toEqual(['Failed', 'verifyCredential']);
    const op = await app.api<{ error?: string }>('GET', `/api/operations/rotate-${REVOKED}`);
    expect(op.body.error).toMatch(/does not carry the Mail\.Send role/);
    expect(historyOrder(`rotate-${REVOKED}`)).toEqual({ verified: -1, delivery: -1 });
    expect(finOpsCalls(run.calls)).toEqual([]);
    expect(f.finOpsKeyId(REVOKED)).toBe(held);
    expect(f.liveProductCredentials(REVOKED).map((c) => c.keyId)).toContain(held);
  }, 60_000);
});

describe('positive control: a credential that works reaches F&O, after its verification', () => {
  it('setup', async () => {
    const run = await start('setup', CLEAN);
    expect(run.runtimeStatus).toBe('Completed');
    expect(credentialWritten(run.calls)).toBe(true);
    const order = historyOrder(`setup-${CLEAN}`);
    expect(order.verified).toBeGreaterThan(0);
    expect(order.delivery).toBeGreaterThan(order.verified);
    expect(f.finOpsKeyId(CLEAN)).toBe(f.currentVersion(CLEAN).tags['credential-key-id']);
  });

  it('rotation', async () => {
    const previous = f.finOpsKeyId(CLEAN);
    const run = await start('rotate', CLEAN);
    expect(run.runtimeStatus).toBe('Completed');
    expect(credentialWritten(run.calls)).toBe(true);
    const order = historyOrder(`rotate-${CLEAN}`);
    expect(order.verified).toBeGreaterThan(0);
    expect(order.delivery).toBeGreaterThan(order.verified);
    expect(f.finOpsKeyId(CLEAN)).not.toBe(previous);
    expect(f.finOpsKeyId(CLEAN)).toBe(f.currentVersion(CLEAN).tags['credential-key-id']);
  });
});
