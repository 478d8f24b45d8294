/**
 * The documentation a reader walks: README.md, docs/*.md and finops/README.md. Every relative link
 * between them resolves to a file that exists and, with `#anchor`, to a heading of that file (GitHub's
 * slug rules); the README links every page of docs/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

function pages(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f));
  return ['README.md', ...docs, ...(existsSync(path.join(root, 'finops', 'README.md')) ? ['finops/README.md'] : [])];
}

/** Markdown without code blocks and inline code, where nothing is a link. */
function prose(text: string): string {
  return text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of markdown.replace(/```[\s\S]*?```/g, '').split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = (m[1] ?? '').replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function linksOf(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? '');
}

describe('documentation links', () => {
  const all = pages();

  it.each(all)('every relative link in %s resolves, anchors included', (page) => {
    const text = readFileSync(path.join(root, page), 'utf8');
    const broken: string[] = [];
    for (const link of linksOf(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto: — not ours to check offline
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? path.join(root, page) : path.resolve(path.dirname(path.join(root, page)), decodeURIComponent(file));
      if (!target.startsWith(root) || !existsSync(target)) {
        broken.push(`${link} (no such file)`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${link} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it('the README links every page of docs/', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const linked = new Set(linksOf(readme).map((l) => l.split('#')[0]));
    expect(all.filter((p) => p.startsWith('docs/') && !linked.has(p))).toEqual([]);
  });

  it('computes anchors as GitHub does, so the check above can fail', () => {
    expect([...anchorsOf('# HTTP API\n## The setup run\n### `azd up` creates\n## Tests\n## Tests\n```\n# not a heading\n```')]).toEqual([
      'http-api',
      'the-setup-run',
      'azd-up-creates',
      'tests',
      'tests-1',
    ]);
  });
});
