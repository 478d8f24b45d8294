/**
 * Leak scanning after a full scenario: four environments set up (one with a test message, one by
 * manual delivery), transient faults on calls that carry a secret, rotations, and a rotation that
 * fails three times with alert mail: F&O refusing the credential, F&O refusing it with an answer that
 * quotes the secret back, and Entra refusing the new secret with an answer that quotes it. Afterwards
 * no secret the sandbox ever minted may appear in the durable files, the run statuses, the logs, any
 * HTTP answer, the mail sent, the Event Grid events or the error text of any failed operation.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app';
import { findLeaks, secretForms } from '../helpers/leakForms';
import { drive, FAST_RETRY_PACING, NEVER, recordFigures, TimeKeeper } from './support';

const ALERTS_TO = 'admin@contoso.onmicrosoft.com';
const ENVIRONMENTS = ['leak-a', 'leak-b', 'leak-c', 'leak-manual', 'leak-fail'];

let app: TestApp;
let keeper: TimeKeeper;
/** Error texts of every failed operation, as the API and the durable history report them. */
const errors: string[] = [];

beforeAll(async () => {
  app = await startTestApp({
    sandbox: {
      environmentIds: ENVIRONMENTS,
      // The function app's identity may send the alert mail.
      managedIdentityRoles: ['Application.ReadWrite.OwnedBy', 'AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All', 'Mail.Send'],
    },
    appSettings: { ALERT_RECIPIENTS: ALERTS_TO, ROTATION_GRACE_HOURS: '2', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
    // The faults below are ridden out as in the fault matrix; what matters here is what the runs leave behind.
    retryPacing: FAST_RETRY_PACING,
  });
  keeper = new TimeKeeper(app);
});

afterAll(async () => {
  await app?.stop();
});

async function setUp(environmentId: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await app.api('POST', `/api/environments/${environmentId}/setup`, { environmentUrl: app.environmentUrl(environmentId), ...extra })).status).toBe(202);
}

async function rotate(environmentId: string): Promise<string> {
  expect((await app.api('POST', `/api/environments/${environmentId}/rotate`, {})).status).toBe(202);
  const status = await drive(app, keeper, `rotate-${environmentId}`);
  const op = await app.api<{ error?: string }>('GET', `/api/operations/rotate-${environmentId}`);
  if (op.body.error) errors.push(op.body.error);
  return status.runtimeStatus;
}

async function fault(body: Record<string, unknown>): Promise<void> {
  await app.control('/faults', body);
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}

describe('a full scenario', () => {
  it('sets up four environments through faults on the calls that carry secrets', async () => {
    // Key Vault refuses to store the new secret five times; F&O drops the connection while receiving it;
    // Entra is unavailable when the new secret is first used.
    await fault({ service: 'keyvault', method: 'PUT', concerning: 'fno-graph-mail-leak-a', status: 500, count: 5 });
    await fault({ service: 'finops', method: 'PATCH', pathPattern: 'GraphEmailCredentials', concerning: 'leak-b', status: 0, count: 5 });
    await fault({ service: 'entra', method: 'POST', pathPattern: '/token$', concerning: 'fno-graph-mail-leak-c', status: 503, count: 5, retryAfterSeconds: 1 });
    await setUp('leak-a');
    await setUp('leak-b');
    await setUp('leak-c', { testRecipient: ALERTS_TO });
    await setUp('leak-manual', { delivery: 'manual' });
    await setUp('leak-fail');
    for (const id of ['leak-a', 'leak-b', 'leak-c', 'leak-fail']) expect((await drive(app, keeper, `setup-${id}`)).runtimeStatus).toBe('Completed');
    const waiting = await app.waitForOperation('setup-leak-manual', (op) => op.waitingFor?.event === 'EmailParametersUpdated');
    await app.enterInFinOps('leak-manual', waiting.waitingFor!.instructions);
    expect((await app.api('POST', '/api/operations/setup-leak-manual/events/EmailParametersUpdated', {})).status).toBe(202);
    expect((await drive(app, keeper, 'setup-leak-manual')).runtimeStatus).toBe('Completed');
    expect(app.sandbox.state.faults).toEqual([]);
  });

  it('rotates two of them', async () => {
    expect(await rotate('leak-a')).toBe('Completed');
    expect(await rotate('leak-b')).toBe('Completed');
  });

  it('fails a rotation three ways, each time with alert mail, F&O keeping its credential while it refuses the new one', async () => {
    const held = app.sandbox.state.finops.find((e) => e.id === 'leak-fail')?.graphCredential.secret;
    // 1. F&O refuses the new credential.
    await fault({ service: 'finops', method: 'PATCH', pathPattern: 'GraphEmailCredentials', concerning: 'leak-fail', status: 403, count: 1 });
    expect(await rotate('leak-fail')).toBe('Failed');
    // The stored, undelivered secret is the one the next rotation delivers again: now F&O quotes it back.
    const pending = app.sandbox.state.mintedSecrets[app.sandbox.state.mintedSecrets.length - 1] ?? '';
    await fault({
      service: 'finops',
      method: 'PATCH',
      pathPattern: 'GraphEmailCredentials',
      concerning: 'leak-fail',
      status: 400,
      count: 1,
      code: 'BadRequest',
      message: `Write failed for table row of type 'SysEmailGraphCredentials'. Infolog: Error: Invalid value '${pending}' for field 'ClientSecret'.`,
    });
    expect(await rotate('leak-fail')).toBe('Failed');
    expect(app.sandbox.state.finops.find((e) => e.id === 'leak-fail')?.graphCredential.secret).toBe(held);
    // 3. F&O accepts it, then Entra refuses the secret, quoting it, until the run gives up.
    await fault({
      service: 'entra',
      method: 'POST',
      pathPattern: '/token$',
      concerning: 'fno-graph-mail-leak-fail',
      status: 401,
      count: 40,
      code: 'invalid_client',
      message: `AADSTS7000215: Invalid client secret provided. The secret '${pending}' is not valid for app 'fno-graph-mail-leak-fail'.`,
    });
    expect(await rotate('leak-fail')).toBe('Failed');
    await app.control('/faults', undefined, 'DELETE');

    const alerts = app.sandbox.state.sentMail.filter((m) => m.to.includes(ALERTS_TO) && /failed/i.test(m.subject));
    expect(alerts.length).toBeGreaterThanOrEqual(3);
    // The alerts say what happened: the step and the service's answer.
    expect(alerts.map((m) => m.body).join('\n')).toMatch(/deliverToFinOps/);
    expect(alerts.map((m) => m.body).join('\n')).toMatch(/verifyCredential/);
    expect(errors).toHaveLength(3);
  }, 60_000);
});

describe('no minted secret appears anywhere it should not', () => {
  const haystacks: Array<[string, string]> = [];
  let minted: string[] = [];

  beforeAll(async () => {
    minted = (await app.control<{ secrets: string[] }>('/minted-secrets')).secrets;
    // Every run's status and error as the API reports them.
    for (const s of app.runtime.durable.listInstances()) {
      const op = await app.api<{ error?: string }>('GET', `/api/operations/${s.instanceId}`);
      if (op.body.error) errors.push(op.body.error);
      for (const e of app.runtime.durable.getStatus(s.instanceId, { showHistory: true })?.history ?? []) {
        if (e.Reason) errors.push(e.Reason);
        if (e.Details) errors.push(e.Details);
        // Permanent failures travel as activity results ({ok: false, failure}).
        if (e.Result && e.Result.includes('"ok":false')) errors.push(e.Result);
      }
    }
    await app.api('GET', '/api/operations?days=365');
    await app.api('GET', '/api/environments');
    for (const id of ENVIRONMENTS) await app.api('GET', `/api/environments/${id}`);

    for (const file of files(path.join(app.temporaryDir, 'durable'))) haystacks.push([`durable file ${path.basename(file)}`, readFileSync(file, 'utf8')]);
    for (const file of files(path.join(app.temporaryDir, 'logs'))) haystacks.push([`log file ${path.basename(file)}`, readFileSync(file, 'utf8')]);
    haystacks.push(['log lines', app.logs.map((l) => JSON.stringify(l)).join('\n')]);
    haystacks.push(['HTTP answers', app.responses.join('\n')]);
    haystacks.push(['mail sent', JSON.stringify(app.sandbox.state.sentMail)]);
    haystacks.push(['Event Grid events', JSON.stringify(app.sandbox.eventGrid.events())]);
    haystacks.push(['errors of failed operations', errors.join('\n')]);
  });

  it('the scan has something to find: secrets were minted, the failures and alerts happened, and every source is non-empty', () => {
    expect(minted.length).toBeGreaterThanOrEqual(ENVIRONMENTS.length + 3);
    // The secrets are real: F&O holds minted ones (the manually delivered one entered by the administrator).
    const held = app.sandbox.state.finops.map((e) => e.graphCredential.secret).filter((s): s is string => s !== null);
    expect(held.length).toBe(ENVIRONMENTS.length);
    expect(held.every((s) => minted.includes(s))).toBe(true);
    expect(haystacks.filter(([, text]) => text.length === 0).map(([where]) => where)).toEqual([]);
    expect(haystacks.filter(([where]) => where.startsWith('durable file')).length).toBeGreaterThanOrEqual(ENVIRONMENTS.length);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    // The secret quoted back by F&O and Entra reached the product: its scrubbing is what kept it out.
    expect(app.sandbox.state.calls.some((c) => c.service === 'finops' && c.status === 400)).toBe(true);
    expect(errors.filter((e) => e.includes("Invalid value '[redacted]' for field 'ClientSecret'")).length).toBeGreaterThan(0);
    expect(errors.filter((e) => e.includes("The secret '[redacted]' is not valid")).length).toBeGreaterThan(0);
  });

  it('positive control: the scan finds a secret in every form it may hide in, at any position', () => {
    const secret = minted[0]!;
    const wrapped: Array<[string, string]> = [
      ['plain', `x${secret}y`],
      ['base64', Buffer.from(`{"clientSecret":"${secret}"}`).toString('base64')],
      ['base64, shifted', Buffer.from(`ab${secret}cd`).toString('base64')],
      ['base64url', Buffer.from(`a${secret}`).toString('base64url')],
      ['url-encoded', `client_secret=${encodeURIComponent(secret)}&x=1`],
      ['json-escaped', JSON.stringify({ text: JSON.stringify({ secret }) })],
    ];
    for (const [where, text] of wrapped) expect({ where, found: findLeaks([secret], [[where, text]]).length > 0 }).toEqual({ where, found: true });
    // Entra's alphabet (letters, digits, ~._-) survives URL and JSON encoding unchanged; a secret with other
    // characters shows the encoded forms are looked for too.
    const odd = 'Ab+/c "d"&e\\f~g.h_i-jklmnopqrstuvwxyz0123';
    expect(secretForms(odd).map((f) => f.form)).toEqual(expect.arrayContaining(['plain', 'url-encoded', 'json-escaped', 'html-escaped', 'base64', 'base64url']));
    const inHtml = `<td title="${odd.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')}">`;
    expect(findLeaks([odd], [['query', `q=${encodeURIComponent(odd)}`], ['json', JSON.stringify({ odd })], ['html', inHtml]])).toEqual([
      'secret #0 (url-encoded) in query',
      'secret #0 (json-escaped) in json',
      'secret #0 (html-escaped) in html',
    ]);
    expect(findLeaks([secret], [['something else', 'nothing to see here']])).toEqual([]);
  });

  it('none in durable files, statuses, logs, HTTP answers, mail, events or error texts', () => {
    const leaks = findLeaks(minted, haystacks);
    recordFigures('leaks', { minted: minted.length, sources: haystacks.length, errorTexts: errors.length, mails: app.sandbox.state.sentMail.length, leaks: leaks.length });
    process.stdout.write(`\nleak scan: ${minted.length} minted secrets, ${haystacks.length} sources, ${errors.length} error texts, ${app.sandbox.state.sentMail.length} mails: ${leaks.length} leaks\n`);
    expect(leaks).toEqual([]);
  });
});
