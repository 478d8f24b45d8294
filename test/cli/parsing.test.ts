/**
 * The command line's pure parts, in-process: what it accepts and refuses (with the option's name in
 * the message), where settings come from and which source wins, and how progress reads — one line
 * per step transition, a waiting run's instructions once, never a line for nothing new.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseCommandLine, UsageError, wantsJson, type Command } from '../../runtime/cli/args';
import { describeWait, formatTable, ProgressReporter } from '../../runtime/cli/progress';
import { readSettingsFile, resolveSettings, SettingsSourceError } from '../../runtime/cli/settings';
import { ConfigError } from '../../src/config';
import type { OperationStatus } from '../../src/contracts/operations';

const cwd = '/work/somewhere';

function usageError(argv: string[]): UsageError {
  try {
    parseCommandLine(argv, cwd);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('parseCommandLine', () => {
  it('builds a setup request from the options, with paths resolved against the working directory', () => {
    const command = parseCommandLine(
      ['setup', 'contoso-uat', '--url', 'https://contoso-uat.sandbox.operations.dynamics.com', '--consent', 'request', '--lifetime-days', '90', '--tenant', 'AAAAAAAA-0000-0000-0000-000000000001', '--sandbox', '.sandbox/endpoints.json', '--wait-timeout', '30m'],
      cwd,
    );
    expect(command).toEqual<Command>({
      kind: 'setup',
      environmentId: 'contoso-uat',
      request: {
        environmentUrl: 'https://contoso-uat.sandbox.operations.dynamics.com',
        consent: 'request',
        secretLifetimeDays: 90,
        tenantId: 'aaaaaaaa-0000-0000-0000-000000000001',
      },
      options: {
        json: false,
        verbose: false,
        stateDir: path.resolve(cwd, '.fno-graph-mail'),
        sandboxFile: path.resolve(cwd, '.sandbox/endpoints.json'),
        waitTimeoutMs: 30 * 60_000,
        confirm: false,
        restart: false,
      },
    });
  });

  it('refuses what the HTTP API refuses, naming the option', () => {
    expect(usageError(['setup', 'Contoso_UAT', '--url', 'https://x.operations.dynamics.com']).message).toMatch(/environment id "Contoso_UAT" must be 1–63 lowercase/);
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--lifetime-days', '900']).message).toBe('--lifetime-days must be at most 730.');
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--lifetime-days', 'soon']).message).toBe('--lifetime-days must be a number.');
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--consent', 'maybe']).message).toBe('--consent must be "grant" or "request".');
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--test-recipient', 'nobody']).message).toBe('--test-recipient must be a plain email address (letters, digits and ._%+- before the @, a domain after it).');
    expect(usageError(['setup', 'uat']).message).toMatch(/Missing --url/);
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--frobnicate']).message).toBe("Unknown option '--frobnicate'.");
    expect(usageError(['rotate', 'uat', '--grace-hours', '1.5']).message).toMatch(/--grace-hours must be a whole number of hours from 0 to 720/);
    expect(usageError(['rotate', 'uat', '--wait-timeout', 'later']).message).toMatch(/--wait-timeout must be a positive duration/);
    expect(usageError(['status', 'a', 'b']).message).toBe('Unexpected argument "b".');
    expect(usageError(['deploy']).message).toMatch(/Unknown command "deploy"/);
    expect(usageError(['setup', 'uat', '--url', 'https://x.operations.dynamics.com', '--tenant', 'x']).command).toBe('setup');
  });

  it('accepts a grace period of zero hours and a delivery override for rotation', () => {
    expect(parseCommandLine(['rotate', 'uat', '--grace-hours', '0', '--delivery', 'manual'], cwd)).toMatchObject({ kind: 'rotate', graceHours: 0, delivery: 'manual' });
    expect(parseCommandLine(['rotate', 'uat'], cwd)).not.toHaveProperty('graceHours');
  });

  it('answers --help per command and knows when JSON was asked for', () => {
    expect(parseCommandLine(['rotate', '--help'], cwd)).toEqual({ kind: 'help', topic: 'rotate' });
    expect(parseCommandLine(['help', 'status'], cwd)).toEqual({ kind: 'help', topic: 'status' });
    expect(parseCommandLine(['--help'], cwd)).toEqual({ kind: 'help' });
    expect(wantsJson(['status', '--json'])).toBe(true);
    expect(wantsJson(['status', '--', '--json'])).toBe(false);
  });
});

describe('settings sources', () => {
  const tenant = '11111111-2222-3333-4444-555555555555';

  it('lets a settings file win over the sandbox, and the sandbox over the environment', () => {
    const resolved = resolveSettings({
      env: { ENTRA_TENANT_ID: tenant, KEY_VAULT_URL: 'https://env.vault.azure.net', ROTATION_GRACE_HOURS: '5', PATH: '/bin' },
      sandboxSettings: { KEY_VAULT_URL: 'https://localhost:8443', ROTATION_GRACE_HOURS: '24' },
      file: { ROTATION_GRACE_HOURS: '2' },
    });
    expect(resolved.config.keyVaultUrl).toBe('https://localhost:8443');
    expect(resolved.config.rotation.graceHours).toBe(2);
    expect(resolved.config.tenantId).toBe(tenant);
    // Unrelated environment variables are not app settings; unset settings get their defaults.
    expect(resolved.values).not.toHaveProperty('PATH');
    expect(resolved.values.ROTATION_SWEEP_SCHEDULE).toBe('0 0 3 * * *');
  });

  it('fails with the product ConfigError naming every missing key', () => {
    let error: unknown;
    try {
      resolveSettings({ env: { SECRET_LIFETIME_DAYS: '9999' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.key).sort()).toEqual(['ENTRA_TENANT_ID', 'KEY_VAULT_URL', 'SECRET_LIFETIME_DAYS']);
  });

  it('reads the Values of a local.settings.json and explains a file that is not one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fno-cli-settings-'));
    try {
      const good = path.join(dir, 'local.settings.json');
      fs.writeFileSync(good, JSON.stringify({ IsEncrypted: false, Values: { ENTRA_TENANT_ID: tenant } }));
      expect(readSettingsFile(good)).toEqual({ ENTRA_TENANT_ID: tenant });
      const bad = path.join(dir, 'other.json');
      fs.writeFileSync(bad, JSON.stringify({ ENTRA_TENANT_ID: tenant }));
      expect(() => readSettingsFile(bad)).toThrow(SettingsSourceError);
      expect(() => readSettingsFile(path.join(dir, 'missing.json'))).toThrow(/no such file/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  const steps = (...states: Array<[string, OperationStatus['steps'][number]['status'], string?]>): OperationStatus['steps'] =>
    states.map(([name, status, detail]) => ({ name, status, ...(detail !== undefined ? { detail } : {}) }));

  it('prints one line per step transition and nothing when nothing changed', () => {
    const lines: string[] = [];
    const reporter = new ProgressReporter((line) => lines.push(line));
    reporter.update({ steps: steps(['registerApplication', 'pending'], ['verifyCredential', 'pending']) });
    expect(lines).toEqual([]);
    reporter.update({ steps: steps(['registerApplication', 'running'], ['verifyCredential', 'pending']) });
    reporter.update({ steps: steps(['registerApplication', 'running'], ['verifyCredential', 'pending']) });
    // Two transitions seen at once (the run moved on between two looks) are two lines.
    reporter.update({ steps: steps(['registerApplication', 'succeeded', 'created: application 42'], ['verifyCredential', 'running']) });
    expect(lines).toEqual([
      '  [1/2] registerApplication  running',
      '  [1/2] registerApplication  succeeded  created: application 42',
      '  [2/2] verifyCredential     running',
    ]);
  });

  it('shows what a waiting run needs once, with the consent URL', () => {
    const lines: string[] = [];
    const reporter = new ProgressReporter((line) => lines.push(line));
    const waitingFor = {
      event: 'ConsentGranted',
      until: '2030-01-04T00:00:00.000Z',
      instructions: { consentUrl: 'https://login.example/adminconsent?client_id=abc', steps: ['Open the URL.', 'Accept.'] },
    };
    const first = reporter.update({ steps: steps(['grantAdminConsent', 'waiting', 'waiting for an administrator']), waitingFor });
    const again = reporter.update({ steps: steps(['grantAdminConsent', 'waiting', 'waiting for an administrator']), waitingFor });
    expect(first.newWait).toEqual(waitingFor);
    expect(again.newWait).toBeUndefined();
    expect(lines.filter((l) => l.includes('Consent URL: https://login.example/adminconsent?client_id=abc'))).toHaveLength(1);
    expect(lines).toContain('    2. Accept.');
  });

  it('names the Key Vault secret for manual delivery, never a value', () => {
    const text = describeWait({
      event: 'EmailParametersUpdated',
      until: '2030-01-04T00:00:00.000Z',
      instructions: {
        emailParametersUrl: 'https://contoso.operations.dynamics.com/?mi=SysEmailParameters',
        applicationId: 'app-1',
        keyVaultSecret: { vaultUrl: 'https://kv.vault.azure.net', name: 'fno-graph-mail-contoso', version: 'v1' },
        steps: ['Enter it.'],
      },
    }).join('\n');
    expect(text).toContain('Application id:    app-1');
    expect(text).toContain('secret fno-graph-mail-contoso, version v1');
    expect(text).toContain('?mi=SysEmailParameters');
  });

  it('lays the registry out as a table', () => {
    const record = {
      environmentId: 'contoso-uat',
      environmentUrl: 'https://contoso-uat.operations.dynamics.com',
      tenantId: 't',
      appId: 'app',
      appObjectId: 'obj',
      credential: { keyId: 'k', secretName: 's', secretVersion: 'v', expiresOn: '2030-06-30T00:00:00.000Z' },
      status: 'active' as const,
    };
    expect(formatTable([record, { ...record, environmentId: 'contoso-prod', status: 'expiring' }]).split('\n')).toEqual([
      'ENVIRONMENT   STATUS    EXPIRES                   APPLICATION  URL',
      'contoso-uat   active    2030-06-30T00:00:00.000Z  app          https://contoso-uat.operations.dynamics.com',
      'contoso-prod  expiring  2030-06-30T00:00:00.000Z  app          https://contoso-uat.operations.dynamics.com',
    ]);
    // Partner mode, a fleet in several tenants: a line per tenant, its environments under it.
    const customer = { ...record, tenantId: 'c', environmentId: 'fabrikam-prod', environmentUrl: 'https://fabrikam.operations.dynamics.com' };
    expect(formatTable([record, customer, { ...record, environmentId: 'contoso-prod' }]).split('\n')).toEqual([
      'ENVIRONMENT    STATUS  EXPIRES                   APPLICATION  URL',
      '',
      'Tenant c (1 environment)',
      'fabrikam-prod  active  2030-06-30T00:00:00.000Z  app          https://fabrikam.operations.dynamics.com',
      '',
      'Tenant t (2 environments)',
      'contoso-uat    active  2030-06-30T00:00:00.000Z  app          https://contoso-uat.operations.dynamics.com',
      'contoso-prod   active  2030-06-30T00:00:00.000Z  app          https://contoso-uat.operations.dynamics.com',
    ]);
  });
});
