/**
 * End to end, as a user drives it: the function app on the local runtime against the sandbox, over
 * HTTP. Setup with both consent and both delivery strategies, their waits, events and timeouts,
 * idempotent re-runs, the HTTP contract's errors, and a scan for leaked secrets everywhere.
 */
import { ClientSecretCredential } from '@azure/identity';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { startTestApp, type Operation, type TestApp } from '../helpers/app';
import { findLeaks } from '../helpers/leakForms';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod', 'northwind-dev', 'adatum-qa', 'tailspin-dev'];

interface SandboxState {
  applications: Array<{ id: string; appId: string; uniqueName: string | null; passwordCredentials: Array<{ keyId: string; endDateTime: string }> }>;
  servicePrincipals: Array<{ id: string; appId: string }>;
  appRoleAssignments: Array<{ principalId: string; appRoleId: string }>;
  oauth2PermissionGrants: Array<{ clientId: string; scope: string; consentType: string }>;
  finops: Record<string, { emailParameters: { MailerNonInteractive: string }; graphCredential: { applicationId: string | null; secretSet: boolean; keyId: string | null } }>;
  keyVault: { secrets: Array<{ name: string; versions: Array<{ version: string; enabled: boolean; expiresOn: string | null; tags: Record<string, string> }> }> };
}

const MAIL_SEND = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ sandbox: { environmentIds: ENVIRONMENTS } });
});

afterAll(async () => {
  await app?.stop();
});

const state = (): Promise<SandboxState> => app.control<SandboxState>('/state');

async function startSetup(environmentId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const reply = await app.api<{ instanceId: string; statusUrl: string }>('POST', `/api/environments/${environmentId}/setup`, {
    environmentUrl: app.environmentUrl(environmentId),
    ...extra,
  });
  expect(reply.status).toBe(202);
  expect(reply.headers.get('location')).toBe(reply.body.statusUrl);
  expect(reply.body.instanceId).toBe(`setup-${environmentId}`);
  return reply.body.instanceId;
}

function environmentView(s: SandboxState, environmentId: string) {
  const application = s.applications.find((a) => a.uniqueName === `fno-graph-mail-${environmentId}`);
  const sp = application ? s.servicePrincipals.find((p) => p.appId === application.appId) : undefined;
  const secret = s.keyVault.secrets.find((x) => x.name === `fno-graph-mail-${environmentId}`);
  return { application, sp, secret, finops: s.finops[environmentId] };
}

async function tokenRoles(tenantId: string, appId: string, secret: string): Promise<string[]> {
  const credential = new ClientSecretCredential(tenantId, appId, secret, { authorityHost: app.endpoints.authorityHost, disableInstanceDiscovery: true });
  const token = await credential.getToken('https://graph.microsoft.com/.default');
  const claims = JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
  return claims.roles ?? [];
}

async function readStoredSecret(name: string): Promise<string> {
  const { SecretClient } = await import('@azure/keyvault-secrets');
  const operator = new ClientSecretCredential(app.endpoints.tenantId, app.endpoints.operator.clientId, app.endpoints.operator.clientSecret, {
    authorityHost: app.endpoints.authorityHost,
    disableInstanceDiscovery: true,
  });
  const client = new SecretClient(app.endpoints.keyVaultUrl, operator, { disableChallengeResourceVerification: true });
  return (await client.getSecret(name)).value ?? '';
}

describe('setup over HTTP (grant consent, odata delivery)', () => {
  let first: Operation;

  it('reaches Completed within a minute and leaves exactly the documented state', async () => {
    const started = Date.now();
    const instanceId = await startSetup('contoso-uat', { testRecipient: 'admin@contoso.onmicrosoft.com' });
    first = await app.waitForOperation(instanceId);
    expect(first.runtimeStatus).toBe('Completed');
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(first.steps.map((s) => [s.name, s.status])).toEqual([
      ['registerApplication', 'succeeded'],
      ['ensureServicePrincipal', 'succeeded'],
      ['grantAdminConsent', 'succeeded'],
      ['createClientSecret', 'succeeded'],
      ['verifyCredential', 'succeeded'],
      ['deliverToFinOps', 'succeeded'],
      // This deployment's identity may not read sign-in logs (test/e2e/evidence.test.ts has one that may).
      ['proveFinOpsUses', 'skipped'],
    ]);
    expect(first.steps.find((s) => s.name === 'proveFinOpsUses')?.detail).toBe(
      "sign-in evidence unavailable: the product's identity may not read sign-in logs (Microsoft Graph AuditLog.Read.All and Directory.Read.All, application permissions); the environment stays unproven" +
        "; F&O's own test send: Sent: Microsoft Graph accepted the test message.",
    );

    const s = await state();
    const { application, sp, secret, finops } = environmentView(s, 'contoso-uat');
    expect(s.applications.filter((a) => a.uniqueName === 'fno-graph-mail-contoso-uat')).toHaveLength(1);
    expect(application?.passwordCredentials).toHaveLength(1);
    const credential = application!.passwordCredentials[0]!;
    expect(s.appRoleAssignments.filter((a) => a.principalId === sp!.id && a.appRoleId === MAIL_SEND)).toHaveLength(1);
    expect(s.oauth2PermissionGrants.filter((g) => g.clientId === sp!.id && g.consentType === 'AllPrincipals' && g.scope.split(' ').includes('User.Read'))).toHaveLength(1);

    expect(secret?.versions).toHaveLength(1);
    const version = secret!.versions[0]!;
    expect(version.enabled).toBe(true);
    expect(Date.parse(version.expiresOn!)).toBe(Date.parse(credential.endDateTime));
    expect(version.tags).toMatchObject({
      'managed-by': 'fno-graph-mail',
      'environment-id': 'contoso-uat',
      'environment-url': app.environmentUrl('contoso-uat'),
      'tenant-id': app.endpoints.tenantId,
      'app-id': application!.appId,
      'app-object-id': application!.id,
      'credential-key-id': credential.keyId,
      'delivered-to-finops': 'true',
    });

    expect(finops?.emailParameters.MailerNonInteractive).toBe('Graph');
    expect(finops?.graphCredential).toMatchObject({ applicationId: application!.appId, secretSet: true, keyId: credential.keyId });

    const roles = await tokenRoles(app.endpoints.tenantId, application!.appId, await readStoredSecret('fno-graph-mail-contoso-uat'));
    expect(roles).toContain('Mail.Send');

    expect(first.output).toMatchObject({
      environmentId: 'contoso-uat',
      appId: application!.appId,
      appObjectId: application!.id,
      credential: { keyId: credential.keyId, secretName: 'fno-graph-mail-contoso-uat', secretVersion: version.version },
      status: 'unproven',
      finops: { provider: 'Graph', unavailable: 'permission' },
    });
    const sent = (await app.control<{ sentMail: Array<{ to: string[]; senderAppId: string; subject: string }> }>('/state')).sentMail;
    // One from the product's verification before delivery, one F&O sent itself (the extension's SendTestEmail) after it.
    expect(sent.filter((m) => m.to.includes('admin@contoso.onmicrosoft.com') && m.senderAppId === application!.appId).map((m) => m.subject)).toEqual([
      'F&O Graph email is set up for contoso-uat',
      'Test message from Finance and Operations',
    ]);
  });

  it('lists the environment in the registry', async () => {
    const list = await app.api<{ environments: Array<Record<string, unknown>> }>('GET', '/api/environments');
    expect(list.status).toBe(200);
    expect(list.body.environments.map((e) => e.environmentId)).toContain('contoso-uat');
    const one = await app.api('GET', '/api/environments/contoso-uat');
    expect(one.status).toBe(200);
    expect(one.body).toEqual(first.output);
    expect((await app.api('GET', '/api/environments/never-set-up')).status).toBe(404);
  });

  it('running setup again creates nothing and makes no write anywhere', async () => {
    const before = await state();
    await app.control('/calls', undefined, 'DELETE');
    const instanceId = await startSetup('contoso-uat');
    const again = await app.waitForOperation(instanceId);
    expect(again.runtimeStatus).toBe('Completed');
    expect(again.output).toEqual(first.output);
    const calls = await app.control<{ calls: Array<{ service: string; method: string; path: string }> }>('/calls');
    const writes = calls.calls.filter((c) => c.method !== 'GET' && c.service !== 'entra');
    expect(writes).toEqual([]);
    const after = await state();
    expect(environmentView(after, 'contoso-uat')).toEqual(environmentView(before, 'contoso-uat'));
    expect(after.applications).toHaveLength(before.applications.length);
  });
});

describe('consent strategy request', () => {
  it('publishes the consent URL, waits, and completes on ConsentGranted once Graph shows consent', async () => {
    const instanceId = await startSetup('contoso-prod', { consent: 'request' });
    const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
    expect(waiting.runtimeStatus).toBe('Running');
    expect(waiting.steps.find((s) => s.name === 'grantAdminConsent')?.status).toBe('waiting');
    const consentUrl = String(waiting.waitingFor!.instructions.consentUrl);
    expect(consentUrl).toContain(`${app.endpoints.authorityHost}/${app.endpoints.tenantId}/v2.0/adminconsent?client_id=`);
    const appId = new URL(consentUrl).searchParams.get('client_id')!;

    // A second setup while one waits is refused with the running one's status URL.
    const conflict = await app.api<{ statusUrl: string }>('POST', '/api/environments/contoso-prod/setup', { environmentUrl: app.environmentUrl('contoso-prod') });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toContain('application/problem+json');
    expect(conflict.body.statusUrl).toContain(`/api/operations/${instanceId}`);

    await app.control('/consent', { appId });
    const raised = await app.api('POST', `/api/operations/${instanceId}/events/ConsentGranted`, {});
    expect(raised.status).toBe(202);
    const done = await app.waitForOperation(instanceId);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.waitingFor).toBeUndefined();

    // The run is over: more events are refused.
    expect((await app.api('POST', `/api/operations/${instanceId}/events/ConsentGranted`, {})).status).toBe(409);
  });

  it('fails clearly when consent never comes', async () => {
    const instanceId = await startSetup('northwind-dev', { consent: 'request' });
    await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'ConsentGranted');
    await app.advanceClock('PT73H');
    const failed = await app.waitForOperation(instanceId);
    expect(failed.runtimeStatus).toBe('Failed');
    expect(failed.error).toMatch(/grantAdminConsent.*no administrator granted admin consent for environment northwind-dev within 72 hours/);
    expect(failed.steps.find((s) => s.name === 'grantAdminConsent')?.status).toBe('failed');
    // Nothing was half-created: no credential, no Key Vault entry.
    const { application, secret } = environmentView(await state(), 'northwind-dev');
    expect(application?.passwordCredentials ?? []).toHaveLength(0);
    expect(secret).toBeUndefined();
  });
});

describe('delivery strategy manual', () => {
  it('publishes instructions without the secret, reminds, and completes on EmailParametersUpdated', async () => {
    const instanceId = await startSetup('adatum-qa', { delivery: 'manual' });
    const waiting = await app.waitForOperation(instanceId, (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    const instructions = waiting.waitingFor!.instructions as { emailParametersUrl: string; applicationId: string; keyVaultSecret: { name: string; version: string } };
    expect(instructions.emailParametersUrl).toBe(`${app.environmentUrl('adatum-qa')}/?mi=SysEmailParameters`);
    expect(instructions.keyVaultSecret.name).toBe('fno-graph-mail-adatum-qa');
    const before = environmentView(await state(), 'adatum-qa');
    expect(before.finops?.graphCredential.secretSet).toBe(false);
    expect(before.secret?.versions[0]?.tags['delivered-to-finops']).toBeUndefined();

    const remindersBefore = app.logs.filter((l) => l.message.includes('fno-graph-mail.reminder') && l.message.includes('adatum-qa')).length;
    await app.advanceClock('PT25H');
    await waitUntil(() => app.logs.filter((l) => l.message.includes('fno-graph-mail.reminder') && l.message.includes('adatum-qa')).length > remindersBefore);

    // Announced before anything was entered: F&O still sends with SMTP, so it is not taken as done.
    expect((await app.api('POST', `/api/operations/${instanceId}/events/EmailParametersUpdated`, {})).status).toBe(202);
    const refused = await app.waitForOperation(instanceId, (op) => (op.steps.find((s) => s.name === 'deliverToFinOps')?.detail ?? '').startsWith('confirmation not accepted'));
    expect(refused.runtimeStatus).toBe('Running');
    expect(refused.steps.find((s) => s.name === 'deliverToFinOps')?.detail).toBe(
      'confirmation not accepted: the batch email provider is still SMTP, not Graph; F&O holds no Graph application id',
    );

    // What the administrator does on the Email parameters form, then says so.
    await app.control(`/finops/adatum-qa/form`, {
      applicationId: instructions.applicationId,
      secret: await readStoredSecret(instructions.keyVaultSecret.name),
      batchProvider: 'Graph',
    });
    expect((await app.api('POST', `/api/operations/${instanceId}/events/EmailParametersUpdated`, {})).status).toBe(202);
    const done = await app.waitForOperation(instanceId);
    expect(done.runtimeStatus).toBe('Completed');
    const after = environmentView(await state(), 'adatum-qa');
    expect(after.secret?.versions[0]?.tags['delivered-to-finops']).toBe('true');
  });

});

describe('HTTP contract', () => {
  it('requires the function key', async () => {
    expect((await app.api('GET', '/api/environments', undefined, { key: null })).status).toBe(401);
    expect((await app.api('GET', '/api/environments', undefined, { key: 'wrong' })).status).toBe(401);
  });

  it('rejects bad input with problem details naming the field, starting nothing', async () => {
    const cases: Array<[string, unknown, string | undefined]> = [
      ['/api/environments/Bad_Id/setup', { environmentUrl: app.environmentUrl('tailspin-dev') }, undefined],
      ['/api/environments/tailspin-dev/setup', { environmentUrl: 'https://evil.example.com' }, 'environmentUrl'],
      ['/api/environments/tailspin-dev/setup', { environmentUrl: app.environmentUrl('tailspin-dev').replace('https', 'http') }, 'environmentUrl'],
      ['/api/environments/tailspin-dev/setup', { environmentUrl: app.environmentUrl('tailspin-dev'), secretLifetimeDays: 1000 }, 'secretLifetimeDays'],
      ['/api/environments/tailspin-dev/setup', { environmentUrl: app.environmentUrl('tailspin-dev'), surprise: true }, 'surprise'],
    ];
    for (const [route, body, field] of cases) {
      const reply = await app.api<{ field?: string; detail: string; status: number }>('POST', route, body);
      expect(reply.status).toBe(400);
      expect(reply.headers.get('content-type')).toContain('application/problem+json');
      expect(reply.body.status).toBe(400);
      if (field) expect(reply.body.field).toBe(field);
    }
    const malformed = await app.api('POST', '/api/environments/tailspin-dev/setup', undefined, { rawBody: '{"environmentUrl":', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect((await app.api('GET', '/api/operations/setup-tailspin-dev')).status).toBe(404);
  });

  it('lists recent operations with their steps, newest first, filterable by status', async () => {
    const all = await app.api<{ operations: Array<{ instanceId: string; runtimeStatus: string; steps: unknown[]; createdTime: string }> }>('GET', '/api/operations');
    expect(all.status).toBe(200);
    const ids = all.body.operations.map((o) => o.instanceId);
    expect(ids).toEqual(expect.arrayContaining(['setup-contoso-uat', 'setup-contoso-prod', 'setup-northwind-dev']));
    const times = all.body.operations.map((o) => o.createdTime);
    expect([...times].sort().reverse()).toEqual(times);
    for (const op of all.body.operations) expect(op.steps.length).toBeGreaterThan(0);
    const failed = await app.api<{ operations: Array<{ runtimeStatus: string }> }>('GET', '/api/operations?status=Failed');
    expect(failed.body.operations.length).toBeGreaterThan(0);
    expect(failed.body.operations.every((o) => o.runtimeStatus === 'Failed')).toBe(true);
    expect((await app.api('GET', '/api/operations?status=Nope')).status).toBe(400);
    expect((await app.api('GET', '/api/operations?days=0')).status).toBe(400);
  });

  it('answers 404 for unknown operations and 400 for unknown events', async () => {
    expect((await app.api('GET', '/api/operations/setup-nobody')).status).toBe(404);
    expect((await app.api('POST', '/api/operations/setup-nobody/events/ConsentGranted', {})).status).toBe(404);
    expect((await app.api('POST', '/api/operations/setup-contoso-uat/events/Whatever', {})).status).toBe(400);
  });
});

describe('determinism', () => {
  it('every recorded setup history replays through the engine to the same actions and result, scheduling nothing new', async () => {
    const ids = ['setup-contoso-uat', 'setup-contoso-prod', 'setup-northwind-dev', 'setup-adatum-qa'];
    for (const id of ids) {
      const status = app.runtime.durable.getStatus(id);
      expect(status).toBeDefined();
      const first = await app.runtime.durable.replay(id);
      const second = await app.runtime.durable.replay(id);
      expect(JSON.stringify(second.outcome.state?.actions)).toBe(JSON.stringify(first.outcome.state?.actions));
      if (status?.runtimeStatus === 'Completed') {
        expect(first.outcome.kind).toBe('state');
        expect(first.outcome.state?.isDone).toBe(true);
        expect(first.outcome.state?.output).toEqual(status.output);
      } else {
        expect(status?.runtimeStatus).toBe('Failed');
        expect(first.outcome.kind).toBe('failed');
      }
      expect(first.decisions?.activities ?? []).toEqual([]);
      expect(first.decisions?.timers ?? []).toEqual([]);
    }
  });
});

describe('secrets never leak', () => {
  it('no minted secret appears in durable state, logs, runtime output or HTTP responses', async () => {
    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    // The credentials of the three setups that reached createClientSecret, plus the sandbox operator's secret.
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const haystacks: Array<[string, string]> = [];
    for (const dir of ['durable', 'logs']) {
      for (const file of listFiles(path.join(app.temporaryDir, dir))) haystacks.push([file, readFileSync(file, 'utf8')]);
    }
    expect(haystacks.some(([f]) => f.includes('durable'))).toBe(true);
    expect(haystacks.some(([f]) => f.includes('logs'))).toBe(true);
    haystacks.push(['runtime output', app.logs.map((l) => JSON.stringify(l)).join('\n')]);
    haystacks.push(['http responses', app.responses.join('\n')]);
    const leaks = findLeaks(secrets, haystacks);
    expect(leaks).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

async function waitUntil(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
