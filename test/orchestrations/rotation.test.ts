/**
 * The rotation and drift orchestrations through every branch, on the local durable driver with fake
 * activities and virtual time: replacement order and the grace period, an unknown environment, an
 * expired credential, failures that leave F&O on the previous credential with an alert, and each
 * finding of the drift check with its repair and alert.
 */
import { HistoryEventType } from '../../runtime/durable/history';
import { buildDriftInput, buildRotationInput } from '../../src/functions/runs';
import type { RecordedApplication } from '../../src/contracts/activities';
import type { RotationReason } from '../../src/contracts/rotation';
import { fakeRecord, fakes, reading } from './fakes';
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

const rotation = (id: string, reason: RotationReason = 'sweep', settings: Record<string, string> = {}) => buildRotationInput(id, reason, configWith(settings));
const drift = (id: string, settings: Record<string, string> = {}) => buildDriftInput(id, configWith(settings));
const alerts = () => fakes.callsOf('notify').filter((n) => n.kind === 'alert');

describe('rotation', () => {
  it('creates, verifies, delivers, keeps the previous credential through the grace period, then revokes it', async () => {
    const id = h.start('rotation', rotation('rot', 'sweep', { ROTATION_GRACE_HOURS: '24' }));
    await h.settle();
    expect(fakes.names()).toEqual([
      'readEnvironment',
      'createClientSecret',
      'verifyCredential',
      'describeFinOps',
      'deliverToFinOps',
      'readFinOpsEvidence',
      'recordFinOpsEvidence',
    ]);
    expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('succeeded');
    expect(h.steps(id).find(([n]) => n === 'gracePeriod')?.[1]).toBe('waiting');
    const start = h.clock.now();
    await h.nextTimer(id);
    expect(h.clock.now() - start).toBe(24 * HOUR);
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([expect.objectContaining({ keepKeyId: 'key-1' })]);
    expect(h.status(id).output).toMatchObject({ credential: { keyId: 'key-1' }, status: 'active' });
    expect(alerts()).toEqual([]);
  });

  it('revokes at once with a grace period of 0', async () => {
    const id = h.start('rotation', rotation('rot-0', 'manual', { ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('revokePreviousCredentials')).toHaveLength(1);
  });

  it('fails without an alert for an environment that was never set up', async () => {
    fakes.on('readEnvironment', () => ({ found: false }));
    const id = h.start('rotation', rotation('unknown'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(String(h.status(id).output)).toContain('environment unknown is not registered in Key Vault');
    expect(alerts()).toEqual([]);
  });

  it('raises an alert first when the credential has expired', async () => {
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'expired' }), delivered: true, application: { state: 'own' as const, otherOwners: [] } }));
    const id = h.start('rotation', rotation('expired', 'expired', { ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(fakes.names().slice(0, 2)).toEqual(['readEnvironment', 'notify']);
    expect(alerts()[0]?.subject).toBe('F&O email credential of expired has expired');
    expect(h.status(id).runtimeStatus).toBe('Completed');
  });

  it('leaves F&O on the previous credential when delivery fails: no revocation, an alert, a failed run', async () => {
    fakes.on('deliverToFinOps', () => ({ fail: { kind: 'permanent', service: 'finops', message: 'F&O answered 403', action: 'Register the identity in F&O.' } }));
    const id = h.start('rotation', rotation('refused'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([]);
    expect(alerts().map((a) => a.subject)).toEqual(['Rotating the F&O email credential of refused failed']);
    expect(alerts()[0]?.lines).toContain('F&O keeps using the previous credential; the next sweep tries again.');
    expect(h.steps(id).find(([n]) => n === 'deliverToFinOps')?.[1]).toBe('failed');
  });

  it('does not deliver a credential that failed verification', async () => {
    fakes.on('verifyCredential', () => ({ fail: { kind: 'permanent', service: 'entra', message: 'no Mail.Send', action: 'Grant consent.' } }));
    const id = h.start('rotation', rotation('unverified'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(fakes.callsOf('deliverToFinOps')).toEqual([]);
    expect(alerts()).toHaveLength(1);
  });

  it('waits for the administrator with manual delivery', async () => {
    const id = h.start('rotation', rotation('manual-rot', 'sweep', { DELIVERY_STRATEGY: 'manual', ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(h.custom(id).waitingFor?.event).toBe('EmailParametersUpdated');
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([]);
    await h.raise(id, 'EmailParametersUpdated');
    expect(h.status(id).runtimeStatus).toBe('Completed');
    const names = fakes.names();
    expect(names.indexOf('recordDelivery')).toBeLessThan(names.indexOf('revokePreviousCredentials'));
    expect(names.at(-1)).toBe('revokePreviousCredentials');
  });
});

describe('only the product\'s own application', () => {
  it('a rotation whose registry names an app that is not the product\'s fails at once, touching nothing, and alerts', async () => {
    fakes.on('readEnvironment', (i) => ({
      found: true,
      record: fakeRecord(i.environmentId),
      delivered: true,
      application: { state: 'foreign', reasons: ["the product's identity is not among its owners (attacker-1)"] },
    }));
    const id = h.start('rotation', rotation('tag-edited'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(String(h.status(id).output)).toContain("the registry names application app-tag-edited for environment tag-edited, but it is not the product's own: the product's identity is not among its owners (attacker-1)");
    expect(fakes.names()).toEqual(['readEnvironment', 'notify']);
    expect(alerts().map((a) => a.subject)).toEqual(['Rotating the F&O email credential of tag-edited failed']);
  });

  it('a drift check repairs nothing on an app that is gone or not the product\'s, and says so', async () => {
    const cases: Array<[string, RecordedApplication]> = [
      ['gone-app', { state: 'missing' }],
      ['foreign-app', { state: 'foreign', reasons: ['its uniqueName is x, not fno-graph-mail-foreign-app'] }],
    ];
    for (const [env, application] of cases) {
      fakes.reset();
      fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId), delivered: true, application }));
      const id = h.start('drift', drift(env));
      await h.settle();
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.names()).toEqual(['readEnvironment', 'notify']);
      expect(alerts()[0]?.subject).toBe(`Drift found on the F&O email setup of ${env}`);
      expect(h.steps(id).filter(([, s]) => s !== 'skipped')).toEqual([['readEnvironment', 'failed']]);
    }
  });

  it('a drift check reports owners besides the product as a finding', async () => {
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId), delivered: true, application: { state: 'own', otherOwners: ['user-9'] } }));
    const id = h.start('drift', drift('co-owned'));
    await h.settle();
    expect((h.status(id).output as { found: string[] }).found).toEqual([
      "the app registration has owners besides the product's identity (user-9), who can add credentials to it",
    ]);
    expect(alerts()).toHaveLength(1);
  });
});

describe('revocation waits for F&O', () => {
  const iso = (ms: number) => new Date(ms).toISOString();

  it('keeps the previous credential past the grace minimum while F&O is silent, and revokes within one poll of its first sign-in with the new one', async () => {
    // F&O's batch is stopped: no sign-in at all until it resumes, 30 hours after delivery.
    let resumeAt = Number.POSITIVE_INFINITY;
    fakes.on('readFinOpsEvidence', (i) => {
      const now = Date.parse(i.asOf);
      return reading(i, now >= resumeAt ? { current: iso(resumeAt) } : {});
    });
    // Polls every 30 minutes: every poll adds to the history each later episode replays, so 5-minute polls
    // over 30 hours make this one test cost seconds of CPU without showing anything more.
    const id = h.start('rotation', rotation('stopped', 'sweep', { ROTATION_GRACE_HOURS: '24', EVIDENCE_POLL_MINUTES: '30', EVIDENCE_TIMEOUT_HOURS: '72' }));
    await h.settle();
    const delivered = h.clock.now();
    resumeAt = delivered + 30 * HOUR;
    while (h.clock.now() < delivered + 29 * HOUR) await h.nextTimer(id);
    expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('waiting');
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([]);
    while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('revokePreviousCredentials')).toHaveLength(1);
    // The grace minimum had passed long before: revoked at the first poll that saw the new credential.
    expect(h.clock.now() - resumeAt).toBeLessThanOrEqual(30 * 60_000);
    expect(h.detail(id, 'gracePeriod')).toContain('F&O signs in with the new credential since');
  });

  it('keeps the previous credential and raises an alert when F&O still signs in with it at ROTATION_REVOKE_MAX_HOURS', async () => {
    fakes.on('readFinOpsEvidence', (i) => {
      const now = Date.parse(i.asOf);
      // One batch server moved, another still uses the old secret after it.
      return reading(i, { current: iso(now - 2 * HOUR), previous: iso(now - 60_000) });
    });
    const id = h.start('rotation', rotation('two-servers', 'sweep', { ROTATION_GRACE_HOURS: '24', ROTATION_REVOKE_MAX_HOURS: '48', EVIDENCE_POLL_MINUTES: '60' }));
    await h.settle();
    const start = h.clock.now();
    while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(h.clock.now() - start).toBe(48 * HOUR);
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([]);
    expect(h.steps(id).find(([n]) => n === 'revokePreviousCredentials')).toEqual(['revokePreviousCredentials', 'skipped']);
    expect(alerts().map((a) => a.subject)).toEqual(['F&O two-servers still uses the previous email credential']);
    expect(alerts()[0]?.lines[0]).toMatch(/^F&O still signs in with the previous credential .*; the previous credential stays\.$/);
  });

  it('without access to the sign-in log revokes at the end of the grace period, as before', async () => {
    fakes.on('readFinOpsEvidence', (i) => reading(i, { access: 'unavailable' }));
    const id = h.start('rotation', rotation('blind-rot', 'sweep', { ROTATION_GRACE_HOURS: '24' }));
    await h.settle();
    const start = h.clock.now();
    while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
    expect(h.clock.now() - start).toBe(24 * HOUR);
    expect(fakes.callsOf('revokePreviousCredentials')).toHaveLength(1);
    expect(h.status(id).output).toMatchObject({ status: 'unproven' });
  });

  it('fails and keeps the previous credential when F&O is never seen with the new one', async () => {
    fakes.on('readFinOpsEvidence', (i) => reading(i, { previous: i.asOf }));
    const id = h.start('rotation', rotation('never', 'sweep', { EVIDENCE_TIMEOUT_HOURS: '6', EVIDENCE_POLL_MINUTES: '60' }));
    await h.settle();
    while (h.status(id).runtimeStatus === 'Running' && (await h.nextTimer(id)));
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(fakes.callsOf('revokePreviousCredentials')).toEqual([]);
    expect(alerts().map((a) => a.subject)).toEqual(['Rotating the F&O email credential of never failed']);
    expect(alerts()[0]?.lines[0]).toContain('F&O still signs in with the previous credential');
  });
});

describe('drift check', () => {
  it('finds nothing, repairs nothing and raises no alert on a healthy environment', async () => {
    const id = h.start('drift', drift('healthy'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.names()).toEqual(['readEnvironment', 'inspectEnvironment', 'readFinOpsEvidence', 'recordFinOpsEvidence']);
    expect(fakes.callsOf('readFinOpsEvidence')[0]).toMatchObject({ read: { provider: true, credential: true, health: true } });
    expect(h.steps(id).slice(3).every(([, s]) => s === 'skipped')).toBe(true);
    expect(h.detail(id, 'inspectFinOps')).toBe('F&O uses its credential as recorded');
    expect(h.status(id).output).toMatchObject({ found: [], done: [], record: { finops: { provenAt: expect.any(String) } } });
  });

  describe("F&O's side", () => {
    it('finds a reset provider and a database copy, alerts, re-delivers its own credential through OData and proves it', async () => {
      let copied = true;
      fakes.on('readFinOpsEvidence', (i) =>
        copied && !i.read.health ? reading(i, {}) : copied ? reading(i, { provider: 'SMTP', applicationId: 'app-contoso-prod' }) : reading(i, { current: i.asOf }),
      );
      fakes.on('deliverToFinOps', () => {
        copied = false;
        return { strategy: 'odata', providerChanged: true, credentialWritten: true };
      });
      const id = h.start('drift', drift('copied'));
      await h.settle();
      expect(h.status(id).runtimeStatus).toBe('Completed');
      const found = (h.status(id).output as { found: string[] }).found;
      expect(found).toEqual(['F&O: the batch email provider is still SMTP, not Graph', 'F&O: F&O holds application app-contoso-prod, not app-copied']);
      const names = fakes.names();
      expect(names.indexOf('notify')).toBeLessThan(names.indexOf('deliverToFinOps'));
      expect(fakes.callsOf('deliverToFinOps')).toEqual([expect.objectContaining({ strategy: 'odata', force: true, reference: expect.objectContaining({ keyId: 'key-0' }) })]);
      expect(fakes.callsOf('createClientSecret')).toEqual([]);
      expect(h.steps(id).find(([n]) => n === 'proveFinOpsUses')?.[1]).toBe('succeeded');
      expect(alerts()[0]?.lines[1]).toContain('re-delivering credential key-0 to F&O now');
    });

    it('with manual delivery puts the exact instructions in the alert and writes nothing', async () => {
      fakes.on('readFinOpsEvidence', (i) => reading(i, { failure: { at: i.asOf, code: 7000215 } }));
      const id = h.start('drift', drift('copied-manual', { DELIVERY_STRATEGY: 'manual' }));
      await h.settle();
      expect(h.status(id).runtimeStatus).toBe('Completed');
      expect(fakes.callsOf('deliverToFinOps')).toEqual([expect.objectContaining({ strategy: 'manual' })]);
      const lines = alerts()[0]?.lines ?? [];
      expect(lines[0]).toMatch(/^Found: F&O: F&O signs in with a secret that does not match \(AADSTS7000215 at /);
      expect(lines).toContain('An administrator must enter the credential again:');
      expect(lines).toContain('Enter it.');
      expect(h.steps(id).filter(([, s]) => s === 'running' || s === 'waiting')).toEqual([]);
    });

    it('calls silence a finding: no sign-in with the current credential for longer than EVIDENCE_SILENCE_HOURS', async () => {
      const lastSeen = new Date(h.clock.now() - 72 * HOUR).toISOString();
      fakes.on('readEnvironment', (i) => ({
        found: true,
        record: fakeRecord(i.environmentId, { finops: { checkedAt: lastSeen, provenAt: lastSeen, lastSignInAt: lastSeen } }),
        delivered: true,
        application: { state: 'own', otherOwners: [] },
      }));
      let silent = true;
      fakes.on('readFinOpsEvidence', (i) => reading(i, silent ? {} : { current: i.asOf }));
      fakes.on('deliverToFinOps', () => {
        silent = false;
        return { strategy: 'odata', providerChanged: false, credentialWritten: true };
      });
      const id = h.start('drift', drift('silent-drift', { EVIDENCE_SILENCE_HOURS: '48' }));
      await h.settle();
      expect((h.status(id).output as { found: string[] }).found).toEqual([
        `F&O: no successful sign-in by F&O with credential key-0 since ${lastSeen} (more than 48 hours)`,
      ]);
      expect(fakes.callsOf('deliverToFinOps')).toHaveLength(1);
    });

    it('raises F&O\'s own send failures since the last check, with its failure details', async () => {
      fakes.on('readFinOpsEvidence', (i) => ({
        ...reading(i, { current: i.asOf }),
        finOps: {
          provider: 'Graph',
          applicationId: i.appId,
          health: { lastSuccessAt: null, lastSuccessProvider: null, failuresLast24Hours: 3, lastFailureAt: i.asOf, lastFailureDetails: 'Microsoft Graph returned (403) Forbidden. ErrorAccessDenied' },
          problems: [],
        },
      }));
      const id = h.start('drift', drift('health'));
      await h.settle();
      expect((h.status(id).output as { found: string[] }).found[0]).toContain("F&O's email history shows 3 failed send(s) in the last 24 hours");
      expect(alerts()).toHaveLength(1);
      // Not a credential failure: nothing to re-deliver.
      expect(fakes.callsOf('deliverToFinOps')).toEqual([]);
    });
  });

  it('removes orphans and says so in one alert', async () => {
    fakes.on('inspectEnvironment', (i) => ({ credentialMissing: false, orphans: ['o1', 'o2'], youngOrphans: ['y1'], servicePrincipalId: `sp-${i.environmentId}`, consent: { granted: true, mailSendGranted: true, userReadGranted: true } }));
    const id = h.start('drift', drift('orphans'));
    await h.settle();
    expect(fakes.callsOf('removeOrphanedCredentials')[0]).toMatchObject({ keyIds: ['o1', 'o2'] });
    expect(alerts()).toHaveLength(1);
    expect(alerts()[0]?.lines.join('\n')).toContain('removed orphaned credential(s) o1, o2');
    expect(h.status(id).runtimeStatus).toBe('Completed');
  });

  it.each([
    ['grant', 'admin consent granted again', 'succeeded'],
    ['request', 'admin consent must be granted again by an administrator: https://login.example', 'skipped'],
  ] as const)('with consent strategy %s, handles revoked consent: %s', async (strategy, said, stepStatus) => {
    fakes.on('inspectEnvironment', () => ({ credentialMissing: false, orphans: [], youngOrphans: [], servicePrincipalId: null, consent: { granted: false, mailSendGranted: false, userReadGranted: false } }));
    const id = h.start('drift', drift(`consent-${strategy}`, { CONSENT_STRATEGY: strategy }));
    await h.settle();
    // The service principal was deleted too: it is ensured first.
    expect(fakes.callsOf('ensureServicePrincipal')).toHaveLength(1);
    expect(fakes.callsOf('grantAdminConsent')[0]).toMatchObject({ strategy, mailSend: true });
    expect(alerts()[0]?.lines.join('\n')).toContain(said);
    expect(h.steps(id).find(([n]) => n === 'grantAdminConsent')?.[1]).toBe(stepStatus);
  });

  it('reports a consent repair that failed, and still finishes its other repairs', async () => {
    fakes.on('inspectEnvironment', (i) => ({ credentialMissing: false, orphans: ['o1'], youngOrphans: [], servicePrincipalId: `sp-${i.environmentId}`, consent: { granted: false, mailSendGranted: false, userReadGranted: false } }));
    fakes.on('grantAdminConsent', () => ({ fail: { kind: 'permanent', service: 'graph', message: 'Authorization_RequestDenied', action: 'Grant AppRoleAssignment.ReadWrite.All.' } }));
    const id = h.start('drift', drift('consent-denied'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('removeOrphanedCredentials')).toHaveLength(1);
    expect(h.steps(id).find(([n]) => n === 'grantAdminConsent')?.[1]).toBe('failed');
    expect(alerts()[0]?.lines.join('\n')).toMatch(/granting admin consent again failed: .*Authorization_RequestDenied/);
  });

  it('alerts at once when the recorded credential was deleted, then replaces it', async () => {
    fakes.on('inspectEnvironment', (i) => ({ credentialMissing: true, orphans: [], youngOrphans: [], servicePrincipalId: `sp-${i.environmentId}`, consent: { granted: true, mailSendGranted: true, userReadGranted: true } }));
    const id = h.start('drift', drift('deleted', { ROTATION_GRACE_HOURS: '24' }));
    await h.settle();
    const names = fakes.names();
    expect(names.indexOf('notify')).toBeLessThan(names.indexOf('createClientSecret'));
    expect(alerts()[0]?.lines.join('\n')).toContain('credential key-0 was deleted in Entra');
    expect(h.steps(id).find(([n]) => n === 'gracePeriod')?.[1]).toBe('waiting');
    await h.nextTimer(id);
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(h.status(id).output).toMatchObject({ record: { credential: { keyId: 'key-1' } }, done: expect.arrayContaining(['credential replaced by key-1']) });
  });

  it('replaces a credential due for rotation without calling it drift', async () => {
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'expiring' }), delivered: true, application: { state: 'own' as const, otherOwners: [] } }));
    const id = h.start('drift', drift('due', { ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('createClientSecret')).toHaveLength(1);
    expect(alerts()).toEqual([]);
  });

  it('raises the rotation failure alert when the replacement of a due credential fails', async () => {
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'pending-delivery' }), delivered: false, application: { state: 'own' as const, otherOwners: [] } }));
    fakes.on('deliverToFinOps', () => ({ fail: { kind: 'permanent', service: 'finops', message: 'F&O answered 403', action: 'Register the identity.' } }));
    const id = h.start('drift', drift('due-fails'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(alerts().map((a) => a.subject)).toEqual(['Rotating the F&O email credential of due-fails failed']);
  });

  it('does nothing for an environment that is not registered or whose version is disabled', async () => {
    fakes.on('readEnvironment', () => ({ found: false }));
    const id = h.start('drift', drift('gone'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.names()).toEqual(['readEnvironment']);
  });
});

describe('long waits', () => {
  /** Every timer the run created, as how far ahead of its creation it was set. */
  function timerSpans(instanceId: string): number[] {
    const history = h.status(instanceId).history ?? [];
    return history.filter((e) => e.EventType === HistoryEventType.TimerCreated).map((e) => Date.parse(e.FireAt ?? '') - Date.parse(e.Timestamp));
  }

  it('waits a 30-day grace period in timers of at most six days (the JavaScript durable timer limit)', async () => {
    const id = h.start('rotation', rotation('long-grace', 'sweep', { ROTATION_GRACE_HOURS: '720' }));
    const start = h.clock.now();
    await h.runUntilQuiet(id);
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(h.clock.now() - start).toBe(720 * HOUR);
    expect(timerSpans(id).length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...timerSpans(id))).toBeLessThanOrEqual(6 * 24 * HOUR);
  });

  it('ends at once when the person acts during a 30-day wait: no long timer keeps the run open', async () => {
    const id = h.start('rotation', rotation('long-wait', 'sweep', { DELIVERY_STRATEGY: 'manual', MANUAL_DELIVERY_TIMEOUT_HOURS: '720', MANUAL_DELIVERY_REMINDER_HOURS: '720', ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(h.custom(id).waitingFor?.event).toBe('EmailParametersUpdated');
    await h.raise(id, 'EmailParametersUpdated');
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(Math.max(...timerSpans(id))).toBeLessThanOrEqual(6 * 24 * HOUR);
  });
});
