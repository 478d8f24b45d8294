/**
 * Persistence: a runtime started later on the same durable directory resumes every unfinished
 * instance: waiting ones still take their event or timer, and an activity whose completion was never
 * recorded runs again (activities run at least once).
 */
import './helpers/functionsCore';
import * as fs from 'node:fs';
import { ManualClock } from '../../runtime/clock';
import { removeDirs, startTestRuntime, tempDir, type TestRuntime } from './helpers/runtime';
import { probe } from './fixtures/probe';
import type { InstanceRecord } from '../../runtime/durable/store';
import { HistoryEventType } from '../../runtime/durable/history';

const dirs = { durable: tempDir('restart-durable'), logs: tempDir('restart-logs') };
const clock = new ManualClock();
let first: TestRuntime | undefined;
let second: TestRuntime | undefined;

afterAll(async () => {
  probe.gate.open();
  await first?.stop();
  await second?.stop();
  removeDirs(dirs);
});

function persisted(instanceId: string): InstanceRecord {
  return JSON.parse(fs.readFileSync(`${dirs.durable}/${instanceId}.json`, 'utf8')) as InstanceRecord;
}

it('resumes waiting instances and re-runs unrecorded activities after a restart', async () => {
  first = await startTestRuntime({ clock, dirs });
  first.rt.durable.startNew('approval', { instanceId: 'wait-1' });
  first.rt.durable.startNew('sequence', { instanceId: 'timer-1', input: { name: 'Fabrikam', waitMinutes: 60 } });
  probe.gate.close();
  first.rt.durable.startNew('blocking', { instanceId: 'block-1', input: 'block-1' });
  await first.rt.durable.waitFor('wait-1', (s) => s.runtimeStatus === 'Running');
  await first.rt.durable.waitFor('timer-1', (s) => (s.customStatus as { step?: string } | null)?.step === 'waiting');
  await first.rt.durable.waitFor('block-1', (s) => s.runtimeStatus === 'Running');
  expect(probe.activityCalls.get('block-1')).toBe(1);
  await first.stop();

  // The stopped driver abandoned the held activity: it still runs, and the driver can say when it has finished.
  let abandonedFinished = false;
  const abandoned = first.rt.durable.whenActivitiesSettled().then(() => {
    abandonedFinished = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(abandonedFinished).toBe(false);
  probe.gate.open();
  await abandoned;

  // What the first runtime left on disk: the abandoned activity's completion was not recorded, the timer is still armed.
  expect(persisted('block-1').pendingActivities.map((a) => a.name)).toEqual(['blockingStep']);
  expect(persisted('timer-1').pendingTimers).toHaveLength(1);
  expect(persisted('wait-1').runtimeStatus).toBe('Running');

  second = await startTestRuntime({ clock, dirs });
  const block = await second.rt.durable.waitForCompletion('block-1');
  expect(block.output).toBe('finished block-1');
  expect(probe.activityCalls.get('block-1')).toBe(2);

  const raised = await second.api('/api/instances/wait-1/raise', { method: 'POST', body: JSON.stringify('approved after restart') });
  expect(raised.status).toBe(202);
  expect((await second.rt.durable.waitForCompletion('wait-1')).output).toEqual({ decision: 'approved after restart' });

  clock.advance(60 * 60_000);
  await second.rt.durable.waitFor('timer-1', (s) => (s.customStatus as { step?: string } | null)?.step === 'awaiting-approval');
  second.rt.durable.raiseEvent('timer-1', 'approval', 'ok');
  const timer = await second.rt.durable.waitForCompletion('timer-1');
  expect(timer.output).toMatchObject({ greeting: 'Hello, Fabrikam!', approval: 'ok' });
  // The greeting was scheduled once, by the first runtime; after the restart its recorded result was replayed.
  const history = second.rt.durable.getStatus('timer-1', { showHistory: true })?.history ?? [];
  expect(history.filter((e) => e.EventType === HistoryEventType.TaskScheduled).map((e) => e.Name)).toEqual(['greet']);
});

