/**
 * The privilege grants exactly the model's entities and its OData action, and nothing else; the duty
 * holds exactly that privilege. Names as the product documents them (src/contracts/finopsExtension.ts).
 */
import {
  FINOPS_EXTENSION_SECURITY,
  GRAPH_CREDENTIAL_ENTITY,
  GRAPH_EMAIL_HEALTH_ENTITY,
  SEND_TEST_EMAIL_ACTION,
} from '../../src/contracts/finopsExtension';
import { attributesOf, child, childNames, children, loadObject, objectNames, sourceOf, textOf, type XmlNode } from './finopsModel';

function grants(node: XmlNode): string[] {
  const grant = child(node, 'Grant');
  return childNames(grant)
    .filter((g) => textOf(grant, g) === 'Allow')
    .sort();
}

/** The OData actions of a data entity: X++ methods carrying SysODataActionAttribute. */
function actionMethods(entityName: string): string[] {
  return sourceOf(loadObject('AxDataEntityView', entityName))
    .methods.filter((m) => attributesOf(m.source).some((a) => a.name === 'SysODataActionAttribute' || a.name === 'SysODataAction'))
    .map((m) => m.name)
    .sort();
}

const privilege = loadObject('AxSecurityPrivilege', FINOPS_EXTENSION_SECURITY.privilege);
const permissions = children(child(privilege, 'DataEntityPermissions'), 'AxSecurityDataEntityPermission');

describe(`privilege ${FINOPS_EXTENSION_SECURITY.privilege}`, () => {
  it('is the only privilege of the model', () => {
    expect(objectNames('AxSecurityPrivilege')).toEqual([FINOPS_EXTENSION_SECURITY.privilege]);
  });

  it("grants exactly the model's data entities", () => {
    expect(permissions.map((p) => textOf(p, 'Name')).sort()).toEqual(objectNames('AxDataEntityView'));
  });

  it('lets the credential be read and updated, and the health only be read', () => {
    const byEntity = Object.fromEntries(permissions.map((p) => [textOf(p, 'Name'), grants(p)]));
    expect(byEntity).toEqual({
      [GRAPH_CREDENTIAL_ENTITY.dataEntity]: ['Read', 'Update'],
      [GRAPH_EMAIL_HEALTH_ENTITY.dataEntity]: ['Read'],
    });
  });

  it('lets exactly the OData actions of each entity be invoked', () => {
    for (const permission of permissions) {
      const entityName = textOf(permission, 'Name') ?? '';
      const methods = children(child(permission, 'Methods'), 'AxSecurityDataEntityMethodPermission');
      expect({ entityName, methods: methods.map((m) => textOf(m, 'Name')).sort() }).toEqual({ entityName, methods: actionMethods(entityName) });
      for (const m of methods) expect(grants(m)).toEqual(['Invoke']);
      expect(children(child(permission, 'Fields'), 'AxSecurityDataEntityFieldPermission')).toEqual([]);
    }
    expect(actionMethods(GRAPH_CREDENTIAL_ENTITY.dataEntity)).toEqual([SEND_TEST_EMAIL_ACTION.method]);
  });

  it('grants nothing else: no menu items, services, tables or form controls', () => {
    for (const other of ['EntryPoints', 'DirectAccessPermissions', 'FormControlOverrides']) {
      expect({ other, children: childNames(child(privilege, other)) }).toEqual({ other, children: [] });
    }
    expect(childNames(privilege).sort()).toEqual(
      ['DataEntityPermissions', 'Description', 'DirectAccessPermissions', 'EntryPoints', 'FormControlOverrides', 'Label', 'Name'].sort(),
    );
  });
});

describe(`duty ${FINOPS_EXTENSION_SECURITY.duty}`, () => {
  it('is the only duty of the model and holds exactly the privilege', () => {
    expect(objectNames('AxSecurityDuty')).toEqual([FINOPS_EXTENSION_SECURITY.duty]);
    const duty = loadObject('AxSecurityDuty', FINOPS_EXTENSION_SECURITY.duty);
    expect(children(child(duty, 'Privileges'), 'AxSecurityPrivilegeReference').map((p) => textOf(p, 'Name'))).toEqual([FINOPS_EXTENSION_SECURITY.privilege]);
  });

  it('is the only security object the model ships besides the privilege', () => {
    expect(objectNames('AxSecurityRole')).toEqual([]);
    expect(objectNames('AxSecurityRoleExtension')).toEqual([]);
    expect(objectNames('AxSecurityDutyExtension')).toEqual([]);
  });
});
