/**
 * `node dist/sandbox/main.js` (what `npm run sandbox` runs) as a person starts it: on this Node it serves,
 * writes its endpoints file and removes it on SIGTERM; under a Node.js older than 22.19 it stops at once with
 * the one line `npm start` prints (runtime/nodeVersion.ts), naming itself, before writing anything.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAtLeast, nodeVersionProblem } from '../../runtime/nodeVersion';
import { compiledProject } from '../helpers/compiledProject';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'test-output', `sandbox-main-${process.pid}`);

let entry: string;

beforeAll(async () => {
  entry = path.join(await compiledProject(), 'sandbox', 'main.js');
  fs.mkdirSync(outDir, { recursive: true });
}, 180_000);

afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

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

it('stops under a Node.js older than 22.19 with the line npm start prints, naming npm run sandbox, before writing anything', () => {
  const old = olderNode();
  // Without an older Node on the machine, this Node is made to report one (the check reads process.version).
  const preload = path.join(outDir, 'node-20.js');
  fs.writeFileSync(preload, "Object.defineProperty(process, 'version', { value: 'v20.20.2' });\n");
  const [command, args] = old ? [old, []] : [process.execPath, ['--require', preload]];
  const dir = path.join(outDir, 'old-node');
  const result = spawnSync(command, [...args, entry, '--port-base', '0', '--endpoints-file', path.join(dir, 'endpoints.json'), '--ca-dir', path.join(dir, 'ca')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  const version = old ? spawnSync(old, ['--version'], { encoding: 'utf8' }).stdout.trim() : 'v20.20.2';
  expect(lines[0]).toBe(nodeVersionProblem(version, { program: 'The sandbox', command: 'npm run sandbox' }));
  // The runtime's line and this one differ only in what they name.
  expect(lines[0]?.replace('The sandbox', 'The local runtime').replace('`npm run sandbox`', '`npm start`')).toBe(nodeVersionProblem(version));
  expect(fs.existsSync(dir)).toBe(false);
});

it('serves on this Node, writes its endpoints file, and removes it when stopped', async () => {
  const dir = path.join(outDir, 'current-node');
  const endpointsFile = path.join(dir, 'endpoints.json');
  const child = spawn(process.execPath, [entry, '--port-base', '0', '--endpoints-file', endpointsFile, '--ca-dir', path.join(dir, 'ca')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const started = Date.now();
    while (!output.includes('Stop with Ctrl+C.') && child.exitCode === null && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('fno-graph-mail sandbox is running');
    const endpoints = JSON.parse(fs.readFileSync(endpointsFile, 'utf8')) as { graphUrl: string };
    expect(endpoints.graphUrl).toMatch(/^https:\/\/localhost:\d+$/);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(fs.existsSync(endpointsFile)).toBe(false);
}, 90_000);
