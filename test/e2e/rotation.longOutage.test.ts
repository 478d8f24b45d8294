/**
 * F&O refusing new credentials for weeks, with short-lived secrets (a tenant policy allowing 45 days,
 * rotation 30 days ahead): every daily sweep retries and fails with an alert, yet F&O keeps sending
 * with the credential it holds until that one's own end, never more than two product credentials are
 * live, and the first sweep after F&O recovers puts a new credential in place.
 */
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ID = 'contoso-uat';

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: [ID], secretPropagationSeconds: 0, eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] } },
    appSettings: { SECRET_LIFETIME_DAYS: '45', ROTATION_LEAD_DAYS: '30', ROTATION_GRACE_HOURS: '24' },
  });
  f = fleetView(app);
});

afterAll(async () => {
  await app?.stop();
});

it('keeps F&O working with the credential it holds while delivery of new ones fails, and recovers', async () => {
  await f.setUp(ID);
  const held = f.finOpsKeyId(ID)!;
  await app.control('/faults', { service: 'finops', method: 'PATCH', pathPattern: 'GraphEmailCredentials', status: 403, count: 100_000 });

  // Day 15 the credential enters the lead time; until day 45 it is still valid and F&O relies on it.
  for (let day = 1; day <= 40; day += 1) {
    await app.advanceClock('P1D');
    await settle(app);
    expect({ day, moreThanTwoLive: f.liveProductCredentials(ID).length > 2 }).toEqual({ day, moreThanTwoLive: false });
    expect({ day, held: f.finOpsKeyId(ID) }).toEqual({ day, held });
    expect({ day, roles: await f.rolesWithWhatFinOpsHolds(ID) }).toEqual({ day, roles: expect.arrayContaining(['Mail.Send']) as unknown });
  }
  // Every daily attempt failed and said so: the sweep's rotation, or the drift run when both timers fired
  // at once (each day's jump makes them due together) and the drift run took the environment first.
  expect(f.rotationStarts(ID)).toBeGreaterThanOrEqual(20);
  const failures = f.alertLines(ID).filter((l) => l.message.includes(`Rotating the F&O email credential of ${ID} failed`));
  expect(failures.length).toBeGreaterThanOrEqual(20);

  await app.control('/faults', undefined, 'DELETE');
  await app.advanceClock('P1D');
  await settle(app);
  const replacing = await f.replacementInGracePeriod(ID);
  const delivered = f.finOpsKeyId(ID);
  expect(delivered).toBeDefined();
  expect(delivered).not.toBe(held);
  expect(delivered).toBe(f.currentVersion(ID).tags['credential-key-id']);
  expect(f.liveProductCredentials(ID).length).toBeLessThanOrEqual(2);
  expect(await f.rolesWithWhatFinOpsHolds(ID)).toContain('Mail.Send');

  await app.advanceClock('P2D');
  await settle(app);
  expect((await app.waitForOperation(replacing.instanceId)).runtimeStatus).toBe('Completed');
  expect(f.liveProductCredentials(ID).map((c) => c.keyId)).toEqual([delivered]);
  expect((await f.leaks()).leaks).toEqual([]);
}, 120_000);
