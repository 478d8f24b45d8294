/**
 * One cold-start sample (a fresh Node process each): makes `@azure/functions-core` resolve to the local
 * runtime's stand-in, as the Functions worker provides the real one, then times `require` of the entry
 * given on the command line and prints the result as JSON. Nothing else is loaded first.
 */
import Module from 'node:module';
import * as path from 'node:path';

type ResolveFilename = (this: unknown, request: string, ...rest: unknown[]) => string;

const CORE_MODULE = '@azure/functions-core';
const standIn = path.join(__dirname, '..', 'runtime', 'functionsCore.js');
const moduleApi = Module as unknown as { _resolveFilename: ResolveFilename };
const original = moduleApi._resolveFilename;
moduleApi._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  return request === CORE_MODULE ? standIn : original.call(this, request, ...rest);
};

const entry = process.argv[2];
if (!entry) throw new Error('usage: coldStartChild <entry module>');
const t0 = performance.now();
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(path.resolve(entry));
const t1 = performance.now();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const core = require(standIn) as typeof import('../runtime/functionsCore');

process.stdout.write(
  JSON.stringify({
    loadMs: t1 - t0,
    sinceProcessStartMs: t1,
    registrations: core.coreState().registrations.length,
    ...(process.env.BENCH_LIST_MODULES === '1' ? { modules: Object.keys(require.cache) } : {}),
  }),
);
