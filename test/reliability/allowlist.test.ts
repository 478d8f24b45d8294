/**
 * The F&O host allowlist: the client secret goes to the environment URL's host, so only hosts an operator
 * listed get it. With the product's default allowlist (`*.operations.dynamics.com`), hosts holding a
 * wildcard character (`*`, `%2A`), Unicode dots, full-width or look-alike letters, percent escapes,
 * userinfo, IP literals, other ports, trailing dots or a suffix trick are refused; plain hosts under the
 * wildcard pass; cloud-hosted development environments (`*.cloudax.dynamics.com`) are refused until an
 * operator adds them. Over HTTP against the sandboxed app each refused URL is a 400 that starts nothing
 * and calls nothing, also when it spells a listener that is really there; and when someone with write
 * access to the vault points an environment's record at a host not listed, the rotation fails without
 * sending anything there, and without sending a person there with instructions to enter the secret. Positive controls: two weakened checks (the parsed host's suffix alone, and a
 * pattern over the URL as written) accept much of the corpus, and once the vault-edited host is listed,
 * the next rotation hands it the environment's credential.
 */
import { loadConfig } from '../../src/config';
import { checkEnvironmentUrl } from '../../src/contracts/environmentUrl';
import { assertAllowedEnvironmentUrl } from '../../src/clients/hostAllowlist';
import { startTestApp, type TestApp } from '../helpers/app';
import { fleetView } from '../helpers/fleet';
import { drive, NEVER, sleep, TimeKeeper } from './support';

/** The allowlist a deployment gets when FINOPS_ALLOWED_HOSTS is not set. */
const DEFAULT_ALLOWED = loadConfig({ ENTRA_TENANT_ID: '00000000-0000-0000-0000-00000000000a', KEY_VAULT_URL: 'https://kv.vault.azure.net' }).finOps.allowedHosts;
const WITH_CLOUDAX = [...DEFAULT_ALLOWED, '*.cloudax.dynamics.com'];

/** URLs the default allowlist must refuse, each with the trick it plays. */
const REFUSED: Array<[string, string]> = [
  ['a literal wildcard host', 'https://*.operations.dynamics.com'],
  ['a percent-encoded wildcard', 'https://%2A.operations.dynamics.com'],
  ['a wildcard inside a label', 'https://contoso*.operations.dynamics.com'],
  ['an ideographic full stop for a dot', 'https://contoso-uat\u3002sandbox.operations.dynamics.com'],
  ['a full-width full stop for a dot', 'https://contoso\uff0eoperations.dynamics.com'],
  ['a halfwidth ideographic full stop for a dot', 'https://contoso\uff61operations.dynamics.com'],
  ['a full-width letter', 'https://\uff43ontoso.operations.dynamics.com'],
  ['a Cyrillic look-alike letter (punycode under the wildcard)', 'https://c\u043entoso-prod.operations.dynamics.com'],
  ['a percent-encoded dot', 'https://contoso%2Eoperations.dynamics.com'],
  ['a percent-encoded dot before a foreign domain', 'https://contoso.operations.dynamics.com%2Eevil.example.com'],
  ['a Unicode dot before a foreign domain', 'https://contoso.operations.dynamics.com\u3002evil.example.com'],
  ['userinfo naming the allowed host', 'https://contoso.operations.dynamics.com@evil.example.com'],
  ['userinfo with a password', 'https://admin:hunter2@contoso.operations.dynamics.com'],
  ['a backslash before the allowed suffix', 'https://evil.example.com\\.operations.dynamics.com'],
  ['an IPv4 literal', 'https://127.0.0.1'],
  ['an IPv4 literal as one number', 'https://2130706433'],
  ['an IPv4 literal in hex', 'https://0x7f.0.0.1'],
  ['an IPv6 literal', 'https://[::1]'],
  ['an IPv4-mapped IPv6 literal', 'https://[::ffff:127.0.0.1]'],
  ['another port', 'https://contoso.operations.dynamics.com:8443'],
  ['port 80 over https', 'https://contoso.operations.dynamics.com:80'],
  ['a trailing dot', 'https://contoso.operations.dynamics.com.'],
  ['two trailing dots', 'https://contoso.operations.dynamics.com..'],
  ['the bare suffix', 'https://operations.dynamics.com'],
  ['a look-alike suffix', 'https://contoso-operations.dynamics.com'],
  ['the allowed name inside a foreign domain', 'https://contoso.operations.dynamics.com.evil.example.com'],
  ['an underscore', 'https://contoso_uat.operations.dynamics.com'],
  ['plain http', 'http://contoso.operations.dynamics.com'],
  ['a cloud-hosted environment, not opted in', 'https://contoso-dev.cloudax.dynamics.com'],
];

const ACCEPTED: Array<[string, string, string]> = [
  ['a sandbox environment', 'https://contoso-uat.sandbox.operations.dynamics.com', 'https://contoso-uat.sandbox.operations.dynamics.com'],
  ['a production environment', 'https://contoso-prod.operations.dynamics.com', 'https://contoso-prod.operations.dynamics.com'],
  ['upper case and a trailing slash', 'https://CONTOSO-UAT.Sandbox.Operations.Dynamics.com/', 'https://contoso-uat.sandbox.operations.dynamics.com'],
  ['the https port written out', 'https://contoso-prod.operations.dynamics.com:443', 'https://contoso-prod.operations.dynamics.com'],
];

/** Weakened check 1: the parsed host's suffix, nothing else (userinfo, port, scheme and how the host was written ignored). */
function suffixOnly(url: string): boolean {
  try {
    return new URL(url).hostname.endsWith('.operations.dynamics.com');
  } catch {
    return false;
  }
}

/** Weakened check 2: a pattern over the URL as written. */
const writtenPattern = (url: string): boolean => /^https?:\/\/[^/?#]*\.operations\.dynamics\.com/i.test(url);

describe('the default allowlist, as the edge and the F&O client apply it', () => {
  it('is *.operations.dynamics.com alone', () => {
    expect(DEFAULT_ALLOWED).toEqual(['*.operations.dynamics.com']);
  });

  it.each(REFUSED)('refuses %s', (_trick, url) => {
    expect(checkEnvironmentUrl(url, DEFAULT_ALLOWED).ok).toBe(false);
    expect(() => assertAllowedEnvironmentUrl(url, DEFAULT_ALLOWED, 'contoso')).toThrow(/EnvironmentUrlNotAllowed|allowed hosts|not a|https|user information|path|ASCII|valid URL/);
  });

  it.each(ACCEPTED)('accepts %s as its plain origin', (_what, url, origin) => {
    expect(checkEnvironmentUrl(url, DEFAULT_ALLOWED)).toEqual({ ok: true, origin });
    expect(assertAllowedEnvironmentUrl(url, DEFAULT_ALLOWED)).toBe(origin);
  });

  it('accepts a cloud-hosted environment once *.cloudax.dynamics.com is configured, and still refuses the tricks there', () => {
    expect(checkEnvironmentUrl('https://contoso-dev.cloudax.dynamics.com', WITH_CLOUDAX)).toEqual({ ok: true, origin: 'https://contoso-dev.cloudax.dynamics.com' });
    for (const url of ['https://*.cloudax.dynamics.com', 'https://contoso-dev\u3002cloudax.dynamics.com', 'https://contoso-dev.cloudax.dynamics.com.', 'https://contoso-dev.cloudax.dynamics.com:8443']) {
      expect({ url, ok: checkEnvironmentUrl(url, WITH_CLOUDAX).ok }).toEqual({ url, ok: false });
    }
    // The operations hosts keep working beside it.
    expect(checkEnvironmentUrl('https://contoso-prod.operations.dynamics.com', WITH_CLOUDAX).ok).toBe(true);
  });

  it('positive control: a weakened check accepts most of the refused corpus', () => {
    const fooled = REFUSED.filter(([, url]) => suffixOnly(url) || writtenPattern(url)).map(([trick]) => trick);
    expect(fooled).toEqual(
      expect.arrayContaining([
        'a literal wildcard host',
        'a percent-encoded wildcard',
        'a Cyrillic look-alike letter (punycode under the wildcard)',
        'a percent-encoded dot before a foreign domain',
        'userinfo naming the allowed host',
        'userinfo with a password',
        'a backslash before the allowed suffix',
        'another port',
        'the allowed name inside a foreign domain',
        'plain http',
      ]),
    );
    expect(fooled.length).toBeGreaterThanOrEqual(REFUSED.length / 2);
    // And the weakened checks pass everything the product accepts: they differ only in what they let through.
    expect(ACCEPTED.every(([, url]) => suffixOnly(url))).toBe(true);
  });
});

describe('the sandboxed app', () => {
  const LISTED = 'allow-a';
  const OUTSIDER = 'allow-out';
  let app: TestApp;
  let keeper: TimeKeeper;
  let f: ReturnType<typeof fleetView>;

  beforeAll(async () => {
    app = await startTestApp({
      sandbox: { environmentIds: [LISTED, OUTSIDER], secretPropagationSeconds: 0, finopsSparePorts: 0 },
      appSettings: { ROTATION_GRACE_HOURS: '0', ROTATION_SWEEP_SCHEDULE: NEVER, DRIFT_CHECK_SCHEDULE: NEVER },
    });
    keeper = new TimeKeeper(app);
    f = fleetView(app);
    // The product's default allowlist plus one sandbox F&O host: the outsider's listener is up, but not listed.
    await restartAllowing([...DEFAULT_ALLOWED, hostOf(LISTED)]);
  });

  /** Restarts the app with this allowlist and waits until it answers (connections kept alive to the old host are gone). */
  async function restartAllowing(hosts: string[]): Promise<void> {
    await app.restartRuntime({ appSettings: { FINOPS_ALLOWED_HOSTS: hosts.join(',') } });
    for (let attempt = 0; ; attempt++) {
      try {
        expect((await app.api('GET', '/api/environments')).status).toBe(200);
        return;
      } catch (error) {
        if (attempt >= 10) throw error;
        await sleep(20);
      }
    }
  }

  afterAll(async () => {
    await app?.stop();
  });

  const hostOf = (id: string): string => new URL(app.environmentUrl(id)).host;
  const portOf = (id: string): string => new URL(app.environmentUrl(id)).port;

  /** Refused URLs that name the listed sandbox environment's own listener in another spelling, or the outsider's. */
  function nearMisses(): Array<[string, string]> {
    const port = portOf(LISTED);
    return [
      ['its host with a trailing dot', `https://localhost.:${port}`],
      ['its host percent-encoded', `https://%6Cocalhost:${port}`],
      ['its host with a full-width letter', `https://\uff4cocalhost:${port}`],
      ['its listener as an IPv4 literal', `https://127.0.0.1:${port}`],
      ['its listener as an IPv6 literal', `https://[::1]:${port}`],
      ['its host with userinfo', `https://operator@localhost:${port}`],
      ['its host without the port', 'https://localhost'],
      ["the outsider's listener", app.environmentUrl(OUTSIDER)],
    ];
  }

  it('answers 400 to every refused URL and starts nothing, calls nothing', async () => {
    const corpus = [...REFUSED, ...nearMisses()];
    const callsBefore = app.sandbox.state.calls.length;
    const failures: string[] = [];
    for (const [trick, environmentUrl] of corpus) {
      const reply = await app.api<{ field?: string; detail?: string }>('POST', `/api/environments/${LISTED}/setup`, { environmentUrl });
      if (reply.status !== 400 || reply.body.field !== 'environmentUrl') failures.push(`${trick}: ${reply.status} ${reply.text.slice(0, 160)}`);
      if (/hunter2/.test(reply.text)) failures.push(`${trick}: the answer repeats the password`);
    }
    expect(failures).toEqual([]);
    expect(app.runtime.durable.listInstances()).toEqual([]);
    expect(app.sandbox.state.calls.slice(callsBefore)).toEqual([]);
  });

  it('positive control: the listed environment, written plainly, is set up and F&O receives its credential', async () => {
    const reply = await app.api('POST', `/api/environments/${LISTED}/setup`, { environmentUrl: app.environmentUrl(LISTED) });
    expect(reply.status).toBe(202);
    expect((await drive(app, keeper, `setup-${LISTED}`)).runtimeStatus).toBe('Completed');
    expect(f.finOps(LISTED).graphCredential.applicationId).toBe(f.application(LISTED).appId);
  });

  it("a record edited in the vault to name an unlisted host: the rotation fails before anything is sent there", async () => {
    const current = f.currentVersion(LISTED);
    current.tags['environment-url'] = app.environmentUrl(OUTSIDER);
    const outsiderBefore = JSON.stringify(f.finOps(OUTSIDER).graphCredential);
    const callsBefore = app.sandbox.state.calls.length;
    expect((await app.api('POST', `/api/environments/${LISTED}/rotate`, {})).status).toBe(202);
    const rotation = await drive(app, keeper, `rotate-${LISTED}`);
    expect(rotation.runtimeStatus).toBe('Failed');
    const op = await app.api<{ error?: string }>('GET', `/api/operations/rotate-${LISTED}`);
    expect(op.body.error).toContain(`host ${hostOf(OUTSIDER)} is not in the allowed hosts`);
    expect(op.body.error).toContain('FINOPS_ALLOWED_HOSTS');
    // No F&O call at all: neither the outsider nor the environment's own F&O heard of this rotation.
    expect(app.sandbox.state.calls.slice(callsBefore).filter((c) => c.service === 'finops')).toEqual([]);
    expect(JSON.stringify(f.finOps(OUTSIDER).graphCredential)).toBe(outsiderBefore);
    // Nor was a person sent there to enter the secret by hand (what delivery auto falls back to when F&O's metadata cannot be read).
    const form = `${app.environmentUrl(OUTSIDER)}/?mi=SysEmailParameters`;
    expect(app.responses.filter((r) => r.includes(form))).toEqual([]);
    expect(app.logs.filter((l) => l.message.includes(form)).map((l) => l.message)).toEqual([]);
    expect(app.sandbox.state.sentMail.filter((m) => m.body.includes(form))).toEqual([]);
  });

  it('positive control: once that host is listed, the next rotation hands it the environment’s credential', async () => {
    await restartAllowing([...DEFAULT_ALLOWED, hostOf(LISTED), hostOf(OUTSIDER)]);
    const callsBefore = app.sandbox.state.calls.length;
    expect((await app.api('POST', `/api/environments/${LISTED}/rotate`, {})).status).toBe(202);
    await drive(app, keeper, `rotate-${LISTED}`);
    expect(app.sandbox.state.calls.slice(callsBefore).some((c) => c.service === 'finops' && c.method === 'PATCH')).toBe(true);
    // What the allowlist was keeping from it: another environment's application and secret.
    expect(f.finOps(OUTSIDER).graphCredential.applicationId).toBe(f.application(LISTED).appId);
  });
});
