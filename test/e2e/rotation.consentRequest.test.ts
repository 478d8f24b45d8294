/**
 * Rotation and drift where the product may not grant consent (consent strategy `request`) and its
 * identity has no `Mail.Send`, although alert recipients are configured: revoked consent is reported,
 * never granted; alerts are log lines only, and a failing alert mail never stops a rotation or a check.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView, secretNameOf } from '../helpers/fleet';
import { settle } from '../helpers/settle';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod'];
const ALERT_RECIPIENT = 'ops@contoso.onmicrosoft.com';

let app: TestApp;
let f: ReturnType<typeof fleetView>;

beforeAll(async () => {
  app = await startTestApp({
    // The sandbox's default identity: the Graph roles the product needs, without Mail.Send.
    sandbox: { environmentIds: ENVIRONMENTS, secretPropagationSeconds: 0, eventGrid: { tickMs: 20, retryScheduleMs: [50, 100, 200] } },
    appSettings: { ALERT_RECIPIENTS: ALERT_RECIPIENT, CONSENT_STRATEGY: 'request', ROTATION_GRACE_HOURS: '24' },
  });
  f = fleetView(app, ALERT_RECIPIENT);
});

afterAll(async () => {
  await app?.stop();
});

/** Setup with consent strategy `request`: an administrator consents, then tells the waiting run. */
async function setUpWithConsent(environmentId: string): Promise<void> {
  const started = await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId) });
  expect(started.status).toBe(202);
  const instanceId = `setup-${environmentId}`;
  const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
  const appId = new URL(String(waiting.waitingFor!.instructions.consentUrl)).searchParams.get('client_id')!;
  await app.control('/consent', { appId });
  expect((await app.api('POST', `/api/operations/${instanceId}/events/ConsentGranted`, {})).status).toBe(202);
  expect((await app.waitForOperation(instanceId)).runtimeStatus).toBe('Completed');
}

describe('consent strategy request', () => {
  it('reports revoked consent without granting it', async () => {
    const id = 'contoso-uat';
    await setUpWithConsent(id);
    const appId = f.application(id).appId;
    await app.control('/revoke-consent', { appId });

    const outcome = await app.runtime.timers.runNow('driftCheck');
    await settle(app);
    expect(outcome.ok).toBe(true);

    const sp = app.sandbox.state.findServicePrincipalByAppId(appId)!;
    expect(app.sandbox.state.appRoleAssignments.filter((a) => a.principalId === sp.id)).toHaveLength(0);
    expect(app.sandbox.state.oauth2PermissionGrants.filter((g) => g.clientId === sp.id)).toHaveLength(0);
    expect(await f.rolesWithWhatFinOpsHolds(id)).not.toContain('Mail.Send');
    expect(f.rotationStarts(id)).toBe(0);
    // The identity may not send mail: the alert log line alone says what was found and what to do.
    expect(f.alertMails(id)).toHaveLength(0);
    const alerts = f.alertLines(id).filter((l) => l.message.includes('Drift found'));
    expect(alerts).toHaveLength(1);
    const alert = JSON.parse(alerts[0]!.message) as { event: string; environmentId: string; details: string[] };
    expect(alert).toMatchObject({ event: 'fno-graph-mail.alert', environmentId: id });
    expect(alert.details.join('\n')).toContain('admin consent was revoked');
    expect(alert.details.join('\n')).toContain('admin consent must be granted again by an administrator');
  });

  it('rotates an expired credential even though the alert mail cannot be sent', async () => {
    const id = 'contoso-prod';
    await setUpWithConsent(id);
    const version = f.currentVersion(id).version;
    const name = secretNameOf(id);
    f.expireCurrentCredential(id);
    app.sandbox.eventGrid.publishRaw({
      event: {
        id: randomUUID(),
        topic: app.endpoints.eventGridTopic,
        subject: name,
        eventType: 'Microsoft.KeyVault.SecretExpired',
        eventTime: app.sandbox.state.nowIso(),
        data: { Id: `${app.endpoints.keyVaultUrl}/secrets/${name}/${version}`, VaultName: app.endpoints.keyVaultName, ObjectType: 'Secret', ObjectName: name, Version: version, NBF: null, EXP: null },
        dataVersion: '1',
        metadataVersion: '1',
      },
    });
    await settle(app);
    expect(f.rotationStarts(id)).toBe(1);
    expect(f.alertLines(id).some((l) => l.message.includes('credential-expired'))).toBe(true);

    await f.waitForGracePeriod(id);
    await app.advanceClock('P2D');
    await settle(app);
    const done = await app.waitForOperation(`rotate-${id}`);
    expect(done.runtimeStatus).toBe('Completed');
    expect(f.currentVersion(id).version).not.toBe(version);
    expect(await f.rolesWithWhatFinOpsHolds(id)).toContain('Mail.Send');
    expect(f.alertMails(id)).toHaveLength(0);
  });

  it('leaks no minted secret', async () => {
    expect((await f.leaks()).leaks).toEqual([]);
  });
});
