/**
 * The daily drift check end to end (consent strategy `grant`, alert mail configured): someone deletes
 * the recorded credential in Entra, the product's credentials are orphaned, or admin consent is
 * revoked. Each is noticed, repaired where the product may repair it, and reported as an alert.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod', 'fabrikam-test'];
const ALERT_RECIPIENT = 'ops@contoso.onmicrosoft.com';
const HOUR = 3_600_000;

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ENVIRONMENTS,
      secretPropagationSeconds: 0,
      managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Mail.Send'],
      eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] },
    },
    appSettings: { ALERT_RECIPIENTS: ALERT_RECIPIENT, CONSENT_STRATEGY: 'grant', ROTATION_GRACE_HOURS: '24' },
  });
  f = fleetView(app, ALERT_RECIPIENT);
});

afterAll(async () => {
  await app?.stop();
});

async function runDriftCheck(): Promise<void> {
  const outcome = await app.runtime.timers.runNow('driftCheck');
  if (!outcome.ok) throw outcome.error;
  await settle(app);
}

/** A credential the product would have created (its marker in the display name), created `ageHours` ago, recorded nowhere. */
function addOrphan(environmentId: string, ageHours: number): string {
  const application = f.application(environmentId);
  const now = app.sandbox.state.now();
  const { secretText, hint } = app.sandbox.state.mintSecret();
  const keyId = randomUUID();
  application.passwordCredentials.push({
    keyId,
    displayName: `fno-graph-mail ${randomUUID()}`,
    hint,
    customKeyIdentifier: null,
    startDateTime: new Date(now - ageHours * HOUR).toISOString(),
    endDateTime: new Date(now + 100 * 24 * HOUR).toISOString(),
    secretText,
    usableFrom: now - ageHours * HOUR,
  });
  return keyId;
}

describe('drift check', () => {
  it('replaces at once a recorded credential someone deleted in Entra, as a drift run seen in /api/operations, and alerts first', async () => {
    const id = 'contoso-uat';
    await f.setUp(id);
    const recorded = f.currentVersion(id).tags['credential-key-id']!;
    const application = f.application(id);
    // Someone removes the secret in the portal: F&O can no longer sign in.
    application.passwordCredentials = application.passwordCredentials.filter((c) => c.keyId !== recorded);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toEqual([]);

    await runDriftCheck();
    // The drift run itself replaces the credential (no separate rotation run), holding the environment meanwhile.
    expect(f.rotationStarts(id)).toBe(0);
    const waiting = await app.waitForOperation(
      `drift-${id}`,
      (op) => op.runtimeStatus === 'Running' && op.steps.find((s) => s.name === 'gracePeriod')?.status === 'waiting',
    );
    expect(waiting.name).toBe('checkDrift');
    expect(waiting.steps.map((s) => [s.name, s.status])).toEqual([
      ['readEnvironment', 'succeeded'],
      ['inspectEnvironment', 'succeeded'],
      ['inspectFinOps', 'succeeded'],
      ['removeOrphans', 'skipped'],
      ['grantAdminConsent', 'skipped'],
      ['alert', 'succeeded'],
      ['createClientSecret', 'succeeded'],
      ['verifyCredential', 'succeeded'],
      ['deliverToFinOps', 'succeeded'],
      // This identity may not read sign-in logs: skipped with the reason (test/e2e/finopsProven.test.ts reads them).
      ['proveFinOpsUses', 'skipped'],
      ['gracePeriod', 'waiting'],
      ['revokePreviousCredentials', 'pending'],
    ]);
    const listed = await app.api<{ operations: Array<{ instanceId: string; name: string }> }>('GET', '/api/operations');
    expect(listed.body.operations.filter((o) => o.instanceId === `drift-${id}`).map((o) => o.name)).toEqual(['checkDrift']);
    // While the drift run holds the environment, a rotation request is refused.
    const refused = await app.api('POST', `/api/environments/${id}/rotate`, {});
    expect(refused.status).toBe(409);
    expect(refused.body.instanceId).toBe(`drift-${id}`);
    // F&O works again as soon as the new credential is verified and delivered.
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
    expect(f.alertLines(id).some((l) => l.message.includes('Drift found'))).toBe(true);
    const mails = f.alertMails(id);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.body).toContain(`credential ${recorded} was deleted in Entra`);
    expect(mails[0]!.body).toContain(`replacing the credential now (run drift-${id})`);

    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`drift-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    const current = f.currentVersion(id);
    expect(f.liveProductCredentials(id).map((c) => c.keyId)).toEqual([current.tags['credential-key-id']]);
    expect(f.versions(id).filter((v) => v.enabled).map((v) => v.version)).toEqual([current.version]);
    expect(f.finOpsKeyId(id)).toBe(current.tags['credential-key-id']);
  });

  it('removes orphaned product credentials older than the grace period and leaves younger ones', async () => {
    const id = 'contoso-prod';
    await f.setUp(id);
    const recorded = f.currentVersion(id).tags['credential-key-id']!;
    const old = addOrphan(id, 30);
    const young = addOrphan(id, 1);
    const byHand = { keyId: randomUUID() };
    // A secret someone added by hand (no product marker) is not the product's business.
    f.application(id).passwordCredentials.push({
      keyId: byHand.keyId,
      displayName: 'added by the ERP team',
      hint: 'abc',
      customKeyIdentifier: null,
      startDateTime: new Date(app.sandbox.state.now() - 90 * 24 * HOUR).toISOString(),
      endDateTime: new Date(app.sandbox.state.now() + 90 * 24 * HOUR).toISOString(),
      secretText: app.sandbox.state.mintSecret().secretText,
      usableFrom: 0,
    });
    const mailsBefore = f.alertMails(id).length;

    await runDriftCheck();
    const keys = f.application(id).passwordCredentials.map((c) => c.keyId);
    expect(keys).not.toContain(old);
    expect(keys).toContain(young);
    expect(keys).toContain(recorded);
    expect(keys).toContain(byHand.keyId);
    expect(f.rotationStarts(id)).toBe(0);
    expect(f.finOpsKeyId(id)).toBe(recorded);
    const mails = f.alertMails(id).slice(mailsBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.body).toContain(`removed orphaned credential(s) ${old}`);
    expect(mails[0]!.body).not.toContain(young);

    // A day later the young one has outlived the grace period: the scheduled check removes it.
    await app.advanceClock('P1D');
    await settle(app);
    const after = f.application(id).passwordCredentials.map((c) => c.keyId);
    expect(after).not.toContain(young);
    expect(after).toContain(recorded);
    expect(after).toContain(byHand.keyId);
    expect(f.rotationStarts(id)).toBe(0);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
  });

  it('grants revoked admin consent again and reports it', async () => {
    const id = 'fabrikam-test';
    await f.setUp(id);
    const appId = f.application(id).appId;
    await app.control('/revoke-consent', { appId });
    // F&O's credential still signs in, but the token no longer carries Mail.Send: mail stops.
    expect(await f.rolesWithWhatFinOpsHolds(id)).not.toContain('Mail.Send');
    const mailsBefore = f.alertMails(id).length;

    await runDriftCheck();
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
    const sp = app.sandbox.state.findServicePrincipalByAppId(appId)!;
    expect(app.sandbox.state.appRoleAssignments.filter((a) => a.principalId === sp.id)).toHaveLength(1);
    expect(app.sandbox.state.oauth2PermissionGrants.filter((g) => g.clientId === sp.id && g.consentType === 'AllPrincipals')).toHaveLength(1);
    expect(f.alertLines(id).some((l) => l.message.includes('Drift found'))).toBe(true);
    const mails = f.alertMails(id).slice(mailsBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.body).toContain('admin consent was revoked');
    expect(mails[0]!.body).toContain('admin consent granted again');
    expect(f.rotationStarts(id)).toBe(0);

    // Nothing left to repair: the next check is quiet.
    const alerts = f.alertLines(id).length;
    await runDriftCheck();
    expect(f.alertLines(id)).toHaveLength(alerts);
  });

  it('leaks no minted secret', async () => {
    const scan = await f.leaks();
    expect(scan.leaks).toEqual([]);
  });
});
