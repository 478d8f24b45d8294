/**
 * Well-known identifiers the product relies on: Microsoft Graph's app and permission ids (the same in
 * every tenant), the names of the Key Vault tags that make a secret the registry entry of one
 * environment, and the marker value that tells the product's secrets from anyone else's.
 */

/** Application (client) id of Microsoft Graph; its service principal object id differs per tenant. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

/** `Mail.Send` application permission (app role) of Microsoft Graph. */
export const MAIL_SEND_ROLE_ID = 'b633e1c5-b582-4048-a93e-9f11b44c7e96';
export const MAIL_SEND_ROLE_VALUE = 'Mail.Send';

/** `User.Read` delegated permission (scope) of Microsoft Graph. */
export const USER_READ_SCOPE_ID = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d';
export const USER_READ_SCOPE_VALUE = 'User.Read';

/** Value of the `managed-by` tag (and the prefix of credential display names) marking the product's objects. */
export const MANAGED_BY_MARKER = 'fno-graph-mail';

/**
 * Tags of an environment's Key Vault secret. The vault is the registry: these tags, never the value,
 * are all the sweep reads. Tag names are part of the product's public contract (documented in docs/operating.md).
 */
export const SECRET_TAGS = {
  managedBy: 'managed-by',
  environmentId: 'environment-id',
  environmentUrl: 'environment-url',
  tenantId: 'tenant-id',
  appId: 'app-id',
  appObjectId: 'app-object-id',
  credentialKeyId: 'credential-key-id',
  /** The run that created this version; a retried creation recognises its own work by it. */
  operationId: 'operation-id',
  /** `true` once F&O holds this version (written by OData or confirmed by a person). */
  delivered: 'delivered-to-finops',
  /** The group or mailboxes Exchange RBAC for Applications limits sending to (absent: tenant-wide Mail.Send). */
  mailboxScope: 'mailbox-scope',
  /** What Entra and F&O show of F&O using this version's credential (`formatEvidenceTag` in evidence.ts). */
  finOpsEvidence: 'finops-evidence',
} as const;

export type SecretTagName = (typeof SECRET_TAGS)[keyof typeof SECRET_TAGS];

/**
 * Tags of a customer tenant's Key Vault record (partner mode): where the tenant stands with the operator
 * application. Part of the public contract like `SECRET_TAGS` (docs/operating.md). Permission lists are
 * comma-separated.
 */
export const TENANT_TAGS = {
  managedBy: SECRET_TAGS.managedBy,
  record: 'record',
  tenantId: SECRET_TAGS.tenantId,
  consent: 'consent',
  operatorAppId: 'operator-app-id',
  requiredPermissions: 'required-permissions',
  grantedPermissions: 'granted-permissions',
  onboardedAt: 'onboarded-at',
  checkedAt: 'checked-at',
} as const;

/** Value of the `record` tag of a tenant record. */
export const TENANT_RECORD_KIND = 'tenant';

/** Content type of a tenant record, whose value is a plain note (Key Vault requires one), never a secret. */
export const TENANT_RECORD_CONTENT_TYPE = 'text/plain; purpose=tenant-record';

/** Content type stored with each client secret in Key Vault, so a person browsing the vault knows what it is. */
export const CLIENT_SECRET_CONTENT_TYPE = 'text/plain; purpose=graph-client-secret';
