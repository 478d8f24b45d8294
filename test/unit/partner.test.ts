/**
 * Partner mode's pure parts: the token exchange audience and issuer per cloud (what the operator's
 * federated credential must name), which tenant a setup may name (single tenant unchanged; a customer
 * tenant only once onboarded), the onboarding's input and consent URL, and the tenant record as Key
 * Vault tags.
 */
import { loadConfig } from '../../src/config';
import { federatedIssuer, tokenExchangeAudience } from '../../src/contracts/cloud';
import { toTenantRecord, tenantRecordTags, type RegistryEntry } from '../../src/contracts/registry';
import type { TenantRecord } from '../../src/contracts/tenants';
import { fitPermissions } from '../../src/activities/tenants';
import { buildOnboardInput, buildSetupInput, operatorConsentUrl, RunInputError } from '../../src/functions/runs';

const HOME = '11111111-2222-3333-4444-555555555555';
const CUSTOMER = '3f2c1d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const OPERATOR = 'aaaaaaaa-0000-4000-8000-00000000000b';
const base = { ENTRA_TENANT_ID: HOME, KEY_VAULT_URL: 'https://kv-fno.vault.azure.net' };
const single = loadConfig(base);
const partner = loadConfig({ ...base, OPERATOR_CLIENT_ID: OPERATOR, DASHBOARD_URL: 'https://func-fno.azurewebsites.net/api/dashboard' });

function refusal(run: () => unknown): RunInputError {
  try {
    run();
  } catch (error) {
    if (error instanceof RunInputError) return error;
    throw error;
  }
  throw new Error('expected a RunInputError');
}

describe('the token exchange per cloud', () => {
  it('names the audience of the cloud the authority host is in', () => {
    expect(tokenExchangeAudience('https://login.microsoftonline.com')).toBe('api://AzureADTokenExchange');
    expect(tokenExchangeAudience('https://login.microsoftonline.us/')).toBe('api://AzureADTokenExchangeUSGov');
    expect(tokenExchangeAudience('https://login.partner.microsoftonline.cn')).toBe('api://AzureADTokenExchangeChina');
    expect(tokenExchangeAudience('https://login.chinacloudapi.cn')).toBe('api://AzureADTokenExchangeChina');
    // An emulator's authority takes the global audience.
    expect(tokenExchangeAudience('https://localhost:8443')).toBe('api://AzureADTokenExchange');
  });

  it('takes the issuer from the authority host and the home tenant, never a fixed login.microsoftonline.com', () => {
    expect(federatedIssuer('https://login.microsoftonline.us/', HOME)).toBe(`https://login.microsoftonline.us/${HOME}/v2.0`);
    expect(federatedIssuer('https://localhost:8443', HOME)).toBe(`https://localhost:8443/${HOME}/v2.0`);
  });
});

describe('the tenant a setup may name', () => {
  const request = (tenantId?: string) => ({ environmentUrl: 'https://x.operations.dynamics.com', ...(tenantId ? { tenantId } : {}) });

  it('single tenant: the home tenant only, with the message it always had', () => {
    expect(buildSetupInput('x', 'https://x.operations.dynamics.com', request(), single).tenantId).toBe(HOME);
    const refused = refusal(() => buildSetupInput('x', 'https://x.operations.dynamics.com', request(CUSTOMER), single, { onboarded: true }));
    expect(refused.field).toBe('tenantId');
    expect(refused.detail).toBe(
      `tenantId ${CUSTOMER} is not the tenant this function app works in (${HOME}): its identity gets tokens only there. Omit tenantId, or set up the environment from a deployment in that tenant.`,
    );
  });

  it('partner mode: a customer tenant once onboarded, else a 400 saying to onboard it first', () => {
    const refused = refusal(() => buildSetupInput('x', 'https://x.operations.dynamics.com', request(CUSTOMER), partner, { onboarded: false }));
    expect(refused.detail).toBe(
      `tenantId ${CUSTOMER} has not been onboarded: no administrator of that tenant has consented to the partner operator application yet. Onboard it first (POST /api/tenants/${CUSTOMER}/onboard), then run setup again.`,
    );
    expect(buildSetupInput('x', 'https://x.operations.dynamics.com', request(CUSTOMER), partner, { onboarded: true }).tenantId).toBe(CUSTOMER);
    expect(buildSetupInput('x', 'https://x.operations.dynamics.com', request(HOME), partner).tenantId).toBe(HOME);
  });

  it("sends the product's own test message from SENDER_MAILBOX at home only: a customer tenant's app cannot send as a home mailbox", () => {
    const withSender = loadConfig({ ...base, OPERATOR_CLIENT_ID: OPERATOR, SENDER_MAILBOX: 'fno-mail@contoso.com', ALERT_RECIPIENTS: 'ops@contoso.com' });
    const home = buildSetupInput('x', 'https://x.operations.dynamics.com', { ...request(), testRecipient: 'it@contoso.com' }, withSender);
    expect([home.senderMailbox, home.testRecipient, home.finOpsTestRecipient]).toEqual(['fno-mail@contoso.com', 'it@contoso.com', 'it@contoso.com']);
    const there = buildSetupInput('x', 'https://x.operations.dynamics.com', { ...request(CUSTOMER), testRecipient: 'it@contoso.com' }, withSender, { onboarded: true });
    // F&O's own test send still goes out, from F&O, in the customer's tenant.
    expect([there.senderMailbox, there.testRecipient, there.finOpsTestRecipient]).toEqual([undefined, 'it@contoso.com', 'it@contoso.com']);
  });
});

describe('onboarding input', () => {
  it("carries the operator's tenant-specific consent URL, landing on the dashboard, and the settings' waits", () => {
    const input = buildOnboardInput(CUSTOMER, partner);
    expect(input).toEqual({
      tenantId: CUSTOMER,
      operatorAppId: OPERATOR,
      consentUrl: `https://login.microsoftonline.com/${CUSTOMER}/v2.0/adminconsent?client_id=${OPERATOR}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&redirect_uri=https%3A%2F%2Ffunc-fno.azurewebsites.net%2Fapi%2Fdashboard`,
      waits: { consentTimeoutHours: 72, consentPollMinutes: 5, reminderHours: 24 },
      dashboardUrl: 'https://func-fno.azurewebsites.net/api/dashboard',
    });
    expect(operatorConsentUrl(single, CUSTOMER)).toBeUndefined();
    expect(refusal(() => buildOnboardInput(CUSTOMER, single)).detail).toMatch(/^Partner mode is off/);
  });
});

describe('the tenant record', () => {
  const record: TenantRecord = {
    tenantId: CUSTOMER,
    consent: 'granted',
    operatorAppId: OPERATOR,
    requiredPermissions: ['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All'],
    grantedPermissions: ['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All'],
    onboardedAt: '2030-01-01T08:00:00.000Z',
    checkedAt: '2030-01-02T08:00:00.000Z',
  };
  const entry = (tags: Record<string, string>, name = `fno-graph-mail--tenant-${CUSTOMER}`): RegistryEntry => ({ name, version: 'v1', enabled: true, expiresOn: null, tags: { 'managed-by': 'fno-graph-mail', ...tags } });

  it('reads back from the tags it writes', () => {
    expect(toTenantRecord(entry(tenantRecordTags(record)))).toEqual(record);
    expect(toTenantRecord(entry(tenantRecordTags(record)), CUSTOMER)).toEqual(record);
    expect(toTenantRecord(entry(tenantRecordTags(record)), HOME)).toBeUndefined();
  });

  it("is only the product's record of the tenant its name names", () => {
    const tags = tenantRecordTags(record);
    expect(toTenantRecord({ ...entry(tags), tags })).toBeUndefined(); // no marker
    expect(toTenantRecord(entry({ ...tags, 'tenant-id': HOME }))).toBeUndefined(); // tags name another tenant
    expect(toTenantRecord(entry(tags, 'fno-graph-mail-contoso'))).toBeUndefined(); // an environment's secret
    expect(toTenantRecord(entry({ ...tags, consent: 'maybe' }))).toBeUndefined();
    expect(toTenantRecord({ ...entry(tags), enabled: false })).toBeUndefined();
  });

  it('keeps permission lists within a tag value (256 characters), saying how many did not fit', () => {
    const many = Array.from({ length: 30 }, (_, i) => `Permission${i}.ReadWrite.All`);
    const fitted = fitPermissions(many);
    expect(fitted.join(',').length).toBeLessThanOrEqual(256);
    expect(fitted[fitted.length - 1]).toBe(`+${many.length - fitted.length + 1} more`);
    expect(fitted.slice(0, -1)).toEqual(many.slice(0, fitted.length - 1));
    expect(fitPermissions(record.grantedPermissions)).toEqual(record.grantedPermissions);
  });
});
