// Deployed at the resource group of one Document Intelligence account (which may be in another
// resource group or subscription): grants the app's identity Cognitive Services User on that account
// and reads back the account's endpoint and region for the app settings.

@description('Name of the existing Document Intelligence (FormRecognizer or AIServices) account.')
param accountName string
@description('Principal (object) id of the app\'s user-assigned managed identity.')
param principalId string

// Cognitive Services User: call the data plane (list, authorizeCopy, copyTo, operations) with an
// Entra ID token; no key listing is needed because the app never uses keys.
var cognitiveServicesUserRoleId = 'a97b65f3-24c7-4388-baec-2e87135dc908'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

resource cognitiveServicesUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, cognitiveServicesUserRoleId)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUserRoleId)
  }
}

output id string = account.id
output endpoint string = account.properties.endpoint
output location string = account.location
