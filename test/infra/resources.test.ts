/**
 * What `azd up` creates, read from the Bicep: every resource the product needs is declared with the
 * properties its security and the product depend on (Flex Consumption on Node 22, a user-assigned
 * identity, storage without shared keys, a purge-protected RBAC vault, the expiry events of the
 * product's secrets delivered to `secretExpiryEvents`, an alert on the product's alert lines) and the
 * identity holds exactly the roles it needs, each on one resource.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityDeps } from '../../src/activities/deps';
import { notify } from '../../src/activities/notify';
import { SECRET_NAME_PREFIX } from '../../src/contracts/names';
import { captureFunctionApp } from '../runtime/helpers/functionsCore';
import { at, exprText, loadBicep, objectAt, type BicepFile, type BicepModule, type BicepResource, type BicepValue } from './bicep';
import { analyzeKql, APP_TRACES_SCHEMA } from './kusto';

let main: BicepFile;
let api: BicepFile;
let keyVault: BicepFile;
let eventGrid: BicepFile;
let alerts: BicepFile;
let rbac: BicepFile;

beforeAll(async () => {
  [main, api, keyVault, eventGrid, alerts, rbac] = await Promise.all([
    loadBicep('main.bicep'),
    loadBicep('app/api.bicep'),
    loadBicep('app/keyvault.bicep'),
    loadBicep('app/eventgrid.bicep'),
    loadBicep('app/alerts.bicep'),
    loadBicep('rbac.bicep'),
  ]);
});

function declared(file: BicepFile, type: string): BicepResource[] {
  return file.resources.filter((r) => r.type === type && !r.existing);
}

function one(file: BicepFile, type: string): BicepResource {
  const found = declared(file, type);
  if (found.length !== 1) throw new Error(`${file.path} declares ${found.length} ${type} resources, expected 1`);
  return found[0] as BicepResource;
}

function avm(name: string): BicepModule {
  const found = main.modules.filter((m) => m.source.startsWith(`br/public:avm/res/${name}:`));
  if (found.length !== 1) throw new Error(`main.bicep uses the AVM module ${name} ${found.length} times, expected 1`);
  return found[0] as BicepModule;
}

describe('what azd up creates', () => {
  it('deploys at subscription scope into one resource group, and wires every module', () => {
    expect(main.targetScope).toBe('subscription');
    expect(declared(main, 'Microsoft.Resources/resourceGroups')).toHaveLength(1);
    expect(main.modules.map((m) => m.source).sort()).toEqual([
      'app/alerts.bicep',
      'app/api.bicep',
      'app/eventgrid.bicep',
      'app/keyvault.bicep',
      'br/public:avm/res/insights/component:0.6.0',
      'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1',
      'br/public:avm/res/operational-insights/workspace:0.11.1',
      'br/public:avm/res/storage/storage-account:0.8.3',
      'br/public:avm/res/web/serverfarm:0.1.1',
      'rbac.bicep',
    ]);
    for (const m of main.modules) expect([m.symbol, exprText(m.body.scope)]).toEqual([m.symbol, 'rg']);
  });

  it('runs the function app on Flex Consumption (FC1), Node 22, as the user-assigned identity', () => {
    const plan = avm('web/serverfarm');
    expect(objectAt(plan.body, 'params.sku')).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
    expect(at(plan.body, 'params.reserved')).toBe(true);

    const site = one(api, 'Microsoft.Web/sites');
    expect(site.body.kind).toBe('functionapp,linux');
    expect(objectAt(site.body, 'properties.functionAppConfig.runtime')).toEqual({ name: 'node', version: '22' });
    expect(at(site.body, 'properties.httpsOnly')).toBe(true);
    expect(at(site.body, 'identity.type')).toBe('UserAssigned');
    expect(Object.keys(objectAt(site.body, 'identity.userAssignedIdentities'))).toEqual(["'${identityId}'"]);
    // The deployment package is read from a blob container with the same identity, not with a key.
    expect(objectAt(site.body, 'properties.functionAppConfig.deployment.storage.authentication')).toEqual({
      type: 'UserAssignedIdentity',
      userAssignedIdentityResourceId: expect.anything(),
    });
    expect(exprText(at(site.body, 'properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId'))).toBe('identityId');
    expect(exprText(at(site.body, 'properties.serverFarmId'))).toBe('appServicePlanId');
    // azd finds the app to deploy to by this tag (service `api` in azure.yaml).
    expect(exprText(site.body.tags)).toBe("union(tags, { 'azd-service-name': serviceName })");
    expect(api.params.get('serviceName')?.defaultValue).toBe('api');

    const apiModule = main.modules.find((m) => m.source === 'app/api.bicep');
    expect(exprText(at(apiModule?.body, 'params.identityId'))).toBe('identity.outputs.resourceId');
    expect(exprText(at(apiModule?.body, 'params.identityClientId'))).toBe('identity.outputs.clientId');
    expect(exprText(at(apiModule?.body, 'params.appServicePlanId'))).toBe('plan.outputs.resourceId');
  });

  it('keeps no instance ready unless asked: DURABLE_ALWAYS_READY_INSTANCES names how many for the durable group', () => {
    const site = one(api, 'Microsoft.Web/sites');
    expect(exprText(at(site.body, 'properties.functionAppConfig.scaleAndConcurrency.alwaysReady'))).toBe(
      "durableAlwaysReadyInstances > 0 ? [ { name: 'durable', instanceCount: durableAlwaysReadyInstances } ] : []",
    );
    for (const file of [main, api]) {
      const param = file.params.get('durableAlwaysReadyInstances');
      expect([file.path, param?.type, param?.defaultValue, param?.decorators.get('minValue'), param?.decorators.get('maxValue')]).toEqual([file.path, 'int', 0, [0], [10]]);
    }
    const apiModule = main.modules.find((m) => m.source === 'app/api.bicep');
    expect(exprText(at(apiModule?.body, 'params.durableAlwaysReadyInstances'))).toBe('durableAlwaysReadyInstances');
  });

  it('keeps the task hub and the deployment package in storage that accepts no shared key', () => {
    const storage = avm('storage/storage-account');
    expect(at(storage.body, 'params.allowSharedKeyAccess')).toBe(false);
    expect(at(storage.body, 'params.allowBlobPublicAccess')).toBe(false);
    expect(at(storage.body, 'params.minimumTlsVersion')).toBe('TLS1_2');
    const containers = at(storage.body, 'params.blobServices.containers');
    expect(containers).toEqual([{ name: expect.anything() }]);
    expect(exprText(at(storage.body, 'params.blobServices.containers.0.name'))).toBe('deploymentContainerName');
    const apiModule = main.modules.find((m) => m.source === 'app/api.bicep');
    expect(exprText(at(apiModule?.body, 'params.deploymentContainerName'))).toBe('deploymentContainerName');
  });

  it('creates a Key Vault with RBAC authorization, soft delete and purge protection', () => {
    const vault = one(keyVault, 'Microsoft.KeyVault/vaults');
    const properties = objectAt(vault.body, 'properties');
    expect(properties.enableRbacAuthorization).toBe(true);
    expect(properties.enableSoftDelete).toBe(true);
    expect(properties.enablePurgeProtection).toBe(true);
    expect(properties.softDeleteRetentionInDays).toBe(90);
    expect(properties).not.toHaveProperty('accessPolicies');
    expect(exprText(properties.tenantId)).toBe('tenant().tenantId');
    expect(exprText(keyVault.outputs.get('uri')?.value)).toBe('vault.properties.vaultUri');
  });

  it('names the vault anew for each deployment, so `azd down` then `azd up` never meets its soft-deleted predecessor', () => {
    // Stable for every provision of one deployment (the identity lives as long as it does), new after `azd down`.
    expect(exprText(main.vars.get('vaultName'))).toBe(
      "!empty(keyVaultName) ? keyVaultName : 'kv-${toLower(uniqueString(subscription().id, environmentName, location, identity.outputs.principalId))}'",
    );
    const keyVaultModule = main.modules.find((m) => m.source === 'app/keyvault.bicep');
    expect(exprText(at(keyVaultModule?.body, 'params.name'))).toBe('vaultName');
    // 'kv-' + uniqueString's 13 characters: within Key Vault's 3-24.
    expect('kv-'.length + 13).toBeLessThanOrEqual(24);
    // The override is an explicit choice (KEY_VAULT_NAME), not the AZURE_KEY_VAULT_NAME output azd stores after a provision.
    const { parameters } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: string }> };
    expect(parameters.keyVaultName?.value).toBe('${KEY_VAULT_NAME}');
    expect(main.outputs.has('KEY_VAULT_NAME')).toBe(false);
  });

  it('monitors with Log Analytics and workspace-based Application Insights', () => {
    expect(at(avm('operational-insights/workspace').body, 'params.dataRetention')).toBe(30);
    expect(exprText(at(avm('insights/component').body, 'params.workspaceResourceId'))).toBe('logAnalytics.outputs.resourceId');
  });
});

describe('secret expiry events', () => {
  it('puts an Event Grid system topic on the vault', () => {
    const topic = one(eventGrid, 'Microsoft.EventGrid/systemTopics');
    expect(at(topic.body, 'properties.topicType')).toBe('Microsoft.KeyVault.vaults');
    expect(exprText(at(topic.body, 'properties.source'))).toBe('vault.id');
    const vaultRef = eventGrid.resources.find((r) => r.symbol === 'vault');
    expect(vaultRef).toMatchObject({ type: 'Microsoft.KeyVault/vaults', existing: true });
    const events = main.modules.find((m) => m.source === 'app/eventgrid.bicep');
    expect(exprText(at(events?.body, 'params.keyVaultName'))).toBe('keyVault.outputs.name');
    expect(exprText(at(events?.body, 'params.functionAppName'))).toBe('api.outputs.name');
  });

  it('names the system topic after its vault, so KEY_VAULT_NAME can point at a recovered vault without moving a topic', () => {
    // A system topic keeps the source it was created with, and a source has one system topic at most: the topic's
    // name must follow from the vault alone. After `azd down` then `azd up` (new vault kv-new, topic evgt-kv-new),
    // setting KEY_VAULT_NAME to the recovered kv-old must deploy a topic of another name, not re-point evgt-kv-new.
    const events = main.modules.find((m) => m.source === 'app/eventgrid.bicep');
    const nameExpression = exprText(at(events?.body, 'params.name')) ?? '';
    const interpolated = [...nameExpression.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]);
    expect(interpolated).toEqual(['vaultName']);
    expect(exprText(at(main.modules.find((m) => m.source === 'app/keyvault.bicep')?.body, 'params.name'))).toBe('vaultName');
    const topicName = (vault: string): string => nameExpression.replace(/^'|'$/g, '').replace('${vaultName}', vault);
    // One topic name per vault, different vaults different names; within Event Grid's 3-128 letters, digits and hyphens.
    const vaults = ['kv-abcdefghijklm', 'kv-nopqrstuvwxyz', 'my-recovered-vault-24chr'];
    const topics = vaults.map(topicName);
    expect(new Set(topics).size).toBe(vaults.length);
    for (const topic of topics) expect(topic).toMatch(/^[A-Za-z0-9-]{3,128}$/);
    // The module creates the topic under that name, with that vault as its source.
    const topic = one(eventGrid, 'Microsoft.EventGrid/systemTopics');
    expect(exprText(topic.body.name)).toBe('name');
    expect(exprText(at(events?.body, 'params.keyVaultName'))).toBe('keyVault.outputs.name');
    expect(main.outputs.get('EVENT_GRID_SYSTEM_TOPIC_NAME')).toBeDefined();
  });

  it('delivers exactly SecretNearExpiry and SecretExpired of the product secrets to the function secretExpiryEvents', () => {
    const subscription = one(eventGrid, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    expect(exprText(at(subscription.body, 'parent'))).toBe('systemTopic');
    expect(at(subscription.body, 'properties.filter.includedEventTypes')).toEqual([
      'Microsoft.KeyVault.SecretNearExpiry',
      'Microsoft.KeyVault.SecretExpired',
    ]);
    // Key Vault events carry the secret name as their subject.
    expect(at(subscription.body, 'properties.filter.subjectBeginsWith')).toBe(SECRET_NAME_PREFIX);
    expect(at(subscription.body, 'properties.eventDeliverySchema')).toBe('EventGridSchema');
    const destination = objectAt(subscription.body, 'properties.destination');
    expect(destination.endpointType).toBe('AzureFunction');
    expect(exprText(at(destination, 'properties.resourceId'))).toBe("'${functionApp.id}/functions/${functionName}'");
    expect(eventGrid.params.get('functionName')?.defaultValue).toBe('secretExpiryEvents');
    expect(JSON.stringify(subscription.body)).not.toMatch(/endpointUrl|code=/);
  });

  it('names an Event Grid trigger the function app really registers', () => {
    const registry = captureFunctionApp(join(__dirname, '..', '..', 'src', 'index.ts'));
    const triggers = registry.byTrigger('eventGridTrigger').map((f) => f.name);
    expect(triggers).toContain(eventGrid.params.get('functionName')?.defaultValue);
  });

  it('creates the subscription only once the code is deployed (Event Grid checks that the function exists)', () => {
    const subscription = one(eventGrid, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
    expect(subscription.condition).toBe('(subscriptionEnabled)');
    expect(eventGrid.params.get('subscriptionEnabled')?.defaultValue).toBe(false);
    expect(main.params.get('secretExpiryEventsEnabled')?.defaultValue).toBe(false);
    const events = main.modules.find((m) => m.source === 'app/eventgrid.bicep');
    expect(exprText(at(events?.body, 'params.subscriptionEnabled'))).toBe('secretExpiryEventsEnabled');
    expect(exprText(main.outputs.get('SECRET_EXPIRY_EVENTS_ENABLED')?.value)).toBe('secretExpiryEventsEnabled');
  });
});

describe('alert on the product alert lines', () => {
  it('runs a scheduled log query for fno-graph-mail.alert on the workspace, split by environment', () => {
    const rule = one(alerts, 'Microsoft.Insights/scheduledQueryRules');
    expect(rule.body.kind).toBe('LogAlert');
    const properties = objectAt(rule.body, 'properties');
    expect(properties.enabled).toBe(true);
    expect(properties.evaluationFrequency).toBe('PT15M');
    expect(at(properties, 'scopes')).toHaveLength(1);
    expect(exprText(at(properties, 'scopes.0'))).toBe('workspaceId');
    expect(at(properties, 'criteria.allOf')).toHaveLength(1);
    const first = at(properties, 'criteria.allOf.0');
    expect(at(first, 'operator')).toBe('GreaterThan');
    expect(at(first, 'threshold')).toBe(0);
    expect(at(first, 'dimensions')).toEqual([{ name: 'environmentId', operator: 'Include', values: ['*'] }]);
    expect(exprText(at(first, 'query'))).toBe('alertQuery');

    const query = alerts.vars.get('alertQuery');
    expect(typeof query).toBe('string');
    expect(query).toContain('AppTraces');
    expect(query).toContain('"fno-graph-mail.alert"');
    expect(query).toMatch(/project .*environmentId/);

    const alertsModule = main.modules.find((m) => m.source === 'app/alerts.bicep');
    expect(exprText(at(alertsModule?.body, 'params.workspaceId'))).toBe('logAnalytics.outputs.resourceId');
  });

  it('is created after Application Insights, without the creation-time query check a new workspace fails', () => {
    const rule = one(alerts, 'Microsoft.Insights/scheduledQueryRules');
    expect(at(rule.body, 'properties.skipQueryValidation')).toBe(true);
    const alertsModule = main.modules.find((m) => m.source === 'app/alerts.bicep');
    expect((at(alertsModule?.body, 'dependsOn') as BicepValue[] | undefined)?.map((d) => exprText(d))).toEqual(['appInsights']);
  });

  it('is a query Azure Monitor accepts on the AppTraces table, with the environmentId dimension it splits by', () => {
    const query = alerts.vars.get('alertQuery');
    if (typeof query !== 'string') throw new Error('alertQuery is not a plain string');
    const analysis = analyzeKql(query, { AppTraces: APP_TRACES_SCHEMA });
    expect(analysis.diagnostics).toEqual([]);
    // A dimension must be a string (or number) column of the result; TimeGenerated keeps the rows in the window.
    expect(analysis.columns).toMatchObject({ TimeGenerated: 'datetime', environmentId: 'string', subject: 'string' });
    const rule = one(alerts, 'Microsoft.Insights/scheduledQueryRules');
    for (const dimension of at(rule.body, 'properties.criteria.allOf.0.dimensions') as Array<{ name: string }>) {
      expect([dimension.name, analysis.columns[dimension.name]]).toEqual([dimension.name, 'string']);
    }
  });

  it('would catch a wrong column, table or operator in that query (so the check above can fail)', () => {
    const query = alerts.vars.get('alertQuery') as string;
    const broken = [query.replace('| where Message', '| where Mesage'), query.replace('AppTraces', 'traces'), query.replace('| project', '| projekt')];
    for (const text of broken) {
      expect(broken.indexOf(text) >= 0 && text !== query).toBe(true);
      expect(analyzeKql(text, { AppTraces: APP_TRACES_SCHEMA }).diagnostics.filter((d) => d.severity === 'Error').length).toBeGreaterThan(0);
    }
  });

  it('finds the lines the notify activity writes, and reads environment and subject out of them', async () => {
    const logged: string[] = [];
    const log = { info: () => undefined, warn: (l: string) => logged.push(`warn ${l}`), error: (l: string) => logged.push(`error ${l}`) };
    const deps = { settings: { authorityHost: 'https://login.microsoftonline.com', homeTenantId: 'home', alertRecipients: [] } } as unknown as ActivityDeps;
    const subject = 'Rotation failed for contoso-prod: Graph 403 "Authorization_RequestDenied"';
    await notify(deps)({ environmentId: 'contoso-prod', kind: 'alert', subject, lines: ['Grant the permission, then rotate again.'] }, log);
    await notify(deps)({ environmentId: 'contoso-uat', kind: 'action-needed', subject: 'Consent needed', lines: [] }, log);
    const query = alerts.vars.get('alertQuery');
    if (typeof query !== 'string') throw new Error('alertQuery is not a plain string');
    const filter = /contains "([^"]+)"/.exec(query)?.[1] ?? '<no contains filter>';
    const matched = logged.filter((l) => l.includes(filter));
    // Only the alert, and it is logged at error level.
    expect(matched).toHaveLength(1);
    expect(matched[0]?.startsWith('error ')).toBe(true);
    const message = (matched[0] ?? '').slice('error '.length);
    // parse_json(Message) reads both fields.
    expect(JSON.parse(message)).toMatchObject({ environmentId: 'contoso-prod', subject });
    expect(query).toContain('tostring(alert.environmentId)');
    expect(query).toContain('tostring(alert.subject)');
    // The fallback regexes find them too (a subject with quotes is cut at the first one).
    const regexes = [...query.matchAll(/extract\(@'(.*?)', 1, Message\)/g)].map((m) => new RegExp(m[1] ?? ''));
    expect(regexes).toHaveLength(2);
    expect(regexes.map((r) => r.exec(message)?.[1])).toEqual(['contoso-prod', 'Rotation failed for contoso-prod: Graph 403 \\']);
  });

  it('never samples away the lines it counts: traces are excluded from Application Insights sampling', () => {
    const hostJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'host.json'), 'utf8')) as {
      logging: { applicationInsights: { samplingSettings: { isEnabled: boolean; excludedTypes?: string } } };
    };
    const sampling = hostJson.logging.applicationInsights.samplingSettings;
    // https://learn.microsoft.com/azure/azure-functions/functions-host-json#applicationinsightssamplingsettings
    const excluded = (sampling.excludedTypes ?? '').split(';').map((t) => t.trim());
    expect(sampling.isEnabled === false || excluded.includes('Trace')).toBe(true);
    expect(excluded).toEqual(expect.arrayContaining(['Request', 'Exception', 'Trace']));
  });

  it('mails the optional alert address through an action group', () => {
    const group = one(alerts, 'Microsoft.Insights/actionGroups');
    expect(group.condition).toBe('(!empty(alertEmail))');
    expect(at(group.body, 'properties.emailReceivers')).toHaveLength(1);
    expect(exprText(at(group.body, 'properties.emailReceivers.0.emailAddress'))).toBe('alertEmail');
    // Azure refuses a short name longer than 12 characters.
    expect(at(group.body, 'properties.groupShortName')).toMatch(/^.{1,12}$/);
  });
});

describe('roles of the managed identity (rbac.bicep)', () => {
  const ROLE = {
    keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
    storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
    storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
    storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
    monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
    keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  };
  const KEY_VAULT_ROLE_IDS = new Set([
    ROLE.keyVaultSecretsOfficer,
    ROLE.keyVaultSecretsUser,
    '00482a5a-887f-4fb3-b363-3b7fe8e74483', // Key Vault Administrator
    '21090545-7ca7-4776-b22c-e363652d74d2', // Key Vault Reader
    'f25e0fa2-a7c8-4377-a976-54943a77a395', // Key Vault Contributor
  ]);

  function assignments(): Array<{ role: string; scope: string; principal: string; principalType: unknown; condition: string | undefined }> {
    const roleIds = rbac.vars.get('roleIds') as Record<string, string>;
    const lookup = (text: string | undefined): string => {
      const match = /roleIds\.(\w+)/.exec(text ?? '');
      return (match && roleIds[match[1] ?? '']) ?? `<${text}>`;
    };
    return declared(rbac, 'Microsoft.Authorization/roleAssignments').map((r) => ({
      role: lookup(exprText(at(r.body, 'properties.roleDefinitionId'))),
      scope: exprText(r.body.scope) ?? '<none>',
      principal: exprText(at(r.body, 'properties.principalId')) ?? '<none>',
      principalType: at(r.body, 'properties.principalType'),
      condition: r.condition,
    }));
  }
  const identity = (role: string, scope: string) => ({ role, scope, principal: 'managedIdentityPrincipalId', principalType: 'ServicePrincipal', condition: undefined });

  it('grants the managed identity exactly five roles, each on one resource', () => {
    expect(rbac.vars.get('roleIds')).toEqual(ROLE);
    const forIdentity = assignments().filter((a) => a.principal === 'managedIdentityPrincipalId');
    expect(forIdentity).toEqual(
      expect.arrayContaining([
        identity(ROLE.keyVaultSecretsOfficer, 'vault'),
        identity(ROLE.storageBlobDataOwner, 'storage'),
        identity(ROLE.storageQueueDataContributor, 'storage'),
        identity(ROLE.storageTableDataContributor, 'storage'),
        identity(ROLE.monitoringMetricsPublisher, 'applicationInsights'),
      ]),
    );
    expect(forIdentity).toHaveLength(5);
    // Besides those, only the optional secret reader.
    expect(assignments().filter((a) => a.principal !== 'managedIdentityPrincipalId').map((a) => a.principal)).toEqual(['secretReaderPrincipalId']);
    const rbacModule = main.modules.find((m) => m.source === 'rbac.bicep');
    expect(exprText(at(rbacModule?.body, 'params.managedIdentityPrincipalId'))).toBe('identity.outputs.principalId');
    expect(exprText(at(rbacModule?.body, 'params.keyVaultName'))).toBe('keyVault.outputs.name');
  });

  it('gives Key Vault Secrets Officer on this vault to the identity, and no other Key Vault role to it', () => {
    const vaultRoles = assignments().filter((a) => KEY_VAULT_ROLE_IDS.has(a.role) && a.principal === 'managedIdentityPrincipalId');
    expect(vaultRoles).toEqual([identity(ROLE.keyVaultSecretsOfficer, 'vault')]);
    const vault = rbac.resources.find((r) => r.symbol === 'vault');
    expect(vault).toMatchObject({ type: 'Microsoft.KeyVault/vaults', existing: true });
    expect(exprText(vault?.body.name)).toBe('keyVaultName');
  });

  it('lets one optional person or group read secrets (Key Vault Secrets User on this vault, nothing else) for manual delivery', () => {
    const reader = assignments().filter((a) => a.principal === 'secretReaderPrincipalId');
    // No principalType: a user or a group may be named.
    expect(reader).toEqual([{ role: ROLE.keyVaultSecretsUser, scope: 'vault', principal: 'secretReaderPrincipalId', principalType: undefined, condition: '(!empty(secretReaderPrincipalId))' }]);
    expect(rbac.params.get('secretReaderPrincipalId')?.defaultValue).toBe('');
    expect(main.params.get('secretReaderPrincipalId')?.defaultValue).toBe('');
    const rbacModule = main.modules.find((m) => m.source === 'rbac.bicep');
    expect(exprText(at(rbacModule?.body, 'params.secretReaderPrincipalId'))).toBe('secretReaderPrincipalId');
    // Set with `azd env set SECRET_READER_PRINCIPAL_ID <object id>`; empty by default, so nobody reads secrets.
    const { parameters } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, { value: string }> };
    expect(parameters.secretReaderPrincipalId?.value).toBe('${SECRET_READER_PRINCIPAL_ID}');
  });

  it('declares role assignments nowhere but rbac.bicep, and gives the deploying user none', () => {
    for (const file of [main, api, keyVault, eventGrid, alerts]) {
      expect([file.path, declared(file, 'Microsoft.Authorization/roleAssignments')]).toEqual([file.path, []]);
    }
    expect(main.params.has('principalId')).toBe(false);
    // AVM modules can assign roles through a `roleAssignments` parameter: none of them may.
    for (const m of main.modules) expect([m.source, at(m.body, 'params.roleAssignments')]).toEqual([m.source, undefined]);
  });

  it('keeps role assignment names stable across deployments (guid of scope, principal and role)', () => {
    for (const r of declared(rbac, 'Microsoft.Authorization/roleAssignments')) {
      expect(exprText(r.body.name)).toMatch(/^guid\(\w+\.id, (managedIdentityPrincipalId|secretReaderPrincipalId), roleIds\.\w+\)$/);
    }
  });
});

describe('outputs', () => {
  it('are UPPER_SNAKE and give the hooks what they read', () => {
    for (const name of main.outputs.keys()) expect(name).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    for (const needed of [
      'AZURE_TENANT_ID',
      'AZURE_RESOURCE_GROUP',
      'AZURE_FUNCTION_APP_NAME',
      'SERVICE_API_URI',
      'AZURE_KEY_VAULT_NAME',
      'MANAGED_IDENTITY_CLIENT_ID',
      'MANAGED_IDENTITY_PRINCIPAL_ID',
      'MANAGED_IDENTITY_NAME',
      'CONSENT_STRATEGY',
      'DELIVERY_STRATEGY',
      'GRAPH_BASE_URL',
      'SECRET_EXPIRY_EVENTS_ENABLED',
    ]) {
      expect(main.outputs.has(needed)).toBe(true);
    }
    // An output named AZURE_CLIENT_ID would land in the hooks' environment and change which identity the Azure SDKs use.
    expect(main.outputs.has('AZURE_CLIENT_ID')).toBe(false);
  });
});
