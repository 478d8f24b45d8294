/**
 * Step-by-step progress of a run, published as the orchestration's custom status so the HTTP API and
 * the dashboard can show each step and what the run waits for. Replay-safe: it only calls
 * `setCustomStatus`, whose last value per turn is what the host keeps.
 */
import type { OrchestrationContext } from 'durable-functions';
import type { OperationStatus, StepState, StepStatus, WaitingFor } from '../contracts/operations';

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
    else step.detail = detail;
    this.publish();
  }

  waitFor(waiting: WaitingFor | undefined): void {
    this.waiting = waiting;
    this.publish();
  }

  /** Marks the running or waiting step failed (when the run is about to fail). */
  failCurrent(detail: string): void {
    const step = this.steps.find((s) => s.status === 'running' || s.status === 'waiting');
    if (step) {
      step.status = 'failed';
      step.detail = detail;
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
