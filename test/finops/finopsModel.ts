/**
 * Reads the FnoGraphMail model (finops/) the way F&O stores it: AOT objects as XML, X++ inside CDATA.
 * Gives the tests parsed XML and a small X++ tokenizer, so they check structure rather than grep.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const FINOPS_ROOT = path.resolve(__dirname, '../../finops');
export const MODEL = 'FnoGraphMail';
export const PACKAGE_ROOT = path.join(FINOPS_ROOT, MODEL);
export const OBJECTS_ROOT = path.join(PACKAGE_ROOT, MODEL);

export type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  cdataPropName: '__cdata',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

export function listXmlFiles(dir: string = FINOPS_ROOT): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listXmlFiles(full));
    else if (entry.toLowerCase().endsWith('.xml')) out.push(full);
  }
  return out.sort();
}

/** `true` when well-formed, else the validator's message with line and column. */
export function wellFormed(text: string): true | string {
  const result = XMLValidator.validate(text);
  return result === true ? true : `${result.err.code}: ${result.err.msg} (line ${result.err.line}, column ${result.err.col})`;
}

export function parseXmlText(text: string): XmlNode {
  const valid = wellFormed(text);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid}`);
  const parsed: unknown = parser.parse(text);
  if (!isNode(parsed)) throw new Error('XML did not parse into an element tree');
  return parsed;
}

/** The root element of an XML document: its name and node. */
export function rootOf(doc: XmlNode): { name: string; node: XmlNode } {
  const names = Object.keys(doc).filter((k) => k !== '?xml');
  if (names.length !== 1 || names[0] === undefined) throw new Error(`expected one root element, found ${names.join(', ')}`);
  const node = doc[names[0]];
  return { name: names[0], node: isNode(node) ? node : {} };
}

/** An AOT object of the model, by type folder (`AxClass`) and name; returns its root element. */
export function loadObject(type: string, name: string, objectsRoot: string = OBJECTS_ROOT): XmlNode {
  const doc = parseXmlText(readFileSync(path.join(objectsRoot, type, `${name}.xml`), 'utf8'));
  const root = rootOf(doc);
  if (root.name !== type) throw new Error(`${type}/${name}.xml has root <${root.name}>`);
  return root.node;
}

/** Names of the objects of one type in the model (file names without .xml). */
export function objectNames(type: string, objectsRoot: string = OBJECTS_ROOT): string[] {
  const dir = path.join(objectsRoot, type);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.xml'))
      .map((f) => f.slice(0, -4))
      .sort();
  } catch {
    return [];
  }
}

export function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Child elements of that name, as a list whatever their count (`<X />` parses to an empty string). */
export function children(node: unknown, name: string): XmlNode[] {
  if (!isNode(node)) return [];
  const value = node[name];
  const list = Array.isArray(value) ? (value as unknown[]) : value === undefined ? [] : [value];
  return list.map((v) => (isNode(v) ? v : { '#text': v }));
}

/** The element itself (first of that name), or an empty node. */
export function child(node: unknown, name: string): XmlNode {
  return children(node, name)[0] ?? {};
}

/** Text content of a child element; CDATA included. */
export function textOf(node: unknown, name: string): string | undefined {
  if (!isNode(node)) return undefined;
  const value = node[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (isNode(value)) {
    if (typeof value.__cdata === 'string') return value.__cdata;
    if (typeof value['#text'] === 'string') return value['#text'];
    return '';
  }
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

/** Element names of the children of a node, attributes and text left out. */
export function childNames(node: unknown): string[] {
  if (!isNode(node)) return [];
  return Object.keys(node).filter((k) => !k.startsWith('@_') && k !== '#text' && k !== '__cdata');
}

// ---------------------------------------------------------------------------------------------------
// X++ inside the objects

export interface XppMethod {
  name: string;
  source: string;
}

/** Declaration and methods of a class, data entity or table (`SourceCode`). */
export function sourceOf(objectNode: XmlNode): { declaration: string; methods: XppMethod[] } {
  const sourceCode = child(objectNode, 'SourceCode');
  const declaration = textOf(sourceCode, 'Declaration') ?? '';
  const methods = children(child(sourceCode, 'Methods'), 'Method').map((m) => ({
    name: textOf(m, 'Name') ?? '',
    source: textOf(m, 'Source') ?? '',
  }));
  return { declaration, methods };
}

export function method(objectNode: XmlNode, name: string): XppMethod {
  const found = sourceOf(objectNode).methods.find((m) => m.name === name);
  if (!found) throw new Error(`method ${name} not found`);
  return found;
}

export interface Token {
  kind: 'ident' | 'string' | 'number' | 'punct';
  text: string;
}

const PUNCT2 = ['::', '==', '!=', '>=', '<=', '&&', '||', '++', '--', '+=', '-='];

/**
 * X++ tokens without comments. Strings keep their quotes (`''` is the empty string); `@'…'` and
 * `@"…"` verbatim strings are one token each.
 */
export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    const next = src.charAt(i + 1);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '/' && next === '/') {
      while (i < src.length && src.charAt(i) !== '\n') i += 1;
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end === -1 ? src.length : end + 2;
    } else if (c === "'" || c === '"' || (c === '@' && (next === "'" || next === '"'))) {
      const verbatim = c === '@';
      const quote = verbatim ? next : c;
      let j = verbatim ? i + 2 : i + 1;
      while (j < src.length) {
        const d = src.charAt(j);
        if (!verbatim && d === '\\') {
          j += 2;
          continue;
        }
        if (d === quote) {
          if (verbatim && src.charAt(j + 1) === quote) {
            j += 2;
            continue;
          }
          break;
        }
        j += 1;
      }
      tokens.push({ kind: 'string', text: src.slice(i, j + 1) });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src.charAt(j))) j += 1;
      tokens.push({ kind: 'ident', text: src.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[0-9.]/.test(src.charAt(j))) j += 1;
      tokens.push({ kind: 'number', text: src.slice(i, j) });
      i = j;
    } else {
      const two = src.slice(i, i + 2);
      const op = PUNCT2.includes(two) ? two : c;
      tokens.push({ kind: 'punct', text: op });
      i += op.length;
    }
  }
  return tokens;
}

/** Whether the tokens at `at` spell `words` (token texts). */
export function matchesAt(tokens: Token[], at: number, words: readonly string[]): boolean {
  return words.every((w, k) => tokens[at + k]?.text === w);
}

export function texts(tokens: Token[]): string[] {
  return tokens.map((t) => t.text);
}

export interface Call {
  /** Index of the first token of the callee. */
  at: number;
  /** Index of the closing parenthesis. */
  end: number;
  /** Arguments, each as its tokens, split at top-level commas. */
  args: Token[][];
  /** Token index where each argument starts. */
  argStarts: number[];
}

/** Every call of the callee (`['Global', '::', 'editEncryptedField']`), with its arguments. */
export function findCalls(tokens: Token[], callee: readonly string[]): Call[] {
  const calls: Call[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    if (!matchesAt(tokens, i, callee) || tokens[i + callee.length]?.text !== '(') continue;
    if (callee.length === 1 && (tokens[i - 1]?.text === '::' || tokens[i - 1]?.text === '.')) continue;
    const open = i + callee.length;
    const args: Token[][] = [];
    const argStarts: number[] = [];
    let depth = 0;
    let current: Token[] = [];
    let start = open + 1;
    let j = open;
    for (; j < tokens.length; j += 1) {
      const t = tokens[j];
      if (t === undefined) break;
      if (t.text === '(' || t.text === '[' || t.text === '{') {
        depth += 1;
        if (depth === 1) continue;
      } else if (t.text === ')' || t.text === ']' || t.text === '}') {
        depth -= 1;
        if (depth === 0) break;
      } else if (t.text === ',' && depth === 1) {
        args.push(current);
        argStarts.push(start);
        current = [];
        start = j + 1;
        continue;
      }
      current.push(t);
    }
    if (current.length > 0 || args.length > 0) {
      args.push(current);
      argStarts.push(start);
    }
    calls.push({ at: i, end: j, args, argStarts });
  }
  return calls;
}

/** Attributes written before a method's signature, e.g. `[SysODataActionAttribute('X', false)]`. */
export function attributesOf(source: string): { name: string; args: string[] }[] {
  const tokens = tokenize(source);
  const out: { name: string; args: string[] }[] = [];
  let i = 0;
  while (tokens[i]?.text === '[') {
    let depth = 0;
    let j = i;
    for (; j < tokens.length; j += 1) {
      const t = tokens[j]?.text;
      if (t === '[') depth += 1;
      else if (t === ']') {
        depth -= 1;
        if (depth === 0) break;
      }
    }
    const inner = tokens.slice(i + 1, j);
    for (const call of splitTopLevel(inner, ',')) {
      const name = call[0]?.text ?? '';
      const argTokens = call.slice(2, -1);
      out.push({ name, args: splitTopLevel(argTokens, ',').map((a) => texts(a).join(' ')) });
    }
    i = j + 1;
  }
  return out;
}

function splitTopLevel(tokens: Token[], separator: string): Token[][] {
  const parts: Token[][] = [];
  let depth = 0;
  let current: Token[] = [];
  for (const t of tokens) {
    if (t.text === '(' || t.text === '[') depth += 1;
    if (t.text === ')' || t.text === ']') depth -= 1;
    if (t.text === separator && depth === 0) {
      parts.push(current);
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** The signature of a method: modifiers, return type, name and parameters (type and name). */
export function signatureOf(source: string): { modifiers: string[]; returnType: string; name: string; parameters: { type: string; name: string }[] } {
  const tokens = tokenize(source);
  let i = 0;
  while (tokens[i]?.text === '[') {
    let depth = 0;
    for (; i < tokens.length; i += 1) {
      const t = tokens[i]?.text;
      if (t === '[') depth += 1;
      else if (t === ']') {
        depth -= 1;
        if (depth === 0) break;
      }
    }
    i += 1;
  }
  const open = tokens.findIndex((t, k) => k >= i && t.text === '(');
  const head = texts(tokens.slice(i, open));
  const name = head[head.length - 1] ?? '';
  const returnType = head[head.length - 2] ?? '';
  const modifiers = head.slice(0, -2);
  let close = open;
  let depth = 0;
  for (; close < tokens.length; close += 1) {
    const t = tokens[close]?.text;
    if (t === '(') depth += 1;
    else if (t === ')') {
      depth -= 1;
      if (depth === 0) break;
    }
  }
  const parameters = splitTopLevel(tokens.slice(open + 1, close), ',').map((p) => ({
    type: p[0]?.text ?? '',
    name: p[1]?.text ?? '',
  }));
  return { modifiers, returnType, name, parameters };
}

/** Every X++ source in the model: declarations and methods of all objects that carry code. */
export function allXppSources(objectsRoot: string = OBJECTS_ROOT): { object: string; method: string; source: string }[] {
  const out: { object: string; method: string; source: string }[] = [];
  for (const type of ['AxClass', 'AxDataEntityView', 'AxTable']) {
    for (const name of objectNames(type, objectsRoot)) {
      const node = loadObject(type, name, objectsRoot);
      const { declaration, methods } = sourceOf(node);
      out.push({ object: name, method: 'classDeclaration', source: declaration });
      for (const m of methods) out.push({ object: name, method: m.name, source: m.source });
    }
  }
  return out;
}
