/**
 * Every kind of run keeps its custom status under the Durable extension's 16 KB of UTF-16 JSON, in the
 * worst case: every step with the longest detail the status keeps, and the longest instructions a run
 * publishes while it waits (manual delivery, consent; mailbox scoping keeps its commands out of it).
 */
import type { OrchestrationContext } from 'durable-functions';
import { RUN_STEPS, type OperationStatus, type RunKind } from '../../src/contracts/operations';
import { manualInstructions } from '../../src/activities/deliverToFinOps';
import { MAX_DETAIL_CHARS, Progress } from '../../src/orchestrators/progress';

const LIMIT_BYTES = 16 * 1024;

function capture(): { context: OrchestrationContext; last: () => OperationStatus } {
  let status: OperationStatus = { steps: [] };
  const context = { df: { setCustomStatus: (s: OperationStatus) => (status = JSON.parse(JSON.stringify(s)) as OperationStatus) } } as unknown as OrchestrationContext;
  return { context, last: () => status };
}

const utf16 = (status: OperationStatus): number => JSON.stringify(status).length * 2;

describe.each(Object.keys(RUN_STEPS) as RunKind[])('%s', (kind) => {
  it('fits in 16 KB with every step at the longest detail and the longest instructions', () => {
    const { context, last } = capture();
    const progress = new Progress(context, RUN_STEPS[kind]);
    // Long words and quotes, as error texts from services carry them.
    const long = '"Graph answered 400: "'.repeat(1000);
    for (const step of RUN_STEPS[kind]) progress.set(step, 'failed', long);
    for (const step of last().steps) expect(step.detail?.length).toBeLessThanOrEqual(MAX_DETAIL_CHARS);
    const instructions = manualInstructions(
      `https://${'v'.repeat(24)}.vault.azure.net`,
      `https://${'e'.repeat(63)}.${'s'.repeat(40)}.operations.dynamics.com`,
      '00000000-0000-0000-0000-000000000000',
      { secretName: `fno-graph-mail-${'e'.repeat(63)}`, secretVersion: 'f'.repeat(32), keyId: '00000000-0000-0000-0000-000000000000', expiresOn: '2030-01-01T00:00:00.000Z' },
    );
    progress.waitFor({ event: 'EmailParametersUpdated', until: '2030-01-01T00:00:00.000Z', instructions });
    expect(utf16(last())).toBeLessThanOrEqual(LIMIT_BYTES);
  });
});

it('positive control: without the cap, the same details would not fit', () => {
  const steps = RUN_STEPS.drift.map((name) => ({ name, status: 'failed', detail: '"Graph answered 400: "'.repeat(50) }));
  expect(utf16({ steps } as OperationStatus)).toBeGreaterThan(LIMIT_BYTES);
});
