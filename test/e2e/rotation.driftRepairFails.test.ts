/**
 * The drift check when its repair is refused: consent strategy `grant`, but the app's identity has lost
 * the Graph permissions to grant consent. Revoked consent must still be reported (alert line and mail,
 * saying the repair failed and what to do), and the other environments still get checked.
 */
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod'];
const ALERT_RECIPIENT = 'ops@contoso.onmicrosoft.com';

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    // May manage its apps and send alert mail, but not grant consent.
    sandbox: {
      environmentIds: ENVIRONMENTS,
      secretPropagationSeconds: 0,
      managedIdentityRoles: ['Application.ReadWrite.OwnedBy', 'Mail.Send'],
      eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] },
    },
    appSettings: { ALERT_RECIPIENTS: ALERT_RECIPIENT, CONSENT_STRATEGY: 'grant' },
  });
  f = fleetView(app, ALERT_RECIPIENT);
});

afterAll(async () => {
  await app?.stop();
});

/** Setup where an administrator consents (this identity cannot). */
async function setUpWithConsent(environmentId: string): Promise<void> {
  const started = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), consent: 'request' });
  expect(started.status).toBe(202);
  const instanceId = `setup-${environmentId}`;
  const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
  const appId = new URL(String(waiting.waitingFor!.instructions.consentUrl)).searchParams.get('client_id')!;
  await app.control('/consent', { appId });
  expect((await app.api('POST', `/api/operations/${instanceId}/events/ConsentGranted`, {})).status).toBe(202);
  expect((await app.waitForOperation(instanceId)).runtimeStatus).toBe('Completed');
}

it('reports revoked consent it could not grant again, and still checks the other environments', async () => {
  for (const id of ENVIRONMENTS) await setUpWithConsent(id);
  await app.control('/revoke-consent', { appId: f.application('contoso-uat').appId });
  // contoso-prod drifted too, in a way the identity can repair: a recorded credential was deleted.
  const prod = f.application('contoso-prod');
  const recorded = f.currentVersion('contoso-prod').tags['credential-key-id'];
  prod.passwordCredentials = prod.passwordCredentials.filter((c) => c.keyId !== recorded);

  await app.runtime.timers.runNow('driftCheck');
  await settle(app);

  const alert = f.alertLines('contoso-uat').find((l) => l.message.includes('Drift found'));
  expect(alert).toBeDefined();
  const details = (JSON.parse(alert!.message) as { details: string[] }).details.join('\n');
  expect(details).toContain('admin consent was revoked');
  expect(details).toMatch(/granting admin consent again failed/);
  expect(details).toMatch(/AppRoleAssignment\.ReadWrite\.All/);
  const mails = f.alertMails('contoso-uat').filter((m) => m.subject.startsWith('Drift found'));
  expect(mails).toHaveLength(1);
  expect(mails[0]!.body).toMatch(/granting admin consent again failed/);
  expect(await f.rolesWithWhatFinOpsHolds('contoso-uat')).not.toContain('Mail.Send');

  // The other environment was checked and repaired regardless (its own drift run replaces the credential).
  expect(f.alertLines('contoso-prod').some((l) => l.message.includes('Drift found'))).toBe(true);
  await f.waitForGracePeriod('contoso-prod', 'drift');
  expect(await f.rolesWithWhatFinOpsHolds('contoso-prod')).toContain('Mail.Send');

  expect((await f.leaks()).leaks).toEqual([]);
});
