/** Activity `ensureServicePrincipal`: the app's service principal in the tenant, created only if missing. */
import type { EnsureServicePrincipalInput, EnsureServicePrincipalOutput } from '../contracts/activities';
import type { ActivityDeps, ActivityHandler } from './deps';

export function ensureServicePrincipal(deps: ActivityDeps): ActivityHandler<EnsureServicePrincipalInput, EnsureServicePrincipalOutput> {
  return async (input, log) => {
    const { servicePrincipal, created } = await deps.entra(input.tenantId).ensureServicePrincipal(input.appId, {
      environmentId: input.environmentId,
    });
    if (created) log.info(`service principal ${servicePrincipal.objectId} created for application ${input.appId}`);
    return { servicePrincipalId: servicePrincipal.objectId, created };
  };
}
