/**
 * A customer tenant's runs (partner mode) on the local durable driver with fake activities and virtual
 * time: onboarding with consent already in place, waiting for an administrator (the consent URL in
 * `waitingFor`, a notice naming the tenant, polling a fresh token until every permission is there, the
 * event, partial consent, the timeout), the operator's refusals failing the run at once; and a removal
 * that takes out exactly what it was given, each environment under its run lock, skipping one another
 * run holds.
 */
import type { OffboardInput, OnboardInput } from '../../src/contracts/tenants';
import { buildOnboardInput, buildSetupInput } from '../../src/functions/runs';
import { fakes, OPERATOR_PERMISSIONS } from './fakes';
import { configWith, startHarness, type Harness } from './harness';

let h: Harness;
const CUSTOMER = '3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const OPERATOR = 'aaaaaaaa-0000-4000-8000-00000000000b';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => fakes.reset());

function onboardInput(settings: Record<string, string> = {}): OnboardInput {
  return buildOnboardInput(CUSTOMER, configWith({ OPERATOR_CLIENT_ID: OPERATOR, CONSENT_POLL_MINUTES: '10', CONSENT_TIMEOUT_HOURS: '48', ...settings }));
}

const failure = (message: string, code?: string) => ({ fail: { kind: 'permanent' as const, service: 'entra' as const, message, action: 'Fix the operator.', ...(code ? { code } : {}) } });

describe('onboarding', () => {
  it('records the tenant at once when a token of the operator there already carries every permission it requires', async () => {
    const id = h.startTenant('onboard', onboardInput());
    expect(id).toBe(`onboard-${CUSTOMER}`);
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.names()).toEqual(['describeOperator', 'checkTenantConsent', 'recordTenant']);
    expect(fakes.callsOf('describeOperator')).toEqual([{ operatorAppId: OPERATOR }]);
    expect(fakes.callsOf('checkTenantConsent')).toEqual([{ tenantId: CUSTOMER, requiredPermissions: OPERATOR_PERMISSIONS }]);
    expect(fakes.callsOf('recordTenant')).toEqual([
      { tenantId: CUSTOMER, consent: 'granted', operatorAppId: OPERATOR, requiredPermissions: OPERATOR_PERMISSIONS, grantedPermissions: OPERATOR_PERMISSIONS, asOf: expect.any(String) as unknown },
    ]);
    expect(h.steps(id)).toEqual([
      ['readOperator', 'succeeded'],
      ['adminConsent', 'succeeded'],
      ['recordTenant', 'succeeded'],
    ]);
    expect(h.detail(id, 'adminConsent')).toBe(`already granted: ${OPERATOR_PERMISSIONS.join(', ')}`);
    expect(h.status(id).output).toEqual({
      tenantId: CUSTOMER,
      consent: 'granted',
      operatorAppId: OPERATOR,
      requiredPermissions: OPERATOR_PERMISSIONS,
      grantedPermissions: OPERATOR_PERMISSIONS,
      onboardedAt: expect.any(String) as unknown,
    });
  });

  it('publishes the consent URL, records the tenant as pending, and completes when a poll finds consent', async () => {
    fakes.on('checkTenantConsent', (input, nth) =>
      nth < 3 ? { state: 'not-consented', grantedPermissions: [], missingPermissions: input.requiredPermissions } : { state: 'granted', grantedPermissions: input.requiredPermissions, missingPermissions: [] },
    );
    const input = onboardInput({ DASHBOARD_URL: 'https://func-fno.azurewebsites.net/api/dashboard' });
    const id = h.startTenant('onboard', input);
    await h.settle();
    const waiting = h.custom(id).waitingFor;
    expect(waiting?.event).toBe('ConsentGranted');
    // The tenant-specific consent URL of the operator, landing on the dashboard afterwards.
    const url = new URL((waiting?.instructions as { consentUrl: string }).consentUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`https://login.microsoftonline.com/${CUSTOMER}/v2.0/adminconsent`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: OPERATOR, scope: 'https://graph.microsoft.com/.default', redirect_uri: 'https://func-fno.azurewebsites.net/api/dashboard' });
    expect(waiting?.instructions.steps[1]).toBe(`Review the Microsoft Graph application permissions fno-graph-mail partner operator (${OPERATOR}) asks for: ${OPERATOR_PERMISSIONS.join(', ')}; accept.`);
    expect(h.detail(id, 'adminConsent')).toBe(`waiting for an administrator of tenant ${CUSTOMER} to grant admin consent to fno-graph-mail partner operator`);
    expect(fakes.callsOf('recordTenant')).toEqual([expect.objectContaining({ consent: 'pending', grantedPermissions: [] })]);
    // One notice, about the tenant (no environment), with the URL.
    expect(fakes.callsOf('notify')).toEqual([
      expect.objectContaining({ tenantId: CUSTOMER, kind: 'action-needed', subject: `Admin consent needed to onboard tenant ${CUSTOMER}`, lines: expect.arrayContaining([expect.stringContaining(input.consentUrl)]) as unknown }),
    ]);
    expect(fakes.callsOf('notify')[0]).not.toHaveProperty('environmentId');

    // The first poll (10 minutes later) still finds nothing; the second finds consent.
    await h.nextTimer(id);
    expect(h.detail(id, 'adminConsent')).toBe(`waiting for an administrator of tenant ${CUSTOMER}: the operator application has no service principal in the tenant yet`);
    await h.nextTimer(id);
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(h.custom(id).waitingFor).toBeUndefined();
    expect(fakes.callsOf('checkTenantConsent')).toHaveLength(3);
    expect(fakes.callsOf('recordTenant').map((r) => r.consent)).toEqual(['pending', 'granted']);
  });

  it('takes ConsentGranted as a reason to look, not as proof: partial consent keeps it waiting, naming what is missing', async () => {
    let consented: string[] = [];
    fakes.on('checkTenantConsent', (input) => {
      const missing = input.requiredPermissions.filter((p) => !consented.includes(p));
      return { state: consented.length === 0 ? 'not-consented' : missing.length > 0 ? 'incomplete' : 'granted', grantedPermissions: consented, missingPermissions: missing };
    });
    const id = h.startTenant('onboard', onboardInput());
    await h.settle();
    consented = ['Application.ReadWrite.OwnedBy'];
    await h.raise(id, 'ConsentGranted');
    expect(h.status(id).runtimeStatus).toBe('Running');
    expect(h.detail(id, 'adminConsent')).toBe(
      `waiting for an administrator of tenant ${CUSTOMER}: still missing AppRoleAssignment.ReadWrite.All, AuditLog.Read.All, DelegatedPermissionGrant.ReadWrite.All, Directory.Read.All, Policy.Read.All`,
    );
    consented = [...OPERATOR_PERMISSIONS];
    await h.raise(id, 'ConsentGranted');
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(h.detail(id, 'adminConsent')).toBe(`granted: ${OPERATOR_PERMISSIONS.join(', ')}`);
  });

  it('reminds with the consent URL, then fails at the timeout', async () => {
    fakes.on('checkTenantConsent', (input) => ({ state: 'not-consented', grantedPermissions: [], missingPermissions: input.requiredPermissions }));
    const input = onboardInput({ CONSENT_TIMEOUT_HOURS: '30', MANUAL_DELIVERY_REMINDER_HOURS: '24', CONSENT_POLL_MINUTES: '600' });
    const id = h.startTenant('onboard', input);
    const start = h.clock.now();
    await h.settle();
    // Nobody acts: the run follows its own timers (polls, a reminder) to the deadline.
    for (let i = 0; i < 20 && h.status(id).runtimeStatus === 'Running'; i++) await h.nextTimer(id);
    expect(h.status(id).runtimeStatus).toBe('Failed');
    expect(h.clock.now() - start).toBe(30 * HOUR);
    expect(fakes.callsOf('notify').map((n) => n.kind)).toEqual(['action-needed', 'reminder']);
    expect(h.detail(id, 'adminConsent')).toBe(`Step adminConsent failed: no administrator of tenant ${CUSTOMER} granted admin consent to the operator application within 30 hours`);
    // The reminder carries the URL too.
    expect(fakes.callsOf('notify')[1]?.lines).toEqual(expect.arrayContaining([expect.stringContaining(input.consentUrl)]));
    expect(fakes.callsOf('recordTenant').map((r) => r.consent)).toEqual(['pending']);
  });

  it("fails at once, with the service's words, when the operator application is missing or its federated credential is refused", async () => {
    fakes.on('describeOperator', () => failure('OPERATOR_CLIENT_ID names no application in the home tenant'));
    const missing = h.startTenant('onboard', onboardInput());
    await h.settle();
    expect(h.status(missing).runtimeStatus).toBe('Failed');
    expect(h.steps(missing)[0]).toEqual(['readOperator', 'failed']);
    expect(fakes.names()).toEqual(['describeOperator']);

    fakes.reset();
    fakes.on('checkTenantConsent', () => failure('Sign in to the tenant failed: AADSTS70021: No matching federated identity record found for presented assertion', 'AADSTS70021'));
    const refused = h.startTenant('onboard', { ...onboardInput(), tenantId: '11111111-2222-4333-8444-555555555555' });
    await h.settle();
    expect(h.status(refused).runtimeStatus).toBe('Failed');
    expect(h.detail(refused, 'adminConsent')).toContain('AADSTS70021');
    expect(fakes.callsOf('recordTenant')).toEqual([]);
  });
});

describe('removal', () => {
  function offboardInput(environments: string[], other: string[] = []): OffboardInput {
    return {
      tenantId: CUSTOMER,
      environments: environments.map((environmentId) => ({
        environmentId,
        environmentUrl: `https://${environmentId}.operations.dynamics.com`,
        secretName: `fno-graph-mail-${environmentId}`,
        appId: `app-${environmentId}`,
        appObjectId: `obj-${environmentId}`,
        staleHolders: [],
      })),
      otherApplications: other.map((environmentId) => ({ objectId: `obj-${environmentId}`, appId: `app-${environmentId}`, displayName: environmentId, environmentId })),
      tenantRecord: `fno-graph-mail--tenant-${CUSTOMER}`,
    };
  }

  it('removes each environment (application, then record), the other applications, then the tenant record', async () => {
    const id = h.startTenant('offboard', offboardInput(['fabrikam-prod', 'fabrikam-uat'], ['fabrikam-test']));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.calls.map((c) => [c.name, (c.input as { objectId?: string; secretName?: string }).objectId ?? (c.input as { secretName: string }).secretName])).toEqual([
      ['removeTenantApplication', 'obj-fabrikam-prod'],
      ['removeRegistryRecord', 'fno-graph-mail-fabrikam-prod'],
      ['removeTenantApplication', 'obj-fabrikam-uat'],
      ['removeRegistryRecord', 'fno-graph-mail-fabrikam-uat'],
      ['removeTenantApplication', 'obj-fabrikam-test'],
      ['removeRegistryRecord', `fno-graph-mail--tenant-${CUSTOMER}`],
    ]);
    expect(h.status(id).output).toEqual({
      tenantId: CUSTOMER,
      removedApplications: ['app-fabrikam-prod', 'app-fabrikam-uat', 'app-fabrikam-test'],
      removedRecords: ['fno-graph-mail-fabrikam-prod', 'fno-graph-mail-fabrikam-uat', `fno-graph-mail--tenant-${CUSTOMER}`],
      skipped: [],
    });
    expect(h.steps(id).every(([, s]) => s === 'succeeded')).toBe(true);
  });

  it('leaves an environment another run holds, and an application that is no longer the product’s, and says so', async () => {
    // A setup of fabrikam-busy waits for an administrator's consent: it holds the environment.
    const setup = h.start('setup', buildSetupInput('fabrikam-busy', 'https://fabrikam-busy.operations.dynamics.com', { environmentUrl: 'x', consent: 'request' }, configWith()));
    await h.settle();
    expect(h.custom(setup).waitingFor?.event).toBe('ConsentGranted');
    fakes.reset();
    fakes.on('removeTenantApplication', (input) => (input.environmentId === 'fabrikam-prod' ? { removed: false, reason: "not the product's own any more: it has other owners; left untouched" } : { removed: true }));
    const id = h.startTenant('offboard', offboardInput(['fabrikam-busy', 'fabrikam-prod']));
    await h.settle();
    expect(h.status(id).runtimeStatus).toBe('Completed');
    expect(fakes.callsOf('removeTenantApplication').map((c) => c.environmentId)).toEqual(['fabrikam-prod']);
    expect(h.status(id).output).toMatchObject({
      removedApplications: [],
      removedRecords: ['fno-graph-mail-fabrikam-prod', `fno-graph-mail--tenant-${CUSTOMER}`],
      skipped: [
        `environment fabrikam-busy: run setup-fabrikam-busy holds it; remove the tenant again once it has ended`,
        "application app-fabrikam-prod (fabrikam-prod): not the product's own any more: it has other owners; left untouched",
      ],
    });
    // The setup still holds its environment and goes on.
    expect(h.status(setup).runtimeStatus).toBe('Running');
  });
});
