/**
 * Least privilege, consent strategy `grant`: an identity holding exactly
 * `Application.ReadWrite.OwnedBy`, `AppRoleAssignment.ReadWrite.All` and
 * `DelegatedPermissionGrant.ReadWrite.All` grants admin consent itself and sets up and rotates an
 * environment end to end. One app per file: the identity's token is cached per process.
 */
import { recordPermissionRow, setupAndRotate, startWithRoles, type PrivilegeApp } from './privilege';

const ROLES = ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All'];
let p: PrivilegeApp;

beforeAll(async () => {
  p = await startWithRoles(ROLES, ['by-grant']);
});

afterAll(async () => {
  await p?.app.stop();
});

it('with exactly the three permissions, consent strategy grant sets up and rotates end to end', async () => {
  expect(await setupAndRotate(p, 'by-grant', 'grant')).toEqual([]);
  recordPermissionRow('grant', { permissions: ROLES, verified: 'setup (consent granted by the identity) and rotation completed' });
});
