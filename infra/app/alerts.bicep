// The alert on the product's own alert events. The `notify` activity writes one JSON log line per alert,
// `{"event":"fno-graph-mail.alert","environmentId":...,"subject":...,"details":[...]}`, at error level; the Functions
// host sends it to Application Insights, whose workspace keeps it in the AppTraces table. The rule counts
// those lines every 15 minutes, one alert per environment, and mails `alertEmail` when it is set.
param name string
param location string = resourceGroup().location
param tags object = {}
@description('Resource id of the Log Analytics workspace behind Application Insights.')
param workspaceId string
@description('Email address of the action group (empty: no action group; the alert shows in the portal).')
param alertEmail string = ''

// The line is the whole message; the regexes are a fallback should the host ever prefix it.
var alertQuery = '''
AppTraces
| where Message contains "fno-graph-mail.alert"
| extend alert = parse_json(Message)
| extend environmentId = coalesce(tostring(alert.environmentId), extract(@'"environmentId":"([^"]*)"', 1, Message)),
         subject = coalesce(tostring(alert.subject), extract(@'"subject":"([^"]*)"', 1, Message))
| project TimeGenerated, environmentId, subject, AppRoleName, OperationId
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'fnographmail'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource alertRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: name
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'fno-graph-mail: an environment needs attention'
    description: 'A setup or rotation of fno-graph-mail logged an alert (fno-graph-mail.alert). The subject and environmentId dimensions say which environment; the run status in the HTTP API says what to do.'
    severity: 1
    enabled: true
    // Azure Monitor checks the query against the workspace when the rule is created, and the AppTraces
    // table appears only once Application Insights has sent it a first trace: on a first provision the
    // check fails. The query is checked offline instead (test/infra, with the Kusto language service).
    // https://learn.microsoft.com/azure/templates/microsoft.insights/2023-12-01/scheduledqueryrules
    skipQueryValidation: true
    scopes: [ workspaceId ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: alertQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'environmentId'
              operator: 'Include'
              values: [ '*' ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: empty(alertEmail) ? [] : [ actionGroup.id ]
    }
  }
}

output alertRuleName string = alertRule.name
