/**
 * Activity `registerApplication`: the environment's single-tenant app registration, upserted by a
 * `uniqueName` derived from the environment id. Reads first and writes only when something differs,
 * so a second run makes no Graph write.
 */
import type { Application, RequiredResourceAccess } from '../clients/entraApplications';
import type { RegisterApplicationInput, RegisterApplicationOutput } from '../contracts/activities';
import { uniqueNameFor } from '../contracts/names';
import { GRAPH_APP_ID, MAIL_SEND_ROLE_ID, USER_READ_SCOPE_ID } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

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

function matches(app: Application, displayName: string): boolean {
  return (
    app.displayName === displayName &&
    app.signInAudience === SIGN_IN_AUDIENCE &&
    accessKey(app.requiredResourceAccess) === accessKey(REQUIRED_RESOURCE_ACCESS)
  );
}

export function registerApplication(deps: ActivityDeps): ActivityHandler<RegisterApplicationInput, RegisterApplicationOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const uniqueName = uniqueNameFor(input.environmentId);
    const opts = { environmentId: input.environmentId };
    const existing = await entra.getApplicationByUniqueName(uniqueName, opts);
    if (existing && matches(existing, input.displayName)) {
      return { appId: existing.appId, appObjectId: existing.objectId, outcome: 'unchanged' };
    }
    const { application, created } = await entra.upsertApplication(
      {
        uniqueName,
        displayName: input.displayName,
        signInAudience: SIGN_IN_AUDIENCE,
        requiredResourceAccess: REQUIRED_RESOURCE_ACCESS,
        notes: `Managed by fno-graph-mail for F&O environment ${input.environmentId}. Its client secrets are rotated automatically; do not add or remove them by hand.`,
      },
      opts,
    );
    log.info(`application ${application.appId} ${created ? 'created' : 'updated'} for environment ${input.environmentId}`);
    return { appId: application.appId, appObjectId: application.objectId, outcome: created ? 'created' : 'updated' };
  };
}
