/**
 * The sandbox's whole world in memory: one tenant's directory, one vault, the F&O environments,
 * the virtual clock, the fault queue and the record of minted secrets. Every emulated service reads
 * and writes this object; the control API exposes a value-free view of it.
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { GRAPH_CREDENTIAL_ENTITY } from '../src/contracts/finopsExtension';
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
};

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

export class SandboxState {
  readonly tenantId: string;
  readonly verifiedDomain = 'contoso.onmicrosoft.com';
  secretPropagationSeconds: number;
  replicationLagSeconds: number;
  latencyMs: number;

  /** Virtual clock: real time plus an offset that `POST /clock` advances. */
  private clockOffsetMs = 0;
  private readonly clockListeners = new Set<(nowMs: number) => void>();

  applications: ApplicationRecord[] = [];
  servicePrincipals: ServicePrincipalRecord[] = [];
  appRoleAssignments: AppRoleAssignmentRecord[] = [];
  oauth2PermissionGrants: OAuth2PermissionGrantRecord[] = [];
  users: UserRecord[] = [];
  sentMail: SentMailRecord[] = [];
  secrets: SecretRecord[] = [];
  finops: FinOpsEnvironmentRecord[] = [];
  faults: Fault[] = [];
  calls: CallRecord[] = [];
  /** Every secret text the sandbox ever minted (for leak scanning). */
  mintedSecrets: string[] = [];
  /** Tenant app management policy (`passwordLifetime`): longest client secret lifetime in days, or null. */
  passwordLifetimeMaxDays: number | null = null;
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
  graphServicePrincipalId!: string;
  senderMailbox!: string;

  constructor(options: SandboxOptions = {}) {
    this.tenantId = options.tenantId ?? randomUUID();
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

  findApplicationById(id: string): ApplicationRecord | undefined {
    return this.applications.find((a) => a.id === id);
  }

  findApplicationByAppId(appId: string): ApplicationRecord | undefined {
    return this.applications.find((a) => a.appId === appId);
  }

  findServicePrincipalById(id: string): ServicePrincipalRecord | undefined {
    return this.servicePrincipals.find((s) => s.id === id);
  }

  findServicePrincipalByAppId(appId: string): ServicePrincipalRecord | undefined {
    return this.servicePrincipals.find((s) => s.appId === appId);
  }

  /** Application permissions (role values) granted to a service principal on Graph. */
  graphRolesOf(servicePrincipalId: string): string[] {
    const graphSp = this.findServicePrincipalById(this.graphServicePrincipalId);
    if (!graphSp) return [];
    return this.appRoleAssignments
      .filter((a) => a.principalId === servicePrincipalId && a.resourceId === graphSp.id)
      .map((a) => graphSp.appRoles.find((r) => r.id === a.appRoleId)?.value)
      .filter((v): v is string => typeof v === 'string');
  }

  /** Finds the live (not expired) credential of any application whose secret text matches. */
  findLiveCredentialBySecret(secret: string): { application: ApplicationRecord; keyId: string } | undefined {
    const now = this.now();
    for (const application of this.applications) {
      for (const c of application.passwordCredentials) {
        if (c.secretText === secret && Date.parse(c.endDateTime) > now) return { application, keyId: c.keyId };
      }
    }
    return undefined;
  }
}
