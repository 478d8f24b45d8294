/**
 * Outside Jest: a plain Node process loads the test app through the runtime's own module hook (no
 * mock), serves an HTTP function and runs an orchestration to completion on the system clock. This
 * is the path `npm start` takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { FIXTURE_APP, removeDirs, tempDir } from './helpers/runtime';

const dirs = { durable: tempDir('plain-durable'), logs: tempDir('plain-logs') };
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  removeDirs(dirs);
});

// Transpiles the TypeScript sources on the fly, so the child needs no build step.
const script = `
const ts = require('typescript');
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(outputText, filename);
};
const { startLocalRuntime } = require(${JSON.stringify(path.resolve(__dirname, '../../runtime/index.ts'))});
startLocalRuntime({
  entry: ${JSON.stringify(FIXTURE_APP)},
  port: 0,
  rpcPort: 0,
  functionKey: 'plain-key',
  durableDir: ${JSON.stringify(dirs.durable)},
  logsDir: ${JSON.stringify(dirs.logs)},
  schedulerIntervalMs: 20,
}).then((rt) => {
  process.stdout.write(JSON.stringify({ url: rt.url, functions: rt.registry.functions.length }) + '\\n');
  process.on('SIGTERM', () => rt.stop().then(() => process.exit(0)));
}, (err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
`;

it('runs the app in a plain Node process through the module hook', async () => {
  child = spawn(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined];
  if (!first) throw new Error(`The runtime did not start: ${stderr}`);
  const { url, functions } = JSON.parse(first) as { url: string; functions: number };
  expect(functions).toBeGreaterThan(20);

  const ping = await fetch(`${url}/api/ping/plain`);
  expect(ping.status).toBe(200);
  expect(await ping.json()).toMatchObject({ name: 'plain', functionName: 'ping' });

  const started = await fetch(`${url}/api/orchestrators/inputs/plain-1`, { method: 'POST', headers: { 'x-functions-key': 'plain-key' } });
  expect(started.status).toBe(202);
  const { statusQueryGetUri } = (await started.json()) as { statusQueryGetUri: string };
  let status: { runtimeStatus?: string; output?: unknown } = {};
  for (let i = 0; i < 200 && status.runtimeStatus !== 'Completed'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    status = (await (await fetch(statusQueryGetUri)).json()) as typeof status;
  }
  expect(status).toMatchObject({ runtimeStatus: 'Completed', output: { text: { received: 'plain text', type: 'string' } } });
}, 30000);
