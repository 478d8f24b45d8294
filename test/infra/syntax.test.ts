/**
 * What the Bicep compiler would reject, checked without it: every template parses with the Bicep
 * grammar, every name used is declared and every declaration is used, local modules exist and receive
 * exactly the parameters they declare, module outputs read by the caller exist, resource types carry an
 * API version and registry modules a pinned version.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { INFRA_DIR, loadBicep, parseBicep, type BicepFile } from './bicep';

const FILES = ['main.bicep', 'rbac.bicep', ...readdirSync(join(INFRA_DIR, 'app')).filter((f) => f.endsWith('.bicep')).map((f) => `app/${f}`)];

/**
 * Outputs of the pinned Azure Verified Modules that main.bicep reads. They cannot be fetched here, so
 * this is the list of outputs those versions are known to publish (the azd quickstarts read the same).
 */
const AVM_OUTPUTS: Record<string, string[]> = {
  'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1': ['name', 'resourceId', 'clientId', 'principalId'],
  'br/public:avm/res/web/serverfarm:0.1.1': ['name', 'resourceId'],
  'br/public:avm/res/storage/storage-account:0.8.3': ['name', 'resourceId', 'primaryBlobEndpoint'],
  'br/public:avm/res/operational-insights/workspace:0.11.1': ['name', 'resourceId'],
  'br/public:avm/res/insights/component:0.6.0': ['name', 'resourceId', 'connectionString'],
};

const files = new Map<string, BicepFile>();

beforeAll(async () => {
  for (const f of FILES) files.set(f, await loadBicep(f));
});

function file(name: string): BicepFile {
  const found = files.get(name);
  if (!found) throw new Error(`${name} was not loaded`);
  return found;
}

function declaredSymbols(bicep: BicepFile): string[] {
  return [...bicep.params.keys(), ...bicep.vars.keys(), ...bicep.resources.map((r) => r.symbol), ...bicep.modules.map((m) => m.symbol)];
}

describe('Bicep syntax and references', () => {
  it('finds the templates', () => {
    expect(FILES.sort()).toEqual(['app/alerts.bicep', 'app/api.bicep', 'app/eventgrid.bicep', 'app/keyvault.bicep', 'main.bicep', 'rbac.bicep']);
  });

  it('parses every template without a syntax error', () => {
    for (const name of FILES) expect([name, file(name).problems]).toEqual([name, []]);
  });

  it('reports the syntax errors the compiler would (so the check above can fail)', async () => {
    const unclosed = await parseBicep("param a string\nresource r 'Microsoft.Web/sites@2024-04-01' = {\n  name: a\n  properties: {\n    httpsOnly: true\n}\n");
    expect(unclosed.problems.length).toBeGreaterThan(0);
    const badString = await parseBicep("var v = 'unterminated\nvar w = 1\n");
    expect(badString.problems.length).toBeGreaterThan(0);
    const stray = await parseBicep('var v = [ 1, 2 ]]\n');
    expect(stray.problems.length).toBeGreaterThan(0);
  });

  it('declares each symbol once and uses every parameter and variable', () => {
    for (const name of FILES) {
      const bicep = file(name);
      const symbols = declaredSymbols(bicep);
      expect([name, symbols.filter((s, i) => symbols.indexOf(s) !== i)]).toEqual([name, []]);
      const unused = [...bicep.params.keys(), ...bicep.vars.keys()].filter((s) => !bicep.references.has(s));
      expect([name, unused]).toEqual([name, []]);
    }
  });

  it('uses no name it does not declare', () => {
    for (const name of FILES) {
      const bicep = file(name);
      const symbols = new Set(declaredSymbols(bicep));
      const undeclared = [...bicep.references.keys()].filter((s) => !symbols.has(s));
      expect([name, undeclared]).toEqual([name, []]);
    }
  });

  it('catches an unused parameter and a misspelled reference (so the checks above can fail)', async () => {
    const bicep = await parseBicep("param used string\nparam forgotten string\noutput o string = '${used}-${usd}'\n");
    expect([...bicep.params.keys()].filter((p) => !bicep.references.has(p))).toEqual(['forgotten']);
    expect([...bicep.references.keys()].filter((r) => !bicep.params.has(r))).toEqual(['usd']);
  });

  it('gives every resource type an API version', () => {
    for (const name of FILES) {
      for (const r of file(name).resources) {
        expect([name, r.symbol, r.type]).toEqual([name, r.symbol, expect.stringMatching(/^Microsoft\.[A-Za-z]+(\/[A-Za-z]+)+$/)]);
        expect([name, r.symbol, r.apiVersion]).toEqual([name, r.symbol, expect.stringMatching(/^\d{4}-\d{2}-\d{2}(-preview)?$/)]);
      }
    }
  });

  it('points every local module at an existing file and passes exactly its parameters', () => {
    for (const name of FILES) {
      for (const m of file(name).modules.filter((mod) => !mod.source.startsWith('br/'))) {
        const target = join(name.includes('/') ? join(INFRA_DIR, 'app') : INFRA_DIR, m.source).replace(`${INFRA_DIR}/`, '');
        const callee = files.get(target);
        expect([name, m.source, callee !== undefined]).toEqual([name, m.source, true]);
        if (!callee) continue;
        const passed = Object.keys((m.body.params ?? {}) as object);
        const unknown = passed.filter((p) => !callee.params.has(p));
        const missing = [...callee.params.values()].filter((p) => p.defaultValue === undefined && !passed.includes(p.name)).map((p) => p.name);
        expect([m.source, unknown, missing]).toEqual([m.source, [], []]);
        expect([m.source, typeof m.body.name]).toEqual([m.source, 'string']);
      }
    }
  });

  it('pins every registry module to a version and reads only outputs the modules have', () => {
    for (const name of FILES) {
      const bicep = file(name);
      for (const m of bicep.modules.filter((mod) => mod.source.startsWith('br/'))) {
        expect(m.source).toMatch(/^br\/public:avm\/res\/[a-z-]+\/[a-z-]+:\d+\.\d+\.\d+$/);
        expect([m.source, AVM_OUTPUTS[m.source] !== undefined]).toEqual([m.source, true]);
      }
      for (const [, symbol, output] of bicep.text.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
        const m = bicep.modules.find((mod) => mod.symbol === symbol);
        expect([name, symbol, m !== undefined]).toEqual([name, symbol, true]);
        if (!m) continue;
        // main.bicep is the only caller and sits in infra/, so a local source is relative to infra/.
        const available = m.source.startsWith('br/') ? (AVM_OUTPUTS[m.source] ?? []) : [...(files.get(m.source)?.outputs.keys() ?? [])];
        expect([name, `${symbol}.outputs.${output}`, available.includes(output ?? '')]).toEqual([name, `${symbol}.outputs.${output}`, true]);
      }
    }
  });

  it('gives every parameter of main.bicep a default or an azd value', async () => {
    const { parameters } = (await import('../../infra/main.parameters.json')) as { parameters: Record<string, unknown> };
    const main = file('main.bicep');
    for (const param of main.params.values()) {
      expect([param.name, param.defaultValue !== undefined || param.name in parameters]).toEqual([param.name, true]);
    }
    expect(main.params.get('location')?.decorators.get('metadata')).toEqual([{ azd: { type: 'location' } }]);
  });
});
