/**
 * Least privilege: without `Application.ReadWrite.OwnedBy` (even holding both consent permissions)
 * setup fails at once at registerApplication, naming the permission to grant, and creates nothing.
 * One app per file: the identity's token is cached per process.
 */
import { failingSetup, recordPermissionRow, startWithRoles, type PrivilegeApp } from './privilege';

const ROLES = ['AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All'];
let p: PrivilegeApp;

beforeAll(async () => {
  p = await startWithRoles(ROLES, ['no-owned-by-grant', 'no-owned-by-request']);
});

afterAll(async () => {
  await p?.app.stop();
});

it.each(['grant', 'request'] as const)('consent strategy %s fails at once at registerApplication, naming Application.ReadWrite.OwnedBy, creating nothing', async (consent) => {
  const failed = await failingSetup(p, `no-owned-by-${consent}`, consent);
  expect(failed).toMatchObject({ status: 'Failed', failedStep: 'registerApplication', retried: false, appRegistrations: 0, credentials: 0 });
  expect(failed.error).toMatch(/^Step registerApplication failed: /);
  expect(failed.error).toContain('Authorization_RequestDenied');
  expect(failed.error).toContain("Grant the function app's identity the Graph application permission Application.ReadWrite.OwnedBy");
  recordPermissionRow('withoutOwnedBy', { permissions: ROLES, verified: 'setup fails at registerApplication naming Application.ReadWrite.OwnedBy' });
});
