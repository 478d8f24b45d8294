/**
 * The Key Vault SDK's challenge handshake with overlapping first requests. A transport stands in for the
 * vault: requests without a token get the 401 challenge (the first one's answer comes last, as when the
 * network is slower for it), authenticated sets are stored, and an authenticated set without a body is
 * refused as Key Vault refuses it. Without the gate the SDK sends one set authenticated and empty; with
 * it, every set arrives with its value.
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { challengeGate } from '../../src/clients/keyVaultChallengeGate';

const VAULT = 'https://gate-test.vault.azure.net';

const credential: TokenCredential = {
  getToken: (): Promise<AccessToken> => Promise.resolve({ token: 'token', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

function fakeVault(): { client: HttpClient; emptySets: number; stored: string[] } {
  const seen = { emptySets: 0, stored: [] as string[] };
  let unauthenticated = 0;
  const reply = (request: PipelineRequest, status: number, body: unknown, headers: Record<string, string> = {}): PipelineResponse => ({
    request,
    status,
    headers: createHttpHeaders({ 'content-type': 'application/json', ...headers }),
    bodyAsText: JSON.stringify(body),
  });
  const client: HttpClient = {
    async sendRequest(request) {
      if (!request.headers.get('authorization')) {
        const n = unauthenticated++;
        // The first request's challenge arrives after the others'.
        if (n === 0) await new Promise((r) => setTimeout(r, 50));
        return reply(request, 401, { error: { code: 'Unauthorized' } }, {
          'www-authenticate': 'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001", resource="https://vault.azure.net"',
        });
      }
      const name = new URL(request.url).pathname.split('/')[2] ?? '';
      const text = typeof request.body === 'string' ? request.body : '';
      if (request.method === 'PUT' && text === '') {
        seen.emptySets += 1;
        return reply(request, 400, { error: { code: 'BadParameter', message: 'The request body is empty.' } });
      }
      const value = (JSON.parse(text) as { value: string }).value;
      seen.stored.push(name);
      return reply(request, 200, { value, id: `${VAULT}/secrets/${name}/0123456789abcdef0123456789abcdef`, attributes: { enabled: true, created: 1, updated: 1 } });
    },
  };
  return Object.assign(seen, { client });
}

async function burst(gated: boolean): Promise<{ emptySets: number; stored: string[]; failed: number }> {
  const vault = fakeVault();
  const secrets = new SecretClient(VAULT, credential, {
    httpClient: vault.client,
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
    ...(gated ? { additionalPolicies: [challengeGate()] } : {}),
  });
  const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => secrets.setSecret(`s-${i}`, `value-${i}`)));
  return { emptySets: vault.emptySets, stored: [...vault.stored].sort(), failed: results.filter((r) => r.status === 'rejected').length };
}

it('without the gate, overlapping first sets lose a body (the SDK behaviour the gate exists for)', async () => {
  const outcome = await burst(false);
  expect(outcome.emptySets).toBeGreaterThan(0);
  expect(outcome.failed).toBeGreaterThan(0);
});

it('with the gate, every set of the burst arrives with its value and is stored', async () => {
  expect(await burst(true)).toEqual({ emptySets: 0, stored: ['s-0', 's-1', 's-2', 's-3'], failed: 0 });
});

it('opens after the first answer: later requests go out together', async () => {
  const vault = fakeVault();
  const secrets = new SecretClient(VAULT, credential, { httpClient: vault.client, disableChallengeResourceVerification: true, additionalPolicies: [challengeGate()] });
  await secrets.setSecret('first', 'v');
  let inFlight = 0;
  let most = 0;
  const inner = vault.client.sendRequest.bind(vault.client);
  vault.client.sendRequest = async (request) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 10));
    try {
      return await inner(request);
    } finally {
      inFlight -= 1;
    }
  };
  await Promise.all(Array.from({ length: 3 }, (_, i) => secrets.setSecret(`later-${i}`, 'v')));
  expect(most).toBe(3);
});
