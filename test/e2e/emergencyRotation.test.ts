/**
 * Emergency rotation over HTTP: `POST /api/fleet/rotate` rotates every environment now (or one
 * tenant's), one run at a time, each environment's rotation the ordinary one (new credential verified
 * and delivered, the old one revoked only afterwards). A second request while one runs is refused; a
 * bad body is refused; the run's status counts the waves.
 */
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = Array.from({ length: 8 }, (_, i) => `fleet-${i}`);
let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: ENVIRONMENTS, secretPropagationSeconds: 0 },
    appSettings: { ROTATION_SWEEP_SCHEDULE: '0 0 0 1 1 *', DRIFT_CHECK_SCHEDULE: '0 0 0 1 1 *' },
  });
  f = fleetView(app);
  for (const id of ENVIRONMENTS) {
    const reply = await app.api('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) });
    expect(reply.status).toBe(202);
  }
  for (const id of ENVIRONMENTS) expect((await app.waitForOperation(`setup-${id}`)).runtimeStatus).toBe('Completed');
}, 120_000);

afterAll(async () => {
  await app?.stop();
});

it('refuses a bad body, starting nothing', async () => {
  for (const body of [{ tenantId: 'contoso' }, { graceHours: -1 }, { surprise: true }]) {
    const reply = await app.api<{ field?: string }>('POST', '/api/fleet/rotate', body);
    expect(reply.status).toBe(400);
  }
  expect((await app.api('GET', '/api/operations/fleet-rotate')).status).toBe(404);
});

it('rotates every environment once, each keeping a working credential, and refuses a second run meanwhile', async () => {
  const before = new Map(ENVIRONMENTS.map((id) => [id, f.currentVersion(id).tags['credential-key-id']]));
  const started = await app.api<{ instanceId: string; statusUrl: string }>('POST', '/api/fleet/rotate', { graceHours: 0 });
  expect(started.status).toBe(202);
  expect(started.body.instanceId).toBe('fleet-rotate');
  const again = await app.api<{ statusUrl?: string }>('POST', '/api/fleet/rotate', {});
  expect(again.status).toBe(409);
  expect(again.body.statusUrl).toBe(started.body.statusUrl);
  // Waves 10 s apart (about two rotations a wave in one tenant: the sign-in log's limit): the clock moves past them.
  const done = await app.waitMovingClock('fleet-rotate', { step: 'PT10S' });
  expect({ status: done.runtimeStatus, error: done.error }).toEqual({ status: 'Completed', error: undefined });
  expect(done.output).toMatchObject({ total: ENVIRONMENTS.length, started: ENVIRONMENTS.length, alreadyRunning: 0, remaining: 0 });
  await settle(app);
  for (const id of ENVIRONMENTS) {
    const rotation = await app.waitForOperation(`rotate-${id}`);
    expect(rotation.runtimeStatus).toBe('Completed');
    const now = f.currentVersion(id).tags['credential-key-id'];
    expect(now).not.toBe(before.get(id));
    expect(f.liveProductCredentials(id).map((c) => c.keyId)).toEqual([now]);
    expect(f.finOpsKeyId(id)).toBe(now);
  }
});
