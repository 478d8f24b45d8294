/**
 * Stopping: every step of a runtime's stop runs even when one fails (an app's terminate hook), so its log
 * file is closed and the app settings it applied are restored; the failure is still reported.
 */
import './helpers/functionsCore';
import * as fs from 'node:fs';
import { removeDirs, startTestRuntime, tempDir } from './helpers/runtime';
import { probe } from './fixtures/probe';

it('still closes its log and restores the settings when a stop step fails', async () => {
  const stopDirs = { durable: tempDir('stop-durable'), logs: tempDir('stop-logs') };
  const rt = await startTestRuntime({ dirs: stopDirs, appSettings: { STOP_PROBE_SETTING: 'set' } });
  const logFile = rt.rt.log.filePath!;
  const openOnLog = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === logFile;
    } catch {
      return false;
    }
  }).length;
  expect(openOnLog()).toBe(1);
  expect(process.env.STOP_PROBE_SETTING).toBe('set');
  probe.failTerminate = true;
  try {
    await expect(rt.stop()).rejects.toThrow('the terminate hook failed');
  } finally {
    probe.failTerminate = false;
    removeDirs(stopDirs);
  }
  expect(openOnLog()).toBe(0);
  expect(process.env.STOP_PROBE_SETTING).toBeUndefined();
});
