/**
 * Every name the product derives from an environment id, in one place: the Entra app's `uniqueName`,
 * the Key Vault secret, the durable instance ids of its runs, the lock entity that keeps them apart,
 * the Exchange management scope, and the display name marking the credentials the product creates; and
 * the names derived from a customer tenant's id in partner mode (its Key Vault record, its runs).
 *
 * Each is injective (two environment ids never share a name; a property test holds them to it) and
 * reversible where the product reads a name back (a Key Vault event names a secret, a run names an
 * instance). A name that folded two ids into one would let one environment's run act on another's
 * secret: a security bug, not a cosmetic one.
 */
import { ENVIRONMENT_ID_PATTERN, type EnvironmentId } from './environment';
import { TENANT_ID_PATTERN } from './tenants';
import { MANAGED_BY_MARKER } from './wellKnown';
import type { RunKind, TenantRunKind } from './operations';

/** Prefix of every name the product derives; also the `managed-by` marker value. */
const PREFIX = `${MANAGED_BY_MARKER}-`;

/** Prefix of the Key Vault secret names (the rest is the environment id itself). */
export const SECRET_NAME_PREFIX = PREFIX;

function checked(environmentId: EnvironmentId): string {
  if (!ENVIRONMENT_ID_PATTERN.test(environmentId)) {
    // Ids are validated at the edge; reaching this is a programming error, never a reason to guess a name.
    throw new Error(`"${environmentId.slice(0, 80)}" is not an environment id`);
  }
  return environmentId;
}

/** Entra `uniqueName` of the environment's app registration: stable, so the upsert is idempotent. */
export function uniqueNameFor(environmentId: EnvironmentId): string {
  return `${PREFIX}${checked(environmentId)}`;
}

/** The environment whose app registration a `uniqueName` is, or undefined when the name is not one `uniqueNameFor` makes. */
export function environmentIdOfUniqueName(uniqueName: string): EnvironmentId | undefined {
  if (!uniqueName.startsWith(PREFIX)) return undefined;
  const id = uniqueName.slice(PREFIX.length);
  return ENVIRONMENT_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * The environment's Key Vault secret: `fno-graph-mail-{environmentId}`. The id grammar (lowercase
 * letters, digits and hyphens, at most 63) is a subset of Key Vault's (letters, digits and dashes, at
 * most 127, compared case-insensitively), so the id is used as it is: nothing is folded or hashed.
 */
export function secretNameFor(environmentId: EnvironmentId): string {
  return `${SECRET_NAME_PREFIX}${checked(environmentId)}`;
}

/** The environment a secret name belongs to, or undefined when the name is not one `secretNameFor` makes. */
export function environmentIdOfSecretName(name: string): EnvironmentId | undefined {
  const lower = name.toLowerCase();
  if (!lower.startsWith(SECRET_NAME_PREFIX)) return undefined;
  const id = lower.slice(SECRET_NAME_PREFIX.length);
  // Key Vault compares names case-insensitively: an upper-case spelling names the same secret.
  return ENVIRONMENT_ID_PATTERN.test(id) ? id : undefined;
}

const RUN_PREFIX: Readonly<Record<RunKind, string>> = { setup: 'setup-', rotation: 'rotate-', drift: 'drift-' };

/** Durable instance ids of an environment's runs: one per kind, so triggers of one kind collapse into one run. */
export const instanceIds = {
  setup: (environmentId: EnvironmentId): string => `${RUN_PREFIX.setup}${checked(environmentId)}`,
  rotation: (environmentId: EnvironmentId): string => `${RUN_PREFIX.rotation}${checked(environmentId)}`,
  drift: (environmentId: EnvironmentId): string => `${RUN_PREFIX.drift}${checked(environmentId)}`,
  /** Every instance id a run of this environment may have. */
  all: (environmentId: EnvironmentId): string[] => (Object.keys(RUN_PREFIX) as RunKind[]).map((k) => `${RUN_PREFIX[k]}${checked(environmentId)}`),
};

/** The run an instance id names, or undefined for an id the product did not derive. */
export function runOfInstanceId(instanceId: string): { kind: RunKind; environmentId: EnvironmentId } | undefined {
  for (const kind of Object.keys(RUN_PREFIX) as RunKind[]) {
    const prefix = RUN_PREFIX[kind];
    if (instanceId.startsWith(prefix)) {
      const environmentId = instanceId.slice(prefix.length);
      return ENVIRONMENT_ID_PATTERN.test(environmentId) ? { kind, environmentId } : undefined;
    }
  }
  return undefined;
}

/** Durable entity that admits one run per environment at a time (its key is the environment id). */
export const RUN_LOCK_ENTITY = 'environmentRun';

/** Display name of a credential the product creates: the marker plus the operation that created it. */
export function credentialDisplayName(operationId: string): string {
  return `${MANAGED_BY_MARKER} ${operationId}`;
}

/** Whether a credential's display name says the product created it. */
export function isProductCredentialName(displayName: string | null | undefined): boolean {
  return displayName?.startsWith(`${MANAGED_BY_MARKER} `) ?? false;
}

/**
 * The tag the product puts on each environment's app registration (Graph `application.tags`): which
 * environment the app belongs to. A tag alone proves nothing (an app's owners may set tags); with the
 * product's identity as the app's owner it marks the app as the product's.
 */
export function applicationMarkerTag(environmentId: EnvironmentId): string {
  return `${MANAGED_BY_MARKER}:environment:${checked(environmentId)}`;
}

/** The emergency rotation's instance: one for the whole fleet, one per tenant. */
export function fleetRotationInstanceId(tenantId?: string): string {
  return tenantId === undefined ? 'fleet-rotate' : `fleet-rotate-${tenantId.toLowerCase()}`;
}

const FLEET_ROTATION_ID = /^fleet-rotate(?:-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$/;

/** Name of the Exchange Online management scope limiting the environment's app to its mailboxes. */
export function mailboxScopeNameFor(environmentId: EnvironmentId): string {
  return `${PREFIX}${checked(environmentId)}`;
}

// ---------------------------------------------------------------------------------------------------
// Customer tenants (partner mode)

function checkedTenant(tenantId: string): string {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`"${tenantId.slice(0, 80)}" is not a tenant id (a lowercase GUID)`);
  return tenantId;
}

/**
 * Prefix of a tenant's Key Vault record: `fno-graph-mail--tenant-`. An environment's secret is the
 * prefix `fno-graph-mail-` and the environment id, which starts with a letter or digit, so no
 * environment's secret ever starts with the second hyphen: the two kinds of record cannot share a name.
 */
const TENANT_RECORD_PREFIX = `${PREFIX}-tenant-`;

/**
 * `uniqueName` of the partner's operator application, which the template creates in the home tenant: like
 * a tenant record it starts with the second hyphen, so no environment's app registration can carry it.
 */
export const OPERATOR_UNIQUE_NAME = `${PREFIX}-partner-operator`;

/** The Key Vault record of an onboarded customer tenant (its tags say where it stands; its value is no secret). */
export function tenantSecretNameFor(tenantId: string): string {
  return `${TENANT_RECORD_PREFIX}${checkedTenant(tenantId)}`;
}

/** The tenant a record name belongs to, or undefined when the name is not one `tenantSecretNameFor` makes. */
export function tenantIdOfSecretName(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (!lower.startsWith(TENANT_RECORD_PREFIX)) return undefined;
  const id = lower.slice(TENANT_RECORD_PREFIX.length);
  return TENANT_ID_PATTERN.test(id) ? id : undefined;
}

const TENANT_RUN_PREFIX: Readonly<Record<TenantRunKind, string>> = { onboard: 'onboard-', offboard: 'offboard-' };

/**
 * Durable instance ids of a tenant's runs. Their prefixes differ from every environment run's (`setup-`,
 * `rotate-`, `drift-`), and none is a prefix of another, so an id names one run of one thing.
 */
export const tenantInstanceIds = {
  onboard: (tenantId: string): string => `${TENANT_RUN_PREFIX.onboard}${checkedTenant(tenantId)}`,
  offboard: (tenantId: string): string => `${TENANT_RUN_PREFIX.offboard}${checkedTenant(tenantId)}`,
  all: (tenantId: string): string[] => (Object.keys(TENANT_RUN_PREFIX) as TenantRunKind[]).map((k) => `${TENANT_RUN_PREFIX[k]}${checkedTenant(tenantId)}`),
};

/** The tenant run an instance id names, or undefined for an id the product did not derive from a tenant. */
export function tenantRunOfInstanceId(instanceId: string): { kind: TenantRunKind; tenantId: string } | undefined {
  for (const kind of Object.keys(TENANT_RUN_PREFIX) as TenantRunKind[]) {
    const prefix = TENANT_RUN_PREFIX[kind];
    if (instanceId.startsWith(prefix)) {
      const tenantId = instanceId.slice(prefix.length);
      return TENANT_ID_PATTERN.test(tenantId) ? { kind, tenantId } : undefined;
    }
  }
  return undefined;
}

/** Whether an instance id is one the product derives (an environment's run, a tenant's, or an emergency rotation). */
export function isProductInstanceId(instanceId: string): boolean {
  return runOfInstanceId(instanceId) !== undefined || tenantRunOfInstanceId(instanceId) !== undefined || FLEET_ROTATION_ID.test(instanceId);
}
