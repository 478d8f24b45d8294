/**
 * The first request of a Key Vault client goes alone.
 *
 * The Key Vault SDK learns its token's audience from a challenge: a client's first request is sent without
 * a token and, for a request with a body, without the body, which is put back when the 401 comes
 * (@azure/keyvault-common, keyVaultAuthenticationPolicy). The body is kept in one place per client. When
 * two requests of a fresh client overlap, the second is sent in the "started" state with its own body;
 * if its 401 completes the challenge first, the first request's body is never put back, and it goes out
 * authenticated and empty: Key Vault refuses the PUT or PATCH with 400 BadParameter. Seen with ten
 * rotations starting at once in a fresh process (`npm run bench`, fleet).
 *
 * This policy (per call, so before the retry and authentication policies) lets one request through until
 * a client has had an answer from the service; the others wait for it. After any answer the challenge
 * has completed, and requests run concurrently. A request that got no answer (a connection error)
 * leaves the gate closed: the next request goes alone again.
 */
import type { SecretClientOptions } from '@azure/keyvault-secrets';

type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number];

export function challengeGate(): AdditionalPolicy {
  let open = false;
  let inFlight: Promise<void> | undefined;
  return {
    position: 'perCall',
    policy: {
      name: 'fnoGraphMailKeyVaultChallengeGate',
      async sendRequest(request, next) {
        while (!open && inFlight) await inFlight;
        if (open) return next(request);
        let release = (): void => undefined;
        inFlight = new Promise<void>((resolve) => {
          release = resolve;
        });
        try {
          const response = await next(request);
          open = true;
          return response;
        } finally {
          inFlight = undefined;
          release();
        }
      },
    },
  };
}
