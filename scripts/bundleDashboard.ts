/**
 * Bundles the dashboard's browser script (src/dashboard/browser/main.ts with the contracts it imports)
 * into one IIFE for page.ts to inline and hash. `npm run build` runs this file compiled, from the
 * project root, writing `dist/src/dashboard/dashboard.js`; the tests bundle in memory through
 * `bundleDashboardScript`, so both get the same bytes from the same sources.
 */
import { buildSync } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DASHBOARD_SCRIPT_FILE } from '../src/dashboard/browserScript';

const BROWSER_DIR = path.join('src', 'dashboard', 'browser');

/** The bundle's text. `projectRoot` holds `src/`. */
export function bundleDashboardScript(projectRoot: string): string {
  const result = buildSync({
    absWorkingDir: projectRoot,
    entryPoints: [path.join(BROWSER_DIR, 'main.ts')],
    tsconfig: path.join(BROWSER_DIR, 'tsconfig.json'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // The browsers the page supports: those with CSS.escape, Object.hasOwn and Element.replaceChildren.
    target: ['es2022'],
    // ASCII only, so the inline script reads the same whatever charset a proxy or a save-as assumes.
    charset: 'ascii',
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output || result.outputFiles.length !== 1) throw new Error(`esbuild produced ${result.outputFiles.length} files for the dashboard script, expected 1.`);
  return output.text;
}

/** `node dist/scripts/bundleDashboard.js <outDir>`: writes `<outDir>/src/dashboard/dashboard.js` (default outDir `dist`). */
function main(): void {
  const projectRoot = process.cwd();
  const outDir = path.resolve(projectRoot, process.argv[2] ?? 'dist');
  const target = path.join(outDir, 'src', 'dashboard', DASHBOARD_SCRIPT_FILE);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, bundleDashboardScript(projectRoot));
  process.stdout.write(`dashboard script bundled into ${path.relative(projectRoot, target)}\n`);
}

if (require.main === module) main();
