/**
 * Mail goes out only as SENDER_MAILBOX. An environment's app and the product's identity may send as any
 * mailbox of the tenant (tenant-wide `Mail.Send`), so the mailbox is the product's choice, never a
 * request's: a setup naming another `senderMailbox` is a 400 that starts nothing and sends nothing
 * (naming SENDER_MAILBOX itself, in any case, is accepted); the test message and alert mail are sent as
 * SENDER_MAILBOX. Positive control: the same setup run given another sender in its input (the edge
 * bypassed, the run started directly) does send as that mailbox, and the check over sent mail finds it.
 */
import { ADMIN_MAILBOX, DEFAULT_MANAGED_IDENTITY_ROLES, SENDER_MAILBOX } from '../../sandbox/seed';
import type { SentMailRecord } from '../../sandbox/types';
import { loadConfig } from '../../src/config';
import { buildSetupInput, RunInputError } from '../../src/functions/runs';
import { startTestApp, type TestApp } from '../helpers/app';
import { drive, NEVER, TimeKeeper } from './support';

const ENVIRONMENTS = ['send-a', 'send-b', 'send-ctl'];

let app: TestApp;
let keeper: TimeKeeper;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: ENVIRONMENTS, secretPropagationSeconds: 0, managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Mail.Send'] },
    appSettings: { ALERT_RECIPIENTS: ADMIN_MAILBOX, ROTATION_GRACE_HOURS: '0', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
  });
  keeper = new TimeKeeper(app);
});

afterAll(async () => {
  await app?.stop();
});

/**
 * Mail sent as a mailbox other than SENDER_MAILBOX. (F&O's own sends, through the extension's test send,
 * go out as the sender on its Email parameters, which in the sandbox is that mailbox too.)
 */
const fromElsewhere = (mail: SentMailRecord[]): string[] => mail.filter((m) => m.from.toLowerCase() !== SENDER_MAILBOX).map((m) => `${m.from}: ${m.subject}`);

describe('a setup request', () => {
  it.each([
    ['another mailbox of the tenant', ADMIN_MAILBOX],
    ['a mailbox of another domain', 'ceo@fabrikam.com'],
  ])('naming %s as senderMailbox is refused with a 400, and nothing starts or is sent', async (_what, senderMailbox) => {
    const calls = app.sandbox.state.calls.length;
    const reply = await app.api<{ field?: string; detail?: string }>('POST', '/api/environments/send-a/setup', {
      environmentUrl: app.environmentUrl('send-a'),
      senderMailbox,
      testRecipient: ADMIN_MAILBOX,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.field).toBe('senderMailbox');
    expect(reply.body.detail).toBe(`senderMailbox must be the configured SENDER_MAILBOX (${SENDER_MAILBOX}): test messages are sent only from it.`);
    expect(app.runtime.durable.listInstances()).toEqual([]);
    expect(app.sandbox.state.calls.slice(calls)).toEqual([]);
    expect(app.sandbox.state.sentMail).toEqual([]);
  });

  it('naming SENDER_MAILBOX itself (in upper case) is accepted, and the test message goes out as SENDER_MAILBOX', async () => {
    const reply = await app.api('POST', '/api/environments/send-a/setup', {
      environmentUrl: app.environmentUrl('send-a'),
      senderMailbox: SENDER_MAILBOX.toUpperCase(),
      testRecipient: ADMIN_MAILBOX,
    });
    expect(reply.status).toBe(202);
    expect((await drive(app, keeper, 'setup-send-a')).runtimeStatus).toBe('Completed');
    const test = app.sandbox.state.sentMail.filter((m) => m.subject === 'F&O Graph email is set up for send-a');
    expect(test.map((m) => ({ from: m.from, to: m.to }))).toEqual([{ from: SENDER_MAILBOX, to: [ADMIN_MAILBOX] }]);
  });

  it('without SENDER_MAILBOX configured, any senderMailbox is refused and no test message is planned', () => {
    const config = loadConfig({ ...app.appSettings, SENDER_MAILBOX: '' });
    const url = app.environmentUrl('send-b');
    expect(() => buildSetupInput('send-b', url, { environmentUrl: url, senderMailbox: SENDER_MAILBOX }, config)).toThrow(RunInputError);
    expect(() => buildSetupInput('send-b', url, { environmentUrl: url, senderMailbox: SENDER_MAILBOX }, config)).toThrow(/SENDER_MAILBOX, which is not set/);
    expect(buildSetupInput('send-b', url, { environmentUrl: url, testRecipient: ADMIN_MAILBOX }, config)).not.toHaveProperty('senderMailbox');
  });
});

describe('alert mail', () => {
  it('goes out as SENDER_MAILBOX, sent by the product’s own identity', async () => {
    expect((await app.api('POST', '/api/environments/send-b/setup', { environmentUrl: app.environmentUrl('send-b') })).status).toBe(202);
    expect((await drive(app, keeper, 'setup-send-b')).runtimeStatus).toBe('Completed');
    // F&O refuses the next credential: the rotation fails and says so by mail.
    await app.control('/faults', { service: 'finops', method: 'PATCH', pathPattern: 'GraphEmailCredentials', concerning: 'send-b', status: 403, count: 1 });
    expect((await app.api('POST', '/api/environments/send-b/rotate', {})).status).toBe(202);
    expect((await drive(app, keeper, 'rotate-send-b')).runtimeStatus).toBe('Failed');
    const alerts = app.sandbox.state.sentMail.filter((m) => m.to.includes(ADMIN_MAILBOX) && m.subject.includes('send-b'));
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    expect(alerts.map((m) => ({ from: m.from, by: m.senderAppId }))).toEqual(alerts.map(() => ({ from: SENDER_MAILBOX, by: app.endpoints.managedIdentity.clientId })));
  });

  it('every message sent so far went out as SENDER_MAILBOX', () => {
    expect(app.sandbox.state.sentMail.length).toBeGreaterThanOrEqual(2);
    expect(fromElsewhere(app.sandbox.state.sentMail)).toEqual([]);
  });
});

describe('positive control', () => {
  it('the setup run given another sender, past the edge, sends as it: the same check finds the message', async () => {
    const config = loadConfig(app.appSettings);
    const url = app.environmentUrl('send-ctl');
    const input = buildSetupInput('send-ctl', url, { environmentUrl: url, testRecipient: ADMIN_MAILBOX }, { ...config, senderMailbox: ADMIN_MAILBOX });
    app.runtime.durable.startNew('setupEnvironment', { instanceId: 'setup-send-ctl', input });
    expect((await drive(app, keeper, 'setup-send-ctl')).runtimeStatus).toBe('Completed');
    expect(fromElsewhere(app.sandbox.state.sentMail)).toEqual([`${ADMIN_MAILBOX}: F&O Graph email is set up for send-ctl`]);
  });
});
