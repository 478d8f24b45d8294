/**
 * `npm run sandbox`: runs the emulated cloud on fixed local ports and writes `.sandbox/endpoints.json`
 * for the function app, the CLI and people. Flags (or environment) choose ports and settings; the
 * process stops cleanly on SIGINT/SIGTERM and removes the endpoints file it wrote.
 *
 * Only Node built-ins and the version check load before the check has passed (the rest is imported in
 * `main`): under an older Node, `node dist/sandbox/main.js` prints the same one line as `npm start` does
 * (runtime/nodeVersion.ts) instead of failing deep inside the certificate code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { nodeVersionProblem } from '../runtime/nodeVersion';
import type { RunningSandbox, StartSandboxOptions } from './server';

export const DEFAULT_PORT_BASE = 8440;

const USAGE = `Usage: node dist/sandbox/main.js [options]

  --port-base <n>                  control on n, Entra n+1, Graph n+2, Key Vault n+3, F&O n+4... (default ${DEFAULT_PORT_BASE}; 0 = ephemeral)
  --endpoints-file <path>          where to write endpoints.json (default .sandbox/endpoints.json)
  --ca-dir <path>                  CA directory (default .sandbox/ca)
  --tenant-id <guid>               tenant id (default random)
  --environments <a,b>             F&O environment ids (default contoso-uat,contoso-prod)
  --latency-ms <n>                 extra latency per request
  --secret-propagation-seconds <n> delay before a new client secret works (default 2)
  --replication-lag-seconds <n>    how long fresh directory objects stay invisible (default 0)
  --finops-spare-ports <n>         F&O listeners kept for environments of tenants added later (default 6)

Environment: SANDBOX_PORT_BASE, SANDBOX_ENDPOINTS_FILE.`;

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, not '${value}'`);
  return n;
}

export interface MainConfig {
  options: StartSandboxOptions;
  endpointsFile: string;
}

/** What the defaults come from: the repository root (for `.sandbox/`) and the roles a deployment gives the identity. */
export interface MainDefaults {
  root: string;
  managedIdentityRoles: readonly string[];
}

export function parseMainArgs(argv: string[], env: NodeJS.ProcessEnv, defaults: MainDefaults): MainConfig | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      'port-base': { type: 'string' },
      'endpoints-file': { type: 'string' },
      'ca-dir': { type: 'string' },
      'tenant-id': { type: 'string' },
      environments: { type: 'string' },
      'latency-ms': { type: 'string' },
      'secret-propagation-seconds': { type: 'string' },
      'replication-lag-seconds': { type: 'string' },
      'finops-spare-ports': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const base = numberFlag('port-base', values['port-base'] ?? env['SANDBOX_PORT_BASE']) ?? DEFAULT_PORT_BASE;
  if (!Number.isInteger(base) || base > 65000) throw new Error(`--port-base must be an integer port, not ${base}`);
  const { root } = defaults;
  const endpointsFile = path.resolve(values['endpoints-file'] ?? env['SANDBOX_ENDPOINTS_FILE'] ?? path.join(root, '.sandbox', 'endpoints.json'));
  const environmentIds = values.environments
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const latencyMs = numberFlag('latency-ms', values['latency-ms']);
  const secretPropagationSeconds = numberFlag('secret-propagation-seconds', values['secret-propagation-seconds']);
  const replicationLagSeconds = numberFlag('replication-lag-seconds', values['replication-lag-seconds']);
  const finopsSparePorts = numberFlag('finops-spare-ports', values['finops-spare-ports']);
  if (finopsSparePorts !== undefined && (!Number.isInteger(finopsSparePorts) || finopsSparePorts > 50)) {
    throw new Error(`--finops-spare-ports must be a whole number up to 50, not ${finopsSparePorts}`);
  }
  const options: StartSandboxOptions = {
    ports: { base },
    // F&O sends as it does for real: every environment's Email distributor batch runs every minute.
    finopsBatch: { running: true, intervalMinutes: 1 },
    managedIdentityRoles: [...defaults.managedIdentityRoles],
    ...(values['ca-dir'] ? { caDir: path.resolve(values['ca-dir']) } : {}),
    ...(values['tenant-id'] ? { tenantId: values['tenant-id'] } : {}),
    ...(environmentIds && environmentIds.length > 0 ? { environmentIds } : {}),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(secretPropagationSeconds !== undefined ? { secretPropagationSeconds } : {}),
    ...(replicationLagSeconds !== undefined ? { replicationLagSeconds } : {}),
    ...(finopsSparePorts !== undefined ? { finopsSparePorts } : {}),
  };
  return { options, endpointsFile };
}

function summary(sandbox: RunningSandbox, endpointsFile: string): string {
  const e = sandbox.endpoints;
  return [
    'fno-graph-mail sandbox is running',
    `  tenant          ${e.tenantId}`,
    `  Entra authority ${e.authorityHost}`,
    `  Graph           ${e.graphUrl}/v1.0`,
    `  Key Vault       ${e.keyVaultUrl} (${e.keyVaultName})`,
    `  Event Grid      ${e.eventGridTopic} (subscribe with POST ${e.controlUrl}/eventgrid/subscriptions)`,
    ...e.environments.map((env) => `  F&O ${env.id.padEnd(11)} ${env.url}`),
    `  F&O spare ports ${e.finopsSparePorts.join(', ') || '(none)'} (for tenants added with POST ${e.controlUrl}/tenants)`,
    `  control API     ${e.controlUrl}`,
    `  managed identity ${e.managedIdentity.identityEndpoint}`,
    `  CA certificate  ${e.caCertPath} (NODE_EXTRA_CA_CERTS)`,
    `  endpoints       ${endpointsFile} (holds the operator's client secret)`,
    'Stop with Ctrl+C.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const [{ repositoryRoot }, { startSandbox }, { DEPLOYED_MANAGED_IDENTITY_ROLES }] = await Promise.all([import('./ca'), import('./server'), import('./seed')]);
  let config: MainConfig | 'help';
  try {
    config = parseMainArgs(process.argv.slice(2), process.env, { root: repositoryRoot(), managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { options, endpointsFile } = config;
  const sandbox = await startSandbox(options);
  fs.mkdirSync(path.dirname(endpointsFile), { recursive: true });
  fs.writeFileSync(endpointsFile, `${JSON.stringify(sandbox.endpoints, null, 2)}\n`, { mode: 0o600 });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping the sandbox\n`);
    fs.rmSync(endpointsFile, { force: true });
    sandbox.stop().then(
      () => {
        process.exitCode = 0;
      },
      (e: unknown) => {
        process.stderr.write(`the sandbox did not stop cleanly: ${(e as Error).message}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Announced only once the signals are handled: a supervisor that stops the sandbox the moment it reads
  // this would otherwise meet the default action (killed, the endpoints file left behind).
  process.stdout.write(summary(sandbox, endpointsFile));
}

if (require.main === module) {
  const problem = nodeVersionProblem(process.version, { program: 'The sandbox', command: 'npm run sandbox' });
  if (problem) {
    process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
  main().catch((e: unknown) => {
    process.stderr.write(`the sandbox could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
