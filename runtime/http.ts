/**
 * Small HTTP plumbing shared by the runtime's listeners (the function host and the durable RPC
 * endpoint): a buffered request shape, body reading with a size limit, and writing a response.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

export interface HostRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HostResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
}

/** Reads the whole body; stops reading and throws once it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(`Request body exceeds ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  // Keep the stream open on early exit, so the caller can drain it and still answer on this connection.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size > limit) throw new BodyTooLargeError(`Request body exceeds ${limit} bytes.`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export function toHostRequest(req: IncomingMessage, body: Buffer, defaultHost: string): HostRequest {
  const host = req.headers.host ?? defaultHost;
  return { method: (req.method ?? 'GET').toUpperCase(), url: new URL(req.url ?? '/', `http://${host}`), headers: req.headers, body };
}

export function writeResponse(res: ServerResponse, response: HostResponse): void {
  const body = response.body === undefined ? undefined : Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body, 'utf8');
  const headers: Record<string, string | string[]> = { ...(response.headers ?? {}) };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) headers['Content-Length'] = String(body?.length ?? 0);
  res.writeHead(response.status, headers);
  res.end(body);
}

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): HostResponse {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

export function emptyResponse(status: number, headers: Record<string, string> = {}): HostResponse {
  return { status, headers };
}

/** A header value as one string (repeated headers joined the way Node/fetch join them). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}
