/**
 * Tenant policy pre-flight, end to end: the app's identity may read app management policies
 * (Policy.Read.All). A tenant that caps secret lifetimes gets secrets within the cap, and the step says
 * so; a tenant that forbids new secrets gets a setup that fails before any write, naming the policy and
 * the exact Graph requests that exempt the app; sent by an administrator, those requests let the next
 * setup through (the positive control that the exemption is real).
 */
import { ClientSecretCredential } from '@azure/identity';
import { DEFAULT_MANAGED_IDENTITY_ROLES, setGraphRoles } from '../../sandbox/seed';
import { startTestApp, type TestApp } from '../helpers/app';
import { addMailApp } from '../helpers/finopsMail';

const DAY = 86_400_000;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ['capped', 'banned'],
      secretPropagationSeconds: 0,
      managedIdentityRoles: [...DEFAULT_MANAGED_IDENTITY_ROLES, 'Policy.Read.All'],
    },
    appSettings: { SECRET_LIFETIME_DAYS: '180' },
  });
});

afterAll(async () => {
  await app?.stop();
});

const tenantId = () => app.endpoints.tenantId;
const appOf = (id: string) => app.sandbox.state.applications.find((a) => a.uniqueName === `fno-graph-mail-${id}`)!;

async function setUp(id: string) {
  const reply = await app.api<{ instanceId: string }>('POST', `/api/environments/${id}/setup`, { environmentUrl: app.environmentUrl(id) });
  expect(reply.status).toBe(202);
  return app.waitForOperation(reply.body.instanceId);
}

it('a lifetime cap: the secret gets the cap (less an hour), the step says so, and Key Vault expires with it', async () => {
  await app.control(`/tenants/${tenantId()}/app-management-policy`, { passwordLifetimeMaxDays: 30 });
  try {
    const done = await setUp('capped');
    expect(done.runtimeStatus).toBe('Completed');
    const step = done.steps.find((s) => s.name === 'createClientSecret')!;
    expect(step.detail).toContain("lifetime capped to 29 days by the tenant's default policy (maxLifetime P30D; SECRET_LIFETIME_DAYS is 180)");
    const credential = appOf('capped').passwordCredentials[0]!;
    const lifetime = Date.parse(credential.endDateTime) - Date.parse(credential.startDateTime);
    expect(lifetime).toBeLessThanOrEqual(30 * DAY);
    expect(lifetime).toBeGreaterThan(29 * DAY);
  } finally {
    await app.control(`/tenants/${tenantId()}/app-management-policy`, { passwordLifetimeMaxDays: null });
  }
});

it('a ban: setup fails before any write, naming the policy and the exemption; the exemption, applied, lets it through', async () => {
  await app.control(`/tenants/${tenantId()}/app-management-policy`, { passwordAddition: true });
  await app.control('/calls', undefined, 'DELETE');
  const refused = await setUp('banned');
  expect(refused.runtimeStatus).toBe('Failed');
  expect(refused.error).toContain('Step createClientSecret failed:');
  expect(refused.error).toContain("the tenant's default app management policy forbids new client secrets");
  const calls = (await app.control<{ calls: Array<{ method: string; path: string }> }>('/calls')).calls;
  expect(calls.filter((c) => c.method === 'POST' && c.path.endsWith('/addPassword'))).toEqual([]);
  expect(app.sandbox.state.secrets.find((s) => s.name === 'fno-graph-mail-banned')).toBeUndefined();

  // An administrator sends the two requests exactly as the failure states them.
  const requests = [...(refused.error ?? '').matchAll(/POST (\S+) {2}(\{.*?\})(?= POST |\s+Then run)/g)].map((m) => ({ url: m[1]!, body: m[2]! }));
  expect(requests).toHaveLength(2);
  const admin = addMailApp(app.sandbox.state, 'policy-administrator', { mailSend: false });
  const sp = app.sandbox.state.servicePrincipals.find((s) => s.appId === admin.appId)!;
  setGraphRoles(app.sandbox.state, sp.id, ['Policy.ReadWrite.ApplicationConfiguration', 'Application.Read.All']);
  const credential = new ClientSecretCredential(tenantId(), admin.appId, admin.addSecret().secret, { authorityHost: app.endpoints.authorityHost, disableInstanceDiscovery: true });
  const token = (await credential.getToken('https://graph.microsoft.com/.default')).token;
  // The sandbox's Graph answers on its own host; the requests name Graph's (GRAPH_BASE_URL is the sandbox here).
  const send = async (url: string, body: string) => {
    const reply = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    const text = await reply.text();
    expect([200, 201, 204]).toContain(reply.status);
    return text ? (JSON.parse(text) as { id?: string }) : {};
  };
  const policy = await send(requests[0]!.url, requests[0]!.body);
  await send(requests[1]!.url, requests[1]!.body.replace('{id of the policy just created}', policy.id ?? ''));

  const done = await setUp('banned');
  expect(done.runtimeStatus).toBe('Completed');
  expect(appOf('banned').passwordCredentials).toHaveLength(1);
  await app.control(`/tenants/${tenantId()}/app-management-policy`, { passwordAddition: false });
});
