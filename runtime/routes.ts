/**
 * HTTP route templates as the Functions host (ASP.NET Core routing) understands them: literal
 * segments (case-insensitive), `{name}`, optional `{name?}`, defaults `{name=value}`, inline
 * constraints `{id:guid}`, `{n:int:min(1)}`, catch-all `{*rest}`, and segments mixing literals and
 * parameters (`{name}.{ext}`). Templates are tried in the host's precedence order: literals before
 * constrained parameters, before plain parameters, optional ones and catch-alls.
 */

export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

interface ParameterPart {
  kind: 'parameter';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: Constraint[];
}

interface LiteralPart {
  kind: 'literal';
  text: string;
}

type Part = ParameterPart | LiteralPart;

interface Segment {
  parts: Part[];
  regex: RegExp;
}

type Constraint = (value: string) => boolean;

export interface CompiledRoute {
  template: string;
  segments: Segment[];
  /** Lower sorts first (more specific). */
  precedence: number[];
}

export type RouteParams = Record<string, string>;

const INT32 = { min: -2147483648, max: 2147483647 };

function constraintOf(spec: string): Constraint {
  const m = /^([a-zA-Z]+)(?:\((.*)\))?$/.exec(spec);
  if (!m) throw new RouteTemplateError(`Unknown route constraint '${spec}'.`);
  const name = (m[1] ?? '').toLowerCase();
  const args = (m[2] ?? '').split(',').map((a) => a.trim());
  const num = (i: number): number => Number(args[i]);
  switch (name) {
    case 'int':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= INT32.min && Number(v) <= INT32.max;
    case 'long':
      return (v) => /^-?\d+$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'double':
    case 'decimal':
    case 'float':
      return (v) => v.trim() !== '' && Number.isFinite(Number(v));
    case 'guid':
      return (v) => /^(\{)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(\})?$/i.test(v);
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'datetime':
      return (v) => !Number.isNaN(Date.parse(v));
    case 'minlength':
      return (v) => v.length >= num(0);
    case 'maxlength':
      return (v) => v.length <= num(0);
    case 'length':
      return args.length > 1 ? (v) => v.length >= num(0) && v.length <= num(1) : (v) => v.length === num(0);
    case 'min':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= num(0);
    case 'max':
      return (v) => /^-?\d+$/.test(v) && Number(v) <= num(0);
    case 'range':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= num(0) && Number(v) <= num(1);
    case 'regex': {
      const pattern = new RegExp(m[2] ?? '', 'i');
      return (v) => pattern.test(v);
    }
    case 'required':
      return (v) => v !== '';
    default:
      throw new RouteTemplateError(`Unknown route constraint '${spec}'.`);
  }
}

function parseParameter(body: string, template: string): ParameterPart {
  let text = body;
  let catchAll = false;
  if (text.startsWith('**')) {
    catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith('*')) {
    catchAll = true;
    text = text.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = text.indexOf('=');
  if (eq >= 0) {
    defaultValue = text.slice(eq + 1);
    text = text.slice(0, eq);
  }
  let optional = false;
  if (text.endsWith('?')) {
    optional = true;
    text = text.slice(0, -1);
  }
  // Constraints are separated by ':' but a regex(...) argument may itself contain ':'.
  const pieces: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      pieces.push(current);
      current = '';
    } else current += ch;
  }
  pieces.push(current);
  const [name, ...specs] = pieces;
  if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RouteTemplateError(`Invalid parameter '{${body}}' in route '${template}'.`);
  return { kind: 'parameter', name, optional, catchAll, defaultValue, constraints: specs.map(constraintOf) };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseSegment(raw: string, template: string): Segment {
  const parts: Part[] = [];
  let i = 0;
  while (i < raw.length) {
    if (raw[i] === '{') {
      const end = raw.indexOf('}', i);
      if (end < 0) throw new RouteTemplateError(`Unclosed '{' in route '${template}'.`);
      // A regex constraint may contain '}' only as part of a quantifier; keep the simple rule.
      parts.push(parseParameter(raw.slice(i + 1, end), template));
      i = end + 1;
    } else {
      const next = raw.indexOf('{', i);
      const text = next < 0 ? raw.slice(i) : raw.slice(i, next);
      parts.push({ kind: 'literal', text });
      i = next < 0 ? raw.length : next;
    }
  }
  const pattern = parts.map((p) => (p.kind === 'literal' ? escapeRegex(p.text) : p.catchAll ? '(.*)' : '(.+?)')).join('');
  return { parts, regex: new RegExp(`^${pattern}$`, 'i') };
}

function segmentPrecedence(segment: Segment): number {
  const params = segment.parts.filter((p): p is ParameterPart => p.kind === 'parameter');
  if (params.length === 0) return 1;
  if (params.some((p) => p.catchAll)) return 5;
  if (segment.parts.length > 1) return 2; // complex segment: literals narrow it
  const only = params[0] as ParameterPart;
  if (only.optional || only.defaultValue !== undefined) return 4;
  return only.constraints.length > 0 ? 2 : 3;
}

export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.replace(/^[~/]+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/').map((raw) => parseSegment(raw, template));
  return { template, segments, precedence: segments.map(segmentPrecedence) };
}

function isSkippable(segment: Segment): boolean {
  const only = segment.parts.length === 1 ? segment.parts[0] : undefined;
  return only?.kind === 'parameter' && (only.optional || only.defaultValue !== undefined || only.catchAll);
}

/** Matches a request path (below the route prefix, already split into decoded segments). */
export function matchRoute(route: CompiledRoute, pathSegments: readonly string[]): RouteParams | undefined {
  const params: RouteParams = {};
  let j = 0;
  for (let i = 0; i < route.segments.length; i++) {
    const segment = route.segments[i] as Segment;
    const single = segment.parts.length === 1 ? segment.parts[0] : undefined;
    if (single?.kind === 'parameter' && single.catchAll) {
      const rest = pathSegments.slice(j).join('/');
      if (rest === '' && single.defaultValue !== undefined) params[single.name] = single.defaultValue;
      else if (rest !== '') {
        if (!single.constraints.every((c) => c(rest))) return undefined;
        params[single.name] = rest;
      }
      j = pathSegments.length;
      continue;
    }
    const value = pathSegments[j];
    if (value === undefined) {
      if (!isSkippable(segment)) return undefined;
      if (single?.kind === 'parameter' && single.defaultValue !== undefined) params[single.name] = single.defaultValue;
      continue;
    }
    const m = segment.regex.exec(value);
    if (!m) return undefined;
    let group = 1;
    for (const part of segment.parts) {
      if (part.kind !== 'parameter') continue;
      const captured = m[group++] ?? '';
      if (!part.constraints.every((c) => c(captured))) return undefined;
      params[part.name] = captured;
    }
    j++;
  }
  return j === pathSegments.length ? params : undefined;
}

/** Orders routes the way the host tries them (most specific first). */
export function byPrecedence(a: CompiledRoute, b: CompiledRoute): number {
  const n = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const pa = a.precedence[i] ?? 0;
    const pb = b.precedence[i] ?? 0;
    if (pa !== pb) return pa - pb;
  }
  return 0;
}

/** Splits a URL path into decoded segments; undefined when the path is not valid percent-encoding. */
export function pathSegments(path: string): string[] | undefined {
  try {
    return path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}
