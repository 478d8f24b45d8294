/**
 * One Entra tenant of the sandbox: its directory (applications, service principals, consents, users
 * and mailboxes), its app management policies, its Entra licence and its sign-in log. The home tenant
 * holds the function app's managed identity, the vault and the seeded F&O environments; customer
 * tenants are added for partner mode. An application object lives in exactly one tenant (its home);
 * a multi-tenant application is present in other tenants only as a service principal.
 */
import type {
  ApplicationRecord,
  AppRoleAssignmentRecord,
  OAuth2PermissionGrantRecord,
  ServicePrincipalRecord,
  UserRecord,
} from './types';

/** Id of the tenant-wide default app management policy, as Graph reports it in policy errors. */
export const TENANT_APP_MANAGEMENT_POLICY_ID = '00000000-0000-0000-0000-000000000000';

export type PasswordRestrictionType =
  | 'passwordAddition'
  | 'passwordLifetime'
  | 'symmetricKeyAddition'
  | 'symmetricKeyLifetime'
  | 'customPasswordAddition'
  | 'unknownFutureValue';

/**
 * One `passwordCredentialConfiguration`
 * (https://learn.microsoft.com/en-us/graph/api/resources/passwordcredentialconfiguration?view=graph-rest-1.0).
 */
export interface PasswordCredentialConfiguration {
  restrictionType: PasswordRestrictionType;
  /** `disabled` = not evaluated (the way an app-specific policy exempts an app). */
  state: 'enabled' | 'disabled';
  /** ISO 8601 duration; required for the lifetime restrictions. */
  maxLifetime: string | null;
  /** Applies to apps created on or after this time; null = every app. */
  restrictForAppsCreatedAfterDateTime: string | null;
  excludeActors: unknown;
}

/** Restrictions on key credentials are stored and shown, not enforced (the sandbox has no addKey). */
export type KeyCredentialConfiguration = Record<string, unknown>;

export interface AppCredentialRestrictions {
  passwordCredentials: PasswordCredentialConfiguration[];
  keyCredentials: KeyCredentialConfiguration[];
}

/** The tenant default (https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy?view=graph-rest-1.0). */
export interface TenantAppManagementPolicyRecord {
  displayName: string;
  description: string;
  isEnabled: boolean;
  /** Applications owned by this tenant. */
  applicationRestrictions: AppCredentialRestrictions;
  /** Service principals of applications from other tenants. */
  servicePrincipalRestrictions: AppCredentialRestrictions;
}

/** An app-specific policy (https://learn.microsoft.com/en-us/graph/api/resources/appmanagementpolicy?view=graph-rest-1.0). */
export interface AppManagementPolicyRecord {
  id: string;
  displayName: string;
  description: string;
  isEnabled: boolean;
  restrictions: AppCredentialRestrictions;
}

export type ClientCredentialType = 'none' | 'clientSecret' | 'clientAssertion' | 'federatedIdentityCredential' | 'managedIdentity' | 'certificate';

/**
 * One entry of the tenant's sign-in log, in the beta `signIn` resource's terms
 * (https://learn.microsoft.com/en-us/graph/api/resources/signin?view=graph-rest-beta).
 */
export interface SignInRecord {
  /** Also the request id of the token request (its `trace_id` / `x-ms-request-id`). */
  id: string;
  /** Virtual epoch ms of the sign-in. */
  at: number;
  appId: string;
  appDisplayName: string;
  servicePrincipalId: string;
  servicePrincipalName: string;
  /** keyId of the password credential used; '' when none was (assertions, unknown secrets). */
  servicePrincipalCredentialKeyId: string;
  clientCredentialType: ClientCredentialType;
  federatedCredentialId: string | null;
  resourceId: string;
  resourceDisplayName: string;
  resourceServicePrincipalId: string;
  signInEventTypes: Array<'servicePrincipal' | 'managedIdentity'>;
  correlationId: string;
  ipAddress: string;
  errorCode: number;
  failureReason: string | null;
}

function emptyRestrictions(): AppCredentialRestrictions {
  return { passwordCredentials: [], keyCredentials: [] };
}

/** What `GET /policies/defaultAppManagementPolicy` shows in a tenant nobody configured. */
export function defaultTenantPolicy(): TenantAppManagementPolicyRecord {
  return {
    displayName: 'Default app management tenant policy',
    description:
      'Default tenant policy that enforces app management restrictions on applications and service principals. To apply policy to targeted resources, create a new policy under appManagementPolicies collection.',
    isEnabled: false,
    applicationRestrictions: emptyRestrictions(),
    servicePrincipalRestrictions: emptyRestrictions(),
  };
}

export interface TenantInit {
  tenantId: string;
  /** Short name, e.g. `contoso`; the verified domain is `{name}.onmicrosoft.com`. */
  name: string;
  isHome: boolean;
}

export class TenantDirectory {
  readonly tenantId: string;
  readonly name: string;
  readonly verifiedDomain: string;
  readonly isHome: boolean;

  applications: ApplicationRecord[] = [];
  servicePrincipals: ServicePrincipalRecord[] = [];
  appRoleAssignments: AppRoleAssignmentRecord[] = [];
  oauth2PermissionGrants: OAuth2PermissionGrantRecord[] = [];
  users: UserRecord[] = [];
  /** Object id of Microsoft Graph's service principal in this tenant (set by seeding). */
  graphServicePrincipalId = '';
  /** The mailbox F&O sends as (set by seeding). */
  senderMailbox = '';
  /** Entra ID P1/P2: required to read sign-in logs through Graph. */
  premiumLicense = true;
  defaultAppManagementPolicy: TenantAppManagementPolicyRecord = defaultTenantPolicy();
  appManagementPolicies: AppManagementPolicyRecord[] = [];
  /** Oldest first. */
  signIns: SignInRecord[] = [];

  constructor(init: TenantInit) {
    this.tenantId = init.tenantId;
    this.name = init.name;
    this.verifiedDomain = `${init.name}.onmicrosoft.com`;
    this.isHome = init.isHome;
  }

  /** True for the tenant's GUID or its verified domain (Entra accepts both in authority paths). */
  isNamed(tenant: string): boolean {
    const t = tenant.toLowerCase();
    return t === this.tenantId.toLowerCase() || t === this.verifiedDomain.toLowerCase();
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

  findUser(idOrUpn: string): UserRecord | undefined {
    const wanted = idOrUpn.toLowerCase();
    return this.users.find((u) => u.id.toLowerCase() === wanted || u.userPrincipalName.toLowerCase() === wanted || u.mail.toLowerCase() === wanted);
  }

  /** Application permissions (role values) granted to a service principal on Graph in this tenant. */
  graphRolesOf(servicePrincipalId: string): string[] {
    const graphSp = this.findServicePrincipalById(this.graphServicePrincipalId);
    if (!graphSp) return [];
    return this.appRoleAssignments
      .filter((a) => a.principalId === servicePrincipalId && a.resourceId === graphSp.id)
      .map((a) => graphSp.appRoles.find((r) => r.id === a.appRoleId)?.value)
      .filter((v): v is string => typeof v === 'string');
  }
}
