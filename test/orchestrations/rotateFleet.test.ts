/**
 * The emergency rotation's pacing, on the local durable driver with fake activities and virtual time:
 * waves every 10 s, each within the documented limits (Key Vault creations per vault, Graph writes per
 * tenant), tenants in turn; environments with a run already active are reported, not started twice;
 * the whole fleet finishes within the time the limits allow plus one wave.
 */
import { FLEET_ROTATION_ORCHESTRATION, DOCUMENTED_LIMITS, limitBoundSeconds, nextWave, waveCapacity, type FleetEnvironment, type FleetRotationReport } from '../../src/contracts/fleet';
import { fakes } from './fakes';
import { startHarness, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => fakes.reset());

function fleet(tenants: number, perTenant: number): FleetEnvironment[] {
  const out: FleetEnvironment[] = [];
  for (let t = 0; t < tenants; t++) for (let e = 0; e < perTenant; e++) out.push({ environmentId: `t${t}-env-${e}`, tenantId: `tenant-${t}` });
  return out;
}

describe('waves', () => {
  it('stay within every limit: Key Vault creations and other calls per vault, Graph writes per tenant', () => {
    const cap = waveCapacity(DOCUMENTED_LIMITS, 0.9);
    expect(cap).toEqual({ total: 270, perTenant: 90 });
  });

  it('take tenants in turn and never more than a tenant may have', () => {
    const queue = [...fleet(1, 100), ...fleet(3, 5).map((e) => ({ ...e, tenantId: `small-${e.tenantId}` }))];
    const { wave } = nextWave(queue, { total: 30, perTenant: 10 });
    const perTenant = new Map<string, number>();
    for (const e of wave) perTenant.set(e.tenantId, (perTenant.get(e.tenantId) ?? 0) + 1);
    expect(perTenant.get('tenant-0')).toBe(10);
    expect([...perTenant.values()].every((n) => n <= 10)).toBe(true);
    expect(wave).toHaveLength(25);
  });
});

it('starts every environment once, in paced waves, reporting those with a run already active', async () => {
  const environments = fleet(20, 50);
  fakes.on('listFleetEnvironments', () => ({ environments }));
  fakes.on('startRotations', (i) => ({ started: i.environmentIds.filter((id) => id !== 't3-env-7'), alreadyRunning: i.environmentIds.filter((id) => id === 't3-env-7') }));
  const id = h.runtime.durable.startNew(FLEET_ROTATION_ORCHESTRATION, { instanceId: 'fleet-rotate', input: { graceHours: 0, limits: DOCUMENTED_LIMITS, share: 0.9 } });
  const start = h.clock.now();
  const status = await h.runUntilQuiet(id, 1000);
  expect(status.runtimeStatus).toBe('Completed');
  const report = status.output as FleetRotationReport;
  expect(report).toMatchObject({ total: 1000, started: 999, alreadyRunning: 1, remaining: 0, skipped: ['t3-env-7'] });
  const calls = fakes.callsOf('startRotations');
  const all = calls.flatMap((c) => c.environmentIds);
  expect(new Set(all).size).toBe(1000);
  expect(all).toHaveLength(1000);
  for (const c of calls) expect(c.environmentIds.length).toBeLessThanOrEqual(270);
  // Graph writes per tenant: ≤ 90 rotations (180 writes) per tenant per 10 s wave, i.e. ≤ 2,700 of 3,000 per 150 s.
  for (const c of calls) {
    const perTenant = new Map<string, number>();
    for (const e of c.environmentIds) perTenant.set(e.split('-env-')[0]!, (perTenant.get(e.split('-env-')[0]!) ?? 0) + 1);
    expect(Math.max(...perTenant.values())).toBeLessThanOrEqual(90);
  }
  const elapsedS = (h.clock.now() - start) / 1000;
  const bound = limitBoundSeconds(environments, DOCUMENTED_LIMITS);
  expect(elapsedS).toBeLessThanOrEqual(bound / 0.9 + 10);
  expect(h.custom(id)).toMatchObject({ total: 1000, started: 999, remaining: 0 });
});
