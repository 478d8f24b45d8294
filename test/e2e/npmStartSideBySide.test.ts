/**
 * `npm start` on a developer's machine: with `--port 0 --sandbox-port-base 0` every port it opens is a free
 * one (the durable RPC listener included), so two instances, each with its own state directory, run side by
 * side and each completes a setup; and under a Node.js older than 22.19 it stops at once with one line
 * saying which Node it needs and how `npm start` provides it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAtLeast, MINIMUM_NODE, nodeVersionProblem } from '../../runtime/nodeVersion';
import { compiledProject } from '../helpers/compiledProject';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'test-output', `npm-start-side-by-side-${process.pid}`);

let dist: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dist = await compiledProject();
  fs.mkdirSync(outDir, { recursive: true });
}, 180_000);

afterAll(async () => {
  await Promise.all(
    children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => {
        const exited = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGKILL');
        return exited;
      }),
  );
  fs.rmSync(outDir, { recursive: true, force: true });
});

interface Endpoints {
  functionsUrl: string;
  functionKey: string;
  controlUrl: string;
  environments: Array<{ id: string; url: string }>;
}

/** Starts `node dist/runtime/start.js` as `npm start -- --port 0 --sandbox-port-base 0 --state-dir <dir>` would. */
async function startInstance(name: string): Promise<{ child: ChildProcess; endpoints: Endpoints; output: () => string }> {
  const stateDir = path.join(outDir, name);
  const child = spawn(process.execPath, [path.join(dist, 'runtime', 'start.js'), '--port', '0', '--sandbox-port-base', '0', '--state-dir', stateDir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const endpointsFile = path.join(stateDir, 'endpoints.json');
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(endpointsFile) || !output.includes('Press Ctrl-C')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, endpoints: JSON.parse(fs.readFileSync(endpointsFile, 'utf8')) as Endpoints, output: () => output };
}

async function completeSetup(e: Endpoints): Promise<string> {
  const uat = e.environments.find((x) => x.id === 'contoso-uat');
  const started = await fetch(`${e.functionsUrl}/api/environments/contoso-uat/setup`, {
    method: 'POST',
    headers: { 'x-functions-key': e.functionKey, 'content-type': 'application/json' },
    body: JSON.stringify({ environmentUrl: uat?.url }),
  });
  if (started.status !== 202) return `HTTP ${started.status}`;
  const { statusUrl } = (await started.json()) as { statusUrl: string };
  const until = Date.now() + 90_000;
  let status = '';
  while (Date.now() < until) {
    const op = (await (await fetch(statusUrl, { headers: { 'x-functions-key': e.functionKey } })).json()) as { runtimeStatus: string; steps: Array<{ name: string; status: string }> };
    status = op.runtimeStatus;
    if (status === 'Completed' || status === 'Failed') break;
    // F&O signs in at its next batch run, and Entra logs it a little later: move this sandbox's clock on.
    if (op.steps.some((s) => s.name === 'proveFinOpsUses' && s.status === 'waiting')) {
      await fetch(`${e.controlUrl}/clock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance: 'PT1M' }) });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return status;
}

it('runs two instances side by side on free ports, each completing a setup, and stops both on SIGINT', async () => {
  const a = await startInstance('a');
  const b = await startInstance('b');
  const ports = (e: Endpoints): string[] => [e.functionsUrl, e.controlUrl, ...e.environments.map((x) => x.url)].map((u) => new URL(u).port);
  expect(ports(a.endpoints).filter((p) => ports(b.endpoints).includes(p))).toEqual([]);
  expect(ports(a.endpoints)).not.toContain('7071');
  // Each one's durable client reaches its own RPC listener: a setup runs to completion on both at once.
  expect(await Promise.all([completeSetup(a.endpoints), completeSetup(b.endpoints)])).toEqual(['Completed', 'Completed']);
  // And each keeps its own state: the other instance's key is no key here.
  const foreign = await fetch(`${a.endpoints.functionsUrl}/api/environments`, { headers: { 'x-functions-key': b.endpoints.functionKey } });
  await foreign.body?.cancel();
  expect(foreign.status).toBe(401);

  const codes = await Promise.all(
    [a, b].map(({ child }) => {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      return exited;
    }),
  );
  expect(codes).toEqual([0, 0]);
  for (const name of ['a', 'b']) expect(fs.existsSync(path.join(outDir, name, 'endpoints.json'))).toBe(false);
}, 240_000);

/** A Node.js on this machine older than the minimum (Debian's, beside the devDependency's), if any. */
function olderNode(): string | undefined {
  const candidates = new Set([
    ...spawnSync('which', ['-a', 'node'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim() !== ''),
    '/usr/bin/node',
    '/usr/local/bin/node',
  ]);
  for (const candidate of candidates) {
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (version.status === 0 && !isAtLeast(version.stdout.trim())) return candidate;
  }
  return undefined;
}

it('stops under a Node.js older than 22.19 with one line saying which Node and how npm start provides it', () => {
  expect(MINIMUM_NODE).toBe('22.19.0');
  expect(nodeVersionProblem('v22.19.0')).toBeUndefined();
  expect(nodeVersionProblem('v24.1.0')).toBeUndefined();
  expect(nodeVersionProblem('v22.18.9')).toContain('22.19.0');

  const old = olderNode();
  // Without an older Node on the machine, this Node is made to report one (the check reads process.version).
  const preload = path.join(outDir, 'node-20.js');
  fs.writeFileSync(preload, "Object.defineProperty(process, 'version', { value: 'v20.20.2' });\n");
  const [command, args] = old ? [old, []] : [process.execPath, ['--require', preload]];
  const stateDir = path.join(outDir, 'old-node');
  const result = spawnSync(command, [...args, path.join(dist, 'runtime', 'start.js'), '--port', '0', '--sandbox-port-base', '0', '--state-dir', stateDir], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^The local runtime needs Node\.js 22\.19\.0 or later; this is Node\.js 2\d\.\d+\.\d+\. Start it with `npm start`/);
  expect(lines[0]).toContain('`node` devDependency');
  // It stopped before starting anything.
  expect(fs.existsSync(stateDir)).toBe(false);
});
