/**
 * The durable driver end to end: orchestrations started over HTTP by a durable client function run
 * their activities, update custom status, wait for timers that fire when the injected clock jumps,
 * resume on external events, retry with RetryOptions, fail visibly, and replay deterministically.
 */
import './helpers/functionsCore';
import { removeDirs, startTestRuntime, type TestRuntime } from './helpers/runtime';
import { probe } from './fixtures/probe';
import type { HistoryEvent } from '../../runtime/durable/history';
import { HistoryEventType } from '../../runtime/durable/history';

let t: TestRuntime;

beforeAll(async () => {
  t = await startTestRuntime();
});

afterAll(async () => {
  await t.stop();
  removeDirs(t.dirs);
});

async function start(name: string, input: unknown, instanceId?: string): Promise<{ status: number; body: Record<string, string>; headers: Headers }> {
  const res = await t.api(`/api/orchestrators/${name}${instanceId ? `/${instanceId}` : ''}`, {
    method: 'POST',
    body: input === undefined ? '' : JSON.stringify(input),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, body: (await res.json()) as Record<string, string>, headers: res.headers };
}

function eventsOf(history: HistoryEvent[] | undefined, type: HistoryEventType): HistoryEvent[] {
  return (history ?? []).filter((e) => e.EventType === type);
}

describe('an orchestration started over HTTP', () => {
  it('runs activities, waits for a timer and an event, and completes', async () => {
    const started = await start('sequence', { name: 'Contoso', waitMinutes: 60 }, 'seq-1');
    expect(started.status).toBe(202);
    expect(started.body.id).toBe('seq-1');
    expect(started.headers.get('location')).toBe(started.body.statusQueryGetUri);

    // The activity ran and the orchestration now waits for its timer.
    await t.rt.durable.whenIdle();
    let status = t.rt.durable.getStatus('seq-1', { showHistory: true });
    expect(status?.runtimeStatus).toBe('Running');
    expect(status?.customStatus).toEqual({ step: 'waiting', greeting: 'Hello, Contoso!' });
    const [timer] = eventsOf(status?.history, HistoryEventType.TimerCreated);
    expect(Date.parse(timer?.FireAt ?? '')).toBe(t.clock.now() + 60 * 60_000);

    // Not yet: 59 minutes later the timer has not fired.
    t.clock.advance(59 * 60_000);
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('seq-1')?.customStatus).toEqual({ step: 'waiting', greeting: 'Hello, Contoso!' });

    t.clock.advance(60_000);
    await t.rt.durable.waitFor('seq-1', (s) => (s.customStatus as { step?: string } | null)?.step === 'awaiting-approval');

    // The status link works with the key it carries, and reports the custom status.
    const polled = await fetch(started.body.statusQueryGetUri ?? '');
    expect(polled.status).toBe(202);
    expect(await polled.json()).toMatchObject({ runtimeStatus: 'Running', customStatus: { step: 'awaiting-approval' }, input: { name: 'Contoso' } });

    // Raise the event through the sendEventPostUri template, as a person following the links would.
    const raised = await fetch((started.body.sendEventPostUri ?? '').replace('{eventName}', 'approval'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice' }),
    });
    expect(raised.status).toBe(202);

    status = await t.rt.durable.waitForCompletion('seq-1');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ greeting: 'Hello, Contoso!', approval: { by: 'alice' }, timerFireAt: expect.any(String) });

    const done = await fetch(started.body.statusQueryGetUri ?? '');
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ runtimeStatus: 'Completed', output: { approval: { by: 'alice' } } });
  });

  it('tells whoever follows a run what it waits on, and when that changes', async () => {
    let changes = 0;
    const unsubscribe = t.rt.durable.onChange(() => {
      changes += 1;
    });
    t.rt.durable.startNew('sequence', { instanceId: 'watched-1', input: { name: 'Fabrikam', waitMinutes: 30 } });
    const created = t.rt.durable.pendingWork('watched-1');
    expect(created).toMatchObject({ runtimeStatus: 'Pending', episodePending: true, activities: 0, timers: [] });
    expect(t.rt.durable.isIdle()).toBe(false);

    // The greeting ran; now only the 30-minute timer is left.
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.isIdle()).toBe(true);
    const waiting = t.rt.durable.pendingWork('watched-1');
    expect(waiting).toMatchObject({ runtimeStatus: 'Running', episodePending: false, activities: 0, timers: [t.clock.now() + 30 * 60_000] });
    expect(waiting?.revision).toBeGreaterThan(created?.revision ?? Infinity);
    expect(changes).toBeGreaterThan(0);

    // A due timer is work: not idle until it has fired and the episode ran. An unsubscribed listener hears nothing.
    unsubscribe();
    const heard = changes;
    t.clock.advance(30 * 60_000);
    expect(t.rt.durable.isIdle()).toBe(false);
    await t.rt.durable.waitFor('watched-1', (s) => (s.customStatus as { step?: string } | null)?.step === 'awaiting-approval');
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.pendingWork('watched-1')).toMatchObject({ episodePending: false, activities: 0, timers: [] });
    expect(changes).toBe(heard);
    expect(t.rt.durable.pendingWork('no-such-instance')).toBeUndefined();
    t.rt.durable.terminate('watched-1');
    await t.rt.durable.waitForCompletion('watched-1');
  });

  it('rejects management links without the key', async () => {
    const started = await start('approval', undefined, 'keyless');
    const url = new URL(started.body.statusQueryGetUri ?? '');
    url.searchParams.delete('code');
    expect((await fetch(url)).status).toBe(401);
    url.searchParams.set('code', 'wrong');
    expect((await fetch(url)).status).toBe(401);
  });

  it('serves the unmodified DurableClient: status, raise, terminate, purge, list', async () => {
    await start('approval', undefined, 'client-ops');
    await t.rt.durable.whenIdle();

    const status = (await (await t.api('/api/instances/client-ops/status')).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ name: 'approval', instanceId: 'client-ops', runtimeStatus: 'Running', customStatus: 'waiting for approval' });

    const listed = (await (await t.api('/api/instances?status=Running')).json()) as Array<{ instanceId: string }>;
    expect(listed.map((s) => s.instanceId)).toContain('client-ops');

    const raised = await t.api('/api/instances/client-ops/raise?event=approval', { method: 'POST', body: JSON.stringify('yes') });
    expect(raised.status).toBe(202);
    expect((await t.rt.durable.waitForCompletion('client-ops')).output).toEqual({ decision: 'yes' });

    // Raising to a finished instance is accepted and ignored (the extension answers 410, the client swallows it).
    expect((await t.api('/api/instances/client-ops/raise', { method: 'POST', body: '1' })).status).toBe(202);
    // An unknown instance is an error the client reports.
    const unknown = await t.api('/api/instances/nobody/raise', { method: 'POST', body: '1' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: "No instance with ID 'nobody' found." });

    const purged = (await (await t.api('/api/instances/client-ops/purge', { method: 'DELETE' })).json()) as { instancesDeleted: number };
    expect(purged.instancesDeleted).toBe(1);
    expect(t.rt.durable.getStatus('client-ops')).toBeUndefined();
  });

  it('terminates a running instance with the given reason', async () => {
    await start('approval', undefined, 'to-terminate');
    await t.rt.durable.whenIdle();
    expect((await t.api('/api/instances/to-terminate/terminate', { method: 'POST' })).status).toBe(202);
    const status = await t.rt.durable.waitForCompletion('to-terminate');
    expect(status.runtimeStatus).toBe('Terminated');
    expect(status.output).toBe('stopped by the operator');
  });

  it('refuses to start an instance id that is still running, and reuses a finished one', async () => {
    await start('approval', undefined, 'dup');
    const second = await start('approval', undefined, 'dup');
    expect(second.status).toBe(409);
    expect(second.body.error).toContain('An Orchestration instance with the status');
    expect(second.body.error).toContain('already exists');

    t.rt.durable.raiseEvent('dup', 'approval', 'first');
    await t.rt.durable.waitForCompletion('dup');
    const third = await start('approval', undefined, 'dup');
    expect(third.status).toBe(202);
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('dup')?.runtimeStatus).toBe('Running');
  });

  it('refuses an unknown orchestrator with the extension message', async () => {
    const res = await start('noSuchOrchestrator', undefined);
    expect(res.status).toBe(409);
    expect(res.body.error).toContain("The function 'noSuchOrchestrator' doesn't exist, is disabled, or is not an orchestrator function");
  });

  it('builds management links on the runtime host', async () => {
    const links = (await (await t.api('/api/instances/some-id/links')).json()) as Record<string, string>;
    expect(links.statusQueryGetUri?.startsWith(`${t.rt.url}/runtime/webhooks/durabletask/instances/some-id?`)).toBe(true);
  });

  it('passes activity inputs the way the extension does (strings stay strings)', async () => {
    await start('inputs', undefined, 'inputs-1');
    const status = await t.rt.durable.waitForCompletion('inputs-1');
    expect(status.output).toEqual({ text: { received: 'plain text', type: 'string' }, object: { received: { n: 1 }, type: 'object' } });
  });
});

describe('retries, fan-out, long timers and failures', () => {
  it('retries an activity with backoff capped by maxRetryInterval, on the injected clock', async () => {
    t.rt.durable.startNew('retrying', { instanceId: 'retry-ok', input: { key: 'retry-ok', failTimes: 2, maxAttempts: 4 } });
    await t.rt.durable.whenIdle();
    let history = t.rt.durable.getStatus('retry-ok', { showHistory: true })?.history;
    const firstFailure = eventsOf(history, HistoryEventType.TaskFailed)[0];
    expect(firstFailure?.Reason).toContain("Activity function 'flaky' failed: flaky failure 1 for retry-ok");
    const [firstTimer] = eventsOf(history, HistoryEventType.TimerCreated);
    expect(Date.parse(firstTimer?.FireAt ?? '')).toBe(t.clock.now() + 60_000);

    t.clock.advance(60_000);
    await t.rt.durable.whenIdle();
    history = t.rt.durable.getStatus('retry-ok', { showHistory: true })?.history;
    const timers = eventsOf(history, HistoryEventType.TimerCreated);
    expect(timers).toHaveLength(2);
    // Second delay: 60 s × 3 = 180 s, capped at 150 s.
    expect(Date.parse(timers[1]?.FireAt ?? '')).toBe(t.clock.now() + 150_000);

    t.clock.advance(150_000);
    const status = await t.rt.durable.waitForCompletion('retry-ok');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ attempts: 3 });
    expect(probe.activityCalls.get('retry-ok')).toBe(3);
  });

  it('fails with the last error once the attempts are used up', async () => {
    t.rt.durable.startNew('retrying', { instanceId: 'retry-exhausted', input: { key: 'retry-exhausted', failTimes: 9, maxAttempts: 2 } });
    await t.rt.durable.whenIdle();
    t.clock.advance(60_000);
    const status = await t.rt.durable.waitForCompletion('retry-exhausted');
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toContain("Orchestrator function 'retrying' failed");
    expect(status.output).toContain('flaky failure 2 for retry-exhausted');
    expect(probe.activityCalls.get('retry-exhausted')).toBe(2);
  });

  it('surfaces an activity failure as Failed with the error message', async () => {
    t.rt.durable.startNew('failing', { instanceId: 'fail-1' });
    const status = await t.rt.durable.waitForCompletion('fail-1');
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toContain('boom: the vault refused the request');
    expect(status.customStatus).toEqual({ step: 'exploding' });
    const res = await t.api('/api/instances/fail-1/status');
    expect(await res.json()).toMatchObject({ runtimeStatus: 'Failed' });
  });

  it('runs Task.all in parallel and resumes Task.any on the event before the deadline', async () => {
    t.rt.durable.startNew('fanOut', { instanceId: 'fan-1', input: { names: ['a', 'b', 'c'] } });
    await t.rt.durable.whenIdle();
    const history = t.rt.durable.getStatus('fan-1', { showHistory: true })?.history;
    expect(eventsOf(history, HistoryEventType.TaskScheduled).map((e) => e.EventId)).toEqual([0, 1, 2]);
    expect(eventsOf(history, HistoryEventType.TimerCreated).map((e) => e.EventId)).toEqual([3]);
    t.rt.durable.raiseEvent('fan-1', 'approval', 'bob');
    const status = await t.rt.durable.waitForCompletion('fan-1');
    expect(status.output).toEqual({ greetings: ['Hello, a!', 'Hello, b!', 'Hello, c!'], outcome: 'approved', by: 'bob' });
  });

  it('times out Task.any when the clock passes the deadline', async () => {
    t.rt.durable.startNew('fanOut', { instanceId: 'fan-2', input: { names: ['x'] } });
    await t.rt.durable.whenIdle();
    t.clock.advance(30 * 60_000);
    const status = await t.rt.durable.waitForCompletion('fan-2');
    expect(status.output).toEqual({ greetings: ['Hello, x!'], outcome: 'timed-out' });
  });

  it('delivers an event to the newest waiter when one event task is reused across Task.any rounds', async () => {
    t.rt.durable.startNew('pollLoop', { instanceId: 'poll-1' });
    await t.rt.durable.whenIdle();
    t.clock.advance(10 * 60_000); // round 0 times out
    await t.rt.durable.whenIdle();
    t.clock.advance(10 * 60_000); // round 1 times out
    await t.rt.durable.whenIdle();
    t.rt.durable.raiseEvent('poll-1', 'ConsentGranted', { granted: true });
    const status = await t.rt.durable.waitForCompletion('poll-1', { timeoutMs: 5000 });
    expect(status.output).toEqual({ round: 2, value: { granted: true }, confirmation: 'Hello, round 2!' });
  });

  it('keeps an event raised before anyone waits for it', async () => {
    t.rt.durable.startNew('sequence', { instanceId: 'early-event', input: { name: 'Early', waitMinutes: 5 } });
    await t.rt.durable.whenIdle();
    t.rt.durable.raiseEvent('early-event', 'approval', 'given early');
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('early-event')?.runtimeStatus).toBe('Running');
    t.clock.advance(5 * 60_000);
    expect((await t.rt.durable.waitForCompletion('early-event')).output).toMatchObject({ approval: 'given early' });
  });

  it('splits a ten-day timer into intervals the way the extension does', async () => {
    t.rt.durable.startNew('longWait', { instanceId: 'long-1' });
    await t.rt.durable.whenIdle();
    const startedAt = t.clock.now();
    for (let day = 1; day <= 10; day++) {
      t.clock.advance(24 * 3600_000);
      await t.rt.durable.whenIdle();
    }
    const status = await t.rt.durable.waitForCompletion('long-1');
    expect(status.output).toBe('woke up');
    const history = t.rt.durable.getStatus('long-1', { showHistory: true })?.history;
    const fireTimes = eventsOf(history, HistoryEventType.TimerCreated).map((e) => (Date.parse(e.FireAt ?? '') - startedAt) / (24 * 3600_000));
    expect(fireTimes).toEqual([3, 6, 10]);
  });
});

describe('instance lifecycle', () => {
  it('continues as new with the new input and a fresh history', async () => {
    t.rt.durable.startNew('counter', { instanceId: 'counter-1', input: 1 });
    const status = await t.rt.durable.waitForCompletion('counter-1');
    expect(status.output).toEqual({ n: 3, echoed: { received: 3, type: 'number' } });
    expect(status.input).toBe(3);
    const history = t.rt.durable.getStatus('counter-1', { showHistory: true })?.history ?? [];
    expect(eventsOf(history, HistoryEventType.ExecutionStarted).map((e) => e.Input)).toEqual(['3']);
  });

  it('holds events while suspended and resumes through the management links', async () => {
    const started = await start('approval', undefined, 'suspend-1');
    await t.rt.durable.whenIdle();
    const suspend = await fetch(started.body.suspendPostUri?.replace('{text}', 'maintenance') ?? '', { method: 'POST' });
    expect(suspend.status).toBe(202);
    expect(t.rt.durable.getStatus('suspend-1')?.runtimeStatus).toBe('Suspended');

    t.rt.durable.raiseEvent('suspend-1', 'approval', 'while suspended');
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('suspend-1')?.runtimeStatus).toBe('Suspended');

    const resume = await fetch(started.body.resumePostUri?.replace('{text}', 'done') ?? '', { method: 'POST' });
    expect(resume.status).toBe(202);
    expect((await t.rt.durable.waitForCompletion('suspend-1')).output).toEqual({ decision: 'while suspended' });
    // A finished instance cannot be suspended any more.
    expect((await fetch(started.body.suspendPostUri?.replace('{text}', 'late') ?? '', { method: 'POST' })).status).toBe(410);
  });
});

describe('determinism', () => {
  it('replays a recorded complete history to the same actions and output', async () => {
    t.rt.durable.startNew('fanOut', { instanceId: 'replay-1', input: { names: ['r', 's'] } });
    await t.rt.durable.whenIdle();
    t.rt.durable.raiseEvent('replay-1', 'approval', 'carol');
    const status = await t.rt.durable.waitForCompletion('replay-1');

    const first = await t.rt.durable.replay('replay-1');
    const second = await t.rt.durable.replay('replay-1');
    expect(first.outcome.kind).toBe('state');
    expect(first.outcome.state?.isDone).toBe(true);
    // The engine took the extension's offer (upperSchemaVersionNew) and replays with schema V3.
    expect(first.outcome.state?.schemaVersion).toBe(2);
    expect(first.outcome.state?.output).toEqual(status.output);
    expect(JSON.stringify(second.outcome.state?.actions)).toBe(JSON.stringify(first.outcome.state?.actions));
    // Nothing new would be scheduled: every action is already in the history.
    expect(first.decisions?.activities).toEqual([]);
    expect(first.decisions?.timers).toEqual([]);
    expect(t.rt.durable.getStatus('replay-1')?.runtimeStatus).toBe('Completed');
  });

  it('fails an orchestration whose code no longer matches its history', async () => {
    probe.variant = 'a';
    t.rt.durable.startNew('drifting', { instanceId: 'drift-1' });
    await t.rt.durable.whenIdle();
    expect(t.rt.durable.getStatus('drift-1')?.runtimeStatus).toBe('Running');
    probe.variant = 'b';
    t.rt.durable.raiseEvent('drift-1', 'go');
    const status = await t.rt.durable.waitForCompletion('drift-1');
    probe.variant = 'a';
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toContain('Non-Deterministic workflow detected');
    expect(status.output).toContain("activity 'echoInput'");
  });
});

describe('the Durable extension limits the local runtime enforces', () => {
  it('fails an orchestration whose custom status is over 16 KB of UTF-16 JSON, and keeps one at the limit', async () => {
    // {"text":"xxx…"} is 11 characters around the text: 8,192 characters of JSON are 16,384 bytes in UTF-16.
    const atLimit = t.rt.durable.startNew('loudStatus', { instanceId: 'status-at-limit', input: 8192 - 11 });
    const over = t.rt.durable.startNew('loudStatus', { instanceId: 'status-over-limit', input: 8192 - 10 });
    const fine = await t.rt.durable.waitForCompletion(atLimit);
    expect(fine.runtimeStatus).toBe('Completed');
    expect(JSON.stringify(fine.customStatus).length * 2).toBe(16_384);
    const failed = await t.rt.durable.waitForCompletion(over);
    expect(failed.runtimeStatus).toBe('Failed');
    expect(String(failed.output)).toMatch(/custom status is 16386 bytes of UTF-16 JSON, more than the 16384 bytes/);
  });

  it('carries inputs, activity payloads, events and outputs well over 64 KB, as the Azure Storage provider does (it moves large messages to blobs)', async () => {
    // https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider (large messages)
    const text = 'x'.repeat(200_000);
    const id = t.rt.durable.startNew('bigPayloads', { instanceId: 'big-payloads', input: { text } });
    await t.rt.durable.waitFor(id, (s) => s.runtimeStatus === 'Running' && (s.history ?? []).length >= 0);
    await t.rt.durable.whenIdle({ timeoutMs: 10_000 });
    t.rt.durable.raiseEvent(id, 'big', { text: 'y'.repeat(150_000) });
    const done = await t.rt.durable.waitForCompletion(id);
    expect({ status: done.runtimeStatus, output: done.runtimeStatus === 'Completed' ? undefined : done.output }).toEqual({ status: 'Completed', output: undefined });
    expect(done.output).toEqual({ input: 200_000, echoed: 200_000, event: 150_000, same: true });
  });
});
