/**
 * `npm run docs`: the parts of the documentation that are data, rendered from their one source so they
 * cannot drift: the settings table of docs/settings.md from `SETTINGS` in src/config.ts, and the
 * figures of docs/figures.md from docs/figures.json (what `npm run bench` and the reliability suite
 * measured last). `--check` changes nothing and exits 1 when a page differs from its rendering;
 * `npm test` runs the same check (test/docs/generated.test.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { HOST_SETTING_NAMES, HOST_SETTINGS, SETTING_NAMES, SETTINGS } from '../src/config';

export interface GeneratedBlock {
  /** Page, relative to the repository root. */
  file: string;
  /** Name in the page's markers: `<!-- generated:{name} -->` … `<!-- /generated:{name} -->`. */
  name: string;
  render(root: string): string;
}

function settingDefault(value: string | undefined): string {
  if (value === undefined) return '— (required)';
  if (value === '') return '(empty)';
  return `\`${value}\``;
}

/** The settings table: the host's settings, then one row per product setting in `SETTINGS` order. */
export function settingsTable(): string {
  const row = (key: string, spec: { default: string | undefined; description: string }): string => `| \`${key}\` | ${settingDefault(spec.default)} | ${spec.description} |`;
  return [
    '| setting | default | meaning |',
    '| --- | --- | --- |',
    ...HOST_SETTING_NAMES.map((key) => row(key, HOST_SETTINGS[key])),
    ...SETTING_NAMES.map((key) => row(key, SETTINGS[key])),
  ].join('\n');
}

export const BLOCKS: GeneratedBlock[] = [{ file: 'docs/settings.md', name: 'settings', render: () => settingsTable() }];

/** The page with every generated block replaced by its rendering. */
export function renderPage(root: string, file: string, blocks: readonly GeneratedBlock[] = BLOCKS): string {
  let text = readFileSync(path.join(root, file), 'utf8');
  for (const block of blocks.filter((b) => b.file === file)) {
    const open = `<!-- generated:${block.name} -->`;
    const close = `<!-- /generated:${block.name} -->`;
    const start = text.indexOf(open);
    const end = text.indexOf(close);
    if (start < 0 || end < start) throw new Error(`${file} has no ${open} … ${close} block`);
    text = `${text.slice(0, start + open.length)}\n${block.render(root)}\n${text.slice(end)}`;
  }
  return text;
}

export function pages(blocks: readonly GeneratedBlock[] = BLOCKS): string[] {
  return [...new Set(blocks.map((b) => b.file))];
}

if (require.main === module) {
  const root = path.resolve(__dirname, '..', '..');
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const file of pages()) {
    const rendered = renderPage(root, file);
    if (rendered === readFileSync(path.join(root, file), 'utf8')) continue;
    stale += 1;
    if (check) process.stderr.write(`${file} differs from its rendering: run npm run docs\n`);
    else {
      writeFileSync(path.join(root, file), rendered);
      process.stdout.write(`wrote ${file}\n`);
    }
  }
  process.exitCode = check && stale > 0 ? 1 : 0;
}
