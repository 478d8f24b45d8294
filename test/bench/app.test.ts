/**
 * The bench's app keeps its durable state and logs in a directory of its own, removed when it stops:
 * a run of the suite or of `npm run bench` leaves no temporary directory behind.
 */
// Must come first: lets @azure/functions register for real under jest (virtual @azure/functions-core).
import '../runtime/helpers/functionsCore';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { startBenchApp } from '../../bench/app';

it('removes its directory when it stops', async () => {
  const bench = await startBenchApp({ latencyMs: 0, secretPropagationSeconds: 0, environmentIds: ['contoso-uat'] });
  const logFile = bench.app.runtime.log.filePath ?? '';
  const dir = path.dirname(path.dirname(logFile));
  try {
    expect(path.basename(dir)).toMatch(/^fno-graph-mail-bench-/);
    expect((await bench.api('GET', '/api/environments')).status).toBe(200);
    expect(existsSync(logFile)).toBe(true);
  } finally {
    await bench.stop();
  }
  expect(existsSync(dir)).toBe(false);
});
