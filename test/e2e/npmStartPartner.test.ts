/**
 * `npm start -- --partner` as a partner tries it: the compiled entry creates the operator application
 * through the sandbox's control API and runs the app with OPERATOR_CLIENT_ID, and prints how to add a
 * customer tenant; the running app then takes a tenant added afterwards (its F&O host is one of the
 * spare listeners already allowed, its Email batch runs like the seeded ones), onboards it once its
 * administrator consented, and sets up its environment there: the email app lives in the customer
 * tenant and F&O there holds its credential. Only HTTP, as printed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compiledProject } from '../helpers/compiledProject';
import { findLeaks } from '../helpers/leakForms';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'test-output', `npm-start-partner-${process.pid}`);

let dist: string;

beforeAll(async () => {
  dist = await compiledProject();
  fs.mkdirSync(outDir, { recursive: true });
}, 180_000);

afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
});

interface Endpoints {
  functionsUrl: string;
  functionKey: string;
  controlUrl: string;
  partnerOperatorClientId?: string;
}

interface Op {
  runtimeStatus: string;
  steps: Array<{ name: string; status: string; detail?: string }>;
  waitingFor?: { event: string };
}

it('runs in partner mode and sets up an environment of a tenant added while it runs', async () => {
  const stateDir = path.join(outDir, 'state');
  const endpointsFile = path.join(stateDir, 'endpoints.json');
  const child = spawn(
    process.execPath,
    [path.join(dist, 'runtime', 'start.js'), '--partner', '--port', '0', '--rpc-port', '0', '--sandbox-port-base', '0', '--state-dir', stateDir],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(endpointsFile) || !output.includes('Press Ctrl-C')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start --partner did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const e = JSON.parse(fs.readFileSync(endpointsFile, 'utf8')) as Endpoints;
    const operator = e.partnerOperatorClientId ?? '';
    expect(operator).toMatch(/^[0-9a-f-]{36}$/);
    expect(output).toContain(`Partner mode: operator application ${operator} (OPERATOR_CLIENT_ID)`);
    expect(output).toContain(`${e.controlUrl}/tenants`);

    const api = async <T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const reply = await fetch(`${e.functionsUrl}${route}`, {
        method,
        headers: { 'x-functions-key': e.functionKey, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: reply.status, body: (await reply.json()) as T };
    };
    const control = async <T>(route: string, body?: unknown): Promise<T> => {
      const reply = await fetch(`${e.controlUrl}${route}`, {
        method: body === undefined ? 'GET' : 'POST',
        ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      });
      return (await reply.json()) as T;
    };
    /** Follows a run, moving the sandbox clock on while it waits for F&O, Entra's sign-in log or a poll. */
    const follow = async (instanceId: string, until: (op: Op) => boolean): Promise<Op> => {
      const end = Date.now() + 60_000;
      for (;;) {
        const op = (await api<Op>('GET', `/api/operations/${instanceId}`)).body;
        if (until(op) || Date.now() > end) return op;
        if (op.steps.some((s) => s.status === 'waiting')) await control('/clock', { advance: 'PT1M' });
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const tenant = await control<{ tenantId: string; environments: Array<{ id: string; url: string }> }>('/tenants', { name: 'fabrikam' });
    const env = tenant.environments[0]!;
    const onboard = await api<{ instanceId: string }>('POST', `/api/tenants/${tenant.tenantId}/onboard`);
    expect(onboard.status).toBe(202);
    // Right after start the operator's federated credential may still be propagating: the run retries through it.
    const waiting = await follow(onboard.body.instanceId, (op) => op.waitingFor?.event === 'ConsentGranted' || op.runtimeStatus !== 'Running');
    expect([waiting.runtimeStatus, waiting.waitingFor?.event]).toEqual(['Running', 'ConsentGranted']);
    await control('/consent', { appId: operator, tenantId: tenant.tenantId });
    expect((await follow(onboard.body.instanceId, (op) => op.runtimeStatus !== 'Running')).runtimeStatus).toBe('Completed');

    const setup = await api<{ instanceId: string }>('POST', `/api/environments/${env.id}/setup`, { environmentUrl: env.url, tenantId: tenant.tenantId });
    expect(setup.status).toBe(202);
    const done = await follow(setup.body.instanceId, (op) => op.runtimeStatus !== 'Running');
    expect(done.runtimeStatus).toBe('Completed');
    // F&O's batch there runs like the seeded ones: Entra shows it signing in with the new credential.
    expect(done.steps.find((s) => s.name === 'proveFinOpsUses')).toMatchObject({ status: 'succeeded' });

    const state = await control<{
      tenants: Array<{ tenantId: string; applications: Array<{ appId: string; uniqueName: string | null }> }>;
      finops: Record<string, { tenantId: string; graphCredential: { applicationId: string | null; keyId: string | null } }>;
    }>('/state');
    const emailApp = state.tenants.find((t) => t.tenantId === tenant.tenantId)!.applications.find((a) => a.uniqueName === `fno-graph-mail-${env.id}`);
    expect(emailApp).toBeDefined();
    expect(state.finops[env.id]).toMatchObject({ tenantId: tenant.tenantId, graphCredential: { applicationId: emailApp!.appId, keyId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown } });

    const { secrets } = await control<{ secrets: string[] }>('/minted-secrets');
    expect(findLeaks(secrets, [['npm start output', output]])).toEqual([]);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
}, 180_000);
