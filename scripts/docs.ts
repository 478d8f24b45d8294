/**
 * `npm run docs`: the parts of the documentation that are data, rendered from their one source so they
 * cannot drift: the settings table of docs/settings.md from `SETTINGS` in src/config.ts, and the
 * figures of docs/figures.md from docs/figures.json (what `npm run bench` and the reliability suite
 * measured last). `--check` changes nothing and exits 1 when a page differs from its rendering;
 * `npm test` runs the same check (test/docs/generated.test.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

// ---- figures -------------------------------------------------------------------------------------

/** docs/figures.json: what `npm run bench` and the reliability suite measured last (`npm run docs -- --update-figures`). */
export interface FiguresData {
  bench?: {
    machine: string;
    ranAt: string;
    elapsedMs: number;
    figures: Array<{ section: string; name: string; display: string; target: string | null; pass: boolean | null; note?: string }>;
  };
  reliability?: Record<string, Record<string, unknown>>;
}

export const FIGURES_FILE = 'docs/figures.json';

function readFigures(root: string): FiguresData {
  const file = path.join(root, FIGURES_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as FiguresData) : {};
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function benchTable(data: FiguresData): string {
  const bench = data.bench;
  if (!bench) return '_No bench run recorded yet: run `npm run bench`, then `npm run docs -- --update-figures`._';
  const rows = bench.figures.map((f) => `| ${cell(f.section)} | ${cell(f.name)} | ${cell(f.display)} | ${cell(f.target ?? '')} | ${f.pass === null ? 'info' : f.pass ? 'pass' : '**FAIL**'} |`);
  const notes = bench.figures.filter((f) => f.note).map((f) => `- ${cell(f.section)} / ${cell(f.name)}: ${f.note ?? ''}`);
  const failed = bench.figures.filter((f) => f.pass === false).length;
  const targets = bench.figures.filter((f) => f.pass !== null).length;
  return [
    `Measured on ${bench.machine}, ${bench.ranAt.slice(0, 10)}; \`npm run bench\` took ${Math.round(bench.elapsedMs / 1000)} s; ${targets - failed} of ${targets} targets met.`,
    '',
    '| section | figure | value | target | result |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n');
}

type Section = Record<string, unknown>;
const num = (s: Section | undefined, key: string): number => {
  const v = s?.[key];
  return typeof v === 'number' ? v : 0;
};
const sub = (s: Section | undefined, key: string): Section | undefined => (s?.[key] as Section | undefined) ?? undefined;

export function reliabilityTable(data: FiguresData): string {
  const r = data.reliability;
  if (!r) return '_No reliability run recorded yet: run `npm test`, then `npm run docs -- --update-figures`._';
  const rows: string[] = [];
  const matrix = r.faultMatrix;
  if (matrix) {
    const parts = ['setup', 'rotation', 'lag', 'permanent', 'after']
      .filter((k) => sub(matrix, k))
      .map((k) => `${k} ${num(sub(matrix, k), 'passed')}/${num(sub(matrix, k), 'tried')}`)
      .join(', ');
    const calls = (k: string): number => (Array.isArray(matrix[k]) ? (matrix[k] as unknown[]).length : 0);
    rows.push(
      `| **fault matrix**: every call setup (${calls('setupCalls')}) and rotation (${calls('rotationCalls')}) make, with 429 + \`Retry-After\`, 500, 503 and connection resets (once, 3 and 5 in a row), Entra's replication-lag errors and permanent refusals${sub(matrix, 'after') ? ', and every write failing after it was committed' : ''} | ${num(matrix, 'tried')} cells | ${num(matrix, 'passed')} reach the end state of a clean run (${parts}) |`,
    );
  }
  const tenantWide = r.faultMatrixTenantWide;
  if (tenantWide) rows.push(`| **fault matrix, tenant-wide calls** (Graph's service principal, Entra's discovery) | ${num(tenantWide, 'tried')} cells | ${num(tenantWide, 'passed')} pass |`);
  const hostile = r.hostileInput;
  if (hostile) {
    rows.push(
      `| **hostile input**: malformed, oversized, injecting or unauthenticated HTTP requests for every route; malformed or foreign Key Vault events | ${num(sub(hostile, 'http'), 'tried')} requests + ${num(sub(hostile, 'eventGrid'), 'tried')} events | ${num(sub(hostile, 'http'), 'rejected')} refused with a 4xx naming the problem, ${num(sub(hostile, 'eventGrid'), 'ignored')} ignored; nothing started or changed |`,
    );
  }
  const leaks = r.leaks;
  if (leaks) {
    rows.push(
      `| **leak scan** (plain, base64, base64url, URL-, JSON- and HTML-escaped) over durable state, logs, HTTP answers, mail and error texts | ${num(leaks, 'minted')} secrets × ${num(leaks, 'sources')} sources | ${num(leaks, 'leaks')} leaks |`,
    );
  }
  for (const [key, value] of Object.entries(r).filter(([k]) => k.startsWith('leastPrivilege.'))) {
    const permissions = Array.isArray(value.permissions) ? (value.permissions as string[]).join(', ') : '';
    rows.push(`| **least privilege, ${key.slice('leastPrivilege.'.length)}**: ${permissions} | — | ${cell(typeof value.verified === 'string' ? value.verified : '')} |`);
  }
  return ['| what | tried | result |', '| --- | --- | --- |', ...rows].join('\n');
}

export const BLOCKS: GeneratedBlock[] = [
  { file: 'docs/settings.md', name: 'settings', render: () => settingsTable() },
  { file: 'docs/figures.md', name: 'reliability', render: (root) => reliabilityTable(readFigures(root)) },
  { file: 'docs/figures.md', name: 'bench', render: (root) => benchTable(readFigures(root)) },
];

/** Copies what the last `npm run bench` and reliability run wrote into docs/figures.json. */
export function updateFigures(root: string): FiguresData {
  const data = readFigures(root);
  const benchFile = path.join(root, 'bench', 'results.json');
  if (existsSync(benchFile)) {
    const results = JSON.parse(readFileSync(benchFile, 'utf8')) as {
      machine: { cpuModel: string; cores: number; memoryGiB: number; node: string; platform: string; loadAverage: number[]; date: string };
      elapsedMs: number;
      figures: NonNullable<FiguresData['bench']>['figures'];
    };
    const m = results.machine;
    data.bench = {
      machine: `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} (load ${m.loadAverage.join('/')} at the start)`,
      ranAt: m.date,
      elapsedMs: results.elapsedMs,
      figures: results.figures.map((f) => ({ section: f.section, name: f.name, display: f.display, target: f.target, pass: f.pass, ...(f.note ? { note: f.note } : {}) })),
    };
  }
  const reliabilityFile = path.join(root, 'test-output', 'reliability.json');
  if (existsSync(reliabilityFile)) {
    const all = JSON.parse(readFileSync(reliabilityFile, 'utf8')) as Record<string, Record<string, unknown>>;
    data.reliability = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([field]) => field !== 'recordedAt'))]));
  }
  writeFileSync(path.join(root, FIGURES_FILE), `${JSON.stringify(data, null, 2)}\n`);
  return data;
}


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
  if (process.argv.includes('--update-figures')) {
    updateFigures(root);
    process.stdout.write(`wrote ${FIGURES_FILE}\n`);
  }
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
