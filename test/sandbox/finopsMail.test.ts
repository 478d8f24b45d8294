/**
 * The emulated F&O sends mail as the real one does: its Email distributor batch runs on the virtual
 * clock, signs in to the sandbox Entra with the Graph application id and secret it holds, sends through
 * the sandbox Graph as the batch user, and writes every attempt to Email history (AADSTS text for a bad
 * secret, a decryption error after a database copy). SMTP sends without signing in anywhere.
 */
import { DECRYPTION_ERROR, NO_APPLICATION_ID_ERROR, SMTP_NO_SERVER_ERROR } from '../../sandbox/finops-mail';
import { SENDER_MAILBOX } from '../../sandbox/seed';
import type { FinOpsEnvironmentRecord } from '../../sandbox/types';
import { addMailApp, advance, finopsControl, finopsState, sentBy, tokenRequests, type ControlError } from '../helpers/finopsMail';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

const ENVIRONMENTS = ['graph', 'wrong', 'expired', 'smtp', 'stop', 'source', 'target', 'clock', 'bounded', 'checks'];
let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox({ environmentIds: ENVIRONMENTS });
});

afterEach(async () => {
  // Each test leaves every batch stopped, so the clock moves of the next one start nothing here.
  for (const id of ENVIRONMENTS) await finopsControl(sandbox, id, 'batch', { running: false });
  await sandbox.finopsMail.idle();
});

afterAll(async () => {
  await sandbox.stop();
});

function env(id: string): FinOpsEnvironmentRecord {
  const record = sandbox.state.finops.find((e) => e.id === id);
  if (!record) throw new Error(`no environment ${id}`);
  return record;
}

async function startBatch(id: string, body: Record<string, unknown> = {}): Promise<void> {
  const reply = await finopsControl(sandbox, id, 'batch', { running: true, ...body });
  expect(reply.status).toBe(200);
  await sandbox.finopsMail.idle();
}

describe('the Email distributor batch with the Graph provider', () => {
  it('signs in with the key F&O holds, sends through Graph as the batch user, and reuses its token until shortly before expiry', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-graph');
    const older = app.addSecret();
    const held = app.addSecret();
    expect((await finopsControl(sandbox, 'graph', 'form', { applicationId: app.appId, secret: held.secret, batchProvider: 'Graph' })).status).toBe(200);
    // Positive control: nothing is sent before the batch runs.
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(0);
    const calls = sandbox.state.calls.length;

    await startBatch('graph');

    const sent = sentBy(sandbox.state, app.appId);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ from: SENDER_MAILBOX, senderAppId: app.appId, subject: 'Workflow notification from graph' });
    const view = await finopsState(sandbox, 'graph');
    expect(view.emailHistory).toEqual([{ at: expect.any(String) as string, provider: 'Graph', status: 'sent', keyId: held.keyId }]);
    expect(view.emailHistory[0]?.keyId).not.toBe(older.keyId);
    expect(view.graphCredential).toEqual({ applicationId: app.appId, secretSet: true, keyId: held.keyId });
    expect(view.queuedMessages).toBe(0);
    const made = sandbox.state.calls.slice(calls);
    expect(made.filter((c) => c.service === 'entra').map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      `POST /${sandbox.state.tenantId}/oauth2/v2.0/token 200`,
    ]);
    expect(made.filter((c) => c.service === 'graph').map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      `POST /v1.0/users/${SENDER_MAILBOX}/sendMail 202`,
    ]);

    // The next runs within the token's life sign in no more; after an hour F&O asks for a new token.
    await advance(sandbox, 'PT1M');
    await advance(sandbox, 'PT1M');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(3);
    expect(tokenRequests(sandbox.state, calls)).toBe(1);
    await advance(sandbox, 'PT1H');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(4);
    expect(tokenRequests(sandbox.state, calls)).toBe(2);
  });

  it('fails with the AADSTS text for a wrong secret, sends nothing, keeps the messages queued, and heals with the right secret', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-wrong');
    const right = app.addSecret();
    await finopsControl(sandbox, 'wrong', 'form', { applicationId: app.appId, secret: 'Wr0ng~secret-that-entra-never-issued-12345', batchProvider: 'Graph' });

    await startBatch('wrong');
    await advance(sandbox, 'PT1M');

    expect(sentBy(sandbox.state, app.appId)).toHaveLength(0);
    let view = await finopsState(sandbox, 'wrong');
    expect(view.emailHistory).toHaveLength(2);
    for (const record of view.emailHistory) {
      expect(record).toMatchObject({ provider: 'Graph', status: 'failed', keyId: null });
      expect(record.error).toMatch(/^AADSTS7000215: Invalid client secret provided\./);
    }
    expect(view.queuedMessages).toBe(2);
    expect(view.graphCredential.keyId).toBeNull();

    // Positive control: the right secret, entered on the form, sends the whole queue at the next run.
    await finopsControl(sandbox, 'wrong', 'form', { secret: right.secret });
    await advance(sandbox, 'PT1M');
    view = await finopsState(sandbox, 'wrong');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(3);
    expect(view.queuedMessages).toBe(0);
    expect(view.emailHistory.slice(0, 3).map((r) => `${r.status} ${r.keyId ?? ''}`)).toEqual([`sent ${right.keyId}`, `sent ${right.keyId}`, `sent ${right.keyId}`]);
  });

  it('fails with AADSTS7000222 and the key id once the held secret has expired, and sends nothing more', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-expired');
    const shortLived = app.addSecret(1);
    await finopsControl(sandbox, 'expired', 'form', { applicationId: app.appId, secret: shortLived.secret, batchProvider: 'Graph' });

    await startBatch('expired');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);

    await advance(sandbox, 'P2D');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);
    const [latest] = (await finopsState(sandbox, 'expired')).emailHistory;
    expect(latest).toMatchObject({ provider: 'Graph', status: 'failed', keyId: shortLived.keyId });
    expect(latest?.error).toMatch(/^AADSTS7000222: The provided client secret keys for app '[0-9a-f-]+' are expired\./);
  });

  it('fails without contacting Entra when no Graph application id is set', async () => {
    await finopsControl(sandbox, 'checks', 'form', { batchProvider: 'Graph' });
    const calls = sandbox.state.calls.length;
    await startBatch('checks');
    const [latest] = (await finopsState(sandbox, 'checks')).emailHistory;
    expect(latest).toEqual({ at: expect.any(String) as string, provider: 'Graph', status: 'failed', error: NO_APPLICATION_ID_ERROR, keyId: null });
    expect(sandbox.state.calls.slice(calls)).toEqual([]);
  });
});

describe('the Email distributor batch with the SMTP provider', () => {
  it('records SMTP sends and signs in nowhere', async () => {
    expect(env('smtp').emailParameters.MailerNonInteractive).toBe('SMTP');
    await finopsControl(sandbox, 'smtp', 'enqueue', { count: 2 });
    const calls = sandbox.state.calls.length;
    const mail = sandbox.state.sentMail.length;

    await startBatch('smtp');

    const view = await finopsState(sandbox, 'smtp');
    expect(view.emailHistory.map((r) => `${r.provider} ${r.status}`)).toEqual(['SMTP sent', 'SMTP sent', 'SMTP sent']);
    expect(view.emailHistory[0]).not.toHaveProperty('keyId');
    expect(view.queuedMessages).toBe(0);
    expect(sandbox.state.calls.slice(calls)).toEqual([]);
    expect(sandbox.state.sentMail).toHaveLength(mail);
  });
});

describe('starting and stopping the batch', () => {
  it('sends nothing and signs in nowhere while stopped, and runs at once when started again', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-stop');
    const { secret } = app.addSecret();
    await finopsControl(sandbox, 'stop', 'form', { applicationId: app.appId, secret, batchProvider: 'Graph' });
    await startBatch('stop', { intervalMinutes: 1 });
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);

    const stopped = await finopsControl(sandbox, 'stop', 'batch', { running: false });
    expect(stopped.body.batch).toEqual({ running: false, intervalMinutes: 1, user: SENDER_MAILBOX });
    const calls = sandbox.state.calls.length;
    await advance(sandbox, 'PT10M');
    await finopsControl(sandbox, 'stop', 'enqueue', { count: 1 });
    await advance(sandbox, 'PT2H');
    expect(sandbox.state.calls.slice(calls)).toEqual([]);
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);
    expect((await finopsState(sandbox, 'stop')).emailHistory).toHaveLength(1);

    await startBatch('stop');
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(3);
    expect((await finopsState(sandbox, 'stop')).batch.running).toBe(true);
    // The token of two hours ago has expired: the restart signs in again.
    expect(tokenRequests(sandbox.state, calls)).toBe(1);
  });
});

describe('a database copy', () => {
  it("carries the source's application id and a secret the target cannot decrypt, which fails without a sign-in until a new secret is entered", async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-copy');
    const key = app.addSecret();
    await finopsControl(sandbox, 'source', 'form', { applicationId: app.appId, secret: key.secret, batchProvider: 'Graph' });
    await startBatch('source');
    // Positive control: the secret works where it was entered.
    expect((await finopsState(sandbox, 'source')).emailHistory[0]).toMatchObject({ status: 'sent', keyId: key.keyId });

    const copied = await finopsControl(sandbox, 'target', 'copy-database', { from: 'source' });
    expect(copied.status).toBe(200);
    expect(copied.body.graphCredential).toEqual({ applicationId: app.appId, secretSet: true, keyId: null });
    expect(copied.body.emailParameters.MailerNonInteractive).toBe('Graph');
    // Per Microsoft, a refresh does not copy the SMTP relay server.
    expect(copied.body.emailParameters.SMTPRelayServerName).toBe('');
    expect(JSON.stringify(copied.body)).not.toContain(key.secret);
    // The database brings the source's Email history along.
    expect(copied.body.emailHistory[0]).toMatchObject({ status: 'sent', keyId: key.keyId });

    const calls = sandbox.state.calls.length;
    await startBatch('target');
    const failed = (await finopsState(sandbox, 'target')).emailHistory[0];
    expect(failed).toEqual({ at: expect.any(String) as string, provider: 'Graph', status: 'failed', error: DECRYPTION_ERROR, keyId: null });
    expect(sandbox.state.calls.slice(calls).filter((c) => c.service === 'entra' || c.service === 'graph')).toEqual([]);
    expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);

    await finopsControl(sandbox, 'target', 'form', { secret: key.secret });
    await advance(sandbox, 'PT1M');
    const healed = await finopsState(sandbox, 'target');
    expect(healed.emailHistory[0]).toMatchObject({ provider: 'Graph', status: 'sent', keyId: key.keyId });
    expect(healed.graphCredential.keyId).toBe(key.keyId);
    expect(healed.queuedMessages).toBe(0);
  });

  it('is refused from itself, from an unknown environment and across tenants', async () => {
    expect((await finopsControl<ControlError>(sandbox, 'target', 'copy-database', { from: 'target' })).status).toBe(400);
    expect((await finopsControl<ControlError>(sandbox, 'target', 'copy-database', { from: 'nowhere' })).status).toBe(404);
    env('checks').tenantId = '11111111-2222-3333-4444-555555555555';
    try {
      const refused = await finopsControl<ControlError>(sandbox, 'target', 'copy-database', { from: 'checks' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toContain("can't be refreshed from one tenant to another");
    } finally {
      env('checks').tenantId = sandbox.state.tenantId;
    }
    // Positive control: within the tenant the same copy is accepted.
    expect((await finopsControl(sandbox, 'target', 'copy-database', { from: 'checks' })).status).toBe(200);
  });
});

describe('batch runs on the virtual clock', () => {
  async function historyLength(id: string): Promise<number> {
    return (await finopsState(sandbox, id)).emailHistory.length;
  }

  it('runs at once when started, then once per interval, and collapses a long jump into one run that sends everything queued', async () => {
    await startBatch('clock', { intervalMinutes: 1 });
    expect(await historyLength('clock')).toBe(1);

    await advance(sandbox, 'PT30S');
    expect(await historyLength('clock')).toBe(1);
    await advance(sandbox, 'PT30S');
    expect(await historyLength('clock')).toBe(2);

    await finopsControl(sandbox, 'clock', 'enqueue', { count: 4 });
    await advance(sandbox, 'P1D');
    // One run: the workflow message of the run plus the four queued, not 1,440 runs.
    expect(await historyLength('clock')).toBe(7);
    expect((await finopsState(sandbox, 'clock')).queuedMessages).toBe(0);

    await advance(sandbox, 'PT1M');
    expect(await historyLength('clock')).toBe(8);
  });

  it('follows a changed interval and answers the control API while a thirty-day jump is worked off', async () => {
    await startBatch('bounded', { intervalMinutes: 5 });
    expect(await historyLength('bounded')).toBe(1);
    await advance(sandbox, 'PT4M');
    expect(await historyLength('bounded')).toBe(1);
    await advance(sandbox, 'PT1M');
    expect(await historyLength('bounded')).toBe(2);

    const before = Date.parse((await sandbox.control<{ now: string }>('/state')).body.now);
    const jump = await sandbox.control<{ now: string }>('/clock', { body: { advance: 'P30D' } });
    expect(jump.status).toBe(200);
    // The event loop is free while the run goes on.
    expect((await sandbox.control('/healthz')).status).toBe(200);
    await sandbox.finopsMail.idle();
    // One run for the thirty days; the two older records left Email history with its 30-day retention.
    const history = (await finopsState(sandbox, 'bounded')).emailHistory;
    expect(history).toHaveLength(1);
    // The run is due at the end of the jump; the clock goes on with real time meanwhile, so the reply's
    // `now` may be a moment later than the run's.
    expect(Date.parse(history[0]?.at ?? '')).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
  });

  it('also starts due runs on its own timer, without a clock move', async () => {
    await startBatch('clock', { intervalMinutes: 1 });
    const before = await historyLength('clock');
    env('clock').batch.nextRunAt = sandbox.state.now() + 300;
    const deadline = Date.now() + 5000;
    while ((await historyLength('clock')) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await sandbox.finopsMail.idle();
    expect(await historyLength('clock')).toBe(before + 1);
  });
});

describe('the F&O control routes', () => {
  it('validate their input and name the environment they could not find', async () => {
    expect((await finopsControl<ControlError>(sandbox, 'nowhere', 'batch', { running: true })).status).toBe(404);
    const provider = await finopsControl<ControlError>(sandbox, 'checks', 'form', { batchProvider: 'Pigeon' });
    expect(provider.status).toBe(400);
    expect(provider.body.error.message).toContain('batchProvider');
    expect((await finopsControl<ControlError>(sandbox, 'checks', 'batch', { intervalMinutes: 5 })).status).toBe(400);
    expect((await finopsControl<ControlError>(sandbox, 'checks', 'batch', { running: true, intervalMinutes: 0 })).status).toBe(400);
    expect((await finopsControl<ControlError>(sandbox, 'checks', 'enqueue', { count: 0 })).status).toBe(400);
    expect((await finopsControl<ControlError>(sandbox, 'checks', 'reboot', {})).status).toBe(404);
    // Positive control: a valid form is accepted and shows in /state.
    const accepted = await finopsControl(sandbox, 'checks', 'form', { batchProvider: 'Exchange' });
    expect(accepted.status).toBe(200);
    expect(accepted.body.emailParameters.MailerNonInteractive).toBe('Exchange');
  });

  it('never show a secret value, and keep the newest fifty history records, newest first', async () => {
    const app = addMailApp(sandbox.state, 'fno-mail-view');
    const { secret } = app.addSecret();
    await finopsControl(sandbox, 'checks', 'form', { applicationId: app.appId, secret, batchProvider: 'SMTP' });
    await finopsControl(sandbox, 'checks', 'enqueue', { count: 60 });
    await startBatch('checks');

    const text = await (await fetch(`${sandbox.endpoints.controlUrl}/state`)).text();
    expect(text).not.toContain(secret);
    const view = await finopsState(sandbox, 'checks');
    expect(view.emailHistory).toHaveLength(50);
    const times = view.emailHistory.map((r) => Date.parse(r.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(env('checks').emailHistory.length).toBeGreaterThan(60);
  });

  it('fail an SMTP send without an outgoing mail server', async () => {
    env('smtp').emailParameters.SMTPRelayServerName = '';
    try {
      await startBatch('smtp');
      expect((await finopsState(sandbox, 'smtp')).emailHistory[0]).toMatchObject({ provider: 'SMTP', status: 'failed', error: SMTP_NO_SERVER_ERROR });
    } finally {
      env('smtp').emailParameters.SMTPRelayServerName = 'smtp.office365.com';
    }
  });
});
