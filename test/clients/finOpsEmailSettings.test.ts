/**
 * FinOpsEmailSettings against the sandbox's F&O environments through core-rest-pipeline: reading the
 * email parameters, switching the batch provider to Graph once, delivering the credential, the host
 * allowlist checked before anything (token included) leaves, and the failures an operator meets.
 */
import * as net from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import {
  EnvironmentUrlNotAllowedError,
  FinOpsEmailSettings,
  isServiceError,
  type FinOpsEmailSettingsOptions,
  type ServiceError,
} from '../../src/clients';
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
    sandbox = await startTestSandbox();
    const identity = sandbox.managedIdentityEnv();
    process.env.IDENTITY_ENDPOINT = identity.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = identity.IDENTITY_HEADER;
    mi = new ManagedIdentityCredential();
    uatUrl = env('contoso-uat').url;
    prodUrl = env('contoso-prod').url;
    hosts = [new URL(uatUrl).host, new URL(prodUrl).host];
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
    expect(e.action).toContain('Deploy the Graph credential entity NoSuchCredentials');
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
});
