/** The F&O host allowlist: which environment URLs may receive a client secret, and what a refusal says. */
import { assertAllowedEnvironmentUrl, EnvironmentUrlNotAllowedError, isServiceError, parseAllowedHosts } from '../../src/clients';

const ALLOWED = ['*.operations.dynamics.com', 'contoso.cloudax.dynamics.com', 'localhost:8445', '10.1.2.3'];

function refusal(url: string, allowed: readonly string[] = ALLOWED): EnvironmentUrlNotAllowedError {
  try {
    assertAllowedEnvironmentUrl(url, allowed, 'contoso-uat');
  } catch (e) {
    if (e instanceof EnvironmentUrlNotAllowedError) return e;
    throw e;
  }
  throw new Error(`expected ${url} to be refused`);
}

describe('assertAllowedEnvironmentUrl', () => {
  it('accepts an exact host and returns its normalized origin', () => {
    expect(assertAllowedEnvironmentUrl('https://Contoso.CloudAX.dynamics.com/', ALLOWED)).toBe('https://contoso.cloudax.dynamics.com');
    expect(assertAllowedEnvironmentUrl('https://contoso.cloudax.dynamics.com', ALLOWED)).toBe('https://contoso.cloudax.dynamics.com');
  });

  it('accepts hosts under a wildcard with one or more labels, but not the bare suffix', () => {
    expect(assertAllowedEnvironmentUrl('https://contoso-uat.sandbox.operations.dynamics.com', ALLOWED)).toBe(
      'https://contoso-uat.sandbox.operations.dynamics.com',
    );
    expect(assertAllowedEnvironmentUrl('https://prod.operations.dynamics.com', ALLOWED)).toBe('https://prod.operations.dynamics.com');
    expect(refusal('https://operations.dynamics.com').message).toContain('operations.dynamics.com is not in the allowed hosts');
    // A look-alike that merely ends with the same characters is not under the domain.
    expect(refusal('https://eviloperations.dynamics.com').kind).toBe('permanent');
  });

  it('refuses a host that is not listed, naming the host and the setting to change', () => {
    const e = refusal('https://attacker.example.com');
    expect(isServiceError(e)).toBe(true);
    expect(e.kind).toBe('permanent');
    expect(e.code).toBe('EnvironmentUrlNotAllowed');
    expect(e.environmentId).toBe('contoso-uat');
    expect(e.message).toContain('attacker.example.com');
    expect(e.message).toContain('FINOPS_ALLOWED_HOSTS');
    expect(e.message).toContain('for environment contoso-uat');
  });

  it('refuses plain http even for an allowed host', () => {
    const e = refusal('http://contoso.cloudax.dynamics.com');
    expect(e.message).toMatch(/does not use https/);
  });

  it('refuses user information in the URL without repeating the password', () => {
    const e = refusal('https://admin:hunter2pass@contoso.cloudax.dynamics.com/');
    expect(e.message).toMatch(/user information/);
    expect(e.message).not.toContain('hunter2pass');
    expect(JSON.stringify(e)).not.toContain('hunter2pass');
  });

  it('refuses a path, a query or a fragment', () => {
    expect(refusal('https://contoso.cloudax.dynamics.com/data/EmailParameters').message).toMatch(/path, query or fragment/);
    expect(refusal('https://contoso.cloudax.dynamics.com/?cmp=usmf').message).toMatch(/path, query or fragment/);
    expect(refusal('https://contoso.cloudax.dynamics.com/#x').message).toMatch(/path, query or fragment/);
    expect(refusal('https://contoso.cloudax.dynamics.com/?').message).toMatch(/path, query or fragment/);
  });

  it('matches ports exactly: a listed port only, and a portless entry only on 443', () => {
    expect(assertAllowedEnvironmentUrl('https://localhost:8445', ALLOWED)).toBe('https://localhost:8445');
    expect(refusal('https://localhost:8446').message).toContain('localhost:8446');
    expect(refusal('https://localhost').kind).toBe('permanent');
    expect(refusal('https://contoso.cloudax.dynamics.com:8443').message).toContain('contoso.cloudax.dynamics.com:8443');
    expect(assertAllowedEnvironmentUrl('https://contoso.cloudax.dynamics.com:443', ALLOWED)).toBe('https://contoso.cloudax.dynamics.com');
  });

  it('accepts an IP literal only when listed exactly, in any spelling the URL parser normalizes', () => {
    expect(assertAllowedEnvironmentUrl('https://10.1.2.3', ALLOWED)).toBe('https://10.1.2.3');
    expect(refusal('https://10.1.2.4').message).toContain('10.1.2.4');
    expect(refusal('https://127.0.0.1').kind).toBe('permanent');
    expect(refusal('https://[::1]').kind).toBe('permanent');
    expect(assertAllowedEnvironmentUrl('https://[::1]:8445', ['[::1]:8445'])).toBe('https://[::1]:8445');
  });

  it('never lets a wildcard cover an IP address', () => {
    expect(() => parseAllowedHosts(['*.0.0.1'])).toThrow(/wildcards apply to DNS names/);
    // Numeric suffixes are IPv4 to the URL parser (`1` is 0.0.0.1), so they cannot sneak in either.
    expect(() => parseAllowedHosts(['*.1'])).toThrow(/wildcards apply to DNS names/);
  });

  it('refuses a host not written in plain ASCII, which the URL parser would rewrite into another one', () => {
    // Each would parse to a host under *.operations.dynamics.com: the Cyrillic one to xn--cntoso-wqf.
    for (const url of [
      'https://c\u043entoso.operations.dynamics.com',
      'https://contoso\u3002operations.dynamics.com',
      'https://contoso\uff0eoperations.dynamics.com',
      'https://\uff43ontoso.operations.dynamics.com',
      'https://contoso%2Eoperations.dynamics.com',
      'https://%63ontoso.operations.dynamics.com',
    ]) {
      expect({ url, message: refusal(url).message }).toEqual({ url, message: expect.stringMatching(/not written in plain ASCII/) as unknown });
    }
    expect(refusal('https://c\u043entoso.operations.dynamics.com').message).toContain('xn--cntoso-wqf.operations.dynamics.com');
    // The same hosts written plainly pass.
    expect(assertAllowedEnvironmentUrl('https://contoso.operations.dynamics.com', ALLOWED)).toBe('https://contoso.operations.dynamics.com');
  });

  it('refuses something that is not a URL at all', () => {
    expect(refusal('contoso.operations.dynamics.com').message).toMatch(/not a valid URL/);
  });

  it('rejects allowlist entries that are not hosts', () => {
    expect(() => parseAllowedHosts(['https://contoso.operations.dynamics.com'])).toThrow(/FINOPS_ALLOWED_HOSTS entry/);
    expect(() => parseAllowedHosts(['contoso.com/path'])).toThrow(/is not a host/);
    expect(() => parseAllowedHosts(['user@contoso.com'])).toThrow(/is not a host/);
  });
});
