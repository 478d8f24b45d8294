/**
 * The azd template around the Bicep: azure.yaml deploys this package as a Flex Consumption function app
 * and runs the hooks (the post-provision Graph grant, and the one-time second provision that turns the
 * Event Grid subscription on, exercised here with a stand-in `azd`), and `npm run azurite` gives
 * `func start` the storage that local.settings.sample.json's `UseDevelopmentStorage=true` points at.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compiledProject } from '../helpers/compiledProject';
import { backoffSeconds, DEFAULT_RETRY, enableSecretExpiryEvents, type HookDeps } from '../../scripts/enable-secret-expiry-events';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  main: string;
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface HookStep {
  shell: string;
  run: string;
  interactive?: boolean;
  continueOnError?: boolean;
}
interface AzureYaml {
  name: string;
  requiredVersions?: { azd?: string };
  services: Record<
    string,
    { project: string; language: string; host: string; remoteBuild?: boolean; dist?: string; hooks?: Record<string, { posix: HookStep; windows: HookStep }> }
  >;
  hooks: Record<string, { posix: HookStep; windows: HookStep }>;
}

const azureYaml = parse(readFileSync(join(root, 'azure.yaml'), 'utf8')) as AzureYaml;

describe('azure.yaml', () => {
  it('deploys the folder `npm run package` builds before packaging, as the function app service `api`', () => {
    expect(Object.keys(azureYaml.services)).toEqual(['api']);
    const api = azureYaml.services.api;
    expect(api).toMatchObject({ project: '.', language: 'ts', host: 'function', remoteBuild: false, dist: '.deploy/app' });
    // azd runs the service's prepackage hook, then zips `dist`: the package is complete before azd reads it.
    expect(api?.hooks?.prepackage?.posix).toMatchObject({ shell: 'sh', run: 'npm run --silent package', continueOnError: false });
    expect(api?.hooks?.prepackage?.windows).toMatchObject({ shell: 'pwsh', run: 'npm run --silent package', continueOnError: false });
    expect(pkg.scripts.package).toBe('tsc -p scripts && node dist/scripts/package.js');
    expect(readFileSync(join(root, 'scripts', 'package.ts'), 'utf8')).toContain("path.join(ROOT, '.deploy', 'app')");
    expect(readFileSync(join(root, '.gitignore'), 'utf8').split('\n')).toContain('.deploy/');
    // The Functions host loads package.json's main from the package.
    expect(pkg.main).toBe('dist/src/index.js');
    // The project's .funcignore is anchored to the project folder: were azd to apply it to the package, it
    // would remove none of the package's files.
    const rules = readFileSync(join(root, '.funcignore'), 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(rules.length).toBeGreaterThan(10);
    for (const rule of rules) expect([rule, rule.startsWith('/')]).toEqual([rule, true]);
    for (const kept of ['/dist', '/dist/src', '/host.json', '/package.json', '/node_modules', '/*.js']) expect(rules).not.toContain(kept);
  });

  it('refuses an azd that ignores remoteBuild (before 1.23.5) or does not check .funcignore against it (before 1.23.12)', () => {
    expect(azureYaml.requiredVersions?.azd).toBe('>= 1.23.12');
    expect(azureYaml.services.api?.remoteBuild).toBe(false);
  });

  it('grants the Graph permissions, then (partner mode) creates the operator, after every provision, on both shells, through the npm scripts', () => {
    const hook = azureYaml.hooks.postprovision;
    // `&&` chains commands in sh and in PowerShell 7 (pwsh) alike.
    const run = 'npm run --silent grant-graph-permissions && npm run --silent partner-operator';
    expect(hook?.posix).toMatchObject({ shell: 'sh', run });
    expect(hook?.windows).toMatchObject({ shell: 'pwsh', run });
    expect(pkg.scripts['grant-graph-permissions']).toBe('tsc -p scripts && node dist/scripts/grant-graph-permissions.js');
    expect(pkg.scripts['partner-operator']).toBe('tsc -p scripts && node dist/scripts/partner-operator.js');
    expect(existsSync(join(root, 'scripts', 'partner-operator.ts'))).toBe(true);
    // scripts/tsconfig.json compiles scripts/*.ts to dist/scripts/*.js, the file the npm script runs.
    const tsconfig = JSON.parse(readFileSync(join(root, 'scripts', 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown>; include: string[] };
    expect(tsconfig.compilerOptions).toMatchObject({ rootDir: '..', outDir: '../dist' });
    expect(tsconfig.include).toEqual(['*.ts']);
    expect(existsSync(join(root, 'scripts', 'grant-graph-permissions.ts'))).toBe(true);
  });

  it('turns the secret expiry subscription on with the same command on both shells', () => {
    const hook = azureYaml.hooks.postdeploy;
    expect(hook?.posix).toMatchObject({ shell: 'sh', run: 'npm run --silent enable-secret-expiry-events', continueOnError: false });
    expect(hook?.windows).toMatchObject({ shell: 'pwsh', run: 'npm run --silent enable-secret-expiry-events', continueOnError: false });
    expect(pkg.scripts['enable-secret-expiry-events']).toBe('tsc -p scripts && node dist/scripts/enable-secret-expiry-events.js');
  });
});

describe('second provision (postdeploy): retries while the new deployment syncs', () => {
  function fakeAzd(provisionExitCodes: number[], envSetCode = 0): { deps: HookDeps; calls: string[]; waits: number[]; log: string[] } {
    const calls: string[] = [];
    const waits: number[] = [];
    const log: string[] = [];
    const codes = [...provisionExitCodes];
    const deps: HookDeps = {
      azd: (args) => {
        calls.push(args.join(' '));
        return Promise.resolve(args[0] === 'provision' ? (codes.shift() ?? 0) : envSetCode);
      },
      sleep: (seconds) => {
        waits.push(seconds);
        return Promise.resolve();
      },
      log: (line) => log.push(line),
    };
    return { deps, calls, waits, log };
  }
  const ON = 'env set SECRET_EXPIRY_EVENTS_ENABLED true';
  const OFF = 'env set SECRET_EXPIRY_EVENTS_ENABLED false';
  const PROVISION = 'provision --no-prompt';

  it('waits 30, 60 and 120 seconds between four attempts by default', () => {
    expect(DEFAULT_RETRY).toEqual({ attempts: 4, firstDelaySeconds: 30 });
    expect(backoffSeconds(DEFAULT_RETRY)).toEqual([30, 60, 120]);
    expect(backoffSeconds({ attempts: 1, firstDelaySeconds: 30 })).toEqual([]);
  });

  it('provisions once when the app is ready', async () => {
    const azd = fakeAzd([0]);
    expect(await enableSecretExpiryEvents(undefined, azd.deps)).toBe(0);
    expect(azd.calls).toEqual([ON, PROVISION]);
    expect(azd.waits).toEqual([]);
  });

  it('retries a failed provision with a doubling wait, and succeeds once Event Grid accepts the function', async () => {
    const azd = fakeAzd([1, 1, 0]);
    expect(await enableSecretExpiryEvents('false', azd.deps)).toBe(0);
    expect(azd.calls).toEqual([ON, PROVISION, PROVISION, PROVISION]);
    expect(azd.waits).toEqual([30, 60]);
    expect(azd.log.filter((l) => l.includes('trying again in'))).toHaveLength(2);
  });

  it('fails after the last attempt with its exit code, and turns the setting back off so the next azd up tries again', async () => {
    const azd = fakeAzd([1, 1, 1, 5]);
    expect(await enableSecretExpiryEvents('', azd.deps)).toBe(5);
    expect(azd.calls).toEqual([ON, PROVISION, PROVISION, PROVISION, PROVISION, OFF]);
    expect(azd.waits).toEqual([30, 60, 120]);
    expect(azd.log.at(-1)).toContain('azd env set SECRET_EXPIRY_EVENTS_ENABLED true && azd provision');
  });

  it('does nothing once the subscription is on', async () => {
    for (const value of ['true', 'True', 'TRUE']) {
      const azd = fakeAzd([]);
      expect(await enableSecretExpiryEvents(value, azd.deps)).toBe(0);
      expect(azd.calls).toEqual([]);
    }
  });

  it('does not provision when azd cannot record the setting, and fails the hook', async () => {
    const azd = fakeAzd([0], 3);
    expect(await enableSecretExpiryEvents(undefined, azd.deps)).toBe(3);
    expect(azd.calls).toEqual([ON]);
  });
});

describe('postdeploy hook as azd runs it (compiled script, stand-in azd on PATH)', () => {
  let dir: string;
  let entry: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'azd-hook-'));
    // The scripts as `npm run build` compiles them (type-checked by `npm run typecheck`).
    const dist = await compiledProject();
    entry = join(dist, 'scripts', 'enable-secret-expiry-events.js');
    // Records each call; provision fails as many times as AZD_PROVISION_FAILURES says, as azd would while
    // Event Grid cannot see the function yet. A provision runs the postprovision hook's script (compiled
    // beside this one) in the environment azd gives hooks: its own, which holds what the caller passed.
    const grant = join(dist, 'scripts', 'grant-graph-permissions.js');
    writeFileSync(
      join(dir, 'azd'),
      [
        '#!/bin/sh',
        'echo "$*" >> "$AZD_CALLS"',
        'if [ "$1" = provision ]; then',
        `  NODE_PATH=${JSON.stringify(join(root, 'node_modules'))} ${JSON.stringify(process.execPath)} ${JSON.stringify(grant)} || exit 1`,
        '  n=$(cat "$AZD_CALLS.failures" 2>/dev/null || echo "${AZD_PROVISION_FAILURES:-0}")',
        '  if [ "$n" -gt 0 ]; then echo $((n - 1)) > "$AZD_CALLS.failures"; exit 1; fi',
        'fi',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(join(dir, 'azd'), 0o755);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runHook(env: Record<string, string>): { status: number | null; calls: string[]; stdout: string } {
    const calls = join(dir, `calls-${Math.random().toString(36).slice(2)}`);
    writeFileSync(calls, '');
    const base: Record<string, string> = { PATH: `${dir}:${process.env.PATH ?? ''}`, AZD_CALLS: calls };
    const result = spawnSync(process.execPath, [entry, '--first-delay-seconds', '0'], { env: { ...base, ...env }, encoding: 'utf8' });
    return { status: result.status, calls: readFileSync(calls, 'utf8').split('\n').filter((l) => l.length > 0), stdout: result.stdout };
  }

  it('runs azd in the environment azd gives hooks, retrying until the provision succeeds', () => {
    const result = runHook({ SECRET_EXPIRY_EVENTS_ENABLED: 'false', AZD_PROVISION_FAILURES: '2' });
    expect(result.calls).toEqual(['env set SECRET_EXPIRY_EVENTS_ENABLED true', 'provision --no-prompt', 'provision --no-prompt', 'provision --no-prompt']);
    expect(result.status).toBe(0);
    // Each nested provision's postprovision hook skipped the Graph grant (no sign-in, no F&O text again).
    const skipped = result.stdout.split('\n').filter((l) => l.startsWith('Microsoft Graph permissions: skipped in this second provision'));
    expect(skipped).toHaveLength(3);
    expect(result.stdout).not.toContain('Finance and Operations');
    expect(runHook({ SECRET_EXPIRY_EVENTS_ENABLED: 'true' })).toMatchObject({ status: 0, calls: [] });
  });

  it('fails the hook (and so azd up) when every attempt fails', () => {
    const result = runHook({ AZD_PROVISION_FAILURES: '9' });
    expect(result.status).not.toBe(0);
    expect(result.calls.filter((c) => c.startsWith('provision'))).toHaveLength(DEFAULT_RETRY.attempts);
    expect(result.calls.at(-1)).toBe('env set SECRET_EXPIRY_EVENTS_ENABLED false');
  });
});

// ---- npm run azurite ----------------------------------------------------------------------------------

/** The storage emulator's documented development account, which `UseDevelopmentStorage=true` stands for. */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A Shared Key-signed PUT, as the storage SDKs send it for a connection string with an account key. */
async function signedPut(baseUrl: string, path: string, query: Record<string, string> = {}): Promise<number> {
  const date = new Date().toUTCString();
  const version = '2021-08-06';
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `\n${k}:${query[k]}`)
    .join('');
  const stringToSign = ['PUT', '', '', '', '', '', '', '', '', '', '', '', `x-ms-date:${date}\nx-ms-version:${version}\n/${DEV_ACCOUNT}/${DEV_ACCOUNT}${path}${canonicalQuery}`].join(
    '\n',
  );
  const signature = createHmac('sha256', Buffer.from(DEV_ACCOUNT_KEY, 'base64')).update(stringToSign, 'utf8').digest('base64');
  const search = new URLSearchParams(query).toString();
  const response = await fetch(`${baseUrl}/${DEV_ACCOUNT}${path}${search ? `?${search}` : ''}`, {
    method: 'PUT',
    headers: { 'x-ms-date': date, 'x-ms-version': version, authorization: `SharedKey ${DEV_ACCOUNT}:${signature}` },
  });
  await response.body?.cancel();
  return response.status;
}

describe('npm run azurite', () => {
  const args = (pkg.scripts.azurite ?? '').split(/\s+/);
  let child: ChildProcess | undefined;
  let location: string;

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(location, { recursive: true, force: true });
  });

  it('runs the Azurite devDependency without telemetry, keeping its data under .sandbox/azurite', () => {
    expect(pkg.devDependencies.azurite).toBeDefined();
    expect(args[0]).toBe('azurite');
    expect(args).toContain('--disableTelemetry');
    expect(args.slice(args.indexOf('--location'), args.indexOf('--location') + 2)).toEqual(['--location', '.sandbox/azurite']);
    expect(readFileSync(join(root, '.gitignore'), 'utf8').split('\n')).toContain('.sandbox/');
    // UseDevelopmentStorage=true means 127.0.0.1 on ports 10000-10002: the script must not move them.
    expect(args.filter((a) => /Port|Host/.test(a))).toEqual([]);
    const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
    expect(sample.Values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
  });

  it('starts offline with those options and accepts the development account on blob and queue', async () => {
    location = mkdtempSync(join(tmpdir(), 'azurite-'));
    // The script's own options, with a private data folder and free ports so a running Azurite is not disturbed.
    const options = args.slice(1);
    options[options.indexOf('--location') + 1] = location;
    child = spawn(join(root, 'node_modules', '.bin', 'azurite'), [...options, '--blobPort', '0', '--queuePort', '0', '--tablePort', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ports = await new Promise<Record<string, string>>((resolve, reject) => {
      const found: Record<string, string> = {};
      let output = '';
      const timer = setTimeout(() => reject(new Error(`Azurite did not start: ${output}`)), 30_000);
      child?.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        for (const m of output.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/g)) found[m[1] ?? ''] = m[2] ?? '';
        if (Object.keys(found).length === 3) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child?.once('exit', (code) => reject(new Error(`Azurite exited with ${code}: ${output}`)));
    });
    expect(await signedPut(`http://127.0.0.1:${ports.Blob}`, '/azure-webjobs-hosts', { restype: 'container' })).toBe(201);
    expect(await signedPut(`http://127.0.0.1:${ports.Queue}`, '/fnographmail-control-00')).toBe(201);
    // A wrong key is refused, so the 201s above really were the development account's.
    const wrong = await fetch(`http://127.0.0.1:${ports.Blob}/${DEV_ACCOUNT}/other?restype=container`, {
      method: 'PUT',
      headers: { 'x-ms-date': new Date().toUTCString(), 'x-ms-version': '2021-08-06', authorization: `SharedKey ${DEV_ACCOUNT}:AAAA` },
    });
    await wrong.body?.cancel();
    expect(wrong.status).toBe(403);
    expect(existsSync(join(location, '__azurite_db_blob__.json'))).toBe(true);
  });
});
