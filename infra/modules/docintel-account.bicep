// A Document Intelligence account for a trial (createDocumentIntelligence=true). Entra ID only. The
// app's identity is granted access by docintel-access.bicep; the deploying user, here.

param name string
param location string
param tags object

@description('Object id of whoever deployed (azd\'s principalId) and its type: granted Cognitive Services User, so that the docintel-dr CLI can list, authorize and copy here. Empty: no grant.')
param userPrincipalId string = ''
param userPrincipalType string = 'User'

var cognitiveServicesUserRoleId = 'a97b65f3-24c7-4388-baec-2e87135dc908'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  #checkov:skip=CKV_AZURE_134:The Flex Consumption app reaches the account over its public endpoint (no VNet in this template); local auth is disabled, so only Entra ID tokens of granted identities work.
  name: name
  location: location
  tags: tags
  kind: 'FormRecognizer'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource userAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(account.id, userPrincipalId, cognitiveServicesUserRoleId)
  scope: account
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUserRoleId)
  }
}

output id string = account.id
output name string = account.name
output endpoint string = account.properties.endpoint
output location string = account.location
