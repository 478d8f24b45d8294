/**
 * Timer and Event Grid triggers: schedules fire when the injected clock reaches them (once, past due,
 * after a long jump), timer functions can start orchestrations, functions can be run on demand, and
 * Event Grid events are delivered with a success or failure the sender can act on.
 */
import './helpers/functionsCore';
import { removeDirs, startTestRuntime, TEST_KEY, type TestRuntime } from './helpers/runtime';
import { probe } from './fixtures/probe';

let t: TestRuntime;

beforeAll(async () => {
  t = await startTestRuntime();
});

afterAll(async () => {
  await t.stop();
  removeDirs(t.dirs);
});

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function secretEvent(subject: string, data: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt-${subject}-${Math.random().toString(16).slice(2)}`,
    topic: '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
    subject,
    eventType: 'Microsoft.KeyVault.SecretNearExpiry',
    eventTime: new Date(t.clock.now()).toISOString(),
    data: { Id: `https://kv.vault.azure.net/secrets/${subject}/v1`, VaultName: 'kv', ObjectType: 'Secret', ObjectName: subject, Version: 'v1', ...data },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

describe('timer triggers', () => {
  it('fires on schedule, and once with isPastDue after a long jump', async () => {
    expect(probe.timerRuns).toHaveLength(0);
    t.clock.advance(4 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(probe.timerRuns).toHaveLength(0);

    t.clock.advance(60_000); // 00:05
    await until(() => probe.timerRuns.length === 1, 'the first sweep');
    expect(probe.timerRuns[0]).toEqual({ isPastDue: false, last: '2030-01-01T00:05:00.000Z', next: '2030-01-01T00:10:00.000Z' });

    t.clock.advance(60 * 60_000); // 01:05, twelve occurrences later
    await until(() => probe.timerRuns.length === 2, 'the catch-up sweep');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(probe.timerRuns).toHaveLength(2);
    expect(probe.timerRuns[1]).toEqual({ isPastDue: true, last: '2030-01-01T00:10:00.000Z', next: '2030-01-01T01:10:00.000Z' });
  });

  it('lets a timer function start an orchestration through the durable client', async () => {
    t.clock.set(Date.parse('2030-01-01T02:30:00.000Z'));
    await until(() => t.rt.durable.getStatus('nightly') !== undefined, 'the nightly orchestration');
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('nightly')?.runtimeStatus).toBe('Running');
  });

  it('runs a timer function on demand through the admin API, with the system key only', async () => {
    const before = probe.timerRuns.length;
    expect((await t.api('/admin/functions/sweep', { method: 'POST', body: '{}', key: null })).status).toBe(401);
    // A function key opens HTTP functions, not the host's admin API.
    expect((await t.api('/admin/functions/sweep', { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await t.api('/admin/functions/sweep', { method: 'POST', body: '{}', key: t.rt.systemKey })).status).toBe(202);
    await until(() => probe.timerRuns.length === before + 1, 'the on-demand sweep');
    expect(probe.timerRuns.at(-1)?.isPastDue).toBe(false);
  });
  it('tells when timer functions are idle: whenIdle runs what is due and waits for it to finish', async () => {
    const before = probe.timerRuns.length;
    t.clock.advance(5 * 60_000);
    expect(t.rt.timers.isIdle()).toBe(false);
    await t.rt.timers.whenIdle();
    expect(probe.timerRuns).toHaveLength(before + 1);
    expect(t.rt.timers.isIdle()).toBe(true);
  });
});

describe('Event Grid delivery', () => {
  it('delivers an event and reports success', async () => {
    const event = secretEvent('contoso-uat');
    expect(await t.rt.deliverEventGridEvent('secretEvents', event)).toEqual({ ok: true });
    expect(probe.eventGridEvents.at(-1)).toEqual({ id: event.id, instanceId: 'secret-contoso-uat' });
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('secret-contoso-uat')?.runtimeStatus).toBe('Running');
  });

  it('reports a failing function so the sender can redeliver', async () => {
    const failing = await t.rt.deliverEventGridEvent('secretEvents', secretEvent('broken', { fail: true }));
    expect(failing).toEqual({ ok: false, error: 'cannot handle this event' });
    // A redelivery for a still-running instance id collapses into the existing run: the start is refused.
    const again = await t.rt.deliverEventGridEvent('secretEvents', secretEvent('contoso-uat'));
    expect(again.ok).toBe(false);
    expect(again.error).toContain('already exists');
  });

  it('refuses events outside the Event Grid schema and unknown functions', async () => {
    const bad = await t.rt.deliverEventGridEvent('secretEvents', { subject: 'x' });
    expect(bad.ok).toBe(false);
    expect(bad.error).toContain('Event Grid schema');
    expect((await t.rt.deliverEventGridEvent('ping', secretEvent('x'))).ok).toBe(false);
  });

  it('answers the Event Grid webhook: validation handshake, delivery, failure, key', async () => {
    const url = `/runtime/webhooks/eventgrid?functionName=secretEvents&code=${encodeURIComponent(t.rt.systemKey)}`;
    const withFunctionKey = await t.api(`/runtime/webhooks/eventgrid?functionName=secretEvents&code=${encodeURIComponent(TEST_KEY)}`, { method: 'POST', key: null, body: '[]' });
    expect(withFunctionKey.status).toBe(401);
    const validation = await t.api(url, {
      method: 'POST',
      key: null,
      headers: { 'aeg-event-type': 'SubscriptionValidation', 'content-type': 'application/json' },
      body: JSON.stringify([{ ...secretEvent('v'), eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', data: { validationCode: 'abc-123' } }]),
    });
    expect(validation.status).toBe(200);
    expect(await validation.json()).toEqual({ validationResponse: 'abc-123' });

    const delivered = await t.api(url, {
      method: 'POST',
      key: null,
      headers: { 'aeg-event-type': 'Notification', 'content-type': 'application/json' },
      body: JSON.stringify([secretEvent('contoso-prod')]),
    });
    expect(delivered.status).toBe(202);
    expect(probe.eventGridEvents.at(-1)?.instanceId).toBe('secret-contoso-prod');

    const failed = await t.api(url, {
      method: 'POST',
      key: null,
      headers: { 'aeg-event-type': 'Notification' },
      body: JSON.stringify([secretEvent('broken', { fail: true })]),
    });
    expect(failed.status).toBe(500);

    const noKey = await t.api('/runtime/webhooks/eventgrid?functionName=secretEvents', { method: 'POST', key: null, body: '[]' });
    expect(noKey.status).toBe(401);
  });
});
