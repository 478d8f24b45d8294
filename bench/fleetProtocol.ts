/** Messages between the fleet benchmark and its child process (the function app being measured). */

export type FleetCommand =
  | { type: 'start'; entry: string; appSettings: Record<string, string>; durableDir: string; logsDir: string; schedulerIntervalMs: number }
  | { type: 'sweep' }
  | { type: 'waitRotations'; timeoutMs: number }
  | { type: 'stop' };

export type FleetReply =
  | { type: 'ready'; rssBytes: number }
  | {
      type: 'swept';
      ok: boolean;
      error?: string;
      /** Epoch ms (the sandbox's clock is real time here): calls recorded in between belong to the sweep. */
      startEpochMs: number;
      endEpochMs: number;
      sweepMs: number;
      /** The sweep's own log line: environments, due, started, already running. */
      summary: string | undefined;
      rssBeforeBytes: number;
      sampledPeakRssBytes: number;
      maxRssBytes: number;
    }
  | {
      type: 'rotations';
      byStatus: Record<string, number>;
      waitedMs: number;
      errors: string[];
      maxRssBytes: number;
    }
  | { type: 'stopped' }
  | { type: 'failed'; error: string };
