/**
 * Activities of a customer tenant's runs (partner mode): `describeOperator` (the operator application
 * in the home tenant and the Graph permissions it requires), `checkTenantConsent` (a fresh token of the
 * operator in the tenant, and the permissions it carries), `recordTenant` (the tenant's registry record),
 * `removeTenantApplication` and `removeRegistryRecord` (what a confirmed removal takes out, each checked
 * again first). Also the read the removal report is made from: the product's own applications in a
 * tenant. None of them sees a secret: the operator has none, and a tenant record holds none.
 */
import type { ApplicationSummary, EntraApplications } from '../clients/entraApplications';
import { isServiceError, ServiceError } from '../clients/errors';
import type {
  CheckTenantConsentInput,
  CheckTenantConsentOutput,
  DescribeOperatorInput,
  DescribeOperatorOutput,
  RecordTenantInput,
  RecordTenantOutput,
  RemoveRegistryRecordInput,
  RemoveRegistryRecordOutput,
  RemoveTenantApplicationInput,
  RemoveTenantApplicationOutput,
} from '../contracts/activities';
import { applicationMarkerTag, environmentIdOfSecretName, environmentIdOfUniqueName, tenantIdOfSecretName, tenantSecretNameFor, uniqueNameFor } from '../contracts/names';
import { tenantRecordTags, toTenantRecord } from '../contracts/registry';
import type { TenantApplication } from '../contracts/tenants';
import { GRAPH_APP_ID, MANAGED_BY_MARKER, SECRET_TAGS } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

/** Key Vault tag values hold at most 256 characters. */
const TAG_MAX = 256;

/** The value of a record tag (the record holds no secret); Key Vault requires one. */
const TENANT_RECORD_NOTE = 'fno-graph-mail tenant record: see its tags (no secret is stored here)';

export function describeOperator(deps: ActivityDeps): ActivityHandler<DescribeOperatorInput, DescribeOperatorOutput> {
  return async (input) => {
    const entra = deps.entra(deps.settings.homeTenantId);
    const app = await entra.getApplicationByAppId(input.operatorAppId);
    const where = `the home tenant ${deps.settings.homeTenantId}`;
    if (!app) {
      throw operatorProblem(`OPERATOR_CLIENT_ID ${input.operatorAppId} names no application in ${where}`);
    }
    if (app.signInAudience !== 'AzureADMultipleOrgs') {
      throw operatorProblem(`the operator application ${input.operatorAppId} is not multi-tenant (its signInAudience is ${app.signInAudience || 'not set'}, not AzureADMultipleOrgs), so no other tenant can consent to it`);
    }
    const graph = await entra.getGraphServicePrincipal();
    const names = new Map(graph.appRoles.map((r) => [r.id.toLowerCase(), r.value ?? r.id]));
    const requiredPermissions = app.requiredResourceAccess
      .filter((r) => r.resourceAppId === GRAPH_APP_ID)
      .flatMap((r) => r.resourceAccess.filter((a) => a.type === 'Role').map((a) => names.get(a.id.toLowerCase()) ?? a.id));
    if (requiredPermissions.length === 0) {
      throw operatorProblem(`the operator application ${input.operatorAppId} requires no Microsoft Graph application permission, so a consent would give the product nothing to act with`);
    }
    return { appId: app.appId, displayName: app.displayName, requiredPermissions: [...new Set(requiredPermissions)].sort() };
  };
}

function operatorProblem(reason: string): ServiceError {
  return new ServiceError({
    kind: 'permanent',
    service: 'graph',
    operation: 'Read the partner operator application',
    code: 'OperatorApplication',
    reason,
    action: 'Run the partner post-provision step (`npm run partner-operator` with PARTNER_MODE=true, docs/deploying.md, Partner mode) and set OPERATOR_CLIENT_ID to the client id it prints.',
  });
}

export function checkTenantConsent(deps: ActivityDeps): ActivityHandler<CheckTenantConsentInput, CheckTenantConsentOutput> {
  return async (input) => {
    let granted: string[];
    try {
      granted = await deps.grantedRoles(input.tenantId);
    } catch (error) {
      // Not consented yet: the operator has no service principal in the tenant. Any other refusal (its
      // federated credential, the identity) is for a person to fix and fails the run.
      if (isServiceError(error) && error.code === 'AADSTS7000229') return { state: 'not-consented', grantedPermissions: [], missingPermissions: [...input.requiredPermissions] };
      throw error;
    }
    const grantedPermissions = [...new Set(granted)].sort();
    const missingPermissions = input.requiredPermissions.filter((p) => !grantedPermissions.includes(p));
    return { state: missingPermissions.length === 0 ? 'granted' : 'incomplete', grantedPermissions, missingPermissions };
  };
}

/** A permission list that fits a tag: whole names only, and how many did not fit. */
export function fitPermissions(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, p] of list.entries()) {
    const rest = list.length - i - 1;
    const candidate = [...out, p].join(',');
    const suffix = rest > 0 ? `,+${rest} more` : '';
    if ((candidate + suffix).length > TAG_MAX) return [...out, `+${list.length - out.length} more`];
    out.push(p);
  }
  return out;
}

export function recordTenant(deps: ActivityDeps): ActivityHandler<RecordTenantInput, RecordTenantOutput> {
  return async (input, log) => {
    const name = tenantSecretNameFor(input.tenantId);
    const current = await deps.vault.getSecretProperties(name);
    const previous = current ? toTenantRecord(current, input.tenantId) : undefined;
    // The first time consent is complete stays the onboarding time; a later onboarding re-checks it.
    const onboardedAt = input.consent === 'granted' ? (previous?.onboardedAt ?? input.asOf) : undefined;
    const { written } = await deps.vault.writeRecord(
      name,
      TENANT_RECORD_NOTE,
      tenantRecordTags({
        tenantId: input.tenantId,
        consent: input.consent,
        operatorAppId: input.operatorAppId,
        requiredPermissions: fitPermissions(input.requiredPermissions),
        grantedPermissions: fitPermissions(input.grantedPermissions),
        ...(onboardedAt ? { onboardedAt } : {}),
        checkedAt: input.asOf,
      }),
    );
    if (written) log.info(`tenant ${input.tenantId} recorded: consent ${input.consent}`);
    return { written, ...(onboardedAt ? { onboardedAt } : {}) };
  };
}

/**
 * The product's applications in a tenant, as a removal reports them: those whose `uniqueName` is an
 * environment's and that carry that environment's marker tag and have the product's identity in the
 * tenant among their owners. Any other application under an environment's name is left alone, with
 * the reason (someone else registered it, or the product no longer owns it).
 */
export async function productApplicationsIn(entra: EntraApplications): Promise<{ own: TenantApplication[]; leftAlone: Array<ApplicationSummaryReason> }> {
  const named = (await entra.listApplications()).flatMap((app) => {
    const environmentId = app.uniqueName ? environmentIdOfUniqueName(app.uniqueName) : undefined;
    return environmentId ? [{ app, environmentId }] : [];
  });
  if (named.length === 0) return { own: [], leftAlone: [] };
  const me = await entra.callerObjectId();
  const own: TenantApplication[] = [];
  const leftAlone: ApplicationSummaryReason[] = [];
  for (const { app, environmentId } of named) {
    const reasons: string[] = [];
    if (!app.tags.includes(applicationMarkerTag(environmentId))) reasons.push(`it does not carry the product's tag ${applicationMarkerTag(environmentId)}`);
    const owners = await entra.listOwnerIds(app.objectId);
    if (!owners.includes(me)) reasons.push(`the product's identity in the tenant is not among its owners (${owners.join(', ') || 'none'})`);
    if (reasons.length === 0) own.push({ objectId: app.objectId, appId: app.appId, displayName: app.displayName, environmentId });
    else leftAlone.push({ objectId: app.objectId, appId: app.appId, displayName: app.displayName, reason: reasons.join('; ') });
  }
  const byName = (a: { displayName: string; appId: string }, b: { displayName: string; appId: string }): number => a.displayName.localeCompare(b.displayName) || a.appId.localeCompare(b.appId);
  return { own: own.sort(byName), leftAlone: leftAlone.sort(byName) };
}

export type ApplicationSummaryReason = Pick<ApplicationSummary, 'objectId' | 'appId' | 'displayName'> & { reason: string };

export function removeTenantApplication(deps: ActivityDeps): ActivityHandler<RemoveTenantApplicationInput, RemoveTenantApplicationOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const app = await entra.getApplication(input.objectId, opts);
    if (!app) return { removed: false, reason: 'already gone' };
    // Checked again now, not taken from the report: only the product's own application of this environment goes.
    const problems: string[] = [];
    if (app.appId.toLowerCase() !== input.appId.toLowerCase()) problems.push(`object ${input.objectId} is now application ${app.appId}, not ${input.appId}`);
    if (app.uniqueName !== uniqueNameFor(input.environmentId)) problems.push(`its uniqueName is ${app.uniqueName ?? 'not set'}, not ${uniqueNameFor(input.environmentId)}`);
    if (!app.tags.includes(applicationMarkerTag(input.environmentId))) problems.push(`it does not carry the product's tag ${applicationMarkerTag(input.environmentId)}`);
    if (problems.length === 0) {
      const [owners, me] = await Promise.all([entra.listOwnerIds(app.objectId, opts), entra.callerObjectId()]);
      if (!owners.includes(me)) problems.push(`the product's identity is not among its owners (${owners.join(', ') || 'none'})`);
    }
    if (problems.length > 0) return { removed: false, reason: `not the product's own any more: ${problems.join('; ')}; left untouched` };
    const { deleted } = await entra.deleteApplication(app.objectId, opts);
    if (deleted) log.info(`application ${app.appId} of environment ${input.environmentId} deleted in tenant ${input.tenantId}`);
    return deleted ? { removed: true } : { removed: false, reason: 'already gone' };
  };
}

export function removeRegistryRecord(deps: ActivityDeps): ActivityHandler<RemoveRegistryRecordInput, RemoveRegistryRecordOutput> {
  return async (input, log) => {
    const environmentId = environmentIdOfSecretName(input.secretName);
    const recordOfTenant = tenantIdOfSecretName(input.secretName);
    if (environmentId === undefined && recordOfTenant !== input.tenantId) {
      return { removed: false, reason: `${input.secretName} is not a record the product keeps for tenant ${input.tenantId}` };
    }
    const opts = environmentId !== undefined ? { environmentId } : {};
    const current = await deps.vault.getSecretProperties(input.secretName, opts);
    if (!current) return { removed: false, reason: 'already gone' };
    // Only the product's record of this tenant: the marker, and the tenant tag the report was made from.
    if (current.tags[SECRET_TAGS.managedBy] !== MANAGED_BY_MARKER || current.tags[SECRET_TAGS.tenantId] !== input.tenantId) {
      return { removed: false, reason: `its tags no longer name tenant ${input.tenantId}; left untouched` };
    }
    const { deleted } = await deps.vault.deleteSecret(input.secretName, opts);
    if (deleted) log.info(`Key Vault record ${input.secretName} of tenant ${input.tenantId} deleted`);
    return deleted ? { removed: true } : { removed: false, reason: 'already gone' };
  };
}
