/**
 * The documentation's data parts are rendered from their one source (`npm run docs`): a page that
 * differs from its rendering fails here, so a setting or a figure changed in code cannot leave the
 * page behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BLOCKS, pages, renderPage, settingsTable } from '../../scripts/docs';
import { SETTING_NAMES } from '../../src/config';

const root = join(__dirname, '..', '..');

describe('generated documentation', () => {
  it.each(pages())('%s is what npm run docs renders', (file) => {
    expect(readFileSync(join(root, file), 'utf8')).toBe(renderPage(root, file));
  });

  it('the settings table has one row per setting the code reads, with its default', () => {
    const table = settingsTable();
    for (const key of SETTING_NAMES) expect(table).toMatch(new RegExp(`^\\| \`${key}\` \\| `, 'm'));
    expect(table).toContain('| `FINOPS_ALLOWED_HOSTS` | `*.operations.dynamics.com` |');
  });

  it('a page without its markers is an error, not a silent skip', () => {
    expect(() => renderPage(root, 'README.md', [{ file: 'README.md', name: 'nothing-here', render: () => '' }])).toThrow(/has no <!-- generated:nothing-here -->/);
    expect(BLOCKS.length).toBeGreaterThan(0);
  });
});
