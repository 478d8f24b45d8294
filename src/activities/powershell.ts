/**
 * Text that goes into PowerShell commands a person will paste. PowerShell ends a single-quoted string
 * at `'` and also at the typographic quotes U+2018, U+2019, U+201A and U+201B, and inside one a quote
 * is escaped by doubling it (about_Quoting_Rules:
 * https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_quoting_rules).
 * Commands name objects by id; what free text remains (mailbox addresses) is validated at the edge and
 * quoted here for every quote character the shell recognises.
 */

/** The characters PowerShell treats as a single quote. */
export const POWERSHELL_SINGLE_QUOTES = ["'", '\u2018', '\u2019', '\u201a', '\u201b'] as const;

/** A PowerShell single-quoted string holding exactly `value`: every single-quote character doubled. */
export function psQuote(value: string): string {
  let out = '';
  for (const ch of value) out += (POWERSHELL_SINGLE_QUOTES as readonly string[]).includes(ch) ? ch + ch : ch;
  // A control character (a line break above all) would end the command the person pastes.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) throw new Error('a control character cannot go into a pasted command');
  return `'${out}'`;
}
