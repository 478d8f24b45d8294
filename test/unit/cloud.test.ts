/**
 * Microsoft Graph per cloud, decided in one place (src/contracts/cloud.ts): the token resource and
 * `/.default` scope, the API root, whether the Graph JS client must be told the host, and the admin
 * consent URL on the cloud's authority. Roots per https://learn.microsoft.com/graph/deployments;
 * authorities per https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud.
 */
import { adminConsentUrl, graphEndpoint } from '../../src/contracts/cloud';
import { exemptionRequests } from '../../src/activities/passwordPolicy';

describe('graphEndpoint', () => {
  it.each([
    ['global', 'https://graph.microsoft.com', 'https://graph.microsoft.com', 'https://graph.microsoft.com/.default', false],
    ['global, trailing slash and path', 'https://graph.microsoft.com/v1.0/', 'https://graph.microsoft.com', 'https://graph.microsoft.com/.default', false],
    ['US Government L4', 'https://graph.microsoft.us', 'https://graph.microsoft.us', 'https://graph.microsoft.us/.default', true],
    ['US Government L5 (DoD)', 'https://dod-graph.microsoft.us', 'https://dod-graph.microsoft.us', 'https://dod-graph.microsoft.us/.default', true],
    ['China (21Vianet)', 'https://microsoftgraph.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn/.default', true],
    ['the sandbox (any other host is its own resource)', 'https://localhost:8441', 'https://localhost:8441', 'https://localhost:8441/.default', true],
  ] as const)('%s', (_cloud, base, root, scope, custom) => {
    const e = graphEndpoint(base);
    expect(e.baseUrl).toBe(root);
    expect(e.scope).toBe(scope);
    expect(e.resource).toBe(scope.replace('/.default', ''));
    expect(e.isCustomHost).toBe(custom);
  });
});

describe('adminConsentUrl', () => {
  it.each([
    ['global', 'https://login.microsoftonline.com', 'https://graph.microsoft.com', 'https://login.microsoftonline.com/t-1/v2.0/adminconsent?client_id=app-1&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default'],
    ['US Government', 'https://login.microsoftonline.us/', 'https://graph.microsoft.us', 'https://login.microsoftonline.us/t-1/v2.0/adminconsent?client_id=app-1&scope=https%3A%2F%2Fgraph.microsoft.us%2F.default'],
    ['China', 'https://login.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn', 'https://login.chinacloudapi.cn/t-1/v2.0/adminconsent?client_id=app-1&scope=https%3A%2F%2Fmicrosoftgraph.chinacloudapi.cn%2F.default'],
    ['the sandbox', 'https://localhost:8440', 'https://localhost:8441', 'https://localhost:8440/t-1/v2.0/adminconsent?client_id=app-1&scope=https%3A%2F%2Flocalhost%3A8441%2F.default'],
  ])('%s', (_cloud, authorityHost, graphBaseUrl, expected) => {
    expect(adminConsentUrl({ authorityHost, graphBaseUrl, tenantId: 't-1', appId: 'app-1' })).toBe(expected);
  });

  it('names a redirect URI only when given, encoded', () => {
    const url = new URL(adminConsentUrl({ authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com', tenantId: 't', appId: 'a', redirectUri: 'https://x.example/cb?y=1' }));
    expect(url.searchParams.get('redirect_uri')).toBe('https://x.example/cb?y=1');
  });

  it('encodes a tenant id that is not a GUID instead of letting it change the path', () => {
    expect(adminConsentUrl({ authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com', tenantId: '../common', appId: 'a' })).toContain('/..%2Fcommon/v2.0/adminconsent');
  });
});

describe('Graph requests a person sends', () => {
  it("the policy exemption is addressed to the cloud's Graph root, whatever path the setting carries", () => {
    for (const [base, root] of [
      ['https://graph.microsoft.com/', 'https://graph.microsoft.com/v1.0'],
      ['https://graph.microsoft.us/v1.0', 'https://graph.microsoft.us/v1.0'],
    ] as const) {
      for (const request of exemptionRequests(base, 'obj', 'env', 90)) expect(request).toContain(`POST ${root}/`);
    }
  });
});
