/**
 * Typed client for the credential vault, over the official `@azure/keyvault-secrets` SecretClient.
 *
 * Key Vault is the product's registry: one secret per environment whose current version holds the
 * client secret and whose tags hold everything else. This client stores and reads values (only for the
 * two activities that move a secret), lists the product's secrets by their `managed-by` tag page by page
 * (properties only, never values), and disables old versions. Failures leave as `ServiceError`s.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretProperties } from '@azure/keyvault-secrets';
import { CLIENT_SECRET_CONTENT_TYPE, MANAGED_BY_MARKER, SECRET_TAGS, TENANT_RECORD_CONTENT_TYPE } from '../contracts/wellKnown';
import { ServiceError, toServiceError, type ErrorContext } from './errors';
import { challengeGate } from './keyVaultChallengeGate';

// ---------------------------------------------------------------------------------------------------
// Public types

/** One version of a secret, without its value. Times are ISO 8601 strings so they travel as JSON. */
export interface SecretVersionProperties {
  name: string;
  version: string;
  enabled: boolean;
  contentType: string | null;
  tags: Record<string, string>;
  expiresOn: string | null;
  notBefore: string | null;
  createdOn: string | null;
  updatedOn: string | null;
}

export interface StoredSecret {
  name: string;
  version: string;
  expiresOn: string | null;
  tags: Record<string, string>;
}

export interface StoreClientSecretInput {
  name: string;
  value: string;
  tags: Record<string, string>;
  expiresOn: Date | string;
  notBefore?: Date | string;
  contentType?: string;
}

export interface CredentialVaultOptions {
  vaultUrl: string;
  /** Needed when the vault is not on a `*.vault.azure.net` style host (the sandbox, tests). */
  disableChallengeResourceVerification?: boolean;
  /** Name of the marker tag; default `managed-by`. */
  managedByTag?: string;
  /** Value of the marker tag; default `fno-graph-mail`. */
  managedByValue?: string;
  /** The SDK's retry policy (honours `Retry-After`); default 3 retries. */
  retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

export interface VaultCallOptions {
  environmentId?: string;
}

// ---------------------------------------------------------------------------------------------------
// Naming

const NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
export function isValidSecretName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

// ---------------------------------------------------------------------------------------------------
// Mapping

function toVersionProperties(p: SecretProperties): SecretVersionProperties {
  return {
    name: p.name,
    version: p.version ?? '',
    enabled: p.enabled ?? true,
    contentType: p.contentType ?? null,
    tags: { ...(p.tags ?? {}) },
    expiresOn: p.expiresOn ? p.expiresOn.toISOString() : null,
    notBefore: p.notBefore ? p.notBefore.toISOString() : null,
    createdOn: p.createdOn ? p.createdOn.toISOString() : null,
    updatedOn: p.updatedOn ? p.updatedOn.toISOString() : null,
  };
}

/** The SDK's retry defaults (@azure/core-rest-pipeline's exponential strategy), used for sets this client repeats itself. */
const DEFAULT_RETRY = { maxRetries: 3, retryDelayInMs: 1000, maxRetryDelayInMs: 64_000 };

/** Exponential back-off with the upper half jittered, as the SDK computes it. */
function backoffMs(retry: number, r: { retryDelayInMs: number; maxRetryDelayInMs: number }): number {
  const ceiling = Math.min(r.maxRetryDelayInMs, r.retryDelayInMs * 2 ** retry);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function toDate(d: Date | string): Date {
  const date = typeof d === 'string' ? new Date(d) : d;
  if (Number.isNaN(date.getTime())) throw new Error(`not a date: ${String(d)}`);
  return date;
}

// ---------------------------------------------------------------------------------------------------
// The client

export class CredentialVault {
  private readonly client: SecretClient;
  /** Sets only: without the SDK's retry, which would repeat a set whose answer was lost (storeClientSecret). */
  private readonly setter: SecretClient;
  private readonly retry: typeof DEFAULT_RETRY;
  private readonly tagName: string;
  private readonly tagValue: string;
  readonly vaultUrl: string;

  constructor(credential: TokenCredential, options: CredentialVaultOptions) {
    this.vaultUrl = options.vaultUrl.replace(/\/+$/, '');
    this.tagName = options.managedByTag ?? SECRET_TAGS.managedBy;
    this.tagValue = options.managedByValue ?? MANAGED_BY_MARKER;
    const challenge =
      options.disableChallengeResourceVerification !== undefined ? { disableChallengeResourceVerification: options.disableChallengeResourceVerification } : {};
    this.client = new SecretClient(this.vaultUrl, credential, {
      ...challenge,
      additionalPolicies: [challengeGate()],
      ...(options.retry ? { retryOptions: { ...options.retry } } : {}),
    });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.setter = new SecretClient(this.vaultUrl, credential, { ...challenge, additionalPolicies: [challengeGate()], retryOptions: { maxRetries: 0 } });
  }

  /**
   * Stores a client secret as a new version, tagged as the product's, expiring with the credential.
   * The value is passed to the SDK only; it never reaches an error message.
   *
   * Stored once, however the answer is lost. Key Vault makes a new version on every set
   * (https://learn.microsoft.com/rest/api/keyvault/secrets/set-secret/set-secret), and a 5xx or a dropped
   * connection may come after the vault stored the value ("a service might receive the request, process
   * the request successfully, but fail to send a response":
   * https://learn.microsoft.com/azure/architecture/patterns/retry), so the SDK's retry, which repeats the
   * set, would store it twice: two versions recording one credential. Instead, after a transient failure
   * the current version is read: holding this value and these tags, it is this set's, and the answer.
   * Only otherwise is the set repeated (the SDK's retry count and back-off, `Retry-After` honoured). When
   * that read fails too, the outcome is unknown and the error says so by being transient: the caller must
   * not assume the value was not stored.
   */
  async storeClientSecret(input: StoreClientSecretInput, options: VaultCallOptions = {}): Promise<StoredSecret> {
    const ctx = this.ctx('Store the client secret in Key Vault', options, { redact: [input.value] });
    assertName(input.name, ctx);
    const tags = { ...input.tags, [this.tagName]: this.tagValue };
    for (let retry = 0; ; retry += 1) {
      try {
        const stored = await this.setter.setSecret(input.name, input.value, {
          tags,
          expiresOn: toDate(input.expiresOn),
          ...(input.notBefore !== undefined ? { notBefore: toDate(input.notBefore) } : {}),
          contentType: input.contentType ?? CLIENT_SECRET_CONTENT_TYPE,
        });
        return toStored(stored.properties);
      } catch (e) {
        const err = vaultError(e, ctx);
        if (!err.retryable) throw err;
        let landed: StoredSecret | null;
        try {
          landed = await this.currentVersionHolding(input.name, input.value, tags);
        } catch {
          throw err;
        }
        if (landed) return landed;
        if (retry >= this.retry.maxRetries) throw err;
        await sleep(err.retryAfterMs ?? backoffMs(retry, this.retry));
      }
    }
  }

  /** The current version when it holds exactly this value and carries every one of these tags, else null. */
  private async currentVersionHolding(name: string, value: string, tags: Record<string, string>): Promise<StoredSecret | null> {
    let current;
    try {
      current = await this.client.getSecret(name);
    } catch (e) {
      if (vaultError(e, this.ctx('Read the secret back from Key Vault', {})).kind === 'not-found') return null;
      throw e;
    }
    const held = current.properties.tags ?? {};
    const same = current.value === value && Object.entries(tags).every(([k, v]) => held[k] === v);
    return same ? toStored(current.properties) : null;
  }

  /** Reads a secret's value (the current version unless one is named). Throws `not-found` when absent. */
  async readSecretValue(name: string, version?: string, options: VaultCallOptions = {}): Promise<string> {
    return (await this.readSecret(name, version, options)).value;
  }

  /** A secret's value with its properties (one Key Vault call), for the activities that deliver or verify it. */
  async readSecret(name: string, version?: string, options: VaultCallOptions = {}): Promise<{ value: string; properties: SecretVersionProperties }> {
    const ctx = this.ctx('Read the client secret from Key Vault', options, {
      notFoundAction: `Run setup for the environment again: the secret ${name} does not exist in the vault.`,
    });
    assertName(name, ctx);
    let secret;
    try {
      secret = await this.client.getSecret(name, version !== undefined ? { version } : {});
    } catch (e) {
      throw vaultError(e, ctx);
    }
    if (secret.value === undefined || secret.value === '') {
      throw new ServiceError({
        kind: 'permanent',
        service: 'keyvault',
        operation: ctx.operation,
        reason: `the secret ${name} has no value`,
        action: 'Run the credential rotation for this environment to store a new secret.',
        ...(options.environmentId ? { environmentId: options.environmentId } : {}),
      });
    }
    return { value: secret.value, properties: toVersionProperties(secret.properties) };
  }

  /**
   * The product's secrets (properties of each current version, never values), one Key Vault page at a
   * time: each yielded array is the managed subset of one list call. Secrets without the marker tag
   * are skipped.
   */
  async *listManagedSecrets(options: { pageSize?: number } & VaultCallOptions = {}): AsyncIterable<SecretVersionProperties[]> {
    const ctx = this.ctx("List the product's secrets in Key Vault", options);
    const pages = this.client
      .listPropertiesOfSecrets()
      .byPage(options.pageSize !== undefined ? { maxPageSize: options.pageSize } : {});
    for (;;) {
      let next: IteratorResult<SecretProperties[]>;
      try {
        next = await pages.next();
      } catch (e) {
        throw vaultError(e, ctx);
      }
      if (next.done) return;
      yield next.value.filter((p) => p.tags?.[this.tagName] === this.tagValue).map(toVersionProperties);
    }
  }

  /** Properties of the current version, or null when the secret does not exist. */
  async getSecretProperties(name: string, options: VaultCallOptions = {}): Promise<SecretVersionProperties | null> {
    const ctx = this.ctx('Read the secret properties from Key Vault', options);
    assertName(name, ctx);
    try {
      // Key Vault has no properties-only read of the current version; the value is dropped here.
      const secret = await this.client.getSecret(name);
      return toVersionProperties(secret.properties);
    } catch (e) {
      const err = vaultError(e, ctx);
      if (err.kind === 'not-found') return null;
      throw err;
    }
  }

  /** Properties of every version of a secret (empty when the secret does not exist), oldest first. */
  async listVersions(name: string, options: VaultCallOptions = {}): Promise<SecretVersionProperties[]> {
    const ctx = this.ctx('List the secret versions in Key Vault', options);
    assertName(name, ctx);
    const out: SecretVersionProperties[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecretVersions(name)) out.push(toVersionProperties(p));
    } catch (e) {
      const err = vaultError(e, ctx);
      if (err.kind === 'not-found') return [];
      throw err;
    }
    // Key Vault lists versions in no particular order.
    return out.sort((a, b) => (a.createdOn ?? '').localeCompare(b.createdOn ?? ''));
  }

  /** Disables one version so it can no longer be read (the old credential after rotation). */
  async disableVersion(name: string, version: string, options: VaultCallOptions = {}): Promise<SecretVersionProperties> {
    const ctx = this.ctx('Disable the old secret version in Key Vault', options);
    assertName(name, ctx);
    try {
      return toVersionProperties(await this.client.updateSecretProperties(name, version, { enabled: false }));
    } catch (e) {
      throw vaultError(e, ctx);
    }
  }

  /**
   * Merges tags into one version's tags (Key Vault replaces the whole tag set, so the current tags are
   * read first unless the caller has them, from the version list: properties only, never the value).
   * Writes nothing when every tag already has the wanted value.
   */
  async updateVersionTags(
    name: string,
    version: string,
    tags: Record<string, string>,
    options: VaultCallOptions & { currentTags?: Record<string, string> } = {},
  ): Promise<{ updated: boolean }> {
    const ctx = this.ctx('Update the secret version tags in Key Vault', options);
    assertName(name, ctx);
    try {
      let existing = options.currentTags;
      if (!existing) {
        for await (const p of this.client.listPropertiesOfSecretVersions(name)) {
          if (p.version === version) {
            existing = { ...(p.tags ?? {}) };
            break;
          }
        }
      }
      if (!existing) {
        throw new ServiceError({
          kind: 'not-found',
          service: 'keyvault',
          operation: ctx.operation,
          reason: `the secret ${name} has no version ${version}`,
          action: 'Run the operation again; it reads the current version anew.',
          ...(options.environmentId ? { environmentId: options.environmentId } : {}),
        });
      }
      if (Object.entries(tags).every(([k, v]) => existing[k] === v)) return { updated: false };
      await this.client.updateSecretProperties(name, version, { tags: { ...existing, ...tags } });
      return { updated: true };
    } catch (e) {
      throw vaultError(e, ctx);
    }
  }

  /**
   * Writes a record that holds no secret (a customer tenant's, in partner mode): a new version whose
   * value is `note` and whose tags are the record, marked as the product's. Writes nothing when the
   * current version already has these tags. A record removed earlier (soft-deleted; the vault keeps the
   * name until it is purged) is recovered first, since Key Vault refuses a new version under a deleted
   * name (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview).
   */
  async writeRecord(name: string, note: string, tags: Record<string, string>, options: VaultCallOptions = {}): Promise<{ written: boolean }> {
    const ctx = this.ctx('Write the record in Key Vault', options);
    assertName(name, ctx);
    const wanted = { ...tags, [this.tagName]: this.tagValue };
    const current = await this.getSecretProperties(name, options);
    if (current && current.enabled && sameTags(current.tags, wanted)) return { written: false };
    const set = () => this.client.setSecret(name, note, { tags: wanted, contentType: TENANT_RECORD_CONTENT_TYPE });
    try {
      await set();
    } catch (e) {
      const err = vaultError(e, ctx);
      if (err.status !== 409) throw err;
      // "…is currently in a deleted but recoverable state": bring the name back, then write.
      try {
        const poller = await this.client.beginRecoverDeletedSecret(name, { intervalInMs: 500 });
        await poller.pollUntilDone();
        await set();
      } catch (again) {
        throw vaultError(again, ctx);
      }
    }
    return { written: true };
  }

  /**
   * Deletes a secret (soft delete: the vault keeps it, recoverable, for its retention period; with purge
   * protection on, as the template sets it, nobody can purge it before). Idempotent: a secret already
   * gone answers `deleted: false`.
   */
  async deleteSecret(name: string, options: VaultCallOptions = {}): Promise<{ deleted: boolean }> {
    const ctx = this.ctx('Delete the secret in Key Vault', options);
    assertName(name, ctx);
    try {
      await this.client.beginDeleteSecret(name);
      return { deleted: true };
    } catch (e) {
      const err = vaultError(e, ctx);
      if (err.kind === 'not-found') return { deleted: false };
      throw err;
    }
  }

  private ctx(operation: string, options: VaultCallOptions, extra: Partial<ErrorContext> = {}): ErrorContext {
    return {
      operation,
      service: 'keyvault',
      ...(options.environmentId ? { environmentId: options.environmentId } : {}),
      ...extra,
    };
  }
}

function toStored(properties: SecretProperties): StoredSecret {
  const p = toVersionProperties(properties);
  return { name: p.name, version: p.version, expiresOn: p.expiresOn, tags: p.tags };
}

function sameTags(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function assertName(name: string, ctx: ErrorContext): void {
  if (NAME_PATTERN.test(name)) return;
  throw new ServiceError({
    kind: 'permanent',
    service: 'keyvault',
    operation: ctx.operation,
    code: 'BadParameter',
    reason: `"${name.slice(0, 140)}" is not a valid Key Vault secret name`,
    action: 'Secret names may hold only letters, digits and dashes (1–127 characters); derive them with secretNameFor() in src/contracts/names.ts.',
    ...(ctx.environmentId ? { environmentId: ctx.environmentId } : {}),
  });
}

function vaultError(e: unknown, ctx: ErrorContext): ServiceError {
  const err = toServiceError(e, ctx);
  // Key Vault answers 403 both for missing RBAC and for reading a disabled version.
  if (err.status === 403 && /disabled/i.test(err.serviceMessage ?? '')) {
    return new ServiceError({
      ...err.toJSON(),
      action: 'The secret version is disabled; run the credential rotation for this environment to store a new one.',
    });
  }
  return err;
}
