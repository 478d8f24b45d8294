/**
 * The fleet registry's mapping: a Key Vault secret version's properties (tags, expiry, enabled; never
 * the value) to the public environment record.
 */
import type { EnvironmentRecord, EnvironmentStatus } from './environment';
import { parseEvidenceTag } from './evidence';
import { environmentIdOfSecretName, tenantIdOfSecretName } from './names';
import type { TenantRecord } from './tenants';
import { MANAGED_BY_MARKER, SECRET_TAGS, TENANT_RECORD_KIND, TENANT_TAGS } from './wellKnown';

/** The properties of a Key Vault secret version the registry reads (structurally what the vault client returns). */
export interface RegistryEntry {
  name: string;
  version: string;
  enabled: boolean;
  tags: Record<string, string>;
  expiresOn: string | null;
}

const DAY = 86_400_000;

/**
 * Reads of the registry (Key Vault secret properties, never values), for the triggers that answer
 * questions about the fleet or decide which runs to start: they only read, so they need no run.
 */
export interface FleetRegistry {
  /** The product's secrets, one Key Vault page at a time. */
  pages(): AsyncIterable<RegistryEntry[]>;
  /** The current version of an environment's secret, or null when there is none. */
  entry(environmentId: string): Promise<RegistryEntry | null>;
  /** The current version of a customer tenant's record (partner mode), or null when there is none. */
  tenantEntry(tenantId: string): Promise<RegistryEntry | null>;
}

/**
 * The record, or undefined when the entry is not a complete registry entry of the product (someone
 * else's secret), or its tags name an environment other than the one its name belongs to: a secret is
 * only ever the record of the environment whose name it carries. With `environmentId`, the record must
 * also be that environment's.
 */
export function toEnvironmentRecord(entry: RegistryEntry, nowMs: number, leadDays: number, environmentId?: string): EnvironmentRecord | undefined {
  const t = entry.tags;
  if (t[SECRET_TAGS.managedBy] !== MANAGED_BY_MARKER) return undefined;
  const named = environmentIdOfSecretName(entry.name);
  if (named === undefined || t[SECRET_TAGS.environmentId] !== named) return undefined;
  if (environmentId !== undefined && named !== environmentId) return undefined;
  return recordOf(entry, named, nowMs, leadDays);
}

function recordOf(entry: RegistryEntry, environmentId: string, nowMs: number, leadDays: number): EnvironmentRecord | undefined {
  const t = entry.tags;
  const environmentUrl = t[SECRET_TAGS.environmentUrl];
  const tenantId = t[SECRET_TAGS.tenantId];
  const appId = t[SECRET_TAGS.appId];
  const appObjectId = t[SECRET_TAGS.appObjectId];
  const keyId = t[SECRET_TAGS.credentialKeyId];
  if (!environmentUrl || !tenantId || !appId || !appObjectId || !keyId || !entry.expiresOn) return undefined;
  const expires = Date.parse(entry.expiresOn);
  const finops = parseEvidenceTag(t[SECRET_TAGS.finOpsEvidence]);
  let status: EnvironmentStatus;
  if (!entry.enabled) status = 'disabled';
  else if (expires <= nowMs) status = 'expired';
  else if (t[SECRET_TAGS.delivered] !== 'true') status = 'pending-delivery';
  else if (expires - nowMs <= leadDays * DAY) status = 'expiring';
  else if (!finops?.provenAt) status = 'unproven';
  else status = 'active';
  return {
    environmentId,
    environmentUrl,
    tenantId,
    appId,
    appObjectId,
    credential: { keyId, secretName: entry.name.toLowerCase(), secretVersion: entry.version, expiresOn: new Date(expires).toISOString() },
    status,
    ...(t[SECRET_TAGS.mailboxScope] ? { mailboxScope: t[SECRET_TAGS.mailboxScope] } : {}),
    ...(finops ? { finops } : {}),
  };
}

/** A comma-separated permission list of a tenant record's tag. */
export function permissionList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * A customer tenant's record, or undefined when the entry is not one: the product's marker, the tenant
 * record kind, and a tenant id tag equal to the tenant its name belongs to.
 */
export function toTenantRecord(entry: RegistryEntry, tenantId?: string): TenantRecord | undefined {
  const t = entry.tags;
  if (t[TENANT_TAGS.managedBy] !== MANAGED_BY_MARKER || t[TENANT_TAGS.record] !== TENANT_RECORD_KIND || !entry.enabled) return undefined;
  const named = tenantIdOfSecretName(entry.name);
  if (named === undefined || t[TENANT_TAGS.tenantId] !== named) return undefined;
  if (tenantId !== undefined && named !== tenantId) return undefined;
  const consent = t[TENANT_TAGS.consent];
  const operatorAppId = t[TENANT_TAGS.operatorAppId];
  const checkedAt = t[TENANT_TAGS.checkedAt];
  if ((consent !== 'pending' && consent !== 'granted') || !operatorAppId || !checkedAt) return undefined;
  return {
    tenantId: named,
    consent,
    operatorAppId,
    requiredPermissions: permissionList(t[TENANT_TAGS.requiredPermissions]),
    grantedPermissions: permissionList(t[TENANT_TAGS.grantedPermissions]),
    ...(t[TENANT_TAGS.onboardedAt] ? { onboardedAt: t[TENANT_TAGS.onboardedAt] } : {}),
    checkedAt,
  };
}

/** The tags that record a tenant (the inverse of `toTenantRecord`). */
export function tenantRecordTags(record: TenantRecord): Record<string, string> {
  return {
    [TENANT_TAGS.record]: TENANT_RECORD_KIND,
    [TENANT_TAGS.tenantId]: record.tenantId,
    [TENANT_TAGS.consent]: record.consent,
    [TENANT_TAGS.operatorAppId]: record.operatorAppId,
    [TENANT_TAGS.requiredPermissions]: record.requiredPermissions.join(','),
    [TENANT_TAGS.grantedPermissions]: record.grantedPermissions.join(','),
    ...(record.onboardedAt ? { [TENANT_TAGS.onboardedAt]: record.onboardedAt } : {}),
    [TENANT_TAGS.checkedAt]: record.checkedAt,
  };
}
