/**
 * Activities `deliverToFinOps` and `recordDelivery`. Strategy `odata`: the secret goes from Key Vault
 * to F&O inside this activity (the batch provider is set to Graph through `EmailParameters`, the id and
 * secret through the customer-deployed credential entity), then the Key Vault version is tagged as
 * delivered so a later run skips the step (and a repeated activity writes nothing). Strategy `manual`:
 * nothing leaves Key Vault; the activity returns instructions (deep link, application id, secret
 * reference) for a person, the deep link only to an allowed host.
 */
import type {
  DeliverToFinOpsInput,
  DeliverToFinOpsOutput,
  RecordDeliveryInput,
  RecordDeliveryOutput,
} from '../contracts/activities';
import type { SecretReference } from '../contracts/environment';
import type { ManualDeliveryInstructions } from '../contracts/operations';
import { SECRET_TAGS } from '../contracts/wellKnown';
import type { ActivityDeps, ActivityHandler } from './deps';

/**
 * The vault's name, read from its URL: `https://{vault-name}.vault.azure.net` (`.vault.azure.cn`,
 * `.vault.usgovcloudapi.net` in the national clouds), as Key Vault's object identifiers are built
 * (https://learn.microsoft.com/azure/key-vault/about-keys-secrets-and-certificates#object-identifiers).
 * Undefined for any other host (the sandbox's vault on localhost).
 */
export function vaultNameOf(vaultUrl: string): string | undefined {
  let host: string;
  try {
    host = new URL(vaultUrl).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  // Vault names: 3-24 letters, digits and hyphens (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault).
  return /^([a-z0-9-]{3,24})\.vault\.[a-z0-9.-]+$/.exec(host)?.[1];
}

/**
 * Who can read the secret, as the steps say it. The product's identity holds Key Vault Secrets Officer;
 * people hold nothing unless the deployment named one person or group (SECRET_READER_PRINCIPAL_ID, granted
 * Key Vault Secrets User on the vault by infra/rbac.bicep), so the person reading the instructions learns
 * whom to ask. The id names an object, never a secret.
 */
function readerStep(vaultName: string, secretReaderPrincipalId: string | undefined): string {
  return secretReaderPrincipalId
    ? `Readable by principal ${secretReaderPrincipalId} (Key Vault Secrets User on the vault ${vaultName}); anyone else asks them.`
    : `Only identities with Key Vault Secrets User on the vault ${vaultName} can read it: ask whoever manages the vault.`;
}

export function manualInstructions(
  vaultUrl: string,
  environmentUrl: string,
  appId: string,
  reference: SecretReference,
  secretReaderPrincipalId?: string,
): ManualDeliveryInstructions {
  const emailParametersUrl = `${environmentUrl.replace(/\/+$/, '')}/?mi=SysEmailParameters`;
  const vaultName = vaultNameOf(vaultUrl);
  // `az keyvault secret show` takes the vault by name, or the secret by its full identifier
  // (https://learn.microsoft.com/cli/azure/keyvault/secret#az-keyvault-secret-show).
  const read = vaultName
    ? `az keyvault secret show --vault-name ${vaultName} --name ${reference.secretName} --version ${reference.secretVersion} --query value -o tsv`
    : `az keyvault secret show --id ${vaultUrl.replace(/\/+$/, '')}/secrets/${reference.secretName}/${reference.secretVersion} --query value -o tsv`;
  return {
    emailParametersUrl,
    applicationId: appId,
    keyVaultSecret: { vaultUrl, name: reference.secretName, version: reference.secretVersion },
    // The form's labels as F&O shows them from 10.0.38 ("Application key" in documentation before 2026):
    // https://learn.microsoft.com/dynamics365/fin-ops-core/fin-ops/organization-administration/configure-email
    steps: [
      `Open ${emailParametersUrl} (System administration > Setup > Email > Email parameters).`,
      'On the Configuration tab set the Batch email provider to Graph; on the Microsoft Graph settings tab enter:',
      `Application ID: ${appId}`,
      `Application secret: the value of Key Vault secret ${reference.secretName}, version ${reference.secretVersion}, in ${vaultUrl} (${read}).`,
      readerStep(vaultName ?? vaultUrl, secretReaderPrincipalId),
      "Save. The run completes once Entra shows F&O signing in with this secret (F&O's email batch signs in when it sends); raise EmailParametersUpdated on this operation to have it checked at once.",
    ],
  };
}

async function markDelivered(deps: ActivityDeps, environmentId: string, reference: SecretReference, currentTags?: Record<string, string>): Promise<void> {
  await deps.vault.updateVersionTags(reference.secretName, reference.secretVersion, { [SECRET_TAGS.delivered]: 'true' }, {
    environmentId,
    ...(currentTags ? { currentTags } : {}),
  });
}

export function deliverToFinOps(deps: ActivityDeps): ActivityHandler<DeliverToFinOpsInput, DeliverToFinOpsOutput> {
  return async (input, log) => {
    if (input.strategy === 'manual') {
      // A person is sent there to enter the secret: only to a host the secret may go to. (A rotation
      // reads the URL from the registry's tags, which whoever may write to the vault can change.)
      const origin = deps.finOps(input.tenantId).allowedOrigin(input.environmentUrl, { environmentId: input.environmentId });
      return {
        strategy: 'manual',
        instructions: manualInstructions(deps.vault.vaultUrl, origin, input.appId, input.reference, deps.settings.secretReaderPrincipalId),
      };
    }
    const opts = { environmentId: input.environmentId };
    const finOps = deps.finOps(input.tenantId);
    // One read of the email parameters serves the provider check and the credential record's key.
    const finOpsOpts = { ...opts, emailParameters: await finOps.getEmailParameters(input.environmentUrl, opts) };
    const provider = await finOps.setBatchProviderToGraph(input.environmentUrl, finOpsOpts);
    const secret = await deps.vault.readSecret(input.reference.secretName, input.reference.secretVersion, opts);
    if (secret.properties.tags[SECRET_TAGS.delivered] === 'true' && !input.force) {
      // A repeated run: the tag is written only after F&O accepted this very version. F&O never returns
      // the secret, so the application id is what can be checked; if it still matches, writing again
      // would change nothing.
      const current = await finOps.getGraphCredentialApplicationId(input.environmentUrl, finOpsOpts);
      if (current?.toLowerCase() === input.appId.toLowerCase()) {
        log.info(`F&O environment ${input.environmentId} already holds credential ${input.reference.keyId}`);
        return { strategy: 'odata', providerChanged: provider.written, credentialWritten: false };
      }
    }
    await finOps.setGraphCredential(input.environmentUrl, { applicationId: input.appId, secret: secret.value }, finOpsOpts);
    await markDelivered(deps, input.environmentId, input.reference, secret.properties.tags);
    log.info(`credential ${input.reference.keyId} delivered to F&O environment ${input.environmentId}`);
    return { strategy: 'odata', providerChanged: provider.written, credentialWritten: true };
  };
}

export function recordDelivery(deps: ActivityDeps): ActivityHandler<RecordDeliveryInput, RecordDeliveryOutput> {
  return async (input) => {
    await markDelivered(deps, input.environmentId, input.reference);
    return { recorded: true };
  };
}
