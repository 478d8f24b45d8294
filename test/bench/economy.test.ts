/**
 * The API-economy targets of `npm run bench`, at zero latency so they run with the suite: a fresh setup
 * stays within 15 Graph and 4 Key Vault calls, running it again writes nothing anywhere, and a sweep with
 * nothing due reads one Key Vault page per 25 secrets and does nothing else. A change that adds calls
 * fails here. The timing figures stay in the bench.
 */
// Must come first: lets @azure/functions register for real under jest (virtual @azure/functions-core).
import '../runtime/helpers/functionsCore';
import { criticalPathCalls } from '../../bench/calls';
import { ECONOMY_TARGETS, measureApiEconomy, type EconomyResult } from '../../bench/economy';

let result: EconomyResult;

beforeAll(async () => {
  result = await measureApiEconomy({ latencyMs: 0, seededEnvironments: 60, pollMs: 10 });
}, 120_000);

describe('a fresh setup', () => {
  it('completes within 15 Graph calls, in a new process and in one that already set up another environment', () => {
    for (const run of [result.freshSetup, result.freshSetupWarm]) {
      expect(run.runtimeStatus).toBe('Completed');
      expect(run.tally.graph.total).toBeLessThanOrEqual(ECONOMY_TARGETS.freshSetupGraph);
    }
  });

  it('makes at most 4 Key Vault calls, besides the SDK challenge that only the first request of each vault client of a process gets', () => {
    // The Key Vault SDK sends its first request without a token and learns the authority from the 401:
    // once for the client that reads, once for the one that stores secrets (src/clients/credentialVault.ts).
    expect(result.freshSetup.tally.keyvault.challenges).toBeLessThanOrEqual(2);
    expect(result.freshSetup.tally.keyvault.total - result.freshSetup.tally.keyvault.challenges).toBeLessThanOrEqual(ECONOMY_TARGETS.freshSetupKeyVault);
    expect(result.freshSetupWarm.tally.keyvault.challenges).toBe(0);
    expect(result.freshSetupWarm.tally.keyvault.total).toBeLessThanOrEqual(ECONOMY_TARGETS.freshSetupKeyVault);
  });
});

it('writes nothing anywhere when setup runs again for a configured environment', () => {
  expect(result.rerun.runtimeStatus).toBe('Completed');
  const writes = result.rerun.calls.filter((c) => c.service !== 'entra' && c.method !== 'GET');
  expect(writes).toEqual([]);
  expect(result.rerun.tally.all.writes).toBe(0);
});

it('rotates a credential end to end (grace period 0)', () => {
  expect(result.rotation.runtimeStatus).toBe('Completed');
  expect(result.rotation.calls.filter((c) => c.service === 'graph' && c.path.endsWith('/addPassword'))).toHaveLength(1);
  expect(result.rotation.calls.filter((c) => c.service === 'graph' && c.path.endsWith('/removePassword'))).toHaveLength(1);
});

it('sweeps a fleet with nothing due with exactly one Key Vault list call per 25 secrets and nothing else', () => {
  const { sweep } = result;
  expect(sweep.vaultSecrets).toBe(62);
  expect(sweep.expectedListCalls).toBe(3);
  expect(sweep.listCalls).toBe(sweep.expectedListCalls);
  expect(sweep.tally.all.total).toBe(sweep.listCalls);
  expect(sweep.runsStarted).toBe(0);
});

it('counts calls that overlap in time once on the critical path', () => {
  const call = (startMs: number, endMs: number) => ({ startMs, endMs });
  // a, then b and c in parallel, then d: three sequential steps.
  expect(criticalPathCalls([call(0, 10), call(11, 20), call(12, 21), call(22, 30)])).toBe(3);
  expect(criticalPathCalls([call(0, 10), call(5, 15)])).toBe(1);
});
