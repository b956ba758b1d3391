// A Document Intelligence account for a trial (createDocumentIntelligence=true). Entra ID only.

param name string
param location string
param tags object

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

output id string = account.id
output name string = account.name
output endpoint string = account.properties.endpoint
output location string = account.location
