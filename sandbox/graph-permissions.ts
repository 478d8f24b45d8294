/**
 * The one table of Microsoft Graph application permissions the emulated Graph enforces, per
 * operation, as the Graph v1.0 permission tables state them. The product's least-privilege tests read
 * it too, so a permission the product forgets to request fails here exactly as it would in a tenant.
 */
import type { TokenClaims } from './types';

export interface PermissionRule {
  /** Any one of these roles allows the operation on every object. */
  anyObject: readonly string[];
  /** Any one of these roles allows the operation only on objects the caller's service principal owns. */
  ownedObjects: readonly string[];
}

export const GRAPH_PERMISSIONS = {
  'applications.read': {
    anyObject: ['Application.Read.All', 'Application.ReadWrite.All', 'Directory.Read.All'],
    ownedObjects: ['Application.ReadWrite.OwnedBy'],
  },
  /** Creating an application (POST, or PATCH with `Prefer: create-if-missing`); the caller becomes owner. */
  'applications.create': {
    anyObject: ['Application.ReadWrite.All', 'Application.ReadWrite.OwnedBy'],
    ownedObjects: [],
  },
  /** Update, delete, addPassword, removePassword. */
  'applications.write': {
    anyObject: ['Application.ReadWrite.All'],
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

export function reachOf(claims: TokenClaims, operation: GraphOperation): Reach {
  const roles = new Set(claims.roles ?? []);
  const rule: PermissionRule = GRAPH_PERMISSIONS[operation];
  if (rule.anyObject.some((r) => roles.has(r))) return 'all';
  if (rule.ownedObjects.some((r) => roles.has(r))) return 'owned';
  return 'none';
}

/** Every role that would allow `operation` on some object (for least-privilege checks). */
export function rolesAllowing(operation: GraphOperation): string[] {
  const rule: PermissionRule = GRAPH_PERMISSIONS[operation];
  return [...rule.anyObject, ...rule.ownedObjects];
}
