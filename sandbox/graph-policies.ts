/**
 * Emulated app management policies: the tenant default (`/policies/defaultAppManagementPolicy`) and
 * app-specific policies (`/policies/appManagementPolicies`, assigned with
 * `/applications/{id}/appManagementPolicies/$ref`), and their enforcement when a client secret is
 * added. An app-specific policy overrides the tenant default restriction by restriction; what it does
 * not define falls back to the default; a restriction in state `disabled` exempts
 * (https://learn.microsoft.com/en-us/graph/api/resources/applicationauthenticationmethodpolicy?view=graph-rest-1.0).
 * Refusals are 400 with `CredentialTypeNotAllowedAsPerAppPolicy` or
 * `CredentialInvalidLifetimeAsPerAppPolicy` (`details[0].code = InvalidKeyEndDate`), the codes and
 * texts observed from Graph (https://github.com/OfficeDev/microsoft-365-agents-toolkit/issues/10998).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseIsoDuration } from './duration';
import { reachOf } from './graph-permissions';
import { collection, entity, fail, insufficientPrivileges, methodNotAllowed, ok, parseBody, resourceNotFound, type GraphContext, type Segment } from './graph-support';
import {
  TENANT_APP_MANAGEMENT_POLICY_ID,
  type AppCredentialRestrictions,
  type AppManagementPolicyRecord,
  type PasswordCredentialConfiguration,
  type PasswordRestrictionType,
  type TenantAppManagementPolicyRecord,
  type TenantDirectory,
} from './tenants';
import type { SandboxResponse } from './types';

// ---- wire shapes ------------------------------------------------------------------------------------

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date and time');

const passwordConfigurationSchema = z.looseObject({
  restrictionType: z.enum(['passwordAddition', 'passwordLifetime', 'symmetricKeyAddition', 'symmetricKeyLifetime', 'customPasswordAddition', 'unknownFutureValue']),
  state: z.enum(['enabled', 'disabled']).nullable().optional(),
  maxLifetime: z
    .string()
    .refine((d) => parseIsoDuration(d) !== undefined, 'not an ISO 8601 duration')
    .nullable()
    .optional(),
  restrictForAppsCreatedAfterDateTime: isoDate.nullable().optional(),
  excludeActors: z.unknown().optional(),
});

const restrictionsSchema = z.looseObject({
  passwordCredentials: z.array(passwordConfigurationSchema).optional(),
  keyCredentials: z.array(z.record(z.string(), z.unknown())).optional(),
});

const tenantPolicyPatchSchema = z.strictObject({
  '@odata.type': z.string().optional(),
  displayName: z.string().optional(),
  description: z.string().optional(),
  isEnabled: z.boolean().optional(),
  applicationRestrictions: restrictionsSchema.optional(),
  servicePrincipalRestrictions: restrictionsSchema.optional(),
});

const policyCreateSchema = z.strictObject({
  '@odata.type': z.string().optional(),
  displayName: z.string().min(1),
  description: z.string().min(1),
  isEnabled: z.boolean().optional(),
  restrictions: restrictionsSchema.optional(),
});

const policyPatchSchema = policyCreateSchema.partial();

type RestrictionsInput = z.infer<typeof restrictionsSchema>;

/** Each restriction type may appear once per policy. */
function toRestrictions(input: RestrictionsInput | undefined): AppCredentialRestrictions | string {
  const passwordCredentials: PasswordCredentialConfiguration[] = (input?.passwordCredentials ?? []).map((r) => ({
    restrictionType: r.restrictionType,
    state: r.state ?? 'enabled',
    maxLifetime: r.maxLifetime ?? null,
    restrictForAppsCreatedAfterDateTime: r.restrictForAppsCreatedAfterDateTime ?? null,
    excludeActors: r.excludeActors ?? null,
  }));
  const types = passwordCredentials.map((r) => r.restrictionType);
  const repeated = types.find((t, i) => types.indexOf(t) !== i);
  if (repeated) return `The restriction type '${repeated}' appears more than once.`;
  const lifetimeWithout = passwordCredentials.find((r) => (r.restrictionType === 'passwordLifetime' || r.restrictionType === 'symmetricKeyLifetime') && r.maxLifetime === null);
  if (lifetimeWithout) return `The restriction '${lifetimeWithout.restrictionType}' requires maxLifetime.`;
  return { passwordCredentials, keyCredentials: [...(input?.keyCredentials ?? [])] };
}

function restrictionsView(r: AppCredentialRestrictions): Record<string, unknown> {
  return {
    passwordCredentials: r.passwordCredentials.map((c) => ({ ...c })),
    keyCredentials: r.keyCredentials.map((c) => ({ ...c })),
  };
}

export function tenantPolicyView(policy: TenantAppManagementPolicyRecord): Record<string, unknown> {
  return {
    id: TENANT_APP_MANAGEMENT_POLICY_ID,
    displayName: policy.displayName,
    description: policy.description,
    isEnabled: policy.isEnabled,
    applicationRestrictions: restrictionsView(policy.applicationRestrictions),
    servicePrincipalRestrictions: restrictionsView(policy.servicePrincipalRestrictions),
  };
}

export function appPolicyView(policy: AppManagementPolicyRecord): Record<string, unknown> {
  return {
    id: policy.id,
    displayName: policy.displayName,
    description: policy.description,
    isEnabled: policy.isEnabled,
    restrictions: restrictionsView(policy.restrictions),
  };
}

// ---- enforcement ------------------------------------------------------------------------------------

export interface PolicyTarget {
  /** Applications are judged by `applicationRestrictions`, service principals by `servicePrincipalRestrictions`. */
  kind: 'application' | 'servicePrincipal';
  /** The assigned app-specific policy, if any. */
  policyId: string | null | undefined;
  createdDateTime: string | null;
}

/** The restriction of `type` that governs the target, and the policy it comes from. */
function effectiveRestriction(
  tenant: TenantDirectory,
  target: PolicyTarget,
  type: PasswordRestrictionType,
): { restriction: PasswordCredentialConfiguration; policyId: string } | undefined {
  const assigned = target.policyId ? tenant.appManagementPolicies.find((p) => p.id === target.policyId) : undefined;
  if (assigned?.isEnabled) {
    const own = assigned.restrictions.passwordCredentials.find((r) => r.restrictionType === type);
    if (own) return { restriction: own, policyId: assigned.id };
  }
  const fallback = tenant.defaultAppManagementPolicy;
  if (!fallback.isEnabled) return undefined;
  const restrictions = target.kind === 'application' ? fallback.applicationRestrictions : fallback.servicePrincipalRestrictions;
  const restriction = restrictions.passwordCredentials.find((r) => r.restrictionType === type);
  return restriction ? { restriction, policyId: TENANT_APP_MANAGEMENT_POLICY_ID } : undefined;
}

/** "Service principals with a createdDateTime null are treated as having being created on 01/01/2019." */
const UNDATED_CREATION = Date.parse('2019-01-01T00:00:00Z');

function applies(restriction: PasswordCredentialConfiguration, target: PolicyTarget): boolean {
  if (restriction.state !== 'enabled') return false;
  if (restriction.restrictForAppsCreatedAfterDateTime === null) return true;
  const created = target.createdDateTime === null ? UNDATED_CREATION : Date.parse(target.createdDateTime);
  return created >= Date.parse(restriction.restrictForAppsCreatedAfterDateTime);
}

/**
 * The refusal Graph gives `addPassword` under the target's policies, or undefined when the secret
 * may be added. `passwordAddition` blocks secrets Entra generates; `passwordLifetime` caps
 * `endDateTime - startDateTime`.
 */
export function passwordPolicyRefusal(ctx: GraphContext, target: PolicyTarget, startMs: number, endMs: number): SandboxResponse | undefined {
  const addition = effectiveRestriction(ctx.tenant, target, 'passwordAddition');
  if (addition && applies(addition.restriction, target)) {
    return fail(ctx, 400, 'CredentialTypeNotAllowedAsPerAppPolicy', `Credential type not allowed as per assigned policy '${addition.policyId}'.`);
  }
  const lifetime = effectiveRestriction(ctx.tenant, target, 'passwordLifetime');
  if (lifetime && applies(lifetime.restriction, target)) {
    const maxMs = parseIsoDuration(lifetime.restriction.maxLifetime ?? '');
    if (maxMs !== undefined && endMs - startMs > maxMs) {
      const message = `Credential lifetime exceeds the max value allowed as per assigned policy '${lifetime.policyId}'.`;
      return fail(ctx, 400, 'CredentialInvalidLifetimeAsPerAppPolicy', message, {
        details: [{ code: 'InvalidKeyEndDate', message, target: 'EndDate' }],
      });
    }
  }
  return undefined;
}

// ---- /policies ----------------------------------------------------------------------------------------

function canRead(ctx: GraphContext): boolean {
  return reachOf(ctx.claims, 'policies.read') !== 'none';
}

function canWrite(ctx: GraphContext): boolean {
  return reachOf(ctx.claims, 'policies.write') !== 'none';
}

function defaultPolicy(ctx: GraphContext): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const policy = ctx.tenant.defaultAppManagementPolicy;
  if (method === 'GET') {
    if (!canRead(ctx)) return insufficientPrivileges(ctx);
    return entity(ctx, 'policies/defaultAppManagementPolicy', tenantPolicyView(policy));
  }
  if (method !== 'PATCH') return methodNotAllowed(ctx);
  if (!canWrite(ctx)) return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, tenantPolicyPatchSchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  // A restriction family in the body replaces the stored one: restrictions left out are dropped, as
  // Microsoft warns (https://learn.microsoft.com/en-us/graph/api/tenantappmanagementpolicy-update?view=graph-rest-1.0).
  const app = body.applicationRestrictions !== undefined ? toRestrictions(body.applicationRestrictions) : undefined;
  if (typeof app === 'string') return fail(ctx, 400, 'Request_BadRequest', app);
  const sp = body.servicePrincipalRestrictions !== undefined ? toRestrictions(body.servicePrincipalRestrictions) : undefined;
  if (typeof sp === 'string') return fail(ctx, 400, 'Request_BadRequest', sp);
  if (body.displayName !== undefined) policy.displayName = body.displayName;
  if (body.description !== undefined) policy.description = body.description;
  if (body.isEnabled !== undefined) policy.isEnabled = body.isEnabled;
  if (app) policy.applicationRestrictions = app;
  if (sp) policy.servicePrincipalRestrictions = sp;
  return ok(ctx, 204);
}

function listOrCreate(ctx: GraphContext): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  if (method === 'GET') {
    if (!canRead(ctx)) return insufficientPrivileges(ctx);
    return collection(ctx, 'policies/appManagementPolicies', 'appManagementPolicy', ctx.tenant.appManagementPolicies.map(appPolicyView));
  }
  if (method !== 'POST') return methodNotAllowed(ctx);
  if (!canWrite(ctx)) return insufficientPrivileges(ctx);
  const parsed = parseBody(ctx, policyCreateSchema);
  if ('response' in parsed) return parsed.response;
  const restrictions = toRestrictions(parsed.value.restrictions);
  if (typeof restrictions === 'string') return fail(ctx, 400, 'Request_BadRequest', restrictions);
  const policy: AppManagementPolicyRecord = {
    id: randomUUID(),
    displayName: parsed.value.displayName,
    description: parsed.value.description,
    isEnabled: parsed.value.isEnabled ?? true,
    restrictions,
  };
  ctx.tenant.appManagementPolicies.push(policy);
  return entity(ctx, 'policies/appManagementPolicies', appPolicyView(policy), 201);
}

function policyItem(ctx: GraphContext, id: string): SandboxResponse {
  const method = ctx.req.method.toUpperCase();
  const policy = ctx.tenant.appManagementPolicies.find((p) => p.id === id);
  if (method === 'GET') {
    if (!canRead(ctx)) return insufficientPrivileges(ctx);
    if (!policy) return resourceNotFound(ctx, id);
    return entity(ctx, 'policies/appManagementPolicies', appPolicyView(policy));
  }
  if (method !== 'PATCH' && method !== 'DELETE') return methodNotAllowed(ctx);
  if (!canWrite(ctx)) return insufficientPrivileges(ctx);
  if (!policy) return resourceNotFound(ctx, id);
  if (method === 'DELETE') {
    ctx.tenant.appManagementPolicies = ctx.tenant.appManagementPolicies.filter((p) => p !== policy);
    for (const app of ctx.tenant.applications) if (app.appManagementPolicyId === policy.id) app.appManagementPolicyId = null;
    return ok(ctx, 204);
  }
  const parsed = parseBody(ctx, policyPatchSchema);
  if ('response' in parsed) return parsed.response;
  const body = parsed.value;
  const restrictions = body.restrictions !== undefined ? toRestrictions(body.restrictions) : undefined;
  if (typeof restrictions === 'string') return fail(ctx, 400, 'Request_BadRequest', restrictions);
  if (body.displayName !== undefined) policy.displayName = body.displayName;
  if (body.description !== undefined) policy.description = body.description;
  if (body.isEnabled !== undefined) policy.isEnabled = body.isEnabled;
  if (restrictions) policy.restrictions = restrictions;
  return ok(ctx, 204);
}

/** Routes everything under `/policies` (app management policies only). */
export function handlePolicies(ctx: GraphContext, segments: Segment[]): SandboxResponse {
  const [, second, third, fourth] = segments;
  if (second?.name === 'defaultAppManagementPolicy' && !third) return defaultPolicy(ctx);
  if (second?.name === 'appManagementPolicies' && !second.altKey) {
    if (!third) return listOrCreate(ctx);
    if (!fourth) return policyItem(ctx, third.name);
  }
  return fail(ctx, 400, 'BadRequest', `Resource not found for the segment '${segments[segments.length - 1]?.name ?? ''}'.`);
}
