/**
 * Activities run at least once. Every activity of setup and rotation, run twice in a row with the same
 * input against the app's own services, leaves exactly the state the first run left and writes nothing
 * the second time. And the local runtime killed at each step boundary of a setup and of a rotation (the
 * activity in flight, if any, is abandoned: it finishes its calls but its completion is never recorded),
 * then started again on the same durable directory and sandbox: the run completes with the state a
 * clean run leaves and no orphan credential.
 */
import { randomUUID } from 'node:crypto';
import type { ActivityLogger, ProductActivityName } from '../../src/activities';
import { productServices } from '../../src/composition';
import type { ActivityInput, ActivityOutput } from '../../src/contracts/activities';
import type { CallRecord } from '../../sandbox/types';
import { setupInputs, type SetupOptions } from '../activities/harness';
import { startTestApp, type TestApp } from '../helpers/app';
import { findLeaks } from '../helpers/leakForms';
import { drive, endState, NEVER, rotationProblems, setupProblems, sleep, stepsOf, TimeKeeper } from './support';

/** Setup's steps up to the last one (verify before deliver); the last one is the "next" of the step before it. */
const SETUP_STEPS = ['registerApplication', 'ensureServicePrincipal', 'grantAdminConsent', 'createClientSecret', 'verifyCredential', 'deliverToFinOps'];
/** The activity that calls out first after each step: the next step's, or the delivery's and the proof's own first ones. */
const NEXT_ACTIVITY: Record<string, string> = { verifyCredential: 'describeFinOps', deliverToFinOps: 'readFinOpsEvidence' };
const ROTATION_STEPS = ['readEnvironment', 'createClientSecret', 'verifyCredential', 'deliverToFinOps'];

let app: TestApp;
let keeper: TimeKeeper;
const lines: string[] = [];
const logger: ActivityLogger = { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ['twice', 'manual-twice', ...SETUP_STEPS.map((s) => `kill-${s.toLowerCase()}`), 'kill-rotation', 'kill-everywhere'],
    },
    appSettings: { ROTATION_GRACE_HOURS: '1', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
});

afterAll(async () => {
  await app?.stop();
});

// ---- twice in a row -----------------------------------------------------------------------------

/** The sandbox as a person would compare it: everything but the clock. */
async function world(): Promise<Record<string, unknown>> {
  const state = await app.control<Record<string, unknown>>('/state');
  delete state.now;
  return state;
}

async function writes(): Promise<CallRecord[]> {
  const { calls } = await app.control<{ calls: CallRecord[] }>('/calls');
  return calls.filter((c) => c.service !== 'entra' && c.method !== 'GET');
}

function run<N extends ProductActivityName>(name: N, input: ActivityInput<N>): Promise<ActivityOutput<N>> {
  const handler = productServices().activities[name] as (i: ActivityInput<N>, log: ActivityLogger) => Promise<ActivityOutput<N>>;
  return handler(input, logger);
}

interface Twice<T> {
  first: T;
  second: T;
  /** Writes the second run made (none expected). */
  secondWrites: CallRecord[];
  /** What differs in the sandbox after the second run (nothing expected). */
  changed: boolean;
}

async function twice<N extends ProductActivityName>(name: N, input: ActivityInput<N>): Promise<Twice<ActivityOutput<N>>> {
  const first = await run(name, input);
  const before = await world();
  await app.control('/calls', undefined, 'DELETE');
  const second = await run(name, input);
  const secondWrites = await writes();
  const after = await world();
  return { first, second, secondWrites, changed: JSON.stringify(after) !== JSON.stringify(before) };
}

function clean<T>(t: Twice<T>): { secondWrites: CallRecord[]; changed: boolean } {
  return { secondWrites: t.secondWrites, changed: t.changed };
}

const UNCHANGED = { secondWrites: [], changed: false };

describe('every activity run twice in a row with the same input', () => {
  let o: SetupOptions;
  let application: ActivityOutput<'registerApplication'>;
  let reference: ActivityOutput<'createClientSecret'>['reference'];

  beforeAll(() => {
    o = {
      environmentId: 'twice',
      environmentUrl: app.environmentUrl('twice'),
      tenantId: app.endpoints.tenantId,
      requestedAt: new Date(app.sandbox.state.now()).toISOString(),
      operationId: randomUUID(),
      lifetimeDays: 180,
    };
  });

  it('setup: each step leaves the state its first run left and writes nothing more', async () => {
    const register = await twice('registerApplication', setupInputs.register(o));
    expect(clean(register)).toEqual(UNCHANGED);
    expect(register.second).toEqual({ ...register.first, outcome: 'unchanged' });
    application = register.first;

    const sp = await twice('ensureServicePrincipal', setupInputs.servicePrincipal(o, application));
    expect(clean(sp)).toEqual(UNCHANGED);
    expect(sp.second).toEqual({ ...sp.first, created: false });

    const consent = await twice('grantAdminConsent', setupInputs.consent(o, application, sp.first));
    expect(clean(consent)).toEqual(UNCHANGED);
    expect(consent.second).toEqual({ status: 'granted', changed: false });

    const check = await twice('checkConsent', { environmentId: 'twice', tenantId: o.tenantId, servicePrincipalId: sp.first.servicePrincipalId });
    expect(clean(check)).toEqual(UNCHANGED);
    expect(check.second).toEqual({ granted: true, mailSendGranted: true, userReadGranted: true });

    const secret = await twice('createClientSecret', setupInputs.secret(o, application));
    expect(clean(secret)).toEqual(UNCHANGED);
    // The repeated run recognises its own operation's version and returns the same reference.
    expect(secret.second).toEqual(secret.first);
    reference = secret.first.reference;

    const delivery = await twice('deliverToFinOps', setupInputs.deliver(o, application, secret.first));
    expect(clean(delivery)).toEqual(UNCHANGED);
    expect(delivery.second).toEqual({ strategy: 'odata', providerChanged: false, credentialWritten: false });

    // Entra accepts a new secret after its propagation delay (1 s in this sandbox).
    await app.advanceClock('PT2S');
    const verify = await twice('verifyCredential', setupInputs.verify(o, application, secret.first));
    expect(clean(verify)).toEqual(UNCHANGED);
    expect(verify.second).toEqual(verify.first);
    expect(setupProblems(endState(app, 'twice'))).toEqual([]);
  });

  it('rotation: each step leaves the state its first run left and writes nothing more', async () => {
    const asOf = (): string => new Date(app.sandbox.state.now()).toISOString();
    const read = await twice('readEnvironment', { environmentId: 'twice', asOf: asOf(), leadDays: 30 });
    expect(clean(read)).toEqual(UNCHANGED);
    expect(read.second).toEqual(read.first);
    if (!read.first.found) throw new Error('the environment set up above is not in the registry');
    const env = read.first.record;

    const operationId = randomUUID();
    const input: ActivityInput<'createClientSecret'> = {
      environmentId: 'twice',
      environmentUrl: env.environmentUrl,
      tenantId: env.tenantId,
      appId: env.appId,
      appObjectId: env.appObjectId,
      lifetimeDays: 180,
      requestedAt: asOf(),
      operationId,
      mode: 'rotate',
      minRemainingDays: 30,
    };
    const secret = await twice('createClientSecret', input);
    expect(clean(secret)).toEqual(UNCHANGED);
    expect(secret.second).toEqual(secret.first);
    expect(secret.first.reference.keyId).not.toBe(reference.keyId);
    const fresh = secret.first.reference;

    const delivery = await twice('deliverToFinOps', { environmentId: 'twice', environmentUrl: env.environmentUrl, tenantId: env.tenantId, appId: env.appId, reference: fresh, strategy: 'odata' });
    expect(clean(delivery)).toEqual(UNCHANGED);
    expect(delivery.first).toEqual({ strategy: 'odata', providerChanged: false, credentialWritten: true });
    expect(delivery.second).toEqual({ strategy: 'odata', providerChanged: false, credentialWritten: false });

    await app.advanceClock('PT2S');
    const verify = await twice('verifyCredential', { environmentId: 'twice', tenantId: env.tenantId, appId: env.appId, reference: fresh });
    expect(clean(verify)).toEqual(UNCHANGED);
    // During the grace period: the previous credential and the new one, F&O holding the new one.
    expect(rotationProblems(endState(app, 'twice'), reference.keyId, 'grace')).toEqual([]);

    const notice = { environmentId: 'twice', kind: 'alert' as const, subject: 'Rotation of twice', lines: ['a line'] };
    const notify = await twice('notify', notice);
    expect(clean(notify)).toEqual(UNCHANGED);

    const revoke = await twice('revokePreviousCredentials', {
      environmentId: 'twice',
      tenantId: env.tenantId,
      appObjectId: env.appObjectId,
      secretName: fresh.secretName,
      keepKeyId: fresh.keyId,
    });
    expect(clean(revoke)).toEqual(UNCHANGED);
    expect(revoke.first.removedKeyIds).toEqual([reference.keyId]);
    expect(revoke.second).toEqual({ removedKeyIds: [], disabledVersions: [] });
    expect(rotationProblems(endState(app, 'twice'), reference.keyId, 'done')).toEqual([]);

    const inspect = await twice('inspectEnvironment', {
      environmentId: 'twice',
      tenantId: env.tenantId,
      appId: env.appId,
      appObjectId: env.appObjectId,
      secretName: fresh.secretName,
      keyId: fresh.keyId,
      asOf: asOf(),
      graceHours: 1,
    });
    expect(clean(inspect)).toEqual(UNCHANGED);
    expect(inspect.second).toEqual(inspect.first);
    expect(inspect.first).toMatchObject({ credentialMissing: false, orphans: [] });

    // An orphan (a product credential recorded nowhere, older than the grace period) is removed once.
    const orphan = randomUUID();
    const application = app.sandbox.state.applications.find((a) => a.id === env.appObjectId)!;
    const now = app.sandbox.state.now();
    application.passwordCredentials.push({
      keyId: orphan,
      displayName: `fno-graph-mail ${randomUUID()}`,
      hint: 'abc',
      customKeyIdentifier: null,
      startDateTime: new Date(now - 2 * 3_600_000).toISOString(),
      endDateTime: new Date(now + 30 * 86_400_000).toISOString(),
      secretText: app.sandbox.state.mintSecret().secretText,
      usableFrom: 0,
    });
    const found = await run('inspectEnvironment', { environmentId: 'twice', tenantId: env.tenantId, appId: env.appId, appObjectId: env.appObjectId, secretName: fresh.secretName, keyId: fresh.keyId, asOf: asOf(), graceHours: 1 });
    expect(found.orphans).toEqual([orphan]);
    const removal = await twice('removeOrphanedCredentials', {
      environmentId: 'twice',
      tenantId: env.tenantId,
      appObjectId: env.appObjectId,
      secretName: fresh.secretName,
      keyIds: found.orphans,
      asOf: asOf(),
      graceHours: 1,
    });
    expect(clean(removal)).toEqual(UNCHANGED);
    expect(removal.first.removedKeyIds).toEqual([orphan]);
    expect(removal.second.removedKeyIds).toEqual([]);
    expect(rotationProblems(endState(app, 'twice'), reference.keyId, 'done')).toEqual([]);
  });

  it('manual delivery: recording the confirmation twice tags the version once', async () => {
    const o2: SetupOptions = { ...o, environmentId: 'manual-twice', environmentUrl: app.environmentUrl('manual-twice'), operationId: randomUUID() };
    const registered = await run('registerApplication', setupInputs.register(o2));
    const sp = await run('ensureServicePrincipal', setupInputs.servicePrincipal(o2, registered));
    await run('grantAdminConsent', setupInputs.consent(o2, registered, sp));
    const secret = await run('createClientSecret', setupInputs.secret(o2, registered));
    const manual = await twice('deliverToFinOps', setupInputs.deliver(o2, registered, secret, 'manual'));
    expect(clean(manual)).toEqual(UNCHANGED);
    expect(manual.second).toEqual(manual.first);
    const record = await twice('recordDelivery', { environmentId: 'manual-twice', reference: secret.reference });
    expect(clean(record)).toEqual(UNCHANGED);
    expect(endState(app, 'manual-twice').versions).toEqual([expect.objectContaining({ keyId: secret.reference.keyId, delivered: true, enabled: true })]);
  });
});

// ---- killed at a step boundary ------------------------------------------------------------------

/** True once `step` shows succeeded (or waiting, for the grace period). */
function hasReached(customStatus: unknown, step: string): boolean {
  const state = stepsOf(customStatus).find((s) => s.name === step)?.status;
  return state === 'succeeded' || (step === 'gracePeriod' && state === 'waiting');
}

/**
 * Resolves the moment the run saves `step` as succeeded (or waiting, for the grace period), moving
 * the clock to any retry timer it waits on meanwhile (a new secret needs a moment to propagate).
 */
async function reached(instanceId: string, step: string): Promise<void> {
  const status = await drive(app, keeper, instanceId, { timeoutMs: 30_000, until: (s) => hasReached(s.customStatus, step) });
  if (!hasReached(status.customStatus, step)) throw new Error(`${instanceId} ended before ${step}`);
}

/** How many times the runtime started an activity of an instance (every runtime logs its invocations). */
function executions(instanceId: string, activity: string): number {
  return app.logs.filter((l) => l.instanceId === instanceId && l.message.startsWith(`Executing 'Functions.${activity}'`)).length;
}

/**
 * Stops the runtime as a crash would and starts a new one on the same durable directory, once the
 * activity the old one abandoned (if any) has finished its calls.
 */
async function kill(): Promise<void> {
  const stopped = app.runtime;
  await app.restartRuntime({ whileStopped: () => stopped.durable.whenActivitiesSettled() });
}

describe('the runtime killed at a step boundary and started again on the same durable directory', () => {
  it.each(SETUP_STEPS.map((step, i) => [step, NEXT_ACTIVITY[step] ?? SETUP_STEPS[i + 1] ?? '']))(
    'setup killed after %s, while %s is calling out, ends as a clean setup does, with no orphan credential',
    async (step, next) => {
      const environmentId = `kill-${step.toLowerCase()}`;
      const instanceId = `setup-${environmentId}`;
      // A little latency keeps the next activity's first request in flight when the runtime dies.
      await app.control('/settings', { latencyMs: 30 });
      try {
        expect((await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) })).status).toBe(202);
        await reached(instanceId, step);
        const calls = app.sandbox.state.calls.length;
        while (app.sandbox.state.calls.length === calls) await sleep(1);
        await kill();
      } finally {
        await app.control('/settings', { latencyMs: 0 });
      }
      const status = await drive(app, keeper, instanceId);
      expect(status.runtimeStatus).toBe('Completed');
      // The abandoned activity's completion was lost: the new runtime ran it again.
      expect(executions(instanceId, next)).toBeGreaterThanOrEqual(2);
      const state = endState(app, environmentId);
      expect(setupProblems(state)).toEqual([]);
      expect(state.productCredentials).toHaveLength(1);
      // The registry and the run agree on the one credential.
      expect((status.output as { credential: { keyId: string } }).credential.keyId).toBe(state.liveCredentials[0]);
    },
  );

  it('a setup killed at every step boundary in turn still ends as a clean setup does', async () => {
    const instanceId = 'setup-kill-everywhere';
    expect((await app.api('POST', '/api/environments/kill-everywhere/setup', { environmentUrl: app.environmentUrl('kill-everywhere') })).status).toBe(202);
    for (const step of SETUP_STEPS) {
      await reached(instanceId, step);
      await kill();
    }
    expect((await drive(app, keeper, instanceId)).runtimeStatus).toBe('Completed');
    expect(setupProblems(endState(app, 'kill-everywhere'))).toEqual([]);
  });

  it('a rotation killed after each of its steps and during its grace period ends with one new credential and nothing orphaned', async () => {
    expect((await app.api('POST', '/api/environments/kill-rotation/setup', { environmentUrl: app.environmentUrl('kill-rotation') })).status).toBe(202);
    expect((await drive(app, keeper, 'setup-kill-rotation')).runtimeStatus).toBe('Completed');
    for (const step of [...ROTATION_STEPS, 'gracePeriod']) {
      const before = endState(app, 'kill-rotation');
      const previous = before.versions[before.versions.length - 1]?.keyId ?? '';
      keeper.watchGrace('rotate-kill-rotation', 'kill-rotation');
      expect((await app.api('POST', '/api/environments/kill-rotation/rotate', {})).status).toBe(202);
      await reached('rotate-kill-rotation', step);
      await kill();
      const status = await drive(app, keeper, 'rotate-kill-rotation');
      keeper.unwatch('rotate-kill-rotation');
      expect({ step, status: status.runtimeStatus }).toEqual({ step, status: 'Completed' });
      const grace = keeper.graceStates.get('rotate-kill-rotation');
      expect({ step, problems: grace ? rotationProblems(grace, previous, 'grace') : ['grace unobserved'] }).toEqual({ step, problems: [] });
      expect({ step, problems: rotationProblems(endState(app, 'kill-rotation'), previous, 'done') }).toEqual({ step, problems: [] });
    }
  });

  it('no secret minted here appears in an activity log line or output', async () => {
    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    const text = `${lines.join('\n')}\n${app.logs.map((l) => JSON.stringify(l)).join('\n')}`;
    expect(secrets.length).toBeGreaterThan(10);
    expect(findLeaks(secrets, [['logs and outputs', text]])).toEqual([]);
  });
});
