/**
 * Waiting for a person, shared by setup and rotation: consent, manual delivery, mailbox scoping. The run
 * publishes what it waits for and the instructions, notifies once, reminds every `reminderHours` on a
 * durable timer, optionally checks on its own (e.g. Graph shows consent) every `pollMinutes`, resumes on
 * the external event, and fails clearly at the timeout. Deterministic: only `context.df` APIs.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ExternalEventName, WaitingFor } from '../contracts/operations';
import { callActivity, StepFailedError } from './activityCalls';
import type { Progress } from './progress';

const HOUR = 3_600_000;
const MINUTE = 60_000;

/**
 * The longest durable timer the product creates. JavaScript durable timers are limited to six days
 * (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-timers); longer ones are
 * split by the SDK into sub-timers that `cancel()` does not stop, so an orchestration that chose an event
 * over such a timer would stay Running until the timer's end. Every wait wakes at least this often instead.
 */
export const MAX_TIMER_MS = 5 * 24 * HOUR;

/** Sleeps until `fireAt` in timers of at most `MAX_TIMER_MS`. */
export function* sleepUntil(context: OrchestrationContext, fireAt: number): Generator<Task, void, unknown> {
  while (context.df.currentUtcDateTime.getTime() < fireAt) {
    yield context.df.createTimer(new Date(Math.min(fireAt, context.df.currentUtcDateTime.getTime() + MAX_TIMER_MS)));
  }
}

export interface PersonWait {
  step: string;
  event: ExternalEventName;
  /** What the notices are about: an environment, or (a tenant's onboarding) a tenant. */
  environmentId?: string;
  tenantId?: string;
  /** Shown in the step's detail while waiting. */
  waitingDetail: string;
  instructions: WaitingFor['instructions'];
  timeoutHours: number;
  reminderHours: number;
  notice: { subject: string; lines: string[] };
  dashboardUrl?: string;
  /** What the timeout failure says and what to do then. */
  timeout: { message: string; action: string };
  /**
   * Optional self-check, run every `everyMinutes` and when the event arrives (`byEvent`): `true` (or
   * `{done: true}`) resolves the wait, with or without the event. Otherwise the wait goes on; `detail`
   * replaces the step's detail (what is still wrong), so an announcement the check contradicts is not
   * taken as done.
   */
  check?: { everyMinutes: number; run: (byEvent: boolean) => Generator<Task, CheckResult, unknown> };
}

export type CheckResult = boolean | { done: boolean; detail?: string };

function* runCheck(progress: Progress, wait: PersonWait, byEvent: boolean): Generator<Task, boolean, unknown> {
  if (!wait.check) return byEvent;
  const result = yield* wait.check.run(byEvent);
  if (typeof result === 'boolean') return result;
  if (!result.done && result.detail !== undefined) progress.set(wait.step, 'waiting', result.detail);
  return result.done;
}

export function* waitForPerson(context: OrchestrationContext, progress: Progress, wait: PersonWait): Generator<Task, void, unknown> {
  const start = context.df.currentUtcDateTime.getTime();
  const deadline = start + wait.timeoutHours * HOUR;
  const until = new Date(deadline).toISOString();
  progress.set(wait.step, 'waiting', wait.waitingDetail);
  progress.waitFor({ event: wait.event, until, instructions: wait.instructions });
  const lines = [
    ...wait.notice.lines,
    `This request times out at ${until}.`,
    ...(wait.dashboardUrl ? [`Dashboard: ${wait.dashboardUrl}`] : []),
  ];
  const about = wait.environmentId !== undefined ? { environmentId: wait.environmentId } : wait.tenantId !== undefined ? { tenantId: wait.tenantId } : {};
  yield* callActivity(context, 'notify', { ...about, kind: 'action-needed', subject: wait.notice.subject, lines });

  let nextReminder = start + wait.reminderHours * HOUR;
  // Every wait for the event this run armed whose announcement was not taken yet. The SDK (durable-functions
  // 3.x) hands an arriving event to the most recently armed wait of that name still on its list, and a wait
  // armed twice is listed twice: an announcement can therefore complete an earlier wait, or arrive while a
  // reminder or a check runs, and its Task.any only hears from children that complete after it was built.
  // So each Task.any gets a wait of its own, and any completed wait not taken yet is an announcement.
  const armed: Task[] = [];
  const takeAnnouncement = (): boolean => {
    const i = armed.findIndex((e) => e.isCompleted);
    if (i < 0) return false;
    armed.splice(i, 1);
    return true;
  };
  for (;;) {
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) {
      throw new StepFailedError(wait.step, { kind: 'permanent', service: 'product', message: wait.timeout.message, action: wait.timeout.action });
    }
    let announced = takeAnnouncement();
    if (!announced) {
      const wakeAt = Math.min(deadline, nextReminder, now + MAX_TIMER_MS, wait.check ? now + wait.check.everyMinutes * MINUTE : Number.POSITIVE_INFINITY);
      const event = context.df.waitForExternalEvent(wait.event);
      armed.push(event);
      const timer = context.df.createTimer(new Date(wakeAt));
      yield context.df.Task.any([event, timer]);
      announced = takeAnnouncement();
      if (announced && !timer.isCompleted) timer.cancel();
    }
    if (announced) {
      if (yield* runCheck(progress, wait, true)) break;
      // Announced but not visible yet (replication), or contradicted: keep checking, and listen for another announcement.
      continue;
    }
    const woke = context.df.currentUtcDateTime.getTime();
    if (woke >= nextReminder && woke < deadline) {
      yield* callActivity(context, 'notify', { ...about, kind: 'reminder', subject: `Reminder: ${wait.notice.subject}`, lines });
      nextReminder += wait.reminderHours * HOUR;
    }
    if (wait.check && woke < deadline && (yield* runCheck(progress, wait, false))) break;
  }
  progress.waitFor(undefined);
}
