/**
 * Operator experience over HTTP: mailbox scoping (Exchange RBAC for Applications) as the last step of
 * setup, with its instructions, wait and proof; and notifications for runs that wait for a person —
 * exactly one, then reminders on the run's schedule, none containing a secret.
 */
import { startTestApp, type TestApp } from '../helpers/app';

const ENVIRONMENTS = ['contoso-uat', 'contoso-prod', 'fabrikam-test', 'northwind-dev'];
const SENDER = 'fno-mail@contoso.onmicrosoft.com';
const ADMIN = 'admin@contoso.onmicrosoft.com';

let app: TestApp;

interface SentMail {
  from: string;
  senderAppId: string;
  subject: string;
  to: string[];
  body: string;
}

beforeAll(async () => {
  app = await startTestApp({
    sandbox: { environmentIds: ENVIRONMENTS },
    appSettings: {
      ALERT_RECIPIENTS: 'erp-admins@contoso.com',
      DASHBOARD_URL: 'https://fno-graph-mail.example.net/api/dashboard',
      MANUAL_DELIVERY_REMINDER_HOURS: '24',
      MANUAL_DELIVERY_TIMEOUT_HOURS: '72',
    },
  });
  // The function app's identity sends notifications as SENDER_MAILBOX: it needs Mail.Send (before its first token).
  await app.control('/permissions', {
    managedIdentityRoles: ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All', 'Mail.Send'],
  });
});

afterAll(async () => {
  await app?.stop();
});

const sentMail = async (): Promise<SentMail[]> => (await app.control<{ sentMail: SentMail[] }>('/state')).sentMail;

describe('mailbox scoping', () => {
  it('publishes the Exchange commands, waits for MailboxScopeApplied, and proves in-scope accepted, out-of-scope refused', async () => {
    const started = await app.api<{ instanceId: string }>('POST', '/api/environments/contoso-uat/setup', {
      environmentUrl: app.environmentUrl('contoso-uat'),
      testRecipient: ADMIN,
      mailboxScope: { groupOrMailboxes: [SENDER], outOfScopeTestMailbox: ADMIN },
    });
    expect(started.status).toBe(202);
    const waiting = await app.waitForOperation(started.body.instanceId, (op) => op.waitingFor?.event === 'MailboxScopeApplied');
    expect(waiting.steps.map((s) => s.name)).toEqual([
      'registerApplication',
      'ensureServicePrincipal',
      'grantAdminConsent',
      'createClientSecret',
      'verifyCredential',
      'deliverToFinOps',
      'proveFinOpsUses',
      'restrictMailboxes',
    ]);
    const instructions = waiting.waitingFor!.instructions as { commands: string[]; steps: string[] };
    const script = instructions.commands.join('\n');
    const state = await app.control<{ applications: Array<{ appId: string; uniqueName: string }>; servicePrincipals: Array<{ id: string; appId: string }>; appRoleAssignments: Array<{ principalId: string; appRoleId: string }> }>('/state');
    const application = state.applications.find((a) => a.uniqueName === 'fno-graph-mail-contoso-uat')!;
    const sp = state.servicePrincipals.find((p) => p.appId === application.appId)!;
    expect(script).toContain(`New-ServicePrincipal -AppId '${application.appId}' -ObjectId '${sp.id}'`);
    expect(script).toContain("New-ManagementScope -Name 'fno-graph-mail-contoso-uat' -RecipientRestrictionFilter 'PrimarySmtpAddress -eq ''fno-mail@contoso.onmicrosoft.com'''");
    expect(script).toContain(`New-ManagementRoleAssignment -App '${application.appId}' -Role 'Application Mail.Send' -CustomResourceScope 'fno-graph-mail-contoso-uat'`);
    expect(script).toContain('Remove-MgServicePrincipalAppRoleAssignment');
    // A scoped app gets no tenant-wide Mail.Send grant: it would override the scope.
    expect(state.appRoleAssignments.filter((a) => a.principalId === sp.id && a.appRoleId === 'b633e1c5-b582-4048-a93e-9f11b44c7e96')).toEqual([]);

    // Raising the event before Exchange applies anything: verification keeps retrying (Exchange is slow), then succeeds.
    await app.control('/mailbox-scopes', { appId: application.appId, mailboxes: [SENDER] });
    expect((await app.api('POST', `/api/operations/${started.body.instanceId}/events/MailboxScopeApplied`, {})).status).toBe(202);
    const done = await app.waitForOperation(started.body.instanceId);
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.steps.find((s) => s.name === 'restrictMailboxes')?.detail).toBe(`sending as ${SENDER} accepted, as ${ADMIN} refused`);
    expect(done.output).toMatchObject({ mailboxScope: `mailboxes:${SENDER}` });
    const mail = await sentMail();
    expect(mail.filter((m) => m.senderAppId === application.appId && m.from === SENDER)).toHaveLength(1);
    expect(mail.filter((m) => m.senderAppId === application.appId && m.from === ADMIN)).toHaveLength(0);

    const record = await app.api<{ mailboxScope?: string }>('GET', '/api/environments/contoso-uat');
    expect(record.body.mailboxScope).toBe(`mailboxes:${SENDER}`);

    // Setup again with the same scope: nothing to do, no mail, no wait.
    await app.control('/calls', undefined, 'DELETE');
    const again = await app.api<{ instanceId: string }>('POST', '/api/environments/contoso-uat/setup', {
      environmentUrl: app.environmentUrl('contoso-uat'),
      mailboxScope: { groupOrMailboxes: [SENDER] },
    });
    const rerun = await app.waitForOperation(again.body.instanceId);
    expect(rerun.runtimeStatus).toBe('Completed');
    expect(rerun.steps.find((s) => s.name === 'restrictMailboxes')?.status).toBe('skipped');
    const calls = await app.control<{ calls: Array<{ service: string; method: string }> }>('/calls');
    expect(calls.calls.filter((c) => c.method !== 'GET' && c.service !== 'entra')).toEqual([]);

    // A rotation keeps the scope: the new version carries it and verification accepts a token without Mail.Send.
    const rotate = await app.api<{ instanceId: string }>('POST', '/api/environments/contoso-uat/rotate');
    expect(rotate.status).toBe(202);
    await app.waitForOperation(rotate.body.instanceId, (op) => op.steps.find((s) => s.name === 'gracePeriod')?.status === 'waiting');
    await app.advanceClock('PT25H');
    const rotated = await app.waitForOperation(rotate.body.instanceId);
    expect(rotated.runtimeStatus).toBe('Completed');
    expect(rotated.output).toMatchObject({ mailboxScope: `mailboxes:${SENDER}` });
  }, 120_000);

  it('keeps the run status compact with a 200-mailbox scope: the operations API composes the commands from the run input', async () => {
    const mailboxes = Array.from({ length: 200 }, (_, i) => `sender.${String(i).padStart(3, '0')}@contoso.onmicrosoft.com`);
    const started = await app.api<{ instanceId: string }>('POST', '/api/environments/fabrikam-test/setup', {
      environmentUrl: app.environmentUrl('fabrikam-test'),
      mailboxScope: { groupOrMailboxes: mailboxes },
    });
    expect(started.status).toBe(202);
    const waiting = await app.waitForOperation(started.body.instanceId, (op) => op.waitingFor?.event === 'MailboxScopeApplied' || op.runtimeStatus === 'Failed');
    expect(waiting.runtimeStatus).toBe('Running');
    // What the run stored stays far below the extension's 16 KB (UTF-16) custom status limit …
    const stored = app.runtime.durable.getStatus(started.body.instanceId)?.customStatus;
    expect(JSON.stringify(stored).length * 2).toBeLessThan(4_096);
    expect(JSON.stringify(stored)).not.toContain(mailboxes[199]);
    // … and a person still gets every address in the commands.
    const commands = (waiting.waitingFor?.instructions as { commands?: string[] }).commands ?? [];
    const scopeCommand = commands.find((c) => c.startsWith('New-ManagementScope')) ?? '';
    for (const m of mailboxes) expect(scopeCommand).toContain(`PrimarySmtpAddress -eq ''${m}''`);
    const listed = await app.api<{ operations: Array<{ instanceId: string; waitingFor?: { instructions: { commands?: string[] } } }> }>('GET', '/api/operations');
    expect(listed.body.operations.find((o) => o.instanceId === started.body.instanceId)?.waitingFor?.instructions.commands).toEqual(commands);
  });

  it('rejects a malformed scope at the edge', async () => {
    const tooMany = Array.from({ length: 201 }, (_, i) => `m${i}@contoso.com`);
    for (const mailboxScope of [{}, { groupOrMailboxes: [] }, { groupOrMailboxes: 'not-an-address' }, { groupOrMailboxes: [SENDER], extra: 1 }, { groupOrMailboxes: tooMany }]) {
      const reply = await app.api<{ field?: string }>('POST', '/api/environments/northwind-dev/setup', { environmentUrl: app.environmentUrl('northwind-dev'), mailboxScope });
      expect(reply.status).toBe(400);
    }
  });
});

describe('notifications for runs that wait for a person', () => {
  it('sends exactly one notification, then reminders on schedule, with the dashboard link and no secret', async () => {
    const before = (await sentMail()).length;
    const started = await app.api<{ instanceId: string }>('POST', '/api/environments/contoso-prod/setup', {
      environmentUrl: app.environmentUrl('contoso-prod'),
      delivery: 'manual',
    });
    await app.waitForOperation(started.body.instanceId, (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    const waitMail = async () => (await sentMail()).slice(before).filter((m) => m.subject.includes('contoso-prod'));
    const first = await waitMail();
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ from: SENDER, to: ['erp-admins@contoso.com'] });
    expect(first[0]!.subject).toBe('Enter the Graph email credential in F&O contoso-prod');
    expect(first[0]!.body).toContain('?mi=SysEmailParameters');
    expect(first[0]!.body).toContain('Dashboard: https://fno-graph-mail.example.net/api/dashboard');

    // Nothing more until the reminder interval has passed.
    await app.advanceClock('PT23H');
    await new Promise((r) => setTimeout(r, 300));
    expect(await waitMail()).toHaveLength(1);
    await app.advanceClock('PT2H');
    await waitUntil(async () => (await waitMail()).length === 2);
    await app.advanceClock('PT24H');
    await waitUntil(async () => (await waitMail()).length === 3);
    const reminders = (await waitMail()).slice(1);
    for (const r of reminders) expect(r.subject).toBe('Reminder: Enter the Graph email credential in F&O contoso-prod');

    const waiting = await app.waitForOperation(started.body.instanceId, (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    await app.enterInFinOps('contoso-prod', waiting.waitingFor!.instructions);
    expect((await app.api('POST', `/api/operations/${started.body.instanceId}/events/EmailParametersUpdated`, {})).status).toBe(202);
    expect((await app.waitForOperation(started.body.instanceId)).runtimeStatus).toBe('Completed');
    await app.advanceClock('PT30H');
    await new Promise((r) => setTimeout(r, 300));
    expect(await waitMail()).toHaveLength(3);

    const { secrets } = await app.control<{ secrets: string[] }>('/minted-secrets');
    const all = JSON.stringify(await sentMail());
    for (const secret of secrets) expect(all).not.toContain(secret);
  });
});

async function waitUntil(predicate: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
