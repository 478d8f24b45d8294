/**
 * Nothing from a request runs in a command an administrator pastes. The Exchange commands name the app,
 * its service principal and the scope by ids and id-derived names; mailbox addresses are validated at
 * the edge and quoted for every single-quote character PowerShell recognises ('‘’‚‛, about_Quoting_Rules).
 * Checked with a tokenizer of PowerShell's single-quoted strings over generated text, with the quoting
 * that doubled only the ASCII quote as the positive control (it lets U+2019 end the string early).
 * Display names (shown in the Entra portal, mail and logs) are refused at the edge when they hold what a
 * shell, a query or a template reads. And what a person reads in the log stays one line per entry: an
 * event from elsewhere carrying a line break cannot add a line of its own (positive control: the
 * message written with the event's text as it came holds that line).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { mailboxScopeCommands, POWERSHELL_SINGLE_QUOTES, psQuote } from '../../src/contracts/exchange';
import { setupRequestSchema } from '../../src/contracts/setup';
import { startTestApp, type TestApp } from '../helpers/app';

const QUOTES: readonly string[] = POWERSHELL_SINGLE_QUOTES;

/**
 * PowerShell's single-quoted string at the start of `text`: any of the five quote characters ends it
 * unless it is immediately followed by another quote character (which then stands for one quote).
 */
function readSingleQuoted(text: string): { value: string; rest: string } {
  const chars = [...text];
  if (!QUOTES.includes(chars[0] ?? '')) throw new Error('not a single-quoted string');
  let value = '';
  for (let i = 1; i < chars.length; i++) {
    const c = chars[i] as string;
    if (QUOTES.includes(c)) {
      if (QUOTES.includes(chars[i + 1] ?? '')) {
        value += c;
        i += 1;
        continue;
      }
      return { value, rest: chars.slice(i + 1).join('') };
    }
    value += c;
  }
  throw new Error('unterminated string');
}

/** The quoting the product used before: only the ASCII quote doubled. */
const asciiOnlyQuote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

// Printable text with every kind of quote in it.
const text = fc.string({ unit: fc.oneof(fc.constantFrom(...QUOTES, '"', '`', '$', ';', ' ', '(', ')'), fc.string({ minLength: 1, maxLength: 1 }).filter((c) => c >= ' ' && c !== '\u007f')), maxLength: 40 });

describe('PowerShell quoting', () => {
  it('round-trips any text, whatever quote characters it holds: the string ends where the quoting says', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(readSingleQuoted(psQuote(value))).toEqual({ value, rest: '' });
      }),
      { numRuns: 3000 },
    );
  });

  it('positive control: doubling only the ASCII quote lets a typographic quote end the string and run what follows', () => {
    const attack = 'x\u2019; Remove-Mailbox -Identity ceo; \u2019';
    const parsed = readSingleQuoted(asciiOnlyQuote(attack));
    expect(parsed.value).toBe('x');
    expect(parsed.rest).toContain('Remove-Mailbox');
    expect(readSingleQuoted(psQuote(attack))).toEqual({ value: attack, rest: '' });
  });

  it('refuses control characters, which would end the pasted line', () => {
    expect(() => psQuote('a\nb')).toThrow(/control character/);
    expect(() => psQuote('a\u2028b')).toThrow(/control character/);
  });
});

describe('the Exchange commands', () => {
  const base = { environmentId: 'contoso-uat', appId: '11111111-2222-3333-4444-555555555555', servicePrincipalId: '66666666-7777-8888-9999-000000000000' };

  it('name objects by id and never carry the display name a request gave', () => {
    const request = setupRequestSchema.parse({ environmentUrl: 'https://x', appDisplayName: 'Payroll Mail Owner' });
    const commands = mailboxScopeCommands({ ...base, scope: { mailboxes: ['erp@contoso.com', 'ap@contoso.com'] } }).join('\n');
    expect(commands).not.toContain(request.appDisplayName);
    expect(commands).toContain(`-AppId '${base.appId}'`);
    expect(commands).toContain(`-ObjectId '${base.servicePrincipalId}'`);
    expect(commands).toContain(`-DisplayName 'fno-graph-mail-contoso-uat'`);
  });

  it('keep every mailbox address inside its quoted string', () => {
    const addresses = ['erp@contoso.com', 'a.b+c%d_e-f@mail.contoso.co.uk'];
    for (const line of mailboxScopeCommands({ ...base, scope: { mailboxes: addresses } }).filter((l) => l.startsWith('New-ManagementScope'))) {
      const filter = line.slice(line.indexOf('-RecipientRestrictionFilter ') + '-RecipientRestrictionFilter '.length);
      const { value, rest } = readSingleQuoted(filter);
      expect(rest).toBe('');
      expect(value).toBe(addresses.map((a) => `PrimarySmtpAddress -eq '${a}'`).join(' -or '));
    }
    const group = mailboxScopeCommands({ ...base, scope: { group: 'erp-senders@contoso.com' } });
    const read = group.find((l) => l.startsWith('$group = '))!;
    expect(readSingleQuoted(read.slice(read.indexOf("'"))).value).toBe('erp-senders@contoso.com');
  });

  it('are built only from addresses the edge accepts: no quote of any kind gets that far', () => {
    for (const q of [...QUOTES, '"', '`']) {
      const parsed = setupRequestSchema.safeParse({ environmentUrl: 'https://x', mailboxScope: { groupOrMailboxes: [`o${q}neil@contoso.com`] } });
      expect(parsed.success).toBe(false);
    }
    expect(setupRequestSchema.safeParse({ environmentUrl: 'https://x', mailboxScope: { groupOrMailboxes: ['o.neil@contoso.com'] } }).success).toBe(true);
  });
});

describe('display names', () => {
  it('are refused at the edge when they hold anything a shell, a query or a template reads, or a line break', () => {
    for (const bad of [...QUOTES, '"', '`', '$', ';', '|', '<', '>', '{', '}', '[', ']', '\\', '/', '=', '\n', '\r', '\u2028', '\u0000']) {
      const parsed = setupRequestSchema.safeParse({ environmentUrl: 'https://x', appDisplayName: `F&O mail ${bad} x` });
      expect({ bad, accepted: parsed.success }).toEqual({ bad, accepted: false });
    }
  });

  it('positive control: a plain name with the characters allowed is accepted as it is', () => {
    const parsed = setupRequestSchema.safeParse({ environmentUrl: 'https://x', appDisplayName: 'F&O Graph mail (Contoso UAT), v2.1: EU+US_north-east' });
    expect(parsed.success && parsed.data.appDisplayName).toBe('F&O Graph mail (Contoso UAT), v2.1: EU+US_north-east');
  });
});

describe('log lines', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ sandbox: { environmentIds: ['lines'] } });
  });

  afterAll(async () => {
    await app?.stop();
  });

  // A forged line as a person would see it in a console or the log stream after the real one.
  const FORGED = '2026-01-01T00:00:00.000Z information [rotationSweep] rotation completed for every environment';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

  /** An expiry event from a vault that is not the product's, naming it only by a VaultName that carries a line break. */
  function foreignEvent(): Record<string, unknown> {
    return {
      id: randomUUID(),
      topic: '/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/kv-other',
      subject: 'fno-graph-mail-lines',
      eventType: 'Microsoft.KeyVault.SecretNearExpiry',
      eventTime: app.sandbox.state.nowIso(),
      data: { VaultName: `kv-other\n${FORGED}`, ObjectType: 'Secret', ObjectName: 'fno-graph-mail-lines', Version: 'a'.repeat(32), NBF: null, EXP: null },
      dataVersion: '1',
      metadataVersion: '1',
    };
  }

  it('stay one line each when an event carries a line break', async () => {
    const before = app.logs.length;
    const result = await app.runtime.deliverEventGridEvent('secretExpiryEvents', foreignEvent());
    expect(result.ok).toBe(true);
    const written = app.logs.slice(before).filter((l) => l.category === 'user');
    expect(written.length).toBeGreaterThan(0);
    expect(written.filter((l) => CONTROL.test(l.message)).map((l) => l.message)).toEqual([]);
    expect(app.runtime.durable.listInstances()).toEqual([]);
  });

  it('positive control: an event’s vault name does reach the log line, and a line break in a message is found', async () => {
    const plain = { ...foreignEvent(), data: { ...(foreignEvent().data as Record<string, unknown>), VaultName: 'kv-other' } };
    const before = app.logs.length;
    expect((await app.runtime.deliverEventGridEvent('secretExpiryEvents', plain)).ok).toBe(true);
    expect(app.logs.slice(before).some((l) => l.message.includes('it comes from another vault (kv-other)'))).toBe(true);
    expect(CONTROL.test(`it comes from another vault (kv-other\n${FORGED})`)).toBe(true);
  });
});
