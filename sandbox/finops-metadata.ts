/**
 * The emulated F&O's `/data/$metadata`: an OData 4.0 CSDL (EDMX) document in F&O's shape, with the
 * standard `EmailParameter` entity type and `EmailParameters` set, plus, only while the FnoGraphMail
 * extension is deployed, its two entity types and sets and the `SendTestEmail` action, under the names of
 * src/contracts/finopsExtension.ts.
 *
 * The shape follows what F&O publishes, as seen in public samples of real F&O metadata:
 * - one `Schema` with `Namespace="Microsoft.Dynamics.DataEntities"` (the namespace:
 *   https://learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/data-entities/odata) holding enum
 *   types, entity types, actions and one `EntityContainer Name="Resources"`: the container name and the
 *   `NoYes` enum type (members No = 0, Yes = 1) appear alike in the test fixtures of several independent
 *   public tools that parse F&O's $metadata (Microsoft does not document the container's name);
 * - an X++ OData action is an `Action IsBound="true"` whose first parameter is named after the entity
 *   type and typed `Collection(<type>)` for a static method (`SysODataActionAttribute(name, false)`) or
 *   `<type>` for an instance method, followed by the X++ parameters (a $metadata excerpt of a real
 *   environment: https://nuxulu.com/2021-05-25-all-about-odata-actions-in-dynamics-365-finance-and-operations);
 * - `Microsoft.Dynamics.OData.Core.V1.IsReadOnly` on read-only entity types (seen in public fixtures of
 *   F&O metadata; not documented by Microsoft, so a guess).
 * Property facets (MaxLength) follow the extended data types of the model (finops/FnoGraphMail/AxEdt).
 */
import { FINOPS_ODATA_NAMESPACE, GRAPH_CREDENTIAL_ENTITY, GRAPH_EMAIL_HEALTH_ENTITY, SEND_TEST_EMAIL_ACTION } from '../src/contracts/finopsExtension';
import type { FinOpsGraphCredentialEntityConfig } from './types';

export const EMAIL_PARAMETERS_ENTITY_SET = 'EmailParameters';
export const EMAIL_PARAMETERS_ENTITY_TYPE = 'EmailParameter';
const NS = FINOPS_ODATA_NAMESPACE;

interface PropertyDef {
  name: string;
  type: string;
  nullable?: boolean;
  maxLength?: number;
}

interface EntityTypeDef {
  name: string;
  key: readonly string[];
  properties: PropertyDef[];
  readOnly?: boolean;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function property(p: PropertyDef): string {
  const facets = [p.nullable === false ? ' Nullable="false"' : '', p.maxLength !== undefined ? ` MaxLength="${p.maxLength}"` : ''].join('');
  return `<Property Name="${escapeXml(p.name)}" Type="${escapeXml(p.type)}"${facets} />`;
}

function entityType(def: EntityTypeDef): string {
  return [
    `      <EntityType Name="${escapeXml(def.name)}">`,
    `        <Key>${def.key.map((k) => `<PropertyRef Name="${escapeXml(k)}" />`).join('')}</Key>`,
    ...def.properties.map((p) => `        ${property(p)}`),
    ...(def.readOnly ? ['        <Annotation Term="Microsoft.Dynamics.OData.Core.V1.IsReadOnly" Bool="true" />'] : []),
    '      </EntityType>',
  ].join('\n');
}

const NO_YES = `${NS}.NoYes`;

/** The standard entity as the sandbox serves it: SMTP fields and the batch email provider. */
const EMAIL_PARAMETER_TYPE: EntityTypeDef = {
  name: EMAIL_PARAMETERS_ENTITY_TYPE,
  key: ['ID'],
  properties: [
    { name: 'ID', type: 'Edm.String', nullable: false },
    { name: 'MaximumEmailAttachmentSize', type: 'Edm.Int32', nullable: false },
    { name: 'SMTPUseNTLM', type: NO_YES, nullable: false },
    { name: 'SMTPPortNumber', type: 'Edm.Int32', nullable: false },
    { name: 'SMTPRelayServerName', type: 'Edm.String' },
    { name: 'SMTPUserName', type: 'Edm.String' },
    { name: 'SMTPRequireSSL', type: NO_YES, nullable: false },
    { name: 'MailerNonInteractive', type: 'Edm.String' },
    { name: 'MailerInteractiveEnabled', type: NO_YES, nullable: false },
  ],
};

/**
 * The credential entity's type name: the contract's, or for a deployment that renamed the entity set
 * (`FINOPS_CREDENTIAL_ENTITY`) the set's name without its plural `s` (guess: the public entity name of a
 * renamed copy is not known to the sandbox).
 */
export function credentialEntityType(config: FinOpsGraphCredentialEntityConfig): string {
  return config.entitySet === GRAPH_CREDENTIAL_ENTITY.entitySet ? GRAPH_CREDENTIAL_ENTITY.entityType : config.entitySet.replace(/s$/, '');
}

function credentialType(config: FinOpsGraphCredentialEntityConfig): EntityTypeDef {
  const f = GRAPH_CREDENTIAL_ENTITY.fields;
  return {
    name: credentialEntityType(config),
    key: GRAPH_CREDENTIAL_ENTITY.key,
    properties: [
      { name: f.id, type: 'Edm.String', nullable: false },
      { name: f.batchEmailProvider, type: 'Edm.String' },
      { name: config.applicationIdField, type: 'Edm.String', maxLength: 36 },
      { name: config.secretField, type: 'Edm.String', maxLength: 255 },
      { name: f.credentialSetAt, type: 'Edm.DateTimeOffset', nullable: false },
    ],
  };
}

const HEALTH_TYPE: EntityTypeDef = (() => {
  const f = GRAPH_EMAIL_HEALTH_ENTITY.fields;
  return {
    name: GRAPH_EMAIL_HEALTH_ENTITY.entityType,
    key: GRAPH_EMAIL_HEALTH_ENTITY.key,
    readOnly: true,
    properties: [
      { name: f.id, type: 'Edm.String', nullable: false },
      { name: f.batchEmailProvider, type: 'Edm.String' },
      { name: f.lastSuccessAt, type: 'Edm.DateTimeOffset', nullable: false },
      { name: f.lastSuccessProvider, type: 'Edm.String' },
      { name: f.failuresLast24Hours, type: 'Edm.Int32', nullable: false },
      { name: f.lastFailureAt, type: 'Edm.DateTimeOffset', nullable: false },
      { name: f.lastFailureDetails, type: 'Edm.String', maxLength: 1000 },
      { name: f.queuedMessages, type: 'Edm.Int32', nullable: false },
    ],
  };
})();

function sendTestEmailAction(config: FinOpsGraphCredentialEntityConfig): string {
  const bound = credentialEntityType(config);
  return [
    `      <Action Name="${SEND_TEST_EMAIL_ACTION.name}" IsBound="true">`,
    `        <Parameter Name="${escapeXml(bound)}" Type="Collection(${NS}.${escapeXml(bound)})" />`,
    `        <Parameter Name="${SEND_TEST_EMAIL_ACTION.parameter}" Type="Edm.String" />`,
    '        <ReturnType Type="Edm.String" />',
    '      </Action>',
  ].join('\n');
}

/** The entity sets the environment serves, with their entity type names. */
export function entitySets(config: FinOpsGraphCredentialEntityConfig, extensionInstalled: boolean): Array<{ name: string; type: string }> {
  return [
    { name: EMAIL_PARAMETERS_ENTITY_SET, type: EMAIL_PARAMETERS_ENTITY_TYPE },
    ...(extensionInstalled
      ? [
          { name: config.entitySet, type: credentialEntityType(config) },
          { name: GRAPH_EMAIL_HEALTH_ENTITY.entitySet, type: GRAPH_EMAIL_HEALTH_ENTITY.entityType },
        ]
      : []),
  ];
}

/** The CSDL document of `/data/$metadata`. */
export function metadataDocument(config: FinOpsGraphCredentialEntityConfig, extensionInstalled: boolean): string {
  const types = [EMAIL_PARAMETER_TYPE, ...(extensionInstalled ? [credentialType(config), HEALTH_TYPE] : [])];
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
    '  <edmx:DataServices>',
    `    <Schema Namespace="${NS}" xmlns="http://docs.oasis-open.org/odata/ns/edm">`,
    '      <EnumType Name="NoYes">',
    '        <Member Name="No" Value="0" />',
    '        <Member Name="Yes" Value="1" />',
    '      </EnumType>',
    ...types.map(entityType),
    ...(extensionInstalled ? [sendTestEmailAction(config)] : []),
    '      <EntityContainer Name="Resources">',
    ...entitySets(config, extensionInstalled).map((s) => `        <EntitySet Name="${escapeXml(s.name)}" EntityType="${NS}.${escapeXml(s.type)}" />`),
    '      </EntityContainer>',
    '    </Schema>',
    '  </edmx:DataServices>',
    '</edmx:Edmx>',
    '',
  ].join('\n');
}
