/**
 * Revocation waits for F&O: in virtual time, how long after F&O's first sign-in with a rotation's new
 * credential the previous one is revoked. The app reads Entra's sign-in log (its identity holds the
 * evidence permissions) and F&O's email batch runs every minute, signing in when its cached token
 * expires, as MSAL does. Two cases: F&O picks the new credential up within the grace minimum (the
 * revocation comes at the grace minimum's end), and F&O's batch is stopped across the grace minimum
 * and resumed (the revocation comes at most one polling interval, plus the sign-in log's delay, after
 * F&O's first sign-in). The clock moves in steps of at most one minute while the rotation waits for
 * F&O, so the batch runs as it would in real time.
 */
import { DEFAULT_SIGN_IN_LOG_DELAY_MINUTES } from '../sandbox/state';
import { DEPLOYED_MANAGED_IDENTITY_ROLES } from '../sandbox/seed';
import { startBenchApp, type BenchApp } from './app';
import { figure, round, type Figure } from './report';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ENVIRONMENT = 'contoso-uat';

export interface RevocationOptions {
  graceHours: number;
  pollMinutes: number;
  /** Hours F&O's batch stays stopped after the rotation started (0: it keeps running). */
  stoppedHours: number;
}

export interface RevocationCase extends RevocationOptions {
  runtimeStatus: string;
  /** Virtual ms from delivery of the new credential to F&O's first send with it. */
  deliveryToFirstSignInMs: number;
  /** Virtual ms from F&O's first send with the new credential to the previous credential's removal. */
  firstSignInToRevocationMs: number;
  /** Virtual ms from the end of the grace minimum to the removal (negative: never before it). */
  graceEndToRevocationMs: number;
  logDelayMinutes: number;
  /** F&O sends that failed because of a credential during the whole rotation. */
  credentialFailures: number;
}

async function control(bench: BenchApp, route: string, body: unknown): Promise<void> {
  const reply = await fetch(`${bench.app.endpoints.controlUrl}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await reply.text();
  if (!reply.ok) throw new Error(`control ${route} answered ${reply.status}`);
}

/** Runs the instance to its end, moving the clock to its next timer, at most `stepMs` at a time. */
async function drive(bench: BenchApp, instanceId: string, stepMs: number, onStep?: (now: number) => Promise<void>): Promise<string> {
  const { app } = bench;
  const deadline = performance.now() + 300_000;
  for (;;) {
    await app.runtime.durable.whenIdle({ timeoutMs: 30_000 });
    await app.runtime.timers.whenIdle();
    const work = app.runtime.durable.pendingWork(instanceId);
    if (!work) throw new Error(`no instance ${instanceId}`);
    if (['Completed', 'Failed', 'Terminated'].includes(work.runtimeStatus)) return work.runtimeStatus;
    if (performance.now() > deadline) throw new Error(`${instanceId} did not finish in time`);
    if (work.episodePending || work.activities > 0 || work.timers.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    const now = app.sandbox.state.now();
    const next = Math.min(...work.timers);
    app.sandbox.state.advanceClock(Math.max(1, Math.min(next - now, stepMs)));
    await onStep?.(app.sandbox.state.now());
    // The batch runs on the clock move, off the event loop's current turn.
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function measureRevocationCase(options: RevocationOptions): Promise<RevocationCase> {
  const bench = await startBenchApp({
    latencyMs: 0,
    secretPropagationSeconds: 0,
    environmentIds: [ENVIRONMENT],
    managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES,
    finopsBatch: { running: true, intervalMinutes: 1 },
    appSettings: { ROTATION_GRACE_HOURS: String(options.graceHours), EVIDENCE_POLL_MINUTES: String(options.pollMinutes) },
  });
  try {
    const { state } = bench.app.sandbox;
    const started = await bench.api('POST', `/api/environments/${ENVIRONMENT}/setup`, { environmentUrl: bench.environmentUrl(ENVIRONMENT) });
    if (started.status !== 202) throw new Error(`setup answered ${started.status}`);
    if ((await drive(bench, `setup-${ENVIRONMENT}`, MINUTE)) !== 'Completed') throw new Error('the setup did not complete');
    const env = state.finops.find((e) => e.id === ENVIRONMENT)!;
    const application = state.applications.find((a) => a.uniqueName === `fno-graph-mail-${ENVIRONMENT}`)!;
    const previous = new Set(application.passwordCredentials.map((c) => c.keyId));

    if (options.stoppedHours > 0) await control(bench, `/finops/${ENVIRONMENT}/batch`, { running: false });
    const callsBefore = state.calls.length;
    const rotated = await bench.api('POST', `/api/environments/${ENVIRONMENT}/rotate`);
    if (rotated.status !== 202) throw new Error(`rotate answered ${rotated.status}`);
    const rotationStart = state.now();
    let resumed = options.stoppedHours === 0;
    const runtimeStatus = await drive(bench, `rotate-${ENVIRONMENT}`, MINUTE, async (now) => {
      if (!resumed && now - rotationStart >= options.stoppedHours * HOUR) {
        resumed = true;
        await control(bench, `/finops/${ENVIRONMENT}/batch`, { running: true });
      }
    });
    const newKey = application.passwordCredentials.find((c) => !previous.has(c.keyId))?.keyId;
    const calls = state.calls.slice(callsBefore);
    const delivered = calls.find((c) => c.service === 'finops' && c.method === 'PATCH' && c.path.includes('GraphEmailCredentials'))?.at ?? Number.NaN;
    const revoked = calls.find((c) => c.service === 'graph' && c.method === 'POST' && c.path.endsWith('/removePassword'))?.at ?? Number.NaN;
    const firstSignIn = Math.min(...env.emailHistory.filter((r) => r.keyId === newKey && r.status === 'sent').map((r) => Date.parse(r.at)));
    const credentialFailures = env.emailHistory.filter((r) => Date.parse(r.at) >= rotationStart && r.status === 'failed' && /AADSTS|CryptoEncryption/.test(r.error ?? '')).length;
    return {
      ...options,
      runtimeStatus,
      deliveryToFirstSignInMs: firstSignIn - delivered,
      firstSignInToRevocationMs: revoked - firstSignIn,
      graceEndToRevocationMs: revoked - (delivered + options.graceHours * HOUR),
      logDelayMinutes: DEFAULT_SIGN_IN_LOG_DELAY_MINUTES,
      credentialFailures,
    };
  } finally {
    await bench.stop();
  }
}

const minutes = (ms: number): string => (Number.isFinite(ms) ? `${round(ms / MINUTE, 1)} min` : 'not measured');
const hours = (ms: number): string => (Number.isFinite(ms) ? `${round(ms / HOUR, 2)} h` : 'not measured');

export function revocationFigures(cases: readonly RevocationCase[]): Figure[] {
  const section = 'Revocation waits for F&O';
  const out: Figure[] = [];
  for (const c of cases) {
    const label = c.stoppedHours > 0 ? `batch stopped ${c.stoppedHours} h, grace ${c.graceHours} h` : `batch running, grace ${c.graceHours} h`;
    const poll = c.pollMinutes * MINUTE;
    if (c.runtimeStatus !== 'Completed') out.push(figure(section, `${label}: rotation`, null, c.runtimeStatus, { text: 'Completed', pass: false }));
    out.push(figure(section, `${label}: delivery → F&O's first sign-in with the new key`, c.deliveryToFirstSignInMs, minutes(c.deliveryToFirstSignInMs)));
    if (c.stoppedHours > 0) {
      // F&O came back after the grace minimum: the next poll that sees its sign-in (past the log's delay) revokes.
      const limit = poll + c.logDelayMinutes * MINUTE;
      out.push(
        figure(section, `${label}: F&O's first sign-in → previous key revoked`, c.firstSignInToRevocationMs, minutes(c.firstSignInToRevocationMs), {
          text: `≤ one poll (${c.pollMinutes} min) + sign-in log delay (${c.logDelayMinutes} min)`,
          pass: c.firstSignInToRevocationMs >= 0 && c.firstSignInToRevocationMs <= limit,
        }),
      );
    } else {
      out.push(
        figure(section, `${label}: F&O's first sign-in → previous key revoked`, c.firstSignInToRevocationMs, hours(c.firstSignInToRevocationMs), {
          text: `≤ grace minimum + one poll (${c.graceHours} h + ${c.pollMinutes} min)`,
          pass: c.firstSignInToRevocationMs >= 0 && c.firstSignInToRevocationMs <= c.graceHours * HOUR + poll,
        }),
      );
      out.push(
        figure(section, `${label}: end of the grace minimum → previous key revoked`, c.graceEndToRevocationMs, minutes(c.graceEndToRevocationMs), {
          text: `0 ≤ x ≤ one poll (${c.pollMinutes} min)`,
          pass: c.graceEndToRevocationMs >= 0 && c.graceEndToRevocationMs <= poll,
        }),
      );
    }
    out.push(figure(section, `${label}: F&O sends failed by a credential`, c.credentialFailures, String(c.credentialFailures), { text: '0', pass: c.credentialFailures === 0 }));
  }
  return out;
}
