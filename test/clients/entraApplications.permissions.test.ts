/**
 * EntraApplications when the function app's managed identity lacks a Graph application permission:
 * the call fails fast, as permanent, with Graph's code, the request id and the permission to grant.
 * (Its own file: the managed identity's token, roles included, is cached per process.)
 */
import { ManagedIdentityCredential } from '@azure/identity';
import { EntraApplications, isServiceError, type ServiceError } from '../../src/clients';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from '../../src/contracts/wellKnown';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (isServiceError(e)) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('EntraApplications when the managed identity lacks a Graph permission', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  it('fails fast with the code, the request id and the permission to grant', async () => {
    // Turn the role off before the identity's first token, which carries the roles.
    const reply = await sandbox.control<{ managedIdentityRoles: string[] }>('/permissions', {
      body: { managedIdentityRoles: ['Application.ReadWrite.OwnedBy', 'DelegatedPermissionGrant.ReadWrite.All'] },
    });
    expect(reply.body.managedIdentityRoles).not.toContain('AppRoleAssignment.ReadWrite.All');
    const env = sandbox.managedIdentityEnv();
    process.env.IDENTITY_ENDPOINT = env.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = env.IDENTITY_HEADER;
    const entra = new EntraApplications(new ManagedIdentityCredential(), {
      graphBaseUrl: sandbox.endpoints.graphUrl,
      tenantId: sandbox.endpoints.tenantId,
      retry: { maxRetries: 0 },
    });
    const { application } = await entra.upsertApplication({
      uniqueName: 'no-role-env',
      displayName: 'F&O Graph mail (no-role-env)',
      signInAudience: 'AzureADMyOrg',
      requiredResourceAccess: [
        {
          resourceAppId: GRAPH_APP_ID,
          resourceAccess: [
            { id: MAIL_SEND_ROLE_ID, type: 'Role' },
            { id: USER_READ_SCOPE_ID, type: 'Scope' },
          ],
        },
      ],
    });
    const { servicePrincipal } = await entra.ensureServicePrincipal(application.appId);
    const graphSp = await entra.getGraphServicePrincipal();

    const e = await failure(
      entra.ensureAppRoleAssignment(
        { principalId: servicePrincipal.objectId, resourceId: graphSp.objectId, appRoleId: MAIL_SEND_ROLE_ID },
        { environmentId: 'no-role-env' },
      ),
    );
    expect(e.kind).toBe('permanent');
    expect(e.retryable).toBe(false);
    expect(e.status).toBe(403);
    expect(e.code).toBe('Authorization_RequestDenied');
    expect(e.requestId).toBeDefined();
    expect(e.message).toContain('for environment no-role-env');
    expect(e.message).toContain(
      "Grant the function app's identity the Graph application permission AppRoleAssignment.ReadWrite.All (see docs/settings.md, Permissions)",
    );
    // Nothing was assigned behind the error.
    const assignments = (await sandbox.control<{ appRoleAssignments: Array<{ principalId: string }> }>('/state')).body.appRoleAssignments;
    expect(assignments.filter((a) => a.principalId === servicePrincipal.objectId)).toHaveLength(0);
  });
});
