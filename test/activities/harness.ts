/**
 * What the activity tests share: the real product services (`createProductServices`) built from app
 * settings that point at an in-process sandbox, signed in as the function app's managed identity; a
 * logger that keeps every line; typed views of the sandbox's `/state` and `/calls`; and a record of
 * every activity output, log line and error message, which the secret-leak check scans.
 */
import type { TokenCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import type { ActivityLogger, ProductActivityName } from '../../src/activities';
import { isServiceError, type ServiceError } from '../../src/clients';
import { createProductServices, setSignInLogPacing, type ProductServices } from '../../src/composition';
import { loadConfig } from '../../src/config';
import type { ActivityInput, ActivityOutput } from '../../src/contracts/activities';
import type { StartSandboxOptions } from '../../sandbox/server';
import type { CallRecord } from '../../sandbox/types';
import { startTestSandbox, type TestSandbox } from '../helpers/sandbox';

// ---- the parts of the sandbox's `/state` view the tests read ------------------------------------

export interface PasswordCredentialView {
  keyId: string;
  displayName: string | null;
  hint: string;
  startDateTime: string;
  endDateTime: string;
}

export interface ApplicationView {
  id: string;
  appId: string;
  uniqueName: string | null;
  displayName: string;
  signInAudience: string;
  requiredResourceAccess: Array<{ resourceAppId: string; resourceAccess: Array<{ id: string; type: string }> }>;
  owners: string[];
  passwordCredentials: PasswordCredentialView[];
}

export interface SecretVersionView {
  version: string;
  enabled: boolean;
  contentType: string | null;
  expiresOn: string | null;
  tags: Record<string, string>;
}

export interface FinOpsView {
  url: string;
  emailParameters: { MailerNonInteractive: string } & Record<string, unknown>;
  graphCredential: { applicationId: string | null; secretSet: boolean; keyId: string | null };
}

export interface StateView {
  now: string;
  tenantId: string;
  graphServicePrincipalId: string;
  managedIdentity: { appId: string; servicePrincipalId: string };
  applications: ApplicationView[];
  servicePrincipals: Array<{ id: string; appId: string; displayName: string }>;
  appRoleAssignments: Array<{ id: string; appRoleId: string; principalId: string; resourceId: string }>;
  oauth2PermissionGrants: Array<{ id: string; clientId: string; consentType: string; principalId: string | null; resourceId: string; scope: string }>;
  finops: Record<string, FinOpsView>;
  keyVault: { secrets: Array<{ name: string; deleted: boolean; versions: SecretVersionView[] }> };
}

// ---- the harness -------------------------------------------------------------------------------

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface ActivityHarness {
  sandbox: TestSandbox;
  services: ProductServices;
  /** The function app's managed identity, as the product signs in with it. */
  credential: TokenCredential;
  lines: LogLine[];
  /** Every activity output, log line and error message seen so far. */
  seen: string[];
  /** Runs an activity with a capturing logger and records its output. */
  run<N extends ProductActivityName>(name: N, input: ActivityInput<N>): Promise<ActivityOutput<N>>;
  /** Runs an activity that must fail with a ServiceError; records the error's message and JSON form. */
  failure<N extends ProductActivityName>(name: N, input: ActivityInput<N>): Promise<ServiceError>;
  state(): Promise<StateView>;
  /** The sandbox's virtual now (ISO). */
  now(): Promise<string>;
  /** Write requests (anything but GET) to Graph, Key Vault and F&O since the last `clearCalls`; token requests are Entra's and not counted. */
  writes(): Promise<CallRecord[]>;
  clearCalls(): Promise<void>;
  /** URL of a seeded F&O environment. */
  environmentUrl(id: string): string;
  /** Secrets the sandbox minted that appear in anything recorded in `seen`. */
  leaks(): Promise<{ minted: number; leaked: number }>;
  stop(): Promise<void>;
}

const IDENTITY_VARIABLES = ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER'] as const;

export async function startActivityHarness(
  options: StartSandboxOptions & { environmentIds: string[]; /** Further app settings, by name. */ settings?: Record<string, string> },
): Promise<ActivityHarness> {
  const { settings = {}, ...sandboxOptions } = options;
  const sandbox = await startTestSandbox(sandboxOptions);
  const { endpoints } = sandbox;

  // The managed identity credential finds the App Service identity endpoint through these variables.
  const saved = Object.fromEntries(IDENTITY_VARIABLES.map((k) => [k, process.env[k]]));
  Object.assign(process.env, sandbox.managedIdentityEnv());
  const credential = new ManagedIdentityCredential();

  const config = loadConfig({
    ENTRA_TENANT_ID: endpoints.tenantId,
    AUTHORITY_HOST: endpoints.authorityHost,
    GRAPH_BASE_URL: endpoints.graphUrl,
    KEY_VAULT_URL: endpoints.keyVaultUrl,
    FINOPS_ALLOWED_HOSTS: endpoints.environments.map((e) => new URL(e.url).host).join(','),
    SENDER_MAILBOX: endpoints.senderMailbox,
    ...settings,
  });
  // The sandbox does not throttle here: the sign-in log's pacing to Graph's 5 reads per 10 s would only add
  // waits (the pacing is tested with the client and the emergency bench).
  setSignInLogPacing(10_000);
  const services = createProductServices(config, credential);

  const lines: LogLine[] = [];
  const seen: string[] = [];
  const logger: ActivityLogger = {
    info: (message) => {
      lines.push({ level: 'info', message });
      seen.push(message);
    },
    warn: (message) => {
      lines.push({ level: 'warn', message });
      seen.push(message);
    },
    error: (message) => {
      lines.push({ level: 'error', message });
      seen.push(message);
    },
  };

  const invoke = <N extends ProductActivityName>(name: N, input: ActivityInput<N>): Promise<ActivityOutput<N>> => {
    const handler = services.activities[name] as (i: ActivityInput<N>, log: ActivityLogger) => Promise<ActivityOutput<N>>;
    return handler(input, logger);
  };

  const harness: ActivityHarness = {
    sandbox,
    services,
    credential,
    lines,
    seen,
    async run(name, input) {
      const output = await invoke(name, input);
      seen.push(JSON.stringify(output));
      return output;
    },
    async failure(name, input) {
      let output: unknown;
      try {
        output = await invoke(name, input);
      } catch (e) {
        if (!isServiceError(e)) throw e;
        seen.push(e.message, JSON.stringify(e.toJSON()), String(e.stack));
        return e;
      }
      throw new Error(`${name} was expected to fail but returned ${JSON.stringify(output)}`);
    },
    async state() {
      return (await sandbox.control<StateView>('/state')).body;
    },
    async now() {
      return (await sandbox.control<{ now: string }>('/clock')).body.now;
    },
    async writes() {
      const { calls } = (await sandbox.control<{ calls: CallRecord[] }>('/calls')).body;
      return calls.filter((c) => c.service !== 'entra' && c.method !== 'GET');
    },
    async clearCalls() {
      await sandbox.control('/calls', { method: 'DELETE' });
    },
    environmentUrl(id) {
      const env = endpoints.environments.find((e) => e.id === id);
      if (!env) throw new Error(`the sandbox has no F&O environment ${id}`);
      return env.url;
    },
    async leaks() {
      const { secrets } = (await sandbox.control<{ secrets: string[] }>('/minted-secrets')).body;
      const text = seen.join('\n');
      return { minted: secrets.length, leaked: secrets.filter((s) => text.includes(s)).length };
    },
    async stop() {
      for (const k of IDENTITY_VARIABLES) {
        const value = saved[k];
        if (value === undefined) delete process.env[k];
        else process.env[k] = value;
      }
      await sandbox.stop();
    },
  };
  return harness;
}

// ---- the setup sequence -------------------------------------------------------------------------

export interface SetupOptions {
  environmentId: string;
  environmentUrl: string;
  tenantId: string;
  requestedAt: string;
  operationId: string;
  lifetimeDays?: number;
  minRemainingDays?: number;
}

/** The inputs the setup orchestration passes, step by step, given the outputs so far. */
export const setupInputs = {
  register: (o: SetupOptions): ActivityInput<'registerApplication'> => ({
    environmentId: o.environmentId,
    tenantId: o.tenantId,
    displayName: `F&O Graph mail (${o.environmentId})`,
  }),
  servicePrincipal: (o: SetupOptions, app: ActivityOutput<'registerApplication'>): ActivityInput<'ensureServicePrincipal'> => ({
    environmentId: o.environmentId,
    tenantId: o.tenantId,
    appId: app.appId,
  }),
  consent: (
    o: SetupOptions,
    app: ActivityOutput<'registerApplication'>,
    sp: ActivityOutput<'ensureServicePrincipal'>,
    strategy: 'grant' | 'request' = 'grant',
  ): ActivityInput<'grantAdminConsent'> => ({ environmentId: o.environmentId, tenantId: o.tenantId, appId: app.appId, servicePrincipalId: sp.servicePrincipalId, strategy, mailSend: true }),
  secret: (
    o: SetupOptions,
    app: ActivityOutput<'registerApplication'>,
    mode: 'ensure' | 'rotate' = 'ensure',
  ): ActivityInput<'createClientSecret'> => ({
    environmentId: o.environmentId,
    environmentUrl: o.environmentUrl,
    tenantId: o.tenantId,
    appId: app.appId,
    appObjectId: app.appObjectId,
    lifetimeDays: o.lifetimeDays ?? 180,
    requestedAt: o.requestedAt,
    operationId: o.operationId,
    mode,
    minRemainingDays: o.minRemainingDays ?? 30,
  }),
  deliver: (
    o: SetupOptions,
    app: ActivityOutput<'registerApplication'>,
    secret: ActivityOutput<'createClientSecret'>,
    strategy: 'odata' | 'manual' = 'odata',
  ): ActivityInput<'deliverToFinOps'> => ({
    environmentId: o.environmentId,
    environmentUrl: o.environmentUrl,
    tenantId: o.tenantId,
    appId: app.appId,
    reference: secret.reference,
    strategy,
  }),
  verify: (o: SetupOptions, app: ActivityOutput<'registerApplication'>, secret: ActivityOutput<'createClientSecret'>): ActivityInput<'verifyCredential'> => ({
    environmentId: o.environmentId,
    tenantId: o.tenantId,
    appId: app.appId,
    reference: secret.reference,
  }),
};

export interface SetupOutputs {
  app: ActivityOutput<'registerApplication'>;
  sp: ActivityOutput<'ensureServicePrincipal'>;
  consent: ActivityOutput<'grantAdminConsent'>;
  secret: ActivityOutput<'createClientSecret'>;
  delivery: ActivityOutput<'deliverToFinOps'>;
  verified: ActivityOutput<'verifyCredential'>;
}

/** Registration, service principal and granted consent: what every secret test starts from. */
export async function prepareApplication(
  h: ActivityHarness,
  o: SetupOptions,
): Promise<Pick<SetupOutputs, 'app' | 'sp' | 'consent'>> {
  const app = await h.run('registerApplication', setupInputs.register(o));
  const sp = await h.run('ensureServicePrincipal', setupInputs.servicePrincipal(o, app));
  const consent = await h.run('grantAdminConsent', setupInputs.consent(o, app, sp));
  return { app, sp, consent };
}

/** The whole `odata` setup, in the orchestration's order. */
export async function runSetup(h: ActivityHarness, o: SetupOptions): Promise<SetupOutputs> {
  const { app, sp, consent } = await prepareApplication(h, o);
  const secret = await h.run('createClientSecret', setupInputs.secret(o, app));
  const delivery = await h.run('deliverToFinOps', setupInputs.deliver(o, app, secret));
  const verified = await h.run('verifyCredential', setupInputs.verify(o, app, secret));
  return { app, sp, consent, secret, delivery, verified };
}

export function applicationOf(state: StateView, uniqueName: string): ApplicationView {
  const matching = state.applications.filter((a) => a.uniqueName === uniqueName);
  if (matching.length !== 1) throw new Error(`expected one application ${uniqueName}, found ${matching.length}`);
  return matching[0] as ApplicationView;
}

export function versionsOf(state: StateView, secretName: string): SecretVersionView[] {
  return state.keyVault.secrets.find((s) => s.name === secretName && !s.deleted)?.versions ?? [];
}
