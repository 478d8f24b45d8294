/**
 * What the command line shows a person: one line per step transition of a run (from the
 * orchestration's custom status), what a waiting run needs and from whom, the environment record,
 * and the registry as a table. Everything shown comes from custom status, records and failure
 * messages, which by the product's invariants never hold a secret.
 */
import type { EnvironmentRecord } from '../../src/contracts/environment';
import type { ConsentInstructions, ManualDeliveryInstructions, OperationStatus, StepState, WaitingFor } from '../../src/contracts/operations';

function isOperationStatus(value: unknown): value is OperationStatus {
  return typeof value === 'object' && value !== null && Array.isArray((value as OperationStatus).steps);
}

function isConsentInstructions(value: WaitingFor['instructions']): value is ConsentInstructions {
  return typeof (value as ConsentInstructions).consentUrl === 'string';
}

function isManualInstructions(value: WaitingFor['instructions']): value is ManualDeliveryInstructions {
  return typeof (value as ManualDeliveryInstructions).emailParametersUrl === 'string';
}

/** Turns successive custom statuses of one run into lines: each step's changes, and each new wait. */
export class ProgressReporter {
  #steps = new Map<string, string>();
  #waiting: string | undefined;

  constructor(private readonly write: (line: string) => void) {}

  /** Reports what changed since the last call; returns the wait when a new one began. */
  update(customStatus: unknown): { newWait?: WaitingFor; changedSteps: StepState[] } {
    if (!isOperationStatus(customStatus)) return { changedSteps: [] };
    const total = customStatus.steps.length;
    const width = Math.max(...customStatus.steps.map((s) => s.name.length));
    const changedSteps: StepState[] = [];
    customStatus.steps.forEach((step, index) => {
      const key = `${step.status}\u0000${step.detail ?? ''}`;
      const before = this.#steps.get(step.name);
      this.#steps.set(step.name, key);
      if (before === key || (before === undefined && step.status === 'pending')) return;
      changedSteps.push(step);
      const detail = step.detail !== undefined ? `  ${step.detail}` : '';
      this.write(`  [${index + 1}/${total}] ${step.name.padEnd(width)}  ${step.status.padEnd(9)}${detail}`.trimEnd());
    });
    const wait = customStatus.waitingFor;
    const waitKey = wait ? `${wait.event}\u0000${wait.until}` : undefined;
    let newWait: WaitingFor | undefined;
    if (wait && waitKey !== this.#waiting) {
      newWait = wait;
      for (const line of describeWait(wait)) this.write(line);
    }
    this.#waiting = waitKey;
    return { changedSteps, ...(newWait ? { newWait } : {}) };
  }
}

/** The instructions of a run that waits for a person, indented under the step lines. */
export function describeWait(wait: WaitingFor): string[] {
  const who = wait.event === 'ConsentGranted' ? 'an administrator to grant admin consent' : 'an administrator to enter the credential in F&O';
  const lines = ['', `  Waiting for ${who} (event ${wait.event}, until ${wait.until}).`];
  const { instructions } = wait;
  if (isConsentInstructions(instructions)) {
    lines.push(`    Consent URL: ${instructions.consentUrl}`);
  } else if (isManualInstructions(instructions)) {
    lines.push(
      `    Email parameters:  ${instructions.emailParametersUrl}`,
      `    Application id:    ${instructions.applicationId}`,
      `    Client secret:     Key Vault ${instructions.keyVaultSecret.vaultUrl}, secret ${instructions.keyVaultSecret.name}, version ${instructions.keyVaultSecret.version} (read it there; it is never shown here)`,
    );
  }
  instructions.steps.forEach((step, i) => lines.push(`    ${i + 1}. ${step}`));
  lines.push('');
  return lines;
}

/** One environment record, as aligned `label  value` lines. */
export function formatRecord(record: EnvironmentRecord): string {
  const rows: Array<[string, string]> = [
    ['environment', record.environmentId],
    ['url', record.environmentUrl],
    ['status', record.status],
    ['tenant', record.tenantId],
    ['application', `${record.appId} (object ${record.appObjectId})`],
    ['credential', `${record.credential.keyId}, expires ${record.credential.expiresOn}`],
    ['key vault secret', `${record.credential.secretName} version ${record.credential.secretVersion}`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/**
 * The registry as a table, one environment per row, in the order given; when the fleet spans several
 * tenants (partner mode), grouped under a line per tenant, tenants in id order.
 */
export function formatTable(records: readonly EnvironmentRecord[]): string {
  const header = ['ENVIRONMENT', 'STATUS', 'EXPIRES', 'APPLICATION', 'URL'];
  const cells = (r: EnvironmentRecord): string[] => [r.environmentId, r.status, r.credential.expiresOn, r.appId, r.environmentUrl];
  const widths = header.map((h, i) => Math.max(h.length, ...records.map((r) => (cells(r)[i] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  const tenants = [...new Set(records.map((r) => r.tenantId))].sort();
  if (tenants.length <= 1) return [header, ...records.map(cells)].map(line).join('\n');
  const lines = [line(header)];
  for (const tenantId of tenants) {
    const group = records.filter((r) => r.tenantId === tenantId);
    lines.push('', `Tenant ${tenantId} (${group.length} environment${group.length === 1 ? '' : 's'})`, ...group.map((r) => line(cells(r))));
  }
  return lines.join('\n');
}
