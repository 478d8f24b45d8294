/**
 * Persistence of orchestration instances: one JSON file per instance under the durable directory,
 * replaced atomically (write to a temporary file, then rename) after every change, so a new driver
 * on the same directory finds each instance either before or after a change, never half-written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { HistoryEvent } from './history';

export type RuntimeStatus = 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Pending' | 'Suspended';

export const TERMINAL_STATUSES: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Canceled', 'Terminated']);

export interface PendingActivity {
  taskId: number;
  name: string;
  /** The action input as the engine produced it (JSON value). */
  input: unknown;
}

export interface PendingTimer {
  timerId: number;
  fireAt: string;
}

export interface InstanceRecord {
  formatVersion: 1;
  instanceId: string;
  executionId: string;
  name: string;
  /** The orchestration input (JSON value; null when none). */
  input: unknown;
  runtimeStatus: RuntimeStatus;
  customStatus: unknown;
  /** The output when completed; the failure or termination text otherwise. */
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  history: HistoryEvent[];
  /** Events delivered to the instance that no episode has processed yet. */
  inbox: HistoryEvent[];
  /** Scheduled activities whose completion is not recorded yet (they run again after a restart). */
  pendingActivities: PendingActivity[];
  pendingTimers: PendingTimer[];
}

// Loose: events carry type-specific fields, which must survive a load/save round trip.
const historyEventSchema = z.looseObject({
  EventType: z.number().int(),
  EventId: z.number().int(),
  IsPlayed: z.boolean(),
  Timestamp: z.string(),
});

const recordSchema = z.object({
  formatVersion: z.literal(1),
  instanceId: z.string().min(1),
  executionId: z.string(),
  name: z.string(),
  input: z.unknown(),
  runtimeStatus: z.enum(['Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Pending', 'Suspended']),
  customStatus: z.unknown(),
  output: z.unknown(),
  createdTime: z.string(),
  lastUpdatedTime: z.string(),
  history: z.array(historyEventSchema),
  inbox: z.array(historyEventSchema),
  pendingActivities: z.array(z.object({ taskId: z.number().int(), name: z.string(), input: z.unknown() })),
  pendingTimers: z.array(z.object({ timerId: z.number().int(), fireAt: z.string() })),
});

export class InstanceStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }

  fileOf(instanceId: string): string {
    return path.join(this.dir, `${encodeURIComponent(instanceId).replace(/\*/g, '%2A')}.json`);
  }

  save(record: InstanceRecord): void {
    const target = this.fileOf(record.instanceId);
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(record));
    fs.renameSync(temp, target);
  }

  delete(instanceId: string): boolean {
    try {
      fs.unlinkSync(this.fileOf(instanceId));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Loads every readable instance; unreadable files are reported, not fatal. */
  loadAll(onUnreadable: (file: string, reason: string) => void): InstanceRecord[] {
    const records: InstanceRecord[] = [];
    for (const entry of fs.readdirSync(this.dir)) {
      if (!entry.endsWith('.json')) continue;
      const file = path.join(this.dir, entry);
      try {
        const parsed = recordSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
        if (parsed.success) records.push(parsed.data);
        else onUnreadable(file, parsed.error.issues[0]?.message ?? 'invalid record');
      } catch (err) {
        onUnreadable(file, err instanceof Error ? err.message : String(err));
      }
    }
    return records;
  }
}
