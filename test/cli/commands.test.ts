/**
 * `fno-graph-mail` as a person runs it, against an in-process sandbox (its endpoints.json written the
 * way `npm run sandbox` writes it): the command line's `main` in this process with the argv, a shell
 * environment without the product's settings and captured stdout/stderr, and once as the compiled
 * command in a child process interrupted with a real SIGINT. Setup and rotation end to end with their
 * progress and results, the grace period and resuming a saved run, a run that waits for a person, the
 * registry, exit codes for bad input and missing settings, and no secret printed. The tests share one
 * sandbox and one state directory and run in order, like one person's session.
 */
// Must come first: lets @azure/functions register for real under jest (virtual @azure/functions-core).
import '../runtime/helpers/functionsCore';
import { findLeaks } from '../helpers/leakForms';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asLines, main, type Io } from '../../runtime/cli';
import { wantsJson } from '../../runtime/cli/args';
import { startSandbox, type RunningSandbox } from '../../sandbox/server';
import { useClock } from '../../src/clock';
import { setProductServices } from '../../src/composition';
import { resetAppConfig, SETTING_NAMES } from '../../src/config';
import { compiledProject } from '../helpers/compiledProject';

const root = path.join(__dirname, '..', '..');
const outDir = path.join(root, 'test-output', `cli-${process.pid}`);
let cliJs = '';
const workDir = path.join(outDir, 'work');
const endpointsFile = path.join(workDir, 'endpoints.json');
const stateDir = path.join(workDir, 'state');

let sandbox: RunningSandbox;
/** Everything any CLI run printed, for the leak scan at the end. */
const printed: string[] = [];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a shell with none of the product's settings set. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of SETTING_NAMES) delete env[name];
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Makes `process.env` hold exactly `env` (the command line reads and extends it as the Functions host's settings). */
function replaceEnv(env: NodeJS.ProcessEnv): void {
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
}

/** Forgets what one command left in this process: the product's cached settings and clients, and the clock it followed. */
function forgetProcessState(): void {
  resetAppConfig();
  setProductServices(undefined);
  useClock(undefined);
}

/**
 * Runs the command line in this process, as a new process would: a clean environment, fresh product
 * caches, the work directory as working directory. `whileRunning` sees stderr as it grows and may
 * interrupt the command as Ctrl-C does.
 */
async function cli(args: string[], options: { env?: NodeJS.ProcessEnv; whileRunning?: (stderr: string, interrupt: () => void) => void } = {}): Promise<CliResult> {
  const saved = { ...process.env };
  replaceEnv(options.env ?? cleanEnv());
  forgetProcessState();
  const controller = new AbortController();
  let stdout = '';
  let stderr = '';
  const io: Io = {
    out: (text) => {
      stdout += asLines(text);
    },
    err: (text) => {
      stderr += asLines(text);
      options.whileRunning?.(stderr, () => controller.abort());
    },
    json: wantsJson(args),
    signal: controller.signal,
    interrupt: () => controller.abort(),
    cwd: workDir,
  };
  try {
    const code = await main(args, io);
    return { code, stdout, stderr };
  } finally {
    printed.push(stdout, stderr);
    replaceEnv(saved);
    forgetProcessState();
  }
}

/** Runs the compiled command in a child process; `whileRunning` sees stderr as it grows and may signal the child. */
function cliProcess(args: string[], options: { whileRunning?: (stderr: string, child: ChildProcess) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliJs, ...args], { cwd: workDir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      options.whileRunning?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

async function control<T>(route: string, body?: unknown, method?: string): Promise<T> {
  const response = await fetch(`${sandbox.endpoints.controlUrl}${route}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return (await response.json()) as T;
}

interface SandboxApp {
  appId: string;
  uniqueName?: string;
  passwordCredentials: Array<{ keyId: string }>;
}

async function passwordKeyIds(environmentId: string): Promise<string[]> {
  const state = await control<{ applications: SandboxApp[] }>('/state');
  const app = state.applications.find((a) => a.uniqueName === `fno-graph-mail-${environmentId}`);
  return (app?.passwordCredentials ?? []).map((p) => p.keyId).sort();
}

function url(id: string): string {
  const env = sandbox.endpoints.environments.find((e) => e.id === id);
  if (!env) throw new Error(`no sandbox environment ${id}`);
  return env.url;
}

interface Record {
  environmentId: string;
  environmentUrl: string;
  status: string;
  appId: string;
  credential: { keyId: string; secretName: string; expiresOn: string };
}

const sandboxArgs = (): string[] => ['--sandbox', endpointsFile, '--state-dir', stateDir];

beforeAll(async () => {
  fs.mkdirSync(workDir, { recursive: true });
  const compiled = compiledProject();
  sandbox = await startSandbox({ ports: { base: 0 }, secretPropagationSeconds: 1 });
  fs.writeFileSync(endpointsFile, JSON.stringify(sandbox.endpoints, null, 2));
  cliJs = path.join(await compiled, 'runtime', 'cli.js');
}, 240_000);

afterAll(async () => {
  await sandbox?.stop();
  fs.rmSync(outDir, { recursive: true, force: true });
});

let uatKeyId = '';

it('setup: shows each step as it happens, then prints the environment record', async () => {
  const result = await cli(['setup', 'contoso-uat', '--url', url('contoso-uat'), ...sandboxArgs()]);
  expect(result.stderr).not.toMatch(/fno-graph-mail: /);
  expect(result.code).toBe(0);

  // One line per transition, in the order the orchestration runs them.
  const stepLines = result.stderr.split('\n').filter((l) => /^ {2}\[\d\/7\]/.test(l));
  const succeeded = stepLines.filter((l) => /\bsucceeded\b/.test(l)).map((l) => /\] (\w+)/.exec(l)?.[1]);
  expect(succeeded).toEqual(['registerApplication', 'ensureServicePrincipal', 'grantAdminConsent', 'createClientSecret', 'verifyCredential', 'deliverToFinOps']);
  expect(stepLines.filter((l) => /\brunning\b/.test(l))).toHaveLength(7);
  expect(new Set(stepLines).size).toBe(stepLines.length);
  expect(result.stderr).toContain('[5/7] verifyCredential        succeeded  token carries Mail.Send');
  // This identity may not read sign-in logs: the run says so, and the environment is unproven.
  expect(result.stderr).toMatch(/\[7\/7\] proveFinOpsUses\s+skipped\s+sign-in evidence unavailable/);

  // The result goes to stdout, and only the result.
  expect(result.stdout).toMatch(/^environment\s+contoso-uat$/m);
  expect(result.stdout).toMatch(/^status\s+unproven$/m);
  const keyIds = await passwordKeyIds('contoso-uat');
  expect(keyIds).toHaveLength(1);
  uatKeyId = keyIds[0] as string;
  expect(result.stdout).toMatch(new RegExp(`^credential\\s+${uatKeyId}, expires `, 'm'));
  expect(result.stdout).not.toContain('[1/7]');
}, 90_000);

it('setup --json: exactly one JSON document, the record, on stdout', async () => {
  const result = await cli(['setup', 'contoso-prod', '--url', url('contoso-prod'), '--json', ...sandboxArgs()]);
  expect(result.code).toBe(0);
  const record = JSON.parse(result.stdout) as Record;
  expect(record).toMatchObject({ environmentId: 'contoso-prod', environmentUrl: url('contoso-prod'), status: 'unproven' });
  expect(await passwordKeyIds('contoso-prod')).toEqual([record.credential.keyId]);
  // Progress still goes to stderr.
  expect(result.stderr).toContain('[6/7] deliverToFinOps');
}, 90_000);

it('status: the registry as a table, as JSON, and one environment', async () => {
  const table = await cli(['status', ...sandboxArgs()]);
  expect(table.code).toBe(0);
  const rows = table.stdout.trim().split('\n');
  expect(rows[0]).toMatch(/^ENVIRONMENT\s+STATUS\s+EXPIRES\s+APPLICATION\s+URL$/);
  expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 2))).toEqual([
    ['contoso-prod', 'unproven'],
    ['contoso-uat', 'unproven'],
  ]);

  const json = await cli(['status', '--json', ...sandboxArgs()]);
  expect(json.code).toBe(0);
  const { environments } = JSON.parse(json.stdout) as { environments: Record[] };
  expect(environments.map((e) => e.environmentId)).toEqual(['contoso-prod', 'contoso-uat']);
  expect(environments.find((e) => e.environmentId === 'contoso-uat')?.credential.keyId).toBe(uatKeyId);

  const one = await cli(['status', 'contoso-uat', '--json', ...sandboxArgs()]);
  expect(one.code).toBe(0);
  expect(JSON.parse(one.stdout)).toMatchObject({ environmentId: 'contoso-uat', status: 'unproven', credential: { keyId: uatKeyId } });
}, 90_000);

it('rotate --grace-hours 0: a new credential delivered and verified, the previous one revoked at once', async () => {
  const result = await cli(['rotate', 'contoso-uat', '--grace-hours', '0', '--json', ...sandboxArgs()]);
  expect(result.code).toBe(0);
  const record = JSON.parse(result.stdout) as Record;
  expect(record.environmentId).toBe('contoso-uat');
  expect(record.credential.keyId).not.toBe(uatKeyId);
  expect(await passwordKeyIds('contoso-uat')).toEqual([record.credential.keyId]);
  expect(result.stderr).toMatch(/Grace period 0 h: the previous credential is revoked as soon as Entra shows F&O signing in with the new one/);
  expect(result.stderr).toMatch(/\[7\/7\] revokePreviousCredentials\s+succeeded\s+removed 1 credential/);
  uatKeyId = record.credential.keyId;
}, 90_000);

it('rotate with the grace period: the previous credential stays valid; after Ctrl-C the same command resumes and revokes it once the period is over', async () => {
  // The compiled command in its own process, stopped by a real SIGINT: the process's own signal handling and exit code.
  let interrupted = false;
  const first = await cliProcess(['rotate', 'contoso-uat', ...sandboxArgs()], {
    whileRunning: (stderr, child) => {
      if (!interrupted && /gracePeriod\s+waiting/.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    },
  });
  expect(first.code).toBe(130);
  expect(first.stderr).toMatch(/Grace period 24 h: once F&O holds the new credential, the previous one stays valid for at least 24 hour\(s\)/);
  expect(first.stderr).toMatch(/gracePeriod\s+waiting\s+previous credential stays valid at least until \d{4}-\d\d-\d\dT/);
  expect(first.stderr).toMatch(/Interrupted\. The rotation run rotate-contoso-uat stays saved in .*; run the same command again to resume it/);
  // Both credentials live during the grace period.
  const during = await passwordKeyIds('contoso-uat');
  expect(during).toHaveLength(2);
  expect(during).toContain(uatKeyId);

  // The saved run is visible to status.
  const status = await cli(['status', ...sandboxArgs()]);
  expect(status.stderr).toMatch(/Unfinished run rotate-contoso-uat \(running, started /);

  await control('/clock', { advance: 'PT25H' });
  const second = await cli(['rotate', 'contoso-uat', '--json', ...sandboxArgs()]);
  expect(second.code).toBe(0);
  expect(second.stderr).toMatch(/Resuming the unfinished run rotate-contoso-uat/);
  const record = JSON.parse(second.stdout) as Record;
  expect(during).toContain(record.credential.keyId);
  expect(await passwordKeyIds('contoso-uat')).toEqual([record.credential.keyId]);
  uatKeyId = record.credential.keyId;
}, 120_000);

it('manual delivery: prints what to enter where and waits; --wait-timeout leaves it saved; --confirm finishes it', async () => {
  let interrupted = false;
  const first = await cli(['rotate', 'contoso-prod', '--delivery', 'manual', '--grace-hours', '0', ...sandboxArgs()], {
    whileRunning: (stderr, interrupt) => {
      if (!interrupted && stderr.includes('Once done, stop this command (Ctrl-C) and run it again with --confirm')) {
        interrupted = true;
        interrupt();
      }
    },
  });
  expect(first.code).toBe(130);
  expect(first.stderr).toMatch(/Waiting for an administrator to enter the credential in F&O \(event EmailParametersUpdated, until /);
  expect(first.stderr).toMatch(/Email parameters: +https:\/\/.*mi=SysEmailParameters/);
  expect(first.stderr).toMatch(/Client secret: +Key Vault .*, secret fno-graph-mail-contoso-prod, version \w+ \(read it there; it is never shown here\)/);

  const still = await cli(['rotate', 'contoso-prod', '--wait-timeout', '0.5s', '--json', ...sandboxArgs()]);
  expect(still.code).toBe(1);
  expect(JSON.parse(still.stdout)).toMatchObject({ instanceId: 'rotate-contoso-prod', pending: true, waitingFor: 'EmailParametersUpdated', step: 'deliverToFinOps' });

  const confirmed = await cli(['rotate', 'contoso-prod', '--confirm', ...sandboxArgs()]);
  expect(confirmed.code).toBe(0);
  expect(confirmed.stderr).toContain('Told the run: EmailParametersUpdated.');
  expect(confirmed.stderr).toMatch(/deliverToFinOps\s+succeeded\s+delivery strategy manual: confirmed by an administrator/);
  expect(confirmed.stdout).toMatch(/^environment\s+contoso-prod$/m);
}, 120_000);

it('refuses bad input with exit code 2 before anything starts', async () => {
  await control('/calls', undefined, 'DELETE');
  const badId = await cli(['setup', 'Contoso_UAT', '--url', url('contoso-uat'), '--sandbox', endpointsFile, '--state-dir', path.join(workDir, 'untouched')]);
  expect(badId.code).toBe(2);
  expect(badId.stderr).toMatch(/environment id "Contoso_UAT" must be 1–63 lowercase letters/);
  expect(badId.stdout).toBe('');

  const outside = await cli(['setup', 'contoso-uat', '--url', 'https://contoso-uat.evil.example', '--json', '--sandbox', endpointsFile, '--state-dir', path.join(workDir, 'untouched')]);
  expect(outside.code).toBe(2);
  const { error } = JSON.parse(outside.stdout) as { error: string };
  expect(error).toMatch(/^--url: .*host contoso-uat\.evil\.example is not in the allowed hosts.*FINOPS_ALLOWED_HOSTS/);

  const unknown = await cli(['rotate', 'contoso-test', '--state-dir', path.join(workDir, 'untouched'), '--sandbox', endpointsFile]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/No environment contoso-test is registered in Key Vault .*; set it up first: fno-graph-mail setup contoso-test --url/);

  // Nothing was written to the services and no run was saved.
  const { calls } = await control<{ calls: Array<{ service: string; method: string }> }>('/calls');
  expect(calls.filter((c) => c.method !== 'GET')).toEqual([]);
  const untouched = path.join(workDir, 'untouched');
  expect(fs.existsSync(untouched) ? fs.readdirSync(untouched, { recursive: true }) : []).toEqual([]);
}, 90_000);

it('exits with 3 and names the missing settings when there are none', async () => {
  const result = await cli(['status', '--json']);
  expect(result.code).toBe(3);
  const { error } = JSON.parse(result.stdout) as { error: string };
  expect(error).toMatch(/ENTRA_TENANT_ID is missing/);
  expect(error).toMatch(/KEY_VAULT_URL is missing/);
  expect(result.stderr).toMatch(/--settings local\.settings\.json, or --sandbox \.sandbox\/endpoints\.json/);

  const setup = await cli(['setup', 'contoso-uat', '--url', url('contoso-uat')]);
  expect(setup.code).toBe(3);
}, 60_000);

it('prints --help for each command', async () => {
  for (const command of ['setup', 'rotate', 'status']) {
    const result = await cli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: fno-graph-mail ${command}`);
  }
  expect((await cli(['rotate', '--help'])).stdout).toMatch(/--grace-hours <n>/);
}, 60_000);

it('never printed a secret the sandbox minted', async () => {
  const { secrets } = await control<{ secrets: string[] }>('/minted-secrets');
  expect(secrets.length).toBeGreaterThanOrEqual(5);
  const everything = printed.join('\n');
  expect(findLeaks(secrets, [['printed output', everything]])).toEqual([]);
  // Nor did the saved runs and logs in the state directory keep one.
  const files = fs.readdirSync(stateDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const text = fs.readFileSync(path.join(file.parentPath, file.name), 'utf8');
    expect(findLeaks(secrets, [[file.name, text]])).toEqual([]);
  }
});
