/**
 * Activity `inspectEnvironment`: the drift check of one environment. Finds (a) a recorded credential
 * that no longer exists in Entra, (b) credentials the product created that no Key Vault version
 * records — removed once older than the grace period, so a rotation in progress is never disturbed —
 * and (c) revoked consent. Repairs (b) itself; the caller acts on (a) and (c).
 */
import type { InspectEnvironmentInput, InspectEnvironmentOutput } from '../contracts/activities';
import { SECRET_TAGS } from '../contracts/wellKnown';
import { isManagedCredential } from './createClientSecret';
import type { ActivityDeps, ActivityHandler } from './deps';

const HOUR = 3_600_000;

export function inspectEnvironment(deps: ActivityDeps): ActivityHandler<InspectEnvironmentInput, InspectEnvironmentOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const now = Date.parse(input.asOf);
    // Versions first, credentials after: a credential created after the versions were read is younger
    // than the grace period, and one revoked meanwhile is still recorded in this snapshot, so a rotation
    // finishing concurrently never looks like an orphan.
    const [versions, sp] = await Promise.all([deps.vault.listVersions(input.secretName, opts), entra.getServicePrincipal(input.appId, opts)]);
    const credentials = await entra.listPasswordCredentials(input.appObjectId, opts);
    const recorded = new Set(
      versions.filter((v) => v.enabled).map((v) => (v.tags[SECRET_TAGS.credentialKeyId] ?? '').toLowerCase()),
    );
    const credentialMissing = !credentials.some((c) => c.keyId.toLowerCase() === input.keyId.toLowerCase());
    const removedOrphans: string[] = [];
    const youngOrphans: string[] = [];
    for (const c of credentials) {
      if (!isManagedCredential(c) || recorded.has(c.keyId.toLowerCase())) continue;
      const created = c.startDateTime ? Date.parse(c.startDateTime) : 0;
      if (now - created >= input.graceHours * HOUR) {
        const { removed } = await entra.removePassword(input.appObjectId, c.keyId, opts);
        if (!removed) continue;
        removedOrphans.push(c.keyId);
        log.warn(`environment ${input.environmentId}: removed orphaned credential ${c.keyId} (created by the product, recorded nowhere)`);
      } else {
        youngOrphans.push(c.keyId);
      }
    }
    const consent = sp
      ? await entra.getConsentStatus({ servicePrincipalId: sp.objectId }, opts)
      : { granted: false, mailSendGranted: false, userReadGranted: false };
    return { credentialMissing, removedOrphans, youngOrphans, consent };
  };
}
