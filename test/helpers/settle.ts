/**
 * Waits after a clock jump until the app has caught up: no timer function due or running, no Event
 * Grid delivery pending, and the durable driver idle — twice in a row with a turn of the event loop
 * in between, since each can wake another (a sweep starts a rotation, a rotation writes a Key Vault
 * version that raises an event). The runtime's own signals tell when its parts are idle; only a
 * pending Event Grid delivery (the emulator has no signal) is waited out in short steps.
 */
import type { SandboxedApp } from '../../runtime/sandboxedApp';

function deliveriesPending(app: SandboxedApp): boolean {
  return app.sandbox.eventGrid.events().some((e) => e.deliveries.some((d) => d.state === 'pending'));
}

export async function settle(app: SandboxedApp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 2) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('the app did not settle');
    await app.runtime.durable.whenIdle({ timeoutMs: left });
    await app.runtime.timers.whenIdle();
    if (deliveriesPending(app)) {
      quiet = 0;
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    // Each part was idle just now: let callbacks queued meanwhile (pokes, deliveries due at once) run, then look again.
    await new Promise((r) => setTimeout(r, 1));
    const idle = app.runtime.durable.isIdle() && app.runtime.timers.isIdle() && !deliveriesPending(app);
    quiet = idle ? quiet + 1 : 0;
  }
}
