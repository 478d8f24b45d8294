/**
 * `npm run package`: the folder azd deploys holds the compiled app, host.json, a package.json without
 * scripts or devDependencies, and the production dependencies, no more; it stays small, and the size the
 * documentation states is the size measured here; and it loads on its own, outside the repository,
 * registering every function the app declares. Packaged once for the suite, by the same `packageApp` the npm
 * script runs, from the project as the suite compiles it once (test/helpers/compiledProject.ts:
 * tsconfig.build.json's compiler options, source maps included, and the same dashboard bundle, which is
 * what `npm run build` emits for src/), into a folder of the test's own.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { packageApp } from '../../scripts/package';
import { DASHBOARD_SCRIPT_FILE } from '../../src/dashboard/browserScript';
import { compiledProject } from '../helpers/compiledProject';
import { captureFunctionApp } from '../runtime/helpers/functionsCore';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  main: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
};

/** The limit the deployment package must stay under, unpacked: 60 MB (decimal megabytes) of file bytes. */
const MAX_BYTES = 60_000_000;
const MB = 1_000_000;

let work: string;
let out: string;
let compiledSrc: string;
let files: Array<{ path: string; size: number }>;

function walk(dir: string): Array<{ path: string; size: number }> {
  const found: Array<{ path: string; size: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...walk(full));
    else found.push({ path: full, size: statSync(full).size });
  }
  return found;
}

beforeAll(async () => {
  // Outside the repository, so nothing can resolve from the project's own node_modules.
  work = mkdtempSync(join(tmpdir(), 'fno-package-'));
  compiledSrc = join(await compiledProject(), 'src');
  out = join(work, 'app');
  packageApp(out, { build: false, compiledDir: compiledSrc });
  files = walk(out).map((f) => ({ path: relative(out, f.path).split(sep).join('/'), size: f.size }));
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run package (the folder azd deploys)', () => {
  it('is what `npm run package` makes: the build that npm run build runs, packaged by the script', () => {
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json && node dist/scripts/bundleDashboard.js dist');
    expect(pkg.scripts.package).toBe('tsc -p scripts && node dist/scripts/package.js');
  });

  it('holds the compiled app without its source maps, host.json, package.json and node_modules, nothing else', () => {
    expect(readdirSync(out).sort()).toEqual(['.funcignore', 'dist', 'host.json', 'node_modules', 'package.json']);
    expect(readdirSync(join(out, 'dist'))).toEqual(['src']);
    // Every compiled module of src/ (and whatever else the build puts under dist/src), unchanged, but the source
    // maps the build writes beside them: Node reads none without --enable-source-maps, which the app is not given.
    const compiled = walk(compiledSrc).map((f) => relative(compiledSrc, f.path).split(sep).join('/'));
    expect(compiled.filter((f) => f.endsWith('.js.map')).length).toBeGreaterThan(10);
    const packaged = files.filter((f) => f.path.startsWith('dist/src/')).map((f) => f.path.slice('dist/src/'.length));
    expect(packaged.sort()).toEqual(compiled.filter((f) => !f.endsWith('.map')).sort());
    expect(files.filter((f) => f.path.endsWith('.map'))).toEqual([]);
    expect(packaged).toContain(pkg.main.slice('dist/src/'.length));
    expect(packaged).toContain(`dashboard/${DASHBOARD_SCRIPT_FILE}`);
    expect(readFileSync(join(out, 'host.json'), 'utf8')).toBe(readFileSync(join(root, 'host.json'), 'utf8'));
    // The .funcignore in the package excludes nothing (only a comment), so azd keeps node_modules.
    expect(readFileSync(join(out, '.funcignore'), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))).toEqual([]);
  });

  it('ships a package.json with the production dependencies, no devDependencies and no scripts', () => {
    const shipped = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(shipped.main).toBe(pkg.main);
    expect(shipped.dependencies).toEqual(pkg.dependencies);
    expect(shipped).not.toHaveProperty('devDependencies');
    // No `prepare` or `build` for a build service to run: the package needs no compiling.
    expect(shipped).not.toHaveProperty('scripts');
  });

  it('installs exactly the production tree of the lockfile: no devDependency, no Node binary', () => {
    const production = Object.entries(lock.packages)
      .filter(([key, entry]) => key.startsWith('node_modules/') && !entry.dev)
      .map(([key]) => key);
    const installed = Object.keys(
      (JSON.parse(readFileSync(join(out, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> }).packages,
    );
    expect(installed.sort()).toEqual(production.sort());
    for (const dev of Object.keys(pkg.devDependencies)) expect([dev, files.some((f) => f.path.startsWith(`node_modules/${dev}/`))]).toEqual([dev, false]);
    expect(files.filter((f) => /(^|\/)node(\.exe)?$/.test(f.path))).toEqual([]);
    // The install runs with --ignore-scripts: no production dependency may need an install script.
    expect(production.filter((key) => lock.packages[key]?.hasInstallScript)).toEqual([]);
  });

  it('carries no sources, tests or development folders', () => {
    expect(files.filter((f) => /\.(ts|mts|cts)$/.test(f.path))).toEqual([]);
    expect(files.filter((f) => /^(src|test|sandbox|runtime|bench|scripts|infra|dist\/(sandbox|runtime|bench|scripts|test))\//.test(f.path))).toEqual([]);
    // The project's own files (a dependency may ship its tsconfig.json; that is its business).
    expect(files.filter((f) => /^(local\.settings(\.sample)?\.json|azure\.yaml|tsconfig[^/]*\.json|package-lock\.json|README\.md|\.git.*)$/.test(f.path))).toEqual([]);
  });

  it(`stays under ${MAX_BYTES / MB} MB unpacked, and is as large as the documentation says`, () => {
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    process.stdout.write(`deployment package: ${files.length} files, ${(bytes / MB).toFixed(1)} MB (${(bytes / 1024 / 1024).toFixed(1)} MiB) unpacked\n`);
    expect(bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(bytes).toBeGreaterThan(MB);
    // The figures README.md and docs/deploying.md state ("about N MB in about M files"), within 15% of today's.
    for (const page of ['README.md', join('docs', 'deploying.md')]) {
      const stated = /about (\d+) MB[^.]*?\sin about ([\d,]+) files/.exec(readFileSync(join(root, page), 'utf8'));
      expect([page, stated !== null]).toEqual([page, true]);
      const [statedMb, statedFiles] = [Number(stated?.[1]), Number(stated?.[2]?.replaceAll(',', ''))];
      expect([page, 'MB', Math.abs(statedMb * MB - bytes) / bytes <= 0.15]).toEqual([page, 'MB', true]);
      expect([page, 'files', Math.abs(statedFiles - files.length) / files.length <= 0.15]).toEqual([page, 'files', true]);
    }
  });

  it('survives a remote build: `npm install` in it, as the build service runs it, has nothing to fetch or compile', () => {
    const copy = join(work, 'remote-build');
    cpSync(out, copy, { recursive: true });
    const before = walk(copy).map((f) => relative(copy, f.path)).sort();
    const npmCli = process.env.npm_execpath;
    const [command, args] = npmCli?.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', []];
    const result = spawnSync(command, [...args, 'install', '--offline', '--no-audit', '--no-fund'], { cwd: copy, encoding: 'utf8', timeout: 120_000 });
    expect([result.status, result.stderr.split('\n').filter((l) => /ERR/.test(l))]).toEqual([0, []]);
    expect(result.stdout).toContain('up to date');
    // npm only wrote its lockfile: no dependency added or removed, nothing compiled.
    expect(walk(copy).map((f) => relative(copy, f.path)).sort()).toEqual([...before, 'package-lock.json'].sort());
  });

  it('loads on its own, outside the repository, and registers every function of the app', () => {
    const expected = captureFunctionApp(join(root, 'src', 'index.ts')).functions.map((f) => f.name);
    expect(expected.length).toBeGreaterThan(10);
    const result = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(out, pkg.main))})`], {
      cwd: work,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', NODE_PATH: '' },
      timeout: 60_000,
    });
    expect(result.status).toBe(0);
    // Outside the Functions host, @azure/functions names each registration it skips: all of them loaded.
    const registered = [...`${result.stdout}${result.stderr}`.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);
    expect(registered.sort()).toEqual([...expected].sort());
  });
});
