/**
 * The function app on the local runtime against the sandbox, in one process: what `npm start` runs and
 * what the end-to-end tests drive over HTTP. The app's identity is the sandbox's managed identity
 * (IDENTITY_ENDPOINT/IDENTITY_HEADER, as App Service provides them), durable time follows the
 * sandbox's virtual clock, and the sandbox CA is trusted in-process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startSandbox, type RunningSandbox, type SandboxEndpoints, type StartSandboxOptions } from '../sandbox/server';
import { setProductServices, setRetryPacing, setSignInLogPacing, type RetryPacing } from '../src/composition';
import { useClock } from '../src/clock';
import { resetAppConfig, SETTING_NAMES, SETTINGS } from '../src/config';
import { OPERATOR_UNIQUE_NAME } from '../src/contracts/names';
import { startLocalRuntime, type Clock, type LocalRuntime, type LogEntry } from './index';

export interface SandboxedAppOptions {
  sandbox?: StartSandboxOptions;
  /** Function app entry; default the compiled or source `src/index` next to this module. */
  entry?: string;
  /** The function app's port; 0 picks a free one below the kernel's range for outgoing connections (see `restartablePorts`). */
  port?: number;
  rpcPort?: number;
  functionKey?: string;
  durableDir?: string;
  logsDir?: string;
  /**
   * Durable state and logs in a new directory under the temporary directory, named with this prefix
   * (instead of `durableDir` and `logsDir`), removed when the app stops or fails to start. A log line an
   * abandoned activity writes after that stays in memory (RuntimeLog).
   */
  temporaryDirPrefix?: string;
  /** Settings that override the sandbox defaults (e.g. `CONSENT_STRATEGY`). */
  appSettings?: Record<string, string>;
  schedulerIntervalMs?: number;
  /** Shorter SDK retry back-off for the product's clients (retry counts unchanged); default the SDKs' own. */
  retryPacing?: RetryPacing;
  /** Sign-in log reads the app allows itself per 10 s and tenant (default Graph's limit, 5); see setSignInLogPacing. */
  signInLogReadsPer10s?: number;
  /**
   * Partner mode: before the app starts, the sandbox's control API creates the operator application as
   * the template would (a multi-tenant app in the home tenant whose only credential is a federated
   * credential trusting the app's managed identity, requiring `graphPermissions`, by default the Graph
   * permissions the identity holds), and `OPERATOR_CLIENT_ID` names it.
   */
  partner?: { graphPermissions?: readonly string[] };
  onLog?: (entry: LogEntry) => void;
}

export interface SandboxedApp {
  sandbox: RunningSandbox;
  /** The directory of `temporaryDirPrefix`, while the app runs. */
  temporaryDir?: string;
  /** The running runtime (replaced by `restartRuntime`). */
  runtime: LocalRuntime;
  endpoints: SandboxEndpoints & { functionsUrl: string; functionKey: string; partnerOperatorClientId?: string };
  appSettings: Record<string, string>;
  /**
   * Stops the runtime alone, as a crash or a redeployment would, and starts a new one on the same
   * durable directory, sandbox, port and key: unfinished runs resume, activities whose completion was
   * not recorded run again. `appSettings` are merged over the current ones for the new runtime;
   * `whileStopped` runs between the two (e.g. to let an abandoned activity finish its calls).
   */
  restartRuntime(options?: { appSettings?: Record<string, string>; whileStopped?: () => Promise<void> }): Promise<LocalRuntime>;
  stop(): Promise<void>;
}

/** Adds a CA to Node's default trust for this process (Node ≥ 22.19), as NODE_EXTRA_CA_CERTS would at start-up. */
export function trustCertificate(pem: string): void {
  const current = tls.getCACertificates('default');
  if (!current.includes(pem)) tls.setDefaultCACertificates([...current, pem]);
}

/**
 * App settings that point the function app at a running sandbox. The F&O allowlist names the seeded
 * environments and the spare listeners the sandbox keeps for tenants added later, so an environment
 * of a new customer tenant can be set up without restarting the app.
 */
export function sandboxAppSettings(endpoints: SandboxEndpoints): Record<string, string> {
  const finOpsHosts = [...endpoints.environments.map((e) => new URL(e.url).host), ...endpoints.finopsSparePorts.map((port) => `localhost:${port}`)];
  const defaults: Record<string, string> = {};
  for (const name of SETTING_NAMES) {
    const value = SETTINGS[name].default;
    if (value !== undefined && value !== '') defaults[name] = value;
  }
  return {
    ...defaults,
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    FUNCTIONS_WORKER_RUNTIME: 'node',
    DURABLE_TASK_HUB: 'FnoGraphMailSandbox',
    ENTRA_TENANT_ID: endpoints.tenantId,
    AZURE_CLIENT_ID: endpoints.managedIdentity.clientId,
    AUTHORITY_HOST: endpoints.authorityHost,
    GRAPH_BASE_URL: endpoints.graphUrl,
    KEY_VAULT_URL: endpoints.keyVaultUrl,
    FINOPS_ALLOWED_HOSTS: finOpsHosts.join(','),
    CONSENT_STRATEGY: 'grant',
    DELIVERY_STRATEGY: 'auto',
    SENDER_MAILBOX: endpoints.senderMailbox,
    // What App Service / Functions give a managed identity; @azure/identity reads them.
    IDENTITY_ENDPOINT: endpoints.managedIdentity.identityEndpoint,
    IDENTITY_HEADER: endpoints.managedIdentity.identityHeader,
  };
}

function defaultEntry(): string {
  // Compiled: dist/runtime/sandboxedApp.js → dist/src/index.js; under Jest: runtime/ → src/index.ts.
  const compiled = path.join(__dirname, '..', 'src', 'index.js');
  return __filename.endsWith('.ts') ? path.join(__dirname, '..', 'src', 'index.ts') : compiled;
}

/**
 * The kernel's range of local ports for outgoing connections (`ip_local_port_range`; Linux's default
 * when it cannot be read).
 */
export function outgoingPortRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high) && low >= 1 && low <= high && high <= 65535) return { low, high };
  } catch {
    // Not Linux, or no procfs: the default range.
  }
  return { low: 32768, high: 60999 };
}

/** Ports below the outgoing range a test app may take: up to this many, above the privileged ones. */
const RESTARTABLE_SPAN = 16384;
const MIN_RESTARTABLE_ROOM = 1024;

/**
 * Ports to try, in order, for a function app that `restartRuntime` listens on again. A port the kernel
 * picks for a listener (port 0) lies in its range for outgoing connections, so while the runtime is
 * down any connection on the machine may take it as its local port, and the new listener meets
 * EADDRINUSE. Ports below that range are only ever taken by listeners that ask for them (other test
 * apps among them, at random). None when there is little room below the range: the kernel picks then.
 */
export function* restartablePorts(attempts = 20): Generator<number> {
  const { low } = outgoingPortRange();
  const first = Math.max(1025, low - RESTARTABLE_SPAN);
  if (low - first < MIN_RESTARTABLE_ROOM) return;
  for (let i = 0; i < attempts; i += 1) yield first + Math.floor(Math.random() * (low - first));
}

/** Whether listening on `port` failed because the port is taken (not another listener's port, e.g. a fixed RPC port). */
function isPortTaken(error: unknown, port: number): boolean {
  const e = error as { code?: unknown; port?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === 'EADDRINUSE' && e.port === port;
}

export async function startSandboxedApp(options: SandboxedAppOptions = {}): Promise<SandboxedApp> {
  const temporaryDir = options.temporaryDirPrefix !== undefined ? mkdtempSync(path.join(tmpdir(), options.temporaryDirPrefix)) : undefined;
  const removeTemporaryDir = (): void => {
    if (temporaryDir !== undefined) rmSync(temporaryDir, { recursive: true, force: true });
  };
  const durableDir = temporaryDir !== undefined ? path.join(temporaryDir, 'durable') : options.durableDir;
  const logsDir = temporaryDir !== undefined ? path.join(temporaryDir, 'logs') : options.logsDir;
  let sandbox: RunningSandbox;
  try {
    sandbox = await startSandbox(options.sandbox ?? {});
  } catch (error) {
    removeTemporaryDir();
    throw error;
  }
  try {
    trustCertificate(readFileSync(sandbox.endpoints.caCertPath, 'utf8'));
    const partnerOperatorClientId = options.partner ? await createPartnerOperator(sandbox, options.partner.graphPermissions) : undefined;
    let settings: Record<string, string> = {
      ...sandboxAppSettings(sandbox.endpoints),
      ...(partnerOperatorClientId ? { OPERATOR_CLIENT_ID: partnerOperatorClientId } : {}),
      ...(options.appSettings ?? {}),
    };
    // Observable, so the durable driver and the timer runner react to a clock move at once, not at their next tick.
    const sandboxClock: Clock & { onChange(listener: (now: number) => void): () => void } = {
      now: () => sandbox.state.now(),
      onChange: (listener) => sandbox.state.onClockAdvanced(listener),
    };
    const launch = async (port: number, functionKey: string | undefined): Promise<LocalRuntime> => {
      // The product caches its settings and clients per process: start from a clean slate.
      resetProductCaches();
      setRetryPacing(options.retryPacing);
      setSignInLogPacing(options.signInLogReadsPer10s);
      const runtime = await startLocalRuntime({
        entry: options.entry ?? defaultEntry(),
        port,
        rpcPort: options.rpcPort ?? 17071,
        ...(functionKey !== undefined ? { functionKey } : {}),
        ...(durableDir !== undefined ? { durableDir } : {}),
        ...(logsDir !== undefined ? { logsDir } : {}),
        ...(options.schedulerIntervalMs !== undefined ? { schedulerIntervalMs: options.schedulerIntervalMs } : {}),
        ...(options.onLog ? { onLog: options.onLog } : {}),
        taskHubName: settings.DURABLE_TASK_HUB,
        clock: sandboxClock,
        appSettings: settings,
      });
      // Outside orchestrations the product reads time from src/clock: make it the sandbox's virtual clock.
      useClock(() => sandbox.state.now());
      return runtime;
    };
    const startRuntime = async (): Promise<LocalRuntime> => {
      if (options.port !== 0) return launch(options.port ?? 7071, options.functionKey);
      for (const port of restartablePorts()) {
        try {
          return await launch(port, options.functionKey);
        } catch (error) {
          if (!isPortTaken(error, port)) throw error;
        }
      }
      // No room below the outgoing range, or every port tried was taken: the kernel picks one.
      return launch(0, options.functionKey);
    };
    let runtime = await startRuntime();
    // Key Vault's expiry events reach the Event Grid trigger the way Azure delivers them: the host's webhook.
    sandbox.eventGrid.subscribe({
      name: 'secret-expiry-events',
      endpoint: `${runtime.url}/runtime/webhooks/eventgrid?functionName=secretExpiryEvents&code=${encodeURIComponent(runtime.systemKey)}`,
      includedEventTypes: ['Microsoft.KeyVault.SecretNearExpiry', 'Microsoft.KeyVault.SecretExpired'],
    });
    const endpoints = { ...sandbox.endpoints, functionsUrl: runtime.url, functionKey: runtime.functionKey, ...(partnerOperatorClientId ? { partnerOperatorClientId } : {}) };
    const app: SandboxedApp = {
      sandbox,
      ...(temporaryDir !== undefined ? { temporaryDir } : {}),
      runtime,
      endpoints,
      appSettings: settings,
      async restartRuntime(restart = {}) {
        const port = Number(new URL(runtime.url).port);
        await runtime.stop();
        useClock(undefined);
        await restart.whileStopped?.();
        settings = { ...settings, ...(restart.appSettings ?? {}) };
        // Same port and key: the Event Grid subscription and every status URL handed out stay valid.
        runtime = await launch(port, runtime.functionKey);
        app.runtime = runtime;
        app.appSettings = settings;
        return runtime;
      },
      async stop() {
        try {
          await runtime.stop();
          useClock(undefined);
          resetProductCaches();
          await sandbox.stop();
        } finally {
          removeTemporaryDir();
        }
      },
    };
    return app;
  } catch (error) {
    try {
      await sandbox.stop();
    } finally {
      removeTemporaryDir();
    }
    throw error;
  }
}

/**
 * What the partner template's post-provision step does (scripts/partner-operator.ts), through the
 * sandbox's control API: the operator application, upserted by its unique name. Its client id.
 */
async function createPartnerOperator(sandbox: RunningSandbox, graphPermissions: readonly string[] | undefined): Promise<string> {
  const state = sandbox.state;
  const roles = graphPermissions ?? state.home.graphRolesOf(state.managedIdentity.servicePrincipalId);
  const reply = await fetch(`${sandbox.endpoints.controlUrl}/operator-application`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uniqueName: OPERATOR_UNIQUE_NAME, displayName: 'fno-graph-mail partner operator', graphPermissions: [...roles] }),
  });
  const body = (await reply.json()) as { appId?: unknown };
  if (!reply.ok || typeof body.appId !== 'string') throw new Error(`the sandbox did not create the partner operator application (${reply.status}): ${JSON.stringify(body)}`);
  return body.appId;
}

/** Forgets the product's cached settings, clients and their retry pacing (they were built for the previous run). */
function resetProductCaches(): void {
  resetAppConfig();
  setProductServices(undefined);
  setRetryPacing(undefined);
  setSignInLogPacing(undefined);
}
