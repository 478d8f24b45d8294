/**
 * Activities `inspectEnvironment` and `removeOrphanedCredentials`: the drift check of one environment.
 * Inspection only reads: (a) a recorded credential that no longer exists in Entra, (b) credentials the
 * product created that no Key Vault version records — orphans once older than the grace period, so a
 * run in progress is never disturbed — and (c) the app's service principal and consent. The removal
 * checks each candidate again before removing it, so a repeated or late call removes nothing else.
 */
import type {
  InspectEnvironmentInput,
  InspectEnvironmentOutput,
  RemoveOrphanedCredentialsInput,
  RemoveOrphanedCredentialsOutput,
} from '../contracts/activities';
import { SECRET_TAGS } from '../contracts/wellKnown';
import type { PasswordCredentialInfo } from '../clients/entraApplications';
import { isManagedCredential } from './createClientSecret';
import type { ActivityDeps, ActivityHandler } from './deps';

const HOUR = 3_600_000;

/** Product credentials no enabled version records, split by age against the grace period. */
async function unrecorded(
  deps: ActivityDeps,
  input: { environmentId: string; tenantId: string; appObjectId: string; secretName: string; asOf: string; graceHours: number },
): Promise<{ credentials: PasswordCredentialInfo[]; old: string[]; young: string[] }> {
  const entra = deps.entra(input.tenantId);
  const opts = { environmentId: input.environmentId };
  // Versions first, credentials after: a credential created after the versions were read is younger
  // than the grace period, and one revoked meanwhile is still recorded in this snapshot, so a rotation
  // finishing concurrently never looks like an orphan.
  const versions = await deps.vault.listVersions(input.secretName, opts);
  const credentials = await entra.listPasswordCredentials(input.appObjectId, opts);
  const recorded = new Set(versions.filter((v) => v.enabled).map((v) => (v.tags[SECRET_TAGS.credentialKeyId] ?? '').toLowerCase()));
  const now = Date.parse(input.asOf);
  const old: string[] = [];
  const young: string[] = [];
  for (const c of credentials) {
    if (!isManagedCredential(c) || recorded.has(c.keyId.toLowerCase())) continue;
    const created = c.startDateTime ? Date.parse(c.startDateTime) : 0;
    (now - created >= input.graceHours * HOUR ? old : young).push(c.keyId);
  }
  return { credentials, old, young };
}

export function inspectEnvironment(deps: ActivityDeps): ActivityHandler<InspectEnvironmentInput, InspectEnvironmentOutput> {
  return async (input) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const [found, sp] = await Promise.all([unrecorded(deps, input), entra.getServicePrincipal(input.appId, opts)]);
    const credentialMissing = !found.credentials.some((c) => c.keyId.toLowerCase() === input.keyId.toLowerCase());
    const consent = sp
      ? await entra.getConsentStatus({ servicePrincipalId: sp.objectId }, opts)
      : { granted: false, mailSendGranted: false, userReadGranted: false };
    return { credentialMissing, orphans: found.old, youngOrphans: found.young, servicePrincipalId: sp?.objectId ?? null, consent };
  };
}

export function removeOrphanedCredentials(deps: ActivityDeps): ActivityHandler<RemoveOrphanedCredentialsInput, RemoveOrphanedCredentialsOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const still = new Set((await unrecorded(deps, input)).old.map((k) => k.toLowerCase()));
    const removedKeyIds: string[] = [];
    for (const keyId of input.keyIds) {
      if (!still.has(keyId.toLowerCase())) continue;
      const { removed } = await entra.removePassword(input.appObjectId, keyId, opts);
      if (!removed) continue;
      removedKeyIds.push(keyId);
      log.warn(`environment ${input.environmentId}: removed orphaned credential ${keyId} (created by the product, recorded nowhere)`);
    }
    return { removedKeyIds };
  };
}
