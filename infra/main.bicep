// fno-graph-mail on Azure: a Flex Consumption function app (Node 22) with a user-assigned managed
// identity, its storage (Durable Functions task hub and deployment package, identity-based access only),
// the Key Vault that holds every environment's client secret, monitoring with an alert on the product's
// alert log lines, and the vault's secret expiry events routed to the function `secretExpiryEvents`.
// azd provisions it (`azd up`); every role the identity gets is in rbac.bicep.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Key Vault name override (3-24 letters, digits, hyphens), e.g. a vault recovered from soft delete. Empty: a name unique to this deployment.')
param keyVaultName string = ''

@description('Create the Event Grid subscription from the vault to the function secretExpiryEvents. Event Grid checks that the function exists, so this is turned on after the first code deployment (see azure.yaml).')
param secretExpiryEventsEnabled bool = false

@description('Email address that receives the alert on fno-graph-mail.alert log lines (empty: the alert fires in the portal only).')
param alertEmail string = ''

@description('SECRET_READER_PRINCIPAL_ID: object id of a person or group given Key Vault Secrets User on the vault, to read a new secret for delivery strategy manual; manual delivery instructions name it (empty: nobody).')
param secretReaderPrincipalId string = ''

@description('AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: longest wait between two polls of the Durable Functions queues (hh:mm:ss; Microsoft recommends 10 seconds or less on Flex Consumption).')
param durableQueuePollingInterval string = '00:00:10'

@minValue(0)
@maxValue(10)
@description('Always-ready instances for the durable scale group (orchestrations and activities start without a cold start, billed while idle); 0 scales to zero.')
param durableAlwaysReadyInstances int = 0

// ---- product settings (src/config.ts): defaults are the product's own ------------------------------

@description('DURABLE_TASK_HUB: Durable Functions task hub name.')
param durableTaskHub string = 'FnoGraphMail'

@description('OPERATOR_CLIENT_ID: partner mode, the client id of the multi-tenant operator application (empty: single tenant). Set by the post-provision step when PARTNER_MODE=true.')
param operatorClientId string = ''

@description('AUTHORITY_HOST: Entra authority host.')
param authorityHost string = 'https://login.microsoftonline.com'

@description('GRAPH_BASE_URL: Microsoft Graph endpoint.')
param graphBaseUrl string = 'https://graph.microsoft.com'

@description('FINOPS_ALLOWED_HOSTS: F&O hosts the product may send a secret to.')
param finopsAllowedHosts string = '*.operations.dynamics.com'

@description('FINOPS_CREDENTIAL_ENTITY: entity set of the F&O extension that stores the Graph credential.')
param finopsCredentialEntity string = 'GraphEmailCredentials'

@description('FINOPS_CREDENTIAL_KEY: OData key of the record in that entity set (empty: the EmailParameters key).')
param finopsCredentialKey string = ''

@description('FINOPS_CREDENTIAL_APP_ID_FIELD: property holding the application id.')
param finopsCredentialAppIdField string = 'ApplicationId'

@description('FINOPS_CREDENTIAL_SECRET_FIELD: property holding the client secret.')
param finopsCredentialSecretField string = 'ClientSecret'

@allowed([ 'grant', 'request' ])
@description('CONSENT_STRATEGY: grant (the identity grants admin consent itself) or request (an administrator does).')
param consentStrategy string = 'grant'

@allowed([ 'auto', 'odata', 'manual' ])
@description('DELIVERY_STRATEGY: auto (odata where the F&O extension is installed, else manual), odata (written through the F&O extension) or manual (a person enters it).')
param deliveryStrategy string = 'auto'

@description('APP_DISPLAY_NAME_TEMPLATE: display name of each environment app registration; must contain {environmentId}.')
param appDisplayNameTemplate string = 'F&O Graph mail ({environmentId})'

@description('SECRET_LIFETIME_DAYS: lifetime of each new client secret (1-730).')
param secretLifetimeDays string = '180'

@description('ROTATION_LEAD_DAYS: rotate when the secret expires within this many days.')
param rotationLeadDays string = '30'

@description('ROTATION_GRACE_HOURS: least hours the previous secret stays valid after F&O receives the new one.')
param rotationGraceHours string = '24'

@description('ROTATION_REVOKE_MAX_HOURS: longest wait for F&O to use the new secret before the previous one is kept and an alert raised.')
param rotationRevokeMaxHours string = '168'

@description('EVIDENCE_POLL_MINUTES: how often a run waiting for F&O reads the Entra sign-in log.')
param evidencePollMinutes string = '5'

@description('EVIDENCE_TIMEOUT_HOURS: how long a run waits for Entra to show F&O using a delivered secret.')
param evidenceTimeoutHours string = '72'

@description('EVIDENCE_SILENCE_HOURS: hours without a sign-in by F&O after which the drift check alerts (0: never).')
param evidenceSilenceHours string = '48'

@description('ROTATION_SWEEP_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the rotation sweep.')
param rotationSweepSchedule string = '0 0 3 * * *'

@description('DRIFT_CHECK_SCHEDULE: NCRONTAB schedule (six fields, UTC) of the drift check.')
param driftCheckSchedule string = '0 30 4 * * *'

@description('ROTATION_CONCURRENCY: rotations the sweep starts at once.')
param rotationConcurrency string = '10'

@description('CONSENT_TIMEOUT_HOURS: how long consent strategy request waits for an administrator.')
param consentTimeoutHours string = '72'

@description('CONSENT_POLL_MINUTES: how often a waiting setup checks Graph for consent.')
param consentPollMinutes string = '5'

@description('MANUAL_DELIVERY_TIMEOUT_HOURS: how long delivery strategy manual waits for a person.')
param manualDeliveryTimeoutHours string = '72'

@description('MANUAL_DELIVERY_REMINDER_HOURS: interval of reminders while a run waits for a person.')
param manualDeliveryReminderHours string = '24'

@description('SENDER_MAILBOX: mailbox test messages and alert mail are sent from (empty: none).')
param senderMailbox string = ''

@description('ALERT_RECIPIENTS: comma-separated addresses of alert and action-needed mail.')
param alertRecipients string = ''

// ---- names ------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-fno-${resourceToken}'
// The vault is purge-protected: after `azd down` its name stays reserved for the 90 days it is soft-deleted
// (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview), and ARM refuses to create a
// vault of that name again. Reusing it would take `createMode: 'recover'`, which fails when no deleted vault
// of the name exists, and a template cannot look the deleted vaults up before choosing
// (https://learn.microsoft.com/azure/templates/microsoft.keyvault/vaults). So the name is seeded with the
// managed identity's principal id: the same for every provision of one deployment, new once `azd down` has
// deleted the identity. The old vault stays recoverable by hand (README, troubleshooting).
var vaultName = !empty(keyVaultName) ? keyVaultName : 'kv-${toLower(uniqueString(subscription().id, environmentName, location, identity.outputs.principalId))}'
// Flex Consumption reads the app package from this container, with the app's identity.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

// ---- identity, plan, storage, monitoring --------------------------------------------------------------

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-fno-${resourceToken}'
    location: location
    tags: tags
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-fno-${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    allowBlobPublicAccess: false
    // Identity-based connections only: no account key can reach the task hub's history.
    allowSharedKeyAccess: false
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [ { name: deploymentContainerName } ]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: 'log-fno-${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module appInsights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'appInsights'
  scope: rg
  params: {
    name: 'appi-fno-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    // Telemetry is accepted only from Entra-authenticated senders (the app's identity).
    disableLocalAuth: true
  }
}

// ---- Key Vault, function app, events, alert, roles --------------------------------------------------------

module keyVault 'app/keyvault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: vaultName
    location: location
    tags: tags
  }
}

// Every key of SETTING_NAMES in src/config.ts but DASHBOARD_URL, which app/api.bicep adds from the app's
// real host name, and nothing else: test/infra keeps them in step.
var productSettings = {
  DURABLE_TASK_HUB: durableTaskHub
  ENTRA_TENANT_ID: tenant().tenantId
  AZURE_CLIENT_ID: identity.outputs.clientId
  OPERATOR_CLIENT_ID: operatorClientId
  AUTHORITY_HOST: authorityHost
  GRAPH_BASE_URL: graphBaseUrl
  KEY_VAULT_URL: keyVault.outputs.uri
  FINOPS_ALLOWED_HOSTS: finopsAllowedHosts
  FINOPS_CREDENTIAL_ENTITY: finopsCredentialEntity
  FINOPS_CREDENTIAL_KEY: finopsCredentialKey
  FINOPS_CREDENTIAL_APP_ID_FIELD: finopsCredentialAppIdField
  FINOPS_CREDENTIAL_SECRET_FIELD: finopsCredentialSecretField
  CONSENT_STRATEGY: consentStrategy
  DELIVERY_STRATEGY: deliveryStrategy
  APP_DISPLAY_NAME_TEMPLATE: appDisplayNameTemplate
  SECRET_LIFETIME_DAYS: secretLifetimeDays
  ROTATION_LEAD_DAYS: rotationLeadDays
  ROTATION_GRACE_HOURS: rotationGraceHours
  ROTATION_REVOKE_MAX_HOURS: rotationRevokeMaxHours
  EVIDENCE_POLL_MINUTES: evidencePollMinutes
  EVIDENCE_TIMEOUT_HOURS: evidenceTimeoutHours
  EVIDENCE_SILENCE_HOURS: evidenceSilenceHours
  ROTATION_SWEEP_SCHEDULE: rotationSweepSchedule
  DRIFT_CHECK_SCHEDULE: driftCheckSchedule
  ROTATION_CONCURRENCY: rotationConcurrency
  CONSENT_TIMEOUT_HOURS: consentTimeoutHours
  CONSENT_POLL_MINUTES: consentPollMinutes
  MANUAL_DELIVERY_TIMEOUT_HOURS: manualDeliveryTimeoutHours
  MANUAL_DELIVERY_REMINDER_HOURS: manualDeliveryReminderHours
  SECRET_READER_PRINCIPAL_ID: secretReaderPrincipalId
  SENDER_MAILBOX: senderMailbox
  ALERT_RECIPIENTS: alertRecipients
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: plan.outputs.resourceId
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: appInsights.outputs.name
    appSettings: productSettings
    durableQueuePollingInterval: durableQueuePollingInterval
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
  }
}

// The system topic is named after its vault, never after the deployment. A source has at most one system topic
// (https://learn.microsoft.com/azure/event-grid/system-topics), and a topic's source is not something a later
// deployment can change: Microsoft documents no update of it, and Terraform's azurerm provider replaces a topic
// whose source changes (https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/resources/eventgrid_system_topic).
// Named after the deployment, the topic would keep its first vault as source, and KEY_VAULT_NAME pointing at a
// recovered vault after `azd down` would fail at provision. Named after the vault, that vault gets a topic of its
// own, and one vault never gets two.
module events 'app/eventgrid.bicep' = {
  name: 'events'
  scope: rg
  params: {
    name: 'evgt-${vaultName}'
    location: location
    tags: tags
    keyVaultName: keyVault.outputs.name
    functionAppName: api.outputs.name
    subscriptionEnabled: secretExpiryEventsEnabled
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    name: 'alert-fno-${resourceToken}'
    location: location
    tags: tags
    workspaceId: logAnalytics.outputs.resourceId
    alertEmail: alertEmail
  }
  // The rule reads AppTraces, which Application Insights writes into the workspace: create it after the component.
  dependsOn: [ appInsights ]
}

module rbac 'rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    managedIdentityPrincipalId: identity.outputs.principalId
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
    applicationInsightsName: appInsights.outputs.name
    secretReaderPrincipalId: secretReaderPrincipalId
  }
}

// ---- outputs (azd stores them in the environment; the hooks read them) ------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostname}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = logAnalytics.outputs.name
output AZURE_APPLICATION_INSIGHTS_NAME string = appInsights.outputs.name
output EVENT_GRID_SYSTEM_TOPIC_NAME string = events.outputs.systemTopicName
output SECRET_EXPIRY_EVENTS_ENABLED bool = secretExpiryEventsEnabled
output MANAGED_IDENTITY_NAME string = identity.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output CONSENT_STRATEGY string = consentStrategy
output DELIVERY_STRATEGY string = deliveryStrategy
output GRAPH_BASE_URL string = graphBaseUrl
output FINOPS_CREDENTIAL_ENTITY string = finopsCredentialEntity
output FINOPS_CREDENTIAL_KEY string = finopsCredentialKey
output FINOPS_CREDENTIAL_APP_ID_FIELD string = finopsCredentialAppIdField
output FINOPS_CREDENTIAL_SECRET_FIELD string = finopsCredentialSecretField
