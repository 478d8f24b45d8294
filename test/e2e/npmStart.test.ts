/**
 * `npm start` as a newcomer runs it: the compiled entry starts the sandbox and the function app,
 * writes endpoints.json with `functionsUrl` and `functionKey`, prints a request to paste, serves a
 * setup over HTTP to Completed, never prints a secret, and stops cleanly on Ctrl-C (SIGINT).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compiledProject } from '../helpers/compiledProject';
import { findLeaks } from '../helpers/leakForms';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'test-output', `npm-start-${process.pid}`);

let dist: string;

beforeAll(async () => {
  dist = await compiledProject();
  fs.mkdirSync(outDir, { recursive: true });
}, 180_000);

afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
});

it('starts, prints a working example, completes a setup, and stops on SIGINT', async () => {
  const stateDir = path.join(outDir, 'state');
  const endpointsFile = path.join(stateDir, 'endpoints.json');
  const child = spawn(
    process.execPath,
    [path.join(dist, 'runtime', 'start.js'), '--port', '0', '--rpc-port', '0', '--sandbox-port-base', '0', '--state-dir', stateDir],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(endpointsFile) || !output.includes('Press Ctrl-C')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const endpoints = JSON.parse(fs.readFileSync(endpointsFile, 'utf8')) as {
      functionsUrl: string;
      functionKey: string;
      controlUrl: string;
      environments: Array<{ id: string; url: string }>;
    };
    expect(endpoints.functionsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(endpoints.functionKey.length).toBeGreaterThan(20);
    expect(output).toContain(`${endpoints.functionsUrl}/api/environments/contoso-uat/setup`);
    expect(output).toContain(`x-functions-key: ${endpoints.functionKey}`);

    // The printed dashboard link opens the page.
    const dashboardUrl = `${endpoints.functionsUrl}/api/dashboard?code=${endpoints.functionKey}`;
    expect(output).toContain(dashboardUrl);
    const dashboard = await fetch(dashboardUrl);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('<title>F&amp;O Graph mail · fleet dashboard</title>');

    // The printed example, sent as printed.
    const uat = endpoints.environments.find((e) => e.id === 'contoso-uat')!;
    expect(output).toContain(`"environmentUrl": "${uat.url}"`);
    const started = await fetch(`${endpoints.functionsUrl}/api/environments/contoso-uat/setup`, {
      method: 'POST',
      headers: { 'x-functions-key': endpoints.functionKey, 'content-type': 'application/json' },
      body: JSON.stringify({ environmentUrl: uat.url }),
    });
    expect(started.status).toBe(202);
    const { statusUrl } = (await started.json()) as { statusUrl: string };
    let op = { runtimeStatus: '', steps: [] as Array<{ name: string; status: string; detail?: string }> };
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      op = (await (await fetch(statusUrl, { headers: { 'x-functions-key': endpoints.functionKey } })).json()) as typeof op;
      if (op.runtimeStatus === 'Completed' || op.runtimeStatus === 'Failed') break;
      // Waiting for F&O's next batch run and Entra's sign-in log: move the sandbox's clock on, as the README says.
      if (op.steps.some((s) => s.name === 'proveFinOpsUses' && s.status === 'waiting')) {
        await fetch(`${endpoints.controlUrl}/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance: 'PT1M' }) });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(op.runtimeStatus).toBe('Completed');
    // npm start's identity may read sign-in logs and F&O's batch runs: the setup ends proven.
    expect(op.steps.find((s) => s.name === 'proveFinOpsUses')).toMatchObject({ status: 'succeeded', detail: expect.stringMatching(/^Entra shows F&O signing in with credential /) });

    const { secrets } = (await (await fetch(`${endpoints.controlUrl}/minted-secrets`)).json()) as { secrets: string[] };
    expect(findLeaks(secrets, [['npm start output', output]])).toEqual([]);
    for (const file of fs.readdirSync(path.join(stateDir, 'logs'))) {
      const text = fs.readFileSync(path.join(stateDir, 'logs', file), 'utf8');
      expect(findLeaks(secrets, [[file, text]])).toEqual([]);
    }
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
  expect(output).toContain('SIGINT: stopping');
  expect(fs.existsSync(endpointsFile)).toBe(false);
}, 120_000);
