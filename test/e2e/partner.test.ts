/**
 * Partner mode end to end: the app on the local runtime against the sandbox, with the operator
 * application the template creates (the sandbox's `POST /operator-application`: multi-tenant, its only
 * credential a federated credential trusting the app's managed identity) and OPERATOR_CLIENT_ID naming
 * it. Driven through the public HTTP API and the sandbox's control routes, as a partner and a customer's
 * administrator would: a customer tenant is added, a setup there is refused until the tenant is
 * onboarded, the onboarding waits for the customer's consent and records it, a setup creates the email
 * app in the customer's tenant (owned by the operator's service principal there), gives F&O there its
 * credential, and F&O's batch sends through it; a rotation and a drift repair work the same way; the tenant list shows
 * both tenants; removal reports, refuses a wrong token, then removes exactly what it reported; a wrong
 * federated credential fails with the code Entra gives. No secret reaches a response, a log or history.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DEPLOYED_MANAGED_IDENTITY_ROLES } from '../../sandbox/seed';
import type { TenantList, TenantRemovalReport } from '../../src/contracts/tenants';
import { OPERATOR_UNIQUE_NAME } from '../../src/contracts/names';
import { startTestApp, type Operation, type TestApp } from '../helpers/app';
import { findLeaks } from '../helpers/leakForms';

interface NewTenant {
  tenantId: string;
  environments: Array<{ id: string; url: string }>;
  senderMailbox: string;
}

let app: TestApp;
let operatorAppId: string;
let customer: NewTenant;
const ENV = 'fabrikam-prod';

beforeAll(async () => {
  app = await startTestApp({
    partner: {},
    sandbox: { environmentIds: ['contoso-uat'], secretPropagationSeconds: 0, managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES },
    appSettings: {
      CONSENT_POLL_MINUTES: '1',
      EVIDENCE_POLL_MINUTES: '1',
      ROTATION_GRACE_HOURS: '1',
      ROTATION_SWEEP_SCHEDULE: '0 0 0 1 1 *',
      DRIFT_CHECK_SCHEDULE: '0 0 0 1 1 *',
    },
  });
  operatorAppId = app.endpoints.partnerOperatorClientId ?? '';
}, 60_000);

afterAll(async () => {
  await app?.stop();
});

const step = (op: Operation, name: string) => op.steps.find((s) => s.name === name);
const tenantOf = (tenantId: string) => app.sandbox.state.tenant(tenantId)!;
const finops = (id: string) => app.sandbox.state.finops.find((e) => e.id === id)!;

describe('partner mode', () => {
  it('starts with the operator the template creates: multi-tenant, one federated credential trusting the identity, no secret', async () => {
    const operator = app.sandbox.state.home.applications.find((a) => a.uniqueName === OPERATOR_UNIQUE_NAME)!;
    expect(operator.appId).toBe(operatorAppId);
    expect(app.appSettings.OPERATOR_CLIENT_ID).toBe(operatorAppId);
    expect(operator.signInAudience).toBe('AzureADMultipleOrgs');
    expect(operator.passwordCredentials).toEqual([]);
    expect(operator.federatedIdentityCredentials).toEqual([
      expect.objectContaining({
        issuer: `${app.endpoints.authorityHost}/${app.endpoints.tenantId}/v2.0`,
        subject: app.endpoints.managedIdentity.servicePrincipalId,
        audiences: ['api://AzureADTokenExchange'],
      }),
    ]);
    const tenants = await app.api<TenantList>('GET', '/api/tenants');
    expect(tenants.status).toBe(200);
    expect(tenants.body.partnerMode).toBe(true);
    expect(tenants.body.tenants).toEqual([
      { tenantId: app.endpoints.tenantId, home: true, consent: 'home', grantedPermissions: [...DEPLOYED_MANAGED_IDENTITY_ROLES].sort(), environments: 0 },
    ]);
  });

  it('refuses a setup in a customer tenant that is not onboarded, saying to onboard it first', async () => {
    customer = await app.control<NewTenant>('/tenants', { name: 'fabrikam' });
    expect(customer.environments).toEqual([{ id: ENV, url: expect.stringMatching(/^https:\/\/localhost:\d+$/) as unknown }]);
    const refused = await app.api('POST', `/api/environments/${ENV}/setup`, { environmentUrl: customer.environments[0]!.url, tenantId: customer.tenantId });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      field: 'tenantId',
      detail: `tenantId ${customer.tenantId} has not been onboarded: no administrator of that tenant has consented to the partner operator application yet. Onboard it first (POST /api/tenants/${customer.tenantId}/onboard), then run setup again.`,
    });
  });

  it("onboards the tenant: publishes the operator's consent URL for it, waits, and records consent once the administrator gave it", async () => {
    const started = await app.api<{ instanceId: string }>('POST', `/api/tenants/${customer.tenantId}/onboard`);
    expect(started.status).toBe(202);
    expect(started.body.instanceId).toBe(`onboard-${customer.tenantId}`);
    const waiting = await app.waitForOperation(started.body.instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
    const consentUrl = new URL(String(waiting.waitingFor!.instructions.consentUrl));
    expect(`${consentUrl.origin}${consentUrl.pathname}`).toBe(`${app.endpoints.authorityHost}/${customer.tenantId}/v2.0/adminconsent`);
    expect(consentUrl.searchParams.get('client_id')).toBe(operatorAppId);
    expect(step(waiting, 'readOperator')?.detail).toBe(`fno-graph-mail partner operator (${operatorAppId}) requires ${[...DEPLOYED_MANAGED_IDENTITY_ROLES].sort().join(', ')}`);
    // The operations list shows it; the tenant list shows it pending, with the URL to open.
    const operations = await app.api<{ operations: Operation[] }>('GET', '/api/operations');
    expect(operations.body.operations.map((o) => o.instanceId)).toContain(started.body.instanceId);
    const pending = await app.api<TenantList>('GET', '/api/tenants');
    expect(pending.body.tenants[1]).toMatchObject({ tenantId: customer.tenantId, home: false, consent: 'pending', grantedPermissions: [], consentUrl: consentUrl.toString() });
    // Nothing happens by waiting: the run keeps looking.
    await app.advanceClock('PT3M');
    expect((await app.waitForOperation(started.body.instanceId, (op) => op.runtimeStatus === 'Running')).waitingFor?.event).toBe('ConsentGranted');

    // The customer's administrator consents; the next poll sees a token of the operator there carrying every permission.
    await app.control('/consent', { appId: operatorAppId, tenantId: customer.tenantId });
    const done = await app.waitMovingClock(started.body.instanceId, { throughPersonWaits: true });
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output).toMatchObject({ tenantId: customer.tenantId, consent: 'granted', operatorAppId, grantedPermissions: [...DEPLOYED_MANAGED_IDENTITY_ROLES].sort() });
  }, 60_000);

  it('sets up an environment there: the email app lives in the customer tenant, F&O there holds its credential and sends through it', async () => {
    await app.control(`/finops/${ENV}/batch`, { running: true, intervalMinutes: 1 });
    const started = await app.api<{ instanceId: string }>('POST', `/api/environments/${ENV}/setup`, { environmentUrl: customer.environments[0]!.url, tenantId: customer.tenantId });
    expect(started.status).toBe(202);
    const done = await app.waitMovingClock(started.body.instanceId, { timeoutMs: 90_000 });
    expect([done.runtimeStatus, done.error]).toEqual(['Completed', undefined]);
    expect(done.output).toMatchObject({ environmentId: ENV, tenantId: customer.tenantId, status: 'active' });

    const there = tenantOf(customer.tenantId);
    const emailApp = there.applications.find((a) => a.uniqueName === `fno-graph-mail-${ENV}`)!;
    expect(emailApp).toBeDefined();
    expect(app.sandbox.state.home.applications.some((a) => a.uniqueName === `fno-graph-mail-${ENV}`)).toBe(false);
    // Owned by the operator's service principal in the customer's tenant, and nobody else.
    const operatorThere = there.findServicePrincipalByAppId(operatorAppId)!;
    expect(emailApp.owners).toEqual([operatorThere.id]);
    expect(done.output).toMatchObject({ appId: emailApp.appId });
    const keyId = (done.output as { credential: { keyId: string } }).credential.keyId;
    expect(emailApp.passwordCredentials.map((c) => c.keyId)).toEqual([keyId]);
    // F&O there holds it, and its batch sends through Graph with it.
    expect(finops(ENV).graphCredential.applicationId).toBe(emailApp.appId);
    expect(finops(ENV).emailParameters.MailerNonInteractive).toBe('Graph');
    expect(finops(ENV).emailHistory.find((r) => r.provider === 'Graph' && r.status === 'sent')?.keyId).toBe(keyId);

    const environments = await app.api<{ environments: Array<{ environmentId: string }> }>('GET', `/api/environments?tenantId=${customer.tenantId.toUpperCase()}`);
    expect(environments.body.environments.map((e) => e.environmentId)).toEqual([ENV]);
    const home = await app.api<{ environments: unknown[] }>('GET', `/api/environments?tenantId=${app.endpoints.tenantId}`);
    expect(home.body.environments).toEqual([]);
    expect((await app.api('GET', '/api/environments?tenantId=fabrikam')).status).toBe(400);
  }, 120_000);

  it("finds and repairs drift there as the operator: consent someone revoked in the customer's tenant is granted again", async () => {
    const emailApp = tenantOf(customer.tenantId).applications.find((a) => a.uniqueName === `fno-graph-mail-${ENV}`)!;
    await app.control('/revoke-consent', { appId: emailApp.appId, tenantId: customer.tenantId });
    const outcome = await app.runtime.timers.runNow('driftCheck');
    if (!outcome.ok) throw outcome.error;
    const done = await app.waitMovingClock(`drift-${ENV}`, { timeoutMs: 60_000 });
    expect([done.runtimeStatus, done.error]).toEqual(['Completed', undefined]);
    expect(done.output).toMatchObject({ environmentId: ENV, found: ['admin consent was revoked'], done: ['admin consent granted again'] });
    const there = tenantOf(customer.tenantId);
    const sp = there.findServicePrincipalByAppId(emailApp.appId)!;
    expect(there.graphRolesOf(sp.id)).toEqual(['Mail.Send']);
  }, 90_000);

  it('rotates it the same way, and refuses to remove the tenant while the rotation runs', async () => {
    const before = tenantOf(customer.tenantId).applications.find((a) => a.uniqueName === `fno-graph-mail-${ENV}`)!.passwordCredentials.map((c) => c.keyId);
    const started = await app.api<{ instanceId: string }>('POST', `/api/environments/${ENV}/rotate`);
    expect(started.status).toBe(202);
    // F&O's batch signs in with the new credential; the previous one then waits out the grace period.
    await app.waitMovingClock(started.body.instanceId, { until: (op) => step(op, 'gracePeriod')?.status === 'waiting', timeoutMs: 90_000 });
    const busy = await app.api('DELETE', `/api/tenants/${customer.tenantId}`);
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ instanceId: started.body.instanceId });

    const done = await app.waitMovingClock(started.body.instanceId, { timeoutMs: 90_000 });
    expect([done.runtimeStatus, done.error]).toEqual(['Completed', undefined]);
    const after = tenantOf(customer.tenantId).applications.find((a) => a.uniqueName === `fno-graph-mail-${ENV}`)!.passwordCredentials.map((c) => c.keyId);
    const newKey = (done.output as { credential: { keyId: string } }).credential.keyId;
    expect(after).toEqual([newKey]);
    expect(before).not.toContain(newKey);
    expect(step(done, 'revokePreviousCredentials')).toMatchObject({ status: 'succeeded', detail: 'removed 1 credential(s), disabled 1 version(s)' });
    expect(finops(ENV).emailHistory.find((r) => r.provider === 'Graph' && r.status === 'sent')?.keyId).toBe(newKey);
  }, 120_000);

  it('lists both tenants, home first, with consent, permissions and environment counts', async () => {
    const tenants = await app.api<TenantList>('GET', '/api/tenants');
    expect(tenants.body.tenants).toEqual([
      expect.objectContaining({ tenantId: app.endpoints.tenantId, home: true, consent: 'home', environments: 0 }),
      {
        tenantId: customer.tenantId,
        home: false,
        consent: 'granted',
        grantedPermissions: [...DEPLOYED_MANAGED_IDENTITY_ROLES].sort(),
        requiredPermissions: [...DEPLOYED_MANAGED_IDENTITY_ROLES].sort(),
        operatorAppId,
        onboardedAt: expect.any(String) as unknown,
        checkedAt: expect.any(String) as unknown,
        environments: 1,
      },
    ]);
  });

  it('reports what removing the tenant takes out, refuses a wrong token, then removes exactly that', async () => {
    expect((await app.api('DELETE', `/api/tenants/${app.endpoints.tenantId}`)).status).toBe(400);
    const emailApp = tenantOf(customer.tenantId).applications.find((a) => a.uniqueName === `fno-graph-mail-${ENV}`)!;
    const reported = await app.api<TenantRemovalReport>('DELETE', `/api/tenants/${customer.tenantId}`);
    expect(reported.status).toBe(200);
    expect(reported.body).toMatchObject({
      tenantId: customer.tenantId,
      applications: [{ objectId: emailApp.id, appId: emailApp.appId, displayName: emailApp.displayName, environmentId: ENV }],
      environments: [{ environmentId: ENV, environmentUrl: customer.environments[0]!.url, secretName: `fno-graph-mail-${ENV}`, appId: emailApp.appId, appObjectId: emailApp.id }],
      keyVaultRecords: [`fno-graph-mail-${ENV}`, `fno-graph-mail--tenant-${customer.tenantId}`],
      leftAlone: [],
      confirmationToken: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown,
    });
    expect(reported.body.notes.join('\n')).toContain(`F&O ${ENV}`);
    // A report changes nothing.
    expect(tenantOf(customer.tenantId).applications.some((a) => a.id === emailApp.id)).toBe(true);

    const wrong = await app.api<{ report: TenantRemovalReport }>('DELETE', `/api/tenants/${customer.tenantId}?confirm=0000`);
    expect(wrong.status).toBe(409);
    expect(wrong.body.report.confirmationToken).toBe(reported.body.confirmationToken);

    const confirmed = await app.api<{ instanceId: string }>('DELETE', new URL(reported.body.confirmUrl).pathname + new URL(reported.body.confirmUrl).search);
    expect(confirmed.status).toBe(202);
    expect(confirmed.body.instanceId).toBe(`offboard-${customer.tenantId}`);
    const done = await app.waitForOperation(confirmed.body.instanceId);
    expect([done.runtimeStatus, done.error]).toEqual(['Completed', undefined]);
    expect(done.output).toEqual({
      tenantId: customer.tenantId,
      removedApplications: [emailApp.appId],
      removedRecords: [`fno-graph-mail-${ENV}`, `fno-graph-mail--tenant-${customer.tenantId}`],
      skipped: [],
    });
    expect(tenantOf(customer.tenantId).applications.some((a) => a.id === emailApp.id)).toBe(false);
    // The operator's consent stays until the customer withdraws it.
    expect(tenantOf(customer.tenantId).findServicePrincipalByAppId(operatorAppId)).toBeDefined();
    const tenants = await app.api<TenantList>('GET', '/api/tenants');
    expect(tenants.body.tenants.map((t) => t.tenantId)).toEqual([app.endpoints.tenantId]);
    expect((await app.api<{ environments: unknown[] }>('GET', '/api/environments')).body.environments).toEqual([]);
  }, 60_000);

  it("fails clearly when the operator's federated credential does not trust the identity (wrong subject: AADSTS700213; none: AADSTS70021)", async () => {
    const operator = app.sandbox.state.home.applications.find((a) => a.uniqueName === OPERATOR_UNIQUE_NAME)!;
    const fic = operator.federatedIdentityCredentials![0]!;
    // What an administrator changing the credential in the Entra admin center does.
    operator.federatedIdentityCredentials = [{ ...fic, subject: '00000000-0000-4000-8000-000000000000' }];
    const wrongSubject = await app.api<{ instanceId: string }>('POST', `/api/tenants/${customer.tenantId}/onboard`);
    expect(wrongSubject.status).toBe(202);
    const failed = await app.waitForOperation(wrongSubject.body.instanceId);
    expect(failed.runtimeStatus).toBe('Failed');
    expect(failed.error).toContain('AADSTS700213');
    expect(failed.error).toContain("The subject of the partner operator application's federated credential does not match the function app's managed identity");
    expect(step(failed, 'adminConsent')).toMatchObject({ status: 'failed', detail: expect.stringContaining('AADSTS700213') as unknown });

    operator.federatedIdentityCredentials = [];
    const none = await app.api<{ instanceId: string }>('POST', `/api/tenants/${customer.tenantId}/onboard`);
    // Also what a credential created minutes ago answers while it propagates: retried for a few minutes, then it fails.
    const failedAgain = await app.waitMovingClock(none.body.instanceId, { step: 'PT30S' });
    expect(failedAgain.runtimeStatus).toBe('Failed');
    expect(failedAgain.error).toContain('AADSTS70021');
    expect(failedAgain.error).toContain("No federated credential of the partner operator application matches the function app's managed identity");

    // Its credential back, the tenant is onboarded again at once (the consent outlived the removal); its
    // removed record comes back from Key Vault's deleted secrets.
    operator.federatedIdentityCredentials = [fic];
    const again = await app.api<{ instanceId: string }>('POST', `/api/tenants/${customer.tenantId}/onboard`);
    const onboarded = await app.waitForOperation(again.body.instanceId);
    expect([onboarded.runtimeStatus, onboarded.error]).toEqual(['Completed', undefined]);
    expect(step(onboarded, 'adminConsent')?.detail).toMatch(/^already granted: /);
    const tenants = await app.api<TenantList>('GET', '/api/tenants');
    expect(tenants.body.tenants[1]).toMatchObject({ tenantId: customer.tenantId, consent: 'granted', environments: 0 });
  }, 60_000);

  it('leaks no secret into responses, logs or durable history', async () => {
    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    const haystacks: Array<[string, string]> = [];
    for (const dir of ['durable', 'logs']) for (const file of listFiles(path.join(app.temporaryDir, dir))) haystacks.push([file, readFileSync(file, 'utf8')]);
    haystacks.push(['runtime output', app.logs.map((l) => JSON.stringify(l)).join('\n')]);
    haystacks.push(['http responses', app.responses.join('\n')]);
    expect(findLeaks(secrets, haystacks)).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full];
  });
}
