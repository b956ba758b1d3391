"""What an item's document types look like, as short digests, so that a copy can be compared with its
source without keeping either whole.

v3+ models: one entry per docType, its name -> a digest of its ``fieldSchema``. Classifiers have no
field schema: each docType digests to the same value, so their names alone count. v2.1 models have
no docTypes: one entry per train result (``trainResult``, and ``component:<id>`` per entry of
``composedTrainResults``) -> a digest of its field names.

Training statistics (``fieldConfidence``, accuracies, training documents) are left out: they describe
how a build went, not what it extracts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Hex characters kept of each SHA-256 digest: 64 bits, plenty to tell two schemas apart.
DIGEST_CHARS = 16


def digest(value: Any) -> str:
    """A short, stable digest of a JSON value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def doc_type_schema(doc_types: Mapping[str, Any]) -> dict[str, str]:
    """docType name -> digest of its field schema (an absent one counts as empty)."""
    schema: dict[str, str] = {}
    for name, details in doc_types.items():
        fields = details.get("fieldSchema") if isinstance(details, Mapping) else None
        schema[str(name)] = digest(fields if isinstance(fields, Mapping) else {})
    return schema


def _field_names(train_result: Mapping[str, Any]) -> list[str]:
    fields = train_result.get("fields")
    if not isinstance(fields, list):
        return []
    return sorted(str(f.get("fieldName")) for f in fields if isinstance(f, Mapping) and "fieldName" in f)


def v21_schema(body: Mapping[str, Any]) -> dict[str, str] | None:
    """A v2.1 model's train results as digests of their field names; None when the reply has none
    (list entries carry ``modelInfo`` only)."""
    train_result = body.get("trainResult")
    composed = body.get("composedTrainResults")
    if not isinstance(train_result, Mapping) and not isinstance(composed, list):
        return None
    schema: dict[str, str] = {}
    if isinstance(train_result, Mapping):
        schema["trainResult"] = digest(_field_names(train_result))
    for entry in composed if isinstance(composed, list) else []:
        if isinstance(entry, Mapping):
            schema[f"component:{entry.get('modelId')}"] = digest(_field_names(entry))
    return schema
