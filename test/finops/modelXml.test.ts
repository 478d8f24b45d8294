/**
 * The FnoGraphMail model is stored as F&O stores a model: well-formed XML files, the descriptor under
 * Descriptor/, and each AOT object in the folder of its type, named as its file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FINOPS_EXTENSION_MODEL } from '../../src/contracts/finopsExtension';
import { children, FINOPS_ROOT, listXmlFiles, MODEL, OBJECTS_ROOT, PACKAGE_ROOT, parseXmlText, rootOf, textOf, wellFormed } from './finopsModel';

describe('FnoGraphMail model files', () => {
  const files = listXmlFiles();

  it('has XML files to check', () => {
    // The model's objects: descriptor, 3 classes, 2 entities, 6 EDTs, 1 table extension, privilege, duty.
    expect(files.map((f) => path.relative(FINOPS_ROOT, f).split(path.sep).join('/'))).toEqual([
      'FnoGraphMail/Descriptor/FnoGraphMail.xml',
      'FnoGraphMail/FnoGraphMail/AxClass/FnoGraphMailFailureText.xml',
      'FnoGraphMail/FnoGraphMail/AxClass/FnoGraphMailParametersFields.xml',
      'FnoGraphMail/FnoGraphMail/AxClass/FnoGraphMailTestEmail.xml',
      'FnoGraphMail/FnoGraphMail/AxDataEntityView/FnoGraphMailCredentialEntity.xml',
      'FnoGraphMail/FnoGraphMail/AxDataEntityView/FnoGraphMailHealthEntity.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailApplicationId.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailClientSecret.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailCredentialSetAt.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailEventAt.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailFailureDetails.xml',
      'FnoGraphMail/FnoGraphMail/AxEdt/FnoGraphMailMessageCount.xml',
      'FnoGraphMail/FnoGraphMail/AxSecurityDuty/FnoGraphMailMaintain.xml',
      'FnoGraphMail/FnoGraphMail/AxSecurityPrivilege/FnoGraphMailCredentialMaintain.xml',
      'FnoGraphMail/FnoGraphMail/AxTableExtension/SysEmailParameters.FnoGraphMail.xml',
    ]);
  });

  it.each(files.map((f) => [path.relative(FINOPS_ROOT, f), f]))('%s is well-formed XML', (_relative, file) => {
    expect(wellFormed(readFileSync(file, 'utf8'))).toBe(true);
  });

  it('has a model descriptor named like the model and its package', () => {
    const root = rootOf(parseXmlText(readFileSync(path.join(PACKAGE_ROOT, 'Descriptor', `${MODEL}.xml`), 'utf8')));
    expect(root.name).toBe('AxModelInfo');
    expect(MODEL).toBe(FINOPS_EXTENSION_MODEL);
    expect(textOf(root.node, 'Name')).toBe(FINOPS_EXTENSION_MODEL);
    expect(textOf(root.node, 'ModelModule')).toBe(FINOPS_EXTENSION_MODEL);
    const modules = children(root.node, 'ModuleReferences').flatMap((refs) => children(refs, 'd2p1:string').map((s) => String(s['#text'])));
    expect(modules.sort()).toEqual(['ApplicationFoundation', 'ApplicationPlatform']);
  });

  it.each(files.filter((f) => f.startsWith(OBJECTS_ROOT + path.sep)).map((f) => [path.relative(OBJECTS_ROOT, f), f]))(
    '%s sits in the folder of its type and carries its file name',
    (_relative, file) => {
      const type = path.basename(path.dirname(file));
      const root = rootOf(parseXmlText(readFileSync(file, 'utf8')));
      expect(root.name).toBe(type);
      expect(textOf(root.node, 'Name')).toBe(path.basename(file, '.xml'));
    },
  );
});
