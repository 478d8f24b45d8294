'use strict';
/**
 * Orders test files longest first, so that no long file starts last and keeps one worker busy after
 * the others are done. Jest's own sequencer does this with the durations it cached on the previous
 * run; on a clean checkout it has none and falls back to file size, which starts the slowest files
 * (they wait on retries and clocks, they are not big) near the end. KNOWN_SECONDS fills that gap;
 * durations from Jest's cache win when present. Files that failed last time still run first.
 */
const fs = require('node:fs');
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const root = path.join(__dirname, '..', '..');

/**
 * Seconds the slower files took on a 2-core machine running four workers (jest --json, endTime -
 * startTime; files of 4 s or more). A guide for the order only: a stale figure costs a little wall time, never a result.
 * Refresh it when a file becomes much slower or faster.
 */
const KNOWN_SECONDS = {
  'test/reliability/faultMatrix.test.ts': 55,
  'test/reliability/faultMatrix.tenantWide.test.ts': 51,
  'test/e2e/timeTravel.test.ts': 35,
  'test/e2e/dashboard.test.ts': 21,
  'test/e2e/npmStartPartner.test.ts': 21,
  'test/cli/commands.test.ts': 10,
  'test/e2e/npmStartSideBySide.test.ts': 10,
  'test/e2e/npmStart.test.ts': 9,
  'test/e2e/mailboxScope.test.ts': 8,
  'test/lint/determinism.test.ts': 8,
  'test/reliability/hostileInput.test.ts': 8,
  'test/clients/signInLog.test.ts': 7,
  'test/e2e/finopsProven.test.ts': 7,
  'test/e2e/setup.test.ts': 7,
  'test/clients/finOpsEmailSettings.test.ts': 6,
  'test/e2e/rotation.longOutage.test.ts': 6,
  'test/e2e/rotation.test.ts': 6,
  'test/infra/azd.test.ts': 6,
  'test/infra/package.test.ts': 6,
  'test/reliability/atLeastOnce.test.ts': 6,
  'test/reliability/concurrency.test.ts': 6,
  'test/reliability/leaks.test.ts': 6,
  'test/sandbox/throttling.test.ts': 6,
  'test/bench/emergency.test.ts': 5,
  'test/e2e/partner.test.ts': 5,
  'test/sandbox/eventgrid.test.ts': 5,
  'test/unit/names.test.ts': 5,
  'test/sandbox/control.test.ts': 4,
};

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const estimate = new Map();
    const size = new Map();
    for (const test of tests) {
      const known = KNOWN_SECONDS[path.relative(root, test.path).split(path.sep).join('/')];
      estimate.set(test, this.time(test) ?? (known === undefined ? undefined : known * 1000));
      size.set(test, fs.statSync(test.path).size);
    }
    return [...tests].sort((a, b) => {
      const failedA = this.hasFailed(a);
      if (failedA !== this.hasFailed(b)) return failedA ? -1 : 1;
      const ea = estimate.get(a);
      const eb = estimate.get(b);
      if (ea !== undefined || eb !== undefined) return (eb ?? 0) - (ea ?? 0);
      return size.get(b) - size.get(a);
    });
  }
}

module.exports = SlowFirstSequencer;
