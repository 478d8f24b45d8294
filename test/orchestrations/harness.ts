/**
 * The orchestration tier's harness: the real orchestrators on the local durable driver (fake
 * activities, manual clock), with shortcuts to start a run as the triggers do, let it run until it
 * waits for something, jump the clock to its next timer, and read its steps.
 */
import '../runtime/helpers/functionsCore';
import * as path from 'node:path';
import { ManualClock } from '../../runtime/clock';
import { startLocalRuntime, type LocalRuntime } from '../../runtime';
import type { InstanceStatus } from '../../runtime/durable/driver';
import { HistoryEventType } from '../../runtime/durable/history';
import { loadConfig, type AppConfig } from '../../src/config';
import { instanceIds, tenantInstanceIds } from '../../src/contracts/names';
import { ORCHESTRATION_OF, TENANT_ORCHESTRATION_OF, type OperationStatus, type RunKind, type RunStart, type StepStatus, type TenantRunKind } from '../../src/contracts/operations';
import { tempDir } from '../runtime/helpers/runtime';
import { rmSync } from 'node:fs';

export const TENANT = '00000000-0000-0000-0000-00000000000a';

export function configWith(settings: Record<string, string> = {}): AppConfig {
  return loadConfig({ ENTRA_TENANT_ID: TENANT, KEY_VAULT_URL: 'https://kv.example.vault.azure.net', ...settings });
}

export interface Harness {
  runtime: LocalRuntime;
  clock: ManualClock;
  /** Starts a run under the instance id its trigger would use. */
  start(kind: RunKind, input: RunStart): string;
  /** Starts a tenant's run (partner mode) under the instance id its trigger would use. */
  startTenant(kind: TenantRunKind, input: { tenantId: string }): string;
  /** Runs until nothing moves without a timer or an event. */
  settle(): Promise<void>;
  /** Moves the clock to the run's next timer and settles; false when it has none. */
  nextTimer(instanceId: string): Promise<boolean>;
  /** Follows the run through its timers until it ends or waits for an event (at most `maxTimers`). */
  runUntilQuiet(instanceId: string, maxTimers?: number): Promise<InstanceStatus>;
  raise(instanceId: string, event: string, data?: unknown): Promise<void>;
  status(instanceId: string): InstanceStatus;
  steps(instanceId: string): Array<[string, StepStatus]>;
  detail(instanceId: string, step: string): string | undefined;
  custom(instanceId: string): OperationStatus;
  stop(): Promise<void>;
}

const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export async function startHarness(): Promise<Harness> {
  const clock = new ManualClock(Date.UTC(2030, 0, 1, 8, 0, 0));
  const dirs = { durable: tempDir('orch-durable'), logs: tempDir('orch-logs') };
  const runtime = await startLocalRuntime({
    entry: path.join(__dirname, 'fakeApp.ts'),
    port: 0,
    rpcPort: 0,
    durableDir: dirs.durable,
    logsDir: dirs.logs,
    schedulerIntervalMs: 1000,
    clock,
  });
  const driver = runtime.durable;
  const settle = (): Promise<void> => driver.whenIdle({ timeoutMs: 10_000 });
  const status = (instanceId: string): InstanceStatus => {
    const s = driver.getStatus(instanceId, { showHistory: true });
    if (!s) throw new Error(`no instance ${instanceId}`);
    return s;
  };
  const custom = (instanceId: string): OperationStatus => (status(instanceId).customStatus as OperationStatus | null) ?? { steps: [] };
  const nextTimer = async (instanceId: string): Promise<boolean> => {
    const history = status(instanceId).history ?? [];
    const fired = new Set(history.filter((e) => e.EventType === HistoryEventType.TimerFired).map((e) => e.TimerId));
    const pending = history
      .filter((e) => e.EventType === HistoryEventType.TimerCreated && !fired.has(e.EventId))
      .map((e) => Date.parse(e.FireAt ?? ''))
      .filter((t) => Number.isFinite(t))
      .sort((a, b) => a - b);
    const next = pending[0];
    if (next === undefined) return false;
    if (next > clock.now()) clock.set(next);
    await settle();
    return true;
  };
  return {
    runtime,
    clock,
    start: (kind, input) => driver.startNew(ORCHESTRATION_OF[kind], { instanceId: instanceIds[kind](input.environmentId), input }),
    startTenant: (kind, input) => driver.startNew(TENANT_ORCHESTRATION_OF[kind], { instanceId: tenantInstanceIds[kind](input.tenantId), input }),
    settle,
    nextTimer,
    async runUntilQuiet(instanceId, maxTimers = 200) {
      await settle();
      for (let i = 0; i < maxTimers && !TERMINAL.has(status(instanceId).runtimeStatus); i++) {
        if (custom(instanceId).waitingFor) break;
        if (!(await nextTimer(instanceId))) break;
      }
      return status(instanceId);
    },
    async raise(instanceId, event, data = {}) {
      driver.raiseEvent(instanceId, event, data);
      await settle();
    },
    status,
    steps: (instanceId) => custom(instanceId).steps.map((s) => [s.name, s.status]),
    detail: (instanceId, step) => custom(instanceId).steps.find((s) => s.name === step)?.detail,
    custom,
    async stop() {
      await runtime.stop();
      rmSync(dirs.durable, { recursive: true, force: true });
      rmSync(dirs.logs, { recursive: true, force: true });
    },
  };
}
