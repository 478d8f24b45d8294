// The function app: Flex Consumption (FC1), Node 22, running as the user-assigned managed identity.
// The Functions host reaches its storage (task hub, deployment package) and Application Insights with
// that identity; the product's own settings come in `appSettings` and hold no secret.
param name string
param location string = resourceGroup().location
param tags object = {}
@description('azd deploys the code to the app tagged with this service name (azure.yaml).')
param serviceName string = 'api'
param appServicePlanId string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
@description('The product settings (every key of SETTING_NAMES in src/config.ts but DASHBOARD_URL, added here).')
param appSettings object
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([ 2048, 4096 ])
param instanceMemoryMB int = 2048
@description('Longest wait between two polls of the Durable Functions queues (hh:mm:ss).')
param durableQueuePollingInterval string = '00:00:10'
@minValue(0)
@maxValue(10)
@description('Always-ready instances of the per-function scale group `durable` (orchestrations and activities); 0 scales to zero.')
param durableAlwaysReadyInstances int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// AzureWebJobsStorage in its identity-based form: the host (and the Durable Functions task hub in it)
// signs in as the user-assigned identity; the account accepts no shared key.
var hostStorageSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

// Read by the Functions host. The connection string only names the ingestion endpoint: with local
// authentication disabled on the component, telemetry is accepted only with the identity's token.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Microsoft's recommendations for Durable Functions (Azure Storage provider) on Flex Consumption: poll the
// queues every 10 seconds or less, and optionally keep instances of the `durable` scale group ready.
// https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
// The polling interval overrides host.json through an app setting, the documented way to change host.json per app:
// https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values
var durableSettings = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: durableQueuePollingInterval
}

// Product settings only the created app can tell. Its host name is not always `<name>.azurewebsites.net`:
// apps created since June 2024 may get `<name>-<hash>.<region>-01.azurewebsites.net` (App Service "unique
// default hostname": https://github.com/MicrosoftDocs/azure-docs/blob/main/articles/app-service/includes/regionalization-note.md),
// so the dashboard link is read from the site's defaultHostName. The settings are a child of the site, so
// reading the site here is not circular.
var siteSettings = {
  DASHBOARD_URL: 'https://${functionApp.properties.defaultHostName}/api/dashboard'
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: appServicePlanId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Billed while idle: https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#always-ready-instances
        alwaysReady: durableAlwaysReadyInstances > 0 ? [ { name: 'durable', instanceCount: durableAlwaysReadyInstances } ] : []
      }
      // Flex Consumption takes the worker runtime here: FUNCTIONS_WORKER_RUNTIME is not a valid app setting on it.
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(appSettings, siteSettings, hostStorageSettings, monitoringSettings, durableSettings)
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostname string = functionApp.properties.defaultHostName
