/**
 * `npm start`: the sandbox cloud and the function app on the local runtime, in one process. Writes the
 * endpoints (plus `functionsUrl` and `functionKey`) to `.sandbox/endpoints.json`, prints where
 * everything is (the dashboard URL, with the key, first) and a request to paste, and stops cleanly on
 * Ctrl-C. Flags: `--port`, `--rpc-port`, `--sandbox-port-base` (0 = free ports; with `--port 0` the durable
 * RPC port is free too unless `--rpc-port` says otherwise, so two instances can run side by side) and
 * `--state-dir` (default `.sandbox/`; one per instance). `--partner` runs it in partner mode: the sandbox's
 * control API creates the operator application as the template would, and OPERATOR_CLIENT_ID names it.
 *
 * Only Node built-ins and the version check load before the check has passed: the rest needs Node 22.19.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { nodeVersionProblem } from './nodeVersion';

/** `--name value` flags; ports default to the documented fixed ones, 0 picks free ports (tests). */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function portFlag(name: string, fallback: number): number {
  const raw = flag(name);
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--${name} must be a port number (0 picks a free one), not ${raw}`);
  return port;
}

async function main(): Promise<void> {
  const { repositoryRoot } = await import('../sandbox/ca');
  const { startSandboxedApp } = await import('./sandboxedApp');
  const { DEPLOYED_MANAGED_IDENTITY_ROLES } = await import('../sandbox/seed');
  const sandboxDir = path.resolve(flag('state-dir') ?? path.join(repositoryRoot(), '.sandbox'));
  const endpointsFile = path.join(sandboxDir, 'endpoints.json');
  mkdirSync(sandboxDir, { recursive: true });
  // The sandbox's world lives in memory and starts anew each time: runs recorded against an earlier one
  // would resume against a directory that no longer has their apps.
  rmSync(path.join(sandboxDir, 'durable'), { recursive: true, force: true });

  const port = portFlag('port', 7071);
  const partner = process.argv.includes('--partner');
  const app = await startSandboxedApp({
    // Partner mode: the operator requires what the identity holds (the grant of a deployment), evidence and policy pre-flight included.
    ...(partner ? { partner: { graphPermissions: DEPLOYED_MANAGED_IDENTITY_ROLES } } : {}),
    // F&O sends as it does for real: both environments' Email distributor batches run every minute.
    // Its identity may read sign-in logs and app management policies, as a deployment's may after grant-graph-permissions.
    sandbox: {
      ports: { base: portFlag('sandbox-port-base', 8440) },
      secretPropagationSeconds: 5,
      finopsBatch: { running: true, intervalMinutes: 1 },
      managedIdentityRoles: DEPLOYED_MANAGED_IDENTITY_ROLES,
    },
    // A run waiting for F&O's first sign-in looks every sandbox minute (Azure's default is five).
    appSettings: { EVIDENCE_POLL_MINUTES: '1' },
    port,
    // The durable RPC listener follows --port 0: a fixed 17071 would stop a second instance.
    rpcPort: portFlag('rpc-port', port === 0 ? 0 : 17071),
    durableDir: path.join(sandboxDir, 'durable'),
    logsDir: path.join(sandboxDir, 'logs'),
    onLog: (entry) => {
      if (entry.level === 'warning' || entry.level === 'error' || entry.category === 'user') {
        process.stdout.write(`${entry.time} ${entry.level.padEnd(11)} ${entry.functionName ?? 'host'}: ${entry.message}\n`);
      }
    },
  });
  writeFileSync(endpointsFile, `${JSON.stringify(app.endpoints, null, 2)}\n`);

  const e = app.endpoints;
  const uat = e.environments[0];
  const lines = [
    '',
    'fno-graph-mail is running on the local runtime against the sandbox.',
    '',
    `  Dashboard      ${e.functionsUrl}/api/dashboard?code=${encodeURIComponent(e.functionKey)}`,
    `  Function app   ${e.functionsUrl}/api/   (function key: ${e.functionKey})`,
    `  Sandbox        Entra ${e.authorityHost}  Graph ${e.graphUrl}  Key Vault ${e.keyVaultUrl}`,
    `  F&O            ${e.environments.map((x) => `${x.id} ${x.url}`).join('   ')}`,
    `  Sandbox state  ${e.controlUrl}/state`,
    `  Files          ${endpointsFile}, ${path.join(sandboxDir, 'logs')}, ${path.join(sandboxDir, 'durable')}`,
    '',
    'Set up email for an environment:',
    '',
    `  curl -s -X POST "${e.functionsUrl}/api/environments/${uat?.id ?? 'contoso-uat'}/setup" \\`,
    `    -H "x-functions-key: ${e.functionKey}" -H "Content-Type: application/json" \\`,
    `    -d '{"environmentUrl": "${uat?.url ?? ''}"}'`,
    '',
    'then follow it:',
    '',
    `  curl -s -H "x-functions-key: ${e.functionKey}" ${e.functionsUrl}/api/operations/setup-${uat?.id ?? 'contoso-uat'}`,
    '',
    ...(e.partnerOperatorClientId ? partnerLines(e.functionsUrl, e.functionKey, e.controlUrl, e.partnerOperatorClientId) : []),
    'Press Ctrl-C to stop.',
    '',
  ];
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping…\n`);
    app
      .stop()
      .then(() => {
        rmSync(endpointsFile, { force: true });
        process.exit(0);
      })
      .catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Announced only once the signals are handled: Ctrl-C (or a supervisor's SIGTERM) the moment this
  // appears would otherwise meet the default action and leave the endpoints file behind.
  process.stdout.write(lines.join('\n'));
}

/** What to paste to see partner mode work: a customer tenant, its onboarding and consent, a setup there. */
function partnerLines(functionsUrl: string, key: string, controlUrl: string, operatorClientId: string): string[] {
  const api = (method: string, route: string, body?: string): string[] => [
    `  curl -s -X ${method} "${functionsUrl}${route}" -H "x-functions-key: ${key}"${body ? ' -H "Content-Type: application/json" \\' : ''}`,
    ...(body ? [`    -d '${body}'`] : []),
  ];
  return [
    `Partner mode: operator application ${operatorClientId} (OPERATOR_CLIENT_ID), whose only credential trusts the function app's identity.`,
    '',
    'Add a customer tenant with one F&O environment (answers its tenantId and environment url):',
    '',
    `  curl -s -X POST ${controlUrl}/tenants -H "Content-Type: application/json" -d '{"name": "fabrikam"}'`,
    '',
    'onboard it (the run waits for the customer administrator\'s consent), and consent as that administrator:',
    '',
    ...api('POST', '/api/tenants/<tenantId>/onboard'),
    `  curl -s -X POST ${controlUrl}/consent -H "Content-Type: application/json" -d '{"appId": "${operatorClientId}", "tenantId": "<tenantId>"}'`,
    '',
    'then set up its environment there:',
    '',
    ...api('POST', '/api/environments/fabrikam-prod/setup', '{"environmentUrl": "<url>", "tenantId": "<tenantId>"}'),
    '',
  ];
}

const problem = nodeVersionProblem(process.version);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}

main().catch((error: unknown) => {
  process.stderr.write(`fno-graph-mail could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
