/**
 * App settings: parsed once with one error naming every bad key, and the same key list in
 * local.settings.sample.json and the settings table of docs/settings.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, HOST_SETTING_NAMES, loadConfig, SETTING_NAMES } from '../../src/config';

const root = join(__dirname, '..', '..');
const minimal = {
  ENTRA_TENANT_ID: '11111111-2222-3333-4444-555555555555',
  KEY_VAULT_URL: 'https://kv-fno.vault.azure.net/',
};

describe('loadConfig', () => {
  it('applies the documented defaults to a minimal configuration', () => {
    const config = loadConfig(minimal);
    expect(config.keyVaultUrl).toBe('https://kv-fno.vault.azure.net');
    expect(config.tenantId).toBe(minimal.ENTRA_TENANT_ID);
    expect(config.consentStrategy).toBe('grant');
    expect(config.deliveryStrategy).toBe('auto');
    expect(config.secretLifetimeDays).toBe(180);
    expect(config.rotation).toEqual({ leadDays: 30, graceHours: 24, revokeMaxHours: 168, sweepSchedule: '0 0 3 * * *', driftSchedule: '0 30 4 * * *', concurrency: 10 });
    expect(config.evidence).toEqual({ pollMinutes: 5, timeoutHours: 72, silenceHours: 48 });
    // Cloud-hosted development VMs (*.cloudax.dynamics.com) are opt-in: they run in customers' own subscriptions.
    expect(config.finOps.allowedHosts).toEqual(['*.operations.dynamics.com']);
    expect(config.graphBaseUrl).toBe('https://graph.microsoft.com');
    expect(config.managedIdentityClientId).toBeUndefined();
    // Single tenant unless a deployment opts into partner mode.
    expect(config.operatorClientId).toBeUndefined();
    expect(config.senderMailbox).toBeUndefined();
    expect(config.alertRecipients).toEqual([]);
  });

  it('parses typed values', () => {
    const config = loadConfig({
      ...minimal,
      AZURE_CLIENT_ID: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE',
      SECRET_LIFETIME_DAYS: ' 90 ',
      FINOPS_ALLOWED_HOSTS: 'contoso.operations.dynamics.com; localhost:8445',
      ALERT_RECIPIENTS: 'ops@contoso.com, erp@contoso.com',
      CONSENT_STRATEGY: 'request',
    });
    expect(config.managedIdentityClientId).toBe('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    expect(config.secretLifetimeDays).toBe(90);
    expect(config.finOps.allowedHosts).toEqual(['contoso.operations.dynamics.com', 'localhost:8445']);
    expect(config.alertRecipients).toEqual(['ops@contoso.com', 'erp@contoso.com']);
    expect(config.consentStrategy).toBe('request');
  });

  it('takes the partner operator client id as a GUID, and refuses anything else', () => {
    expect(loadConfig({ ...minimal, OPERATOR_CLIENT_ID: 'AAAAAAAA-1111-2222-3333-444444444444' }).operatorClientId).toBe('aaaaaaaa-1111-2222-3333-444444444444');
    expect(() => loadConfig({ ...minimal, OPERATOR_CLIENT_ID: 'fno-graph-mail-partner-operator' })).toThrow('OPERATOR_CLIENT_ID must be a GUID');
  });

  it('fails once, naming every missing or invalid key', () => {
    let error: unknown;
    try {
      loadConfig({
        KEY_VAULT_URL: 'http://kv.vault.azure.net',
        SECRET_LIFETIME_DAYS: '1000',
        ROTATION_LEAD_DAYS: 'soon',
        CONSENT_STRATEGY: 'maybe',
        ROTATION_SWEEP_SCHEDULE: '0 3 * * *',
        ALERT_RECIPIENTS: 'not-an-address',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.key).sort();
    expect(problems).toEqual(
      [
        'ALERT_RECIPIENTS',
        'CONSENT_STRATEGY',
        'ENTRA_TENANT_ID',
        'KEY_VAULT_URL',
        'ROTATION_LEAD_DAYS',
        'ROTATION_SWEEP_SCHEDULE',
        'SECRET_LIFETIME_DAYS',
      ].sort(),
    );
    const message = (error as ConfigError).message;
    expect(message).toContain('ENTRA_TENANT_ID is missing');
    expect(message).toContain('KEY_VAULT_URL must use https');
    expect(message).toContain('SECRET_LIFETIME_DAYS must be at most 730');
    expect(message).toContain('docs/settings.md');
  });

  it('treats an empty value as unset', () => {
    expect(() => loadConfig({ ...minimal, KEY_VAULT_URL: '  ' })).toThrow(/KEY_VAULT_URL is missing/);
  });
});

describe('settings are listed consistently', () => {
  const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };

  it('local.settings.sample.json lists exactly the settings the code reads, plus the host ones', () => {
    expect(Object.keys(sample.Values).sort()).toEqual([...SETTING_NAMES, ...HOST_SETTING_NAMES].sort());
  });

  it('the settings table (docs/settings.md) explains every setting', () => {
    const readme = readFileSync(join(root, 'docs', 'settings.md'), 'utf8');
    for (const key of [...SETTING_NAMES, ...HOST_SETTING_NAMES]) expect(readme).toMatch(new RegExp(`\\|\\s*\`${key}\`\\s*\\|`));
  });

  it('no module outside src/config.ts reads process.env', () => {
    const { execSync } = require('node:child_process') as typeof import('node:child_process');
    const hits = execSync('grep -rln "process\\.env" src || true', { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.length > 0 && l !== 'src/config.ts');
    expect(hits).toEqual([]);
  });
});
