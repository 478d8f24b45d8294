/**
 * The instructions manual delivery gives a person: the command that reads the secret names the real vault
 * (by name where the URL is a Key Vault host, by the secret's full identifier otherwise), and the steps say
 * who can read it: the principal the deployment gave Key Vault Secrets User, or, when none was named, that
 * only such identities can and whom to ask.
 */
import { manualInstructions, vaultNameOf } from '../../src/activities/deliverToFinOps';
import type { SecretReference } from '../../src/contracts/environment';

const reference: SecretReference = {
  secretName: 'fno-graph-mail-contoso-uat',
  secretVersion: '0123456789abcdef0123456789abcdef',
  keyId: '11111111-2222-4333-8444-555555555555',
  expiresOn: '2027-01-01T00:00:00.000Z',
};
const APP_ID = '99999999-8888-4777-8666-555555555555';
const READER = '5e1f0c2a-7b3d-4e8f-9a10-b2c3d4e5f607';
const ENVIRONMENT = 'https://contoso-uat.sandbox.operations.dynamics.com';

describe('vaultNameOf', () => {
  it('reads the vault name out of a Key Vault URL, in every cloud', () => {
    expect(vaultNameOf('https://kv-abc123def456g.vault.azure.net')).toBe('kv-abc123def456g');
    expect(vaultNameOf('https://KV-Upper.vault.azure.net/')).toBe('kv-upper');
    expect(vaultNameOf('https://contoso-vault.vault.usgovcloudapi.net')).toBe('contoso-vault');
    expect(vaultNameOf('https://contoso-vault.vault.azure.cn')).toBe('contoso-vault');
  });

  it('gives no name for a host that is not a vault, rather than a guess', () => {
    expect(vaultNameOf('https://localhost:8443')).toBeUndefined();
    expect(vaultNameOf('https://127.0.0.1:8443')).toBeUndefined();
    expect(vaultNameOf('https://a-name-longer-than-twenty-four.vault.azure.net')).toBeUndefined();
    expect(vaultNameOf('not a url')).toBeUndefined();
  });
});

describe('manualInstructions', () => {
  it('names the reader the deployment granted, and the real vault in the command', () => {
    const { steps, keyVaultSecret } = manualInstructions('https://kv-abc123def456g.vault.azure.net', ENVIRONMENT, APP_ID, reference, READER);
    expect(keyVaultSecret).toEqual({ vaultUrl: 'https://kv-abc123def456g.vault.azure.net', name: reference.secretName, version: reference.secretVersion });
    expect(steps).toEqual([
      `Open ${ENVIRONMENT}/?mi=SysEmailParameters (System administration > Setup > Email > Email parameters).`,
      'On the Configuration tab set the Batch email provider to Graph; on the Microsoft Graph settings tab enter:',
      `Application ID: ${APP_ID}`,
      `Application secret: the value of Key Vault secret ${reference.secretName}, version ${reference.secretVersion}, in https://kv-abc123def456g.vault.azure.net ` +
        `(az keyvault secret show --vault-name kv-abc123def456g --name ${reference.secretName} --version ${reference.secretVersion} --query value -o tsv).`,
      `Readable by principal ${READER} (Key Vault Secrets User on the vault kv-abc123def456g); anyone else asks them.`,
      "Save. The run completes once Entra shows F&O signing in with this secret (F&O's email batch signs in when it sends); raise EmailParametersUpdated on this operation to have it checked at once.",
    ]);
    expect(steps.join('\n')).not.toContain('<vault>');
  });

  it('says whom to ask when the deployment named no reader', () => {
    const { steps } = manualInstructions('https://kv-abc123def456g.vault.azure.net/', ENVIRONMENT, APP_ID, reference);
    expect(steps).toContain('Only identities with Key Vault Secrets User on the vault kv-abc123def456g can read it: ask whoever manages the vault.');
    expect(steps.join('\n')).not.toContain('Readable by principal');
  });

  it('reads a secret of a vault whose URL carries no vault name by its full identifier', () => {
    const { steps } = manualInstructions('https://localhost:8443/', ENVIRONMENT, APP_ID, reference);
    const command = `az keyvault secret show --id https://localhost:8443/secrets/${reference.secretName}/${reference.secretVersion} --query value -o tsv`;
    expect(steps.find((s) => s.startsWith('Application secret:'))).toContain(`(${command})`);
    expect(steps.join('\n')).not.toContain('--vault-name');
  });
});
