/**
 * Tenant policy pre-flight before `addPassword`: what the tenant's app management policies allow an
 * environment's app (https://learn.microsoft.com/entra/identity/enterprise-apps/configure-app-management-policies):
 *
 * - an app's own policy (at most one is assigned) overrides the tenant default restriction by
 *   restriction; a restriction type it does not define falls back to the tenant default
 *   (https://learn.microsoft.com/graph/api/resources/appmanagementpolicy);
 * - a restriction applies when its `state` is `enabled` and the app was created at or after its
 *   `restrictForAppsCreatedAfterDateTime` (apps without a creation time count as created on 1 January 2019);
 * - `passwordAddition` forbids new client secrets; `passwordLifetime` caps `endDateTime - startDateTime`
 *   at `maxLifetime` (ISO 8601 duration).
 *
 * A cap shortens the new secret (said in the step); a ban fails the step before any write, naming the
 * policy and the exemption an administrator can apply.
 */
import type { AppManagementPolicies, PasswordRestriction } from '../clients/entraApplications';
import { graphEndpoint } from '../contracts/cloud';

const DAY = 86_400_000;
const UNDATED_CREATION = Date.parse('2019-01-01T00:00:00Z');

export interface PasswordPolicy {
  /** New client secrets are forbidden by this policy. */
  forbiddenBy?: { policyId: string; tenantDefault: boolean };
  /** The longest lifetime allowed, in milliseconds, and the policy that sets it. */
  maxLifetime?: { ms: number; policyId: string; tenantDefault: boolean; iso: string };
}

/**
 * ISO 8601 duration in milliseconds (`P90D`, `P1Y`, `PT12H`, `P4DT12H30M5S`); years and months count as
 * 365 and 30 days (guess: Microsoft's examples use days only). Undefined when it is not a duration.
 */
export function durationMs(iso: string): number | undefined {
  const m = /^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso.trim());
  if (!m || iso.trim() === 'P' || iso.trim().endsWith('T')) return undefined;
  const [, y, mo, w, d, h, mi, s] = m.map((v) => (v === undefined ? 0 : Number(v)));
  const ms = ((((y ?? 0) * 365 + (mo ?? 0) * 30 + (w ?? 0) * 7 + (d ?? 0)) * 24 + (h ?? 0)) * 60 + (mi ?? 0)) * 60_000 + (s ?? 0) * 1000;
  return ms > 0 ? ms : undefined;
}

function governing(policies: AppManagementPolicies, type: string): { restriction: PasswordRestriction; policyId: string; tenantDefault: boolean } | undefined {
  for (const own of policies.assigned) {
    if (!own.isEnabled) continue;
    const restriction = own.passwordRestrictions.find((r) => r.restrictionType === type);
    if (restriction) return { restriction, policyId: own.id, tenantDefault: false };
  }
  if (!policies.tenantDefault.isEnabled) return undefined;
  const restriction = policies.tenantDefault.passwordRestrictions.find((r) => r.restrictionType === type);
  return restriction ? { restriction, policyId: policies.tenantDefault.id, tenantDefault: true } : undefined;
}

function applies(restriction: PasswordRestriction, appCreatedDateTime: string | null): boolean {
  if (restriction.state !== 'enabled') return false;
  if (!restriction.restrictForAppsCreatedAfterDateTime) return true;
  const created = appCreatedDateTime ? Date.parse(appCreatedDateTime) : UNDATED_CREATION;
  return created >= Date.parse(restriction.restrictForAppsCreatedAfterDateTime);
}

/** What the policies allow the app's next client secret. */
export function passwordPolicyFor(policies: AppManagementPolicies, appCreatedDateTime: string | null): PasswordPolicy {
  const out: PasswordPolicy = {};
  const addition = governing(policies, 'passwordAddition');
  if (addition && applies(addition.restriction, appCreatedDateTime)) out.forbiddenBy = { policyId: addition.policyId, tenantDefault: addition.tenantDefault };
  const lifetime = governing(policies, 'passwordLifetime');
  if (lifetime && applies(lifetime.restriction, appCreatedDateTime) && lifetime.restriction.maxLifetime) {
    const ms = durationMs(lifetime.restriction.maxLifetime);
    if (ms !== undefined) out.maxLifetime = { ms, policyId: lifetime.policyId, tenantDefault: lifetime.tenantDefault, iso: lifetime.restriction.maxLifetime };
  }
  return out;
}

/** Whole days of a lifetime, for people. */
export function days(ms: number): number {
  return Math.floor(ms / DAY);
}

/**
 * The Graph requests an administrator (Policy.ReadWrite.ApplicationConfiguration) sends to exempt one
 * app: an app-specific policy whose `passwordAddition` restriction is disabled (a restriction the app's
 * policy defines overrides the tenant's), keeping a lifetime cap, assigned to the app.
 * https://learn.microsoft.com/graph/api/appmanagementpolicy-post-appmanagementpolicies and
 * https://learn.microsoft.com/graph/api/appmanagementpolicy-post-appliesto
 */
export function exemptionRequests(graphBaseUrl: string, appObjectId: string, environmentId: string, lifetimeDays: number): string[] {
  const root = `${graphEndpoint(graphBaseUrl).baseUrl}/v1.0`;
  const policy = {
    displayName: `fno-graph-mail: client secrets of ${environmentId}`,
    description: 'Lets fno-graph-mail add the client secret F&O sends email with; it rotates the secret before it expires.',
    isEnabled: true,
    restrictions: {
      passwordCredentials: [
        { restrictionType: 'passwordAddition', state: 'disabled', maxLifetime: null },
        { restrictionType: 'passwordLifetime', state: 'enabled', maxLifetime: `P${lifetimeDays}D` },
      ],
    },
  };
  return [
    `POST ${root}/policies/appManagementPolicies  ${JSON.stringify(policy)}`,
    `POST ${root}/applications/${appObjectId}/appManagementPolicies/$ref  ${JSON.stringify({ '@odata.id': `${root}/policies/appManagementPolicies/{id of the policy just created}` })}`,
  ];
}
