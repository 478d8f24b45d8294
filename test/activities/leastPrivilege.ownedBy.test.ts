/**
 * The setup activities when the function app's managed identity holds only the Graph permission
 * `Application.ReadWrite.OwnedBy`: it can register and manage its own apps and their secrets, but not
 * grant consent, so consent `grant` fails fast naming what to grant, and consent `request` carries the
 * setup through. (Its own file: the identity's Graph token, roles included, is cached per process.)
 */
import { randomUUID } from 'node:crypto';
import { secretNameFor } from '../../src/contracts/names';
import { applicationOf, setupInputs, startActivityHarness, versionsOf, type ActivityHarness, type SetupOptions } from './harness';

let h: ActivityHarness;

beforeAll(async () => {
  h = await startActivityHarness({ environmentIds: ['least'] });
  // Before the identity's first Graph token, which carries its roles.
  const reply = await h.sandbox.control<{ managedIdentityRoles: string[] }>('/permissions', {
    body: { managedIdentityRoles: ['Application.ReadWrite.OwnedBy'] },
  });
  expect(reply.body.managedIdentityRoles).toEqual(['Application.ReadWrite.OwnedBy']);
});

afterAll(async () => {
  await h.stop();
});

describe('with only Application.ReadWrite.OwnedBy', () => {
  it('registers the app and creates its secret, fails consent grant naming the missing permissions, and completes by consent request', async () => {
    const o: SetupOptions = {
      environmentId: 'least',
      environmentUrl: h.environmentUrl('least'),
      tenantId: h.sandbox.endpoints.tenantId,
      requestedAt: await h.now(),
      operationId: randomUUID(),
    };
    const app = await h.run('registerApplication', setupInputs.register(o));
    expect(app.outcome).toBe('created');
    const sp = await h.run('ensureServicePrincipal', setupInputs.servicePrincipal(o, app));
    expect(sp.created).toBe(true);

    await h.clearCalls();
    const error = await h.failure('grantAdminConsent', setupInputs.consent(o, app, sp, 'grant'));
    expect(error.kind).toBe('permanent');
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(403);
    expect(error.code).toBe('Authorization_RequestDenied');
    expect(error.message).toContain('AppRoleAssignment.ReadWrite.All');
    expect(error.message).toContain('DelegatedPermissionGrant.ReadWrite.All');
    // Both grants were refused; nothing was consented behind the error.
    expect((await h.writes()).filter((c) => c.status < 400)).toEqual([]);
    let state = await h.state();
    expect(state.appRoleAssignments.filter((a) => a.principalId === sp.servicePrincipalId)).toEqual([]);
    expect(state.oauth2PermissionGrants.filter((g) => g.clientId === sp.servicePrincipalId)).toEqual([]);

    const secret = await h.run('createClientSecret', setupInputs.secret(o, app));
    expect(secret.created).toBe(true);

    // The least-privilege way: ask an administrator.
    const requested = await h.run('grantAdminConsent', setupInputs.consent(o, app, sp, 'request'));
    expect(requested.status).toBe('requested');
    await h.sandbox.control('/consent', { body: { appId: app.appId } });
    expect(await h.run('checkConsent', { environmentId: o.environmentId, tenantId: o.tenantId, servicePrincipalId: sp.servicePrincipalId })).toMatchObject({ granted: true });

    await h.run('deliverToFinOps', setupInputs.deliver(o, app, secret));
    expect((await h.run('verifyCredential', setupInputs.verify(o, app, secret))).roles).toContain('Mail.Send');

    state = await h.state();
    expect(applicationOf(state, 'fno-graph-mail-least').passwordCredentials.map((c) => c.keyId)).toEqual([secret.reference.keyId]);
    expect(versionsOf(state, secretNameFor('least'))).toHaveLength(1);
    expect(state.finops['least']?.graphCredential.keyId).toBe(secret.reference.keyId);
  });

  it('no secret minted here appears in any activity output, log line or error message', async () => {
    const { minted, leaked } = await h.leaks();
    expect(minted).toBeGreaterThan(1);
    expect(leaked).toBe(0);
  });
});
