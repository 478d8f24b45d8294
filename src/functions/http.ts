/**
 * Edge helpers shared by the HTTP triggers: RFC 9457 problem responses, size-limited JSON body
 * parsing, zod issues turned into a message that names the bad field, and status URLs.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';

export const MAX_BODY_BYTES = 16 * 1024;

export interface Problem {
  status: number;
  title: string;
  detail: string;
  /** The request field the problem is about, when there is one. */
  field?: string;
  [extension: string]: unknown;
}

export function problem(p: Problem): HttpResponseInit {
  const { status, title, detail, ...rest } = p;
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store' },
    body: JSON.stringify({ type: 'about:blank', title, status, detail, ...rest }),
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

export class BadRequest extends Error {
  constructor(
    readonly detail: string,
    readonly field?: string,
    readonly status = 400,
  ) {
    super(detail);
  }
  toResponse(): HttpResponseInit {
    const title = this.status === 413 ? 'Request body too large' : this.status === 415 ? 'Unsupported media type' : 'Invalid request';
    return problem({ status: this.status, title, detail: this.detail, ...(this.field !== undefined ? { field: this.field } : {}) });
  }
}

/** Reads a JSON object body (empty body = `{}`), refusing oversized or malformed input. */
export async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new BadRequest(`The body must be at most ${MAX_BODY_BYTES} bytes.`, undefined, 413);
  const contentType = request.headers.get('content-type');
  const text = await request.text();
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) throw new BadRequest(`The body must be at most ${MAX_BODY_BYTES} bytes.`, undefined, 413);
  if (text.trim() === '') return {};
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new BadRequest(`The body must be JSON (Content-Type: application/json), not ${contentType.split(';')[0]}.`, undefined, 415);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequest('The body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('The body must be a JSON object.');
  return value;
}

/**
 * The first zod issue as `field: problem` (one clear message beats a list of internals). `name` is what
 * the parsed value itself is called (a route or query parameter); without it, the value is the body.
 */
export function describeIssues(error: z.ZodError, input?: unknown, name?: string): { detail: string; field?: string | undefined } {
  const issue = error.issues[0];
  if (!issue) return { detail: 'The request is invalid.' };
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return { detail: `Unknown field${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}.`, field: keys[0] };
  }
  const field = [...(name !== undefined ? [name] : []), ...issue.path.map(String)].join('.');
  if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) return { detail: `${field} is required.`, field };
  return { detail: `${field || 'The body'} ${issue.message}.`, ...(field ? { field } : {}) };
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Parses with a schema or throws `BadRequest` naming the field (`name`: the route or query parameter parsed). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, name?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const { detail, field } = describeIssues(result.error, value, name);
    throw new BadRequest(detail, field);
  }
  return result.data;
}

/** Absolute URL of an operation's status resource, on the host the caller used. */
export function statusUrlFor(request: HttpRequest, instanceId: string): string {
  const origin = new URL(request.url).origin;
  return `${origin}/api/operations/${encodeURIComponent(instanceId)}`;
}

/** True when the durable client reported an unknown instance (it signals this only through its message). */
export function isInstanceNotFound(error: unknown): boolean {
  return error instanceof Error && /HTTP 404|No instance with ID/i.test(error.message);
}
