/**
 * Reading Key Vault's Event Grid events at the edge: what the Event Grid trigger accepts as "this
 * secret version is near expiry / expired", and what it refuses (so a malformed or contradictory
 * event starts nothing).
 */
import { parseKeyVaultEvent } from '../../src/functions/rotationTriggers';

const VAULT = 'https://kv-fleet.vault.azure.net';
const NAME = 'fno-graph-mail-contoso-uat';
const VERSION = '0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a';

function event(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'f8e7d6c5-0000-4000-8000-000000000001',
    topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-fleet',
    subject: NAME,
    eventType: 'Microsoft.KeyVault.SecretNearExpiry',
    eventTime: '2026-01-01T00:00:00Z',
    data: {
      Id: `${VAULT}/secrets/${NAME}/${VERSION}`,
      VaultName: 'kv-fleet',
      ObjectType: 'Secret',
      ObjectName: NAME,
      Version: VERSION,
      NBF: 1767225600,
      EXP: 1782777600,
      ...data,
    },
    dataVersion: '1',
    metadataVersion: '1',
    ...overrides,
  };
}

describe('parseKeyVaultEvent', () => {
  it('reads a well-formed near-expiry event: secret, version and the vault it came from', () => {
    expect(parseKeyVaultEvent(event())).toEqual({
      ok: true,
      event: { eventType: 'Microsoft.KeyVault.SecretNearExpiry', secretName: NAME, version: VERSION, vaultName: 'kv-fleet', vaultHost: 'kv-fleet.vault.azure.net' },
    });
    const expired = parseKeyVaultEvent(event({ eventType: 'Microsoft.KeyVault.SecretExpired' }));
    expect(expired.ok && expired.event.eventType).toBe('Microsoft.KeyVault.SecretExpired');
  });

  it('tolerates stray whitespace in keys and values', () => {
    const raw = {
      ' eventType ': ' Microsoft.KeyVault.SecretNearExpiry\n',
      subject: ` ${NAME} `,
      ' data': {
        ' Id ': ` ${VAULT}/secrets/${NAME}/${VERSION} `,
        'VaultName ': ' kv-fleet ',
        ' ObjectName': `\t${NAME} `,
        ' Version ': ` ${VERSION}\t`,
      },
    };
    expect(parseKeyVaultEvent(raw)).toEqual({
      ok: true,
      event: { eventType: 'Microsoft.KeyVault.SecretNearExpiry', secretName: NAME, version: VERSION, vaultName: 'kv-fleet', vaultHost: 'kv-fleet.vault.azure.net' },
    });
  });

  it('accepts NBF/EXP as numbers, strings or null', () => {
    for (const stamps of [{ NBF: '1767225600', EXP: '1782777600' }, { NBF: ' 1767225600 ', EXP: 1782777600 }, { NBF: null, EXP: null }]) {
      const parsed = parseKeyVaultEvent(event({}, stamps));
      expect(parsed.ok && parsed.event.version).toBe(VERSION);
    }
  });

  it('takes the secret and version from Id when the other fields are missing', () => {
    const parsed = parseKeyVaultEvent(event({ subject: undefined }, { ObjectName: undefined, Version: undefined, VaultName: undefined }));
    expect(parsed).toEqual({
      ok: true,
      event: { eventType: 'Microsoft.KeyVault.SecretNearExpiry', secretName: NAME, version: VERSION, vaultHost: 'kv-fleet.vault.azure.net' },
    });
  });

  it('reports a foreign vault so the trigger can ignore it', () => {
    const parsed = parseKeyVaultEvent(event({}, { Id: `https://kv-other.vault.azure.net/secrets/${NAME}/${VERSION}`, VaultName: 'kv-other' }));
    expect(parsed.ok && parsed.event.vaultHost).toBe('kv-other.vault.azure.net');
    expect(parsed.ok && parsed.event.vaultName).toBe('kv-other');
  });

  it('refuses events without data, or whose data names no secret version', () => {
    const noData = parseKeyVaultEvent(event({ data: undefined }));
    expect(noData).toEqual({ ok: false, reason: 'the event names no valid secret version' });
    expect(parseKeyVaultEvent(event({ data: null })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({ data: 'fno-graph-mail-contoso-uat' })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({ data: [NAME, VERSION] })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({ subject: undefined }, { Id: undefined, ObjectName: undefined })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({}, { Id: undefined, Version: '   ' })).ok).toBe(false);
  });

  it('refuses fields of the wrong type', () => {
    expect(parseKeyVaultEvent(event({}, { Id: undefined, Version: 12345 }))).toEqual({ ok: false, reason: 'the event names no valid secret version' });
    expect(parseKeyVaultEvent(event({ subject: 42 }, { Id: undefined, ObjectName: { name: NAME } })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({ eventType: ['Microsoft.KeyVault.SecretNearExpiry'] })).ok).toBe(false);
    for (const raw of [null, undefined, 'event', 42, [event()]]) expect(parseKeyVaultEvent(raw).ok).toBe(false);
  });

  it('refuses names and versions Key Vault could never have produced', () => {
    expect(parseKeyVaultEvent(event({}, { Id: undefined, ObjectName: '../fno-graph-mail-x' })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({}, { Id: undefined, ObjectName: 'x'.repeat(128) })).ok).toBe(false);
    expect(parseKeyVaultEvent(event({}, { Id: undefined, Version: 'abc/def' })).ok).toBe(false);
  });

  it('refuses a vault name Key Vault could never have produced (it would be written into a log line)', () => {
    for (const VaultName of ['kv-other\n2026-01-01 error forged line', 'kv', 'k'.repeat(25), '1kv', 'kv-', 'kv other', 'kv\u2028x']) {
      expect({ VaultName, parsed: parseKeyVaultEvent(event({}, { Id: undefined, VaultName })) }).toEqual({ VaultName, parsed: { ok: false, reason: 'the event names no valid vault' } });
    }
    expect(parseKeyVaultEvent(event({}, { Id: undefined, VaultName: ' kv-fleet-0123456789abcd ' })).ok).toBe(true);
  });

  it('refuses an event whose Id contradicts ObjectName or Version', () => {
    expect(parseKeyVaultEvent(event({}, { ObjectName: 'fno-graph-mail-contoso-prod' }))).toEqual({
      ok: false,
      reason: 'the event contradicts itself (Id against ObjectName/Version)',
    });
    expect(parseKeyVaultEvent(event({}, { Version: 'ffffffffffffffffffffffffffffffff' })).ok).toBe(false);
  });

  it('ignores event types other than near-expiry and expired', () => {
    for (const eventType of ['Microsoft.KeyVault.SecretNewVersionCreated', 'Microsoft.KeyVault.KeyNearExpiry', 'Microsoft.KeyVault.CertificateExpired', '', undefined]) {
      const parsed = parseKeyVaultEvent(event({ eventType }));
      expect(parsed.ok).toBe(false);
    }
  });
});
