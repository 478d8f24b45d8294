/**
 * The triggers that keep credentials alive: on-demand rotation over HTTP, the daily rotation sweep and
 * drift check (timers), and Key Vault's expiry events (Event Grid). Each only reads the registry and
 * starts runs through the one start path, so any mix of them for one environment yields one run.
 */
import type { EventGridEvent, HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import type { AppConfig } from '../config';
import { now as clockNow } from '../clock';
import { environmentIdSchema } from '../contracts/setup';
import { environmentIdOfSecretName } from '../contracts/names';
import { toEnvironmentRecord, type FleetRegistry } from '../contracts/registry';
import { startDriftChecks, sweepFleet, type Logger } from './fleet';
import { BadRequest, json, parseWith, problem, readJsonBody, statusUrlFor } from './http';
import { alreadyRunning } from './instances';
import { buildRotationInput, durableClientHost, startEnvironmentRun } from './runs';

/**
 * Key Vault raises `SecretNearExpiry` 30 days before a version's expiry (not configurable):
 * https://learn.microsoft.com/azure/key-vault/general/event-grid-overview
 */
const NEAR_EXPIRY_WINDOW_MS = 30 * 86_400_000;

function loggerOf(context: InvocationContext): Logger {
  return { info: (m) => context.info(m), warn: (m) => context.warn(m), error: (m) => context.error(m) };
}

export interface TriggerServices {
  registry: FleetRegistry;
  config: AppConfig;
}

export function createRotationTriggers(services: () => TriggerServices) {
  /** `POST /api/environments/{environmentId}/rotate` → 202, 404 unknown environment, 409 already running. */
  async function rotateHttp(request: HttpRequest, client: DurableClient, context: InvocationContext): Promise<HttpResponseInit> {
    try {
      const environmentId = parseWith(environmentIdSchema, request.params.environmentId ?? '', 'environmentId');
      // The request takes no options: an empty body or `{}`; anything else is refused rather than ignored.
      parseWith(z.strictObject({}), await readJsonBody(request));
      const { registry, config } = services();
      const entry = await registry.entry(environmentId);
      if (!entry || !toEnvironmentRecord(entry, clockNow(), config.rotation.leadDays, environmentId)) {
        return problem({ status: 404, title: 'Unknown environment', detail: `No environment ${environmentId} is registered; run setup for it first.` });
      }
      const outcome = await startEnvironmentRun(durableClientHost(client), 'rotation', buildRotationInput(environmentId, 'manual', config));
      if (!outcome.started) return alreadyRunning(request, environmentId, outcome.running);
      context.info(`rotation started on demand for environment ${environmentId}`);
      const statusUrl = statusUrlFor(request, outcome.instanceId);
      return json(202, { instanceId: outcome.instanceId, statusUrl }, { Location: statusUrl, 'Retry-After': '2' });
    } catch (error) {
      if (error instanceof BadRequest) return error.toResponse();
      throw error;
    }
  }

  async function rotationSweep(_timer: Timer, client: DurableClient, context: InvocationContext): Promise<void> {
    const { registry, config } = services();
    await sweepFleet(registry, config, durableClientHost(client), loggerOf(context));
  }

  async function driftCheck(_timer: Timer, client: DurableClient, context: InvocationContext): Promise<void> {
    const { registry, config } = services();
    await startDriftChecks(registry, config, durableClientHost(client), loggerOf(context));
  }

  /**
   * Key Vault's expiry events are hints: the secret's real attributes are read before anything is done,
   * so a forged or stale event costs at most that read.
   */
  async function secretExpiryEvents(event: EventGridEvent, client: DurableClient, context: InvocationContext): Promise<void> {
    const parsed = parseKeyVaultEvent(event);
    if (!parsed.ok) {
      context.warn(`ignored Event Grid event: ${parsed.reason}`);
      return;
    }
    const { registry, config } = services();
    const e = parsed.event;
    const vaultHost = new URL(config.keyVaultUrl).host.toLowerCase();
    const fromOurVault = e.vaultHost ? e.vaultHost === vaultHost : e.vaultName !== undefined && vaultHost.startsWith(`${e.vaultName.toLowerCase()}.`);
    if (!fromOurVault) {
      context.warn(`ignored ${e.eventType} for secret ${e.secretName}: it comes from another vault (${e.vaultHost ?? e.vaultName ?? 'unknown'})`);
      return;
    }
    const environmentId = environmentIdOfSecretName(e.secretName);
    if (environmentId === undefined) {
      context.info(`ignored ${e.eventType} for secret ${e.secretName}: not managed by this product`);
      return;
    }
    const current = await registry.entry(environmentId);
    const now = clockNow();
    const record = current ? toEnvironmentRecord(current, now, config.rotation.leadDays, environmentId) : undefined;
    if (!current || !record) {
      context.info(`ignored ${e.eventType} for secret ${e.secretName}: not managed by this product`);
      return;
    }
    if (current.version !== e.version) {
      context.info(`ignored ${e.eventType} for ${e.secretName} version ${e.version}: the current version is ${current.version}`);
      return;
    }
    // The event says what happened; the vault says whether it is true. An expiry event for a version
    // that has not expired, or a near-expiry event for one that is not within Key Vault's window, is
    // stale or forged.
    const expired = e.eventType === 'Microsoft.KeyVault.SecretExpired';
    const left = Date.parse(record.credential.expiresOn) - now;
    if (expired ? left > 0 : left > NEAR_EXPIRY_WINDOW_MS) {
      context.warn(`ignored ${e.eventType} for ${e.secretName} version ${e.version}: the vault says it expires ${record.credential.expiresOn}`);
      return;
    }
    if (expired) {
      context.error(JSON.stringify({ event: 'fno-graph-mail.alert', kind: 'credential-expired', environmentId, secretName: e.secretName, version: e.version }));
    }
    const outcome = await startEnvironmentRun(durableClientHost(client), 'rotation', buildRotationInput(environmentId, expired ? 'expired' : 'near-expiry', config));
    context.info(
      outcome.started
        ? `${e.eventType}: rotation started for environment ${environmentId}`
        : `${e.eventType}: a ${outcome.running.name} run for environment ${environmentId} is already active`,
    );
  }

  return { rotateHttp, rotationSweep, driftCheck, secretExpiryEvents };
}

const KEY_VAULT_EVENT_TYPES = ['Microsoft.KeyVault.SecretNearExpiry', 'Microsoft.KeyVault.SecretExpired'] as const;

export interface KeyVaultSecretEvent {
  eventType: (typeof KEY_VAULT_EVENT_TYPES)[number];
  secretName: string;
  version: string;
  vaultName?: string;
  /** Host of the secret id URL, when the event carries one. */
  vaultHost?: string;
}

const trimmed = z.preprocess((v) => (typeof v === 'string' ? v.trim() : v), z.string().min(1).max(256));

/**
 * A vault name as Key Vault allows it: 3–24 letters, digits and hyphens, starting with a letter and
 * ending with a letter or digit (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault).
 * Anything else did not come from Key Vault, and goes into no log line.
 */
const VAULT_NAME = /^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/;

/**
 * Reads a Key Vault secret event defensively: keys and values may carry stray whitespace, NBF/EXP may be
 * numbers or strings, and `data` may be missing pieces that `subject` or `Id` supply.
 */
export function parseKeyVaultEvent(raw: unknown): { ok: true; event: KeyVaultSecretEvent } | { ok: false; reason: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an event object' };
  const top = normalizeKeys(raw as Record<string, unknown>);
  const eventType = typeof top.eventtype === 'string' ? top.eventtype.trim() : undefined;
  if (!eventType || !(KEY_VAULT_EVENT_TYPES as readonly string[]).includes(eventType)) {
    return { ok: false, reason: `event type ${JSON.stringify(eventType ?? null)} is not handled` };
  }
  const data = typeof top.data === 'object' && top.data !== null && !Array.isArray(top.data) ? normalizeKeys(top.data as Record<string, unknown>) : {};
  let fromId: { host: string; name: string; version: string } | undefined;
  const id = typeof data.id === 'string' ? data.id.trim() : undefined;
  if (id) {
    try {
      const url = new URL(id);
      const m = /^\/secrets\/([0-9A-Za-z-]{1,127})\/([0-9A-Za-z]{1,64})\/?$/.exec(url.pathname);
      if (url.protocol === 'https:' && m) fromId = { host: url.host.toLowerCase(), name: m[1] as string, version: m[2] as string };
    } catch {
      /* an unparseable Id is ignored; the other fields may still identify the secret */
    }
  }
  const name = trimmed.safeParse(data.objectname ?? top.subject ?? fromId?.name);
  const version = trimmed.safeParse(data.version ?? fromId?.version);
  if (!name.success || !/^[0-9A-Za-z-]{1,127}$/.test(name.data)) return { ok: false, reason: 'the event names no valid secret' };
  if (!version.success || !/^[0-9A-Za-z]{1,64}$/.test(version.data)) return { ok: false, reason: 'the event names no valid secret version' };
  if (fromId && (fromId.name !== name.data || fromId.version !== version.data)) return { ok: false, reason: 'the event contradicts itself (Id against ObjectName/Version)' };
  const vaultName = trimmed.safeParse(data.vaultname);
  if (vaultName.success && !VAULT_NAME.test(vaultName.data)) return { ok: false, reason: 'the event names no valid vault' };
  return {
    ok: true,
    event: {
      eventType: eventType as KeyVaultSecretEvent['eventType'],
      secretName: name.data,
      version: version.data,
      ...(vaultName.success ? { vaultName: vaultName.data } : {}),
      ...(fromId ? { vaultHost: fromId.host } : {}),
    },
  };
}

function normalizeKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k.trim().toLowerCase()] = v;
  return out;
}
