// docintel-dr: `azd up` entry point. Creates the resource group with the function app and its
// dependencies, and grants the app's managed identity access to every Document Intelligence resource
// (primary and secondaries), wherever they live, and the deploying user (principalId) what the
// docintel-dr CLI needs on the resources created here. See infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used for the resource group name, resource names and tags.')
param environmentName string

// Regions with Flex Consumption: the list of the official Flex Consumption quickstart
// (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep, @allowed of `location`).
// `az functionapp list-flexconsumption-locations` prints the current list; add a region here when
// it gains Flex Consumption. The metadata makes azd offer only these regions.
@minLength(1)
@description('Region of the function app, storage, Event Grid topic and monitoring: one with Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Create Document Intelligence accounts for a trial (a primary and one per secondary location) instead of using existing ones.')
param createDocumentIntelligence bool = false

@description('With createDocumentIntelligence: region of the primary account. Default: location.')
param documentIntelligencePrimaryLocation string = ''

@description('With createDocumentIntelligence: comma-separated regions of the secondary accounts; each becomes the alias of its account. Default: westus2 (eastus when location is westus2).')
param documentIntelligenceSecondaryLocations string = ''

@description('Document Intelligence API version for the accounts created here and for resources that do not name one. Default: 2024-11-30.')
param documentIntelligenceApiVersion string = ''

@description('Without createDocumentIntelligence: the existing primary, {alias, resourceId, endpoint, apiVersion}. endpoint and apiVersion may be empty.')
param primaryResource object = {}

@description('Without createDocumentIntelligence: the existing secondaries, an array of {alias, resourceId, endpoint, apiVersion}.')
param secondaryResources array = []

@description('NCRONTAB schedule of the scheduled sync (six fields, UTC). Default: 0 0 2 * * * (02:00 every day).')
param syncSchedule string = ''

// Flex Consumption limits (learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out
// and flex-consumption-plan#instance-sizes): a maximum instance count of 1 to 1000 (earlier versions
// of that page said 40 to 1000), instance memory 512, 2048 or 4096 MB.
@minValue(1)
@maxValue(1000)
@description('Flex Consumption: maximum instance count (1-1000).')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: instance memory size in MB (512, 2048 or 4096).')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(8760)
@description('Recovery point objective in hours (DR_RPO_TARGET_HOURS): the app setting, the exposure alert\'s threshold and the workbook\'s RPO line.')
param rpoTargetHours int = 24

// The alert rules cannot read DR_SYNC_SCHEDULE (NCRONTAB): this is its period, e.g. 24 for the default
// daily 0 0 2 * * *, 1 for an hourly schedule. The sync alert fires when no run happened for this period
// plus 2 hours; a log search alert looks back at most 2 days, hence at most 46.
@minValue(1)
@maxValue(46)
@description('Hours between two scheduled syncs (the period of DR_SYNC_SCHEDULE): the late-sync alert fires after this plus 2 hours without a run.')
param syncPeriodHours int = 24

@description('Email address the alerts notify (DR_ALERT_EMAIL). azd asks for it when it is not set.')
param alertEmail string

@secure()
@description('Optional webhook (https) the alerts call with the common alert schema (DR_ALERT_WEBHOOK_URL); empty: none.')
param alertWebhookUrl string = ''

@description('Object id of whoever runs azd (azd sets AZURE_PRINCIPAL_ID): granted what the docintel-dr CLI needs on the resources created here. Empty: no grant.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Type of principalId: User for a person, ServicePrincipal when azd runs as one (CI), from AZURE_PRINCIPAL_TYPE.')
param principalType string = 'User'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName

// ---------------------------------------------------------------------------------------------
// Which Document Intelligence resources: created here (trial) or existing (by resource id).
// Aliases are lower-case (shared/settings.py); created secondaries are named after their region.
// ---------------------------------------------------------------------------------------------

var defaultApiVersion = empty(documentIntelligenceApiVersion) ? '2024-11-30' : documentIntelligenceApiVersion
var schedule = empty(syncSchedule) ? '0 0 2 * * *' : syncSchedule
var secondaryLocationList = empty(documentIntelligenceSecondaryLocations) ? ((toLower(location) == 'westus2') ? 'eastus' : 'westus2') : documentIntelligenceSecondaryLocations

var createdPrimaryLocation = empty(documentIntelligencePrimaryLocation) ? location : documentIntelligencePrimaryLocation
var createdSecondaryLocations = createDocumentIntelligence ? split(toLower(replace(secondaryLocationList, ' ', '')), ',') : []
var createdAccountIdPrefix = '${subscription().id}/resourceGroups/${rgName}/providers/Microsoft.CognitiveServices/accounts/'
var createdPrimarySpec = {
  alias: 'primary'
  resourceId: '${createdAccountIdPrefix}di-${resourceToken}-primary'
}
var createdSecondarySpecs = [
  for l in createdSecondaryLocations: {
    alias: l
    resourceId: '${createdAccountIdPrefix}di-${resourceToken}-${l}'
  }
]

// Without createDocumentIntelligence the accounts must be named (primaryResource, secondaryResources).
// Every use of a resource id goes through the checked ids below, so a missing alias or a missing or
// malformed resource id stops the deployment at template validation, before anything is created,
// with a message that names the parameter, instead of an index out of bounds deep in a split().
// fail() is in Bicep since early 2025 (Azure/bicep#15958); an older Bicep CLI does not know it.
var existingHint = 'with createDocumentIntelligence=false (DR_CREATE_DOCUMENT_INTELLIGENCE=false) name the existing accounts in infra/main.parameters.json, see infra/README.md'
var idForm = '/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.CognitiveServices/accounts/<name>'
var secondaryInputs = createDocumentIntelligence ? createdSecondarySpecs : (empty(secondaryResources) ? fail('secondaryResources is empty: name at least one secondary account {alias, resourceId}; ${existingHint}') : secondaryResources)

// endpoint and apiVersion may be missing or empty: then the account's endpoint and the default version.
var specDefaults = {
  alias: ''
  resourceId: ''
  endpoint: ''
  apiVersion: ''
}
var primarySpec = union(specDefaults, createDocumentIntelligence ? createdPrimarySpec : primaryResource)
var secondarySpecs = [for s in secondaryInputs: union(specDefaults, s)]

// A resource id splits at '/' into 9 parts ('', subscriptions, <sub>, resourceGroups, <rg>, providers,
// Microsoft.CognitiveServices, accounts, <name>). Parenthesised conditions: pycep-parser needs them.
var primaryResourceId = (length(split(primarySpec.resourceId, '/')) != 9) ? fail('primaryResource.resourceId is missing or not ${idForm}; ${existingHint}') : (empty(primarySpec.alias) ? fail('primaryResource.alias is missing; ${existingHint}') : primarySpec.resourceId)
var secondaryResourceIds = [
  for (s, i) in secondarySpecs: (length(split(s.resourceId, '/')) != 9) ? fail('secondaryResources[${i}].resourceId is missing or not ${idForm}; ${existingHint}') : (empty(s.alias) ? fail('secondaryResources[${i}].alias is missing; ${existingHint}') : s.resourceId)
]

// Alert receivers, checked before anything is created. The webhook URL is never echoed: it may carry a token.
var checkedAlertEmail = (contains(alertEmail, '@') && !contains(alertEmail, ' ')) ? alertEmail : fail('alertEmail is not an email address: set DR_ALERT_EMAIL (azd env set DR_ALERT_EMAIL ops@example.com), see infra/README.md')
var checkedAlertWebhookUrl = (empty(alertWebhookUrl) || startsWith(toLower(alertWebhookUrl), 'https://')) ? alertWebhookUrl : fail('alertWebhookUrl (DR_ALERT_WEBHOOK_URL) must be an https:// URL or empty')

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module primaryAccount 'modules/docintel-account.bicep' = if (createDocumentIntelligence) {
  name: 'docintel-primary'
  scope: rg
  params: {
    name: 'di-${resourceToken}-primary'
    location: createdPrimaryLocation
    tags: tags
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module secondaryAccounts 'modules/docintel-account.bicep' = [
  for l in createdSecondaryLocations: {
    name: 'docintel-${l}'
    scope: rg
    params: {
      name: 'di-${resourceToken}-${l}'
      location: l
      tags: tags
      userPrincipalId: principalId
      userPrincipalType: principalType
    }
  }
]

// Cognitive Services User for the identity on each account, deployed at the account's own resource
// group (it may be in another resource group or subscription).
module primaryAccess 'modules/docintel-access.bicep' = {
  name: 'docintel-access-primary-${resourceToken}'
  scope: resourceGroup(split(primaryResourceId, '/')[2], split(primaryResourceId, '/')[4])
  params: {
    accountName: last(split(primaryResourceId, '/'))
    principalId: identity.outputs.principalId
  }
  dependsOn: [
    primaryAccount
  ]
}

module secondaryAccess 'modules/docintel-access.bicep' = [
  for (s, i) in secondarySpecs: {
    name: 'docintel-access-${i}-${resourceToken}'
    scope: resourceGroup(split(secondaryResourceIds[i], '/')[2], split(secondaryResourceIds[i], '/')[4])
    params: {
      accountName: last(split(secondaryResourceIds[i], '/'))
      principalId: identity.outputs.principalId
    }
    dependsOn: [
      secondaryAccounts
    ]
  }
]

module app 'modules/app.bicep' = {
  name: 'app'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    primary: {
      alias: toLower(primarySpec.alias)
      resourceId: primaryAccess.outputs.id
      endpoint: empty(primarySpec.endpoint) ? primaryAccess.outputs.endpoint : primarySpec.endpoint
      apiVersion: empty(primarySpec.apiVersion) ? defaultApiVersion : primarySpec.apiVersion
      region: primaryAccess.outputs.location
    }
    secondaries: [
      for (s, i) in secondarySpecs: {
        alias: toLower(s.alias)
        resourceId: secondaryAccess[i].outputs.id
        endpoint: empty(s.endpoint) ? secondaryAccess[i].outputs.endpoint : s.endpoint
        apiVersion: empty(s.apiVersion) ? defaultApiVersion : s.apiVersion
        region: secondaryAccess[i].outputs.location
      }
    ]
    syncSchedule: schedule
    rpoTargetHours: rpoTargetHours
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// Alerts (an action group and four log search alert rules) and the DR workbook, on the app's
// Application Insights.
module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    applicationInsightsName: app.outputs.applicationInsightsName
    logAnalyticsWorkspaceName: app.outputs.logAnalyticsWorkspaceName
    alertEmail: checkedAlertEmail
    alertWebhookUrl: checkedAlertWebhookUrl
    rpoTargetHours: rpoTargetHours
    syncPeriodHours: syncPeriodHours
  }
}

// Names and endpoints only: no key, secret or connection string.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_FUNCTION_URI string = 'https://${app.outputs.functionAppHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = app.outputs.storageAccountName
output AZURE_EVENTGRID_TOPIC_NAME string = app.outputs.eventGridTopicName
output AZURE_EVENTGRID_TOPIC_ENDPOINT string = app.outputs.eventGridTopicEndpoint
output AZURE_APPLICATION_INSIGHTS_NAME string = app.outputs.applicationInsightsName
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output DR_PRIMARY_ENDPOINT string = primaryAccess.outputs.endpoint
output DR_SECONDARY_ENDPOINTS array = [for (s, i) in secondarySpecs: secondaryAccess[i].outputs.endpoint]
output AZURE_ALERT_ACTION_GROUP_NAME string = monitoring.outputs.actionGroupName
output AZURE_ALERT_RULE_NAMES array = monitoring.outputs.alertRuleNames
output AZURE_WORKBOOK_ID string = monitoring.outputs.workbookId
