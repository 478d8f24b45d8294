/**
 * Durable entities on the local runtime: what the extension does for `df.app.entity` functions.
 *
 * An entity is addressed by its scheduler id `@name@key` and keeps a JSON state. Operation requests
 * (from orchestrations' `callEntity`/`signalEntity`, from `DurableClient.signalEntity`, and from other
 * entities' signals) wait in the entity's queue; the driver runs them in batches, one batch at a time
 * per entity, in arrival order, through the registered entity function (durable-functions' own
 * `Entity` shim), so operations on one entity never interleave — the property the product's
 * per-environment run lock relies on. A call's result goes back to the calling orchestration as an
 * `EventRaised` named by the request id, as the extension's `ResponseMessage`.
 *
 * Persistence: one JSON file per entity under `<durable dir>/entities/`, replaced atomically like the
 * instance files, so a restarted driver finds every queued request and the last committed state.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** One queued operation request (DTFx `RequestMessage`, trimmed to what the local runtime uses). */
export interface EntityRequest {
  id: string;
  op: string;
  signal: boolean;
  /** The operation input as JSON text, if any. */
  input?: string | undefined;
  /** The calling orchestration, for calls (its answer goes there). */
  parent?: { instanceId: string; executionId: string } | undefined;
  /** Epoch ms when the request was sent. */
  timestamp: number;
}

export interface EntityRecord {
  formatVersion: 1;
  /** `@name@key`, the name lower-cased. */
  schedulerId: string;
  name: string;
  key: string;
  exists: boolean;
  /** The entity state as JSON text (absent when the entity has none). */
  state?: string | undefined;
  queue: EntityRequest[];
  lastUpdatedTime: string;
}

/** The outcome of one operation as durable-functions' `Entity` shim reports it. */
export interface OperationResult {
  isError: boolean;
  result?: string;
}

/** What the entity function returns for a batch (durable-functions `EntityState`). */
export interface EntityBatchResult {
  entityExists: boolean;
  entityState?: string;
  results: OperationResult[];
  signals: Array<{ target: { name: string; key: string }; name: string; input?: string }>;
}

const requestSchema = z.object({
  id: z.string(),
  op: z.string(),
  signal: z.boolean(),
  input: z.string().optional(),
  parent: z.object({ instanceId: z.string(), executionId: z.string() }).optional(),
  timestamp: z.number(),
});

const recordSchema = z.object({
  formatVersion: z.literal(1),
  schedulerId: z.string().min(3),
  name: z.string().min(1),
  key: z.string().min(1),
  exists: z.boolean(),
  state: z.string().optional(),
  queue: z.array(requestSchema),
  lastUpdatedTime: z.string(),
});

export const entityBatchResultSchema = z.object({
  entityExists: z.boolean(),
  entityState: z.string().nullish(),
  results: z.array(z.object({ isError: z.boolean(), result: z.string().nullish() })),
  signals: z.array(
    z.object({
      target: z.object({ name: z.string(), key: z.string() }),
      name: z.string(),
      input: z.string().nullish(),
    }),
  ),
});

/** `@name@key` → name and key; undefined for anything else. */
export function parseSchedulerId(schedulerId: string): { name: string; key: string } | undefined {
  const m = /^@([^@]+)@(.+)$/s.exec(schedulerId);
  return m ? { name: m[1] as string, key: m[2] as string } : undefined;
}

/** The scheduler id durable-functions derives from an entity id (the name lower-cased). */
export function schedulerIdOf(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

export function newEntityRecord(schedulerId: string, now: number): EntityRecord {
  const parsed = parseSchedulerId(schedulerId);
  if (!parsed) throw new Error(`'${schedulerId}' is not an entity id (@name@key).`);
  return { formatVersion: 1, schedulerId, name: parsed.name, key: parsed.key, exists: false, queue: [], lastUpdatedTime: new Date(now).toISOString() };
}

export class EntityStore {
  readonly dir: string;

  constructor(durableDir: string) {
    this.dir = path.join(durableDir, 'entities');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  fileOf(schedulerId: string): string {
    return path.join(this.dir, `${encodeURIComponent(schedulerId).replace(/\*/g, '%2A')}.json`);
  }

  save(record: EntityRecord): void {
    const target = this.fileOf(record.schedulerId);
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(record, null, 1));
    fs.renameSync(temp, target);
  }

  loadAll(onUnreadable: (file: string, reason: string) => void): EntityRecord[] {
    const records: EntityRecord[] = [];
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
