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
import { MAIL_SEND_ROLE_ID, USER_READ_SCOPE_VALUE } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

/** The tenant-specific admin-consent URL (v2 endpoint, all statically configured permissions). */
export function adminConsentUrl(authorityHost: string, tenantId: string, appId: string): string {
  const url = new URL(`${authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/v2.0/adminconsent`);
  url.searchParams.set('client_id', appId);
  url.searchParams.set('scope', 'https://graph.microsoft.com/.default');
  return url.toString();
}

export function grantAdminConsent(deps: ActivityDeps): ActivityHandler<GrantAdminConsentInput, GrantAdminConsentOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const graph = await entra.getGraphServicePrincipal();
    if (input.strategy === 'request') {
      const status = await entra.getConsentStatus({ servicePrincipalId: input.servicePrincipalId, graphServicePrincipalId: graph.objectId });
      if (status.granted) return { status: 'granted', changed: false };
      return { status: 'requested', consentUrl: adminConsentUrl(deps.settings.authorityHost, input.tenantId, input.appId) };
    }
    const [role, grant] = await Promise.all([
      entra.ensureAppRoleAssignment({ principalId: input.servicePrincipalId, resourceId: graph.objectId, appRoleId: MAIL_SEND_ROLE_ID }),
      entra.ensureDelegatedGrant({ clientId: input.servicePrincipalId, resourceId: graph.objectId, scope: USER_READ_SCOPE_VALUE }),
    ]);
    const changed = role.created || grant.created || grant.updated;
    if (changed) log.info(`admin consent granted for application ${input.appId}`);
    return { status: 'granted', changed };
  };
}

export function checkConsent(deps: ActivityDeps): ActivityHandler<CheckConsentInput, CheckConsentOutput> {
  return async (input) => deps.entra(input.tenantId).getConsentStatus({ servicePrincipalId: input.servicePrincipalId });
}
