/**
 * The allowlist check that guards every request to a Finance and Operations environment.
 *
 * The client secret is sent to whatever host the environment URL names, so the URL must be a bare
 * https origin on a host an operator listed. Entries are exact hosts (`contoso-uat.sandbox.operations.dynamics.com`),
 * wildcards covering one or more labels (`*.operations.dynamics.com`), optionally with a port
 * (`localhost:8445`). IP literals pass only when listed exactly; wildcards never match them.
 */
import { ServiceError } from './errors';

/** App setting that holds the allowlist; named in the error so a person knows what to change. */
export const ALLOWED_HOSTS_SETTING = 'FINOPS_ALLOWED_HOSTS';

export class EnvironmentUrlNotAllowedError extends ServiceError {
  override name = 'EnvironmentUrlNotAllowedError';
  /** The URL as given (origin only: it cannot hold secrets once userinfo is refused). */
  readonly url: string;

  constructor(url: string, reason: string, action: string, environmentId?: string, operation = 'Check the environment URL') {
    super({
      kind: 'permanent',
      service: 'finops',
      operation,
      code: 'EnvironmentUrlNotAllowed',
      reason,
      action,
      ...(environmentId ? { environmentId } : {}),
    });
    this.url = url;
  }
}

export function isEnvironmentUrlNotAllowedError(e: unknown): e is EnvironmentUrlNotAllowedError {
  return e instanceof EnvironmentUrlNotAllowedError;
}

interface HostRule {
  wildcard: boolean;
  /** Lower-case host as the URL parser normalizes it (IPv6 in brackets). */
  host: string;
  /** Port as the URL parser reports it: '' for 443. */
  port: string;
  entry: string;
}

const ENTRY = /^(\*\.)?([^\s:/?#@*[\]]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/;

/** Parses allowlist entries; throws naming the first bad entry. */
export function parseAllowedHosts(entries: readonly string[]): HostRule[] {
  const rules: HostRule[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = ENTRY.exec(entry);
    if (!m) {
      throw new Error(
        `${ALLOWED_HOSTS_SETTING} entry "${entry}" is not a host: use "host", "host:port" or "*.domain" (no scheme, path or userinfo)`,
      );
    }
    const wildcard = m[1] !== undefined;
    let parsed: URL;
    try {
      parsed = new URL(`https://${m[2] ?? ''}${m[3] ? `:${m[3]}` : ''}/`);
    } catch {
      throw new Error(`${ALLOWED_HOSTS_SETTING} entry "${entry}" is not a valid host name`);
    }
    if (wildcard && isIpLiteral(parsed.hostname)) {
      throw new Error(`${ALLOWED_HOSTS_SETTING} entry "${entry}": wildcards apply to DNS names, not IP addresses`);
    }
    rules.push({ wildcard, host: parsed.hostname, port: parsed.port, entry });
  }
  return rules;
}

function isIpLiteral(hostname: string): boolean {
  // The URL parser has already normalized IPv4 forms (e.g. 0x7f.1 → 127.0.0.1).
  return hostname.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

function matches(rule: HostRule, hostname: string, port: string): boolean {
  if (rule.port !== port) return false;
  if (!rule.wildcard) return rule.host === hostname;
  if (isIpLiteral(hostname)) return false;
  return hostname.length > rule.host.length + 1 && hostname.endsWith(`.${rule.host}`);
}

/**
 * Checks an environment URL against the allowlist and returns its normalized origin
 * (`https://host[:port]`, lower case, no trailing slash). Throws `EnvironmentUrlNotAllowedError`
 * naming the host and the setting to change; `operation` (what was about to be done) starts its message.
 */
export function assertAllowedEnvironmentUrl(
  url: string,
  allowedHosts: readonly string[],
  environmentId?: string,
  operation?: string,
): string {
  const fail = (reason: string, action: string, shown: string): never => {
    throw new EnvironmentUrlNotAllowedError(shown, reason, action, environmentId, operation);
  };
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return fail(
      'the environment URL is not a valid URL',
      'Give the environment URL as https://<host>, e.g. https://contoso-uat.sandbox.operations.dynamics.com.',
      '(invalid URL)',
    );
  }
  // Never echo userinfo: it may hold a password.
  const shown = `${parsed.protocol}//${parsed.host}`;
  if (parsed.username !== '' || parsed.password !== '') {
    return fail(
      `the environment URL ${shown} carries user information`,
      'Remove the user name and password from the environment URL; the product authenticates with its own identity.',
      shown,
    );
  }
  if (parsed.protocol !== 'https:') {
    return fail(
      `the environment URL ${shown} does not use https`,
      'Use the https URL of the environment; the client secret is only ever sent over https.',
      shown,
    );
  }
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '' || /[?#]/.test(url)) {
    return fail(
      `the environment URL ${shown} has a path, query or fragment`,
      `Give only the environment's origin, e.g. ${shown}.`,
      shown,
    );
  }
  const rules = parseAllowedHosts(allowedHosts);
  if (!rules.some((r) => matches(r, parsed.hostname, parsed.port))) {
    return fail(
      `host ${parsed.host} is not in the allowed hosts`,
      `Add "${parsed.host}" (or a matching "*.domain" entry) to the ${ALLOWED_HOSTS_SETTING} setting if this environment is yours.`,
      shown,
    );
  }
  return parsed.origin;
}
