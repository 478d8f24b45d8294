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
  it('stay within every limit: Key Vault creations and other calls per vault; Graph writes and sign-in log reads per tenant', () => {
    const cap = waveCapacity(DOCUMENTED_LIMITS, 0.9);
    // Key Vault: 300 creations per 10 s × 0.9; per tenant: the sign-in log's 5 reads per 10 s × 0.9, two per rotation.
    expect(cap).toEqual({ total: 270, perTenant: 2.25 });
    // Without the sign-in log's limit (a run started before it was counted), Graph writes bound a tenant: 3,000 per 150 s.
    expect(waveCapacity({ ...DOCUMENTED_LIMITS, signInReadsPer10sPerTenant: 1000 }, 0.9)).toEqual({ total: 270, perTenant: 90 });
  });

  it('carry a fractional share of a tenant to its next wave, so the rate is kept, not rounded down', () => {
    let queue = fleet(2, 50);
    let credit: Record<string, number> = {};
    const sizes: number[][] = [];
    for (let i = 0; i < 8; i++) {
      const next = nextWave(queue, { total: 270, perTenant: 2.25 }, credit);
      sizes.push(['tenant-0', 'tenant-1'].map((t) => next.wave.filter((e) => e.tenantId === t).length));
      queue = next.rest;
      credit = next.credit;
    }
    // 2.25 per wave: 2, 2, 2, 3, then again; 18 in 8 waves (= 8 × 2.25) per tenant.
    expect(sizes.map((s) => s[0])).toEqual([2, 2, 2, 3, 2, 2, 2, 3]);
    expect(sizes.every(([a, b]) => a === b)).toBe(true);
    expect(queue).toHaveLength(100 - 2 * 18);
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
  // Per tenant: 2.25 rotations per 10 s wave on average (4.5 of the sign-in log's 5 reads), at most 3 in one wave.
  const started = new Map<string, number>();
  for (const c of calls) {
    const perTenant = new Map<string, number>();
    for (const e of c.environmentIds) perTenant.set(e.split('-env-')[0]!, (perTenant.get(e.split('-env-')[0]!) ?? 0) + 1);
    expect(Math.max(...perTenant.values())).toBeLessThanOrEqual(3);
    for (const [t, n] of perTenant) started.set(t, (started.get(t) ?? 0) + n);
  }
  const elapsedS = (h.clock.now() - start) / 1000;
  const bound = limitBoundSeconds(environments, DOCUMENTED_LIMITS);
  // 50 per tenant, two sign-in reads each, 5 reads per 10 s: 200 s.
  expect(bound).toBe(200);
  expect(elapsedS).toBeLessThanOrEqual(bound / 0.9 + 10);
  expect(elapsedS).toBeGreaterThanOrEqual(bound);
  expect(h.custom(id)).toMatchObject({ total: 1000, started: 999, remaining: 0 });
});
