/**
 * Child process that runs one measurement needing a sandboxed app and sends the result back, plus the
 * helper that starts it. Every such measurement gets a fresh process: msal-node remembers the managed
 * identity endpoint of the first sandbox for the life of the process, and a fresh process also keeps
 * one measurement's caches (tokens, Key Vault challenge, Graph's service principal) out of the next.
 */
import { fork } from 'node:child_process';
import { measureEmergencyRotation, type EmergencyOptions, type EmergencyResult } from './emergency';
import { measureApiEconomy, type EconomyOptions, type EconomyResult } from './economy';
import { measureLatencySamples, type LatencySample, type LatencySampleOptions } from './latency';
import { measureRevocationCase, type RevocationCase, type RevocationOptions } from './revocation';

export type WorkerJob =
  | { kind: 'economy'; options: EconomyOptions }
  | { kind: 'latency'; options: LatencySampleOptions }
  | { kind: 'revocation'; options: RevocationOptions }
  | { kind: 'emergency'; options: EmergencyOptions };
type WorkerResult<J extends WorkerJob> = J extends { kind: 'economy' }
  ? EconomyResult
  : J extends { kind: 'revocation' }
    ? RevocationCase
    : J extends { kind: 'emergency' }
      ? EmergencyResult
      : LatencySample[];
type WorkerReply = { ok: true; result: unknown } | { ok: false; error: string };

export function inChildProcess<J extends WorkerJob>(job: J): Promise<WorkerResult<J>> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.on('message', (reply: WorkerReply) => {
      settled = true;
      if (reply.ok) resolve(reply.result as WorkerResult<J>);
      else reject(new Error(`${job.kind}: ${reply.error}`));
    });
    child.on('exit', (code) => {
      if (!settled) reject(new Error(`the ${job.kind} measurement process exited with ${code ?? 'a signal'} before answering`));
    });
    child.send(job);
  });
}

async function run(job: WorkerJob): Promise<unknown> {
  switch (job.kind) {
    case 'economy':
      return measureApiEconomy(job.options);
    case 'latency':
      return measureLatencySamples(job.options);
    case 'revocation':
      return measureRevocationCase(job.options);
    case 'emergency':
      return measureEmergencyRotation(job.options);
  }
}

if (require.main === module) {
  process.once('message', (job: WorkerJob) => {
    const answer = (reply: WorkerReply): void => {
      // Exit once the answer is out: anything the stopped app left behind must not keep this process alive.
      process.send?.(reply, () => process.exit(0));
    };
    run(job)
      .then((result) => answer({ ok: true, result }))
      .catch((error: unknown) => answer({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
  });
}
