/**
 * Activity `createClientSecret`: a new client secret from Graph goes straight into Key Vault as a new
 * version of the environment's secret, tagged with everything the fleet registry needs, expiring with
 * the credential. Only a reference leaves the activity.
 *
 * Safe to run twice: a version already stored by this operation is returned as is; a credential this
 * operation created that never reached Key Vault (a crash in between) is removed; if Key Vault refuses
 * the value, the credential just created is removed before failing, unless the vault may hold it after
 * all (a store can fail after the vault committed it): then the next attempt decides by what the vault
 * holds. In `ensure` mode (setup) a live, recorded credential with enough lifetime left is kept, so a
 * second setup writes nothing.
 */
import { parseEvidenceTag } from '../contracts/evidence';
import type { SecretVersionProperties } from '../clients/credentialVault';
import { credentialDisplayName, isProductCredentialName, secretNameFor } from '../contracts/names';
import type { PasswordCredentialInfo } from '../clients/entraApplications';
import type { CreateClientSecretInput, CreateClientSecretOutput } from '../contracts/activities';
import type { SecretReference } from '../contracts/environment';
import { SECRET_TAGS } from '../contracts/wellKnown';
import { isServiceError, ServiceError } from '../clients/errors';
import type { ActivityDeps, ActivityHandler, ActivityLogger } from './deps';
import { days, exemptionRequests, passwordPolicyFor } from './passwordPolicy';

const DAY = 86_400_000;

export function isManagedCredential(c: PasswordCredentialInfo): boolean {
  return isProductCredentialName(c.displayName);
}

function referenceOf(p: SecretVersionProperties): SecretReference | undefined {
  const keyId = p.tags[SECRET_TAGS.credentialKeyId];
  if (!keyId || !p.expiresOn || !p.version) return undefined;
  return { secretName: p.name, secretVersion: p.version, keyId, expiresOn: p.expiresOn };
}

/** An hour short of the cap: Graph measures from its own clock, which may run ahead of the run's. */
const CAP_MARGIN_MS = 60 * 60_000;

async function lifetimeAllowed(
  deps: ActivityDeps,
  input: CreateClientSecretInput,
  appCreatedDateTime: string | null,
  log: ActivityLogger,
  options: { enforce: boolean } = { enforce: true },
): Promise<{ ms: number; note?: string }> {
  const wanted = input.lifetimeDays * DAY;
  let policies;
  try {
    policies = await deps.entra(input.tenantId).readAppManagementPolicies(input.appObjectId, { environmentId: input.environmentId });
  } catch (error) {
    // Without Policy.Read.All the pre-flight cannot run: addPassword still reports a policy refusal clearly.
    if (isServiceError(error) && !error.retryable) {
      log.warn(`environment ${input.environmentId}: the tenant's app management policies could not be read (${error.code ?? error.status ?? 'refused'}); a policy refusal shows at addPassword`);
      return { ms: wanted, note: "the tenant's app management policies could not be read (Policy.Read.All)" };
    }
    throw error;
  }
  const policy = passwordPolicyFor(policies, appCreatedDateTime);
  if (policy.forbiddenBy && options.enforce) {
    const which = policy.forbiddenBy.tenantDefault ? "the tenant's default app management policy" : `app management policy ${policy.forbiddenBy.policyId}`;
    throw new ServiceError({
      kind: 'permanent',
      service: 'graph',
      operation: 'Create a client secret',
      environmentId: input.environmentId,
      code: 'PasswordAdditionForbiddenByPolicy',
      reason: `${which} forbids new client secrets for application ${input.appId}; nothing was created`,
      action: [
        `An administrator (Policy.ReadWrite.ApplicationConfiguration) can exempt this app with an app-specific policy that allows its secrets and keeps a lifetime cap:`,
        ...exemptionRequests(deps.settings.graphBaseUrl, input.appObjectId, input.environmentId, input.lifetimeDays),
        'Then run the operation again.',
      ].join(' '),
    });
  }
  if (policy.maxLifetime && policy.maxLifetime.ms < wanted) {
    const ms = Math.max(DAY, policy.maxLifetime.ms - CAP_MARGIN_MS);
    const which = policy.maxLifetime.tenantDefault ? "the tenant's default policy" : `policy ${policy.maxLifetime.policyId}`;
    const note = `lifetime capped to ${days(ms)} days by ${which} (maxLifetime ${policy.maxLifetime.iso}; SECRET_LIFETIME_DAYS is ${input.lifetimeDays})`;
    log.warn(`environment ${input.environmentId}: ${note}`);
    return { ms, note };
  }
  return { ms: wanted };
}

export function createClientSecret(deps: ActivityDeps): ActivityHandler<CreateClientSecretInput, CreateClientSecretOutput> {
  return async (input, log) => {
    const entra = deps.entra(input.tenantId);
    const opts = { environmentId: input.environmentId };
    const name = secretNameFor(input.environmentId);
    const marker = credentialDisplayName(input.operationId);
    const now = Date.parse(input.requestedAt);

    const application = await entra.getApplication(input.appObjectId, opts);
    if (!application) {
      throw new ServiceError({
        kind: 'not-found',
        service: 'graph',
        operation: 'Create a client secret',
        environmentId: input.environmentId,
        reason: `the app registration ${input.appObjectId} does not exist`,
        action: 'Run setup for the environment again: it registers the app anew.',
      });
    }
    const credentials = application.passwordCredentials;
    const live = new Map(
      credentials.filter((c) => c.endDateTime !== null && Date.parse(c.endDateTime) > now).map((c) => [c.keyId.toLowerCase(), c]),
    );
    // With no credential of ours on the app, whatever the vault holds is stale: skip the read.
    const current = credentials.some(isManagedCredential) ? await deps.vault.getSecretProperties(name, opts) : null;
    const currentRef = current && current.enabled && current.tags[SECRET_TAGS.appId] === input.appId ? referenceOf(current) : undefined;
    const currentLive = currentRef !== undefined && live.has(currentRef.keyId.toLowerCase());

    // Credentials of this operation that no vault version records: a crashed earlier attempt.
    const removedOrphans: string[] = [];
    for (const c of credentials) {
      if (c.displayName === marker && c.keyId.toLowerCase() !== currentRef?.keyId.toLowerCase()) {
        await entra.removePassword(input.appObjectId, c.keyId, opts);
        removedOrphans.push(c.keyId);
        log.warn(`removed credential ${c.keyId} of environment ${input.environmentId}: created by an interrupted attempt, never stored`);
      }
    }

    if (current && currentRef && currentLive) {
      const delivered = current.tags[SECRET_TAGS.delivered] === 'true';
      const scope = current.tags[SECRET_TAGS.mailboxScope];
      const evidence = parseEvidenceTag(current.tags[SECRET_TAGS.finOpsEvidence]);
      const kept = { reference: currentRef, delivered, removedOrphans, ...(scope ? { mailboxScope: scope } : {}), ...(evidence ? { evidence } : {}) };
      if (current.tags[SECRET_TAGS.operationId] === input.operationId) {
        // This operation's own credential, stored by an attempt that did not return: answer as it would have.
        const { note } = await lifetimeAllowed(deps, input, application.createdDateTime, log, { enforce: false });
        return { ...kept, created: true, ...(note ? { policyNote: note } : {}) };
      }
      const enoughLeft = Date.parse(currentRef.expiresOn) - now > input.minRemainingDays * DAY;
      if (input.mode === 'ensure' && enoughLeft) {
        return { ...kept, created: false };
      }
      // A rotation that stored a credential but failed to deliver it: deliver that one rather than
      // adding a third live credential to the app.
      if (input.mode === 'rotate' && !delivered && enoughLeft) {
        return { ...kept, created: false };
      }
    }

    if (input.mode === 'rotate' && current && currentRef && currentLive) {
      // At most two live product credentials: the one F&O holds and the one being created. Anything
      // else was superseded by an earlier rotation whose revocation did not finish. F&O holds the
      // current version's credential once it was delivered; an undelivered current version (a failed
      // rotation's, now too close to its end to resume) is superseded itself, while F&O still sends with
      // the newest delivered version's credential, which must stay until a new one is verified.
      let held = currentRef.keyId.toLowerCase();
      if (current.tags[SECRET_TAGS.delivered] !== 'true') {
        const delivered = (await deps.vault.listVersions(name, opts)).filter((v) => v.enabled && v.tags[SECRET_TAGS.delivered] === 'true');
        held = (delivered[delivered.length - 1]?.tags[SECRET_TAGS.credentialKeyId] ?? '').toLowerCase();
      }
      for (const c of credentials) {
        const key = c.keyId.toLowerCase();
        if (isManagedCredential(c) && live.has(key) && key !== held && !removedOrphans.includes(c.keyId)) {
          await entra.removePassword(input.appObjectId, c.keyId, opts);
          removedOrphans.push(c.keyId);
          log.warn(`removed superseded credential ${c.keyId} of environment ${input.environmentId} before adding a new one`);
        }
      }
    }

    // What the tenant's app management policies allow, read before any write: a ban fails here, a cap shortens the secret.
    const lifetime = await lifetimeAllowed(deps, input, application.createdDateTime, log);
    // Key Vault keeps expiry in whole seconds: asking Entra for a whole-second end makes the version
    // expire exactly with the credential, and a repeated run reads back the reference it returned.
    const endDateTime = new Date(Math.floor((now + lifetime.ms) / 1000) * 1000).toISOString();
    const created = await entra.addPassword(input.appObjectId, { displayName: marker, endDateTime }, opts);
    let stored;
    try {
      stored = await deps.vault.storeClientSecret(
        {
          name,
          value: created.secretText,
          expiresOn: created.endDateTime,
          tags: {
            [SECRET_TAGS.environmentId]: input.environmentId,
            [SECRET_TAGS.environmentUrl]: input.environmentUrl,
            [SECRET_TAGS.tenantId]: input.tenantId,
            [SECRET_TAGS.appId]: input.appId,
            [SECRET_TAGS.appObjectId]: input.appObjectId,
            [SECRET_TAGS.credentialKeyId]: created.keyId,
            [SECRET_TAGS.operationId]: input.operationId,
            // A mailbox scope lives in Exchange, not in the credential: it carries over to the new version.
            ...(current?.tags[SECRET_TAGS.mailboxScope] ? { [SECRET_TAGS.mailboxScope]: current.tags[SECRET_TAGS.mailboxScope] } : {}),
          },
        },
        opts,
      );
    } catch (error) {
      // A refusal (403, a bad request) wrote nothing. A transient failure may have come after the vault
      // committed the value (its answer lost on the way back): removing a credential the vault records
      // would leave the registry naming a dead one, and the next attempt would add a second version. So
      // then it goes only once the vault is seen not to hold it; unseen, it stays with this operation's
      // marker, and the next attempt keeps it if the vault holds it, removes it if not.
      let recorded: boolean | undefined = false;
      if (!isServiceError(error) || error.retryable) {
        try {
          const now = await deps.vault.getSecretProperties(name, opts);
          recorded = now?.tags[SECRET_TAGS.credentialKeyId]?.toLowerCase() === created.keyId.toLowerCase();
        } catch {
          recorded = undefined;
        }
      }
      if (recorded === undefined) {
        log.warn(`credential ${created.keyId} of environment ${input.environmentId}: Key Vault did not say whether it stored it; the next attempt keeps or removes it`);
      } else if (!recorded) {
        // The value exists only in this process now: without the vault nobody can use it, so remove it.
        try {
          await entra.removePassword(input.appObjectId, created.keyId, opts);
        } catch {
          log.error(`credential ${created.keyId} of environment ${input.environmentId} could not be removed after Key Vault failed; the next attempt removes it`);
        }
      }
      throw error;
    }
    log.info(`credential ${created.keyId} created for environment ${input.environmentId}, stored as version ${stored.version}`);
    return {
      reference: {
        secretName: name,
        secretVersion: stored.version,
        keyId: created.keyId,
        // As the vault reports it, so this run and a repeated one return the same reference.
        expiresOn: stored.expiresOn ?? new Date(created.endDateTime).toISOString(),
      },
      created: true,
      delivered: false,
      removedOrphans,
      ...(current?.tags[SECRET_TAGS.mailboxScope] ? { mailboxScope: current.tags[SECRET_TAGS.mailboxScope] } : {}),
      ...(lifetime.note ? { policyNote: lifetime.note } : {}),
    };
  };
}
