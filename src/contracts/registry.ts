/**
 * The fleet registry's mapping: a Key Vault secret version's properties (tags, expiry, enabled; never
 * the value) to the public environment record.
 */
import type { EnvironmentRecord, EnvironmentStatus } from './environment';
import { SECRET_TAGS } from './wellKnown';

/** The properties of a Key Vault secret version the registry reads (structurally what the vault client returns). */
export interface RegistryEntry {
  name: string;
  version: string;
  enabled: boolean;
  tags: Record<string, string>;
  expiresOn: string | null;
}

const DAY = 86_400_000;

/** The record, or undefined when the tags are not a complete registry entry (someone else's secret). */
export function toEnvironmentRecord(entry: RegistryEntry, nowMs: number, leadDays: number): EnvironmentRecord | undefined {
  const t = entry.tags;
  const environmentId = t[SECRET_TAGS.environmentId];
  const environmentUrl = t[SECRET_TAGS.environmentUrl];
  const tenantId = t[SECRET_TAGS.tenantId];
  const appId = t[SECRET_TAGS.appId];
  const appObjectId = t[SECRET_TAGS.appObjectId];
  const keyId = t[SECRET_TAGS.credentialKeyId];
  if (!environmentId || !environmentUrl || !tenantId || !appId || !appObjectId || !keyId || !entry.expiresOn) return undefined;
  const expires = Date.parse(entry.expiresOn);
  let status: EnvironmentStatus;
  if (!entry.enabled) status = 'disabled';
  else if (expires <= nowMs) status = 'expired';
  else if (t[SECRET_TAGS.delivered] !== 'true') status = 'pending-delivery';
  else if (expires - nowMs <= leadDays * DAY) status = 'expiring';
  else status = 'active';
  return {
    environmentId,
    environmentUrl,
    tenantId,
    appId,
    appObjectId,
    credential: { keyId, secretName: entry.name, secretVersion: entry.version, expiresOn: new Date(expires).toISOString() },
    status,
    ...(t[SECRET_TAGS.mailboxScope] ? { mailboxScope: t[SECRET_TAGS.mailboxScope] } : {}),
  };
}
