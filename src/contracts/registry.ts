/**
 * The fleet registry's mapping: a Key Vault secret version's properties (tags, expiry, enabled; never
 * the value) to the public environment record.
 */
import type { EnvironmentRecord, EnvironmentStatus } from './environment';
import { parseEvidenceTag } from './evidence';
import { environmentIdOfSecretName } from './names';
import { MANAGED_BY_MARKER, SECRET_TAGS } from './wellKnown';

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
