// Key Vault's own events, as an Event Grid system topic on the vault, and the subscription that
// delivers the two expiry events of the product's secrets to the Event Grid trigger function
// `secretExpiryEvents`. The destination is the function itself (endpoint type AzureFunction, by resource
// id): Event Grid fetches the function's key and performs the validation handshake, so no key appears
// here. It also refuses to create the subscription before the function exists, hence `subscriptionEnabled`.
param name string
param location string = resourceGroup().location
param tags object = {}
param keyVaultName string
param functionAppName string
param functionName string = 'secretExpiryEvents'
param subscriptionEnabled bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource secretExpiry 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: systemTopic
  name: 'secret-expiry-to-function'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNearExpiry'
        'Microsoft.KeyVault.SecretExpired'
      ]
      // The subject is the secret name: only the product's secrets wake the function.
      subjectBeginsWith: 'fno-graph-mail-'
    }
    // Delivery is retried for a day; the daily rotation sweep is the backstop after that.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicName string = systemTopic.name
