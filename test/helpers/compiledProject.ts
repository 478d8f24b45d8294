/**
 * The project compiled once per source state for the tests that run its entry points as child
 * processes (`npm start`, `npm run sandbox`, the CLI): the first test to ask compiles into
 * `test-output/build-<hash>` and bundles the dashboard's browser script beside the compiled page, as
 * `npm run build` does (the scripts too, for the tests that run them as azd would; the package test
 * packages its `dist/src`); concurrent workers wait for it, later runs reuse it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { bundleDashboardScript } from '../../scripts/bundleDashboard';
import { DASHBOARD_SCRIPT_FILE } from '../../src/dashboard/browserScript';

const root = path.join(__dirname, '..', '..');
const SOURCE_DIRS = ['src', 'sandbox', 'runtime', 'scripts', 'types'];

function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const stat = fs.statSync(full);
      if (stat.isDirectory()) walk(full);
      else if (name.endsWith('.ts')) hash.update(`${path.relative(root, full)}:${stat.size}:${stat.mtimeMs}\n`);
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(root, dir));
  hash.update(fs.readFileSync(path.join(root, 'tsconfig.build.json')));
  hash.update(fs.readFileSync(path.join(root, 'scripts', 'bundleDashboard.ts')));
  // And how this file compiles: other options make another build.
  hash.update(fs.readFileSync(__filename));
  return hash.digest('hex').slice(0, 16);
}

/** Builds of other source states left by earlier runs: removed once an hour old (a run still using one is long over). */
function removeStaleBuilds(current: string): void {
  const parent = path.dirname(current);
  for (const name of fs.readdirSync(parent)) {
    const dir = path.join(parent, name);
    if (!name.startsWith('build-') || dir === current) continue;
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs > 3_600_000) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another worker
    }
  }
}

/** Returns the `dist` directory of a compiled copy of src, sandbox, runtime and scripts. */
export async function compiledProject(): Promise<string> {
  const outDir = path.join(root, 'test-output', `build-${sourceHash()}`);
  const dist = path.join(outDir, 'dist');
  const done = path.join(outDir, 'done');
  const lock = path.join(outDir, 'lock');
  fs.mkdirSync(outDir, { recursive: true });
  for (;;) {
    if (fs.existsSync(done)) {
      // Marks the build as in use, so a run on another source state does not take it for a stale one.
      const now = new Date();
      fs.utimesSync(outDir, now, now);
      return dist;
    }
    try {
      fs.mkdirSync(lock);
    } catch {
      // Another worker compiles; wait for it (or take over if it died and left a stale lock).
      const age = Date.now() - fs.statSync(lock).mtimeMs;
      if (age > 180_000) fs.rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      const tsconfig = path.join(outDir, 'tsconfig.json');
      fs.writeFileSync(
        tsconfig,
        JSON.stringify({
          extends: path.join(root, 'tsconfig.build.json'),
          // Emit only: type checking is `npm run typecheck`'s job, and with isolatedModules the output is the same.
          // Source maps as `npm run build` writes them: the package test checks that packaging leaves them out.
          compilerOptions: { outDir: dist, rootDir: root, noCheck: true },
          include: SOURCE_DIRS.map((d) => path.join(root, d)),
        }),
      );
      await promisify(execFile)(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig], { cwd: root });
      fs.writeFileSync(path.join(dist, 'src', 'dashboard', DASHBOARD_SCRIPT_FILE), bundleDashboardScript(root));
      fs.writeFileSync(done, new Date().toISOString());
      removeStaleBuilds(outDir);
      return dist;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}
