/**
 * Names of the FnoGraphMail extension model for Finance and Operations (finops/FnoGraphMail) as its
 * OData endpoint shows them: entity sets, entity types, properties, the SendTestEmail action and the
 * security objects to assign. One source of truth: the model's XML is tested against this module
 * (test/finops), and the product's F&O client and emulated F&O take their defaults from it.
 */

/** Namespace of entity types, enums and actions on F&O's `/data` endpoint. */
export const FINOPS_ODATA_NAMESPACE = 'Microsoft.Dynamics.DataEntities' as const;

/** The model (and package) that holds the extension. */
export const FINOPS_EXTENSION_MODEL = 'FnoGraphMail' as const;

/**
 * The Graph credential of the email parameters. Same record and key (`ID`) as the standard
 * `EmailParameters` entity. `ClientSecret` is write-only: PATCH sets it, reads return it empty.
 */
export const GRAPH_CREDENTIAL_ENTITY = {
  dataEntity: 'FnoGraphMailCredentialEntity',
  entitySet: 'GraphEmailCredentials',
  entityType: 'GraphEmailCredential',
  key: ['ID'],
  fields: {
    id: 'ID',
    batchEmailProvider: 'BatchEmailProvider',
    applicationId: 'ApplicationId',
    clientSecret: 'ClientSecret',
    credentialSetAt: 'CredentialSetAt',
  },
  /** Accepted on write, never returned on read. */
  writeOnlyFields: ['ClientSecret'],
  /** Returned on read, ignored on write (set by F&O when a secret is written). */
  readOnlyFields: ['CredentialSetAt'],
} as const;

/**
 * Unbound action on the credential entity set: sends one test message through F&O's batch email
 * provider when it is Graph. POST `/data/GraphEmailCredentials/Microsoft.Dynamics.DataEntities.SendTestEmail`
 * with `{ "recipient": "<one address>" }`; the answer's `value` is `<status>: <sentence>`.
 */
export const SEND_TEST_EMAIL_ACTION = {
  name: 'SendTestEmail',
  /** The X++ method behind it, as the privilege grants it. */
  method: 'sendTestEmail',
  entitySet: GRAPH_CREDENTIAL_ENTITY.entitySet,
  parameter: 'recipient',
  path: `/data/${GRAPH_CREDENTIAL_ENTITY.entitySet}/${FINOPS_ODATA_NAMESPACE}.SendTestEmail`,
  statuses: {
    sent: 'Sent',
    failed: 'Failed',
    notGraph: 'NotGraph',
    invalidRecipient: 'InvalidRecipient',
  },
} as const;

/**
 * Read-only email health, one record keyed like the email parameters. No message bodies, subjects
 * or recipients; email addresses inside `LastFailureDetails` are replaced by `[address]`.
 */
export const GRAPH_EMAIL_HEALTH_ENTITY = {
  dataEntity: 'FnoGraphMailHealthEntity',
  entitySet: 'GraphEmailHealth',
  entityType: 'GraphEmailHealthStatus',
  key: ['ID'],
  fields: {
    id: 'ID',
    batchEmailProvider: 'BatchEmailProvider',
    lastSuccessAt: 'LastSuccessAt',
    lastSuccessProvider: 'LastSuccessProvider',
    failuresLast24Hours: 'FailuresLast24Hours',
    lastFailureAt: 'LastFailureAt',
    lastFailureDetails: 'LastFailureDetails',
    queuedMessages: 'QueuedMessages',
  },
  addressPlaceholder: '[address]',
} as const;

/** What to give the F&O user mapped to the product's Entra application (through a role). */
export const FINOPS_EXTENSION_SECURITY = {
  privilege: 'FnoGraphMailCredentialMaintain',
  duty: 'FnoGraphMailMaintain',
} as const;
