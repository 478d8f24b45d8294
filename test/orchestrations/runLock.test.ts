/**
 * One run per environment, whatever the interleaving: runs of different kinds started at the same
 * moment (past any check a trigger could make) end with exactly one acting and the others ending at
 * once without side effects; the environment is released when a run ends, failed or not; a claim left
 * by a terminated run is replaced only by a start that saw exactly that claim.
 */
import { buildDriftInput, buildRotationInput, buildSetupInput } from '../../src/functions/runs';
import type { RunClaimRef } from '../../src/contracts/operations';
import { fakes } from './fakes';
import { configWith, startHarness, type Harness } from './harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => fakes.reset());

const config = configWith({ DELIVERY_STRATEGY: 'manual', ROTATION_GRACE_HOURS: '0' });
const setup = (id: string) => buildSetupInput(id, `https://${id}.sandbox.operations.dynamics.com`, { environmentUrl: 'x' }, config);
const lock = (id: string) => h.runtime.durable.readEntityState('environmentRun', id)?.state as { holder: { instanceId: string; since: string } | null } | undefined;

describe('the run lock', () => {
  it('lets exactly one of three runs started together act; the others end at once, touching nothing', async () => {
    const env = 'together';
    const ids = [h.start('setup', setup(env)), h.start('rotation', buildRotationInput(env, 'manual', config)), h.start('drift', buildDriftInput(env, config))];
    await h.settle();
    const statuses = ids.map((i) => h.status(i));
    const superseded = statuses.filter((s) => (s.output as { outcome?: string } | null)?.outcome === 'superseded');
    const acting = statuses.filter((s) => s.runtimeStatus === 'Running');
    expect(acting).toHaveLength(1);
    expect(superseded).toHaveLength(2);
    for (const s of superseded) {
      expect(s.runtimeStatus).toBe('Completed');
      expect(s.output).toMatchObject({ environmentId: env, activeRun: { instanceId: acting[0]!.instanceId } });
      const steps = (s.customStatus as { steps: Array<{ status: string; detail?: string }> }).steps;
      expect(steps.every((step) => step.status === 'skipped' && step.detail === `another run of this environment is active: ${acting[0]!.instanceId}`)).toBe(true);
    }
    // Every activity call came from the run that holds the environment.
    expect(lock(env)?.holder?.instanceId).toBe(acting[0]!.instanceId);
    expect(new Set(fakes.calls.map((c) => (c.input as { environmentId: string }).environmentId))).toEqual(new Set([env]));
  });

  it('releases the environment when a run ends, and when it fails', async () => {
    fakes.on('registerApplication', () => ({ fail: { kind: 'permanent', service: 'graph', message: 'denied', action: 'Fix it.' } }));
    const failed = h.start('setup', setup('released'));
    await h.settle();
    expect(h.status(failed).runtimeStatus).toBe('Failed');
    expect(lock('released')?.holder).toBeNull();

    fakes.reset();
    const next = h.start('rotation', buildRotationInput('released', 'manual', configWith({ ROTATION_GRACE_HOURS: '0' })));
    await h.settle();
    expect(h.status(next).runtimeStatus).toBe('Completed');
    expect(lock('released')?.holder).toBeNull();
  });

  it('replaces a claim left by a terminated run only when the start saw exactly that claim', async () => {
    const env = 'stale';
    const first = h.start('setup', setup(env));
    await h.settle();
    expect(h.custom(first).waitingFor?.event).toBe('EmailParametersUpdated');
    h.runtime.durable.terminate(first, 'stopped by an operator');
    await h.settle();
    const stale = lock(env)?.holder;
    expect(stale?.instanceId).toBe(first);

    // Without the stale claim in hand, a new run of another kind is refused.
    const blind = h.start('rotation', buildRotationInput(env, 'manual', config));
    await h.settle();
    expect(h.status(blind).output).toMatchObject({ outcome: 'superseded', activeRun: { instanceId: first } });

    // A claim with the right instance but another time is not that claim.
    const wrong: RunClaimRef = { instanceId: first, since: '2000-01-01T00:00:00.000Z' };
    const mistaken = h.start('drift', { ...buildDriftInput(env, config), staleHolders: [wrong] });
    await h.settle();
    expect(h.status(mistaken).output).toMatchObject({ outcome: 'superseded' });

    const informed = h.start('rotation', { ...buildRotationInput(env, 'manual', config), staleHolders: [{ instanceId: stale!.instanceId, since: stale!.since }] });
    await h.settle();
    expect(h.status(informed).runtimeStatus).toBe('Running');
    expect(lock(env)?.holder?.instanceId).toBe(informed);
  });
});
