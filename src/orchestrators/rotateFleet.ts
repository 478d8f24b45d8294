/**
 * Orchestration `rotateFleet` (emergency rotation): lists the fleet (or one tenant's environments) and
 * starts their rotations in waves every `WAVE_SECONDS`, each wave as large as the documented service
 * limits allow (contracts/fleet.ts), tenants in turn. Each rotation is the ordinary run, with its own
 * lock, proof and revocation gate: an environment keeps a working credential throughout. An environment
 * that already has a run is left to it and reported. Progress (counts only) is the custom status.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import {
  limitBoundSeconds,
  nextWave,
  WAVE_SECONDS,
  waveCapacity,
  type FleetEnvironment,
  type FleetRotationInput,
  type FleetRotationReport,
  type FleetRotationStatus,
} from '../contracts/fleet';
import { callActivity } from './activityCalls';

export function* rotateFleet(context: OrchestrationContext): Generator<Task, FleetRotationReport, unknown> {
  const input = context.df.getInput<FleetRotationInput>();
  const listed = yield* callActivity(context, 'listFleetEnvironments', input.tenantId !== undefined ? { tenantId: input.tenantId } : {});
  const capacity = waveCapacity(input.limits, input.share);
  const status: FleetRotationStatus = {
    total: listed.environments.length,
    started: 0,
    alreadyRunning: 0,
    remaining: listed.environments.length,
    waves: 0,
    perWave: capacity.total,
    limitBoundSeconds: Math.ceil(limitBoundSeconds(listed.environments, input.limits)),
  };
  const skipped: string[] = [];
  context.df.setCustomStatus(status);
  let queue: FleetEnvironment[] = listed.environments;
  let credit: Record<string, number> = {};
  while (queue.length > 0) {
    const next = nextWave(queue, capacity, credit);
    const wave = next.wave;
    queue = next.rest;
    credit = next.credit;
    const waveStart = context.df.currentUtcDateTime.getTime();
    const outcome = yield* callActivity(context, 'startRotations', {
      environmentIds: wave.map((e) => e.environmentId),
      reason: 'emergency',
      graceHours: input.graceHours,
    });
    status.started += outcome.started.length;
    status.alreadyRunning += outcome.alreadyRunning.length;
    status.remaining = queue.length;
    status.waves += 1;
    skipped.push(...outcome.alreadyRunning);
    context.df.setCustomStatus(status);
    if (queue.length > 0) yield context.df.createTimer(new Date(waveStart + WAVE_SECONDS * 1000));
  }
  return { ...status, skipped };
}
