/**
 * Activity `readEnvironment`: one environment's record from the registry (its Key Vault secret's tags
 * and expiry), and the app registration those tags name, checked in Graph: a tag is not proof, so a run
 * acts on the app only when the product owns it and it is the environment's. Reads only; the secret's
 * value stays in the vault.
 */
import { secretNameFor } from '../contracts/names';
import type { ReadEnvironmentInput, ReadEnvironmentOutput } from '../contracts/activities';
import { toEnvironmentRecord } from '../contracts/registry';
import { SECRET_TAGS } from '../contracts/wellKnown';
import type { RecordedApplication } from '../contracts/activities';
import type { ActivityDeps, ActivityHandler } from './deps';
import { inspectOwnership } from './ownership';

export function readEnvironment(deps: ActivityDeps): ActivityHandler<ReadEnvironmentInput, ReadEnvironmentOutput> {
  return async (input) => {
    const entry = await deps.vault.getSecretProperties(secretNameFor(input.environmentId), { environmentId: input.environmentId });
    const record = entry ? toEnvironmentRecord(entry, Date.parse(input.asOf), input.leadDays) : undefined;
    if (!entry || !record) return { found: false };
    const entra = deps.entra(record.tenantId);
    const app = await entra.getApplication(record.appObjectId, { environmentId: input.environmentId });
    let application: RecordedApplication;
    if (!app) application = { state: 'missing' };
    else if (app.appId.toLowerCase() !== record.appId.toLowerCase()) {
      application = { state: 'foreign', reasons: [`object ${record.appObjectId} is application ${app.appId}, not ${record.appId} as the registry says`] };
    } else {
      const ownership = await inspectOwnership(entra, app, input.environmentId, 'recorded');
      application = ownership.problems.length > 0 ? { state: 'foreign', reasons: ownership.problems } : { state: 'own', otherOwners: ownership.otherOwners };
    }
    return { found: true, record, delivered: entry.tags[SECRET_TAGS.delivered] === 'true', application, ...(entry.createdOn ? { storedAt: entry.createdOn } : {}) };
  };
}
