/**
 * The tenant routes at their edges, through the local host: single tenant (the default) lists only
 * the home tenant and refuses onboarding and removal, saying partner mode is off; in partner mode a
 * tenant id must be a GUID, the home tenant is neither onboarded nor removed, a second onboarding of a
 * tenant while one runs is refused naming it, removing an unknown tenant is 404, and the report for a
 * tenant whose administrator never consented says why nothing of the product can be there.
 */
import { OPERATOR_UNIQUE_NAME } from '../../src/contracts/names';
import type { TenantList, TenantRemovalReport } from '../../src/contracts/tenants';
import { startTestApp, type TestApp } from '../helpers/app';

const STRANGER = '7a7a7a7a-0000-4000-8000-00000000000c';

// One app: its managed identity's tokens are cached per process, so a second sandbox in this file would
// meet the first one's. It starts single tenant, then restarts in partner mode.
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.stop();
});

describe('single tenant (no OPERATOR_CLIENT_ID)', () => {
  it('lists the home tenant with the permissions its identity holds, and refuses onboarding and removal', async () => {
    const list = await app.api<TenantList>('GET', '/api/tenants');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      partnerMode: false,
      tenants: [
        {
          tenantId: app.endpoints.tenantId,
          home: true,
          consent: 'home',
          grantedPermissions: ['AppRoleAssignment.ReadWrite.All', 'Application.ReadWrite.OwnedBy', 'DelegatedPermissionGrant.ReadWrite.All'],
          environments: 0,
        },
      ],
    });
    for (const [method, route] of [
      ['POST', `/api/tenants/${STRANGER}/onboard`],
      ['DELETE', `/api/tenants/${STRANGER}`],
    ] as const) {
      const refused = await app.api(method, route);
      expect([route, refused.status, refused.body.title]).toEqual([route, 400, 'Partner mode is off']);
      expect(String(refused.body.detail)).toContain('PARTNER_MODE=true');
    }
    expect((await app.api('GET', '/api/tenants', undefined, { key: null })).status).toBe(401);
  });
});

describe('partner mode', () => {
  beforeAll(async () => {
    // What the template does, then the app restarted with OPERATOR_CLIENT_ID.
    const operator = await app.control<{ appId: string }>('/operator-application', { uniqueName: OPERATOR_UNIQUE_NAME });
    await app.restartRuntime({ appSettings: { OPERATOR_CLIENT_ID: operator.appId } });
    // Same port: a connection the client kept alive to the stopped runtime fails once, then is dropped.
    await app.api('GET', '/api/tenants').catch(() => undefined);
  });

  it('takes only GUIDs, and neither onboards nor removes the home tenant', async () => {
    const bad = await app.api('POST', '/api/tenants/contoso.onmicrosoft.com/onboard');
    expect([bad.status, bad.body.field, bad.body.detail]).toEqual([400, 'tenantId', 'tenantId must be a tenant id (a GUID).']);
    const home = await app.api('POST', `/api/tenants/${app.endpoints.tenantId.toUpperCase()}/onboard`);
    expect([home.status, home.body.detail]).toEqual([400, `Tenant ${app.endpoints.tenantId} is the home tenant: the function app's own identity works there, so there is nothing to consent to.`]);
    const options = await app.api('POST', `/api/tenants/${STRANGER}/onboard`, { consent: 'grant' });
    expect([options.status, options.body.detail]).toEqual([400, 'Unknown field: consent.']);
    const removeHome = await app.api('DELETE', `/api/tenants/${app.endpoints.tenantId}`);
    expect([removeHome.status, removeHome.body.detail]).toEqual([400, `Tenant ${app.endpoints.tenantId} is the home tenant: it holds the function app, its identity and the vault, and cannot be removed.`]);
    const unknown = await app.api('DELETE', `/api/tenants/${STRANGER}`);
    expect([unknown.status, unknown.body.title]).toEqual([404, 'Unknown tenant']);
  });

  it('runs one onboarding of a tenant at a time, and reports a tenant that never consented as holding nothing of the product', async () => {
    const { tenantId } = await app.control<{ tenantId: string }>('/tenants', { name: 'northwind' });
    const first = await app.api<{ instanceId: string; statusUrl: string }>('POST', `/api/tenants/${tenantId}/onboard`);
    expect(first.status).toBe(202);
    expect(first.body.statusUrl).toBe(`${app.endpoints.functionsUrl}/api/operations/onboard-${tenantId}`);
    await app.waitForOperation(first.body.instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
    const second = await app.api('POST', `/api/tenants/${tenantId}/onboard`);
    expect([second.status, second.body.instanceId]).toEqual([409, `onboard-${tenantId}`]);
    expect(String(second.body.detail)).toBe(`A onboardTenant run is running for tenant ${tenantId}; follow it at statusUrl and try again once it has ended.`);
    // While it runs the tenant cannot be removed either.
    expect((await app.api('DELETE', `/api/tenants/${tenantId}`)).status).toBe(409);

    // The onboarding recorded the tenant as pending; once it has ended, the report shows the record and says why no app can be there.
    await app.api('POST', `/api/operations/${first.body.instanceId}/events/ConsentGranted`, {});
    const running = await app.api<{ runtimeStatus: string }>('GET', `/api/operations/${first.body.instanceId}`);
    expect(running.body.runtimeStatus).toBe('Running');
    const list = await app.api<TenantList>('GET', '/api/tenants');
    expect(list.body.tenants[1]).toMatchObject({ tenantId, consent: 'pending', environments: 0 });
    app.runtime.durable.terminate(first.body.instanceId, 'test over');
    await app.runtime.durable.whenIdle({ timeoutMs: 5_000 });
    const report = await app.api<TenantRemovalReport>('DELETE', `/api/tenants/${tenantId}`);
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ applications: [], environments: [], keyVaultRecords: [`fno-graph-mail--tenant-${tenantId}`], leftAlone: [] });
    expect(report.body.notes[0]).toBe(`The operator application has no service principal in tenant ${tenantId} (no administrator consented), so it cannot have created anything there.`);
  });
});
