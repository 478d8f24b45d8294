/**
 * The setup orchestration through every branch, on the local durable driver with fake activities and
 * virtual time: the order of the steps (F&O only ever gets a verified credential), consent granted or
 * requested (event, polling, reminders, timeout), manual delivery, mailbox scoping, retries of
 * transient failures, and permanent failures that stop the run at once.
 */
import { buildSetupInput } from '../../src/functions/runs';
import type { SetupRequest } from '../../src/contracts/setup';
import { fakes, reading, type Shows } from './fakes';
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
      'describeFinOps',
      'deliverToFinOps',
      'readFinOpsEvidence',
      'recordFinOpsEvidence',
    ]);
    expect(h.steps(id).every(([, s]) => s === 'succeeded')).toBe(true);
    expect(h.detail(id, 'deliverToFinOps')).toBe("auto: F&O's metadata shows the FnoGraphMail extension: credential written; batch email provider set to Graph");
    expect(h.detail(id, 'proveFinOpsUses')).toMatch(/^Entra shows F&O signing in with credential key-1 at /);
    // Sign-ins count from the delivery on: the product's own verification, before it, proves nothing.
    const delivered = fakes.names().indexOf('deliverToFinOps');
    expect(fakes.names().indexOf('verifyCredential')).toBeLessThan(delivered);
    expect(fakes.callsOf('readFinOpsEvidence')[0]).toMatchObject({ keyId: 'key-1', read: { provider: true, credential: true, health: false } });
    expect(fakes.callsOf('recordFinOpsEvidence')[0]?.evidence).toMatchObject({ provenAt: expect.any(String), since: expect.any(String) });
    expect(h.status(id).output).toMatchObject({
      environmentId: 'happy',
      appId: 'app-happy',
      credential: { keyId: 'key-1' },
      status: 'active',
      finops: { provenAt: expect.any(String), provider: 'Graph' },
    });
  });

  it("has F&O send a test message itself where the extension offers it, to the request's test recipient", async () => {
    const id = h.start('setup', input('own-send', { testRecipient: 'it@contoso.com' }, { SENDER_MAILBOX: 'erp@contoso.com', ALERT_RECIPIENTS: 'ops@contoso.com' }));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('sendFinOpsTestEmail')).toEqual([expect.objectContaining({ recipient: 'it@contoso.com' })]);
    expect(fakes.names().indexOf('sendFinOpsTestEmail')).toBeGreaterThan(fakes.names().indexOf('deliverToFinOps'));
    expect(h.detail(id, 'proveFinOpsUses')).toContain("F&O's own test send: Sent: The test message was sent.");
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
    const settings = { CONSENT_POLL_MINUTES: '120', CONSENT_TIMEOUT_HOURS: '72', MANUAL_DELIVERY_REMINDER_HOURS: '24' };

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
      // One notice, a reminder at 24 h and 48 h (none at the deadline), a poll every 2 hours.
      expect(fakes.callsOf('notify').map((n) => n.kind)).toEqual(['action-needed', 'reminder', 'reminder']);
      expect(fakes.callsOf('checkConsent')).toHaveLength((72 * 60) / 120 - 1);
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
      expect(h.detail(id, 'deliverToFinOps')).toBe('delivery strategy manual: entered in F&O');
      expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('succeeded');
    });

    it('does not take a confirmation the evidence contradicts, says what is wrong, and completes once F&O signs in', async () => {
      let shows: Shows = { provider: 'SMTP' };
      fakes.on('readFinOpsEvidence', (i) => reading(i, shows));
      const id = h.start('setup', input('manual-wrong', { delivery: 'manual' }, { EVIDENCE_POLL_MINUTES: '5' }));
      await h.settle();
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.status(id).runtimeStatus).toBe('Running');
      expect(h.custom(id).waitingFor?.event).toBe('EmailParametersUpdated');
      expect(h.detail(id, 'deliverToFinOps')).toBe(
        'confirmation not accepted: the batch email provider is still SMTP, not Graph; no sign-in with credential key-1 yet (F&O signs in when its email batch sends)',
      );
      expect(fakes.callsOf('recordDelivery')).toEqual([]);
      const told = fakes.callsOf('notify').at(-1);
      expect(told).toMatchObject({ kind: 'action-needed', subject: 'F&O manual-wrong: the email parameters are not right yet' });
      expect(told?.lines[0]).toBe('EmailParametersUpdated was raised, but the batch email provider is still SMTP, not Graph; no sign-in with credential key-1 yet (F&O signs in when its email batch sends).');

      // A wrong secret pasted: Entra shows the failure.
      shows = { provider: 'Graph', failure: { at: new Date(h.clock.now()).toISOString(), code: 7000215 } };
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.detail(id, 'deliverToFinOps')).toMatch(/^confirmation not accepted: F&O signs in with a secret that does not match \(AADSTS7000215 at /);

      // The right value entered: the next poll sees F&O sign in, with no announcement needed.
      shows = { provider: 'Graph', current: new Date(h.clock.now() + 60_000).toISOString() };
      await h.nextTimer(id);
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.callsOf('recordDelivery')).toHaveLength(1);
      expect(h.status(id).output).toMatchObject({ status: 'active' });
    });

    it('without access to sign-in logs takes a confirmation F&O does not contradict, says so once, and leaves the environment unproven', async () => {
      let provider = 'SMTP';
      fakes.on('readFinOpsEvidence', (i) => reading(i, { access: 'unavailable', provider }));
      const id = h.start('setup', input('manual-blind', { delivery: 'manual' }));
      await h.settle();
      // Polls learn nothing without the log: only the announcement can end the wait.
      await h.nextTimer(id);
      expect(h.custom(id).waitingFor?.event).toBe('EmailParametersUpdated');
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.detail(id, 'deliverToFinOps')).toBe('confirmation not accepted: the batch email provider is still SMTP, not Graph');
      provider = 'Graph';
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(h.detail(id, 'deliverToFinOps')).toBe('delivery strategy manual: confirmed by an administrator');
      expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('skipped');
      expect(h.detail(id, 'proveFinOpsUses')).toContain("sign-in evidence unavailable: the product's identity may not read sign-in logs");
      expect(h.status(id).output).toMatchObject({ status: 'unproven', finops: { unavailable: 'permission' } });
    });

    it('takes a confirmation that arrives while a poll reads the evidence', async () => {
      // The event lands during the poll's activity: the wait must still see it when the poll returns,
      // rather than waiting on a new timer beside an event the orchestration has already received.
      let raiseDuringRead = false;
      let provider = 'SMTP';
      fakes.on('readFinOpsEvidence', (i) => {
        if (raiseDuringRead) {
          raiseDuringRead = false;
          h.runtime.durable.raiseEvent(id, 'EmailParametersUpdated', {});
        }
        return reading(i, { access: 'unavailable', provider });
      });
      const id = h.start('setup', input('manual-race', { delivery: 'manual' }, { EVIDENCE_POLL_MINUTES: '5' }));
      await h.settle();
      raiseDuringRead = true;
      await h.nextTimer(id);
      expect(h.detail(id, 'deliverToFinOps')).toBe('confirmation not accepted: the batch email provider is still SMTP, not Graph');
      expect(fakes.callsOf('notify').at(-1)).toMatchObject({ subject: 'F&O manual-race: the email parameters are not right yet' });

      // Again once the provider is right: the run completes on that confirmation, with no further timer.
      provider = 'Graph';
      raiseDuringRead = true;
      await h.nextTimer(id);
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(h.detail(id, 'deliverToFinOps')).toBe('delivery strategy manual: confirmed by an administrator');
    });

    it('takes a second confirmation that arrives while the check of the first runs, after polls came and went', async () => {
      // Without the sign-in log only announcements end the wait; polls (timers) win several times first.
      let provider = 'SMTP';
      let announceDuringRead = false;
      fakes.on('readFinOpsEvidence', (i) => {
        const shows = reading(i, { access: 'unavailable', provider });
        if (announceDuringRead) {
          // The administrator fixes the provider and says so again while the first announcement is checked.
          announceDuringRead = false;
          provider = 'Graph';
          h.runtime.durable.raiseEvent(id, 'EmailParametersUpdated', {});
        }
        return shows;
      });
      const id = h.start('setup', input('manual-twice', { delivery: 'manual' }, { EVIDENCE_POLL_MINUTES: '30' }));
      await h.settle();
      await h.nextTimer(id);
      await h.nextTimer(id);
      expect(h.status(id).runtimeStatus).toBe('Running');
      announceDuringRead = true;
      await h.raise(id, 'EmailParametersUpdated');
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(h.detail(id, 'deliverToFinOps')).toBe('delivery strategy manual: confirmed by an administrator');
      expect(fakes.callsOf('notify').map((n) => n.subject)).toContain('F&O manual-twice: the email parameters are not right yet');
    });

    it('times out after MANUAL_DELIVERY_TIMEOUT_HOURS', async () => {
      fakes.on('readFinOpsEvidence', (i) => reading(i, { provider: 'SMTP' }));
      const id = h.start('setup', input('manual-timeout', { delivery: 'manual' }, { MANUAL_DELIVERY_TIMEOUT_HOURS: '12', MANUAL_DELIVERY_REMINDER_HOURS: '24', EVIDENCE_POLL_MINUTES: '60' }));
      await h.settle();
      while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
      expect(h.status(id).runtimeStatus).toBe('Failed');
      expect(String(h.status(id).output)).toContain('within 12 hours');
      expect(fakes.callsOf('recordDelivery')).toEqual([]);
    });
  });

  describe('delivery strategy auto', () => {
    it("falls back to instructions when F&O's metadata shows no extension, and says why", async () => {
      fakes.on('describeFinOps', () => ({ reachable: true, credentialEntity: false, sendTestEmail: false, emailHealth: false }));
      const id = h.start('setup', input('auto-manual'));
      await h.settle();
      expect(fakes.callsOf('deliverToFinOps')).toEqual([expect.objectContaining({ strategy: 'manual' })]);
      expect(h.custom(id).waitingFor?.event).toBe('EmailParametersUpdated');
      expect(h.detail(id, 'deliverToFinOps')).toBe("auto: F&O's metadata shows no FnoGraphMail extension, so a person enters it: waiting for an administrator to enter the credential in F&O");
      expect(fakes.callsOf('describeFinOps')).toHaveLength(1);
    });

    it("falls back to instructions when F&O's metadata cannot be read", async () => {
      fakes.on('describeFinOps', () => ({ reachable: false, credentialEntity: false, sendTestEmail: false, emailHealth: false, reason: 'F&O answered 401' }));
      const id = h.start('setup', input('auto-unreadable'));
      await h.settle();
      expect(h.detail(id, 'deliverToFinOps')).toContain("auto: F&O's metadata could not be read (F&O answered 401), so a person enters it");
    });
  });

  describe('proof', () => {
    it('waits for F&O to sign in, reminds, and fails at EVIDENCE_TIMEOUT_HOURS saying what it saw', async () => {
      fakes.on('readFinOpsEvidence', (i) => reading(i, {}));
      const id = h.start('setup', input('silent', {}, { EVIDENCE_POLL_MINUTES: '30', EVIDENCE_TIMEOUT_HOURS: '3', MANUAL_DELIVERY_REMINDER_HOURS: '1' }));
      await h.settle();
      expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('waiting');
      expect(h.detail(id, 'proveFinOpsUses')).toBe('waiting for F&O to sign in with credential key-1: no sign-in with credential key-1 yet (F&O signs in when its email batch sends)');
      const start = h.clock.now();
      while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
      expect(h.status(id).runtimeStatus).toBe('Failed');
      expect(h.clock.now() - start).toBe(3 * HOUR);
      expect(String(h.status(id).output)).toContain('F&O was not seen using credential key-1 of environment silent within 3 hours');
      // Other tests' runs still wait on the same clock: count this environment's calls.
      expect(fakes.callsOf('readFinOpsEvidence').filter((c) => c.environmentId === 'silent')).toHaveLength(3 * 2 + 1);
      expect(fakes.callsOf('notify').filter((n) => n.environmentId === 'silent').map((n) => n.kind)).toEqual(['action-needed', 'reminder']);
      expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('failed');
    });

    it('without access to sign-in logs goes on as before: the step says so and the environment is unproven', async () => {
      fakes.on('readFinOpsEvidence', (i) => reading(i, { access: 'unavailable' }));
      const id = h.start('setup', input('blind'));
      await h.settle();
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.callsOf('readFinOpsEvidence')).toHaveLength(1);
      expect(h.status(id).output).toMatchObject({ status: 'unproven' });
    });

    it('a reading that fails is no evidence either way: it keeps waiting', async () => {
      let fail = true;
      fakes.on('readFinOpsEvidence', (i) => (fail ? { fail: { kind: 'permanent', service: 'graph', message: 'Graph answered 400', action: 'x' } } : reading(i, { current: i.asOf })));
      const id = h.start('setup', input('flaky-log', {}, { EVIDENCE_POLL_MINUTES: '5' }));
      await h.settle();
      expect(h.detail(id, 'proveFinOpsUses')).toContain('the sign-in log could not be read: Step readFinOpsEvidence failed: Graph answered 400');
      fail = false;
      await h.nextTimer(id);
      expect(h.status(id).runtimeStatus).toBe('Completed');
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
