/**
 * The runtime's log: every invocation's context logs, the library's system logs and the runtime's own
 * lines, appended as JSON lines to one file per runtime under the logs directory. Callers never pass
 * secrets here; the runtime itself logs names, ids and outcomes, never payloads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Clock } from './clock';
import { systemClock } from './clock';

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type LogCategory = 'user' | 'system' | 'host';

export interface LogEntry {
  time: string;
  level: LogLevel;
  category: LogCategory;
  message: string;
  functionName?: string;
  invocationId?: string;
  instanceId?: string;
}

export interface RuntimeLogOptions {
  /** Directory for the JSON-lines file; omit to keep entries in memory only. */
  dir?: string;
  fileName?: string;
  clock?: Clock;
  /** Also hand each entry to this function (e.g. a console printer for `npm start`). */
  echo?: ((entry: LogEntry) => void) | undefined;
  /** Entries kept in memory for inspection (tests, diagnostics). */
  memoryLimit?: number;
}

export class RuntimeLog {
  readonly filePath: string | undefined;
  readonly #clock: Clock;
  readonly #echo: ((entry: LogEntry) => void) | undefined;
  readonly #memory: LogEntry[] = [];
  readonly #memoryLimit: number;
  /** The file, open for appending from the first line until `close()`; later lines are appended one by one. */
  #fd: number | undefined;
  #closed = false;

  constructor(options: RuntimeLogOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#echo = options.echo;
    this.#memoryLimit = options.memoryLimit ?? 5000;
    if (options.dir) {
      fs.mkdirSync(options.dir, { recursive: true });
      this.filePath = path.join(options.dir, options.fileName ?? 'functions.jsonl');
    }
  }

  write(entry: Omit<LogEntry, 'time'> & { time?: string }): void {
    const full: LogEntry = { ...entry, time: entry.time ?? new Date(this.#clock.now()).toISOString() };
    this.#memory.push(full);
    if (this.#memory.length > this.#memoryLimit) this.#memory.splice(0, this.#memory.length - this.#memoryLimit);
    if (this.filePath) {
      // Synchronous writes keep lines whole and ordered even if the process dies right after. One open
      // file rather than an open, write and close per line: a busy runtime writes thousands of lines.
      const line = JSON.stringify(full) + '\n';
      try {
        if (this.#fd === undefined && !this.#closed) this.#fd = fs.openSync(this.filePath, 'a');
        if (this.#fd !== undefined) fs.writeSync(this.#fd, line);
        else fs.appendFileSync(this.filePath, line);
      } catch (error) {
        // The directory was removed under a runtime that is stopping (work it abandoned still finishing):
        // the line stays in memory; a log must never take the process down.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    this.#echo?.(full);
  }

  /** Closes the file (the runtime has stopped); a line written after this is appended on its own. */
  close(): void {
    this.#closed = true;
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    fs.closeSync(fd);
  }

  host(level: LogLevel, message: string, fields: Pick<LogEntry, 'functionName' | 'invocationId' | 'instanceId'> = {}): void {
    this.write({ level, category: 'host', message, ...fields });
  }

  /** Entries written by this instance (most recent last). */
  entries(): LogEntry[] {
    return [...this.#memory];
  }
}

/** One readable console line for an entry, e.g. for `npm start`. */
export function formatLogEntry(entry: LogEntry): string {
  const where = entry.functionName ? ` [${entry.functionName}${entry.instanceId ? ` ${entry.instanceId}` : ''}]` : '';
  return `${entry.time} ${entry.level.padEnd(11)}${where} ${entry.message}`;
}

/** Reads a JSON-lines log file back (for tools and tests). */
export function readLogFile(filePath: string): LogEntry[] {
  if (!fs.existsSync(filePath)) return [];
  return fs
    .readFileSync(filePath, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogEntry);
}
