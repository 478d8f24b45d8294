/**
 * The one table of Microsoft Graph application permissions the emulated Graph enforces, per
 * operation, as the Graph permission tables state them. The product's least-privilege tests read
 * it too, so a permission the product forgets to request fails here exactly as it would in a tenant.
 *
 * An entry is a role, or a list of roles that are needed together (Graph writes "A and B").
 */
import type { TokenClaims } from './types';

export type PermissionEntry = string | readonly string[];

export interface PermissionRule {
  /** Any one of these entries allows the operation on every object. */
  anyObject: readonly PermissionEntry[];
  /** Any one of these entries allows the operation only on objects the caller's service principal owns. */
  ownedObjects: readonly PermissionEntry[];
}

export const GRAPH_PERMISSIONS = {
  /**
   * `Application.ReadWrite.OwnedBy` reads every application: the List and Get applications tables
   * name it among the application permissions (https://learn.microsoft.com/en-us/graph/api/application-list?view=graph-rest-1.0);
   * only its writes are limited to owned applications. The same holds for `owners` and
   * `federatedIdentityCredentials` (https://learn.microsoft.com/en-us/graph/api/application-list-owners?view=graph-rest-1.0,
   * https://learn.microsoft.com/en-us/graph/api/application-list-federatedidentitycredentials?view=graph-rest-1.0).
   */
  'applications.read': {
    anyObject: ['Application.Read.All', 'Application.ReadWrite.OwnedBy', 'Application.ReadWrite.All', 'Directory.Read.All'],
    ownedObjects: [],
  },
  /** Creating an application (POST, or PATCH with `Prefer: create-if-missing`); the caller becomes owner. */
  'applications.create': {
    anyObject: ['Application.ReadWrite.All', 'Application.ReadWrite.OwnedBy'],
    ownedObjects: [],
  },
  /**
   * Update, delete, addPassword, removePassword, federated identity credentials: "It cannot update any
   * apps that it is not an owner of" (https://learn.microsoft.com/en-us/graph/permissions-reference#applicationreadwriteownedby).
   */
  'applications.write': {
    anyObject: ['Application.ReadWrite.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  /** `POST /applications/{id}/owners/$ref` (https://learn.microsoft.com/en-us/graph/api/application-post-owners?view=graph-rest-1.0). */
  'applications.owners.write': {
    anyObject: [['Application.ReadWrite.All', 'Directory.Read.All'], 'Directory.ReadWrite.All'],
    ownedObjects: [['Application.ReadWrite.OwnedBy', 'Directory.Read.All']],
  },
  /**
   * `DELETE /applications/{id}/owners/{id}/$ref` (https://learn.microsoft.com/en-us/graph/api/application-delete-owners?view=graph-rest-1.0):
   * unlike adding one, removing an owner takes no Directory.Read.All.
   */
  'applications.owners.remove': {
    anyObject: ['Application.ReadWrite.All', 'Directory.ReadWrite.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  'servicePrincipals.read': {
    anyObject: [
      'Application.Read.All',
      'Application.ReadWrite.All',
      'Application.ReadWrite.OwnedBy',
      'AppRoleAssignment.ReadWrite.All',
      'Directory.Read.All',
    ],
    ownedObjects: [],
  },
  /** Ownership is checked on the application the service principal is created for. */
  'servicePrincipals.create': {
    anyObject: ['Application.ReadWrite.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  /** `addPassword` / `removePassword` on a service principal (https://learn.microsoft.com/en-us/graph/api/serviceprincipal-addpassword?view=graph-rest-1.0). */
  'servicePrincipals.write': {
    anyObject: ['Application.ReadWrite.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  'appRoleAssignments.read': {
    anyObject: ['AppRoleAssignment.ReadWrite.All', 'Application.Read.All', 'Directory.Read.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  'appRoleAssignments.write': {
    anyObject: ['AppRoleAssignment.ReadWrite.All'],
    ownedObjects: [],
  },
  'oauth2PermissionGrants.read': {
    anyObject: ['DelegatedPermissionGrant.ReadWrite.All', 'Directory.Read.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  'oauth2PermissionGrants.write': {
    anyObject: ['DelegatedPermissionGrant.ReadWrite.All'],
    ownedObjects: [],
  },
  /**
   * Reading app management policies, the tenant default included
   * (https://learn.microsoft.com/en-us/graph/api/tenantappmanagementpolicy-get?view=graph-rest-1.0,
   * https://learn.microsoft.com/en-us/graph/api/appmanagementpolicy-list?view=graph-rest-1.0).
   */
  'policies.read': {
    anyObject: ['Policy.Read.All', 'Policy.ReadWrite.ApplicationConfiguration'],
    ownedObjects: [],
  },
  'policies.write': {
    anyObject: ['Policy.ReadWrite.ApplicationConfiguration'],
    ownedObjects: [],
  },
  /** `POST /applications/{id}/appManagementPolicies/$ref` (v1.0: "Application.Read.All and Policy.ReadWrite.ApplicationConfiguration"). */
  'policies.assign': {
    anyObject: [
      ['Application.Read.All', 'Policy.ReadWrite.ApplicationConfiguration'],
      ['Application.ReadWrite.All', 'Policy.ReadWrite.ApplicationConfiguration'],
    ],
    ownedObjects: [],
  },
  /**
   * `GET /auditLogs/signIns` needs both, a documented known issue
   * (https://learn.microsoft.com/en-us/graph/api/signin-list?view=graph-rest-beta).
   */
  'auditLogs.signIns.read': {
    anyObject: [['AuditLog.Read.All', 'Directory.Read.All']],
    ownedObjects: [],
  },
  /** `GET /reports/appCredentialSignInActivities` (https://learn.microsoft.com/en-us/graph/api/reportroot-list-appcredentialsigninactivities?view=graph-rest-beta). */
  'reports.credentialActivity.read': {
    anyObject: ['AuditLog.Read.All', 'Directory.Read.All'],
    ownedObjects: [],
  },
  'users.read': {
    anyObject: ['User.ReadBasic.All', 'User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All'],
    ownedObjects: [],
  },
  'mail.send': {
    anyObject: ['Mail.Send'],
    ownedObjects: [],
  },
} as const satisfies Record<string, PermissionRule>;

export type GraphOperation = keyof typeof GRAPH_PERMISSIONS;

/** How far a caller may go: everywhere, only on owned objects, or not at all. */
export type Reach = 'all' | 'owned' | 'none';

function held(roles: Set<string>, entry: PermissionEntry): boolean {
  return typeof entry === 'string' ? roles.has(entry) : entry.every((r) => roles.has(r));
}

export function reachOf(claims: TokenClaims, operation: GraphOperation): Reach {
  const roles = new Set(claims.roles ?? []);
  const rule: PermissionRule = GRAPH_PERMISSIONS[operation];
  if (rule.anyObject.some((e) => held(roles, e))) return 'all';
  if (rule.ownedObjects.some((e) => held(roles, e))) return 'owned';
  return 'none';
}

/** Every role that takes part in allowing `operation` on some object (for least-privilege checks). */
export function rolesAllowing(operation: GraphOperation): string[] {
  const rule: PermissionRule = GRAPH_PERMISSIONS[operation];
  return [...new Set([...rule.anyObject, ...rule.ownedObjects].flatMap((e) => (typeof e === 'string' ? [e] : [...e])))];
}

/** The roles of an operation as Graph's tables write them, e.g. `AuditLog.Read.All and Directory.Read.All`. */
export function describeRule(operation: GraphOperation): string[] {
  const rule: PermissionRule = GRAPH_PERMISSIONS[operation];
  return [...rule.anyObject, ...rule.ownedObjects].map((e) => (typeof e === 'string' ? e : e.join(' and ')));
}
