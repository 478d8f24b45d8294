/**
 * Least privilege, consent strategy `request`: an identity holding exactly
 * `Application.ReadWrite.OwnedBy` sets up and rotates an environment end to end (an administrator
 * consents at the published URL); asked to grant consent itself, the same identity fails the run at
 * once, at grantAdminConsent, naming the two permissions it would need. One app per file: the
 * identity's token, and the permissions it carries, is cached per process.
 */
import { failingSetup, recordPermissionRow, setupAndRotate, startWithRoles, type PrivilegeApp } from './privilege';

const ROLES = ['Application.ReadWrite.OwnedBy'];
let p: PrivilegeApp;

beforeAll(async () => {
  p = await startWithRoles(ROLES, ['by-request', 'by-grant']);
});

afterAll(async () => {
  await p?.app.stop();
});

it('with only Application.ReadWrite.OwnedBy, consent strategy request sets up and rotates end to end', async () => {
  expect(await setupAndRotate(p, 'by-request', 'request')).toEqual([]);
  recordPermissionRow('request', { permissions: ROLES, verified: 'setup and rotation completed; an administrator granted consent' });
});

it('with only Application.ReadWrite.OwnedBy, consent strategy grant fails at once at grantAdminConsent, naming both missing permissions', async () => {
  const failed = await failingSetup(p, 'by-grant', 'grant');
  expect(failed).toMatchObject({ status: 'Failed', failedStep: 'grantAdminConsent', retried: false, appRegistrations: 1, credentials: 0 });
  expect(failed.error).toMatch(/^Step grantAdminConsent failed: /);
  expect(failed.error).toContain('Authorization_RequestDenied');
  expect(failed.error).toMatch(/AppRoleAssignment\.ReadWrite\.All and DelegatedPermissionGrant\.ReadWrite\.All/);
  expect(failed.error).toMatch(/or use the consent strategy request/);
});
