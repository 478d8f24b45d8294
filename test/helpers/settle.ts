/**
 * Waits after a clock jump until the app has caught up: no timer function due or running, no Event
 * Grid delivery pending, and the durable driver idle — several times in a row, since each can wake
 * another (a sweep starts a rotation, a rotation writes a Key Vault version that raises an event).
 */
import type { SandboxedApp } from '../../runtime/sandboxedApp';

export async function settle(app: SandboxedApp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the app did not settle');
    await new Promise((r) => setTimeout(r, 25));
    await app.runtime.durable.whenIdle({ timeoutMs: Math.max(1, deadline - Date.now()) });
    const pendingEvents = app.sandbox.eventGrid.events().some((e) => e.deliveries.some((d) => d.state === 'pending'));
    quiet = app.runtime.timers.isIdle() && !pendingEvents ? quiet + 1 : 0;
  }
}
