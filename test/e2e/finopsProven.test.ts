/**
 * F&O proven, end to end: the app on the local runtime against the sandbox, whose F&O sends mail with
 * its email batch (every virtual minute) and whose Entra logs every sign-in, read by an identity that
 * holds AuditLog.Read.All and Directory.Read.All. Driven through the public HTTP API and the sandbox's
 * control routes only, as a person would: a confirmation without anything entered is refused; the right
 * values on the Email parameters form complete the run with evidence; `auto` chooses the extension
 * where it is installed (and proves it with F&O's own test send) and instructions where it is not; a
 * stopped batch keeps the previous credential past the grace minimum; a database copy is found by the
 * next drift check and repaired through OData. F&O's own email history counts no credential failure.
 */
import { DEPLOYED_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import type { FinOpsEmailHistoryRecord } from '../../sandbox/types';
import { startTestApp, type Operation, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod', 'adatum-qa', 'tailspin-dev', 'fabrikam-test'];
const ALERTS_TO = 'ops@contoso.onmicrosoft.com';
const MINUTE = 60_000;

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ENVIRONMENTS,
      secretPropagationSeconds: 0,
      managedIdentityRoles: [...DEPLOYED_MANAGED_IDENTITY_ROLES, 'Mail.Send'],
      finopsBatch: { running: true, intervalMinutes: 1 },
    },
    appSettings: {
      ALERT_RECIPIENTS: ALERTS_TO,
      SENDER_MAILBOX: 'fno-mail@contoso.onmicrosoft.com',
      ROTATION_GRACE_HOURS: '2',
      ROTATION_REVOKE_MAX_HOURS: '168',
      EVIDENCE_POLL_MINUTES: '5',
      ROTATION_SWEEP_SCHEDULE: '0 0 0 1 1 *',
      DRIFT_CHECK_SCHEDULE: '0 0 0 1 1 *',
    },
  });
  f = fleetView(app, ALERTS_TO);
});

afterAll(async () => {
  await app?.stop();
});

const finops = (id: string) => app.sandbox.state.finops.find((e) => e.id === id)!;
const step = (op: Operation, name: string) => op.steps.find((s) => s.name === name);

/** Email history failures a credential causes: Entra refusing the secret, or one F&O cannot decrypt. */
function credentialFailures(id: string): FinOpsEmailHistoryRecord[] {
  return finops(id).emailHistory.filter((r) => r.status === 'failed' && /AADSTS7000215|AADSTS7000222|CryptoEncryption|No Graph application/.test(r.error ?? ''));
}

async function setUp(id: string, body: Record<string, unknown> = {}): Promise<string> {
  const reply = await app.api<{ instanceId: string }>('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id), ...body });
  expect(reply.status).toBe(202);
  return reply.body.instanceId;
}

describe('manual delivery believes the evidence, not the announcement', () => {
  it('refuses a confirmation while nothing is entered, and completes with evidence once the values are on the form', async () => {
    const instanceId = await setUp('contoso-uat', { delivery: 'manual' });
    const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    expect(waiting.waitingFor!.instructions.steps).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Application ID: /), expect.stringMatching(/^Application secret: the value of Key Vault secret /)]),
    );

    // Announced, but F&O still sends with SMTP and holds nothing.
    expect((await app.api('POST', `/api/operations/${instanceId}/events/EmailParametersUpdated`, {})).status).toBe(202);
    const refused = await app.waitForOperation(instanceId, (op) => (step(op, 'deliverToFinOps')?.detail ?? '').startsWith('confirmation not accepted'));
    expect(step(refused, 'deliverToFinOps')?.detail).toBe(
      'confirmation not accepted: the batch email provider is still SMTP, not Graph; F&O holds no Graph application id; no sign-in with credential ' +
        `${f.currentVersion('contoso-uat').tags['credential-key-id']} yet (F&O signs in when its email batch sends)`,
    );
    expect(refused.runtimeStatus).toBe('Running');
    // An hour later nothing has changed: still waiting.
    await app.advanceClock('PT1H');
    await settle(app);
    expect((await app.waitForOperation(instanceId, (op) => op.runtimeStatus === 'Running')).waitingFor?.event).toBe('EmailParametersUpdated');

    // The administrator enters the values and saves; no announcement needed: F&O's batch signs in with it.
    await app.enterInFinOps('contoso-uat', waiting.waitingFor!.instructions);
    const done = await app.waitMovingClock(instanceId, { throughPersonWaits: true });
    expect(done.runtimeStatus).toBe('Completed');
    expect(step(done, 'deliverToFinOps')).toMatchObject({ status: 'succeeded', detail: 'delivery strategy manual: entered in F&O' });
    const keyId = f.currentVersion('contoso-uat').tags['credential-key-id']!;
    expect(step(done, 'proveFinOpsUses')).toMatchObject({ status: 'succeeded', detail: expect.stringContaining(`Entra shows F&O signing in with credential ${keyId} at `) });
    const record = await app.api<{ status: string; finops: { provenAt?: string; provider?: string } }>('GET', '/api/environments/contoso-uat');
    expect(record.body).toMatchObject({ status: 'active', finops: { provenAt: expect.any(String), provider: 'Graph' } });
    // F&O really sends with that key.
    expect(finops('contoso-uat').emailHistory.find((r) => r.provider === 'Graph' && r.status === 'sent')?.keyId).toBe(keyId);
  }, 90_000);
});

describe('delivery strategy auto', () => {
  it('writes through the extension where it is installed and proves it with a test message F&O sends itself', async () => {
    const instanceId = await setUp('contoso-prod', { testRecipient: 'admin@contoso.onmicrosoft.com' });
    const done = await app.waitMovingClock(instanceId);
    expect(done.runtimeStatus).toBe('Completed');
    expect(step(done, 'deliverToFinOps')?.detail).toBe("auto: F&O's metadata shows the FnoGraphMail extension: credential written; batch email provider set to Graph");
    expect(step(done, 'proveFinOpsUses')?.detail).toContain("F&O's own test send: Sent: ");
    const fromFinOps = app.sandbox.state.sentMail.filter((m) => m.subject === 'Test message from Finance and Operations' && m.to.includes('admin@contoso.onmicrosoft.com'));
    expect(fromFinOps).toHaveLength(1);
    expect(fromFinOps[0]!.senderAppId).toBe(f.application('contoso-prod').appId);
  }, 90_000);

  it('gives instructions where the extension is not installed, saying why', async () => {
    await app.control('/finops/adatum-qa/extension', { installed: false });
    const instanceId = await setUp('adatum-qa');
    const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    expect(step(waiting, 'deliverToFinOps')?.detail).toBe(
      "auto: F&O's metadata shows no FnoGraphMail extension, so a person enters it: waiting for an administrator to enter the credential in F&O",
    );
    expect(finops('adatum-qa').graphCredential.secret).toBeNull();
    await app.enterInFinOps('adatum-qa', waiting.waitingFor!.instructions);
    expect((await app.waitMovingClock(instanceId, { throughPersonWaits: true })).runtimeStatus).toBe('Completed');
  }, 90_000);
});

describe('revocation waits for F&O', () => {
  it("keeps the previous credential past the grace minimum while F&O's batch is stopped, and revokes it once F&O signs in with the new one", async () => {
    const id = 'tailspin-dev';
    expect((await app.waitMovingClock(await setUp(id))).runtimeStatus).toBe('Completed');
    const previous = f.currentVersion(id).tags['credential-key-id']!;

    await app.control(`/finops/${id}/batch`, { running: false });
    expect((await app.api('POST', `/api/environments/${id}/rotate`, {})).status).toBe(202);
    const delivered = await app.waitForOperation(`rotate-${id}`, (op) => step(op, 'proveFinOpsUses')?.status === 'waiting');
    const next = f.currentVersion(id).tags['credential-key-id']!;
    expect(next).not.toBe(previous);
    expect(step(delivered, 'proveFinOpsUses')?.detail).toContain(`no sign-in with credential ${next} yet`);

    // Six hours pass (three times the grace minimum) with F&O sending nothing.
    for (let i = 0; i < 12; i++) {
      await app.advanceClock('PT30M');
      await settle(app);
    }
    const during = await app.api<Operation>('GET', `/api/operations/rotate-${id}`);
    expect(during.body.runtimeStatus).toBe('Running');
    expect(f.liveProductCredentials(id).map((c) => c.keyId).sort()).toEqual([previous, next].sort());

    // The batch resumes: F&O signs in with what it holds, the new credential.
    await app.control(`/finops/${id}/batch`, { running: true });
    const done = await app.waitMovingClock(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    expect(f.liveProductCredentials(id).map((c) => c.keyId)).toEqual([next]);
    const firstNewSignIn = finops(id).emailHistory.filter((r) => r.keyId === next && r.status === 'sent').map((r) => Date.parse(r.at)).sort((a, b) => a - b)[0]!;
    const revokedAt = Date.parse((done as Operation & { lastUpdatedTime: string }).lastUpdatedTime);
    // At most one polling interval (and the sign-in log's delay) after F&O's first sign-in with the new key.
    expect(revokedAt - firstNewSignIn).toBeLessThanOrEqual(5 * MINUTE + 2 * MINUTE + MINUTE);
    expect(credentialFailures(id)).toEqual([]);
  }, 120_000);
});

describe('a database copy', () => {
  it('is found by the next drift check and repaired through OData: F&O sends with its own application again', async () => {
    const target = 'fabrikam-test';
    expect((await app.waitMovingClock(await setUp(target))).runtimeStatus).toBe('Completed');
    const own = f.currentVersion(target).tags['credential-key-id']!;
    // Production's database copied over the test environment: prod's application id, a secret it cannot decrypt.
    await app.control(`/finops/${target}/copy-database`, { from: 'contoso-prod' });
    expect(finops(target).graphCredential.applicationId).toBe(f.application('contoso-prod').appId);
    await app.advanceClock('PT10M');
    await settle(app);
    expect(finops(target).emailHistory[0]).toMatchObject({ status: 'failed', error: expect.stringContaining('CryptoEncryptionException') });

    const outcome = await app.runtime.timers.runNow('driftCheck');
    if (!outcome.ok) throw outcome.error;
    const done = await app.waitMovingClock(`drift-${target}`);
    expect(done.runtimeStatus).toBe('Completed');
    const output = done.output as { found: string[]; done: string[] };
    expect(output.found).toEqual(expect.arrayContaining([`F&O: F&O holds application ${f.application('contoso-prod').appId}, not ${f.application(target).appId}`]));
    expect(output.done).toEqual(expect.arrayContaining([`credential ${own} re-delivered; F&O signs in with it again`]));
    expect(f.alertMails(target).some((m) => m.subject === `Drift found on the F&O email setup of ${target}`)).toBe(true);
    // F&O sends again, with its own application's key.
    expect(finops(target).graphCredential.applicationId).toBe(f.application(target).appId);
    await app.advanceClock('PT2M');
    await settle(app);
    expect(finops(target).emailHistory[0]).toMatchObject({ status: 'sent', provider: 'Graph', keyId: own });
  }, 120_000);
});
