/**
 * A test app on port 0 is restarted on the same port (status URLs and the Event Grid subscription stay
 * valid). A port the kernel picks for a listener lies in its range for outgoing connections, where any
 * connection on the machine may take it while the runtime is down; the app's port lies below it.
 */
import { outgoingPortRange, restartablePorts } from '../../runtime/sandboxedApp';
import { startTestApp } from '../helpers/app';

it('offers ports below the range the kernel gives outgoing connections, and no privileged one', () => {
  const { low } = outgoingPortRange();
  const ports = [...restartablePorts(200)];
  // With little room below the range (under 1,024 unprivileged ports), none: the kernel picks then.
  expect(ports).toHaveLength(low - 1025 < 1024 ? 0 : 200);
  for (const port of ports) {
    expect(port).toBeGreaterThan(1024);
    expect(port).toBeLessThan(low);
  }
  if (ports.length > 0) expect(new Set(ports).size).toBeGreaterThan(1);
});

it('a test app listens on such a port and comes back on it after a restart', async () => {
  const app = await startTestApp();
  try {
    const before = new URL(app.runtime.url);
    expect(Number(before.port)).toBeLessThan(outgoingPortRange().low);
    await app.restartRuntime();
    expect(app.runtime.url).toBe(before.origin);
    expect((await app.api('GET', '/api/environments')).status).toBe(200);
  } finally {
    await app.stop();
  }
});
