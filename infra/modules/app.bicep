// Everything in the app's own resource group: storage (host, deployment package, queues, tables),
// monitoring, the Event Grid topic, the Flex Consumption plan and function app, and the identity's
// role assignments on them. Document Intelligence access is granted by docintel-access.bicep.

param location string
param tags object
param resourceToken string
param serviceName string

@description('Resource id, client id and principal id of the app\'s user-assigned managed identity.')
param identityId string
param identityClientId string
param identityPrincipalId string

@description('The primary Document Intelligence resource: {alias, resourceId, endpoint, apiVersion, region}.')
param primary object
@description('The secondary (target) resources, same shape as primary.')
param secondaries array

@description('NCRONTAB schedule of the scheduled sync (DR_SYNC_SCHEDULE).')
param syncSchedule string
@description('Recovery point objective in hours (DR_RPO_TARGET_HOURS).')
param rpoTargetHours int
param maximumInstanceCount int
param instanceMemoryMB int

@description('Object id of whoever deployed (azd\'s principalId) and its type; empty: no grant.')
param userPrincipalId string = ''
param userPrincipalType string = 'User'

// Names shared with the app: shared/names.py (COPY_REQUESTS_QUEUE, COPY_POLLS_QUEUE, SYNC_PAGES_QUEUE,
// POISON_SUFFIX), shared/settings.py (Settings.jobs_table, Settings.state_table). tests/infra checks
// that they stay equal.
var copyRequestsQueue = 'copy-requests'
var copyPollsQueue = 'copy-polls'
var syncPagesQueue = 'sync-pages'
var poisonSuffix = '-poison'
var queueNames = [
  copyRequestsQueue
  copyPollsQueue
  syncPagesQueue
  '${copyRequestsQueue}${poisonSuffix}'
  '${copyPollsQueue}${poisonSuffix}'
  '${syncPagesQueue}${poisonSuffix}'
]
var jobsTable = 'copyjobs'
var stateTable = 'drstate'
var deploymentContainerName = 'deploymentpackage'

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---------------------------------------------------------------------------------------------
// Storage: shared-key access off; the host and the app use the managed identity.
// ---------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  #checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches its host storage over the public endpoint; shared keys are disabled, so only granted Entra ID identities get in.
  #checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: no VNet/private endpoint in this template; access is Entra ID only.
  #checkov:skip=CKV_AZURE_206:Host state, job rows and in-flight copy messages are re-creatable (the scheduled sync rebuilds the plan from the source), so LRS is the cost-appropriate choice; use ZRS/GRS by editing the sku if wanted.
  #checkov:skip=CKV_AZURE_43:The name is 'st' + uniqueString() (13 lower-case letters/digits), always valid; checkov cannot evaluate the interpolation.
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource jobsTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: jobsTable
}

resource stateTableResource 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTable
}

// ---------------------------------------------------------------------------------------------
// Monitoring: Application Insights on Log Analytics, local (instrumentation key) auth disabled.
// ---------------------------------------------------------------------------------------------

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------
// Event Grid custom topic for the completion events (CloudEvents 1.0), Entra ID only.
// ---------------------------------------------------------------------------------------------

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  #checkov:skip=CKV_AZURE_191:The topic only receives events from the app; a system identity matters only for subscriptions that deliver or dead-letter with one, which can add it.
  #checkov:skip=CKV_AZURE_193:Subscribers and the Flex app (no VNet in this template) use the public endpoint; local (key/SAS) auth is disabled, so publishing needs EventGrid Data Sender.
  name: 'evgt-${resourceToken}'
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// ---------------------------------------------------------------------------------------------
// Flex Consumption plan and function app (Python 3.11).
// ---------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  #checkov:skip=CKV_AZURE_225:The app is itself the cross-region DR mechanism and its work is queued and idempotent; Flex zone redundancy is region-dependent and needs ZRS storage, so it is left opt-in.
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// App settings: exactly the names shared/settings.py reads (plus host-only ones listed in
// tests/infra/test_contract.py). No keys: every connection uses the managed identity.
var resources = concat([primary], secondaries)

// Per-alias settings. For-expressions (not lambdas) so that checkov's Bicep parser reads them too.
var resourceSettingGroups = [
  for r in resources: [
    {
      name: 'DR_RESOURCES__${toUpper(r.alias)}__ENDPOINT'
      value: r.endpoint
    }
    {
      name: 'DR_RESOURCES__${toUpper(r.alias)}__API_VERSION'
      value: r.apiVersion
    }
    {
      name: 'DR_RESOURCES__${toUpper(r.alias)}__RESOURCE_ID'
      value: r.resourceId
    }
    {
      name: 'DR_RESOURCES__${toUpper(r.alias)}__REGION'
      value: r.region
    }
  ]
]
var resourceSettings = flatten(resourceSettingGroups)
var secondaryAliases = [for s in secondaries: s.alias]

var appSettings = concat([
  // Host storage and the app's own queue/table clients (identity-based connection).
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  // Application Insights with Entra ID authentication, for the host and for the app, which hands
  // the connection string and the identity to the Azure Monitor distro itself, see DR_TELEMETRY.
  // PYTHON_ENABLE_OPENTELEMETRY stays unset on purpose: the README section Telemetry says why.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'DR_TELEMETRY'
    value: 'azure-monitor'
  }
  // The identity DefaultAzureCredential picks (Document Intelligence, Event Grid).
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'DR_PRIMARY'
    value: primary.alias
  }
  {
    name: 'DR_SECONDARIES'
    value: join(secondaryAliases, ',')
  }
  {
    name: 'DR_EVENTGRID_TOPIC_ENDPOINT'
    value: topic.properties.endpoint
  }
  {
    name: 'DR_SYNC_SCHEDULE'
    value: syncSchedule
  }
  {
    name: 'DR_RPO_TARGET_HOURS'
    value: string(rpoTargetHours)
  }
], resourceSettings)

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  #checkov:skip=CKV_AZURE_222:The HTTP API (/api/copies, status, training webhook) must be reachable by its callers; routes are protected by function keys / Entra ID, there is no VNet in this template.
  #checkov:skip=CKV_AZURE_17:Callers authenticate with function keys or Entra ID tokens; mutual TLS client certificates are not part of the API.
  #checkov:skip=CKV_AZURE_212:Flex Consumption scales per function from zero; queue work survives instance loss (at-least-once, idempotent handlers). Add always-ready instances to trade cost for cold starts.
  #checkov:skip=CKV_AZURE_213:App Service health check does not apply to Flex Consumption, where the platform replaces unhealthy instances (UNVERIFIED that the setting is ignored on Flex).
  name: 'func-${resourceToken}'
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
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: appSettings
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
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    deploymentContainer
    queues
    jobsTableResource
    stateTableResource
    blobOwner
    queueContributor
    tableContributor
    eventGridSender
    metricsPublisher
  ]
}

// No FTP / SCM basic-auth publishing: azd deploys with an Entra ID token.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------------------------------------
// Role assignments for the identity (least privilege, narrowest scope that works).
// ---------------------------------------------------------------------------------------------

// Host storage (leases, keys, timer state) and the Flex deployment package container.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

// Queue triggers (read, delete), poison moves (send to -poison) and the app's own sends (re-enqueue).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// Job rows (copyjobs) and sync state (drstate).
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Publish completion events to this topic only.
resource eventGridSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, identityPrincipalId, roles.eventGridDataSender)
  scope: topic
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
  }
}

// Send telemetry to Application Insights with Entra ID (local auth is disabled).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// ---------------------------------------------------------------------------------------------
// The deploying user, so that the docintel-dr CLI works against this deployment: it reads and
// writes the job and state tables (creating them when missing) with the user's own Entra ID token.
// It sends no queue message and publishes no event, so no queue or Event Grid role is granted.
// ---------------------------------------------------------------------------------------------

resource userTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(storage.id, userPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

output functionAppName string = functionApp.name
output functionAppHostName string = functionApp.properties.defaultHostName
output storageAccountName string = storage.name
output eventGridTopicName string = topic.name
output eventGridTopicEndpoint string = topic.properties.endpoint
output applicationInsightsName string = appInsights.name
output logAnalyticsWorkspaceName string = workspace.name
