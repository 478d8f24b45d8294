/**
 * Edge validation and registry mapping: the setup body's rules (as the README documents them) and
 * how Key Vault tags become environment records.
 */
import { environmentIdSchema } from '../../src/contracts/setup';
import { toEnvironmentRecord } from '../../src/contracts/registry';
import { setupRequestSchema } from '../../src/contracts/setup';
import { describeIssues } from '../../src/functions/http';
import { buildSetupInput } from '../../src/functions/runs';
import { loadConfig } from '../../src/config';

function problemOf(body: unknown): { detail: string; field?: string | undefined } {
  const r = setupRequestSchema.safeParse(body);
  if (r.success) throw new Error('expected a validation error');
  return describeIssues(r.error, body);
}

describe('setup request body', () => {
  it('accepts a minimal and a full body', () => {
    expect(setupRequestSchema.parse({ environmentUrl: 'https://x.operations.dynamics.com' })).toEqual({
      environmentUrl: 'https://x.operations.dynamics.com',
    });
    const full = setupRequestSchema.parse({
      environmentUrl: 'https://x.operations.dynamics.com',
      tenantId: 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE',
      appDisplayName: ' F&O mail ',
      secretLifetimeDays: 90,
      senderMailbox: 'erp@contoso.com',
      testRecipient: 'it@contoso.com',
      consent: 'request',
      delivery: 'manual',
    });
    expect(full.tenantId).toBe('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    expect(full.appDisplayName).toBe('F&O mail');
  });

  it.each([
    [{}, 'environmentUrl', /environmentUrl is required/],
    [{ environmentUrl: 42 }, 'environmentUrl', /must be a string/],
    [{ environmentUrl: 'https://a', extra: 1 }, 'extra', /Unknown field: extra/],
    [{ environmentUrl: 'https://a', tenantId: 'nope' }, 'tenantId', /must be a GUID/],
    [{ environmentUrl: 'https://a', secretLifetimeDays: 0 }, 'secretLifetimeDays', /at least 1/],
    [{ environmentUrl: 'https://a', secretLifetimeDays: 731 }, 'secretLifetimeDays', /at most 730/],
    [{ environmentUrl: 'https://a', secretLifetimeDays: 1.5 }, 'secretLifetimeDays', /whole number/],
    [{ environmentUrl: 'https://a', secretLifetimeDays: '30' }, 'secretLifetimeDays', /must be a number/],
    [{ environmentUrl: 'https://a', senderMailbox: 'not-mail' }, 'senderMailbox', /email address/],
    [{ environmentUrl: 'https://a', consent: 'yes' }, 'consent', /"grant" or "request"/],
    [{ environmentUrl: 'https://a', delivery: 'smtp' }, 'delivery', /"odata" or "manual"/],
    [{ environmentUrl: 'https://a', appDisplayName: 'a\u0007b' }, 'appDisplayName', /may contain only letters, digits, spaces/],
    [{ environmentUrl: 'https://a', appDisplayName: "it's mine" }, 'appDisplayName', /may contain only letters, digits, spaces/],
    [{ environmentUrl: 'https://a', testRecipient: "o'neil@contoso.com" }, 'testRecipient', /plain email address/],
  ])('rejects %j naming the field', (body, field, message) => {
    const p = problemOf(body);
    expect(p.field).toBe(field);
    expect(p.detail).toMatch(message);
  });

  it('environment ids follow the documented grammar', () => {
    for (const ok of ['contoso-uat', 'a', '0abc', 'x'.repeat(63)]) expect(environmentIdSchema.safeParse(ok).success).toBe(true);
    for (const bad of ['', '-a', 'A', 'a_b', 'a/b', '..', 'x'.repeat(64), 'a b', 'é']) expect(environmentIdSchema.safeParse(bad).success).toBe(false);
  });
});

describe('buildSetupInput', () => {
  const config = loadConfig({ ENTRA_TENANT_ID: '11111111-2222-3333-4444-555555555555', KEY_VAULT_URL: 'https://kv.vault.azure.net', SENDER_MAILBOX: 'erp@contoso.com' });

  it('fills defaults from the settings', () => {
    const input = buildSetupInput('contoso-uat', 'https://contoso-uat.operations.dynamics.com', { environmentUrl: 'x' }, config);
    expect(input).toMatchObject({
      tenantId: config.tenantId,
      appDisplayName: 'F&O Graph mail (contoso-uat)',
      secretLifetimeDays: 180,
      consent: 'grant',
      delivery: 'auto',
      senderMailbox: 'erp@contoso.com',
      minRemainingDays: 30,
      waits: { consentTimeoutHours: 72, consentPollMinutes: 5, manualTimeoutHours: 72, reminderHours: 24 },
    });
    expect(input.testRecipient).toBeUndefined();
  });

  it('lets the request override them', () => {
    const input = buildSetupInput(
      'e1',
      'https://e1.operations.dynamics.com',
      { environmentUrl: 'x', consent: 'request', delivery: 'manual', secretLifetimeDays: 30, tenantId: config.tenantId.toUpperCase().toLowerCase() },
      config,
    );
    expect(input).toMatchObject({ consent: 'request', delivery: 'manual', secretLifetimeDays: 30, tenantId: config.tenantId });
  });

  it('refuses a tenant other than the home tenant, and a sender other than SENDER_MAILBOX', () => {
    expect(() => buildSetupInput('e1', 'https://e1.operations.dynamics.com', { environmentUrl: 'x', tenantId: '99999999-2222-3333-4444-555555555555' }, config)).toThrow(
      /tenantId 99999999-2222-3333-4444-555555555555 is not the tenant this function app works in/,
    );
    expect(() => buildSetupInput('e1', 'https://e1.operations.dynamics.com', { environmentUrl: 'x', senderMailbox: 'ceo@contoso.com' }, config)).toThrow(
      /senderMailbox must be the configured SENDER_MAILBOX/,
    );
  });
});

describe('toEnvironmentRecord', () => {
  const tags = {
    'managed-by': 'fno-graph-mail',
    'environment-id': 'contoso-uat',
    'environment-url': 'https://contoso-uat.operations.dynamics.com',
    'tenant-id': 't',
    'app-id': 'a',
    'app-object-id': 'o',
    'credential-key-id': 'k',
    'delivered-to-finops': 'true',
  };
  const now = Date.parse('2026-01-01T00:00:00Z');
  const entry = (over: Partial<{ enabled: boolean; expiresOn: string | null; tags: Record<string, string> }> = {}) => ({
    name: 'fno-graph-mail-contoso-uat',
    version: 'v1',
    enabled: true,
    expiresOn: '2026-06-01T00:00:00.000Z',
    tags,
    ...over,
  });

  it('maps tags to the record', () => {
    const proven = { ...tags, 'finops-evidence': 'c=2025-12-31T10:00:00Z;d=2025-12-01T00:00:00Z;p=2025-12-01T00:05:00Z;b=Graph' };
    expect(toEnvironmentRecord(entry({ tags: proven }), now, 30)).toEqual({
      environmentId: 'contoso-uat',
      environmentUrl: 'https://contoso-uat.operations.dynamics.com',
      tenantId: 't',
      appId: 'a',
      appObjectId: 'o',
      credential: { keyId: 'k', secretName: 'fno-graph-mail-contoso-uat', secretVersion: 'v1', expiresOn: '2026-06-01T00:00:00.000Z' },
      status: 'active',
      finops: { checkedAt: '2025-12-31T10:00:00Z', since: '2025-12-01T00:00:00Z', provenAt: '2025-12-01T00:05:00Z', provider: 'Graph' },
    });
  });

  it('calls a delivered credential F&O was never seen using unproven; expiry and delivery come first', () => {
    expect(toEnvironmentRecord(entry(), now, 30)?.status).toBe('unproven');
    expect(toEnvironmentRecord(entry({ tags: { ...tags, 'finops-evidence': 'c=2025-12-31T10:00:00Z;u=licence' } }), now, 30)).toMatchObject({
      status: 'unproven',
      finops: { unavailable: 'licence' },
    });
    expect(toEnvironmentRecord(entry({ expiresOn: '2026-01-20T00:00:00Z' }), now, 30)?.status).toBe('expiring');
    // A tag someone edited by hand is no evidence.
    expect(toEnvironmentRecord(entry({ tags: { ...tags, 'finops-evidence': 'proven' } }), now, 30)).not.toHaveProperty('finops');
  });

  it('derives the status', () => {
    expect(toEnvironmentRecord(entry({ expiresOn: '2026-01-20T00:00:00Z' }), now, 30)?.status).toBe('expiring');
    expect(toEnvironmentRecord(entry({ expiresOn: '2025-12-31T00:00:00Z' }), now, 30)?.status).toBe('expired');
    expect(toEnvironmentRecord(entry({ enabled: false }), now, 30)?.status).toBe('disabled');
    const { ['delivered-to-finops']: _d, ...undelivered } = tags;
    expect(toEnvironmentRecord(entry({ tags: undelivered }), now, 30)?.status).toBe('pending-delivery');
  });

  it('ignores incomplete entries', () => {
    const { ['app-id']: _a, ...partial } = tags;
    expect(toEnvironmentRecord(entry({ tags: partial }), now, 30)).toBeUndefined();
    expect(toEnvironmentRecord(entry({ expiresOn: null }), now, 30)).toBeUndefined();
  });
});
