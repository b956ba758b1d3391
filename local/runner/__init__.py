"""A local stand-in for the Azure Functions host: runs function_app.py over Azurite."""
