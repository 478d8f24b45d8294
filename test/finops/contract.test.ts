/**
 * The model's public OData names are the ones the product uses (src/contracts/finopsExtension.ts):
 * entity sets and types, properties and keys, the SendTestEmail action with its parameter and status
 * words. Read from the parsed AOT XML and the X++ inside it.
 */
import {
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../../src/contracts/finopsExtension';
import {
  attributesOf,
  child,
  children,
  loadObject,
  objectNames,
  signatureOf,
  sourceOf,
  textOf,
  tokenize,
  type XmlNode,
} from './finopsModel';

interface EntityField {
  name: string;
  type: string;
  dataSource?: string | undefined;
  dataField?: string | undefined;
  edt?: string | undefined;
  isComputed?: string | undefined;
}

function fieldsOf(entity: XmlNode): EntityField[] {
  return children(child(entity, 'Fields'), 'AxDataEntityViewField').map((f) => ({
    name: textOf(f, 'Name') ?? '',
    type: String(f['@_i:type']),
    ...(textOf(f, 'DataSource') !== undefined ? { dataSource: textOf(f, 'DataSource') } : {}),
    ...(textOf(f, 'DataField') !== undefined ? { dataField: textOf(f, 'DataField') } : {}),
    ...(textOf(f, 'ExtendedDataType') !== undefined ? { edt: textOf(f, 'ExtendedDataType') } : {}),
    ...(textOf(f, 'IsComputedField') !== undefined ? { isComputed: textOf(f, 'IsComputedField') } : {}),
  }));
}

function primaryKeyFields(entity: XmlNode): string[] {
  const keyName = textOf(entity, 'PrimaryKey');
  const key = children(child(entity, 'Keys'), 'AxDataEntityViewKey').find((k) => textOf(k, 'Name') === keyName);
  return children(child(key, 'Fields'), 'AxDataEntityViewKeyField').map((f) => textOf(f, 'DataField') ?? '');
}

function rootDataSources(entity: XmlNode): { name: string; table: string }[] {
  return children(child(child(entity, 'ViewMetadata'), 'DataSources'), 'AxQuerySimpleRootDataSource').map((d) => ({
    name: textOf(d, 'Name') ?? '',
    table: textOf(d, 'Table') ?? '',
  }));
}

/** Entity fields that X++ fills on read and handles on write: unmapped, not computed by SQL. */
function isVirtual(field: EntityField | undefined): boolean {
  return field !== undefined && field.type.startsWith('AxDataEntityViewUnmappedField') && field.isComputed === 'No';
}

describe.each([
  ['credential', GRAPH_CREDENTIAL_ENTITY],
  ['email health', GRAPH_EMAIL_HEALTH_ENTITY],
] as const)('the %s entity', (_label, contract) => {
  const entity = loadObject('AxDataEntityView', contract.dataEntity);
  const fields = fieldsOf(entity);

  it('is public under the contract entity set and entity type', () => {
    expect(textOf(entity, 'IsPublic')).toBe('Yes');
    expect(textOf(entity, 'PublicCollectionName')).toBe(contract.entitySet);
    expect(textOf(entity, 'PublicEntityName')).toBe(contract.entityType);
  });

  it('has exactly the contract fields', () => {
    expect(fields.map((f) => f.name).sort()).toEqual(Object.values(contract.fields).slice().sort());
  });

  it('is keyed by the email parameters record key, like EmailParameters', () => {
    expect(primaryKeyFields(entity)).toEqual([...contract.key]);
    expect(rootDataSources(entity)).toEqual([{ name: 'SysEmailParameters', table: 'SysEmailParameters' }]);
    const id = fields.find((f) => f.name === contract.fields.id);
    expect(id).toMatchObject({ type: 'AxDataEntityViewMappedField', dataSource: 'SysEmailParameters', dataField: 'Key' });
    const provider = fields.find((f) => f.name === contract.fields.batchEmailProvider);
    expect(provider).toMatchObject({ type: 'AxDataEntityViewMappedField', dataSource: 'SysEmailParameters', dataField: 'MailerNonInteractive' });
  });

  it('types every other field with an EDT of the model or of F&O', () => {
    const modelEdts = objectNames('AxEdt');
    for (const f of fields.filter((x) => x.type !== 'AxDataEntityViewMappedField')) {
      expect({ field: f.name, virtual: isVirtual(f) }).toEqual({ field: f.name, virtual: true });
      // SysMailerId is F&O's own EDT of the provider id (SysEmailParameters.MailerNonInteractive).
      expect([...modelEdts, 'SysMailerId']).toContain(f.edt);
    }
  });
});

describe('the credential entity', () => {
  const entity = loadObject('AxDataEntityView', GRAPH_CREDENTIAL_ENTITY.dataEntity);
  const fields = fieldsOf(entity);

  it('carries the application id, the secret and the time it was set as X++-handled virtual fields', () => {
    for (const name of [GRAPH_CREDENTIAL_ENTITY.fields.applicationId, ...GRAPH_CREDENTIAL_ENTITY.writeOnlyFields, ...GRAPH_CREDENTIAL_ENTITY.readOnlyFields]) {
      expect({ name, virtual: isVirtual(fields.find((f) => f.name === name)) }).toEqual({ name, virtual: true });
    }
  });

  it('is not a data management (import/export) entity', () => {
    expect(textOf(entity, 'DataManagementEnabled')).toBe('No');
  });
});

describe('the email health entity', () => {
  it('is read-only', () => {
    expect(textOf(loadObject('AxDataEntityView', GRAPH_EMAIL_HEALTH_ENTITY.dataEntity), 'IsReadOnly')).toBe('Yes');
  });

  it('replaces addresses in failure texts with the contract placeholder', () => {
    const tokens = tokenize(sourceOf(loadObject('AxClass', 'FnoGraphMailFailureText')).declaration);
    const at = tokens.findIndex((t) => t.text === 'AddressPlaceholder');
    expect(tokens.slice(at + 1, at + 3).map((t) => t.text)).toEqual(['=', `'${GRAPH_EMAIL_HEALTH_ENTITY.addressPlaceholder}'`]);
  });
});

describe('the SendTestEmail action', () => {
  const actions = objectNames('AxDataEntityView').flatMap((entityName) =>
    sourceOf(loadObject('AxDataEntityView', entityName)).methods.flatMap((m) =>
      attributesOf(m.source)
        .filter((a) => a.name === 'SysODataActionAttribute' || a.name === 'SysODataAction')
        .map((a) => ({ entityName, method: m, attribute: a })),
    ),
  );

  it('is the one OData action of the model, on the credential entity, unbound (static)', () => {
    expect(actions.map((a) => [a.entityName, a.attribute.args])).toEqual([
      [GRAPH_CREDENTIAL_ENTITY.dataEntity, [`'${SEND_TEST_EMAIL_ACTION.name}'`, 'false']],
    ]);
    const signature = signatureOf(actions[0]?.method.source ?? '');
    expect(signature.name).toBe(SEND_TEST_EMAIL_ACTION.method);
    expect(actions[0]?.method.name).toBe(SEND_TEST_EMAIL_ACTION.method);
    expect(signature.modifiers).toEqual(['public', 'static']);
    expect(signature.returnType).toBe('str');
  });

  it('takes one parameter named as the contract says (the OData parameter is the X++ parameter name)', () => {
    const signature = signatureOf(actions[0]?.method.source ?? '');
    expect(signature.parameters.map((p) => p.name)).toEqual([SEND_TEST_EMAIL_ACTION.parameter]);
  });

  it('answers with the contract status words', () => {
    const tokens = tokenize(sourceOf(loadObject('AxClass', 'FnoGraphMailTestEmail')).declaration);
    const constants: Record<string, string> = {};
    tokens.forEach((t, i) => {
      if (t.text === 'const' && tokens[i + 1]?.text === 'str' && tokens[i + 3]?.text === '=' && tokens[i + 2]?.text.startsWith('Status')) {
        constants[tokens[i + 2]?.text ?? ''] = (tokens[i + 4]?.text ?? '').slice(1, -1);
      }
    });
    expect(Object.values(constants).sort()).toEqual(Object.values(SEND_TEST_EMAIL_ACTION.statuses).slice().sort());
    // Every answer of send() is built from one of those constants.
    const send = sourceOf(loadObject('AxClass', 'FnoGraphMailTestEmail')).methods.find((m) => m.name === 'send');
    const body = tokenize(send?.source ?? '');
    const returns = body.flatMap((t, i) => (t.text === 'return' ? [body.slice(i + 1, i + 9).map((x) => x.text).join('')] : []));
    expect(returns.length).toBeGreaterThan(0);
    for (const r of returns) expect(r).toMatch(/^FnoGraphMailTestEmail::status\(FnoGraphMailTestEmail::Status[A-Za-z]+,/);
  });

  it('has the documented address on the OData endpoint', () => {
    expect(SEND_TEST_EMAIL_ACTION.path).toBe('/data/GraphEmailCredentials/Microsoft.Dynamics.DataEntities.SendTestEmail');
  });
});
