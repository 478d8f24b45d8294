/**
 * `npm run package`: the folder azd deploys to the Flex Consumption app (azure.yaml `dist: .deploy/app`), and
 * nothing else in it: the compiled app (`dist/src`), `host.json`, a `package.json` without scripts or
 * devDependencies, and the production dependencies installed from the lockfile.
 *
 * Why a separate folder: deploying the project folder ships every devDependency (the TypeScript compiler,
 * Jest, Azurite, a Node binary...), hundreds of megabytes that the app never loads, and a `package.json`
 * whose `prepare` script runs `tsc` on sources the package does not contain. The package's own
 * `package.json` has no scripts at all, so a build service that runs `npm install` in it (Oryx, on a remote
 * build: https://learn.microsoft.com/azure/azure-functions/functions-deployment-technologies#remote-build)
 * finds the dependencies already there and nothing to compile.
 *
 * The app's own source maps (the `.map` files beside `dist/src`'s JavaScript, which `npm run build` writes as
 * tsconfig.json sets `sourceMap`) stay home too: Node reads a source map only when started with `--enable-source-maps`
 * (https://nodejs.org/api/cli.html#--enable-source-maps), and the deployment starts the worker with no Node
 * arguments (no `languageWorkers__node__arguments` or `NODE_OPTIONS` setting:
 * https://learn.microsoft.com/azure/azure-functions/functions-reference-node).
 * tsc's output keeps the sources' structure and names, so a stack trace in the logs still reads.
 *
 * Flags: `--out <dir>` (default `.deploy/app`), `--skip-build` (package the current `dist/src` as is).
 * The tests call `packageApp` with a compiled copy of their own instead of the working tree's `dist/src`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

/** The repository root: the nearest folder up from this file with host.json (scripts/ or dist/scripts/). */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'host.json')) && existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no host.json above ${from}`);
  }
}

const ROOT = repositoryRoot(__dirname);
export const DEFAULT_PACKAGE_DIR = path.join(ROOT, '.deploy', 'app');

/** The fields of package.json the Functions host and npm need at run time; everything else stays home. */
const KEPT_FIELDS = ['name', 'version', 'description', 'license', 'private', 'main', 'engines', 'dependencies'] as const;

/**
 * Written into the package so that whichever folder azd reads `.funcignore` from, it finds one that excludes
 * nothing: without any `.funcignore`, azd leaves `node_modules` out of a Node.js package
 * (https://learn.microsoft.com/azure/developer/azure-developer-cli/service-packaging-ignore-files), and a
 * package deployed without a remote build must carry its dependencies.
 */
const PACKAGE_FUNCIGNORE = '# This folder is the deployment package (npm run package): every file in it is deployed.\n';

/**
 * Files of the installed dependencies that Node never loads: source maps (read only with
 * --enable-source-maps, and then only when present) and TypeScript, declarations or sources some packages
 * ship beside their JavaScript (their `main` and `exports` point at the JavaScript). Together they are
 * about 40% of the production tree.
 */
const UNLOADED_FILE = /\.(map|ts|mts|cts)$/;

interface PackageJson {
  [key: string]: unknown;
  main?: string;
  dependencies?: Record<string, string>;
}

/** Removes the files Node never loads from an installed node_modules tree. */
function pruneUnloaded(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) pruneUnloaded(full);
    else if (UNLOADED_FILE.test(entry.name)) rmSync(full);
  }
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', shell: false });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${[path.basename(command), ...args].join(' ')} failed with exit code ${result.status ?? result.signal}`);
}

/** npm as the running npm script was started with it (npm_execpath), so the same npm installs the package. */
function npm(args: string[], cwd: string): void {
  const npmCli = process.env.npm_execpath;
  if (npmCli && npmCli.endsWith('.js')) run(process.execPath, [npmCli, ...args], cwd);
  else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, cwd);
}

export interface PackageOptions {
  /** Run `npm run build` on a fresh `dist/src` first. */
  build: boolean;
  /** The compiled `src` to package (default: the working tree's `dist/src`). */
  compiledDir?: string;
}

export function packageApp(outDir: string, options: PackageOptions): void {
  const compiled = options.compiledDir ?? path.join(ROOT, 'dist', 'src');
  if (options.build) {
    // A fresh dist/src: a module deleted from src/ must not live on in the package.
    rmSync(compiled, { recursive: true, force: true });
    npm(['run', '--silent', 'build'], ROOT);
  }
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  // package.json's main (dist/src/index.js) is where the Functions host looks for the registrations.
  const entry = path.join(compiled, path.relative('dist/src', manifest.main ?? ''));
  if (!manifest.main?.startsWith('dist/src/') || !existsSync(entry)) throw new Error(`${entry} does not exist: run npm run build first`);

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  cpSync(compiled, path.join(outDir, 'dist', 'src'), { recursive: true, filter: (source) => !source.endsWith('.map') });
  cpSync(path.join(ROOT, 'host.json'), path.join(outDir, 'host.json'));

  // First the lockfile's own view (devDependencies listed, so `npm ci` accepts the lockfile), without
  // scripts; `--omit=dev` installs the production tree only. No production dependency has an install
  // script (a test checks), so `--ignore-scripts` loses nothing. `--prefer-offline` takes what the
  // cache already holds from the project's own `npm ci`.
  const installManifest: PackageJson = { ...manifest };
  for (const field of ['scripts', 'bin', 'files', 'allowScripts']) delete installManifest[field];
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(installManifest, null, 2)}\n`);
  cpSync(path.join(ROOT, 'package-lock.json'), path.join(outDir, 'package-lock.json'));
  npm(['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], outDir);

  // Then the manifest the app ships with: production fields only.
  const shipped: Record<string, unknown> = {};
  for (const field of KEPT_FIELDS) if (manifest[field] !== undefined) shipped[field] = manifest[field];
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  rmSync(path.join(outDir, 'package-lock.json'));
  pruneUnloaded(path.join(outDir, 'node_modules'));
  writeFileSync(path.join(outDir, '.funcignore'), PACKAGE_FUNCIGNORE);
}

if (require.main === module) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'skip-build': { type: 'boolean', default: false } } });
  const outDir = path.resolve(values.out ?? DEFAULT_PACKAGE_DIR);
  try {
    packageApp(outDir, { build: !values['skip-build'] });
    process.stdout.write(`Deployment package: ${path.relative(process.cwd(), outDir) || '.'}\n`);
  } catch (error: unknown) {
    process.stderr.write(`npm run package failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
