/**
 * Reads, from an F&O environment's `/data/$metadata` (an OData 4.0 CSDL XML document), whether the
 * FnoGraphMail extension is there: its credential entity set, its health entity set and its
 * SendTestEmail action. Pure: text in, three answers out.
 *
 * F&O's metadata document is large (tens of MB: every public entity with every property), and only a
 * few elements matter here, so the document is read in two passes that build almost nothing:
 * 1. `XMLValidator.validate` checks that the whole text is well-formed XML without building a tree (a
 *    truncated or garbled answer must not be read as "the extension is missing"; the parser alone is
 *    lenient about unclosed and mismatched tags);
 * 2. `XMLParser` with stop nodes: every element whose content is irrelevant (entity, complex and enum
 *    types, terms, functions, annotations, the content of entity sets) is kept as one unparsed string,
 *    so the tree holds schemas, containers, entity set names and actions with their parameters only.
 * Measured on a synthetic 32 MB document shaped like F&O's: about 0.8 s and under 10 MB of heap (a
 * full object tree of the same document takes about four times as long and over 100 MB).
 * No regular-expression pre-scan: a regex cannot tell an element from the same text inside a comment or
 * a CDATA section, and CSDL allows namespace prefixes and aliases that a regex would have to re-implement.
 *
 * CSDL rules applied (OData CSDL XML 4.01, https://docs.oasis-open.org/odata/odata-csdl-xml/v4.01/odata-csdl-xml-v4.01.html):
 * - elements are read by local name, whatever prefix the document binds the edm/edmx namespaces to;
 * - a qualified name is `<namespace or alias>.<name>`; aliases come from `Schema/@Alias` and from
 *   `edmx:Reference/edmx:Include/@Alias` (section "Alias");
 * - an action's namespace is that of the schema declaring it; a bound action's binding parameter is its
 *   first parameter, and `Collection(T)` binds it to a collection (sections "Action" and "Bound or
 *   Unbound Action or Function Overloads"); `IsBound` is an xs:boolean, so `1` means true too;
 * - entity sets are looked for in every entity container of every schema.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { FINOPS_ODATA_NAMESPACE, GRAPH_CREDENTIAL_ENTITY, GRAPH_EMAIL_HEALTH_ENTITY, SEND_TEST_EMAIL_ACTION } from '../contracts/finopsExtension';

/** What of the extension an environment's metadata declares. */
export interface FinOpsExtension {
  /** The credential entity set (the configured name) exists. */
  credentialEntity: boolean;
  /** `SendTestEmail` exists, bound to a collection of the credential entity type. */
  sendTestEmail: boolean;
  /** The health entity set exists. */
  emailHealth: boolean;
}

/** The text is not a CSDL document; `reason` says why, without quoting it. */
export class MalformedMetadataError extends Error {
  override name = 'MalformedMetadataError';
}

/** Elements whose content is never looked at: kept as text by the parser, not turned into objects. */
const UNREAD_CONTENT = [
  'EntityType',
  'ComplexType',
  'EnumType',
  'TypeDefinition',
  'Term',
  'Function',
  'Annotations',
  'Annotation',
  'EntitySet',
  'Singleton',
  'ActionImport',
  'FunctionImport',
  'ReturnType',
];

/** Elements read as lists whatever their count, so one and many look alike. */
const LISTS = new Set(['Reference', 'Include', 'Schema', 'EntityContainer', 'EntitySet', 'Action', 'Parameter']);

const ATTRIBUTE = '@';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE,
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // XML's own entities and character references (`&#114;`) in attribute values; a name may be written
  // with them. (HTML's named entities are decoded too, but a well-formed CSDL document cannot hold them.)
  htmlEntities: true,
  stopNodes: UNREAD_CONTENT.map((name) => `*.${name}`),
  isArray: (name, _path, _isLeaf, isAttribute) => !isAttribute && LISTS.has(name),
});

type XmlNode = Record<string, unknown>;

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function children(node: XmlNode, name: string): XmlNode[] {
  const value = node[name];
  return Array.isArray(value) ? value.filter(isNode) : [];
}

function attribute(node: XmlNode, name: string): string | undefined {
  const value = node[`${ATTRIBUTE}${name}`];
  return typeof value === 'string' ? value.trim() : undefined;
}

/** Parses the document far enough to know its schemas; throws MalformedMetadataError otherwise. */
function readSchemas(text: string): { schemas: XmlNode[]; qualify: (name: string) => string } {
  const xml = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new MalformedMetadataError(`the metadata is not well-formed XML (${valid.err.msg.replace(/\s+/g, ' ').slice(0, 200)} at line ${valid.err.line})`);
  }
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (e) {
    throw new MalformedMetadataError(`the metadata could not be read as XML (${e instanceof Error ? e.message.slice(0, 200) : 'parser error'})`);
  }
  // One root element (the validator accepts several), and it is edmx:Edmx holding edmx:DataServices.
  const roots = isNode(document) ? Object.keys(document) : [];
  const edmx = isNode(document) ? document['Edmx'] : undefined;
  const dataServices = isNode(edmx) ? edmx['DataServices'] : undefined;
  if (roots.length !== 1 || !isNode(edmx) || !isNode(dataServices)) {
    throw new MalformedMetadataError('the metadata is XML but not an OData CSDL document (no Edmx/DataServices)');
  }
  const schemas = children(dataServices, 'Schema');
  const aliases = new Map<string, string>();
  for (const include of children(edmx, 'Reference').flatMap((r) => children(r, 'Include'))) {
    const namespace = attribute(include, 'Namespace');
    const alias = attribute(include, 'Alias');
    if (namespace && alias) aliases.set(alias, namespace);
  }
  for (const schema of schemas) {
    const namespace = attribute(schema, 'Namespace');
    const alias = attribute(schema, 'Alias');
    if (namespace && alias) aliases.set(alias, namespace);
  }
  /** `alias.Name` → `Namespace.Name`; `Collection(…)` keeps its wrapper. */
  const qualify = (name: string): string => {
    const collection = /^Collection\((.*)\)$/.exec(name);
    if (collection) return `Collection(${qualify((collection[1] ?? '').trim())})`;
    const dot = name.lastIndexOf('.');
    if (dot <= 0) return name;
    const namespace = aliases.get(name.slice(0, dot));
    return namespace === undefined ? name : `${namespace}.${name.slice(dot + 1)}`;
  };
  return { schemas, qualify };
}

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}

/**
 * The extension as the metadata declares it. `credentialEntitySet` is the configured name of the
 * credential entity set (FINOPS_CREDENTIAL_ENTITY); the action must be bound to a collection of that
 * set's entity type (the contract's type when the set is absent).
 */
export function extensionInMetadata(text: string, credentialEntitySet: string): FinOpsExtension {
  const { schemas, qualify } = readSchemas(text);
  const entitySets = new Map<string, string>();
  for (const set of schemas.flatMap((s) => children(s, 'EntityContainer')).flatMap((c) => children(c, 'EntitySet'))) {
    const name = attribute(set, 'Name');
    if (name !== undefined && !entitySets.has(name)) entitySets.set(name, qualify(attribute(set, 'EntityType') ?? ''));
  }
  const credentialType = entitySets.get(credentialEntitySet) ?? `${FINOPS_ODATA_NAMESPACE}.${GRAPH_CREDENTIAL_ENTITY.entityType}`;
  const binding = `Collection(${credentialType})`;
  const sendTestEmail = schemas
    .filter((schema) => attribute(schema, 'Namespace') === FINOPS_ODATA_NAMESPACE)
    .flatMap((schema) => children(schema, 'Action'))
    .some((action) => {
      if (attribute(action, 'Name') !== SEND_TEST_EMAIL_ACTION.name || !isTrue(attribute(action, 'IsBound'))) return false;
      const first = children(action, 'Parameter')[0];
      const type = first ? attribute(first, 'Type') : undefined;
      return type !== undefined && qualify(type) === binding;
    });
  return {
    credentialEntity: entitySets.has(credentialEntitySet),
    sendTestEmail,
    emailHealth: entitySets.has(GRAPH_EMAIL_HEALTH_ENTITY.entitySet),
  };
}
