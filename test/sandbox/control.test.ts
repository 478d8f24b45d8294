/**
 * The sandbox's control API and its process entry point: input validation, faults in each service's
 * error shape, the virtual clock, consent and permission switches, call recording and settings, a
 * `/state` view that never carries a secret, the CA trust of both HTTP stacks, and `npm run sandbox`'s
 * main writing endpoints.json and stopping on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repositoryRoot } from '../../sandbox/ca';
import { parseIsoDuration } from '../../sandbox/control';
import type { SandboxEndpoints } from '../../sandbox/server';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from '../../sandbox/state';
import { compiledProject } from '../helpers/compiledProject';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox();
});

afterAll(async () => {
  await sandbox.stop();
});

async function miToken(resource: string): Promise<{ status: number; roles: string[] }> {
  const url = new URL(sandbox.endpoints.managedIdentity.identityEndpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', resource);
  const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': sandbox.endpoints.managedIdentity.identityHeader } });
  if (response.status !== 200) return { status: response.status, roles: [] };
  const body = (await response.json()) as { access_token: string };
  const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
  return { status: 200, roles: [...(claims.roles ?? [])].sort() };
}

describe('trust of the sandbox CA in this process', () => {
  it('is honoured by global fetch (undici) and by the https module', async () => {
    const url = `${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6`;
    expect((await fetch(url)).status).toBe(401);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      https.get(url, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    expect(status).toBe(401);
  });
});

describe('faults', () => {
  afterEach(async () => {
    await sandbox.control('/faults', { method: 'DELETE' });
  });

  it.each([
    [{ service: 'storage', status: 503, count: 1 }, 'service'],
    [{ service: 'graph', status: 200, count: 1 }, 'status'],
    [{ service: 'graph', status: 503, count: 0 }, 'count'],
    [{ service: 'graph', status: 503, count: 1, pathPattern: '(' }, 'pathPattern'],
    [{ service: 'graph', status: 503, count: 1, retryAfterSeconds: -1 }, 'retryAfterSeconds'],
    [{ service: 'graph', status: 503, count: 1, colour: 'red' }, 'colour'],
  ])('rejects %j with 400 naming the field', async (body, field) => {
    const reply = await sandbox.control<{ error: { code: string; message: string } }>('/faults', { body });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('InvalidRequest');
    expect(reply.body.error.message).toContain(field);
    expect(sandbox.state.faults).toEqual([]);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await fetch(`${sandbox.endpoints.controlUrl}/faults`, { method: 'POST', body: '{not json' });
    expect(response.status).toBe(400);
  });

  it('answers Graph faults in Graph\'s error shape with Retry-After and request ids', async () => {
    await sandbox.control('/faults', { body: { service: 'graph', status: 429, count: 1, retryAfterSeconds: 7 } });
    const response = await fetch(`${sandbox.endpoints.graphUrl}/v1.0/applications`, { headers: { 'client-request-id': 'abc-123' } });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('client-request-id')).toBe('abc-123');
    const body = (await response.json()) as { error: { code: string; message: string; innerError: Record<string, string> } };
    expect(body.error.code).toBe('TooManyRequests');
    expect(body.error.innerError['client-request-id']).toBe('abc-123');
    expect(body.error.innerError['request-id']).toBe(response.headers.get('request-id'));
    expect(body.error.innerError['date']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(sandbox.state.faults).toEqual([]);
  });

  it('answers Entra and F&O faults in their shapes, matching method and path, and counts down', async () => {
    await sandbox.control('/faults', { body: { service: 'entra', method: 'post', pathPattern: '/oauth2/', status: 503, count: 2 } });
    const tokenUrl = `${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/oauth2/v2.0/token`;
    // A GET elsewhere does not match.
    expect((await fetch(`${sandbox.endpoints.authorityHost}/${sandbox.endpoints.tenantId}/v2.0/.well-known/openid-configuration`)).status).toBe(200);
    const first = await fetch(tokenUrl, { method: 'POST' });
    expect(first.status).toBe(503);
    const body = (await first.json()) as Record<string, unknown>;
    expect(body['error']).toBe('temporarily_unavailable');
    expect(body).toHaveProperty('trace_id');
    expect(body).toHaveProperty('correlation_id');
    expect(sandbox.state.faults[0]?.count).toBe(1);
    expect((await fetch(tokenUrl, { method: 'POST' })).status).toBe(503);
    expect((await fetch(tokenUrl, { method: 'POST' })).status).toBe(400);

    const env = sandbox.endpoints.environments[0];
    await sandbox.control('/faults', { body: { service: 'finops', status: 500, count: 1, code: 'Boom', message: 'F&O is down.' } });
    const finops = await fetch(`${env?.url ?? ''}/data/EmailParameters`);
    expect(finops.status).toBe(500);
    expect(await finops.json()).toEqual({ error: { code: 'Boom', message: 'F&O is down.' } });
  });

  it('lists and clears faults', async () => {
    await sandbox.control('/faults', { body: { service: 'keyvault', status: 503, count: 3 } });
    expect((await sandbox.control<{ faults: unknown[] }>('/faults')).body.faults).toHaveLength(1);
    const cleared = await sandbox.control<{ cleared: number }>('/faults', { method: 'DELETE' });
    expect(cleared.body.cleared).toBe(1);
    expect(sandbox.state.faults).toEqual([]);
  });
});

describe('clock', () => {
  it('parses ISO 8601 durations, a year being 365 days and a month 30', () => {
    const day = 24 * 3600 * 1000;
    expect(parseIsoDuration('P30D')).toBe(30 * day);
    expect(parseIsoDuration('P2W')).toBe(14 * day);
    expect(parseIsoDuration('PT1H30M')).toBe(5400 * 1000);
    expect(parseIsoDuration('PT0.5S')).toBe(500);
    expect(parseIsoDuration('P1Y2M3W4DT5H6M7S')).toBe((365 + 60 + 21 + 4) * day + (5 * 3600 + 6 * 60 + 7) * 1000);
    for (const bad of ['P', 'PT', 'P1DT', '30D', 'P-1D', 'P1H', '']) expect(parseIsoDuration(bad)).toBeUndefined();
  });

  it('advances the virtual clock and reports it', async () => {
    const before = Date.parse((await sandbox.control<{ now: string }>('/clock')).body.now);
    const reply = await sandbox.control<{ now: string }>('/clock', { body: { advance: 'P30D' } });
    expect(reply.status).toBe(200);
    const after = Date.parse(reply.body.now);
    expect(after - before).toBeGreaterThanOrEqual(30 * 24 * 3600 * 1000);
    expect(after - before).toBeLessThan(30 * 24 * 3600 * 1000 + 60_000);
  });

  it('rejects a malformed duration', async () => {
    const reply = await sandbox.control<{ error: { message: string } }>('/clock', { body: { advance: '30 days' } });
    expect(reply.status).toBe(400);
    expect(reply.body.error.message).toMatch(/ISO 8601/);
  });

  it('keeps tokens the SDK cached usable after the clock moves', async () => {
    const credential = sandbox.operatorCredential();
    const client = sandbox.secretClient(credential);
    await client.getSecret('anything').catch(() => undefined);
    await sandbox.control('/clock', { body: { advance: 'P7D' } });
    const error = await client.getSecret('anything').then(() => undefined, (e: { statusCode?: number }) => e);
    expect(error?.statusCode).toBe(404);
  });
});

describe('consent and permissions', () => {
  function addApp(): string {
    const { state } = sandbox;
    const appId = state.newId();
    state.applications.push({
      id: state.newId(),
      appId,
      uniqueName: `consent-${appId}`,
      displayName: 'Consent subject',
      signInAudience: 'AzureADMyOrg',
      description: null,
      notes: null,
      tags: [],
      requiredResourceAccess: [
        { resourceAppId: GRAPH_APP_ID, resourceAccess: [{ id: MAIL_SEND_ROLE_ID, type: 'Role' }, { id: USER_READ_SCOPE_ID, type: 'Scope' }] },
      ],
      passwordCredentials: [],
      owners: [],
      createdDateTime: state.nowIso(),
      visibleFrom: 0,
    });
    return appId;
  }

  it('grants and revokes consent for an app', async () => {
    const appId = addApp();
    const granted = await sandbox.control<{ servicePrincipalId: string; appRoleAssignments: unknown[]; oauth2PermissionGrants: Array<{ scope: string }> }>(
      '/consent',
      { body: { appId } },
    );
    expect(granted.status).toBe(200);
    expect(granted.body.appRoleAssignments).toHaveLength(1);
    expect(granted.body.oauth2PermissionGrants.map((g) => g.scope)).toEqual(['User.Read']);
    expect(sandbox.state.graphRolesOf(granted.body.servicePrincipalId)).toEqual(['Mail.Send']);

    const revoked = await sandbox.control<{ removedAppRoleAssignments: number; removedGrants: number }>('/revoke-consent', { body: { appId } });
    expect(revoked.body).toEqual({ removedAppRoleAssignments: 1, removedGrants: 1 });
    expect(sandbox.state.graphRolesOf(granted.body.servicePrincipalId)).toEqual([]);
  });

  it('answers 404 for an unknown app and 400 for a missing appId', async () => {
    expect((await sandbox.control('/consent', { body: { appId: 'nope' } })).status).toBe(404);
    expect((await sandbox.control('/consent', { body: {} })).status).toBe(400);
  });

  it('switches the managed identity\'s Graph permissions, seen in its next token', async () => {
    expect((await miToken('https://graph.microsoft.com')).roles).toEqual([
      'AppRoleAssignment.ReadWrite.All',
      'Application.ReadWrite.OwnedBy',
      'DelegatedPermissionGrant.ReadWrite.All',
    ]);
    const reply = await sandbox.control<{ managedIdentityRoles: string[] }>('/permissions', {
      body: { managedIdentityRoles: ['Application.ReadWrite.OwnedBy'] },
    });
    expect(reply.body.managedIdentityRoles).toEqual(['Application.ReadWrite.OwnedBy']);
    expect((await miToken('https://graph.microsoft.com')).roles).toEqual(['Application.ReadWrite.OwnedBy']);

    const bad = await sandbox.control<{ error: { message: string } }>('/permissions', { body: { managedIdentityRoles: ['Mail.Steal'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('Mail.Steal');
    expect((await miToken('https://graph.microsoft.com')).roles).toEqual(['Application.ReadWrite.OwnedBy']);
  });
});

describe('calls and settings', () => {
  it('records service calls with their status and clears them', async () => {
    await sandbox.control('/calls', { method: 'DELETE' });
    await fetch(`${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6`);
    const calls = await sandbox.control<{ calls: Array<{ service: string; method: string; path: string; status: number }> }>('/calls');
    expect(calls.body.calls).toEqual([expect.objectContaining({ service: 'keyvault', method: 'GET', path: '/secrets', status: 401 })]);
    expect((await sandbox.control<{ cleared: number }>('/calls', { method: 'DELETE' })).body.cleared).toBe(1);
    expect(sandbox.state.calls).toEqual([]);
  });

  it('validates and applies settings, latency included', async () => {
    expect((await sandbox.control('/settings', { body: { latencyMs: -5 } })).status).toBe(400);
    const applied = await sandbox.control<Record<string, number>>('/settings', { body: { latencyMs: 300, secretPropagationSeconds: 9 } });
    expect(applied.body).toEqual({ latencyMs: 300, secretPropagationSeconds: 9, replicationLagSeconds: 0, signInLogDelayMinutes: 2, throttling: false });
    const started = Date.now();
    await fetch(`${sandbox.endpoints.keyVaultUrl}/secrets?api-version=7.6`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    await sandbox.control('/settings', { body: { latencyMs: 0, secretPropagationSeconds: 0 } });
    expect(sandbox.state.latencyMs).toBe(0);
  });

  it('answers unknown routes with 404', async () => {
    expect((await sandbox.control('/nowhere')).status).toBe(404);
  });
});

describe('GET /state', () => {
  it('shows the world without any minted secret, and which credential F&O holds', async () => {
    const { state } = sandbox;
    // A credential whose secret sits in the vault and in F&O, as after setup.
    const app = state.applications[0];
    if (!app) throw new Error('no seeded application');
    const { secretText, hint } = state.mintSecret();
    const keyId = state.newId();
    app.passwordCredentials.push({
      keyId,
      displayName: 'fno-graph-mail',
      hint,
      customKeyIdentifier: null,
      startDateTime: state.nowIso(),
      endDateTime: new Date(state.now() + 86_400_000 * 365).toISOString(),
      secretText,
      usableFrom: 0,
    });
    const env = state.finops[0];
    if (!env) throw new Error('no F&O environment');
    env.graphCredential = { applicationId: app.appId, secret: secretText };
    state.secrets.push({
      name: 'fno-contoso-uat',
      deletedDate: null,
      versions: [
        { version: 'a'.repeat(32), value: secretText, contentType: null, tags: { 'managed-by': 'fno-graph-mail' }, enabled: true, nbf: null, exp: Math.floor(state.now() / 1000) + 3600, created: 1, updated: 1 },
      ],
    });

    const reply = await fetch(`${sandbox.endpoints.controlUrl}/state`);
    expect(reply.status).toBe(200);
    const text = await reply.text();
    const minted = (await sandbox.control<{ secrets: string[] }>('/minted-secrets')).body.secrets;
    expect(minted).toContain(secretText);
    expect(minted).toContain(sandbox.endpoints.operator.clientSecret);
    for (const secret of minted) expect(text).not.toContain(secret);

    const view = JSON.parse(text) as {
      now: string;
      applications: Array<{ appId: string; passwordCredentials: Array<{ keyId: string }> }>;
      finops: Record<string, { graphCredential: { applicationId: string | null; secretSet: boolean; keyId: string | null } }>;
      keyVault: { secrets: Array<{ name: string; versions: Array<{ expiresOn: string | null; tags: Record<string, string> }> }> };
      servicePrincipals: unknown[];
      appRoleAssignments: unknown[];
      oauth2PermissionGrants: unknown[];
      sentMail: unknown[];
    };
    expect(Date.parse(view.now)).toBeGreaterThan(0);
    expect(view.applications.find((a) => a.appId === app.appId)?.passwordCredentials.map((c) => c.keyId)).toContain(keyId);
    expect(view.finops[env.id]?.graphCredential).toEqual({ applicationId: app.appId, secretSet: true, keyId });
    expect(view.finops[state.finops[1]?.id ?? '']?.graphCredential).toEqual({ applicationId: null, secretSet: false, keyId: null });
    const vaultSecret = view.keyVault.secrets.find((s) => s.name === 'fno-contoso-uat');
    expect(vaultSecret?.versions[0]?.tags).toEqual({ 'managed-by': 'fno-graph-mail' });
    expect(vaultSecret?.versions[0]?.expiresOn).toMatch(/Z$/);
    expect(view.servicePrincipals.length).toBeGreaterThanOrEqual(3);
    expect(Array.isArray(view.sentMail)).toBe(true);
  });
});

describe('npm run sandbox (main)', () => {
  const root = repositoryRoot();
  const outDir = path.join(root, 'test-output', `sandbox-main-${process.pid}`);

  let dist = '';

  beforeAll(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    dist = await compiledProject();
  }, 180_000);

  afterAll(() => {
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  /** Runs `ensureCa(dir)` and `issueServerCert` in a new process (optionally `shiftDays` ahead of real time); returns both certificates. */
  async function issueInChild(dir: string, shiftDays = 0): Promise<{ ca: string; leaf: string; key: string }> {
    const caModule = path.join(dist, 'sandbox', 'ca.js');
    const script = [
      shiftDays !== 0 ? `const real = Date.now; Date.now = () => real() + ${shiftDays * 86_400_000};` : '',
      `const m = require(${JSON.stringify(caModule)});`,
      `const ca = m.ensureCa(${JSON.stringify(dir)});`,
      'const leaf = m.issueServerCert(ca);',
      'process.stdout.write(JSON.stringify({ ca: ca.certPem, leaf: leaf.certPem, key: leaf.keyPem }));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
    return JSON.parse(stdout) as { ca: string; leaf: string; key: string };
  }

  /** A TLS handshake with `localhost` serving `leaf`, trusting only `caPem`. */
  async function handshake(leaf: { leaf: string; key: string }, caPem: string): Promise<string> {
    const server = https.createServer({ cert: leaf.leaf, key: leaf.key }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      return await new Promise<string>((resolve, reject) => {
        https
          .get({ host: 'localhost', port, ca: caPem, agent: false }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    } finally {
      server.close();
    }
  }

  it('creates one CA and one stored leaf, private keys unreadable to others, when several processes ask at once', async () => {
    const dir = path.join(outDir, 'race-ca');
    const runs = await Promise.all(Array.from({ length: 4 }, () => issueInChild(dir)));
    const pems = new Set(runs.map((r) => r.ca));
    expect(pems.size).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8')).toBe([...pems][0]);
    expect(fs.statSync(path.join(dir, 'ca-key.pem')).mode & 0o077).toBe(0);
    expect(fs.readdirSync(outDir).filter((n) => n.startsWith('race-ca.'))).toEqual([]);
    // Every process's leaf was issued by that CA and serves TLS for localhost; the stored one is one of them.
    const ca = new X509Certificate([...pems][0] ?? '');
    for (const run of runs) {
      expect(new X509Certificate(run.leaf).checkIssued(ca)).toBe(true);
      expect(await handshake(run, ca.toString())).toBe('ok');
    }
    const stored = fs.readFileSync(path.join(dir, 'localhost.pem'), 'utf8');
    expect(runs.some((r) => stored === `${r.key}${r.leaf}`)).toBe(true);
    expect(fs.statSync(path.join(dir, 'localhost.pem')).mode & 0o077).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem', 'localhost.pem']);
  });

  it('reuses the stored leaf in the next process, and issues a new one when the CA changes or the leaf nears expiry', async () => {
    const dir = path.join(outDir, 'leaf-ca');
    const first = await issueInChild(dir);
    const second = await issueInChild(dir);
    expect(second).toEqual(first);

    // 800 days on, the 825-day leaf has less than a month left: a new one, still valid then.
    const later = await issueInChild(dir, 800);
    expect(later.ca).toBe(first.ca);
    expect(later.leaf).not.toBe(first.leaf);
    expect(new X509Certificate(later.leaf).validToDate.getTime()).toBeGreaterThan(Date.now() + 1500 * 86_400_000);
    // Back in the present that leaf is not valid yet: replaced again, and it serves.
    const now = await issueInChild(dir);
    expect(now.leaf).not.toBe(later.leaf);
    expect(await handshake(now, now.ca)).toBe('ok');

    // A leaf from another CA beside this one (the CA was replaced by hand): a new leaf from this CA.
    const other = await issueInChild(path.join(outDir, 'other-ca'));
    fs.copyFileSync(path.join(outDir, 'other-ca', 'localhost.pem'), path.join(dir, 'localhost.pem'));
    const reissued = await issueInChild(dir);
    expect(reissued.leaf).not.toBe(other.leaf);
    expect(new X509Certificate(reissued.leaf).checkIssued(new X509Certificate(first.ca))).toBe(true);
    expect(await handshake(reissued, first.ca)).toBe('ok');
    expect(fs.readFileSync(path.join(dir, 'localhost.pem'), 'utf8')).toBe(`${reissued.key}${reissued.leaf}`);
  });

  it('writes endpoints.json with every field, serves, and stops on SIGTERM', async () => {
    const endpointsFile = path.join(outDir, 'endpoints.json');
    const child = spawn(process.execPath, [path.join(dist, 'sandbox', 'main.js'), '--port-base', '0', '--endpoints-file', endpointsFile], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!fs.existsSync(endpointsFile)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the sandbox did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const endpoints = JSON.parse(fs.readFileSync(endpointsFile, 'utf8')) as SandboxEndpoints;
      expect(Object.keys(endpoints).sort()).toEqual(
        ['authorityHost', 'caCertPath', 'controlUrl', 'environments', 'eventGridTopic', 'finopsSparePorts', 'graphUrl', 'keyVaultName', 'keyVaultUrl', 'managedIdentity', 'operator', 'senderMailbox', 'tenantId'].sort(),
      );
      expect(endpoints.finopsSparePorts).toHaveLength(6);
      expect(endpoints.authorityHost).toMatch(/^https:\/\/localhost:\d+$/);
      expect(endpoints.graphUrl).toMatch(/^https:\/\/localhost:\d+$/);
      expect(endpoints.keyVaultUrl).toMatch(/^https:\/\/localhost:\d+$/);
      expect(endpoints.controlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(path.isAbsolute(endpoints.caCertPath)).toBe(true);
      expect(fs.readFileSync(endpoints.caCertPath, 'utf8')).toContain('BEGIN CERTIFICATE');
      expect(endpoints.operator.clientId).toMatch(/^[0-9a-f-]{36}$/);
      expect(endpoints.operator.clientSecret.length).toBe(40);
      expect(endpoints.senderMailbox).toBe('fno-mail@contoso.onmicrosoft.com');
      expect(endpoints.environments.map((e) => e.id)).toEqual(['contoso-uat', 'contoso-prod']);
      for (const env of endpoints.environments) expect(env.url).toMatch(/^https:\/\/localhost:\d+$/);
      expect(endpoints.managedIdentity.identityEndpoint).toBe(`${endpoints.controlUrl}/msi/token`);
      expect(endpoints.managedIdentity.identityHeader.length).toBeGreaterThan(16);
      expect(output).not.toContain(endpoints.operator.clientSecret);

      // It serves: HTTPS with the shared CA, and the control API.
      const discovery = await fetch(`${endpoints.authorityHost}/${endpoints.tenantId}/v2.0/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(await (await fetch(`${endpoints.controlUrl}/healthz`)).json()).toMatchObject({ ok: true });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(fs.existsSync(endpointsFile)).toBe(false);
      await expect(fetch(`${endpoints.controlUrl}/healthz`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
