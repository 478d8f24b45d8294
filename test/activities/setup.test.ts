/**
 * The setup activities, built by the production composition root and signed in as the function app's
 * managed identity, against the sandbox: the whole `odata` setup in order, the propagation delay of a
 * new secret, a second run of every step (activities run at least once), consent by request, and
 * manual delivery. The sandbox's `/state` is what a person would see in the portals.
 */
import { randomUUID } from 'node:crypto';
import { secretNameFor } from '../../src/contracts/names';
import { uniqueNameFor } from '../../src/contracts/names';
import {
  CLIENT_SECRET_CONTENT_TYPE,
  MAIL_SEND_ROLE_ID,
  MANAGED_BY_MARKER,
  SECRET_TAGS,
  USER_READ_SCOPE_VALUE,
} from '../../src/contracts/wellKnown';
import {
  applicationOf,
  prepareApplication,
  runSetup,
  setupInputs,
  startActivityHarness,
  versionsOf,
  type ActivityHarness,
  type SetupOptions,
} from './harness';

const ENVIRONMENTS = ['happy', 'propagation', 'rerun', 'request', 'manual'];

let h: ActivityHarness;
/** The group the deployment gave Key Vault Secrets User (SECRET_READER_PRINCIPAL_ID). */
const SECRET_READER = '5e1f0c2a-7b3d-4e8f-9a10-b2c3d4e5f607';

beforeAll(async () => {
  h = await startActivityHarness({ environmentIds: ENVIRONMENTS, settings: { SECRET_READER_PRINCIPAL_ID: SECRET_READER } });
});

afterAll(async () => {
  await h.stop();
});

async function optionsFor(environmentId: string): Promise<SetupOptions> {
  return {
    environmentId,
    environmentUrl: h.environmentUrl(environmentId),
    tenantId: h.sandbox.endpoints.tenantId,
    requestedAt: await h.now(),
    operationId: randomUUID(),
  };
}

describe('setup activities against the sandbox', () => {
  it('set up one environment end to end: app, consent, one credential in Key Vault and F&O, verified', async () => {
    const o = await optionsFor('happy');
    const out = await runSetup(h, o);

    expect(out.app.outcome).toBe('created');
    expect(out.sp.created).toBe(true);
    expect(out.consent).toEqual({ status: 'granted', changed: true });
    expect(out.secret.created).toBe(true);
    expect(out.secret.delivered).toBe(false);
    expect(out.secret.removedOrphans).toEqual([]);
    expect(out.delivery).toEqual({ strategy: 'odata', providerChanged: true, credentialWritten: true });
    expect(out.verified).toEqual({ roles: expect.arrayContaining(['Mail.Send']) as unknown, testMessageSent: false });

    const state = await h.state();
    // One single-tenant app, found by its stable unique name, asking for Mail.Send and User.Read.
    const app = applicationOf(state, uniqueNameFor('happy'));
    expect(app.uniqueName).toBe('fno-graph-mail-happy');
    expect(app).toMatchObject({ id: out.app.appObjectId, appId: out.app.appId, signInAudience: 'AzureADMyOrg' });
    expect(app.owners).toEqual([state.managedIdentity.servicePrincipalId]);

    // Admin consent: the Mail.Send app role on Graph, and User.Read for all users.
    const sp = state.servicePrincipals.find((s) => s.appId === out.app.appId);
    expect(sp?.id).toBe(out.sp.servicePrincipalId);
    expect(state.appRoleAssignments.filter((a) => a.principalId === out.sp.servicePrincipalId)).toEqual([
      expect.objectContaining({ appRoleId: MAIL_SEND_ROLE_ID, resourceId: state.graphServicePrincipalId }),
    ]);
    expect(state.oauth2PermissionGrants.filter((g) => g.clientId === out.sp.servicePrincipalId)).toEqual([
      expect.objectContaining({ consentType: 'AllPrincipals', principalId: null, resourceId: state.graphServicePrincipalId, scope: USER_READ_SCOPE_VALUE }),
    ]);

    // Exactly one client secret, marked with the operation that created it.
    expect(app.passwordCredentials).toHaveLength(1);
    const credential = app.passwordCredentials[0];
    expect(credential?.keyId).toBe(out.secret.reference.keyId);
    expect(credential?.displayName).toBe(`${MANAGED_BY_MARKER} ${o.operationId}`);

    // One Key Vault version: the registry entry of the environment, expiring with the credential.
    const secretName = secretNameFor('happy');
    expect(out.secret.reference.secretName).toBe(secretName);
    const versions = versionsOf(state, secretName);
    expect(versions).toHaveLength(1);
    const version = versions[0];
    expect(version?.version).toBe(out.secret.reference.secretVersion);
    expect(version?.enabled).toBe(true);
    expect(version?.contentType).toBe(CLIENT_SECRET_CONTENT_TYPE);
    expect(version?.expiresOn).toBe(credential?.endDateTime);
    expect(out.secret.reference.expiresOn).toBe(credential?.endDateTime);
    expect(version?.tags).toEqual({
      [SECRET_TAGS.managedBy]: MANAGED_BY_MARKER,
      [SECRET_TAGS.environmentId]: 'happy',
      [SECRET_TAGS.environmentUrl]: o.environmentUrl,
      [SECRET_TAGS.tenantId]: o.tenantId,
      [SECRET_TAGS.appId]: out.app.appId,
      [SECRET_TAGS.appObjectId]: out.app.appObjectId,
      [SECRET_TAGS.credentialKeyId]: out.secret.reference.keyId,
      [SECRET_TAGS.operationId]: o.operationId,
      [SECRET_TAGS.delivered]: 'true',
    });

    // F&O sends batch email through Graph with exactly this credential.
    const finops = state.finops['happy'];
    expect(finops?.emailParameters.MailerNonInteractive).toBe('Graph');
    expect(finops?.graphCredential).toEqual({ applicationId: out.app.appId, secretSet: true, keyId: out.secret.reference.keyId });

    // Another environment was not touched.
    expect(state.finops['manual']?.emailParameters.MailerNonInteractive).toBe('SMTP');
    expect(state.finops['manual']?.graphCredential.secretSet).toBe(false);
  });

  it('verification reports replication lag (retryable) until Entra has propagated the new secret, then succeeds', async () => {
    const o = await optionsFor('propagation');
    const { app } = await prepareApplication(h, o);
    await h.sandbox.control('/settings', { body: { secretPropagationSeconds: 20 } });
    try {
      const secret = await h.run('createClientSecret', setupInputs.secret(o, app));
      await h.run('deliverToFinOps', setupInputs.deliver(o, app, secret));

      const early = await h.failure('verifyCredential', setupInputs.verify(o, app, secret));
      expect(early.kind).toBe('replication-lag');
      expect(early.retryable).toBe(true);
      expect(early.service).toBe('entra');
      expect(early.message).toContain('for environment propagation');
      expect(early.message).toContain('retried automatically');

      await h.sandbox.control('/clock', { body: { advance: 'PT25S' } });
      const verified = await h.run('verifyCredential', {
        ...setupInputs.verify(o, app, secret),
        senderMailbox: h.sandbox.endpoints.senderMailbox,
        testRecipient: 'admin@contoso.onmicrosoft.com',
      });
      expect(verified).toEqual({ roles: expect.arrayContaining(['Mail.Send']) as unknown, testMessageSent: true });
      // The test message went out as F&O will send: from the sender mailbox, as the environment's app.
      const { sentMail } = (await h.sandbox.control<{ sentMail: Array<{ from: string; senderAppId: string; to: string[] }> }>('/state')).body;
      expect(sentMail).toContainEqual(
        expect.objectContaining({ from: h.sandbox.endpoints.senderMailbox, senderAppId: app.appId, to: ['admin@contoso.onmicrosoft.com'] }),
      );
    } finally {
      await h.sandbox.control('/settings', { body: { secretPropagationSeconds: 0 } });
    }
  });

  it('running every step twice in a row changes nothing the second time, and a whole second pass writes nothing', async () => {
    const o = await optionsFor('rerun');
    const twice = async <T>(step: () => Promise<T>): Promise<[T, T]> => {
      const first = await step();
      await h.clearCalls();
      const second = await step();
      expect(await h.writes()).toEqual([]);
      return [first, second];
    };

    const [app, app2] = await twice(() => h.run('registerApplication', setupInputs.register(o)));
    expect(app.outcome).toBe('created');
    expect(app2).toEqual({ appId: app.appId, appObjectId: app.appObjectId, outcome: 'unchanged' });

    const [sp, sp2] = await twice(() => h.run('ensureServicePrincipal', setupInputs.servicePrincipal(o, app)));
    expect(sp2).toEqual({ servicePrincipalId: sp.servicePrincipalId, created: false });

    const [, consent2] = await twice(() => h.run('grantAdminConsent', setupInputs.consent(o, app, sp)));
    expect(consent2).toEqual({ status: 'granted', changed: false });

    const [secret, secret2] = await twice(() => h.run('createClientSecret', setupInputs.secret(o, app)));
    expect(secret2.reference).toEqual(secret.reference);
    expect(secret2.removedOrphans).toEqual([]);

    const [delivery, delivery2] = await twice(() => h.run('deliverToFinOps', setupInputs.deliver(o, app, secret)));
    expect(delivery).toEqual({ strategy: 'odata', providerChanged: true, credentialWritten: true });
    expect(delivery2).toEqual({ strategy: 'odata', providerChanged: false, credentialWritten: false });

    const [verified, verified2] = await twice(() => h.run('verifyCredential', setupInputs.verify(o, app, secret)));
    expect(verified2).toEqual(verified);

    const before = await h.state();
    await h.clearCalls();
    const again = await runSetup(h, o);
    expect(await h.writes()).toEqual([]);
    expect(again.secret).toEqual({ ...secret, delivered: true });
    expect(again.app.outcome).toBe('unchanged');

    const after = await h.state();
    const appAfter = applicationOf(after, uniqueNameFor('rerun'));
    expect(after.applications.filter((a) => a.uniqueName === uniqueNameFor('rerun'))).toHaveLength(1);
    expect(appAfter.passwordCredentials.map((c) => c.keyId)).toEqual([secret.reference.keyId]);
    expect(versionsOf(after, secretNameFor('rerun')).map((v) => v.version)).toEqual([secret.reference.secretVersion]);
    expect(after.appRoleAssignments.filter((a) => a.principalId === sp.servicePrincipalId)).toHaveLength(1);
    expect(after.oauth2PermissionGrants.filter((g) => g.clientId === sp.servicePrincipalId)).toHaveLength(1);
    expect(after.finops['rerun']?.graphCredential.keyId).toBe(secret.reference.keyId);
    // Nothing anywhere differs from before the second pass.
    expect({ ...after, now: undefined }).toEqual({ ...before, now: undefined });
  });

  it('consent by request: returns the admin-consent URL and writes nothing; checkConsent sees the administrator’s grant', async () => {
    const o = await optionsFor('request');
    const app = await h.run('registerApplication', setupInputs.register(o));
    const sp = await h.run('ensureServicePrincipal', setupInputs.servicePrincipal(o, app));

    await h.clearCalls();
    const requested = await h.run('grantAdminConsent', setupInputs.consent(o, app, sp, 'request'));
    expect(await h.writes()).toEqual([]);
    if (requested.status !== 'requested') throw new Error(`expected a consent request, got ${JSON.stringify(requested)}`);
    const url = new URL(requested.consentUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${h.sandbox.endpoints.authorityHost}/${o.tenantId}/v2.0/adminconsent`);
    expect(url.searchParams.get('client_id')).toBe(app.appId);
    // The scope names the Graph endpoint in use (the sandbox's own origin here; graph.microsoft.com in Azure).
    expect(url.searchParams.get('scope')).toBe(`${h.sandbox.endpoints.graphUrl}/.default`);

    const pending = await h.state();
    expect(pending.appRoleAssignments.filter((a) => a.principalId === sp.servicePrincipalId)).toEqual([]);
    expect(pending.oauth2PermissionGrants.filter((g) => g.clientId === sp.servicePrincipalId)).toEqual([]);
    const check = { environmentId: o.environmentId, tenantId: o.tenantId, servicePrincipalId: sp.servicePrincipalId };
    expect(await h.run('checkConsent', check)).toEqual({ granted: false, mailSendGranted: false, userReadGranted: false });

    // An administrator opens the URL and accepts.
    expect((await h.sandbox.control('/consent', { body: { appId: app.appId } })).status).toBe(200);
    expect(await h.run('checkConsent', check)).toEqual({ granted: true, mailSendGranted: true, userReadGranted: true });
    // Asked again (a retried step), the request now reports the consent as granted.
    expect(await h.run('grantAdminConsent', setupInputs.consent(o, app, sp, 'request'))).toEqual({ status: 'granted', changed: false });
  });

  it('manual delivery hands a person instructions without the secret; recordDelivery tags the version', async () => {
    const o = await optionsFor('manual');
    const { app } = await prepareApplication(h, o);
    const secret = await h.run('createClientSecret', setupInputs.secret(o, app));

    await h.clearCalls();
    const delivery = await h.run('deliverToFinOps', setupInputs.deliver(o, app, secret, 'manual'));
    expect(await h.writes()).toEqual([]);
    if (delivery.strategy !== 'manual') throw new Error(`expected manual instructions, got ${JSON.stringify(delivery)}`);
    const { instructions } = delivery;
    expect(instructions.emailParametersUrl).toBe(`${o.environmentUrl}/?mi=SysEmailParameters`);
    expect(instructions.applicationId).toBe(app.appId);
    expect(instructions.keyVaultSecret).toEqual({
      vaultUrl: h.sandbox.endpoints.keyVaultUrl,
      name: secret.reference.secretName,
      version: secret.reference.secretVersion,
    });
    const text = instructions.steps.join('\n');
    expect(text).toContain(instructions.emailParametersUrl);
    expect(text).toContain(app.appId);
    expect(text).toContain(secret.reference.secretName);
    expect(text).toContain(secret.reference.secretVersion);
    // Who can read it: the principal the deployment named, from the app setting. The sandbox's vault is on
    // localhost, so the command names the secret by its full identifier rather than a vault name.
    expect(instructions.steps).toContain(`Readable by principal ${SECRET_READER} (Key Vault Secrets User on the vault ${h.sandbox.endpoints.keyVaultUrl}); anyone else asks them.`);
    expect(text).toContain(
      `az keyvault secret show --id ${h.sandbox.endpoints.keyVaultUrl}/secrets/${secret.reference.secretName}/${secret.reference.secretVersion} --query value -o tsv`,
    );
    const minted = (await h.sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted.filter((s) => JSON.stringify(delivery).includes(s))).toEqual([]);

    let state = await h.state();
    // Nothing was sent to F&O: the person does it.
    expect(state.finops['manual']?.graphCredential.secretSet).toBe(false);
    expect(versionsOf(state, secret.reference.secretName)[0]?.tags[SECRET_TAGS.delivered]).toBeUndefined();

    expect(await h.run('recordDelivery', { environmentId: 'manual', reference: secret.reference })).toEqual({ recorded: true });
    state = await h.state();
    const versions = versionsOf(state, secret.reference.secretName);
    expect(versions).toHaveLength(1);
    expect(versions[0]?.tags).toMatchObject({ [SECRET_TAGS.delivered]: 'true', [SECRET_TAGS.credentialKeyId]: secret.reference.keyId });
    // A later setup with the same operation sees the delivery and keeps the credential.
    const again = await h.run('createClientSecret', setupInputs.secret(o, app));
    expect(again).toMatchObject({ reference: secret.reference, delivered: true });

    // A record whose URL names a host outside FINOPS_ALLOWED_HOSTS (someone edited the registry's tags):
    // no instructions sending a person there to enter the secret.
    const elsewhere = await h.failure('deliverToFinOps', { ...setupInputs.deliver(o, app, secret, 'manual'), environmentUrl: 'https://evil.example.com' });
    expect(elsewhere.code).toBe('EnvironmentUrlNotAllowed');
    expect(elsewhere.kind).toBe('permanent');
    expect(elsewhere.message).toContain('host evil.example.com is not in the allowed hosts');
  });

  it('no secret minted during these runs appears in any activity output, log line or error message', async () => {
    const { minted, leaked } = await h.leaks();
    // The seeded operator secret and a client secret for every environment above but 'request'.
    expect(minted).toBeGreaterThanOrEqual(ENVIRONMENTS.length);
    expect(h.seen.length).toBeGreaterThan(20);
    expect(leaked).toBe(0);
  });
});
