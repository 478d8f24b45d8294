/**
 * Shared shapes of the sandbox: the emulated directory, vault and F&O environments, and the
 * request/response contract every emulated service implements. No service module touches HTTP
 * directly: the server turns wire requests into `SandboxRequest` and back.
 */

export type ServiceName = 'entra' | 'graph' | 'keyvault' | 'finops';

/** Claims of an access token the sandbox issued (and verified on the way back in). */
export interface TokenClaims {
  aud: string;
  iss: string;
  tid: string;
  /** Client id of the caller (`appid` in v1 tokens, `azp` in v2). */
  appid: string;
  azp: string;
  /** Object id of the caller's service principal. */
  oid: string;
  sub: string;
  idtyp: 'app';
  roles?: string[];
  iat: number;
  nbf: number;
  exp: number;
}

export interface SandboxRequest {
  service: ServiceName;
  /** For F&O: the environment id whose server received the request. */
  environmentId?: string;
  method: string;
  /** Decoded path without query, e.g. `/v1.0/applications(uniqueName='x')`. */
  path: string;
  /** Raw path as received (still percent-encoded). */
  rawPath: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  body: Buffer;
  /** Absolute origin this request arrived on, e.g. `https://localhost:8443`. */
  origin: string;
}

export interface SandboxResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings/Buffers as-is; undefined = no body. */
  body?: unknown;
}

export type ServiceHandler = (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;

export interface RequiredResourceAccess {
  resourceAppId: string;
  resourceAccess: Array<{ id: string; type: 'Role' | 'Scope' }>;
}

export interface PasswordCredentialRecord {
  keyId: string;
  displayName: string | null;
  hint: string;
  customKeyIdentifier: null;
  startDateTime: string;
  endDateTime: string;
  /** The secret text (sandbox-internal; never returned except by addPassword). */
  secretText: string;
  /** Virtual time (ms) from which the secret is usable for token requests (propagation delay). */
  usableFrom: number;
}

export interface ApplicationRecord {
  id: string;
  appId: string;
  uniqueName: string | null;
  displayName: string;
  signInAudience: string;
  description: string | null;
  notes: string | null;
  tags: string[];
  requiredResourceAccess: RequiredResourceAccess[];
  passwordCredentials: PasswordCredentialRecord[];
  /** Object ids of the directory objects (service principals or users) that own this application. */
  owners: string[];
  createdDateTime: string;
  /** Virtual ms until which reads of this fresh object answer with replication-lag errors. */
  visibleFrom: number;
  /** Federated identity credentials (absent = none). */
  federatedIdentityCredentials?: FederatedIdentityCredentialRecord[];
  /** App Instance Lock of the app's service principals in other tenants (absent or null = not configured). */
  servicePrincipalLockConfiguration?: ServicePrincipalLockConfiguration | null;
  /** Id of the app management policy assigned to this application (absent = none). */
  appManagementPolicyId?: string | null;
  /** `web.redirectUris`: where Entra may send a person back, e.g. after an admin consent (absent = none). */
  webRedirectUris?: string[];
}

/**
 * A federated identity credential of an application, as Graph shows it
 * (https://learn.microsoft.com/en-us/graph/api/resources/federatedidentitycredential?view=graph-rest-1.0).
 */
export interface FederatedIdentityCredentialRecord {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  description: string | null;
  audiences: string[];
  /** Virtual ms from which Entra matches assertions against it (propagation, AADSTS70021 before). */
  usableFrom: number;
}

/**
 * App Instance Lock (https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipallockconfiguration?view=graph-rest-1.0).
 */
export interface ServicePrincipalLockConfiguration {
  isEnabled: boolean;
  allProperties: boolean;
  credentialsWithUsageVerify: boolean;
  credentialsWithUsageSign: boolean;
  tokenEncryptionKeyId: boolean;
}

export interface AppRole {
  id: string;
  value: string;
  displayName: string;
  allowedMemberTypes: string[];
  isEnabled: boolean;
  description: string;
}

export interface PermissionScope {
  id: string;
  value: string;
  type: 'User' | 'Admin';
  isEnabled: boolean;
  adminConsentDisplayName: string;
  adminConsentDescription: string;
}

export interface ServicePrincipalRecord {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalType: 'Application' | 'ManagedIdentity';
  appRoles: AppRole[];
  oauth2PermissionScopes: PermissionScope[];
  createdDateTime: string;
  visibleFrom: number;
  /** Object ids of service principals that own this one (Graph's `Application.ReadWrite.OwnedBy` scope). */
  owners?: string[];
  /** Client secrets added to the service principal itself (`POST /servicePrincipals/{id}/addPassword`). */
  passwordCredentials?: PasswordCredentialRecord[];
}

export interface AppRoleAssignmentRecord {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: 'ServicePrincipal';
  principalDisplayName: string;
  resourceId: string;
  resourceDisplayName: string;
  createdDateTime: string;
  deletedDateTime: null;
}

export interface OAuth2PermissionGrantRecord {
  id: string;
  clientId: string;
  consentType: 'AllPrincipals' | 'Principal';
  principalId: string | null;
  resourceId: string;
  scope: string;
}

export interface SentMailRecord {
  /** Mailbox (UPN) the message was sent as. */
  from: string;
  /** Client id of the app that sent it. */
  senderAppId: string;
  subject: string;
  to: string[];
  body: string;
  sentAt: string;
  /** Tenant of the mailbox (absent = the home tenant). */
  tenantId?: string;
}

export interface UserRecord {
  id: string;
  userPrincipalName: string;
  mail: string;
  displayName: string;
}

export interface SecretVersionRecord {
  version: string;
  value: string;
  contentType: string | null;
  tags: Record<string, string>;
  enabled: boolean;
  /** Epoch seconds, or null. */
  nbf: number | null;
  exp: number | null;
  created: number;
  updated: number;
}

export interface SecretRecord {
  name: string;
  /** Oldest first; the last element is the current version. */
  versions: SecretVersionRecord[];
  /** Set when soft-deleted: epoch seconds of deletion. */
  deletedDate: number | null;
}

export interface EmailParametersRecord {
  ID: string;
  MaximumEmailAttachmentSize: number;
  SMTPUseNTLM: string;
  SMTPPortNumber: number;
  SMTPRelayServerName: string;
  SMTPUserName: string;
  SMTPRequireSSL: string;
  MailerNonInteractive: string;
  MailerInteractiveEnabled: string;
}

export interface FinOpsEnvironmentRecord {
  id: string;
  /** Origin of this environment's server, e.g. `https://localhost:8445`. */
  url: string;
  /**
   * The Microsoft Entra tenant the environment belongs to: its email batch signs in there and sends as a
   * mailbox of that tenant. Default: the sandbox tenant.
   */
  tenantId: string;
  emailParameters: EmailParametersRecord;
  /**
   * The Graph credential of the email parameters (the Microsoft Graph settings tab). `secret` is the
   * value this environment can decrypt, null when none is held or the held one is unreadable here.
   */
  graphCredential: { applicationId: string | null; secret: string | null };
  /**
   * Set after a database copy: the environment whose encryption key sealed the secret now held, which
   * this environment cannot decrypt (F&O encrypts per environment). Null when the secret, if any, is its own.
   */
  foreignSecretFrom: string | null;
  /** When a client secret was last written through the credential entity (the extension's table column), ISO or null. */
  credentialSetAt: string | null;
  /** Client ids registered under System administration > Microsoft Entra applications. */
  registeredClients: string[];
  /** Whether the FnoGraphMail extension (credential and health entities, SendTestEmail) is deployed. */
  extensionInstalled: boolean;
  /** The Email distributor batch job. */
  batch: FinOpsBatchRecord;
  /** The outgoing email queue (SysOutgoingEmailTable), oldest first. */
  outgoingEmail: FinOpsOutgoingEmailRecord[];
  /** Email history (SysEmailHistory), newest first. */
  emailHistory: FinOpsEmailHistoryRecord[];
}

/** The Email distributor batch job of one environment (System administration > Periodic tasks > Email processing > Batch). */
export interface FinOpsBatchRecord {
  running: boolean;
  /** Recurrence in minutes of virtual time. */
  intervalMinutes: number;
  /** Mailbox (UPN) of the F&O user the batch job runs as: the sender with the Graph provider. */
  user: string;
  /** Virtual epoch ms at which the next run is due while running; null while stopped. */
  nextRunAt: number | null;
}

/** One message waiting in the outgoing email queue. */
export interface FinOpsOutgoingEmailRecord {
  id: string;
  subject: string;
  to: string[];
  body: string;
  /** ISO virtual time the message was queued. */
  queuedAt: string;
  /** Failed send attempts so far. */
  attempts: number;
}

/** One send attempt as F&O's Email history page shows it, without recipients, subject or body. */
export interface FinOpsEmailHistoryRecord {
  /** ISO virtual time of the attempt. */
  at: string;
  /** The provider that made the attempt (`MailerNonInteractive` at the time): SMTP, Exchange or Graph. */
  provider: string;
  status: 'sent' | 'failed';
  /** Failure details, worded as the Email history's Failure details tab shows them. */
  error?: string;
  /** Graph only: the Entra key id of the client secret behind the access token used, null when unknown. */
  keyId?: string | null;
}

/**
 * Names of the customer-deployed F&O entity that carries the Graph application id and secret (F&O's
 * standard `EmailParameters` entity does not). Its single record shares the key of `EmailParameters`
 * (`{entitySet}(ID='{EmailParameters ID}')`) because it extends the same parameters table.
 */
export interface FinOpsGraphCredentialEntityConfig {
  entitySet: string;
  applicationIdField: string;
  secretField: string;
}

export interface Fault {
  service: ServiceName;
  method?: string;
  pathPattern?: string;
  /** HTTP status, or 0 for a connection reset. */
  status: number;
  count: number;
  retryAfterSeconds?: number;
  /** Optional service error code to put in the body (e.g. `Request_ResourceNotFound`). */
  code?: string;
  message?: string;
  /**
   * Only requests concerning this subject: an app's `uniqueName`, a Key Vault secret name or an F&O
   * environment id (see faultScope.ts).
   */
  concerning?: string | undefined;
  /**
   * The fault comes after the service: the request is served against the state first (a write is
   * committed, Event Grid hears of it), then the caller gets the fault instead of the answer, as when a
   * gateway times out or a connection drops after the backend has done the work.
   */
  after?: boolean;
}

/** A record of one request the sandbox served (for API-economy counting). */
export interface CallRecord {
  service: ServiceName;
  method: string;
  path: string;
  /** What the caller got: the service's status, an injected fault's, or 0 for a dropped connection. */
  status: number;
  at: number;
  /** Only for a fault injected `after`: the status the service answered before the fault replaced it. */
  servedStatus?: number;
  /** The injected fault that answered this call, if any (without its remaining count). */
  fault?: Omit<Fault, 'count'>;
}
