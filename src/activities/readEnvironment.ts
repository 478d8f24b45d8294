/**
 * Activity `readEnvironment`: one environment's record from the registry (its Key Vault secret's tags
 * and expiry). Reads properties only; the value stays in the vault.
 */
import { secretNameFor } from '../contracts/names';
import type { ReadEnvironmentInput, ReadEnvironmentOutput } from '../contracts/activities';
import { toEnvironmentRecord } from '../contracts/registry';
import { SECRET_TAGS } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

export function readEnvironment(deps: ActivityDeps): ActivityHandler<ReadEnvironmentInput, ReadEnvironmentOutput> {
  return async (input) => {
    const entry = await deps.vault.getSecretProperties(secretNameFor(input.environmentId), { environmentId: input.environmentId });
    const record = entry ? toEnvironmentRecord(entry, Date.parse(input.asOf), input.leadDays) : undefined;
    if (!entry || !record) return { found: false };
    return { found: true, record, delivered: entry.tags[SECRET_TAGS.delivered] === 'true' };
  };
}
