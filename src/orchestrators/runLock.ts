/**
 * One run per environment, atomically: a durable entity `environmentRun` (keyed by the environment
 * id) that admits one run at a time. Entity operations are executed one after another, so two runs
 * that started at the same moment (a person's setup and the sweep's rotation, say) cannot both take
 * the environment — the strict guarantee that checking for an active run before starting one cannot
 * give (Microsoft's singleton guidance: "If strict single-instance guarantees are required, consider
 * adding additional locking mechanisms",
 * https://learn.microsoft.com/azure/durable-task/common/durable-task-singletons).
 *
 * Every run claims the environment first. A run that finds it held ends at once without side effects
 * (`SupersededRun`); the holder releases it when it ends, whether it succeeded or failed. A holder
 * that was terminated from outside never releases: the run starter passes such a claim, seen held by
 * a run that is no longer active, as `staleHolders`, and the new claim replaces exactly that claim
 * (instance and time), never one made since.
 */
import * as df from 'durable-functions';
import type { EntityContext, OrchestrationContext, Task } from 'durable-functions';
import { RUN_LOCK_ENTITY } from '../contracts/names';
import type { RunClaimRef, RunHolder, RunStart, SupersededRun } from '../contracts/operations';

export interface RunLockState {
  holder: RunHolder | null;
}

interface ClaimInput {
  holder: RunHolder;
  staleHolders: RunClaimRef[];
}

export type ClaimResult = { acquired: true } | { acquired: false; holder: RunHolder };

/** The entity: `claim` takes the environment when free (or held by this run, or by a stale holder); `release` frees it for its holder only. */
export function environmentRunEntity(context: EntityContext<RunLockState>): void {
  const state = context.df.getState(() => ({ holder: null })) ?? { holder: null };
  switch (context.df.operationName) {
    case 'claim': {
      const input = context.df.getInput<ClaimInput>();
      if (!input) throw new Error('claim needs its holder');
      const held = state.holder;
      const stale = held !== null && input.staleHolders.some((s) => s.instanceId === held.instanceId && s.since === held.since);
      if (held === null || held.instanceId === input.holder.instanceId || stale) {
        context.df.setState({ holder: input.holder });
        context.df.return({ acquired: true } satisfies ClaimResult);
      } else {
        context.df.setState(state);
        context.df.return({ acquired: false, holder: held } satisfies ClaimResult);
      }
      return;
    }
    case 'release': {
      const input = context.df.getInput<{ instanceId: string }>();
      const released = state.holder !== null && state.holder.instanceId === input?.instanceId;
      context.df.setState(released ? { holder: null } : state);
      context.df.return({ released });
      return;
    }
    default:
      throw new Error(`unknown operation ${context.df.operationName ?? ''}`);
  }
}

export function runLockId(environmentId: string): df.EntityId {
  return new df.EntityId(RUN_LOCK_ENTITY, environmentId);
}

/**
 * Runs `body` holding the environment, or returns `SupersededRun` when another run holds it. The
 * environment is released however `body` ends (the release is awaited, so it is recorded before the
 * run's own completion or failure).
 */
export function* exclusiveRun<T>(
  context: OrchestrationContext,
  start: RunStart,
  kind: RunHolder['kind'],
  body: () => Generator<Task, T, unknown>,
  onSuperseded: (holder: RunHolder) => void,
): Generator<Task, T | SupersededRun, unknown> {
  const id = runLockId(start.environmentId);
  const holder: RunHolder = { instanceId: context.df.instanceId, kind, since: context.df.currentUtcDateTime.toISOString() };
  const claim = (yield context.df.callEntity(id, 'claim', { holder, staleHolders: start.staleHolders ?? [] } satisfies ClaimInput)) as ClaimResult;
  if (!claim.acquired) {
    onSuperseded(claim.holder);
    return { outcome: 'superseded', environmentId: start.environmentId, activeRun: claim.holder };
  }
  try {
    return yield* body();
  } finally {
    yield context.df.callEntity(id, 'release', { instanceId: holder.instanceId });
  }
}
