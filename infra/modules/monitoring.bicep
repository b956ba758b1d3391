// Alerts and the DR workbook, on the app's (workspace-based) Application Insights: four log search
// alert rules over the app's custom metrics (customMetrics, names and dimensions from shared/telemetry.py),
// one action group (email, and a webhook when one is given), and an Azure Monitor workbook.
// The rules query with their own user-assigned identity (Reader on the component and its workspace),
// not with the permissions of whoever deployed last. See infra/README.md ("Alerts and the workbook").

param location string
param tags object
param resourceToken string

@description('Name of the app\'s Application Insights component and of its Log Analytics workspace (app.bicep).')
param applicationInsightsName string
param logAnalyticsWorkspaceName string

@description('Email address the action group notifies.')
param alertEmail string

@secure()
@description('Webhook the action group calls (common alert schema); empty: no webhook.')
param alertWebhookUrl string = ''

@description('Recovery point objective in hours (DR_RPO_TARGET_HOURS): the exposure alert\'s threshold.')
param rpoTargetHours int

@description('Hours between two scheduled syncs (the period of DR_SYNC_SCHEDULE).')
param syncPeriodHours int

// A sync is late when none has run for its period plus this margin (a run lists, plans and enqueues
// in minutes; the margin also covers telemetry ingestion delay).
var syncMarginHours = 2
var syncWindowHours = syncPeriodHours + syncMarginHours

// Metric names and dimensions as the app's telemetry (shared/telemetry.py) records them in the
// customMetrics table; tests/infra checks them against the app.
var metric = {
  copyDuration: 'docintel_dr.copy.duration'
  copyJobs: 'docintel_dr.copy.jobs'
  pollReads: 'docintel_dr.poll.reads'
  items: 'docintel_dr.items'
  exposure: 'docintel_dr.exposure.seconds'
  syncRuns: 'docintel_dr.sync.runs'
}

// Built-in role: Reader (read access, which includes running log queries on the resource).
var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

// ---------------------------------------------------------------------------------------------
// Who is told: one action group.
// ---------------------------------------------------------------------------------------------

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-docintel-dr-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'docintel-dr'
    enabled: true
    emailReceivers: [
      {
        name: 'email'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
    // The URL may carry a secret (a token in the path or query): it stays in this resource only.
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// The identity the rules query with, allowed to read the component and its workspace only.
// ---------------------------------------------------------------------------------------------

resource alertIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-alerts-${resourceToken}'
  location: location
  tags: tags
}

resource readerOnInsights 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, alertIdentity.id, readerRole)
  scope: appInsights
  properties: {
    principalId: alertIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
  }
}

resource readerOnWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, alertIdentity.id, readerRole)
  scope: workspace
  properties: {
    principalId: alertIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
  }
}

var ruleIdentity = {
  type: 'UserAssigned'
  userAssignedIdentities: {
    '${alertIdentity.id}': {}
  }
}

// Text added to every notification: where to look next.
var ruleActions = {
  actionGroups: [
    actionGroup.id
  ]
  customProperties: {
    workbook: 'docintel-dr: disaster recovery (Application Insights ${applicationInsightsName}, Workbooks)'
    runbook: 'README.md of docintel-dr: Events, Scheduled sync, DR status and the CLI'
  }
}

// ---------------------------------------------------------------------------------------------
// The rules. Queries read customMetrics of the component; dimension values are compared without
// regard to case (=~). Each rule is stateful: it resolves by itself once its condition clears.
// ---------------------------------------------------------------------------------------------

// A copy job failed (the same jobs as the docintel-dr.copy.failed events with status failed), one
// alert per reason class.
var copyFailedQuery = join([
  'customMetrics'
  '| where name == "${metric.copyJobs}"'
  '| where tostring(customDimensions["outcome"]) =~ "failed"'
  '| extend reason_class = tostring(customDimensions["reason_class"])'
  '| summarize failed = sum(valueSum) by reason_class'
], '\n')

resource copyFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-copy-failed-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: ruleIdentity
  properties: {
    displayName: 'docintel-dr: a copy failed'
    description: 'A copy job ended as failed (its docintel-dr.copy.failed event names the item, the target and the error). GET /api/copies?status=failed lists them; the workbook shows failures by reason.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: copyFailedQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'failed'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'reason_class'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: ruleActions
  }
  dependsOn: [
    readerOnInsights
    readerOnWorkspace
  ]
}

// A target's exposure (the longest an item has lacked a current, matching copy there (missing, stale, blocked or diverged)) above the RPO, one alert
// per target. The latest value the app reported within the sync window counts.
var exposureQuery = join([
  'customMetrics'
  '| where timestamp > ago(${syncWindowHours}h)'
  '| where name == "${metric.exposure}"'
  '| extend target = tostring(customDimensions["target"])'
  '| summarize arg_max(timestamp, value) by target'
  '| project target, exposure_hours = value / 3600.0'
], '\n')

resource exposureAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-exposure-over-rpo-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: ruleIdentity
  properties: {
    displayName: 'docintel-dr: exposure above the RPO'
    description: 'At a target, an item has lacked a current, matching copy (missing, stale, blocked or diverged) for longer than the RPO (DR_RPO_TARGET_HOURS = ${rpoTargetHours} h). GET /api/status or docintel-dr status names the items; docintel-dr sync copies them.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: exposureQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'exposure_hours'
          operator: 'GreaterThan'
          threshold: rpoTargetHours
          dimensions: [
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: ruleActions
  }
  dependsOn: [
    readerOnInsights
    readerOnWorkspace
  ]
}

// A sync run could not list the source (source_listed = false): nothing was planned or copied.
var sourceUnlistedQuery = join([
  'customMetrics'
  '| where name == "${metric.syncRuns}"'
  '| where tostring(customDimensions["source_listed"]) =~ "false"'
  '| extend trigger = tostring(customDimensions["trigger"])'
  '| summarize runs = sum(valueSum) by trigger'
], '\n')

resource sourceUnlistedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-source-unlisted-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: ruleIdentity
  properties: {
    displayName: 'docintel-dr: the source could not be listed'
    description: 'A sync could not list the primary Document Intelligence resource (DR_PRIMARY): nothing was copied. Its docintel-dr.sync.completed event and the sync reply (503 source-unavailable) carry the error.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: sourceUnlistedQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'runs'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'trigger'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: ruleActions
  }
  dependsOn: [
    readerOnInsights
    readerOnWorkspace
  ]
}

// No sync run (any outcome, any trigger) within the schedule's period plus the margin. The summarize
// yields one row, with runs = 0, when there is no data at all, so silence alerts too.
var syncLateQuery = join([
  'customMetrics'
  '| where timestamp > ago(${syncWindowHours}h)'
  '| where name == "${metric.syncRuns}"'
  '| summarize runs = count()'
], '\n')

resource syncLateAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-sync-late-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: ruleIdentity
  properties: {
    displayName: 'docintel-dr: no sync within its schedule'
    description: 'No sync ran in the last ${syncWindowHours} h (a DR_SYNC_SCHEDULE period of ${syncPeriodHours} h plus ${syncMarginHours} h). Check that the function app runs and its sync_timer function; POST /api/sync runs one now.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: syncLateQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'runs'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: ruleActions
  }
  dependsOn: [
    readerOnInsights
    readerOnWorkspace
  ]
}

// ---------------------------------------------------------------------------------------------
// The workbook: infra/workbooks/dr.workbook.json, opened on the component (its Workbooks blade).
// ---------------------------------------------------------------------------------------------

var workbookTemplate = loadTextContent('../workbooks/dr.workbook.json')
var workbookData = replace(replace(workbookTemplate, '__APP_INSIGHTS_ID__', appInsights.id), '__RPO_TARGET_HOURS__', string(rpoTargetHours))

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(appInsights.id, 'docintel-dr-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'docintel-dr: disaster recovery'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: workbookData
    version: 'Notebook/1.0'
  }
}

output actionGroupName string = actionGroup.name
output alertRuleNames array = [
  copyFailedAlert.name
  exposureAlert.name
  sourceUnlistedAlert.name
  syncLateAlert.name
]
output workbookId string = workbook.id
