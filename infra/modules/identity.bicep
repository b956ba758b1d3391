// The one user-assigned managed identity of docintel-dr. Everything the app touches is reached with it:
// host storage, the deployment container, queues, tables, Event Grid, Document Intelligence, App Insights.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
