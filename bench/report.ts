/**
 * The benchmark's figures: one row each (value, target, pass or fail), printed as a table and written to
 * results.json. A figure without a target is reported for information and never fails the run.
 */

export interface Figure {
  section: string;
  name: string;
  /** The measured number (null when the figure is a text). */
  value: number | null;
  /** How the value is shown, with its unit. */
  display: string;
  /** The target in words, e.g. "≤ 15"; null when the figure is informational. */
  target: string | null;
  /** null when there is no target. */
  pass: boolean | null;
  /** Why a figure is what it is, when the number alone would mislead. */
  note?: string;
}

export function figure(section: string, name: string, value: number | null, display: string, target?: { text: string; pass: boolean }, note?: string): Figure {
  return {
    section,
    name,
    value,
    display,
    target: target?.text ?? null,
    pass: target ? target.pass : null,
    ...(note ? { note } : {}),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function ms(value: number): string {
  return value >= 10_000 ? `${round(value / 1000, 1)} s` : `${round(value)} ms`;
}

/** A plain-text table: section, figure, value, target, result; notes listed below it. */
export function formatTable(figures: readonly Figure[]): string {
  const headers = ['section', 'figure', 'value', 'target', 'result'];
  const rows = figures.map((f) => [f.section, f.name, f.display, f.target ?? '', f.pass === null ? 'info' : f.pass ? 'pass' : 'FAIL']);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [line(headers), widths.map((w) => '-'.repeat(w)).join('  ')];
  let section = '';
  for (const [i, r] of rows.entries()) {
    if (r[0] !== section && i > 0) out.push('');
    section = r[0] ?? '';
    out.push(line(r));
  }
  const notes = figures.filter((f) => f.note);
  if (notes.length > 0) {
    out.push('', 'Notes:');
    for (const f of notes) out.push(`- ${f.section} / ${f.name}: ${f.note}`);
  }
  return out.join('\n');
}
