/**
 * Activity `revokePreviousCredentials`: after a rotation's grace period, removes every credential the
 * product created on the app except the one F&O now holds, and disables the Key Vault versions that
 * held them. Credentials someone added by hand are left alone. Safe to run twice.
 */
import type { RevokePreviousCredentialsInput, RevokePreviousCredentialsOutput } from '../contracts/activities';
import { SECRET_TAGS } from '../contracts/wellKnown';
import { isManagedCredential } from './createClientSecret';
import type { ActivityDeps, ActivityHandler } from './deps';

export function revokePreviousCredentials(deps: ActivityDeps): ActivityHandler<RevokePreviousCredentialsInput, RevokePreviousCredentialsOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const keep = input.keepKeyId.toLowerCase();
    const [credentials, versions] = await Promise.all([
      entra.listPasswordCredentials(input.appObjectId, opts),
      deps.vault.listVersions(input.secretName, opts),
    ]);
    const removedKeyIds: string[] = [];
    for (const c of credentials) {
      if (isManagedCredential(c) && c.keyId.toLowerCase() !== keep) {
        await entra.removePassword(input.appObjectId, c.keyId, opts);
        removedKeyIds.push(c.keyId);
      }
    }
    const disabledVersions: string[] = [];
    for (const v of versions) {
      if (v.enabled && (v.tags[SECRET_TAGS.credentialKeyId] ?? '').toLowerCase() !== keep) {
        await deps.vault.disableVersion(input.secretName, v.version, opts);
        disabledVersions.push(v.version);
      }
    }
    if (removedKeyIds.length > 0 || disabledVersions.length > 0) {
      log.info(`environment ${input.environmentId}: revoked credentials ${removedKeyIds.join(', ') || 'none'}; disabled versions ${disabledVersions.join(', ') || 'none'}`);
    }
    return { removedKeyIds, disabledVersions };
  };
}
