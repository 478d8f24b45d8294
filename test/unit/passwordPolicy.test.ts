/**
 * The pre-flight's reading of app management policies, as Microsoft documents them: an app's own
 * policy overrides the tenant default restriction by restriction, a disabled restriction exempts,
 * `restrictForAppsCreatedAfterDateTime` spares older apps, and lifetimes are ISO 8601 durations.
 */
import type { AppManagementPolicies, PasswordRestriction } from '../../src/clients/entraApplications';
import { durationMs, exemptionRequests, passwordPolicyFor } from '../../src/activities/passwordPolicy';

const DAY = 86_400_000;
const restriction = (restrictionType: string, extra: Partial<PasswordRestriction> = {}): PasswordRestriction => ({
  restrictionType,
  state: 'enabled',
  maxLifetime: null,
  restrictForAppsCreatedAfterDateTime: null,
  ...extra,
});
const policies = (tenant: PasswordRestriction[], own?: PasswordRestriction[], ownEnabled = true): AppManagementPolicies => ({
  tenantDefault: { id: '00000000-0000-0000-0000-000000000000', isEnabled: true, passwordRestrictions: tenant },
  assigned: own ? [{ id: 'app-policy', displayName: 'own', isEnabled: ownEnabled, passwordRestrictions: own }] : [],
});

describe('durationMs', () => {
  it.each([
    ['P90D', 90 * DAY],
    ['P1Y', 365 * DAY],
    ['P2W', 14 * DAY],
    ['PT12H', 12 * 3_600_000],
    ['P4DT12H30M5S', 4 * DAY + 12 * 3_600_000 + 30 * 60_000 + 5000],
  ])('%s', (iso, ms) => expect(durationMs(iso)).toBe(ms));
  it.each(['', 'P', 'PT', '90D', 'P-1D', 'P0D', 'banana'])('refuses %p', (iso) => expect(durationMs(iso)).toBeUndefined());
});

describe('passwordPolicyFor', () => {
  it('nothing restricted: nothing to say', () => {
    expect(passwordPolicyFor(policies([]), '2026-01-01T00:00:00Z')).toEqual({});
  });

  it('the tenant forbids new secrets, and caps them', () => {
    const p = passwordPolicyFor(policies([restriction('passwordAddition'), restriction('passwordLifetime', { maxLifetime: 'P30D' })]), '2026-01-01T00:00:00Z');
    expect(p.forbiddenBy).toEqual({ policyId: '00000000-0000-0000-0000-000000000000', tenantDefault: true });
    expect(p.maxLifetime).toMatchObject({ ms: 30 * DAY, tenantDefault: true, iso: 'P30D' });
  });

  it("an app's own policy overrides a restriction it defines (disabled exempts) and inherits the ones it does not", () => {
    const p = passwordPolicyFor(
      policies([restriction('passwordAddition'), restriction('passwordLifetime', { maxLifetime: 'P30D' })], [restriction('passwordAddition', { state: 'disabled' })]),
      '2026-01-01T00:00:00Z',
    );
    expect(p.forbiddenBy).toBeUndefined();
    expect(p.maxLifetime).toMatchObject({ ms: 30 * DAY, tenantDefault: true });
  });

  it('a disabled own policy counts for nothing', () => {
    const p = passwordPolicyFor(policies([restriction('passwordAddition')], [restriction('passwordAddition', { state: 'disabled' })], false), null);
    expect(p.forbiddenBy?.tenantDefault).toBe(true);
  });

  it('restrictForAppsCreatedAfterDateTime spares apps created before it; undated apps count as 2019', () => {
    const tenant = [restriction('passwordAddition', { restrictForAppsCreatedAfterDateTime: '2025-06-01T00:00:00Z' })];
    expect(passwordPolicyFor(policies(tenant), '2025-01-01T00:00:00Z').forbiddenBy).toBeUndefined();
    expect(passwordPolicyFor(policies(tenant), '2025-06-01T00:00:00Z').forbiddenBy).toBeDefined();
    expect(passwordPolicyFor(policies(tenant), null).forbiddenBy).toBeUndefined();
  });

  it('a disabled tenant policy restricts nothing', () => {
    const p = policies([restriction('passwordAddition')]);
    p.tenantDefault.isEnabled = false;
    expect(passwordPolicyFor(p, '2026-01-01T00:00:00Z')).toEqual({});
  });
});

describe('exemptionRequests', () => {
  it("creates an app policy that disables passwordAddition and keeps a cap, then assigns it, on the cloud's Graph", () => {
    const [create, assign] = exemptionRequests('https://graph.microsoft.us/', 'obj-1', 'contoso-uat', 180);
    expect(create).toMatch(/^POST https:\/\/graph\.microsoft\.us\/v1\.0\/policies\/appManagementPolicies {2}\{/);
    const body = JSON.parse(create!.split('  ')[1]!) as { restrictions: { passwordCredentials: PasswordRestriction[] } };
    expect(body.restrictions.passwordCredentials).toEqual([
      { restrictionType: 'passwordAddition', state: 'disabled', maxLifetime: null },
      { restrictionType: 'passwordLifetime', state: 'enabled', maxLifetime: 'P180D' },
    ]);
    expect(assign).toBe(
      'POST https://graph.microsoft.us/v1.0/applications/obj-1/appManagementPolicies/$ref  {"@odata.id":"https://graph.microsoft.us/v1.0/policies/appManagementPolicies/{id of the policy just created}"}',
    );
  });
});
