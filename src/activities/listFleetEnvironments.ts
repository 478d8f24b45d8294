/**
 * Activity `listFleetEnvironments`: every enabled environment of the registry (Key Vault secret
 * properties, page by page, never values), or one tenant's, for the emergency rotation to pace.
 */
import { now } from '../clock';
import type { ListFleetEnvironmentsInput, ListFleetEnvironmentsOutput } from '../contracts/activities';
import type { FleetEnvironment } from '../contracts/fleet';
import { toEnvironmentRecord } from '../contracts/registry';
import type { ActivityDeps, ActivityHandler } from './deps';

export function listFleetEnvironments(deps: ActivityDeps): ActivityHandler<ListFleetEnvironmentsInput, ListFleetEnvironmentsOutput> {
  return async (input) => {
    const at = now();
    const environments: FleetEnvironment[] = [];
    for await (const page of deps.vault.listManagedSecrets()) {
      for (const entry of page) {
        // The status needs no lead time here: only a disabled version is left out.
        const record = toEnvironmentRecord(entry, at, 0);
        if (!record || record.status === 'disabled') continue;
        if (input.tenantId !== undefined && record.tenantId.toLowerCase() !== input.tenantId.toLowerCase()) continue;
        environments.push({ environmentId: record.environmentId, tenantId: record.tenantId.toLowerCase() });
      }
    }
    environments.sort((a, b) => (a.tenantId === b.tenantId ? (a.environmentId < b.environmentId ? -1 : 1) : a.tenantId < b.tenantId ? -1 : 1));
    return { environments };
  };
}
