/**
 * What the X++ of the model does with the client secret and with F&O's non-public names, checked on
 * the tokens of the code (comments and strings apart): the secret is written only through the
 * kernel's encrypted-field method, never read back or decrypted; the Graph field names of
 * SysEmailParameters live in one class; the health entity reads no recipients, subjects or bodies.
 */
import { GRAPH_CREDENTIAL_ENTITY } from '../../src/contracts/finopsExtension';
import {
  allXppSources,
  findCalls,
  loadObject,
  matchesAt,
  method,
  texts,
  tokenize,
  type Call,
  type Token,
} from './finopsModel';

const SECRET = GRAPH_CREDENTIAL_ENTITY.fields.clientSecret;
const FIELDS_CLASS = 'FnoGraphMailParametersFields';
const SECRET_FIELD_ID = [FIELDS_CLASS, '::', 'applicationSecretFieldId', '(', ')'];
/** Global::editEncryptedField for container fields, Global::editEncryptedStringField for strings. */
const ENCRYPTED_FIELD_METHODS = [
  ['Global', '::', 'editEncryptedField'],
  ['Global', '::', 'editEncryptedStringField'],
] as const;

function encryptedFieldCalls(tokens: Token[]): Call[] {
  const bare = ENCRYPTED_FIELD_METHODS.flatMap((m) => findCalls(tokens, [m[2]]));
  const qualified = ENCRYPTED_FIELD_METHODS.flatMap((m) => findCalls(tokens, m));
  // A bare call (without Global::) is the same kernel method; count each call once.
  const starts = new Set(qualified.map((c) => c.at + 2));
  return [...qualified, ...bare.filter((c) => !starts.has(c.at))];
}

/** The secret written: (buffer, this.ClientSecret, <secret field id>, true). */
function isSecretWrite(call: Call): boolean {
  return (
    call.args.length === 4 &&
    texts(call.args[1] ?? []).join(' ') === `this . ${SECRET}` &&
    texts(call.args[2] ?? []).join(' ') === SECRET_FIELD_ID.join(' ') &&
    texts(call.args[3] ?? []).join(' ') === 'true'
  );
}

const credentialEntity = loadObject('AxDataEntityView', GRAPH_CREDENTIAL_ENTITY.dataEntity);
const sources = allXppSources();

describe('the client secret', () => {
  it('is written in mapEntityToDataSource through the encrypted-field method, into the data source buffer', () => {
    const tokens = tokenize(method(credentialEntity, 'mapEntityToDataSource').source);
    const writes = encryptedFieldCalls(tokens).filter(isSecretWrite);
    expect(writes).toHaveLength(1);
    const buffer = texts(writes[0]?.args[0] ?? []);
    expect(buffer).toHaveLength(1);
    // The buffer is the data source's: `SysEmailParameters <buffer> = _dataSourceCtx.getBuffer();`
    const declared = tokens.findIndex((_t, i) => matchesAt(tokens, i, ['SysEmailParameters', buffer[0] ?? '', '=', '_dataSourceCtx', '.', 'getBuffer', '(', ')']));
    expect(declared).toBeGreaterThanOrEqual(0);
  });

  it('is never read in postLoad: postLoad only clears it', () => {
    const tokens = tokenize(method(credentialEntity, 'postLoad').source);
    expect(encryptedFieldCalls(tokens)).toEqual([]);
    expect(tokens.some((_t, i) => matchesAt(tokens, i, SECRET_FIELD_ID.slice(0, 3)))).toBe(false);
    const uses = tokens.flatMap((_t, i) => (matchesAt(tokens, i, ['this', '.', SECRET]) ? [texts(tokens.slice(i, i + 5)).join(' ')] : []));
    expect(uses).toEqual([`this . ${SECRET} = ''`]);
  });

  it('is only ever cleared, tested for emptiness or handed to the encrypted-field write, anywhere in the model', () => {
    const misuse: string[] = [];
    for (const { object, method: name, source } of sources) {
      const tokens = tokenize(source);
      const writeArgs = new Set(encryptedFieldCalls(tokens).filter(isSecretWrite).map((c) => c.argStarts[1]));
      tokens.forEach((t, i) => {
        if (t.text !== SECRET) return;
        const ref = matchesAt(tokens, i - 2, ['this', '.']) ? i - 2 : i;
        const after = texts(tokens.slice(i + 1, i + 3));
        const cleared = after[0] === '=' && after[1] === "''" && tokens[i + 3]?.text === ';';
        const emptinessTest = (after[0] === '!=' || after[0] === '==') && after[1] === "''";
        if (writeArgs.has(ref) || cleared || emptinessTest) return;
        misuse.push(`${object}.${name}: ${texts(tokens.slice(Math.max(0, ref - 3), i + 4)).join(' ')}`);
      });
    }
    expect(misuse).toEqual([]);
  });

  it('is never decrypted: every encrypted-field call of the model sets, none gets', () => {
    const calls = sources.flatMap(({ object, method: name, source }) =>
      encryptedFieldCalls(tokenize(source)).map((c) => ({ where: `${object}.${name}`, set: texts(c.args[3] ?? []).join(' ') })),
    );
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.set !== 'true')).toEqual([]);
  });

  it("is the only use of the secret field's id", () => {
    const uses = sources.flatMap(({ object, method: name, source }) => {
      const tokens = tokenize(source);
      const inWrites = new Set(encryptedFieldCalls(tokens).filter(isSecretWrite).map((c) => c.argStarts[2]));
      return tokens.flatMap((_t, i) =>
        matchesAt(tokens, i, SECRET_FIELD_ID.slice(0, 3)) && !(object === FIELDS_CLASS && name === 'classDeclaration') && !inWrites.has(i)
          ? [`${object}.${name}`]
          : [],
      );
    });
    expect(uses).toEqual([]);
  });
});

describe("F&O's Graph field names", () => {
  /** Field names of SysEmailParameters that Microsoft publishes (Common Data Model schema). */
  const PUBLIC_FIELDS = new Set(['Key', 'MailerNonInteractive']);

  function sysEmailParametersFieldRefs(): { object: string; field: string }[] {
    return sources.flatMap(({ object, source }) => {
      const tokens = tokenize(source);
      return ['fieldNum', 'fieldStr', 'fieldnum', 'fieldstr'].flatMap((fn) =>
        findCalls(tokens, [fn])
          .filter((c) => texts(c.args[0] ?? []).join('') === 'SysEmailParameters')
          .map((c) => ({ object, field: texts(c.args[1] ?? []).join('') })),
      );
    });
  }

  it(`are named in ${FIELDS_CLASS} and nowhere else`, () => {
    const refs = sysEmailParametersFieldRefs();
    const graphFields = refs.filter((r) => !PUBLIC_FIELDS.has(r.field));
    expect(graphFields.length).toBe(2);
    expect(graphFields.filter((r) => r.object !== FIELDS_CLASS)).toEqual([]);
    // Nor as a member of a buffer (`parameters.GraphApplicationSecret`) or in any other form.
    const names = new Set(graphFields.map((r) => r.field));
    const elsewhere = sources.filter(({ object, source }) => object !== FIELDS_CLASS && tokenize(source).some((t) => names.has(t.text)));
    expect(elsewhere.map((s) => `${s.object}.${s.method}`)).toEqual([]);
  });

  it('are reached by every other object through that class', () => {
    const callers = new Set(
      sources.flatMap(({ object, source }) => {
        const tokens = tokenize(source);
        return tokens.some((_t, i) => matchesAt(tokens, i, [FIELDS_CLASS, '::'])) ? [object] : [];
      }),
    );
    expect([...callers].sort()).toEqual([GRAPH_CREDENTIAL_ENTITY.dataEntity]);
  });
});

describe('the email health entity', () => {
  const health = loadObject('AxDataEntityView', 'FnoGraphMailHealthEntity');
  const tokens = tokenize(method(health, 'postLoad').source);

  it('reads no message body, subject or recipient', () => {
    for (const forbidden of ['Recipient', 'Subject', 'Message', 'SysOutgoingEmailData', 'Sender', 'SenderName']) {
      expect({ forbidden, used: tokens.some((t) => t.text === forbidden) }).toEqual({ forbidden, used: false });
    }
  });

  it('selects named fields or counts only, never whole email records', () => {
    const selects = tokens.flatMap((t, i) => (t.text === 'select' ? [i] : []));
    expect(selects.length).toBeGreaterThan(0);
    for (const at of selects) {
      let i = at + 1;
      while (['firstonly', 'forupdate', 'crosscompany'].includes(tokens[i]?.text ?? '')) i += 1;
      const end = tokens.findIndex((t, k) => k > at && t.text === ';');
      const fromAt = tokens.findIndex((t, k) => k > i && k < end && t.text === 'from');
      const list = fromAt === -1 ? [] : texts(tokens.slice(i, fromAt));
      // A field list (`Mailer, CreatedDateTime`) or an aggregate (`count(RecId)`), not the buffer.
      expect({ at, list, whole: list.length === 0 }).toEqual({ at, list, whole: false });
    }
  });

  it('passes the failure text through the address scrubber', () => {
    const assigned = tokens.findIndex((_t, i) => matchesAt(tokens, i, ['this', '.', 'LastFailureDetails', '=']));
    expect(texts(tokens.slice(assigned + 4, assigned + 8))).toEqual(['FnoGraphMailFailureText', '::', 'scrub', '(']);
  });
});

describe('the test email', () => {
  it('uses the recipient only to check it and to address the message, never in its answer', () => {
    const send = tokenize(method(loadObject('AxClass', 'FnoGraphMailTestEmail'), 'send').source);
    const uses = send.flatMap((t, i) => (t.text === '_recipient' && send[i - 1]?.text !== 'Email' ? [texts(send.slice(i - 4, i)).join(' ')] : []));
    expect(uses).toEqual(['FnoGraphMailTestEmail :: isSingleAddress (', 'messageBuilder . addTo (']);
  });
});
