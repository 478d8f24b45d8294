/**
 * The sandbox's whole world in memory: the Entra tenants (the home tenant first, then any customer
 * tenants added for partner mode), one vault, the F&O environments, the virtual clock, the fault
 * queue and the record of minted secrets. Every emulated service reads and writes this object; the
 * control API exposes a value-free view of it. The directory fields of the state itself
 * (`applications`, `servicePrincipals`, ...) are the home tenant's, as they were when the sandbox had
 * one tenant.
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { GRAPH_CREDENTIAL_ENTITY } from '../src/contracts/finopsExtension';
import { TenantDirectory, TENANT_APP_MANAGEMENT_POLICY_ID, type PasswordCredentialConfiguration } from './tenants';
import { Throttles } from './throttle';
import type {
  ApplicationRecord,
  AppRoleAssignmentRecord,
  CallRecord,
  Fault,
  FinOpsEnvironmentRecord,
  FinOpsGraphCredentialEntityConfig,
  OAuth2PermissionGrantRecord,
  SecretRecord,
  SentMailRecord,
  ServicePrincipalRecord,
  UserRecord,
} from './types';

export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
export const MAIL_SEND_ROLE_ID = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';
export const USER_READ_SCOPE_ID = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d';
export const MAIL_SEND_SCOPE_ID = 'e383f46e-2787-4529-855e-0e479a3ffac0';

/** Graph application permissions the sandbox knows (value → app role id, as in the real tenant). */
export const GRAPH_APP_ROLES: Record<string, string> = {
  'Mail.Send': MAIL_SEND_ROLE_ID,
  'Application.ReadWrite.OwnedBy': '18a4783c-866b-4cc7-a460-3d5e5662c884',
  'Application.ReadWrite.All': '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9',
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
  'AppRoleAssignment.ReadWrite.All': '06b708a9-e830-4db3-a914-8e69da51d44f',
  'DelegatedPermissionGrant.ReadWrite.All': '8e8e4742-1d95-4f68-9d56-6ee75648c72a',
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
  'Directory.Read.All': '7ab1d382-f21e-4acd-a863-ba3e13f7da61',
  'Directory.ReadWrite.All': '19dbc75e-c2e2-444c-a770-ec69d8559fc7',
  'AuditLog.Read.All': 'b0afded3-3588-46d8-8b3d-9842eff778da',
  'Policy.Read.All': '246dd0d5-5bd0-4def-940b-0421030a5b68',
  'Policy.ReadWrite.ApplicationConfiguration': 'be74164b-cff1-491c-8741-e671cb536e13',
};

/** The home tenant's short name: its verified domain is `contoso.onmicrosoft.com`. */
export const HOME_TENANT_NAME = 'contoso';
/** Spare F&O listeners opened at start for environments of tenants added later. */
export const DEFAULT_FINOPS_SPARE_PORTS = 6;
/** Default delay before a sign-in shows in the sign-in log (virtual minutes). */
export const DEFAULT_SIGN_IN_LOG_DELAY_MINUTES = 2;

/**
 * Default names of the F&O entity carrying the Graph credential: those of the FnoGraphMail extension
 * (src/contracts/finopsExtension.ts). A deployment that renamed it is emulated by changing
 * `finopsGraphCredentialEntity` (the product's `FINOPS_CREDENTIAL_*` settings).
 */
export const DEFAULT_GRAPH_CREDENTIAL_ENTITY: FinOpsGraphCredentialEntityConfig = {
  entitySet: GRAPH_CREDENTIAL_ENTITY.entitySet,
  applicationIdField: GRAPH_CREDENTIAL_ENTITY.fields.applicationId,
  secretField: GRAPH_CREDENTIAL_ENTITY.fields.clientSecret,
};

export interface SandboxOptions {
  tenantId?: string;
  /** Seconds a new client secret needs before Entra accepts it (real: 5–20 s). */
  secretPropagationSeconds?: number;
  /** Seconds a fresh application / service principal answers with replication-lag errors. */
  replicationLagSeconds?: number;
  /** Extra latency per request in ms (benchmarks). */
  latencyMs?: number;
  /** F&O environments to seed; default contoso-uat and contoso-prod. */
  environmentIds?: string[];
  /**
   * Graph application permissions of the function app's managed identity (default
   * Application.ReadWrite.OwnedBy, AppRoleAssignment.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All).
   */
  managedIdentityRoles?: string[];
}

export interface SandboxServiceUrls {
  /** Entra authority host, e.g. `https://localhost:8441`. */
  authorityHost: string;
  /** Graph origin; requests go to `{graphUrl}/v1.0/...`. */
  graphUrl: string;
  keyVaultUrl: string;
  /** Plain-http control API (also serves the managed identity endpoint). */
  controlUrl: string;
}

export interface SeededIdentity {
  appId: string;
  servicePrincipalId: string;
  displayName: string;
}

/** A pre-opened F&O listener and the environment it serves once assigned. */
export interface SpareFinOpsListener {
  port: number;
  environmentId: string | null;
}

export class SandboxState {
  /** Every tenant; the first is the home tenant. */
  readonly tenants: TenantDirectory[];
  readonly home: TenantDirectory;
  secretPropagationSeconds: number;
  replicationLagSeconds: number;
  latencyMs: number;

  /** Virtual clock: real time plus an offset that `POST /clock` advances. */
  private clockOffsetMs = 0;
  private readonly clockListeners = new Set<(nowMs: number) => void>();

  sentMail: SentMailRecord[] = [];
  secrets: SecretRecord[] = [];
  finops: FinOpsEnvironmentRecord[] = [];
  faults: Fault[] = [];
  calls: CallRecord[] = [];
  /** Every secret text the sandbox ever minted (for leak scanning). */
  mintedSecrets: string[] = [];
  /** Virtual minutes before a sign-in appears in Graph's sign-in log and credential activity report. */
  signInLogDelayMinutes = DEFAULT_SIGN_IN_LOG_DELAY_MINUTES;
  /** Answer requests beyond the documented Graph and Key Vault limits with 429 (off by default). */
  throttling = false;
  /** What the throttled services have admitted so far (counted only while `throttling` is on). */
  readonly throttles = new Throttles();
  /** F&O listeners opened at start and not bound to a seeded environment (see `POST /tenants`). */
  spareFinOpsListeners: SpareFinOpsListener[] = [];
  /**
   * The Email distributor batch of an environment `POST /tenants` adds: running from its creation when
   * the sandbox was started with its batches running (`npm start`, `npm run sandbox`), else stopped.
   */
  newEnvironmentBatch: { intervalMinutes: number } | null = null;
  /**
   * Exchange Online RBAC for Applications: client id → mailbox UPNs the app may send as. An app that
   * is absent, or mapped to null, may send as any mailbox.
   */
  mailboxScopes: Record<string, string[] | null> = {};
  /** Entity set and field names of the customer-deployed F&O Graph credential entity. */
  finopsGraphCredentialEntity: FinOpsGraphCredentialEntityConfig = { ...DEFAULT_GRAPH_CREDENTIAL_ENTITY };

  /**
   * Key Vault data-plane access by service principal object id (the vault's RBAC): `read` may get and
   * list, `readwrite` may also set, update, delete, recover and purge. Everyone else gets 403.
   */
  keyVaultAccess: Record<string, 'read' | 'readwrite'> = {};
  /** Where the sandbox's services listen; set by the server once its ports are known. */
  serviceUrls: SandboxServiceUrls = { authorityHost: '', graphUrl: '', keyVaultUrl: '', controlUrl: '' };

  /** Set by the seeding step. */
  managedIdentity!: SeededIdentity;
  operator!: SeededIdentity & { clientSecret: string };

  constructor(options: SandboxOptions = {}) {
    this.home = new TenantDirectory({ tenantId: options.tenantId ?? randomUUID(), name: HOME_TENANT_NAME, isHome: true });
    this.tenants = [this.home];
    this.secretPropagationSeconds = options.secretPropagationSeconds ?? 2;
    this.replicationLagSeconds = options.replicationLagSeconds ?? 0;
    this.latencyMs = options.latencyMs ?? 0;
  }

  /** Virtual now in epoch ms. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  advanceClock(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('the clock only moves forward');
    this.clockOffsetMs += ms;
    const now = this.now();
    for (const listener of this.clockListeners) {
      try {
        listener(now);
      } catch (e) {
        // A watcher's failure must not undo or fail the clock move itself.
        process.stderr.write(`sandbox clock listener failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    return now;
  }

  /**
   * Calls `listener` after every advance of the virtual clock (time-driven emulation such as Key
   * Vault's expiry events reacts at once instead of on its next tick). Returns the unsubscribe.
   */
  onClockAdvanced(listener: (nowMs: number) => void): () => void {
    this.clockListeners.add(listener);
    return () => {
      this.clockListeners.delete(listener);
    };
  }

  newId(): string {
    return randomUUID();
  }

  /** Mints a client secret the way Entra does (40 chars, 3-char hint) and remembers it. */
  mintSecret(): { secretText: string; hint: string } {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-';
    const bytes = randomBytes(40);
    let secretText = '';
    for (const b of bytes) secretText += alphabet[b % alphabet.length];
    this.mintedSecrets.push(secretText);
    return { secretText, hint: secretText.slice(0, 3) };
  }

  // ---- the home tenant's directory, under the names it had when it was the only tenant ------------

  get tenantId(): string {
    return this.home.tenantId;
  }

  get verifiedDomain(): string {
    return this.home.verifiedDomain;
  }

  get applications(): ApplicationRecord[] {
    return this.home.applications;
  }

  set applications(value: ApplicationRecord[]) {
    this.home.applications = value;
  }

  get servicePrincipals(): ServicePrincipalRecord[] {
    return this.home.servicePrincipals;
  }

  set servicePrincipals(value: ServicePrincipalRecord[]) {
    this.home.servicePrincipals = value;
  }

  get appRoleAssignments(): AppRoleAssignmentRecord[] {
    return this.home.appRoleAssignments;
  }

  set appRoleAssignments(value: AppRoleAssignmentRecord[]) {
    this.home.appRoleAssignments = value;
  }

  get oauth2PermissionGrants(): OAuth2PermissionGrantRecord[] {
    return this.home.oauth2PermissionGrants;
  }

  set oauth2PermissionGrants(value: OAuth2PermissionGrantRecord[]) {
    this.home.oauth2PermissionGrants = value;
  }

  get users(): UserRecord[] {
    return this.home.users;
  }

  set users(value: UserRecord[]) {
    this.home.users = value;
  }

  get graphServicePrincipalId(): string {
    return this.home.graphServicePrincipalId;
  }

  set graphServicePrincipalId(value: string) {
    this.home.graphServicePrincipalId = value;
  }

  get senderMailbox(): string {
    return this.home.senderMailbox;
  }

  set senderMailbox(value: string) {
    this.home.senderMailbox = value;
  }

  /**
   * The home tenant default policy's `passwordLifetime` restriction in whole days, or null when it
   * sets none (the original single-tenant switch; `POST /tenants/{id}/app-management-policy` is the
   * general one).
   */
  get passwordLifetimeMaxDays(): number | null {
    return passwordLifetimeDaysOf(this.home);
  }

  set passwordLifetimeMaxDays(days: number | null) {
    setTenantPasswordRestrictions(this.home, { passwordLifetimeMaxDays: days });
  }

  findApplicationById(id: string): ApplicationRecord | undefined {
    return this.home.findApplicationById(id);
  }

  findApplicationByAppId(appId: string): ApplicationRecord | undefined {
    return this.home.findApplicationByAppId(appId);
  }

  findServicePrincipalById(id: string): ServicePrincipalRecord | undefined {
    return this.home.findServicePrincipalById(id);
  }

  findServicePrincipalByAppId(appId: string): ServicePrincipalRecord | undefined {
    return this.home.findServicePrincipalByAppId(appId);
  }

  /** Application permissions (role values) granted to a home-tenant service principal on Graph. */
  graphRolesOf(servicePrincipalId: string): string[] {
    return this.home.graphRolesOf(servicePrincipalId);
  }

  // ---- every tenant ---------------------------------------------------------------------------------

  /** The tenant named by its id or verified domain. */
  tenant(idOrDomain: string): TenantDirectory | undefined {
    return this.tenants.find((t) => t.isNamed(idOrDomain));
  }

  /** An application object in whichever tenant is its home, with that tenant. */
  findApplicationAnywhere(appId: string): { app: ApplicationRecord; tenant: TenantDirectory } | undefined {
    for (const tenant of this.tenants) {
      const app = tenant.findApplicationByAppId(appId);
      if (app) return { app, tenant };
    }
    return undefined;
  }

  /** The tenant an application object lives in. */
  homeTenantOf(app: ApplicationRecord): TenantDirectory | undefined {
    return this.tenants.find((t) => t.applications.includes(app));
  }

  /** The tenant an F&O environment belongs to. */
  tenantOfEnvironment(env: FinOpsEnvironmentRecord): TenantDirectory {
    return this.tenant(env.tenantId) ?? this.home;
  }

  /** Finds the live (not expired) credential of any application, in any tenant, whose secret text matches. */
  findLiveCredentialBySecret(secret: string): { application: ApplicationRecord; keyId: string } | undefined {
    const now = this.now();
    for (const tenant of this.tenants) {
      for (const application of tenant.applications) {
        for (const c of application.passwordCredentials) {
          if (c.secretText === secret && Date.parse(c.endDateTime) > now) return { application, keyId: c.keyId };
        }
      }
    }
    return undefined;
  }
}

/** Whole days of the tenant default's enabled `passwordLifetime` restriction on applications, or null. */
export function passwordLifetimeDaysOf(tenant: TenantDirectory): number | null {
  const policy = tenant.defaultAppManagementPolicy;
  if (!policy.isEnabled) return null;
  const lifetime = policy.applicationRestrictions.passwordCredentials.find((r) => r.restrictionType === 'passwordLifetime' && r.state === 'enabled');
  const days = /^P(\d+)D$/.exec(lifetime?.maxLifetime ?? '')?.[1];
  return days === undefined ? null : Number(days);
}

export interface TenantPasswordRestrictions {
  /** true = block `addPassword` for every app; an object = only for apps created on or after the date; false = allow. */
  passwordAddition?: boolean | { restrictForAppsCreatedAfterDateTime?: string | null };
  /** Longest client secret lifetime in days; null = no cap. */
  passwordLifetimeMaxDays?: number | null;
}

/**
 * Sets the two password restrictions of a tenant's default app management policy, on applications
 * and on service principals alike (the admin centre writes both rows the same way:
 * https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/configure-app-management-policies),
 * keeping the others. The policy is enabled while it holds any restriction.
 */
export function setTenantPasswordRestrictions(tenant: TenantDirectory, change: TenantPasswordRestrictions): void {
  const policy = tenant.defaultAppManagementPolicy;
  for (const restrictions of [policy.applicationRestrictions, policy.servicePrincipalRestrictions]) {
    const replace = (type: 'passwordAddition' | 'passwordLifetime', next: PasswordCredentialConfiguration | null): void => {
      restrictions.passwordCredentials = restrictions.passwordCredentials.filter((r) => r.restrictionType !== type);
      if (next) restrictions.passwordCredentials.push(next);
    };
    if (change.passwordAddition !== undefined) {
      const a = change.passwordAddition;
      replace(
        'passwordAddition',
        a === false
          ? null
          : {
              restrictionType: 'passwordAddition',
              state: 'enabled',
              maxLifetime: null,
              restrictForAppsCreatedAfterDateTime: a === true ? null : (a.restrictForAppsCreatedAfterDateTime ?? null),
              excludeActors: null,
            },
      );
    }
    if (change.passwordLifetimeMaxDays !== undefined) {
      const days = change.passwordLifetimeMaxDays;
      replace(
        'passwordLifetime',
        days === null
          ? null
          : { restrictionType: 'passwordLifetime', state: 'enabled', maxLifetime: `P${days}D`, restrictForAppsCreatedAfterDateTime: null, excludeActors: null },
      );
    }
  }
  policy.isEnabled = policy.applicationRestrictions.passwordCredentials.length + policy.servicePrincipalRestrictions.passwordCredentials.length > 0;
}

export { TenantDirectory, TENANT_APP_MANAGEMENT_POLICY_ID };
