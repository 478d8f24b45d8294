/**
 * Seeding a large fleet across customer tenants as the product's own setup leaves it, by copying one
 * environment the product really set up in each tenant (the template): its app registration in the
 * customer's tenant (owned by the operator's service principal there), the app's service principal,
 * Mail.Send assignment and delegated grant, its live credential, the Key Vault secret with the registry
 * tags, and F&O's Email parameters holding the credential. Every identifier of the copy is new (object
 * ids, app id, key ids, version ids, the secret itself); only what the tenant shares (Graph's service
 * principal, the operator's, the sender mailbox) stays. `environmentShape` masks those identifiers so a
 * copy can be compared with the setup it was copied from: the same shape, field for field.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { secretNameFor, uniqueNameFor } from '../src/contracts/names';
import type { SandboxState } from '../sandbox/state';
import type { TenantDirectory } from '../sandbox/tenants';
import type { ApplicationRecord, AppRoleAssignmentRecord, FinOpsEnvironmentRecord, OAuth2PermissionGrantRecord, SecretRecord, ServicePrincipalRecord } from '../sandbox/types';

/** Everything setup leaves for one environment, in the sandbox's state. */
export interface EnvironmentObjects {
  environmentId: string;
  tenant: TenantDirectory;
  application: ApplicationRecord;
  servicePrincipal: ServicePrincipalRecord;
  assignments: AppRoleAssignmentRecord[];
  grants: OAuth2PermissionGrantRecord[];
  secret: SecretRecord;
  finops: FinOpsEnvironmentRecord;
}

export function environmentObjects(state: SandboxState, environmentId: string): EnvironmentObjects {
  const finops = state.finops.find((e) => e.id === environmentId);
  if (!finops) throw new Error(`no F&O environment ${environmentId}`);
  const tenant = state.tenant(finops.tenantId);
  if (!tenant) throw new Error(`no tenant ${finops.tenantId} for ${environmentId}`);
  const application = tenant.applications.find((a) => a.uniqueName === uniqueNameFor(environmentId));
  if (!application) throw new Error(`no application for ${environmentId} in tenant ${tenant.name}`);
  const servicePrincipal = tenant.servicePrincipals.find((s) => s.appId === application.appId);
  if (!servicePrincipal) throw new Error(`no service principal for ${environmentId}`);
  const secret = state.secrets.find((s) => s.name === secretNameFor(environmentId));
  if (!secret) throw new Error(`no Key Vault secret for ${environmentId}`);
  return {
    environmentId,
    tenant,
    application,
    servicePrincipal,
    assignments: tenant.appRoleAssignments.filter((a) => a.principalId === servicePrincipal.id),
    grants: tenant.oauth2PermissionGrants.filter((g) => g.clientId === servicePrincipal.id),
    secret,
    finops,
  };
}

/** The environment's own identifiers and secrets, each with its kind (what the shape shows instead). */
function ownIdentifiers(o: EnvironmentObjects): Array<[string, string]> {
  const out: Array<[string, string]> = [
    [o.application.id, 'app-object-id'],
    [o.application.appId, 'app-id'],
    [o.servicePrincipal.id, 'sp-id'],
    [o.finops.url, 'environment-url'],
  ];
  for (const c of o.application.passwordCredentials) {
    out.push([c.keyId, 'key-id']);
    if (c.secretText) out.push([c.secretText, 'secret']);
  }
  for (const a of o.assignments) out.push([a.id, 'assignment-id']);
  for (const g of o.grants) out.push([g.id, 'grant-id']);
  for (const v of o.secret.versions) {
    out.push([v.version, 'version']);
    out.push([v.value, 'secret']);
  }
  // The run marker in credential names and tags (the id of the operation that created the credential).
  for (const v of o.secret.versions) for (const [name, value] of Object.entries(v.tags)) if (/operation/i.test(name)) out.push([value, 'operation-id']);
  // Longest first, so an id that contains another is replaced whole; the environment id last (names contain it).
  out.sort((a, b) => b[0].length - a[0].length);
  out.push([o.environmentId, 'environment-id']);
  return out.filter(([value]) => value.length > 0);
}

function replaceAll(text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = text;
  for (const [from, to] of pairs) out = out.split(from).join(to);
  return out;
}

/** The objects as JSON with mutable history (F&O's queue and mail history) left out. */
function serialise(o: EnvironmentObjects): string {
  const { outgoingEmail: _queue, emailHistory: _history, id: _id, url: _url, batch: _batch, ...finops } = o.finops;
  return JSON.stringify({
    tenant: o.tenant.tenantId,
    application: o.application,
    servicePrincipal: o.servicePrincipal,
    assignments: o.assignments,
    grants: o.grants,
    secret: o.secret,
    finops,
  });
}

/**
 * The environment's objects with its own identifiers masked and times reduced to their kind: two
 * environments set up the same way in the same tenant have the same shape.
 */
export function environmentShape(o: EnvironmentObjects): unknown {
  const masked = replaceAll(
    serialise(o),
    ownIdentifiers(o).map(([value, kind]) => [value, `<${kind}>`]),
  );
  return canonical(
    JSON.parse(masked, (key, value: unknown) => {
      // Entra's hint is the secret's first three characters.
      if (key === 'hint' && typeof value === 'string') return '<hint>';
      if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) return '<time>';
      if (typeof value === 'number' && value > 1e9) return '<epoch>';
      return value;
    }) as unknown,
  );
}

/** The value with every object's keys in order: where a field sits in a record is not its shape. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v)]),
  );
}

/**
 * Copies the template environment (really set up in its tenant) onto `target`, an F&O environment of the
 * sandbox with no credential yet: it joins the template's tenant and gets its own app registration,
 * credential, Key Vault secret and Email parameters, every identifier new.
 */
export function copyEnvironment(state: SandboxState, template: EnvironmentObjects, target: FinOpsEnvironmentRecord): void {
  const { secretText, hint } = state.mintSecret();
  // Graph's object, app and key ids are GUIDs; assignment and grant ids are opaque strings; versions 32 hex digits.
  const fresh = (kind: string): string => {
    if (kind === 'version') return randomBytes(16).toString('hex');
    if (kind === 'assignment-id' || kind === 'grant-id') return randomBytes(32).toString('base64url');
    return randomUUID();
  };
  const pairs: Array<[string, string]> = [];
  for (const [value, kind] of ownIdentifiers(template)) {
    if (kind === 'environment-id') pairs.push([value, target.id]);
    else if (kind === 'environment-url') pairs.push([value, target.url]);
    else if (kind === 'secret') pairs.push([value, secretText]);
    else pairs.push([value, fresh(kind)]);
  }
  const templateHint = template.application.passwordCredentials[0]?.hint;
  const copy = JSON.parse(replaceAll(serialise(template), pairs)) as {
    application: ApplicationRecord;
    servicePrincipal: ServicePrincipalRecord;
    assignments: AppRoleAssignmentRecord[];
    grants: OAuth2PermissionGrantRecord[];
    secret: SecretRecord;
    finops: Omit<FinOpsEnvironmentRecord, 'outgoingEmail' | 'emailHistory' | 'id' | 'url' | 'batch'>;
  };
  for (const c of copy.application.passwordCredentials) if (c.hint === templateHint) c.hint = hint;
  const tenant = template.tenant;
  tenant.applications.push(copy.application);
  tenant.servicePrincipals.push(copy.servicePrincipal);
  tenant.appRoleAssignments.push(...copy.assignments);
  tenant.oauth2PermissionGrants.push(...copy.grants);
  state.secrets.push(copy.secret);
  Object.assign(target, copy.finops, { batch: { ...target.batch, user: template.finops.batch.user } });
}

/**
 * References to the template's app outside the objects a copy is made of (an app management policy,
 * a mailbox scope): the copy would miss them. Empty when the copy is complete.
 */
export function uncopiedReferences(state: SandboxState, template: EnvironmentObjects): string[] {
  const ids = [template.application.appId, template.application.id, template.servicePrincipal.id];
  const places: Array<[string, unknown]> = [
    ['app management policies', template.tenant.appManagementPolicies],
    ['mailbox scopes', state.mailboxScopes],
    ['other applications', template.tenant.applications.filter((a) => a !== template.application)],
    ['other service principals', template.tenant.servicePrincipals.filter((s) => s !== template.servicePrincipal)],
    ['Key Vault', state.secrets.filter((s) => s !== template.secret)],
    ['other F&O environments', state.finops.filter((e) => e !== template.finops).map((e) => ({ ...e, outgoingEmail: [], emailHistory: [] }))],
  ];
  const found: string[] = [];
  for (const [where, value] of places) {
    const text = JSON.stringify(value);
    if (ids.some((id) => text.includes(id))) found.push(where);
  }
  return found;
}
