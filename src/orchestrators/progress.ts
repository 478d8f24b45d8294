/**
 * Step-by-step progress of a run, published as the orchestration's custom status so the HTTP API and
 * the dashboard can show each step and what the run waits for. Replay-safe: it only calls
 * `setCustomStatus`, whose last value per turn is what the host keeps.
 */
import type { OrchestrationContext } from 'durable-functions';
import type { OperationStatus, StepState, StepStatus, WaitingFor } from '../contracts/operations';

/**
 * Longest step detail kept in the status. The whole custom status must stay under the Durable extension's
 * 16 KB of UTF-16 JSON (https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-custom-orchestration-status):
 * twelve steps at this length and a person's instructions fit (test/orchestrations/statusSize.test.ts).
 * A failure's full text stays in the run's output and the alert.
 */
export const MAX_DETAIL_CHARS = 400;

function bounded(detail: string): string {
  return detail.length <= MAX_DETAIL_CHARS ? detail : `${detail.slice(0, MAX_DETAIL_CHARS - 1)}…`;
}

export class Progress {
  private readonly steps: StepState[];
  private waiting: WaitingFor | undefined;

  constructor(
    private readonly context: OrchestrationContext,
    stepNames: readonly string[],
  ) {
    this.steps = stepNames.map((name) => ({ name, status: 'pending' }));
    this.publish();
  }

  set(name: string, status: StepStatus, detail?: string): void {
    const step = this.steps.find((s) => s.name === name);
    if (!step) throw new Error(`unknown step ${name}`);
    step.status = status;
    if (detail === undefined) delete step.detail;
    else step.detail = bounded(detail);
    this.publish();
  }

  statusOf(name: string): StepStatus | undefined {
    return this.steps.find((s) => s.name === name)?.status;
  }

  waitFor(waiting: WaitingFor | undefined): void {
    this.waiting = waiting;
    this.publish();
  }

  /** Marks every step skipped (a run that found its environment held by another run). */
  skipAll(detail: string): void {
    for (const step of this.steps) {
      step.status = 'skipped';
      step.detail = detail;
    }
    this.waiting = undefined;
    this.publish();
  }

  /** Marks the running or waiting step failed (when the run is about to fail). */
  failCurrent(detail: string): void {
    const step = this.steps.find((s) => s.status === 'running' || s.status === 'waiting');
    if (step) {
      step.status = 'failed';
      step.detail = bounded(detail);
    }
    this.waiting = undefined;
    this.publish();
  }

  private publish(): void {
    const status: OperationStatus = { steps: this.steps.map((s) => ({ ...s })) };
    if (this.waiting) status.waitingFor = this.waiting;
    this.context.df.setCustomStatus(status);
  }
}
