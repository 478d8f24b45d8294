#!/usr/bin/env node
// The `fno-graph-mail` command: runs the compiled command line (runtime/cli.ts → dist/runtime/cli.js).
'use strict';
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'runtime', 'cli.js');
let cli;
try {
  cli = require(compiled);
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(compiled)) {
    process.stderr.write(`fno-graph-mail is not built yet (${compiled} is missing): run \`npm run build\` in ${path.join(__dirname, '..')} first.\n`);
    process.exit(1);
  }
  throw error;
}
cli.runCli(process.argv.slice(2));
