/**
 * Activity `registerApplication`: the environment's single-tenant app registration, upserted by a
 * `uniqueName` derived from the environment id and tagged as the environment's. Reads first and writes
 * only when something differs, so a second run makes no Graph write. An existing app is changed only
 * when it is the product's own (ownership.ts): one someone else registered under the name is refused,
 * untouched.
 */
import type { Application, RequiredResourceAccess } from '../clients/entraApplications';
import type { RegisterApplicationInput, RegisterApplicationOutput } from '../contracts/activities';
import { applicationMarkerTag, secretNameFor, uniqueNameFor } from '../contracts/names';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, SECRET_TAGS, USER_READ_SCOPE_ID } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';
import { foreignApplication, inspectOwnership } from './ownership';

/** Graph `Mail.Send` (application) and `User.Read` (delegated), as the F&O procedure prescribes. */
export const REQUIRED_RESOURCE_ACCESS: RequiredResourceAccess[] = [
  {
    resourceAppId: GRAPH_APP_ID,
    resourceAccess: [
      { id: MAIL_SEND_ROLE_ID, type: 'Role' },
      { id: USER_READ_SCOPE_ID, type: 'Scope' },
    ],
  },
];

const SIGN_IN_AUDIENCE = 'AzureADMyOrg';

function accessKey(rra: RequiredResourceAccess[]): string {
  return rra
    .map((r) => `${r.resourceAppId}:${r.resourceAccess.map((a) => `${a.type}/${a.id}`).sort().join(',')}`)
    .sort()
    .join(';');
}

function matches(app: Application, displayName: string, marker: string): boolean {
  return (
    app.displayName === displayName &&
    app.signInAudience === SIGN_IN_AUDIENCE &&
    app.tags.includes(marker) &&
    accessKey(app.requiredResourceAccess) === accessKey(REQUIRED_RESOURCE_ACCESS)
  );
}

export function registerApplication(deps: ActivityDeps): ActivityHandler<RegisterApplicationInput, RegisterApplicationOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const uniqueName = uniqueNameFor(input.environmentId);
    const opts = { environmentId: input.environmentId };
    const marker = applicationMarkerTag(input.environmentId);
    const existing = await entra.getApplicationByUniqueName(uniqueName, opts);
    if (existing) {
      // Recorded: the registry's current version names this very app. Otherwise it is adopted only on strict terms.
      const record = await deps.vault.getSecretProperties(secretNameFor(input.environmentId), opts);
      const mode = record?.tags[SECRET_TAGS.appId]?.toLowerCase() === existing.appId.toLowerCase() ? 'recorded' : 'adoption';
      const ownership = await inspectOwnership(entra, existing, input.environmentId, mode);
      if (ownership.problems.length > 0) throw foreignApplication(input.environmentId, existing, ownership.problems, mode);
      if (mode === 'adoption') {
        // Its secrets were made by this product (by name) but are recorded nowhere: nothing relies on them, and
        // a name is easy to copy. Removed before anything is granted to the app.
        for (const c of existing.passwordCredentials) {
          await entra.removePassword(existing.objectId, c.keyId, opts);
          log.warn(`environment ${input.environmentId}: removed unrecorded credential ${c.keyId} of application ${existing.appId} before adopting it`);
        }
      }
      if (matches(existing, input.displayName, marker)) {
        return { appId: existing.appId, appObjectId: existing.objectId, outcome: 'unchanged' };
      }
    }
    const { application, created } = await entra.upsertApplication(
      {
        uniqueName,
        displayName: input.displayName,
        signInAudience: SIGN_IN_AUDIENCE,
        requiredResourceAccess: REQUIRED_RESOURCE_ACCESS,
        notes: `Managed by fno-graph-mail for F&O environment ${input.environmentId}. Its client secrets are rotated automatically; do not add or remove them by hand.`,
        tags: [...new Set([...(existing?.tags ?? []), marker])],
      },
      opts,
    );
    if (!existing && !created) {
      // Someone registered the name between our read and our write (the write reached it only because the
      // identity may write it): the same terms as any app found under the name.
      const ownership = await inspectOwnership(entra, application, input.environmentId, 'adoption');
      if (ownership.problems.length > 0) throw foreignApplication(input.environmentId, application, ownership.problems, 'adoption');
    }
    log.info(`application ${application.appId} ${created ? 'created' : 'updated'} for environment ${input.environmentId}`);
    return { appId: application.appId, appObjectId: application.objectId, outcome: created ? 'created' : 'updated' };
  };
}
