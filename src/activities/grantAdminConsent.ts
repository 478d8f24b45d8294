/**
 * Activities `grantAdminConsent` and `checkConsent`. Strategy `grant`: the product's identity assigns
 * the `Mail.Send` app role on Graph's service principal and the tenant-wide `User.Read` grant (each read
 * first, created only if missing). Strategy `request`: nothing is written; the admin-consent URL is
 * returned for a person, and `checkConsent` tells the waiting orchestration when it has been granted.
 */
import type {
  CheckConsentInput,
  CheckConsentOutput,
  GrantAdminConsentInput,
  GrantAdminConsentOutput,
} from '../contracts/activities';
import { isServiceError, ServiceError } from '../clients/errors';
import { adminConsentUrl } from '../contracts/cloud';
import { MAIL_SEND_ROLE_ID, USER_READ_SCOPE_VALUE } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

export function grantAdminConsent(deps: ActivityDeps): ActivityHandler<GrantAdminConsentInput, GrantAdminConsentOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const graph = await entra.getGraphServicePrincipal(opts);
    if (input.strategy === 'request') {
      const status = await entra.getConsentStatus({ servicePrincipalId: input.servicePrincipalId, graphServicePrincipalId: graph.objectId }, opts);
      if (input.mailSend ? status.granted : status.userReadGranted) return { status: 'granted', changed: false };
      return {
        status: 'requested',
        consentUrl: adminConsentUrl({ authorityHost: deps.settings.authorityHost, graphBaseUrl: deps.settings.graphBaseUrl, tenantId: input.tenantId, appId: input.appId }),
      };
    }
    // Both settle before the step ends, so no write is still in flight when it reports a failure.
    const [role, grant] = await Promise.allSettled([
      input.mailSend
        ? entra.ensureAppRoleAssignment({ principalId: input.servicePrincipalId, resourceId: graph.objectId, appRoleId: MAIL_SEND_ROLE_ID }, opts)
        : Promise.resolve({ created: false }),
      entra.ensureDelegatedGrant({ clientId: input.servicePrincipalId, resourceId: graph.objectId, scope: USER_READ_SCOPE_VALUE }, opts),
    ]);
    if (role.status === 'rejected' || grant.status === 'rejected') throw consentFailure(role, grant);
    const changed = role.value.created || grant.value.created || grant.value.updated;
    if (changed) log.info(`admin consent granted for application ${input.appId}`);
    return { status: 'granted', changed };
  };
}

const CONSENT_PERMISSIONS = ['AppRoleAssignment.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All'] as const;

/**
 * The error of a failed grant. When both halves were refused for lack of permission, one message names
 * both permissions, so an administrator fixes the identity once instead of once per rerun; otherwise a
 * failure a retry cannot fix wins over one it can.
 */
function consentFailure(role: PromiseSettledResult<unknown>, grant: PromiseSettledResult<unknown>): unknown {
  const errors = [role, grant].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  const denied = errors.filter((e): e is ServiceError => isServiceError(e) && e.status === 403);
  const first = denied[0];
  if (denied.length === 2 && first) {
    return new ServiceError({
      ...first.toJSON(),
      action: `Grant the function app's identity the Graph application permissions ${CONSENT_PERMISSIONS.join(' and ')} (see docs/settings.md, Permissions), or use the consent strategy request.`,
    });
  }
  return errors.find((e) => isServiceError(e) && !e.retryable) ?? errors[0];
}

export function checkConsent(deps: ActivityDeps): ActivityHandler<CheckConsentInput, CheckConsentOutput> {
  return async (input) =>
    deps.entra(input.tenantId).getConsentStatus({ servicePrincipalId: input.servicePrincipalId }, { environmentId: input.environmentId });
}
