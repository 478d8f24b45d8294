/**
 * Fake activities for the orchestration tier: every activity the contracts name answers from a
 * script the test sets (a happy path by default), and every call is recorded with its input, so a test
 * drives the real orchestrators through each branch — waits, retries, failures — in milliseconds.
 */
import type { ActivityInput, ActivityName, ActivityOutput, ActivityResult, StepFailure } from '../../src/contracts/activities';
import type { EnvironmentRecord } from '../../src/contracts/environment';

export interface FakeCall {
  name: ActivityName;
  input: unknown;
}

/** An answer: a value, a permanent failure (the run fails at once), or a thrown error (retried by the step's preset). */
export type FakeAnswer<N extends ActivityName> = ActivityOutput<N> | { fail: StepFailure } | { throw: string };

type Script = { [N in ActivityName]?: (input: ActivityInput<N>, nth: number) => FakeAnswer<N> };

export const DAY = 86_400_000;

/** What the fake operator application requires (the default consent strategy with the sign-in evidence and the policy pre-flight). */
export const OPERATOR_PERMISSIONS = ['AppRoleAssignment.ReadWrite.All', 'Application.ReadWrite.OwnedBy', 'AuditLog.Read.All', 'DelegatedPermissionGrant.ReadWrite.All', 'Directory.Read.All', 'Policy.Read.All'];

export function fakeRecord(environmentId: string, overrides: Partial<EnvironmentRecord> = {}): EnvironmentRecord {
  return {
    environmentId,
    environmentUrl: `https://${environmentId}.sandbox.operations.dynamics.com`,
    tenantId: '00000000-0000-0000-0000-00000000000a',
    appId: `app-${environmentId}`,
    appObjectId: `obj-${environmentId}`,
    credential: { keyId: 'key-0', secretName: `fno-graph-mail-${environmentId}`, secretVersion: 'v0', expiresOn: '2030-06-01T00:00:00.000Z' },
    status: 'active',
    ...overrides,
  };
}

/** What a reading shows, in a test's words. */
export interface Shows {
  /** Sign-in log: `unavailable` (no permission) or what it holds. */
  access?: 'available' | 'unavailable';
  /** First and last success with the credential looked for. */
  current?: string;
  currentLast?: string;
  /** Last success with a previous credential. */
  previous?: string;
  /** A newer failure (code, time). */
  failure?: { at: string; code: number };
  /** Successes with a credential the environment does not hold. */
  otherKeyIds?: string[];
  /** F&O's batch provider; `null`: not readable. */
  provider?: string | null;
  applicationId?: string | null;
}

export function reading(input: ActivityInput<'readFinOpsEvidence'>, shows: Shows = {}): ActivityOutput<'readFinOpsEvidence'> {
  const provider = shows.provider === undefined ? 'Graph' : shows.provider;
  const finOps = {
    ...(provider !== null ? { provider } : {}),
    ...(input.read.credential ? { applicationId: shows.applicationId === undefined ? input.appId : shows.applicationId } : {}),
    problems: provider === null ? ["F&O's batch email provider could not be read: 401"] : [],
  };
  if (shows.access === 'unavailable') {
    return { asOf: input.asOf, since: input.since, signIns: { access: 'unavailable', reason: 'permission', message: 'Insufficient privileges' }, finOps };
  }
  return {
    asOf: input.asOf,
    since: input.since,
    signIns: {
      access: 'available',
      current: shows.current ? { successes: 1, firstSuccessAt: shows.current, lastSuccessAt: shows.currentLast ?? shows.current } : { successes: 0 },
      previous: shows.previous ? { successes: 1, firstSuccessAt: shows.previous, lastSuccessAt: shows.previous } : { successes: 0 },
      other: { keyIds: shows.otherKeyIds ?? [] },
      failures: shows.failure ? { count: 1, last: { at: shows.failure.at, code: shows.failure.code, reason: 'Invalid client secret provided.' } } : { count: 0 },
      truncated: false,
    },
    finOps,
  };
}

class Fakes {
  calls: FakeCall[] = [];
  private script: Script = {};
  private counts = new Map<ActivityName, number>();
  private secrets = 0;

  reset(): void {
    this.calls = [];
    this.script = {};
    this.counts.clear();
    this.secrets = 0;
  }

  /** Replaces the default answer of one activity. */
  on<N extends ActivityName>(name: N, answer: (input: ActivityInput<N>, nth: number) => FakeAnswer<N>): void {
    (this.script as Record<string, unknown>)[name] = answer;
  }

  /** The calls of one activity, in order. */
  callsOf<N extends ActivityName>(name: N): Array<ActivityInput<N>> {
    return this.calls.filter((c) => c.name === name).map((c) => c.input as ActivityInput<N>);
  }

  names(): ActivityName[] {
    return this.calls.map((c) => c.name);
  }

  handle(name: ActivityName, input: unknown): ActivityResult<unknown> {
    const nth = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, nth);
    this.calls.push({ name, input });
    const scripted = (this.script as Record<string, ((i: unknown, n: number) => unknown) | undefined>)[name];
    const answer = scripted ? scripted(input, nth) : this.happy(name, input);
    if (typeof answer === 'object' && answer !== null && 'throw' in answer) throw new Error((answer as { throw: string }).throw);
    if (typeof answer === 'object' && answer !== null && 'fail' in answer) return { ok: false, failure: (answer as { fail: StepFailure }).fail };
    return { ok: true, value: answer };
  }

  /** The happy path: what a healthy tenant, vault and F&O answer. */
  private happy(name: ActivityName, raw: unknown): unknown {
    const input = raw as Record<string, unknown>;
    const env = typeof input.environmentId === 'string' ? input.environmentId : 'env';
    switch (name) {
      case 'registerApplication':
        return { appId: `app-${env}`, appObjectId: `obj-${env}`, outcome: 'created' };
      case 'ensureServicePrincipal':
        return { servicePrincipalId: `sp-${env}`, created: true };
      case 'grantAdminConsent':
        return input.strategy === 'grant'
          ? { status: 'granted', changed: true }
          : { status: 'requested', consentUrl: `https://login.example/${String(input.tenantId)}/v2.0/adminconsent?client_id=${String(input.appId)}` };
      case 'checkConsent':
        return { granted: false, mailSendGranted: false, userReadGranted: false };
      case 'createClientSecret': {
        this.secrets += 1;
        return {
          reference: { secretName: `fno-graph-mail-${env}`, secretVersion: `v${this.secrets}`, keyId: `key-${this.secrets}`, expiresOn: '2031-01-01T00:00:00.000Z' },
          created: true,
          delivered: false,
          removedOrphans: [],
        };
      }
      case 'deliverToFinOps':
        return input.strategy === 'manual'
          ? {
              strategy: 'manual',
              instructions: { emailParametersUrl: 'https://f.example/?mi=SysEmailParameters', applicationId: String(input.appId), keyVaultSecret: { vaultUrl: 'https://kv.example', name: 'n', version: 'v' }, steps: ['Enter it.'] },
            }
          : { strategy: 'odata', providerChanged: true, credentialWritten: true };
      case 'recordDelivery':
        return { recorded: true };
      case 'describeFinOps':
        return { reachable: true, credentialEntity: true, sendTestEmail: true, emailHealth: true };
      case 'readFinOpsEvidence':
        // F&O signs in with the credential looked for, as soon as anyone looks, and holds the app.
        return reading(raw as ActivityInput<'readFinOpsEvidence'>, { current: String(input.asOf) });
      case 'recordFinOpsEvidence':
        return { updated: true };
      case 'listFleetEnvironments':
        return { environments: [] };
      case 'startRotations':
        return { started: input.environmentIds, alreadyRunning: [] };
      case 'sendFinOpsTestEmail':
        return { status: 'Sent', message: 'The test message was sent.' };
      case 'verifyCredential':
        return { roles: ['Mail.Send'], testMessageSent: input.senderMailbox !== undefined };
      case 'notify':
        return { mailed: 0 };
      case 'readEnvironment':
        return { found: true, record: fakeRecord(env), delivered: true, application: { state: 'own', otherOwners: [] } };
      case 'revokePreviousCredentials':
        return { removedKeyIds: ['key-0'], disabledVersions: ['v0'] };
      case 'inspectEnvironment':
        return { credentialMissing: false, orphans: [], youngOrphans: [], servicePrincipalId: `sp-${env}`, consent: { granted: true, mailSendGranted: true, userReadGranted: true } };
      case 'removeOrphanedCredentials':
        return { removedKeyIds: input.keyIds };
      case 'prepareMailboxScope':
        return { instructions: { commands: ['New-ManagementScope …'], steps: ['Run these.'] } };
      case 'verifyMailboxScope':
        return { inScopeAccepted: 'erp@contoso.com' };
      case 'describeOperator':
        return { appId: String(input.operatorAppId), displayName: 'fno-graph-mail partner operator', requiredPermissions: [...OPERATOR_PERMISSIONS] };
      case 'checkTenantConsent':
        return { state: 'granted', grantedPermissions: [...(input.requiredPermissions as string[])], missingPermissions: [] };
      case 'recordTenant':
        return { written: true, ...(input.consent === 'granted' ? { onboardedAt: String(input.asOf) } : {}) };
      case 'removeTenantApplication':
        return { removed: true };
      case 'removeRegistryRecord':
        return { removed: true };
    }
  }
}

export const fakes = new Fakes();
