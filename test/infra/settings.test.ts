/**
 * The app settings have one source, src/config.ts: the Bicep app settings, local.settings.sample.json
 * and the azd parameters must list the same keys, the Bicep defaults must be the product's, and no
 * setting deployed to Azure may carry a secret. A setting added to config.ts and forgotten here fails.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DURABLE_QUEUE_POLLING_SETTING, HOST_SETTING_NAMES, SETTING_NAMES, SETTINGS } from '../../src/config';
import { captureFunctionApp } from '../runtime/helpers/functionsCore';
import { at, exprText, INFRA_DIR, isExpr, isObject, loadBicep, objectAt, type BicepFile, type BicepObject, type BicepValue } from './bicep';

const root = join(__dirname, '..', '..');
const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> };
const parameters = JSON.parse(readFileSync(join(INFRA_DIR, 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };

/** DURABLE_TASK_HUB → durableTaskHub: the parameter that feeds a product setting. */
function paramNameOf(setting: string): string {
  return setting.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Settings whose value only Azure knows, computed in the Bicep rather than taken from a parameter. */
const COMPUTED: Record<string, string> = {
  ENTRA_TENANT_ID: 'tenant().tenantId',
  AZURE_CLIENT_ID: 'identity.outputs.clientId',
  KEY_VAULT_URL: 'keyVault.outputs.uri',
  // From the created app (app/api.bicep): its host name may be regional, not `<name>.azurewebsites.net`.
  DASHBOARD_URL: "'https://${functionApp.properties.defaultHostName}/api/dashboard'",
};

/** Host settings in the form a Flex Consumption app with a managed identity uses. */
const IDENTITY_BASED_STORAGE = /^AzureWebJobsStorage__(accountName|credential|clientId)$/;
/** Read by the Functions host for telemetry; not product settings, and not needed locally. */
const PLATFORM_SETTINGS = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'];

let main: BicepFile;
let api: BicepFile;
let productSettings: BicepObject;
let hostStorageSettings: BicepObject;
let monitoringSettings: BicepObject;
let durableSettings: BicepObject;
let siteSettings: BicepObject;
/** The product settings as the app gets them: main.bicep's, plus those app/api.bicep reads from the site. */
let allProductSettings: BicepObject;

beforeAll(async () => {
  main = await loadBicep('main.bicep');
  api = await loadBicep('app/api.bicep');
  const product = main.vars.get('productSettings');
  const hostStorage = api.vars.get('hostStorageSettings');
  const monitoring = api.vars.get('monitoringSettings');
  const durable = api.vars.get('durableSettings');
  const site = api.vars.get('siteSettings');
  if (!isObject(product) || !isObject(hostStorage) || !isObject(monitoring) || !isObject(durable) || !isObject(site)) {
    throw new Error('the app settings variables are missing from the Bicep');
  }
  durableSettings = durable;
  siteSettings = site;
  productSettings = product;
  hostStorageSettings = hostStorage;
  monitoringSettings = monitoring;
  allProductSettings = { ...productSettings, ...siteSettings };
});

/** Every app setting the function app gets in Azure, mapped back to the names the code and local settings use. */
function deployedSettingNames(): string[] {
  const functionApp = api.resources.find((r) => r.type === 'Microsoft.Web/sites' && !r.existing);
  const runtime = at(functionApp?.body, 'properties.functionAppConfig.runtime');
  const names = new Set(Object.keys(allProductSettings));
  if (Object.keys(hostStorageSettings).every((k) => IDENTITY_BASED_STORAGE.test(k))) names.add('AzureWebJobsStorage');
  // Flex Consumption takes the worker runtime from functionAppConfig, not from an app setting.
  if (at(runtime, 'name') === sample.Values.FUNCTIONS_WORKER_RUNTIME) names.add('FUNCTIONS_WORKER_RUNTIME');
  for (const key of Object.keys(durableSettings)) names.add(key);
  return [...names].sort();
}

describe('app settings consistency (src/config.ts = Bicep = local.settings.sample.json)', () => {
  it('deploys exactly the settings the code declares, host ones in their identity-based form', () => {
    const declared = [...SETTING_NAMES, ...HOST_SETTING_NAMES].sort();
    expect(deployedSettingNames()).toEqual(declared);
    expect(Object.keys(allProductSettings).sort()).toEqual([...SETTING_NAMES].sort());
    expect(Object.keys(siteSettings)).toEqual(['DASHBOARD_URL']);
    // main.bicep cannot know the host name: it leaves the dashboard URL to the module that creates the app.
    expect(Object.keys(productSettings)).not.toContain('DASHBOARD_URL');
    expect(Object.keys(sample.Values).sort()).toEqual(declared);
  });

  it('gives the function app the product settings, the identity-based storage connection and nothing else', () => {
    const functionApp = api.resources.find((r) => r.type === 'Microsoft.Web/sites' && !r.existing);
    const settings = api.resources.find((r) => r.type === 'Microsoft.Web/sites/config' && r.parentSymbol === functionApp?.symbol);
    expect(settings?.body.name).toBe('appsettings');
    expect(exprText(settings?.body.properties)).toBe('union(appSettings, siteSettings, hostStorageSettings, monitoringSettings, durableSettings)');
    const apiModule = main.modules.find((m) => m.source === 'app/api.bicep');
    expect(exprText(at(apiModule?.body, 'params.appSettings'))).toBe('productSettings');

    expect(hostStorageSettings).toEqual({
      AzureWebJobsStorage__accountName: expect.anything(),
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: expect.anything(),
    });
    expect(exprText(hostStorageSettings.AzureWebJobsStorage__accountName)).toBe('storage.name');
    expect(exprText(hostStorageSettings.AzureWebJobsStorage__clientId)).toBe('identityClientId');
    expect(Object.keys(monitoringSettings).sort()).toEqual([...PLATFORM_SETTINGS].sort());
    for (const key of PLATFORM_SETTINGS) expect(SETTING_NAMES as readonly string[]).not.toContain(key);
  });

  it('computes the settings Azure knows: tenant, identity client id, vault URL, dashboard URL', () => {
    for (const [key, expression] of Object.entries(COMPUTED)) expect([key, exprText(allProductSettings[key])]).toEqual([key, expression]);
    // Required settings (no default in config.ts) can only be computed: a parameter would start out empty.
    for (const key of SETTING_NAMES.filter((k) => SETTINGS[k].default === undefined)) expect(Object.keys(COMPUTED)).toContain(key);
    // The dashboard URL is that of the site the module creates, regional host names included, and passes the product's own check.
    expect(api.resources.find((r) => r.symbol === 'functionApp')).toMatchObject({ type: 'Microsoft.Web/sites', existing: false });
    for (const host of ['func-fno-abc.azurewebsites.net', 'func-fno-abc-d4e5f6g7h8.swedencentral-01.azurewebsites.net']) {
      expect(SETTINGS.DASHBOARD_URL.schema.safeParse(`https://${host}/api/dashboard`).success).toBe(true);
    }
    expect(JSON.stringify(main.vars.get('productSettings'))).not.toContain('azurewebsites.net');
  });

  it('feeds every other setting from a parameter whose default is the product default', () => {
    for (const key of SETTING_NAMES.filter((k) => !(k in COMPUTED))) {
      const param = main.params.get(paramNameOf(key));
      expect([key, exprText(allProductSettings[key])]).toEqual([key, paramNameOf(key)]);
      expect([key, param?.type, param?.defaultValue]).toEqual([key, 'string', SETTINGS[key].default]);
    }
  });

  it('limits the strategy parameters to the values the product accepts', () => {
    expect(main.params.get('consentStrategy')?.decorators.get('allowed')).toEqual([['grant', 'request']]);
    expect(main.params.get('deliveryStrategy')?.decorators.get('allowed')).toEqual([['auto', 'odata', 'manual']]);
    for (const value of ['grant', 'request']) expect(SETTINGS.CONSENT_STRATEGY.schema.safeParse(value).success).toBe(true);
    for (const value of ['auto', 'odata', 'manual']) expect(SETTINGS.DELIVERY_STRATEGY.schema.safeParse(value).success).toBe(true);
  });

  it('lets `azd env set <SETTING>` override each parameter, and maps nothing that main.bicep does not declare', () => {
    for (const key of SETTING_NAMES.filter((k) => !(k in COMPUTED))) {
      expect([key, parameters.parameters[paramNameOf(key)]?.value]).toEqual([key, `\${${key}}`]);
    }
    for (const name of Object.keys(parameters.parameters)) expect([name, main.params.has(name)]).toEqual([name, true]);
    // An output azd writes into the environment must not feed a parameter with anything but that parameter's
    // own value: a computed output (a generated name, say) would pin it for every later provision, even after `azd down`.
    for (const [name, { value }] of Object.entries(parameters.parameters)) {
      const variable = /^\$\{([A-Z0-9_]+)\}$/.exec(String(value))?.[1] ?? '';
      const output = main.outputs.get(variable);
      if (output) expect([name, variable, exprText(output.value)]).toEqual([name, variable, name]);
    }
    // Required parameters (no default) must come from azd.
    for (const param of main.params.values()) {
      if (param.defaultValue === undefined) expect([param.name, parameters.parameters[param.name]]).toEqual([param.name, expect.anything()]);
    }
  });

  it('tunes the Durable Functions queue polling from one setting, with one default everywhere', () => {
    // host.json's value is the default; the app setting overrides it in Azure, from a parameter azd can set.
    const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as { extensions: { durableTask: { storageProvider: Record<string, string> } } };
    const fromHostJson = hostJson.extensions.durableTask.storageProvider.maxQueuePollingInterval;
    expect(DURABLE_QUEUE_POLLING_SETTING).toBe('AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval');
    expect(Object.keys(durableSettings)).toEqual([DURABLE_QUEUE_POLLING_SETTING]);
    expect(exprText(durableSettings[DURABLE_QUEUE_POLLING_SETTING])).toBe('durableQueuePollingInterval');
    // Microsoft's Flex Consumption guidance: 10 seconds or less.
    expect(fromHostJson).toBe('00:00:10');
    expect(api.params.get('durableQueuePollingInterval')?.defaultValue).toBe(fromHostJson);
    expect(main.params.get('durableQueuePollingInterval')?.defaultValue).toBe(fromHostJson);
    expect(sample.Values[DURABLE_QUEUE_POLLING_SETTING]).toBe(fromHostJson);
    expect(exprText(at(main.modules.find((m) => m.source === 'app/api.bicep')?.body, 'params.durableQueuePollingInterval'))).toBe('durableQueuePollingInterval');
    expect(parameters.parameters.durableQueuePollingInterval?.value).toBe('${DURABLE_QUEUE_POLLING_INTERVAL}');
    // The override names a real host.json path: extensions.durableTask.storageProvider.maxQueuePollingInterval.
    const path = DURABLE_QUEUE_POLLING_SETTING.replace(/^AzureFunctionsJobHost__/, '').split('__');
    expect(path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], hostJson)).toBe(fromHostJson);
  });

  it('holds every setting that host.json and the registered bindings read as %SETTING%', () => {
    const deployed = new Set(deployedSettingNames());
    const hostJson = readFileSync(join(root, 'host.json'), 'utf8');
    const registry = captureFunctionApp(join(root, 'src', 'index.ts'));
    const bindings = JSON.stringify(registry.byTrigger('timerTrigger').map((f) => f.timer?.schedule));
    const referenced = [...`${hostJson}${bindings}`.matchAll(/%([A-Za-z0-9_]+)%/g)].map((m) => m[1] ?? '');
    expect(referenced.length).toBeGreaterThan(0);
    for (const name of referenced) expect([name, deployed.has(name)]).toEqual([name, true]);
  });
});

/** Patterns of values that would put a secret into an app setting or into the template. */
const SECRET_SHAPES: Array<[string, RegExp]> = [
  ['a key-listing function', /\blist(Keys|Secrets|AccountSas|ServiceSas)\s*\(/i],
  ['a storage account key', /AccountKey\s*=/i],
  ['a SAS signature', /(SharedAccessSignature|[?&]sig=)/i],
  ['a function key in a URL', /[?&]code=/i],
  ['a password or client secret', /(password|clientsecret|client_secret)\s*[=:]/i],
  ['a long base64 blob', /[A-Za-z0-9+/]{40,}={0,2}/],
];

function valuesOf(object: BicepObject): Array<[string, BicepValue]> {
  return Object.entries(object);
}

describe('no secret in the deployment', () => {
  it('deploys no app setting whose value looks like a secret', () => {
    const all = [...valuesOf(productSettings), ...valuesOf(hostStorageSettings), ...valuesOf(monitoringSettings)];
    expect(all.length).toBeGreaterThan(SETTING_NAMES.length);
    for (const [key, value] of all) {
      const text = isExpr(value) ? value.text : JSON.stringify(value);
      for (const [what, shape] of SECRET_SHAPES) expect([key, what, shape.test(text)]).toEqual([key, what, false]);
    }
    // The one value that embeds a key-like token is the App Insights ingestion endpoint, useless without the identity.
    expect(exprText(monitoringSettings.APPLICATIONINSIGHTS_CONNECTION_STRING)).toBe('applicationInsights.properties.ConnectionString');
    expect(monitoringSettings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toEqual(expect.anything());
    expect(exprText(monitoringSettings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING)).toBe("'ClientId=${identityClientId};Authorization=AAD'");
  });

  it('has no secure parameter, no key listing and no secret literal in any template', async () => {
    const files = ['main.bicep', 'rbac.bicep', ...readdirSync(join(INFRA_DIR, 'app')).filter((f) => f.endsWith('.bicep')).map((f) => `app/${f}`)];
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const bicep = await loadBicep(file);
      for (const param of bicep.params.values()) expect([file, param.name, param.decorators.has('secure')]).toEqual([file, param.name, false]);
      for (const [what, shape] of SECRET_SHAPES.slice(0, 5)) expect([file, what, shape.test(bicep.text)]).toEqual([file, what, false]);
    }
    // The parameters file only points at azd environment values: nothing is baked into the repository.
    for (const [name, { value }] of Object.entries(parameters.parameters)) expect([name, value]).toEqual([name, expect.stringMatching(/^\$\{[A-Z][A-Z0-9_]*\}$/)]);
  });

  it('sets the App Insights component to Entra-only ingestion, so its connection string grants nothing', () => {
    const appInsights = main.modules.find((m) => m.source.startsWith('br/public:avm/res/insights/component:'));
    expect(at(appInsights?.body, 'params.disableLocalAuth')).toBe(true);
    expect(objectAt(appInsights?.body, 'params')).toHaveProperty('workspaceResourceId');
  });
});
