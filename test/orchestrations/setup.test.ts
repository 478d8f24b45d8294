/**
 * The setup orchestration through every branch, on the local durable driver with fake activities and
 * virtual time: the order of the steps (F&O only ever gets a verified credential), consent granted or
 * requested (event, polling, reminders, timeout), manual delivery, mailbox scoping, retries of
 * transient failures, and permanent failures that stop the run at once.
 */
import { buildSetupInput } from '../../src/functions/runs';
import type { SetupRequest } from '../../src/contracts/setup';
import { fakes } from './fakes';
import { configWith, startHarness, type Harness } from './harness';

let h: Harness;
const HOUR = 3_600_000;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => fakes.reset());

function input(environmentId: string, request: Partial<SetupRequest> = {}, settings: Record<string, string> = {}) {
  return buildSetupInput(environmentId, `https://${environmentId}.sandbox.operations.dynamics.com`, { environmentUrl: 'x', ...request }, configWith(settings));
}

const failure = (message: string) => ({ fail: { kind: 'permanent' as const, service: 'graph' as const, message, action: 'Do something.' } });

describe('setup', () => {
  it('registers, consents, stores, verifies and only then delivers, and returns the record', async () => {
    const id = h.start('setup', input('happy'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.names()).toEqual([
      'registerApplication',
      'ensureServicePrincipal',
      'grantAdminConsent',
      'createClientSecret',
      'verifyCredential',
      'deliverToFinOps',
    ]);
    expect(h.steps(id).every(([, s]) => s === 'succeeded')).toBe(true);
    expect(h.status(id).output).toMatchObject({ environmentId: 'happy', appId: 'app-happy', credential: { keyId: 'key-1' }, status: 'active' });
  });

  it('sends the test message only when something changed and both sender and recipient are known', async () => {
    const withTest = input('test-message', { testRecipient: 'it@contoso.com' }, { SENDER_MAILBOX: 'erp@contoso.com' });
    await h.settle();
    h.start('setup', withTest);
    await h.settle();
    expect(fakes.callsOf('verifyCredential')[0]).toMatchObject({ senderMailbox: 'erp@contoso.com', testRecipient: 'it@contoso.com' });

    fakes.reset();
    fakes.on('registerApplication', () => ({ appId: 'a', appObjectId: 'o', outcome: 'unchanged' }));
    fakes.on('createClientSecret', () => ({ reference: { secretName: 's', secretVersion: 'v', keyId: 'k', expiresOn: '2031-01-01T00:00:00.000Z' }, created: false, delivered: true, removedOrphans: [] }));
    const again = h.start('setup', withTest);
    await h.settle();
    expect(h.status(again).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('verifyCredential')[0]).not.toHaveProperty('senderMailbox');
    expect(fakes.callsOf('deliverToFinOps')).toEqual([]);
    expect(h.detail(again, 'deliverToFinOps')).toBe('F&O already holds this credential');
  });

  it('never hands F&O a credential that failed verification', async () => {
    fakes.on('verifyCredential', () => ({ fail: { kind: 'permanent', service: 'entra', message: 'a token acquired with key-1 does not carry the Mail.Send role', action: 'Check consent.' } }));
    const id = h.start('setup', input('unverified'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(fakes.callsOf('deliverToFinOps')).toEqual([]);
    expect(h.steps(id).find(([n]) => n === 'verifyCredential')?.[1]).toBe('failed');
    expect(h.steps(id).find(([n]) => n === 'deliverToFinOps')?.[1]).toBe('pending');
  });

  it('fails at once on a permanent failure, naming the step, and calls nothing after it', async () => {
    fakes.on('registerApplication', () => failure('the identity lacks Application.ReadWrite.OwnedBy'));
    const id = h.start('setup', input('denied'));
    await h.settle();
    const status = h.status(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toContain('Step registerApplication failed: the identity lacks Application.ReadWrite.OwnedBy');
    expect(fakes.names()).toEqual(['registerApplication']);
    expect(h.steps(id)[0]).toEqual(['registerApplication', 'failed']);
  });

  it('retries a transient failure on virtual time and goes on', async () => {
    fakes.on('createClientSecret', (i, nth) =>
      nth <= 2
        ? { throw: 'Key Vault answered 503' }
        : { reference: { secretName: `fno-graph-mail-${i.environmentId}`, secretVersion: 'v9', keyId: 'key-9', expiresOn: '2031-01-01T00:00:00.000Z' }, created: true, delivered: false, removedOrphans: [] },
    );
    const id = h.start('setup', input('flaky'));
    const status = await h.runUntilQuiet(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('createClientSecret')).toHaveLength(3);
  });

  describe('consent by request', () => {
    const settings = { CONSENT_POLL_MINUTES: '30', CONSENT_TIMEOUT_HOURS: '72', MANUAL_DELIVERY_REMINDER_HOURS: '24' };

    it('publishes the consent URL, keeps waiting when the event comes before Graph shows consent, and goes on once it does', async () => {
      let granted = false;
      fakes.on('checkConsent', () => ({ granted, mailSendGranted: granted, userReadGranted: granted }));
      const id = h.start('setup', input('consent', { consent: 'request' }, settings));
      await h.settle();
      const waiting = h.custom(id).waitingFor;
      expect(waiting?.event).toBe('ConsentGranted');
      expect(waiting?.instructions).toMatchObject({ consentUrl: expect.stringContaining('adminconsent?client_id=app-consent') });
      expect(fakes.callsOf('notify').map((n) => n.kind)).toEqual(['action-needed']);
      expect(fakes.callsOf('createClientSecret')).toEqual([]);

      // Announced but not visible in Graph yet: still waiting, and listening for another announcement.
      await h.raise(id, 'ConsentGranted');
      expect(fakes.callsOf('checkConsent')).toHaveLength(1);
      expect(h.custom(id).waitingFor?.event).toBe('ConsentGranted');

      // The next poll finds it.
      granted = true;
      await h.nextTimer(id);
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(h.detail(id, 'grantAdminConsent')).toBe('granted by an administrator');
      expect(h.custom(id).waitingFor).toBeUndefined();
    });

    it('reminds every reminder interval and fails clearly at the timeout', async () => {
      const id = h.start('setup', input('no-consent', { consent: 'request' }, settings));
      await h.settle();
      const start = h.clock.now();
      while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
      const status = h.status(id);
      expect(status.runtimeStatus).toBe('Failed');
      expect(h.clock.now() - start).toBe(72 * HOUR);
      expect(String(status.output)).toContain('no administrator granted admin consent for environment no-consent within 72 hours');
      // One notice, a reminder at 24 h and 48 h (none at the deadline), a poll every 30 minutes.
      expect(fakes.callsOf('notify').map((n) => n.kind)).toEqual(['action-needed', 'reminder', 'reminder']);
      expect(fakes.callsOf('checkConsent')).toHaveLength((72 * 60) / 30 - 1);
      expect(h.steps(id).find(([n]) => n === 'grantAdminConsent')?.[1]).toBe('failed');
      expect(h.custom(id).waitingFor).toBeUndefined();
      // Nothing was half-created: no credential was made for an app nobody consented to.
      expect(fakes.callsOf('createClientSecret')).toEqual([]);
    });
  });

  describe('manual delivery', () => {
    it('waits for the administrator, records the delivery, and completes', async () => {
      const id = h.start('setup', input('manual', { delivery: 'manual' }));
      await h.settle();
      expect(h.custom(id).waitingFor).toMatchObject({ event: 'EmailParametersUpdated', instructions: { applicationId: 'app-manual' } });
      expect(fakes.callsOf('recordDelivery')).toEqual([]);
      // Verified before the person was asked to enter it.
      expect(fakes.names().indexOf('verifyCredential')).toBeLessThan(fakes.names().indexOf('deliverToFinOps'));
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.callsOf('recordDelivery')).toHaveLength(1);
      expect(h.detail(id, 'deliverToFinOps')).toBe('confirmed by an administrator');
    });

    it('times out after MANUAL_DELIVERY_TIMEOUT_HOURS', async () => {
      const id = h.start('setup', input('manual-timeout', { delivery: 'manual' }, { MANUAL_DELIVERY_TIMEOUT_HOURS: '12', MANUAL_DELIVERY_REMINDER_HOURS: '24' }));
      await h.settle();
      while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
      expect(h.status(id).runtimeStatus).toBe('Failed');
      expect(String(h.status(id).output)).toContain('within 12 hours');
      expect(fakes.callsOf('recordDelivery')).toEqual([]);
    });
  });

  describe('mailbox scoping', () => {
    const scoped = { mailboxScope: { groupOrMailboxes: ['erp@contoso.com'], outOfScopeTestMailbox: 'ceo@contoso.com' } };

    it('grants no tenant-wide Mail.Send, waits for the Exchange administrator, then proves the scope', async () => {
      const id = h.start('setup', input('scoped', scoped));
      await h.settle();
      expect(fakes.callsOf('grantAdminConsent')[0]).toMatchObject({ mailSend: false });
      expect(fakes.callsOf('verifyCredential')[0]).toMatchObject({ mailboxScoped: true });
      expect(h.custom(id).waitingFor?.event).toBe('MailboxScopeApplied');
      await h.raise(id, 'MailboxScopeApplied');
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.callsOf('verifyMailboxScope')).toHaveLength(1);
      expect(h.status(id).output).toMatchObject({ mailboxScope: 'mailboxes:erp@contoso.com' });
    });

    it('skips the scope step when nothing changed and the same scope is recorded', async () => {
      fakes.on('registerApplication', () => ({ appId: 'a', appObjectId: 'o', outcome: 'unchanged' }));
      fakes.on('createClientSecret', () => ({
        reference: { secretName: 's', secretVersion: 'v', keyId: 'k', expiresOn: '2031-01-01T00:00:00.000Z' },
        created: false,
        delivered: true,
        removedOrphans: [],
        mailboxScope: 'mailboxes:erp@contoso.com',
      }));
      const id = h.start('setup', input('scoped-again', scoped));
      await h.settle();
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(h.steps(id).at(-1)).toEqual(['restrictMailboxes', 'skipped']);
      expect(fakes.callsOf('prepareMailboxScope')).toEqual([]);
    });
  });

  it('replays a run that waited, polled and finished to the same result, scheduling nothing new', async () => {
    const id = h.start('setup', input('replayed', { consent: 'request' }, { CONSENT_POLL_MINUTES: '1440' }));
    await h.settle();
    fakes.on('checkConsent', () => ({ granted: true, mailSendGranted: true, userReadGranted: true }));
    await h.nextTimer(id);
    expect(h.status(id).runtimeStatus).toBe('Completed');
    const replay = await h.runtime.durable.replay(id);
    expect(replay.outcome.kind).toBe('state');
    expect(replay.outcome.state?.output).toEqual(h.status(id).output);
    expect(replay.decisions).toMatchObject({ activities: [], timers: [], entityMessages: [] });
  });
});
