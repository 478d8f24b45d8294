/**
 * Child process of the fleet benchmark: the function app alone on the local runtime (the sandbox runs
 * in the parent), so its time and memory are measured without the emulated cloud's. The parent says
 * when to sweep; this process times `rotationSweep`, samples its resident set size meanwhile, then
 * waits for the rotations the sweep started and reports how they ended.
 */
import { startLocalRuntime, type LocalRuntime } from '../runtime';
import type { FleetCommand, FleetReply } from './fleetProtocol';

let runtime: LocalRuntime | undefined;
let sweepSummary: string | undefined;

function reply(message: FleetReply): void {
  process.send?.(message);
}

/** Peak resident set size of this process so far (Linux reports `maxRSS` in KiB). */
function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

async function handle(command: FleetCommand): Promise<void> {
  switch (command.type) {
    case 'start': {
      runtime = await startLocalRuntime({
        entry: command.entry,
        port: 0,
        rpcPort: 0,
        durableDir: command.durableDir,
        logsDir: command.logsDir,
        schedulerIntervalMs: command.schedulerIntervalMs,
        appSettings: command.appSettings,
        taskHubName: command.appSettings.DURABLE_TASK_HUB ?? 'FnoGraphMailBench',
        onLog: (entry) => {
          if (entry.message.startsWith('rotation sweep:')) sweepSummary = entry.message;
        },
      });
      reply({ type: 'ready', rssBytes: process.memoryUsage.rss() });
      return;
    }
    case 'sweep': {
      const app = required();
      const rssBeforeBytes = process.memoryUsage.rss();
      let sampledPeakRssBytes = rssBeforeBytes;
      const sampler = setInterval(() => {
        sampledPeakRssBytes = Math.max(sampledPeakRssBytes, process.memoryUsage.rss());
      }, 10);
      const startEpochMs = Date.now();
      const t0 = performance.now();
      const outcome = await app.timers.runNow('rotationSweep');
      const sweepMs = performance.now() - t0;
      const endEpochMs = Date.now();
      clearInterval(sampler);
      sampledPeakRssBytes = Math.max(sampledPeakRssBytes, process.memoryUsage.rss());
      reply({
        type: 'swept',
        ok: outcome.ok,
        ...(outcome.ok ? {} : { error: outcome.error.message }),
        startEpochMs,
        endEpochMs,
        sweepMs,
        summary: sweepSummary,
        rssBeforeBytes,
        sampledPeakRssBytes,
        maxRssBytes: maxRssBytes(),
      });
      return;
    }
    case 'waitRotations': {
      const app = required();
      const t0 = performance.now();
      const terminal = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);
      // A rotation that delivered its new credential then waits for F&O's sign-in with it before revoking
      // the previous one; here one stand-in F&O serves every environment, so that wait is not measured.
      const delivered = (r: { customStatus?: unknown }): boolean =>
        ((r.customStatus as { steps?: Array<{ name: string; status: string }> } | null | undefined)?.steps ?? []).some(
          (step) => step.name === 'deliverToFinOps' && step.status === 'succeeded',
        );
      const settled = (r: { runtimeStatus: string; customStatus?: unknown }): boolean => terminal.has(r.runtimeStatus) || delivered(r);
      let runs = app.durable.listInstances({ instanceIdPrefix: 'rotate-' });
      while (runs.some((r) => !settled(r)) && performance.now() - t0 < command.timeoutMs) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        runs = app.durable.listInstances({ instanceIdPrefix: 'rotate-' });
      }
      const byStatus: Record<string, number> = {};
      for (const r of runs) {
        const key = r.runtimeStatus === 'Running' && delivered(r) ? 'Delivered' : r.runtimeStatus;
        byStatus[key] = (byStatus[key] ?? 0) + 1;
      }
      const errors = runs.filter((r) => r.runtimeStatus === 'Failed').slice(0, 3).map((r) => `${r.instanceId}: ${String(r.output).slice(0, 300)}`);
      reply({ type: 'rotations', byStatus, waitedMs: performance.now() - t0, errors, maxRssBytes: maxRssBytes() });
      return;
    }
    case 'stop': {
      await runtime?.stop();
      runtime = undefined;
      reply({ type: 'stopped' });
      process.disconnect?.();
      return;
    }
  }
}

function required(): LocalRuntime {
  if (!runtime) throw new Error('the runtime has not been started');
  return runtime;
}

process.on('message', (message: FleetCommand) => {
  handle(message).catch((error: unknown) => {
    reply({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  });
});
