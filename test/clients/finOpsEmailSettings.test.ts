/**
 * FinOpsEmailSettings against the sandbox's F&O environments through core-rest-pipeline: reading the
 * email parameters, switching the batch provider to Graph once, delivering the credential, the host
 * allowlist checked before anything (token included) leaves, and the failures an operator meets. Then
 * the FnoGraphMail extension: what `$metadata` declares (also in a document of F&O's size, and in
 * malformed ones), the credential read back without its secret, F&O's test send and email health, and
 * what an environment without the extension answers.
 */
import * as net from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import {
  createDefaultHttpClient,
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { ManagedIdentityCredential } from '@azure/identity';
import {
  EnvironmentUrlNotAllowedError,
  FinOpsEmailSettings,
  isServiceError,
  type FinOpsEmailSettingsOptions,
  type ServiceError,
} from '../../src/clients';
import {
  FINOPS_EXTENSION_MODEL,
  FINOPS_ODATA_NAMESPACE,
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../../src/contracts/finopsExtension';
import { DEFAULT_ENVIRONMENT_IDS, SENDER_MAILBOX } from '../../sandbox/seed';
import { DEFAULT_GRAPH_CREDENTIAL_ENTITY as SANDBOX_CREDENTIAL_ENTITY } from '../../sandbox/state';
import { addMailApp, advance, finopsControl, sentBy } from '../helpers/finopsMail';
import { findLeaks } from '../helpers/leakForms';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

interface CallsView {
  calls: Array<{ service: string; method: string; path: string; status: number }>;
}

const SECRET = 'Fo8~sandbox-test-secret-value-0123456789';

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (isServiceError(e)) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** Wraps a credential to count token requests. */
class CountingCredential implements TokenCredential {
  requests = 0;
  constructor(private readonly inner: TokenCredential) {}
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    this.requests += 1;
    return this.inner.getToken(scopes, options);
  }
}

/** An HTTP client that records each request (method and URL) and passes it on. */
class RecordingHttpClient implements HttpClient {
  readonly requests: string[] = [];
  private readonly inner = createDefaultHttpClient();
  sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    this.requests.push(`${request.method} ${request.url}`);
    return this.inner.sendRequest(request);
  }
}

/** An HTTP client that answers every request with one canned 200 (documents the sandbox cannot serve). */
function cannedHttpClient(body: string, contentType: string): HttpClient & { requests: PipelineRequest[] } {
  const requests: PipelineRequest[] = [];
  return {
    requests,
    sendRequest: (request) => {
      requests.push(request);
      return Promise.resolve({ request, status: 200, headers: createHttpHeaders({ 'content-type': contentType }), bodyAsText: body });
    },
  };
}

const staticToken: TokenCredential = { getToken: () => Promise.resolve({ token: 'canned', expiresOnTimestamp: Date.now() + 3_600_000 }) };

/** Environments of the extension tests, besides the default two. */
const EXT = { describe: 'ext-describe', send: 'ext-send', health: 'ext-health', missing: 'ext-missing' } as const;

describe('FinOpsEmailSettings against the sandbox', () => {
  let sandbox: TestSandbox;
  let mi: ManagedIdentityCredential;
  let uatUrl: string;
  let prodUrl: string;
  let hosts: string[];
  const settingsFor = (options: Partial<FinOpsEmailSettingsOptions> = {}, credential: TokenCredential = mi): FinOpsEmailSettings =>
    new FinOpsEmailSettings(credential, {
      allowedHosts: hosts,
      pipelineOptions: { retryOptions: { maxRetries: 0 } },
      ...options,
    });
  const calls = async (): Promise<CallsView['calls']> => (await sandbox.control<CallsView>('/calls')).body.calls;
  const env = (id: string) => {
    const record = sandbox.state.finops.find((e) => e.id === id);
    if (!record) throw new Error(`no environment ${id}`);
    return record;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox({ environmentIds: [...DEFAULT_ENVIRONMENT_IDS, ...Object.values(EXT)] });
    const identity = sandbox.managedIdentityEnv();
    process.env.IDENTITY_ENDPOINT = identity.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = identity.IDENTITY_HEADER;
    mi = new ManagedIdentityCredential();
    uatUrl = env('contoso-uat').url;
    prodUrl = env('contoso-prod').url;
    hosts = sandbox.state.finops.map((e) => new URL(e.url).host);
  });

  afterAll(async () => {
    await sandbox.stop();
  });

  afterEach(async () => {
    await sandbox.control('/faults', { method: 'DELETE' });
  });

  it('reads the email parameters as typed values', async () => {
    const params = await settingsFor().getEmailParameters(uatUrl, { environmentId: 'contoso-uat' });
    expect(params).toEqual({
      id: '1',
      batchEmailProvider: 'SMTP',
      interactiveEmailEnabled: expect.any(Boolean) as boolean,
      smtpServer: 'smtp.office365.com',
      smtpPort: 587,
      smtpUserName: sandbox.endpoints.senderMailbox,
      smtpRequireSsl: true,
      smtpUseNtlm: false,
      maximumAttachmentSizeMb: 10,
    });
  });

  it('switches the batch provider to Graph once, and not again', async () => {
    const fin = settingsFor();
    expect(await fin.setBatchProviderToGraph(uatUrl)).toEqual({ written: true });
    expect(env('contoso-uat').emailParameters.MailerNonInteractive).toBe('Graph');
    expect(env('contoso-uat').emailParameters.SMTPRelayServerName).toBe('smtp.office365.com');

    await sandbox.control('/calls', { method: 'DELETE' });
    expect(await fin.setBatchProviderToGraph(uatUrl)).toEqual({ written: false });
    expect((await calls()).filter((c) => c.service === 'finops' && c.method === 'PATCH')).toHaveLength(0);
  });

  it('delivers the Graph credential and reads the application id back', async () => {
    const fin = settingsFor();
    expect(await fin.getGraphCredentialApplicationId(uatUrl)).toBeNull();
    await fin.setGraphCredential(uatUrl, { applicationId: 'app-uat', secret: SECRET }, { environmentId: 'contoso-uat' });
    expect(env('contoso-uat').graphCredential).toEqual({ applicationId: 'app-uat', secret: SECRET });
    expect(await fin.getGraphCredentialApplicationId(uatUrl)).toBe('app-uat');
    // The other environment is its own origin and token audience.
    await fin.setGraphCredential(prodUrl, { applicationId: 'app-prod', secret: SECRET });
    expect(env('contoso-prod').graphCredential.applicationId).toBe('app-prod');
    expect(env('contoso-uat').graphCredential.applicationId).toBe('app-uat');
  });

  it('honours an explicitly configured credential entity key', async () => {
    const fin = settingsFor({ credentialEntity: { key: { ID: '1' } } });
    await sandbox.control('/calls', { method: 'DELETE' });
    await fin.setGraphCredential(uatUrl, { applicationId: 'app-keyed', secret: SECRET });
    expect(env('contoso-uat').graphCredential.applicationId).toBe('app-keyed');
    // With the key given, no read of EmailParameters is needed first.
    expect((await calls()).filter((c) => c.service === 'finops').map((c) => c.method)).toEqual(['PATCH']);
    // Nor is one a caller is making: the credential is read without waiting for it, or failing with it.
    const never = new Promise<never>(() => undefined);
    expect((await fin.getGraphCredential(uatUrl, { emailParameters: never })).applicationId).toBe('app-keyed');
    const refused = Promise.reject(new Error('the email parameters could not be read'));
    refused.catch(() => undefined);
    expect((await fin.getGraphCredential(uatUrl, { emailParameters: refused })).applicationId).toBe('app-keyed');
  });

  it('reads the credential with the email parameters a caller is reading, and fails with that read', async () => {
    const fin = settingsFor({});
    await fin.setGraphCredential(uatUrl, { applicationId: 'app-shared', secret: SECRET });
    await sandbox.control('/calls', { method: 'DELETE' });
    const parameters = fin.getEmailParameters(uatUrl);
    expect((await fin.getGraphCredential(uatUrl, { emailParameters: parameters })).applicationId).toBe('app-shared');
    expect((await calls()).filter((c) => c.service === 'finops').map((c) => `${c.method} ${c.path.split('?')[0]}`)).toEqual([
      'GET /data/EmailParameters',
      "GET /data/GraphEmailCredentials(ID='1')",
    ]);
    const refusal = new Error('the email parameters could not be read');
    const refused = Promise.reject(refusal);
    await expect(fin.getGraphCredential(uatUrl, { emailParameters: refused })).rejects.toBe(refusal);
  });

  it('checks the allowlist before anything leaves, token request included', async () => {
    const counting = new CountingCredential(mi);
    const fin = settingsFor({ allowedHosts: [new URL(uatUrl).host] }, counting);
    await sandbox.control('/calls', { method: 'DELETE' });

    for (const url of [prodUrl, uatUrl.replace('https:', 'http:'), `${uatUrl}/data`, uatUrl.replace('https://', 'https://admin:pw@')]) {
      const e = await failure(fin.setGraphCredential(url, { applicationId: 'app', secret: SECRET }, { environmentId: 'contoso-prod' }));
      expect(e).toBeInstanceOf(EnvironmentUrlNotAllowedError);
      expect(e).toMatchObject({ kind: 'permanent', code: 'EnvironmentUrlNotAllowed', environmentId: 'contoso-prod' });
    }
    const notListed = await failure(fin.getEmailParameters(prodUrl));
    expect(notListed.message).toContain(`host ${new URL(prodUrl).host} is not in the allowed hosts`);
    expect(notListed.message).toContain('FINOPS_ALLOWED_HOSTS');
    expect(counting.requests).toBe(0);
    expect(await calls()).toHaveLength(0);
  });

  it('an app not registered in F&O is told where to register it', async () => {
    const e = await failure(settingsFor({}, sandbox.operatorCredential()).getEmailParameters(uatUrl, { environmentId: 'contoso-uat' }));
    expect(e).toMatchObject({ kind: 'permanent', service: 'finops', status: 401, environmentId: 'contoso-uat' });
    expect(e.message).toContain('The application is not registered in this environment');
    expect(e.action).toContain('System administration > Microsoft Entra applications');
  });

  it('a missing credential entity is not-found, with what to deploy', async () => {
    const fin = settingsFor({ credentialEntity: { entitySet: 'NoSuchCredentials' } });
    const e = await failure(fin.setGraphCredential(uatUrl, { applicationId: 'app', secret: SECRET }, { environmentId: 'contoso-uat' }));
    expect(e).toMatchObject({ kind: 'not-found', status: 404 });
    expect(e.action).toContain('The Graph credential entity NoSuchCredentials was not found');
    expect(e.action).toContain(`deploy the ${FINOPS_EXTENSION_MODEL} extension`);
    expect(e.action).toContain('DELIVERY_STRATEGY=manual');
    expect(e.message).not.toContain(SECRET);
  });

  it('surfaces 429 as transient with the Retry-After delay', async () => {
    await sandbox.control('/faults', { body: { service: 'finops', method: 'GET', status: 429, retryAfterSeconds: 9, count: 1 } });
    const e = await failure(settingsFor().getEmailParameters(uatUrl, { environmentId: 'contoso-uat' }));
    expect(e).toMatchObject({ kind: 'transient', service: 'finops', status: 429, retryAfterMs: 9000 });
  });

  it("lets the pipeline's retry policy ride out a 429, waiting as told", async () => {
    const patient = settingsFor({ pipelineOptions: { retryOptions: { maxRetries: 2 } } });
    await sandbox.control('/faults', { body: { service: 'finops', method: 'GET', status: 429, retryAfterSeconds: 1, count: 1 } });
    const started = Date.now();
    expect((await patient.getEmailParameters(uatUrl)).id).toBe('1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('5xx and refused connections are transient', async () => {
    await sandbox.control('/faults', { body: { service: 'finops', status: 503, count: 1 } });
    expect((await failure(settingsFor().getEmailParameters(uatUrl))).kind).toBe('transient');

    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Entra would refuse a token for an environment it does not know; the connection is what is tested here.
    const staticToken: TokenCredential = { getToken: () => Promise.resolve({ token: 'unused', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const e = await failure(settingsFor({ allowedHosts: [`localhost:${port}`] }, staticToken).getEmailParameters(`https://localhost:${port}`));
    expect(e.kind).toBe('transient');
    expect(e.status).toBeUndefined();
  });

  it('never lets the secret into an error, even when the service echoes it', async () => {
    await sandbox.control('/faults', {
      body: { service: 'finops', method: 'PATCH', status: 400, code: 'ValidationFailed', message: `Value '${SECRET}' is not valid for ClientSecret.`, count: 1 },
    });
    const e = await failure(settingsFor().setGraphCredential(uatUrl, { applicationId: 'app', secret: SECRET }, { environmentId: 'contoso-uat' }));
    expect(e.kind).toBe('permanent');
    expect(e.message).toContain('[redacted]');
    expect(`${e.message} ${JSON.stringify(e)} ${e.stack ?? ''}`).not.toContain(SECRET);
  });

  describe('the FnoGraphMail extension', () => {
    const urlOf = (id: string): string => env(id).url;
    const S = SEND_TEST_EMAIL_ACTION.statuses;

    afterEach(async () => {
      for (const id of Object.values(EXT)) await finopsControl(sandbox, id, 'batch', { running: false });
      await sandbox.finopsMail.idle();
    });

    it('is described from $metadata: present, then removed, then deployed again', async () => {
      const fin = settingsFor();
      const everything = { credentialEntity: true, sendTestEmail: true, emailHealth: true };
      expect(await fin.describeExtension(urlOf(EXT.describe), { environmentId: EXT.describe })).toEqual(everything);

      expect((await finopsControl(sandbox, EXT.describe, 'extension', { installed: false })).status).toBe(200);
      try {
        expect(await fin.describeExtension(urlOf(EXT.describe))).toEqual({ credentialEntity: false, sendTestEmail: false, emailHealth: false });
      } finally {
        await finopsControl(sandbox, EXT.describe, 'extension', { installed: true });
      }
      expect(await fin.describeExtension(urlOf(EXT.describe))).toEqual(everything);
    });

    it('follows a deployment that renamed the credential entity when configured with its names, and not otherwise', async () => {
      const renamed = { entitySet: 'ContosoGraphMailSettings', applicationIdField: 'GraphAppId', secretField: 'GraphAppKey' };
      sandbox.state.finopsGraphCredentialEntity = renamed;
      try {
        const configured = settingsFor({ credentialEntity: renamed });
        expect(await configured.describeExtension(urlOf(EXT.describe))).toEqual({ credentialEntity: true, sendTestEmail: true, emailHealth: true });
        expect(await configured.sendTestEmail(urlOf(EXT.describe), 'ops@contoso.com')).toMatchObject({ status: S.notGraph });
        // With the default names, neither the set nor an action bound to its type is there.
        expect(await settingsFor().describeExtension(urlOf(EXT.describe))).toEqual({ credentialEntity: false, sendTestEmail: false, emailHealth: true });
      } finally {
        sandbox.state.finopsGraphCredentialEntity = { ...SANDBOX_CREDENTIAL_ENTITY };
      }
    });

    it('reads the credential back with its provider and CredentialSetAt, never asking for the secret', async () => {
      const recorder = new RecordingHttpClient();
      const fin = settingsFor({ httpClient: recorder });
      const url = urlOf(EXT.describe);
      expect(await fin.getGraphCredential(url)).toEqual({ applicationId: null, batchEmailProvider: 'SMTP', credentialSetAt: null });

      await fin.setGraphCredential(url, { applicationId: '5a1b2c3d-0000-4000-8000-00000000c11e', secret: SECRET });
      const writtenAt = sandbox.state.now();
      await finopsControl(sandbox, EXT.describe, 'form', { batchProvider: 'Graph' });
      const read = await fin.getGraphCredential(url, { environmentId: EXT.describe });
      expect(read).toEqual({ applicationId: '5a1b2c3d-0000-4000-8000-00000000c11e', batchEmailProvider: 'Graph', credentialSetAt: expect.any(String) as string });
      expect(Math.abs(Date.parse(read.credentialSetAt ?? '') - writtenAt)).toBeLessThan(5000);
      expect(await fin.getGraphCredentialApplicationId(url)).toBe('5a1b2c3d-0000-4000-8000-00000000c11e');

      const reads = recorder.requests.filter((r) => r.startsWith(`GET ${url}/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}(`));
      expect(reads).toHaveLength(3);
      for (const r of reads) {
        const select = new URL(r.slice('GET '.length)).searchParams.get('$select')?.split(',');
        expect(select?.sort()).toEqual(Object.values(GRAPH_CREDENTIAL_ENTITY.fields).filter((f) => f !== GRAPH_CREDENTIAL_ENTITY.fields.clientSecret).sort());
      }
      expect(recorder.requests.join('\n')).not.toContain(GRAPH_CREDENTIAL_ENTITY.fields.clientSecret);
    });

    it('has F&O send a test message: NotGraph while SMTP is the provider, Sent through Graph, Failed with a refused secret', async () => {
      const recorder = new RecordingHttpClient();
      const fin = settingsFor({ httpClient: recorder });
      const url = urlOf(EXT.send);
      const notGraph = await fin.sendTestEmail(url, 'ops@contoso.com', { environmentId: EXT.send });
      expect(notGraph).toEqual({ status: S.notGraph, message: 'the batch email provider is SMTP, not Graph; nothing was sent.' });
      // The contract's path, nothing else.
      expect(recorder.requests).toEqual([`POST ${url}${SEND_TEST_EMAIL_ACTION.path}`]);

      const app = addMailApp(sandbox.state, 'fno-mail-client-test-send');
      const key = app.addSecret();
      await fin.setGraphCredential(url, { applicationId: app.appId, secret: key.secret });
      await finopsControl(sandbox, EXT.send, 'form', { batchProvider: 'Graph' });
      expect(await fin.sendTestEmail(url, 'ops@contoso.com')).toEqual({ status: S.sent, message: 'Microsoft Graph accepted the test message.' });
      expect(sentBy(sandbox.state, app.appId)).toEqual([expect.objectContaining({ from: SENDER_MAILBOX, to: ['ops@contoso.com'] })]);

      // A secret Entra never issued, used once F&O's cached token is renewed.
      await finopsControl(sandbox, EXT.send, 'form', { secret: 'Wr0ng~secret-that-entra-never-issued-12345' });
      await advance(sandbox, 'PT1H');
      const failed = await fin.sendTestEmail(url, 'ops@contoso.com');
      expect(failed.status).toBe(S.failed);
      expect(failed.message).toMatch(/^AADSTS7000215: Invalid client secret provided\./);
      expect(sentBy(sandbox.state, app.appId)).toHaveLength(1);
    });

    it('refuses a recipient that is not one plain address before anything is sent', async () => {
      const counting = new CountingCredential(mi);
      const fin = settingsFor({}, counting);
      await sandbox.control('/calls', { method: 'DELETE' });
      for (const recipient of [
        'ops@contoso.com; cfo@contoso.com',
        'ops@contoso.com,cfo@contoso.com',
        'Ops <ops@contoso.com>',
        'ops@contoso.com\r\nBcc: everyone@contoso.com',
        ' ops@contoso.com',
        "o'brien@contoso.com",
        'ops@localhost',
        `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
        '',
      ]) {
        const e = await failure(fin.sendTestEmail(urlOf(EXT.send), recipient, { environmentId: EXT.send }));
        expect(e).toMatchObject({ kind: 'permanent', service: 'finops', code: 'InvalidRecipient', environmentId: EXT.send });
        if (recipient !== '') expect(JSON.stringify(e)).not.toContain(JSON.stringify(recipient).slice(1, -1));
      }
      expect(counting.requests).toBe(0);
      expect(await calls()).toHaveLength(0);
    });

    it('fails as UnexpectedResponse when the action answers a status the contract does not declare', async () => {
      const host = 'contoso-test.sandbox.operations.dynamics.com';
      for (const value of ['Queued: F&O will send it later.', 'Sent', 'sent: lower case is another word']) {
        const canned = cannedHttpClient(JSON.stringify({ '@odata.context': `https://${host}/data/$metadata#Edm.String`, value }), 'application/json');
        const fin = settingsFor({ allowedHosts: [host], httpClient: canned }, staticToken);
        const e = await failure(fin.sendTestEmail(`https://${host}`, 'ops@contoso.com'));
        expect(e).toMatchObject({ kind: 'permanent', code: 'UnexpectedResponse' });
        expect(e.action).toContain(FINOPS_EXTENSION_MODEL);
      }
    });

    it('reads the email health: nothing yet, then the batch failing, then succeeding', async () => {
      const fin = settingsFor();
      const url = urlOf(EXT.health);
      expect(await fin.getEmailHealth(url, { environmentId: EXT.health })).toEqual({
        batchEmailProvider: 'SMTP',
        lastSuccessAt: null,
        lastSuccessProvider: null,
        failuresLast24Hours: 0,
        lastFailureAt: null,
        lastFailureDetails: null,
        queuedMessages: 0,
      });

      const app = addMailApp(sandbox.state, 'fno-mail-client-health');
      await fin.setGraphCredential(url, { applicationId: app.appId, secret: app.addSecret().secret });
      await finopsControl(sandbox, EXT.health, 'form', { batchProvider: 'Graph' });
      // A batch user without a mailbox: Graph refuses, F&O records the failure and keeps the message queued.
      const nobody = 'nobody@contoso.onmicrosoft.com';
      await finopsControl(sandbox, EXT.health, 'batch', { running: true, user: nobody });
      await sandbox.finopsMail.idle();
      const failing = await fin.getEmailHealth(url);
      expect(failing).toMatchObject({ batchEmailProvider: 'Graph', lastSuccessAt: null, lastSuccessProvider: null, failuresLast24Hours: 1, queuedMessages: 1 });
      expect(Date.parse(failing.lastFailureAt ?? '')).toBeGreaterThan(Date.UTC(2000, 0, 1));
      expect(failing.lastFailureDetails).toContain('(404) Not found');
      expect(failing.lastFailureDetails).toContain(GRAPH_EMAIL_HEALTH_ENTITY.addressPlaceholder);
      expect(failing.lastFailureDetails).not.toContain(nobody);

      await finopsControl(sandbox, EXT.health, 'batch', { running: true, user: SENDER_MAILBOX });
      await advance(sandbox, 'PT1M');
      const healed = await fin.getEmailHealth(url);
      expect(healed).toMatchObject({ lastSuccessProvider: 'Graph', failuresLast24Hours: 1, queuedMessages: 0, lastFailureAt: failing.lastFailureAt });
      expect(Date.parse(healed.lastSuccessAt ?? '')).toBeGreaterThan(Date.parse(failing.lastFailureAt ?? ''));
    });

    it('without the extension, every call of it is not-found and names the extension and the manual strategy', async () => {
      const fin = settingsFor();
      const url = urlOf(EXT.missing);
      await finopsControl(sandbox, EXT.missing, 'extension', { installed: false });
      const options = { environmentId: EXT.missing };
      for (const call of [
        () => fin.getGraphCredential(url, options),
        () => fin.getGraphCredentialApplicationId(url, options),
        () => fin.setGraphCredential(url, { applicationId: 'app', secret: SECRET }, options),
        () => fin.sendTestEmail(url, 'ops@contoso.com', options),
        () => fin.getEmailHealth(url, options),
      ]) {
        const e = await failure(call());
        expect(e).toMatchObject({ kind: 'not-found', service: 'finops', status: 404, environmentId: EXT.missing });
        expect(e.action).toContain(`deploy the ${FINOPS_EXTENSION_MODEL} extension`);
        expect(e.action).toContain('finops/README.md');
        expect(e.action).toContain('DELIVERY_STRATEGY=manual');
      }
      // The standard entity is still there: the environment answers, only the extension is missing.
      expect((await fin.getEmailParameters(url)).id).toBe('1');
    });

    it('never lets the secret, in any form, into an error of the extension calls', async () => {
      const secret = 'Fo8~quoted "secret" / with+value=0123456789abcdef';
      const fin = settingsFor();
      const url = urlOf(EXT.missing);
      await finopsControl(sandbox, EXT.missing, 'extension', { installed: true });
      await fin.setGraphCredential(url, { applicationId: '5a1b2c3d-0000-4000-8000-0000000005ec', secret });
      const errors: ServiceError[] = [];

      // A service quoting the request body back, the secret as itself, JSON-escaped and URL-encoded.
      for (const quoted of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) {
        await sandbox.control('/faults', {
          body: { service: 'finops', method: 'PATCH', status: 400, code: 'ValidationFailed', message: `Body {"ClientSecret":"${quoted}"} is not valid.`, count: 1 },
        });
        errors.push(await failure(fin.setGraphCredential(url, { applicationId: 'app', secret }, { environmentId: EXT.missing })));
      }
      // Each extension call failing as a service would: throttled, refused, and the extension removed.
      for (const status of [429, 403]) {
        await sandbox.control('/faults', { body: { service: 'finops', status, count: 4 } });
        errors.push(await failure(fin.getGraphCredential(url)));
        errors.push(await failure(fin.sendTestEmail(url, 'ops@contoso.com')));
        errors.push(await failure(fin.getEmailHealth(url)));
        errors.push(await failure(fin.describeExtension(url)));
        await sandbox.control('/faults', { method: 'DELETE' });
      }
      await finopsControl(sandbox, EXT.missing, 'extension', { installed: false });
      errors.push(await failure(fin.getGraphCredential(url)));
      errors.push(await failure(fin.setGraphCredential(url, { applicationId: 'app', secret })));

      expect(errors.map((e) => e.kind)).toEqual(['permanent', 'permanent', 'permanent', ...Array<string>(4).fill('transient'), ...Array<string>(4).fill('permanent'), 'not-found', 'not-found']);
      const texts = errors.map((e, i) => [`error #${i}`, `${e.message}\n${JSON.stringify(e)}\n${e.stack ?? ''}`] as const);
      expect(findLeaks([secret], texts)).toEqual([]);
      // The first three did carry the secret: it was redacted, not absent.
      for (const e of errors.slice(0, 3)) expect(e.message).toContain('[redacted]');
    });

    describe('$metadata as large as a real environment\'s, and malformed', () => {
      const host = 'contoso-big.operations.dynamics.com';
      const read = (document: string) => {
        const canned = cannedHttpClient(document, 'application/xml; charset=utf-8');
        return { canned, result: settingsFor({ allowedHosts: [host], httpClient: canned }, staticToken).describeExtension(`https://${host}`, { environmentId: 'contoso-big' }) };
      };

      it('finds the extension among thousands of entity sets, and is not fooled by look-alikes', async () => {
        const entitySets = 4000;
        const withExtension = syntheticMetadata({ entitySets, extension: true });
        expect(withExtension.length).toBeGreaterThan(20_000_000);
        const started = Date.now();
        const { canned, result } = read(withExtension);
        expect(await result).toEqual({ credentialEntity: true, sendTestEmail: true, emailHealth: true });
        // A guard against a reader that grows faster than the document (measured: about 25 ms per MB).
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(canned.requests).toHaveLength(1);
        expect(canned.requests[0]?.method).toBe('GET');
        expect(canned.requests[0]?.url).toBe(`https://${host}/data/$metadata`);
        expect(canned.requests[0]?.headers.get('accept')).toBe('application/xml');

        // The same document without the extension, but with its names in comments, properties, bindings,
        // and SendTestEmail actions that are unbound, bound to one entity, or in another namespace.
        expect(await read(syntheticMetadata({ entitySets, extension: false })).result).toEqual({ credentialEntity: false, sendTestEmail: false, emailHealth: false });
      });

      it('fails as UnexpectedResponse on what is not a CSDL document, instead of reading it as "not deployed"', async () => {
        const whole = syntheticMetadata({ entitySets: 50, extension: true });
        for (const document of [
          whole.slice(0, whole.lastIndexOf('</edm:EntityContainer>')),
          whole.replace('</edm:Schema>', '</edm:EntityContainer></edm:Schema>'),
          `${whole}<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" />`,
          '<html><head><title>Sign in to your account</title></head><body><p>Sign in</p></body></html>',
          'Service Unavailable',
          '',
        ]) {
          const e = await failure(read(document).result);
          expect(e).toMatchObject({ kind: 'permanent', service: 'finops', code: 'UnexpectedResponse', environmentId: 'contoso-big' });
        }
      });
    });
  });
});

/**
 * A CSDL document shaped like F&O's `$metadata` (one schema `Microsoft.Dynamics.DataEntities`, here with
 * an alias and prefixed elements, enum types, entity types with annotated properties and navigation
 * properties, bound actions, one container `Resources`): `entitySets` entity types and sets, with the
 * extension's two sets and action placed last when `extension`. Look-alikes are always there.
 */
function syntheticMetadata({ entitySets, extension }: { entitySets: number; extension: boolean }): string {
  const NS = FINOPS_ODATA_NAMESPACE;
  const credentialType = GRAPH_CREDENTIAL_ENTITY.entityType;
  const out: string[] = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
    '<edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"><edmx:Include Namespace="Org.OData.Core.V1" Alias="Core" /></edmx:Reference>',
    '<edmx:DataServices>',
    `<edm:Schema Namespace="${NS}" Alias="mde" xmlns:edm="http://docs.oasis-open.org/odata/ns/edm">`,
    '<edm:EnumType Name="NoYes"><edm:Member Name="No" Value="0" /><edm:Member Name="Yes" Value="1" /></edm:EnumType>',
  ];
  for (let i = 0; i < entitySets; i++) {
    out.push(`<edm:EntityType Name="Entity${i}"><edm:Key><edm:PropertyRef Name="dataAreaId" /><edm:PropertyRef Name="Id${i}" /></edm:Key>`);
    for (let p = 0; p < 40; p++) {
      out.push(`<edm:Property Name="Field${p}" Type="Edm.String" MaxLength="60"><edm:Annotation Term="Core.Description" String="Field ${p} &amp; more" /></edm:Property>`);
    }
    out.push(`<edm:NavigationProperty Name="Related" Type="Collection(mde.Entity${(i + 1) % entitySets})" /></edm:EntityType>`);
  }
  // A property named like the credential set is not an entity set.
  out.push(`<edm:EntityType Name="Lookalike"><edm:Key><edm:PropertyRef Name="ID" /></edm:Key><edm:Property Name="${GRAPH_CREDENTIAL_ENTITY.entitySet}" Type="Edm.String" /></edm:EntityType>`);
  for (let i = 0; i < entitySets / 4; i++) {
    out.push(`<edm:Action Name="Action${i}" IsBound="true"><edm:Parameter Name="Entity${i}" Type="Collection(mde.Entity${i})" /><edm:Parameter Name="_value" Type="Edm.String" /><edm:ReturnType Type="Edm.String" /></edm:Action>`);
  }
  const sendTestEmail = (attributes: string, binding: string): string =>
    `<edm:Action Name="${SEND_TEST_EMAIL_ACTION.name}"${attributes}><edm:Parameter Name="${credentialType}" Type="${binding}" /><edm:Parameter Name="${SEND_TEST_EMAIL_ACTION.parameter}" Type="Edm.String" /><edm:ReturnType Type="Edm.String" /></edm:Action>`;
  out.push(sendTestEmail('', `Collection(mde.${credentialType})`)); // unbound
  out.push(sendTestEmail(' IsBound="true"', `mde.${credentialType}`)); // bound to one entity
  out.push(sendTestEmail(' IsBound="false"', `Collection(${NS}.${credentialType})`));
  out.push(`<!-- ${sendTestEmail(' IsBound="true"', `Collection(${NS}.${credentialType})`)} -->`);
  if (extension) out.push(sendTestEmail(' IsBound="1"', `Collection(mde.${credentialType})`));
  out.push('<edm:EntityContainer Name="Resources">');
  for (let i = 0; i < entitySets; i++) {
    out.push(`<edm:EntitySet Name="Entity${i}s" EntityType="mde.Entity${i}"><edm:NavigationPropertyBinding Path="Related" Target="${i === 0 ? GRAPH_EMAIL_HEALTH_ENTITY.entitySet : `Entity${(i + 1) % entitySets}s`}" /></edm:EntitySet>`);
  }
  out.push(`<!-- <edm:EntitySet Name="${GRAPH_CREDENTIAL_ENTITY.entitySet}" EntityType="mde.${credentialType}" /> -->`);
  out.push(`<![CDATA[<edm:EntitySet Name="${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}" EntityType="mde.${GRAPH_EMAIL_HEALTH_ENTITY.entityType}" />]]>`);
  if (extension) {
    out.push(`<edm:EntitySet Name="${GRAPH_CREDENTIAL_ENTITY.entitySet}" EntityType="mde.${credentialType}" />`);
    out.push(`<edm:EntitySet Name="${GRAPH_EMAIL_HEALTH_ENTITY.entitySet}" EntityType="${NS}.${GRAPH_EMAIL_HEALTH_ENTITY.entityType}" />`);
  }
  out.push('</edm:EntityContainer>', '</edm:Schema>');
  // Another schema's SendTestEmail, bound to the right type, is another action.
  out.push(
    '<Schema Namespace="Contoso.Mail" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    `<Action Name="${SEND_TEST_EMAIL_ACTION.name}" IsBound="true"><Parameter Name="b" Type="Collection(${NS}.${credentialType})" /></Action>`,
    '</Schema>',
    '</edmx:DataServices>',
    '</edmx:Edmx>',
  );
  return out.join('\n');
}
