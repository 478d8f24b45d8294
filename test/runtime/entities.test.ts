/**
 * Durable entities on the local runtime: an orchestration calls and signals an entity and gets the
 * answers in the order it sent them; a failing operation reaches the caller as a failure; a durable
 * client reads an entity's state and signals it; requests from many orchestrations at once never
 * interleave; the state and queued requests survive a restart; the recorded history replays.
 */
import './helpers/functionsCore';
import { HistoryEventType } from '../../runtime/durable/history';
import { removeDirs, startTestRuntime, type TestRuntime } from './helpers/runtime';

let t: TestRuntime;

beforeAll(async () => {
  t = await startTestRuntime();
});

afterAll(async () => {
  await t.stop();
  removeDirs(t.dirs);
});

describe('durable entities', () => {
  it('answers calls in the order they were sent, signals included, and reports a failed operation to the caller', async () => {
    const id = t.rt.durable.startNew('useCounter', { instanceId: 'counter-a', input: 'a' });
    const status = await t.rt.durable.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ afterAdd: 2, afterSignal: 12, refused: true });
    expect(t.rt.durable.readEntityState('Tally', 'a')).toEqual({ state: 12 });

    const history = t.rt.durable.getStatus(id, { showHistory: true })?.history ?? [];
    const sent = history.filter((e) => e.EventType === HistoryEventType.EventSent);
    // Four messages (three calls and one signal), each with its own sequence number, to the entity's scheduler id.
    expect(sent.map((e) => [e.EventId, e.InstanceId])).toEqual([
      [0, '@tally@a'],
      [1, '@tally@a'],
      [2, '@tally@a'],
      [3, '@tally@a'],
    ]);
    const answered = history.filter((e) => e.EventType === HistoryEventType.EventRaised).map((e) => e.Name);
    const callIds = sent.filter((e) => (JSON.parse(e.Input ?? '{}') as { signal?: boolean }).signal === false).map((e) => (JSON.parse(e.Input ?? '{}') as { id: string }).id);
    expect(answered).toEqual(callIds);

    // The recorded history replays to the same result and schedules nothing new.
    const replayed = await t.rt.durable.replay(id);
    expect(replayed.outcome.kind).toBe('state');
    expect(replayed.decisions?.entityMessages).toEqual([]);
  });

  it('lets a durable client read the state and signal the entity', async () => {
    expect((await t.api('/api/counters/b')).status).toBe(404);
    expect((await t.api('/api/counters/b?by=5', { method: 'POST' })).status).toBe(202);
    expect((await t.api('/api/counters/b?by=4', { method: 'POST' })).status).toBe(202);
    await t.rt.durable.whenIdle();
    const read = await t.api('/api/counters/b');
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ value: 9 });
  });

  it('runs the operations of many callers one at a time', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => t.rt.durable.startNew('useCounter', { instanceId: `counter-c-${i}`, input: 'c' }));
    const outputs = await Promise.all(ids.map(async (id) => (await t.rt.durable.waitForCompletion(id)).output as { afterAdd: number }));
    // Each add saw a distinct value: no two operations read the same state.
    const seen = outputs.map((o) => o.afterAdd);
    expect(new Set(seen).size).toBe(ids.length);
    expect(t.rt.durable.readEntityState('Tally', 'c')).toEqual({ state: 12 * 12 });
  });
});

describe('durable entities across a restart', () => {
  it('keeps the state and the queued requests', async () => {
    const first = await startTestRuntime();
    const dirs = first.dirs;
    try {
      first.rt.durable.signalEntity('Tally', 'r', 'add', 7);
      await first.rt.durable.whenIdle();
      // Queue a request and stop at once: the scheduler's next pass never comes.
      first.rt.durable.signalEntity('Tally', 'r', 'add', 1);
      await first.rt.durable.stop();
      expect(first.rt.durable.readEntityState('Tally', 'r')).toEqual({ state: 7 });
    } finally {
      await first.stop();
    }
    const second = await startTestRuntime({ dirs });
    try {
      await second.rt.durable.whenIdle();
      expect(second.rt.durable.readEntityState('Tally', 'r')).toEqual({ state: 8 });
    } finally {
      await second.stop();
      removeDirs(dirs);
    }
  });
});
