/**
 * F&O evidence, without a service: the `finops-evidence` tag (round trip over generated evidence, its
 * length within Key Vault's limit, hand-edited and garbage tags refused without throwing), what a run
 * keeps after each reading (`nextEvidence`, `sameFindings`), and the judgements made from a reading:
 * proof of use (`judgeProof`), when the previous credential may go (`judgeRevocation`) and what a drift
 * check finds on the F&O side (`judgeFinOpsDrift`), each problem sentence as a person reads it.
 */
import fc from 'fast-check';
import {
  formatEvidenceTag,
  judgeFinOpsDrift,
  judgeProof,
  judgeRevocation,
  nextEvidence,
  parseEvidenceTag,
  sameFindings,
  type EvidenceReading,
  type EvidenceUnavailableReason,
  type FinOpsEvidence,
  type FinOpsView,
  type KeySignIns,
  type SignInEvidence,
  type SignInFailure,
} from '../../src/contracts/evidence';

// ---- shared values ----------------------------------------------------------------------------------

const BASE_MS = Date.UTC(2026, 2, 1, 10, 0, 0);
/** An ISO time `minutes` after 2026-03-01T10:00:00Z, at whole seconds as Graph shows sign-ins. */
const at = (minutes: number): string => new Date(BASE_MS + minutes * 60_000).toISOString().replace('.000Z', 'Z');
const ms = (minutes: number): number => BASE_MS + minutes * 60_000;
const HOUR = 60;

const APP_ID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const KEY_ID = 'aaaaaaaa-0000-0000-0000-000000000001';
const OLD_KEY = 'aaaaaaaa-0000-0000-0000-000000000002';
const FOREIGN_KEY = 'bbbbbbbb-0000-0000-0000-000000000003';
const FOREIGN_APP = '99999999-8888-7777-6666-555555555555';

const WHOLE_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const REASONS: EvidenceUnavailableReason[] = ['permission', 'licence', 'unsupported'];

function signedIn(first: number, last = first, successes = 1): KeySignIns {
  return { successes, firstSuccessAt: at(first), lastSuccessAt: at(last) };
}

function available(parts: {
  current?: KeySignIns;
  previous?: KeySignIns;
  other?: { keyIds: string[]; lastSuccessAt?: string };
  failure?: SignInFailure;
  failures?: number;
} = {}): SignInEvidence {
  return {
    access: 'available',
    current: parts.current ?? { successes: 0 },
    previous: parts.previous ?? { successes: 0 },
    other: parts.other ?? { keyIds: [] },
    failures: parts.failure ? { count: parts.failures ?? 1, last: parts.failure } : { count: 0 },
    truncated: false,
  };
}

function reading(signIns: SignInEvidence, finOps: Partial<FinOpsView> = {}, times: { asOf?: string; since?: string } = {}): EvidenceReading {
  return { asOf: times.asOf ?? at(2 * HOUR), since: times.since ?? at(0), signIns, finOps: { problems: [], ...finOps } };
}

const unavailable = (reason: EvidenceUnavailableReason): SignInEvidence => ({ access: 'unavailable', reason, message: `denied (${reason})` });
const failedRead: SignInEvidence = { access: 'failed', message: 'Microsoft Graph answered 503' };

const wrongSecret = (minutes: number): SignInFailure => ({ at: at(minutes), code: 7000215, reason: 'Invalid client secret provided.' });
const expiredSecret = (minutes: number, keyId = OLD_KEY): SignInFailure => ({
  at: at(minutes),
  code: 7000222,
  reason: 'The provided client secret keys are expired.',
  keyId,
});

// ---- generators -------------------------------------------------------------------------------------

/** Times the product writes: whole seconds, this century. */
const wholeSecondTime = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.split('');

/** Evidence as runs keep it. */
const validEvidence: fc.Arbitrary<FinOpsEvidence> = fc.record(
  {
    checkedAt: wholeSecondTime,
    since: wholeSecondTime,
    provenAt: wholeSecondTime,
    lastSignInAt: wholeSecondTime,
    lastFailureAt: wholeSecondTime,
    // Entra's codes are positive numbers of at most 7 digits; the tag keeps up to 9.
    lastFailureCode: fc.integer({ min: 0, max: 999_999_999 }),
    provider: fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 1, maxLength: 20 }),
    unavailable: fc.constantFrom(...REASONS),
  },
  { requiredKeys: ['checkedAt'] },
);

/** Any evidence the type allows with real times: milliseconds, any year JavaScript can show, any code, any provider text. */
const anyTime = fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
const anyEvidence: fc.Arbitrary<FinOpsEvidence> = fc.record(
  {
    checkedAt: anyTime,
    since: anyTime,
    provenAt: anyTime,
    lastSignInAt: anyTime,
    lastFailureAt: anyTime,
    lastFailureCode: fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), fc.constant(-Number.MAX_VALUE), fc.constant(Number.MAX_VALUE)),
    provider: fc.string({ unit: 'binary', maxLength: 400 }),
    unavailable: fc.constantFrom(...REASONS),
  },
  { requiredKeys: ['checkedAt'] },
);

/** Whether every field of parsed evidence is one the product could have written. */
function wellFormed(e: FinOpsEvidence): boolean {
  const times = [e.checkedAt, e.since, e.provenAt, e.lastSignInAt, e.lastFailureAt].filter((t): t is string => t !== undefined);
  return (
    times.every((t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/.test(t) && !Number.isNaN(Date.parse(t))) &&
    (e.lastFailureCode === undefined || (Number.isInteger(e.lastFailureCode) && e.lastFailureCode >= 0)) &&
    (e.provider === undefined || /^[A-Za-z0-9]{1,20}$/.test(e.provider)) &&
    (e.unavailable === undefined || REASONS.includes(e.unavailable))
  );
}

// ---- the tag ----------------------------------------------------------------------------------------

describe('the finops-evidence tag', () => {
  it('reads back exactly the evidence it was written from', () => {
    fc.assert(
      fc.property(validEvidence, (e) => {
        expect(parseEvidenceTag(formatEvidenceTag(e))).toEqual(e);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps times at whole seconds (cut, not rounded) and writes the same text again from what it read', () => {
    // Any real time of a four-digit year, and the codes Entra uses (the tag keeps non-negative codes of up to nine digits).
    const fourDigitYear = fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString());
    const readable: fc.Arbitrary<FinOpsEvidence> = fc.record(
      {
        checkedAt: fourDigitYear,
        since: fourDigitYear,
        provenAt: fourDigitYear,
        lastSignInAt: fourDigitYear,
        lastFailureAt: fourDigitYear,
        lastFailureCode: fc.integer({ min: 0, max: 999_999_999 }),
        provider: fc.string({ unit: 'binary', maxLength: 30 }),
        unavailable: fc.constantFrom(...REASONS),
      },
      { requiredKeys: ['checkedAt'] },
    );
    fc.assert(
      fc.property(readable, (e) => {
        const text = formatEvidenceTag(e);
        const read = parseEvidenceTag(text);
        expect(read).toBeDefined();
        expect(read?.checkedAt).toBe(new Date(Math.floor(Date.parse(e.checkedAt) / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
        expect(formatEvidenceTag(read as FinOpsEvidence)).toBe(text);
      }),
      { numRuns: 1000 },
    );
    expect(formatEvidenceTag({ checkedAt: '2026-03-01T10:00:59.999Z' })).toBe('c=2026-03-01T10:00:59Z');
  });

  // Key Vault tag values: 256 characters in the "Secret tags" section of
  // https://learn.microsoft.com/azure/key-vault/secrets/about-secrets as long published (later revisions
  // of that page say 512; https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates
  // is the overview of object attributes). The product keeps to the stricter figure.
  it('fits in a Key Vault tag value (256 characters) for any evidence', () => {
    fc.assert(
      fc.property(anyEvidence, (e) => {
        expect(formatEvidenceTag(e).length).toBeLessThanOrEqual(256);
      }),
      { numRuns: 2000 },
    );
    // The longest there is: every field, the widest years and codes, a 20-character provider.
    const widest: FinOpsEvidence = {
      checkedAt: new Date(8.64e15).toISOString(),
      since: new Date(-8.64e15).toISOString(),
      provenAt: new Date(-8.64e15).toISOString(),
      lastSignInAt: new Date(-8.64e15).toISOString(),
      lastFailureAt: new Date(-8.64e15).toISOString(),
      lastFailureCode: -Number.MAX_VALUE,
      provider: 'P'.repeat(20),
      unavailable: 'unsupported',
    };
    expect(formatEvidenceTag(widest).length).toBeLessThanOrEqual(256);
  });

  it('writes only fields it can read back: a provider that is not one word and a code that is not a whole number are left out', () => {
    expect(formatEvidenceTag({ checkedAt: at(0), provider: 'Graph;p=2026-01-01T00:00:00Z', lastFailureCode: 1.5 })).toBe(`c=${at(0)}`);
    expect(parseEvidenceTag(formatEvidenceTag({ checkedAt: at(0), provider: 'x=y' }))).toEqual({ checkedAt: at(0) });
  });

  it.each<[string, string | undefined]>([
    ['no tag', undefined],
    ['an empty tag', ''],
    ['a tag without the reading time', `p=${at(0)};b=Graph`],
    ['the time under another key', `checkedAt=${at(0)}`],
    ['JSON', JSON.stringify({ c: at(0) })],
    ['a part without "="', `c=${at(0)};garbage`],
    ['a trailing separator', `c=${at(0)};`],
    ['a reading time in words', 'c=yesterday'],
    ['a reading time without a zone', 'c=2026-03-01T10:00:00'],
    ['a reading time with a space', 'c=2026-03-01 10:00:00Z'],
    ['month 13', 'c=2026-13-01T10:00:00Z'],
    ['minute 60', 'c=2026-03-01T10:60:00Z'],
    ['a key without a name', `=${at(0)}`],
  ])('is refused as a whole: %s', (_label, tag) => {
    expect(parseEvidenceTag(tag)).toBeUndefined();
  });

  it.each<[string, string, Partial<FinOpsEvidence>]>([
    ['a proof time in words', 'p=soon', {}],
    ['a last sign-in without seconds', 's=2026-03-01T10:00Z', {}],
    ['a failure code in words', 'e=abc', {}],
    ['a negative failure code', 'e=-1', {}],
    ['a failure code of ten digits', 'e=1234567890', {}],
    ['a fractional failure code', 'e=7000215.5', {}],
    ['a provider with a space', 'b=Graph mail', {}],
    ['an empty provider', 'b=', {}],
    ['a provider of 21 characters', `b=${'G'.repeat(21)}`, {}],
    ['an unknown reason', 'u=maybe', {}],
    ['an unknown key', 'x=1', {}],
    ['a good field beside a bad one', 'e=7000215;f=never', { lastFailureCode: 7000215 }],
  ])('drops what it cannot read and keeps the rest: %s', (_label, part, kept) => {
    expect(parseEvidenceTag(`c=${at(0)};${part}`)).toEqual({ checkedAt: at(0), ...kept });
  });

  it('never throws on garbage, and whatever it accepts is well formed', () => {
    const keys = fc.constantFrom('c', 'd', 'p', 's', 'f', 'e', 'b', 'u', 'x', '', '==');
    const values = fc.oneof(wholeSecondTime, fc.string({ unit: 'binary', maxLength: 40 }), fc.integer().map(String), fc.constantFrom(...REASONS));
    const structured = fc.array(fc.tuple(keys, values), { maxLength: 10 }).map((parts) => parts.map(([k, v]) => `${k}=${v}`).join(';'));
    const anyText = fc.string({ unit: 'binary', maxLength: 300 });
    fc.assert(
      fc.property(fc.oneof(structured, anyText), (tag) => {
        let read: FinOpsEvidence | undefined;
        expect(() => {
          read = parseEvidenceTag(tag);
        }).not.toThrow();
        if (read !== undefined) expect(wellFormed(read)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on a valid tag with one character changed (a slip when editing it in the portal)', () => {
    fc.assert(
      fc.property(validEvidence, fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (e, position, char) => {
        const tag = formatEvidenceTag(e);
        const i = position % tag.length;
        const edited = tag.slice(0, i) + char + tag.slice(i + 1);
        const read = parseEvidenceTag(edited);
        if (read !== undefined) expect(wellFormed(read)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

// ---- nextEvidence and sameFindings ------------------------------------------------------------------

describe('nextEvidence', () => {
  it('proves use only with a success at or after the delivery, never before', () => {
    const since = at(30);
    expect(nextEvidence(undefined, reading(available({ current: signedIn(29) })), since).provenAt).toBeUndefined();
    expect(nextEvidence(undefined, reading(available({ current: signedIn(30) })), since).provenAt).toBe(at(30));
    expect(nextEvidence(undefined, reading(available({ current: signedIn(45, 50, 3) })), since)).toMatchObject({ since, provenAt: at(45), lastSignInAt: at(50) });
    // A second before the delivery is still before it.
    const justBefore = { successes: 1, firstSuccessAt: new Date(ms(30) - 1000).toISOString(), lastSuccessAt: new Date(ms(30) - 1000).toISOString() };
    expect(nextEvidence(undefined, reading(available({ current: justBefore })), since).provenAt).toBeUndefined();
  });

  it('takes the delivery time from the earlier evidence when the run names none', () => {
    const previous: FinOpsEvidence = { checkedAt: at(40), since: at(30) };
    expect(nextEvidence(previous, reading(available({ current: signedIn(20) }))).provenAt).toBeUndefined();
    expect(nextEvidence(previous, reading(available({ current: signedIn(35) })))).toMatchObject({ since: at(30), provenAt: at(35) });
    // Without any delivery time, the first success in the window proves it.
    expect(nextEvidence(undefined, reading(available({ current: signedIn(5) }))).provenAt).toBe(at(5));
  });

  it('carries an earlier proof forward through later readings, whatever they show', () => {
    const previous: FinOpsEvidence = { checkedAt: at(60), since: at(30), provenAt: at(35), lastSignInAt: at(50) };
    expect(nextEvidence(previous, reading(available({ current: signedIn(70, 90) })))).toMatchObject({ provenAt: at(35), lastSignInAt: at(90) });
    expect(nextEvidence(previous, reading(available()))).toMatchObject({ provenAt: at(35), lastSignInAt: at(50) });
    expect(nextEvidence(previous, reading(unavailable('permission')))).toMatchObject({ provenAt: at(35), lastSignInAt: at(50), unavailable: 'permission' });
    expect(nextEvidence(previous, reading(failedRead))).toMatchObject({ provenAt: at(35), lastSignInAt: at(50) });
    // A window that only holds older sign-ins does not move the last sign-in back.
    expect(nextEvidence(previous, reading(available({ current: signedIn(40, 45) }))).lastSignInAt).toBe(at(50));
  });

  it('keeps the newest failure: a later one replaces the recorded one, an older one does not', () => {
    const previous: FinOpsEvidence = { checkedAt: at(60), lastFailureAt: at(50), lastFailureCode: 7000215 };
    expect(nextEvidence(previous, reading(available({ failure: expiredSecret(40) })))).toMatchObject({ lastFailureAt: at(50), lastFailureCode: 7000215 });
    expect(nextEvidence(previous, reading(available({ failure: expiredSecret(55) })))).toMatchObject({ lastFailureAt: at(55), lastFailureCode: 7000222 });
    expect(nextEvidence(previous, reading(available()))).toMatchObject({ lastFailureAt: at(50), lastFailureCode: 7000215 });
    expect(nextEvidence(previous, reading(unavailable('licence')))).toMatchObject({ lastFailureAt: at(50), lastFailureCode: 7000215 });
    expect(nextEvidence(undefined, reading(available({ failure: wrongSecret(10) })))).toMatchObject({ lastFailureAt: at(10), lastFailureCode: 7000215 });
  });

  it('says the log is unreadable while it is, keeps saying so through a failed read, and forgets it once readable', () => {
    const blind = nextEvidence(undefined, reading(unavailable('licence')));
    expect(blind.unavailable).toBe('licence');
    expect(nextEvidence(blind, reading(failedRead)).unavailable).toBe('licence');
    expect(nextEvidence(blind, reading(available())).unavailable).toBeUndefined();
  });

  it("keeps F&O's provider as last read, and the earlier one when F&O could not be read", () => {
    expect(nextEvidence(undefined, reading(available(), { provider: 'SMTP' })).provider).toBe('SMTP');
    expect(nextEvidence({ checkedAt: at(0), provider: 'SMTP' }, reading(available(), { provider: 'Graph' })).provider).toBe('Graph');
    expect(nextEvidence({ checkedAt: at(0), provider: 'Graph' }, reading(available(), { problems: ['unreadable'] })).provider).toBe('Graph');
  });

  it('keeps every time at whole seconds, so the record a run returns is the record the tag shows', () => {
    const withMs = (t: number): string => new Date(t).toISOString();
    const r: EvidenceReading = {
      asOf: withMs(ms(120) + 789),
      since: withMs(ms(0)),
      signIns: available({
        current: { successes: 2, firstSuccessAt: withMs(ms(40) + 250), lastSuccessAt: withMs(ms(50) + 999) },
        failure: { at: withMs(ms(45) + 1), code: 7000215, reason: '' },
      }),
      finOps: { problems: [] },
    };
    const out = nextEvidence(undefined, r, withMs(ms(30) + 500));
    expect(out).toEqual({ checkedAt: at(120), since: at(30), provenAt: at(40), lastSignInAt: at(50), lastFailureAt: at(45), lastFailureCode: 7000215 });
    fc.assert(
      fc.property(validEvidence, fc.integer({ min: 0, max: 999 }), (previous, extraMs) => {
        const next = nextEvidence(previous, { ...r, asOf: withMs(ms(200) + extraMs) });
        for (const t of [next.checkedAt, next.since, next.provenAt, next.lastSignInAt, next.lastFailureAt]) if (t !== undefined) expect(t).toMatch(WHOLE_SECONDS);
        expect(parseEvidenceTag(formatEvidenceTag(next))).toEqual(next);
      }),
      { numRuns: 500 },
    );
  });
});

describe('sameFindings', () => {
  const base: FinOpsEvidence = { checkedAt: at(60), since: at(30), provenAt: at(35), lastSignInAt: at(50), lastFailureAt: at(40), lastFailureCode: 7000215, provider: 'Graph' };

  it('ignores when the reading was taken and from when, and nothing else', () => {
    expect(sameFindings(base, { ...base, checkedAt: at(90), since: at(31) })).toBe(true);
    const changes: Array<Partial<FinOpsEvidence>> = [
      { provenAt: at(36) },
      { lastSignInAt: at(51) },
      { lastFailureAt: at(41) },
      { lastFailureCode: 7000222 },
      { provider: 'SMTP' },
      { unavailable: 'permission' },
    ];
    for (const change of changes) expect([change, sameFindings(base, { ...base, ...change })]).toEqual([change, false]);
    expect(sameFindings(undefined, undefined)).toBe(true);
    expect(sameFindings(base, undefined)).toBe(false);
    expect(sameFindings(undefined, base)).toBe(false);
  });
});

// ---- judgeProof ---------------------------------------------------------------------------------------

describe('judgeProof', () => {
  const expect_ = { appId: APP_ID, keyId: KEY_ID };
  const problemsOf = (r: EvidenceReading): string[] => {
    const proof = judgeProof(r, expect_);
    if (proof.state === 'proven') throw new Error(`unexpectedly proven: ${proof.detail}`);
    return proof.problems;
  };

  it('is proven by a success with the credential when F&O itself agrees', () => {
    const proof = judgeProof(reading(available({ current: signedIn(40, 55, 4) }), { provider: 'Graph', applicationId: APP_ID.toUpperCase() }), expect_);
    expect(proof).toEqual({ state: 'proven', at: at(40), detail: `Entra shows F&O signing in with credential ${KEY_ID} at ${at(40)}` });
    // Without the extension F&O shows no application id: nothing contradicts.
    expect(judgeProof(reading(available({ current: signedIn(40) })), expect_).state).toBe('proven');
  });

  it('is not proven while the batch provider is not Graph, even with a sign-in (it came from elsewhere)', () => {
    expect(problemsOf(reading(available({ current: signedIn(40) }), { provider: 'SMTP' }))).toEqual(['the batch email provider is still SMTP, not Graph']);
    expect(problemsOf(reading(available({ current: signedIn(40) }), { provider: '' }))).toEqual(['the batch email provider is still not set, not Graph']);
  });

  it('is not proven while F&O holds another application id, or none', () => {
    expect(problemsOf(reading(available({ current: signedIn(40) }), { provider: 'Graph', applicationId: FOREIGN_APP }))).toEqual([
      `F&O holds application ${FOREIGN_APP}, not ${APP_ID}`,
    ]);
    expect(problemsOf(reading(available({ current: signedIn(40) }), { applicationId: null }))).toEqual(['F&O holds no Graph application id']);
  });

  it('names a wrong secret (AADSTS7000215) that failed after the last success, and not one that failed before it', () => {
    expect(problemsOf(reading(available({ failure: wrongSecret(50) })))).toEqual([
      `F&O signs in with a secret that does not match (AADSTS7000215 at ${at(50)})`,
      `no sign-in with credential ${KEY_ID} yet (F&O signs in when its email batch sends)`,
    ]);
    // Contradicted proof with a failure after the last success: both are said.
    expect(problemsOf(reading(available({ current: signedIn(40), failure: wrongSecret(50) }), { provider: 'SMTP' }))).toEqual([
      'the batch email provider is still SMTP, not Graph',
      `F&O signs in with a secret that does not match (AADSTS7000215 at ${at(50)})`,
    ]);
    expect(problemsOf(reading(available({ current: signedIn(40, 60), failure: wrongSecret(50) }), { provider: 'SMTP' }))).toEqual([
      'the batch email provider is still SMTP, not Graph',
    ]);
  });

  it('names an expired secret (AADSTS7000222) with the credential Entra names', () => {
    expect(problemsOf(reading(available({ failure: expiredSecret(50) })))[0]).toBe(
      `F&O signs in with an expired secret (credential ${OLD_KEY}) (AADSTS7000222 at ${at(50)})`,
    );
    const { keyId: _omitted, ...withoutKey } = expiredSecret(50);
    expect(problemsOf(reading(available({ failure: withoutKey })))[0]).toBe(`F&O signs in with an expired secret (AADSTS7000222 at ${at(50)})`);
    expect(problemsOf(reading(available({ failure: { at: at(50), code: 700016, reason: 'Application not found.' } })))[0]).toBe(
      `F&O's sign-in fails: AADSTS700016 Application not found. (at ${at(50)})`,
    );
  });

  it('names credentials the environment does not hold', () => {
    expect(problemsOf(reading(available({ other: { keyIds: [FOREIGN_KEY, 'cccccccc-0000-0000-0000-000000000004'], lastSuccessAt: at(50) } })))).toEqual([
      `F&O signs in with credential ${FOREIGN_KEY}, cccccccc-0000-0000-0000-000000000004, which this environment does not hold`,
      `no sign-in with credential ${KEY_ID} yet (F&O signs in when its email batch sends)`,
    ]);
  });

  it('says when F&O signs in only with the previous credential', () => {
    expect(problemsOf(reading(available({ previous: signedIn(10, 55, 9) })))).toEqual([
      `F&O still signs in with the previous credential (last at ${at(55)})`,
      `no sign-in with credential ${KEY_ID} yet (F&O signs in when its email batch sends)`,
    ]);
  });

  it('waits with one sentence when nothing has happened yet', () => {
    expect(judgeProof(reading(available()), expect_)).toEqual({
      state: 'waiting',
      problems: [`no sign-in with credential ${KEY_ID} yet (F&O signs in when its email batch sends)`],
    });
  });

  it("is unprovable without the sign-in log, listing only what F&O's own view contradicts", () => {
    for (const reason of REASONS) expect(judgeProof(reading(unavailable(reason)), expect_)).toEqual({ state: 'unprovable', reason, problems: [] });
    expect(judgeProof(reading(unavailable('permission'), { provider: 'SMTP', applicationId: FOREIGN_APP }), expect_)).toEqual({
      state: 'unprovable',
      reason: 'permission',
      problems: ['the batch email provider is still SMTP, not Graph', `F&O holds application ${FOREIGN_APP}, not ${APP_ID}`],
    });
  });

  it('waits when the log could not be read this time, saying why', () => {
    expect(judgeProof(reading(failedRead), expect_)).toEqual({ state: 'waiting', problems: ['the sign-in log could not be read: Microsoft Graph answered 503'] });
    expect(judgeProof(reading(failedRead, { provider: 'Exchange' }), expect_)).toEqual({
      state: 'waiting',
      problems: ['the batch email provider is still Exchange, not Graph', 'the sign-in log could not be read: Microsoft Graph answered 503'],
    });
  });
});

// ---- judgeRevocation ------------------------------------------------------------------------------------

describe('judgeRevocation', () => {
  const times = { nowMs: ms(48 * HOUR), graceEndsMs: ms(24 * HOUR), maxEndsMs: ms(72 * HOUR) };
  const atMax = { ...times, nowMs: times.maxEndsMs };

  it('waits for the grace minimum whatever the evidence, up to its last millisecond', () => {
    const during = { ...times, nowMs: times.graceEndsMs - 1 };
    for (const s of [available({ current: signedIn(60) }), unavailable('permission'), failedRead]) {
      expect(judgeRevocation(reading(s), during)).toEqual({ decision: 'wait', detail: `grace period until ${new Date(times.graceEndsMs).toISOString()}` });
    }
    expect(judgeRevocation(reading(available({ current: signedIn(60) })), { ...times, nowMs: times.graceEndsMs }).decision).toBe('revoke');
  });

  it('revokes after the grace minimum when the sign-in log cannot be read at all', () => {
    expect(judgeRevocation(reading(unavailable('licence')), times)).toEqual({ decision: 'revoke', detail: 'grace period over; sign-in evidence unavailable (licence)' });
  });

  it('revokes once the new credential is seen and the old one not since', () => {
    expect(judgeRevocation(reading(available({ current: signedIn(60, 600) })), times)).toEqual({
      decision: 'revoke',
      detail: `F&O signs in with the new credential since ${at(60)}`,
    });
    expect(judgeRevocation(reading(available({ current: signedIn(60, 600), previous: signedIn(0, 59) })), times)).toEqual({
      decision: 'revoke',
      detail: `F&O signs in with the new credential since ${at(60)}; last with the previous one at ${at(59)}`,
    });
  });

  it('waits while some F&O server still signs in with the old credential after the new one, and keeps it at the maximum', () => {
    const mixed = reading(available({ current: signedIn(60, 600), previous: signedIn(0, 300) }));
    const waiting = `F&O still signs in with the previous credential (last at ${at(300)}, after the new one at ${at(60)})`;
    expect(judgeRevocation(mixed, times)).toEqual({ decision: 'wait', detail: `${waiting}; waiting until ${new Date(times.maxEndsMs).toISOString()} at most` });
    expect(judgeRevocation(mixed, atMax)).toEqual({ decision: 'keep', detail: `${waiting}; the previous credential stays` });
    // The same second counts as "not before".
    expect(judgeRevocation(reading(available({ current: signedIn(60), previous: signedIn(0, 60) })), times).decision).toBe('wait');
  });

  it('waits while the new credential has not been seen, and keeps the old one at the maximum', () => {
    expect(judgeRevocation(reading(available({ previous: signedIn(0, 300) })), times)).toEqual({
      decision: 'wait',
      detail: `F&O has not been seen signing in with the new credential; waiting until ${new Date(times.maxEndsMs).toISOString()} at most`,
    });
    expect(judgeRevocation(reading(available()), atMax)).toEqual({
      decision: 'keep',
      detail: 'F&O has not been seen signing in with the new credential; the previous credential stays',
    });
  });

  it('waits when the log could not be read this time, and keeps the old credential at the maximum', () => {
    expect(judgeRevocation(reading(failedRead), times)).toEqual({
      decision: 'wait',
      detail: `the sign-in log could not be read: Microsoft Graph answered 503; waiting until ${new Date(times.maxEndsMs).toISOString()} at most`,
    });
    expect(judgeRevocation(reading(failedRead), atMax)).toEqual({
      decision: 'keep',
      detail: 'the sign-in log could not be read: Microsoft Graph answered 503; the previous credential stays',
    });
  });
});

// ---- judgeFinOpsDrift -----------------------------------------------------------------------------------

describe('judgeFinOpsDrift', () => {
  /** A drift check at 10:00 on 3 March, the previous one a day earlier; F&O signed in an hour ago. */
  const now = 48 * HOUR;
  const lastCheckedAt = at(24 * HOUR);
  const base = { appId: APP_ID, keyId: KEY_ID, lastCheckedAt, silenceHours: 24 };
  const healthy = (): SignInEvidence => available({ current: signedIn(now - 5 * HOUR, now - HOUR, 20) });
  const drift = (s: SignInEvidence, finOps: Partial<FinOpsView> = {}, expectOverrides: Partial<Parameters<typeof judgeFinOpsDrift>[1]> = {}) =>
    judgeFinOpsDrift(reading(s, finOps, { asOf: at(now), since: at(now - 26 * HOUR) }), { ...base, ...expectOverrides });

  it('finds nothing when F&O signs in with its credential and its provider and application are right', () => {
    expect(drift(healthy(), { provider: 'Graph', applicationId: APP_ID, health: { lastSuccessAt: at(now - HOUR), lastSuccessProvider: 'Graph', failuresLast24Hours: 0, lastFailureAt: null, lastFailureDetails: null } })).toEqual({
      findings: [],
      redeliver: false,
    });
  });

  it('asks for re-delivery when the provider was reset or F&O holds another application (a refresh or a database copy)', () => {
    expect(drift(healthy(), { provider: 'SMTP' })).toEqual({ findings: ['the batch email provider is still SMTP, not Graph'], redeliver: true });
    expect(drift(healthy(), { applicationId: FOREIGN_APP })).toEqual({ findings: [`F&O holds application ${FOREIGN_APP}, not ${APP_ID}`], redeliver: true });
    expect(drift(healthy(), { applicationId: null })).toEqual({ findings: ['F&O holds no Graph application id'], redeliver: true });
  });

  it('asks for re-delivery for a failed sign-in since the last check that no success followed', () => {
    const failing = available({ current: signedIn(now - 30 * HOUR, now - 3 * HOUR), failure: wrongSecret(now - 2 * HOUR), failures: 7 });
    expect(drift(failing)).toEqual({ findings: [`F&O signs in with a secret that does not match (AADSTS7000215 at ${at(now - 2 * HOUR)})`], redeliver: true });
    // Followed by a success: a passing glitch.
    expect(drift(available({ current: signedIn(now - 30 * HOUR, now - HOUR), failure: wrongSecret(now - 2 * HOUR) }))).toEqual({ findings: [], redeliver: false });
    // Before the last check: already judged then.
    expect(drift(available({ current: signedIn(now - 30 * HOUR, now - 26 * HOUR), failure: expiredSecret(now - 25 * HOUR) }), {}, { silenceHours: 0 })).toEqual({ findings: [], redeliver: false });
    // Without an earlier check, the window read is the measure.
    const { lastCheckedAt: _none, ...firstCheck } = base;
    const first = judgeFinOpsDrift(reading(available({ failure: expiredSecret(now - 25 * HOUR) }), {}, { asOf: at(now), since: at(now - 26 * HOUR) }), { ...firstCheck, silenceHours: 0 });
    expect(first.findings).toEqual([
      `F&O signs in with an expired secret (credential ${OLD_KEY}) (AADSTS7000222 at ${at(now - 25 * HOUR)})`,
    ]);
  });

  it("asks for re-delivery when F&O signs in with credentials the registry does not hold", () => {
    expect(drift(available({ current: signedIn(now - 3 * HOUR), other: { keyIds: [FOREIGN_KEY], lastSuccessAt: at(now - HOUR) } }))).toEqual({
      findings: [`F&O signs in with credential ${FOREIGN_KEY}, which this environment's registry does not hold`],
      redeliver: true,
    });
  });

  it('asks for re-delivery when F&O went back to a previous credential since the last check', () => {
    expect(drift(available({ current: signedIn(now - 30 * HOUR, now - 3 * HOUR), previous: signedIn(now - 40 * HOUR, now - 2 * HOUR) }))).toEqual({
      findings: [`F&O still signs in with a previous credential (last at ${at(now - 2 * HOUR)}), not with ${KEY_ID}`],
      redeliver: true,
    });
    // The previous credential's last use came before the current one's: the switch is done.
    expect(drift(available({ current: signedIn(now - 30 * HOUR, now - HOUR), previous: signedIn(now - 40 * HOUR, now - 2 * HOUR) }))).toEqual({ findings: [], redeliver: false });
  });

  it('measures silence from the later of the delivery and the last sign-in, the recorded one included', () => {
    const quiet = available();
    // Last sign-in known only from the tag, 25 hours ago: silent for longer than 24 hours.
    expect(drift(quiet, {}, { lastSignInAt: at(now - 25 * HOUR) })).toEqual({
      findings: [`no successful sign-in by F&O with credential ${KEY_ID} since ${at(now - 25 * HOUR)} (more than 24 hours)`],
      redeliver: true,
    });
    // Exactly 24 hours is not more than 24 hours.
    expect(drift(quiet, {}, { lastSignInAt: at(now - 24 * HOUR) }).findings).toEqual([]);
    // Delivered 3 hours ago: the old silence proves nothing about the new credential.
    expect(drift(quiet, {}, { lastSignInAt: at(now - 100 * HOUR), deliveredSinceMs: ms(now - 3 * HOUR) }).findings).toEqual([]);
    // A sign-in in the window counts even when the tag is older.
    expect(drift(available({ current: signedIn(now - 2 * HOUR) }), {}, { lastSignInAt: at(now - 100 * HOUR) }).findings).toEqual([]);
    // Never signed in, delivered 30 hours ago.
    expect(drift(quiet, {}, { deliveredSinceMs: ms(now - 30 * HOUR) })).toEqual({
      findings: [`no successful sign-in by F&O with credential ${KEY_ID} in the last 24 hours`],
      redeliver: true,
    });
  });

  it('looks for silence only while F&O should send through Graph, and not at all with 0 hours', () => {
    const silent = { lastSignInAt: at(now - 100 * HOUR) };
    expect(drift(available(), { provider: 'Graph' }, silent).findings).toHaveLength(1);
    expect(drift(available(), {}, silent).findings).toHaveLength(1);
    // SMTP: the provider is the finding, silence is expected.
    expect(drift(available(), { provider: 'SMTP' }, silent).findings).toEqual(['the batch email provider is still SMTP, not Graph']);
    expect(drift(available(), { provider: 'Graph' }, { ...silent, silenceHours: 0 })).toEqual({ findings: [], redeliver: false });
    // Without the sign-in log, silence cannot be told from absence of evidence.
    expect(drift(unavailable('permission'), { provider: 'Graph' }, silent)).toEqual({ findings: [], redeliver: false });
    expect(drift(failedRead, { provider: 'Graph' }, silent)).toEqual({ findings: [], redeliver: false });
  });

  const health = (minutesAgo: number, details: string | null, failures = 3) => ({
    health: { lastSuccessAt: null, lastSuccessProvider: null, failuresLast24Hours: failures, lastFailureAt: at(now - minutesAgo), lastFailureDetails: details },
  });

  it.each<[string, string, boolean]>([
    ['a wrong secret', 'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.', true],
    ['an expired secret', "AADSTS7000222: The provided client secret keys for app '…' are expired.", true],
    ['a secret F&O cannot decrypt (a database copy)', 'Microsoft.Dynamics.Ax.Xpp.Security.CryptoEncryptionException: Encryption error occurred with exception', true],
    ['a refusal by Graph', 'Microsoft Graph returned (403) Forbidden. ErrorAccessDenied: Access is denied.', false],
    ['a mailbox that does not exist', 'Microsoft Graph returned (404) Not found. ErrorInvalidUser: The requested user [address] is invalid.', false],
  ])("reports F&O's own send failures since the last check, re-delivering only for a credential failure: %s", (_label, details, redeliver) => {
    expect(drift(unavailable('permission'), health(HOUR, details))).toEqual({
      findings: [`F&O's email history shows 3 failed send(s) in the last 24 hours; the newest at ${at(now - HOUR)}: ${details}`],
      redeliver,
    });
  });

  it("ignores F&O's send failures from before the last check, and says when F&O gave no details", () => {
    expect(drift(unavailable('permission'), health(25 * HOUR, 'AADSTS7000215: Invalid client secret provided.'))).toEqual({ findings: [], redeliver: false });
    expect(drift(unavailable('permission'), health(HOUR, null, 1))).toEqual({
      findings: [`F&O's email history shows 1 failed send(s) in the last 24 hours; the newest at ${at(now - HOUR)}: no details`],
      redeliver: false,
    });
  });

  it('reports every finding of one reading together', () => {
    const everything = available({ other: { keyIds: [FOREIGN_KEY] }, failure: wrongSecret(now - HOUR) });
    const out = drift(everything, { provider: 'SMTP', applicationId: FOREIGN_APP, ...health(HOUR, 'AADSTS7000215: Invalid client secret provided.') });
    expect(out.redeliver).toBe(true);
    expect(out.findings).toEqual([
      'the batch email provider is still SMTP, not Graph',
      `F&O holds application ${FOREIGN_APP}, not ${APP_ID}`,
      `F&O signs in with a secret that does not match (AADSTS7000215 at ${at(now - HOUR)})`,
      `F&O signs in with credential ${FOREIGN_KEY}, which this environment's registry does not hold`,
      `F&O's email history shows 3 failed send(s) in the last 24 hours; the newest at ${at(now - HOUR)}: AADSTS7000215: Invalid client secret provided.`,
    ]);
  });
});
