"""docintel-dr: disaster recovery for Azure AI Document Intelligence custom models and classifiers."""
