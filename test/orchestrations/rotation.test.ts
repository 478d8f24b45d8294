/**
 * The rotation and drift orchestrations through every branch, on the local durable driver with fake
 * activities and virtual time: replacement order and the grace period, an unknown environment, an
 * expired credential, failures that leave F&O on the previous credential with an alert, and each
 * finding of the drift check with its repair and alert.
 */
import { HistoryEventType } from '../../runtime/durable/history';
import { buildDriftInput, buildRotationInput } from '../../src/functions/runs';
import type { RotationReason } from '../../src/contracts/rotation';
import { fakeRecord, fakes } from './fakes';
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
    expect(fakes.names()).toEqual(['readEnvironment', 'createClientSecret', 'verifyCredential', 'deliverToFinOps']);
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
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'expired' }), delivered: true }));
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
    expect(fakes.names().slice(-2)).toEqual(['recordDelivery', 'revokePreviousCredentials']);
  });
});

describe('drift check', () => {
  it('finds nothing, repairs nothing and raises no alert on a healthy environment', async () => {
    const id = h.start('drift', drift('healthy'));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.names()).toEqual(['readEnvironment', 'inspectEnvironment']);
    expect(h.steps(id).slice(2).every(([, s]) => s === 'skipped')).toBe(true);
    expect(h.status(id).output).toMatchObject({ found: [], done: [] });
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
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'expiring' }), delivered: true }));
    const id = h.start('drift', drift('due', { ROTATION_GRACE_HOURS: '0' }));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('createClientSecret')).toHaveLength(1);
    expect(alerts()).toEqual([]);
  });

  it('raises the rotation failure alert when the replacement of a due credential fails', async () => {
    fakes.on('readEnvironment', (i) => ({ found: true, record: fakeRecord(i.environmentId, { status: 'pending-delivery' }), delivered: false }));
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
