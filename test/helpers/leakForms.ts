/**
 * How a secret can hide in text besides as itself: base64 and base64url (at each of the three byte
 * alignments a longer encoded string may put it in), URL-encoded (`encodeURIComponent`, and `+` for
 * spaces), JSON-escaped, and HTML-escaped. A leak scan looks for every form.
 */

const b64url = (s: string): string => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/**
 * The base64 text that always appears when `secret` is encoded inside a longer string starting at byte
 * offset `k` mod 3: the characters fully determined by the secret's own bytes.
 */
function base64Cores(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const cores: string[] = [];
  for (let k = 0; k < 3; k++) {
    const padded = Buffer.concat([Buffer.alloc(k, 0x41), bytes]);
    const encoded = padded.toString('base64').replace(/=+$/, '');
    // Skip the characters that mix in the padding bytes before, and the last ones that may mix in bytes after.
    const start = Math.ceil((k * 4) / 3);
    const fullGroups = Math.floor(padded.length / 3) * 4;
    const core = encoded.slice(start, fullGroups);
    if (core.length >= 16) cores.push(core);
  }
  return cores;
}

export interface SecretForm {
  form: string;
  text: string;
}

export function secretForms(secret: string): SecretForm[] {
  const forms: SecretForm[] = [{ form: 'plain', text: secret }];
  const add = (form: string, text: string): void => {
    if (text.length > 0 && !forms.some((f) => f.text === text)) forms.push({ form, text });
  };
  add('url-encoded', encodeURIComponent(secret));
  add('form-encoded', encodeURIComponent(secret).replace(/%20/g, '+'));
  add('json-escaped', JSON.stringify(secret).slice(1, -1));
  add('html-escaped', secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'));
  for (const core of base64Cores(secret)) {
    add('base64', core);
    add('base64url', b64url(core));
  }
  return forms;
}

/** One entry per (secret, form, place) found; the entries never carry the secret. */
export function findLeaks(secrets: readonly string[], haystacks: ReadonlyArray<readonly [string, string]>): string[] {
  const found: string[] = [];
  secrets.forEach((secret, i) => {
    for (const { form, text } of secretForms(secret)) {
      for (const [where, hay] of haystacks) if (hay.includes(text)) found.push(`secret #${i} (${form}) in ${where}`);
    }
  });
  return found;
}
