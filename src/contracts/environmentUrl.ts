/**
 * The allowlist check that guards every request to a Finance and Operations environment, as a pure
 * function shared by the edge (a setup request is refused before anything starts) and the F&O client
 * (checked again before anything, token request included, is sent: the secret goes to that host).
 *
 * The URL must be a bare https origin on a DNS name an operator listed. Entries are exact hosts
 * (`contoso-uat.sandbox.operations.dynamics.com`), wildcards covering one or more labels
 * (`*.operations.dynamics.com`), optionally with a port (`localhost:8445`). IP literals pass only when
 * listed exactly; wildcards never match them. A URL whose host is not written as a plain DNS name
 * (non-ASCII, percent escapes) or does not parse to one (a literal `*`, `_`, or any other character the
 * URL parser lets through) never matches anything.
 */

/** App setting that holds the allowlist; named in the messages so a person knows what to change. */
export const ALLOWED_HOSTS_SETTING = 'FINOPS_ALLOWED_HOSTS';

interface HostRule {
  wildcard: boolean;
  /** Lower-case host as the URL parser normalizes it (IPv6 in brackets). */
  host: string;
  /** Port as the URL parser reports it: '' for 443. */
  port: string;
  entry: string;
}

const ENTRY = /^(\*\.)?([^\s:/?#@*[\]]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/;
/** A DNS name: letters, digits and hyphens in dot-separated labels of 1–63 characters, no leading or trailing hyphen. */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses allowlist entries; throws naming the first bad entry. */
export function parseAllowedHosts(entries: readonly string[]): HostRule[] {
  const rules: HostRule[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = ENTRY.exec(entry);
    if (!m) {
      throw new Error(`${ALLOWED_HOSTS_SETTING} entry "${entry}" is not a host: use "host", "host:port" or "*.domain" (no scheme, path or userinfo)`);
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
    if (!isIpLiteral(parsed.hostname) && !DNS_NAME.test(parsed.hostname)) {
      throw new Error(`${ALLOWED_HOSTS_SETTING} entry "${entry}" is not a valid host name`);
    }
    rules.push({ wildcard, host: parsed.hostname, port: parsed.port, entry });
  }
  return rules;
}

/**
 * The parsed rules of an allowlist, kept: every F&O request checks its URL, and the setting is the same
 * list for the life of the process (a few lists at most, in tests).
 */
const parsedLists = new Map<string, HostRule[]>();
function rulesOf(entries: readonly string[]): HostRule[] {
  const key = entries.join('\n');
  let rules = parsedLists.get(key);
  if (!rules) {
    rules = parseAllowedHosts(entries);
    if (parsedLists.size >= 32) parsedLists.clear();
    parsedLists.set(key, rules);
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
 * Whether the host is written as the URL parser will read it. The parser rewrites a host silently
 * (https://url.spec.whatwg.org/#host-parsing: percent-decoding, then UTS #46 "domain to ASCII"): Unicode
 * dots (U+3002, U+FF0E, U+FF61) and full-width letters become ASCII, other Unicode becomes punycode
 * (`xn--`), so a look-alike (`contoso` spelt with a Cyrillic `o`, U+043E) would pass as a host it only
 * resembles. What is written between the scheme and the first `/`, `\`, `?` or `#` must be printable
 * ASCII without `%`; the parsed host is checked after that.
 */
function writtenInPlainAscii(url: string): boolean {
  const authority = /^[a-z][a-z0-9+.-]*:[/\\]*([^/\\?#]*)/i.exec(url)?.[1] ?? '';
  return !/[^\x21-\x7e]|%/.test(authority);
}

export type EnvironmentUrlCheck =
  | { ok: true; origin: string }
  /** `shown` is the URL's origin without any userinfo (safe to echo), or `(invalid URL)`. */
  | { ok: false; reason: string; action: string; shown: string };

/**
 * Checks an environment URL against the allowlist: the normalized origin (`https://host[:port]`,
 * lower case, no trailing slash) or why not and what to do.
 */
export function checkEnvironmentUrl(url: string, allowedHosts: readonly string[]): EnvironmentUrlCheck {
  const fail = (reason: string, action: string, shown: string): EnvironmentUrlCheck => ({ ok: false, reason, action, shown });
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return fail('the environment URL is not a valid URL', 'Give the environment URL as https://<host>, e.g. https://contoso-uat.sandbox.operations.dynamics.com.', '(invalid URL)');
  }
  // Never echo userinfo: it may hold a password.
  const shown = `${parsed.protocol}//${parsed.host}`;
  if (parsed.username !== '' || parsed.password !== '') {
    return fail(`the environment URL ${shown} carries user information`, 'Remove the user name and password from the environment URL; the product authenticates with its own identity.', shown);
  }
  if (parsed.protocol !== 'https:') {
    return fail(`the environment URL ${shown} does not use https`, 'Use the https URL of the environment; the client secret is only ever sent over https.', shown);
  }
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '' || /[?#]/.test(url)) {
    return fail(`the environment URL ${shown} has a path, query or fragment`, `Give only the environment's origin, e.g. ${shown}.`, shown);
  }
  if (!writtenInPlainAscii(url.trim())) {
    return fail(
      `the host of the environment URL is not written in plain ASCII (it would be read as ${parsed.host})`,
      'Give the environment URL exactly as F&O shows it: letters, digits, hyphens and dots only, without percent escapes.',
      shown,
    );
  }
  if (!isIpLiteral(parsed.hostname) && !DNS_NAME.test(parsed.hostname)) {
    return fail(`host ${parsed.host} is not a plain DNS name`, 'Give the environment URL exactly as F&O shows it: letters, digits, hyphens and dots only.', shown);
  }
  const rules = rulesOf(allowedHosts);
  if (!rules.some((r) => matches(r, parsed.hostname, parsed.port))) {
    return fail(
      `host ${parsed.host} is not in the allowed hosts`,
      `Add "${parsed.host}" (or a matching "*.domain" entry) to the ${ALLOWED_HOSTS_SETTING} setting if this environment is yours.`,
      shown,
    );
  }
  return { ok: true, origin: parsed.origin };
}
