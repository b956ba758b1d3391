"""The type of the JSON documents the app builds (API replies, event data, reports)."""

from typing import Any

# A JSON object's members differ in type by key, which Python's types cannot say without a model per
# document; the documents are checked by their JSON Schemas (docs/) and the OpenAPI description instead.
JsonObject = dict[str, Any]
