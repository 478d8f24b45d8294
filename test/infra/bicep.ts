/**
 * Test helper: reads the Bicep templates under infra/ with the tree-sitter Bicep grammar (its WebAssembly
 * build, so no Bicep CLI and no network) into a small model: parameters with their decorators and defaults,
 * variables, resources (with nested child resources), modules and outputs. Literal values become plain
 * JSON values; anything computed stays an expression with its source text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export const INFRA_DIR = join(__dirname, '..', '..', 'infra');

/** A value Bicep computes at deployment time (a reference, a function call, an interpolated string...). */
export class BicepExpr {
  constructor(readonly text: string) {}
}

export type BicepValue = string | number | boolean | null | BicepExpr | BicepValue[] | { [key: string]: BicepValue };
export type BicepObject = { [key: string]: BicepValue };

export interface BicepParam {
  name: string;
  type: string;
  defaultValue: BicepValue | undefined;
  /** Decorator name → its arguments. */
  decorators: Map<string, BicepValue[]>;
}

export interface BicepResource {
  symbol: string;
  /** e.g. `Microsoft.KeyVault/vaults`; a nested child's type is its parent's type plus its own segment. */
  type: string;
  apiVersion: string;
  existing: boolean;
  /** Source text of the `if (...)` condition, when there is one. */
  condition: string | undefined;
  body: BicepObject;
  /** Symbol of the enclosing resource for a nested declaration. */
  parentSymbol: string | undefined;
}

export interface BicepModule {
  symbol: string;
  source: string;
  condition: string | undefined;
  body: BicepObject;
}

export interface BicepOutput {
  name: string;
  type: string;
  value: BicepValue;
}

export interface ParseProblem {
  line: number;
  column: number;
  text: string;
}

export interface BicepFile {
  path: string;
  text: string;
  problems: ParseProblem[];
  targetScope: string | undefined;
  params: Map<string, BicepParam>;
  vars: Map<string, BicepValue>;
  resources: BicepResource[];
  modules: BicepModule[];
  outputs: Map<string, BicepOutput>;
  /** Every identifier used in an expression (declaration names excluded), with its count. */
  references: Map<string, number>;
}

let parserPromise: Promise<Parser> | undefined;

/** One parser for the whole test file; the grammar ships as WebAssembly inside the tree-sitter-bicep package. */
export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    // Bytes, not a path: loading by path makes the library use a dynamic import, which Jest's CommonJS sandbox refuses.
    const language = await Language.load(new Uint8Array(readFileSync(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'))));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

function unquote(node: Node): string | undefined {
  if (node.type !== 'string') return undefined;
  const parts = node.namedChildren;
  if (parts.some((p) => p.type === 'interpolation')) return undefined;
  const text = parts.map((p) => (p.type === 'escape_sequence' ? unescape(p.text) : p.text)).join('');
  // Bicep drops the line break right after the opening ''' of a multi-line string.
  return node.text.startsWith("'''") ? text.replace(/^\r?\n/, '') : text;
}

function unescape(sequence: string): string {
  const map: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };
  return map[sequence] ?? sequence;
}

function objectKey(node: Node): string {
  return unquote(node) ?? node.text;
}

function toValue(node: Node, nested: (decl: Node) => void): BicepValue {
  switch (node.type) {
    case 'string':
      return unquote(node) ?? new BicepExpr(node.text);
    case 'number':
      return Number(node.text);
    case 'boolean':
      return node.text === 'true';
    case 'null':
      return null;
    case 'array':
      return node.namedChildren.map((c) => toValue(c, nested));
    case 'object':
      return toObject(node, nested);
    default:
      return new BicepExpr(node.text);
  }
}

function toObject(node: Node, nested: (decl: Node) => void): BicepObject {
  const result: BicepObject = {};
  for (const property of node.namedChildren) {
    if (property.type !== 'object_property') continue;
    const [key, value] = property.namedChildren;
    if (!key) continue;
    if (key.type === 'resource_declaration') {
      nested(key);
      continue;
    }
    if (!value) continue;
    result[objectKey(key)] = toValue(value, nested);
  }
  return result;
}

function decoratorsOf(node: Node): Map<string, BicepValue[]> {
  const decorators = new Map<string, BicepValue[]>();
  const previous = node.previousNamedSibling;
  if (previous?.type !== 'decorators') return decorators;
  for (const decorator of previous.namedChildren) {
    const call = decorator.namedChildren[0];
    if (call?.type !== 'call_expression') continue;
    const [name, args] = call.namedChildren;
    if (!name) continue;
    decorators.set(name.text, (args?.namedChildren ?? []).map((a) => toValue(a, () => undefined)));
  }
  return decorators;
}

function problemsOf(root: Node): ParseProblem[] {
  const problems: ParseProblem[] = [];
  const visit = (node: Node): void => {
    if (node.type === 'ERROR' || node.isMissing) {
      problems.push({ line: node.startPosition.row + 1, column: node.startPosition.column + 1, text: node.text.slice(0, 80) });
      return;
    }
    if (node.hasError) for (const child of node.children) visit(child);
  };
  visit(root);
  return problems;
}

/** Names that identifier nodes carry where they declare something, not where they use it. */
function isDeclarationName(node: Node): boolean {
  const parent = node.parent;
  if (!parent) return false;
  const declaring = ['parameter_declaration', 'variable_declaration', 'resource_declaration', 'module_declaration', 'output_declaration'];
  if (declaring.includes(parent.type) && parent.namedChildren[0]?.id === node.id) return true;
  // Object keys and decorator / function names are not references to declarations either.
  if (parent.type === 'object_property' && parent.namedChildren[0]?.id === node.id) return true;
  if (parent.type === 'call_expression' && parent.namedChildren[0]?.id === node.id) return true;
  return false;
}

function parseDeclarations(root: Node, file: BicepFile): void {
  const addResource = (decl: Node, parent: BicepResource | undefined): void => {
    const [symbolNode, typeNode, bodyNode] = decl.namedChildren;
    if (!symbolNode || !typeNode || !bodyNode) return;
    const typeText = unquote(typeNode) ?? typeNode.text;
    const [typeName = '', apiVersion = ''] = typeText.split('@');
    const children: Node[] = [];
    const conditional = bodyNode.type === 'if_statement';
    const objectNode = conditional ? bodyNode.namedChildren.find((c) => c.type === 'object') : bodyNode;
    const resource: BicepResource = {
      symbol: symbolNode.text,
      type: parent && !typeName.includes('/') ? `${parent.type}/${typeName}` : typeName,
      apiVersion: apiVersion || (parent?.apiVersion ?? ''),
      existing: decl.children.some((c) => c.type === 'existing'),
      condition: conditional ? bodyNode.namedChildren[0]?.text : undefined,
      body: objectNode ? toObject(objectNode, (child) => children.push(child)) : {},
      parentSymbol: parent?.symbol,
    };
    file.resources.push(resource);
    for (const child of children) addResource(child, resource);
  };

  for (const node of root.namedChildren) {
    switch (node.type) {
      case 'target_scope_assignment': {
        const value = node.namedChildren[0];
        file.targetScope = value ? unquote(value) : undefined;
        break;
      }
      case 'parameter_declaration': {
        const [name, type, value] = node.namedChildren;
        if (!name || !type) break;
        file.params.set(name.text, {
          name: name.text,
          type: type.text,
          defaultValue: value ? toValue(value, () => undefined) : undefined,
          decorators: decoratorsOf(node),
        });
        break;
      }
      case 'variable_declaration': {
        const [name, value] = node.namedChildren;
        if (name && value) file.vars.set(name.text, toValue(value, () => undefined));
        break;
      }
      case 'resource_declaration':
        addResource(node, undefined);
        break;
      case 'module_declaration': {
        const [symbol, source, body] = node.namedChildren;
        if (!symbol || !source || !body) break;
        const conditional = body.type === 'if_statement';
        const objectNode = conditional ? body.namedChildren.find((c) => c.type === 'object') : body;
        file.modules.push({
          symbol: symbol.text,
          source: unquote(source) ?? source.text,
          condition: conditional ? body.namedChildren[0]?.text : undefined,
          body: objectNode ? toObject(objectNode, () => undefined) : {},
        });
        break;
      }
      case 'output_declaration': {
        const [name, type, value] = node.namedChildren;
        if (name && type && value) file.outputs.set(name.text, { name: name.text, type: type.text, value: toValue(value, () => undefined) });
        break;
      }
      default:
        break;
    }
  }

  for (const identifier of root.descendantsOfType('identifier')) {
    if (isDeclarationName(identifier)) continue;
    file.references.set(identifier.text, (file.references.get(identifier.text) ?? 0) + 1);
  }
}

/** Parses Bicep source text (for files and for the tests' own broken samples). */
export async function parseBicep(text: string, path = '<inline>'): Promise<BicepFile> {
  const parser = await bicepParser();
  const tree = parser.parse(text);
  if (!tree) throw new Error(`tree-sitter could not parse ${path}`);
  const file: BicepFile = {
    path,
    text,
    problems: problemsOf(tree.rootNode),
    targetScope: undefined,
    params: new Map(),
    vars: new Map(),
    resources: [],
    modules: [],
    outputs: new Map(),
    references: new Map(),
  };
  parseDeclarations(tree.rootNode, file);
  tree.delete();
  return file;
}

/** Parses `infra/<relative>`. */
export async function loadBicep(relative: string): Promise<BicepFile> {
  const path = join(INFRA_DIR, relative);
  return parseBicep(readFileSync(path, 'utf8'), path);
}

// ---- small accessors the tests share ------------------------------------------------------------------------

export function isExpr(value: BicepValue | undefined): value is BicepExpr {
  return value instanceof BicepExpr;
}

export function isObject(value: BicepValue | undefined): value is BicepObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof BicepExpr);
}

/** Follows a dotted path through nested objects and arrays, e.g. `properties.criteria.allOf.0.query`. */
export function at(value: BicepValue | undefined, path: string): BicepValue | undefined {
  let current: BicepValue | undefined = value;
  for (const key of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (isObject(current)) current = current[key];
    else return undefined;
  }
  return current;
}

export function objectAt(value: BicepValue | undefined, path: string): BicepObject {
  const found = at(value, path);
  if (!isObject(found)) throw new Error(`expected an object at ${path}, found ${found instanceof BicepExpr ? found.text : JSON.stringify(found)}`);
  return found;
}

export function exprText(value: BicepValue | undefined): string | undefined {
  return value instanceof BicepExpr ? value.text : undefined;
}
