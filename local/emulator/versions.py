"""Per-API-version wire details: prefixes, enums, and which fields each version shows.

Sources: the Document Intelligence REST specs and official examples (tests/reference/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

V21 = "v2.1"
V3_VERSIONS = ("2022-08-31", "2023-07-31")
V4_VERSIONS = ("2024-02-29-preview", "2024-07-31-preview", "2024-11-30")
ALL_VERSIONS = (V21, *V3_VERSIONS, *V4_VERSIONS)
LATEST = "2024-11-30"

ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$")
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ARM_ID_PATTERN = re.compile(
    r"^/subscriptions/[^/]*/resourceGroups/[^/]*/providers/Microsoft\.CognitiveServices/accounts/[^/]*$"
)
REGION_PATTERN = re.compile(r"^[a-z0-9]{1,24}$")


@dataclass(frozen=True)
class Version:
    name: str
    prefix: str
    classifiers: bool  # classifier get/list/delete routes exist
    classifier_copy: bool  # classifier authorizeCopy/copyTo exist
    retry_after_on_202: bool  # declared by the 2024-* specs (TypeSpec LRO headers)
    echo_client_request_id: bool
    statuses: tuple[str, ...]
    kinds: tuple[str, ...]
    model_fields: frozenset[str]
    model_summary_fields: frozenset[str] | None  # None: list items are full details
    doctype_fields: frozenset[str]
    classifier_fields: frozenset[str]
    classifier_doctype_fields: frozenset[str]
    neural_builds_in_info: bool


_M22 = frozenset({"modelId", "description", "createdDateTime", "apiVersion", "tags", "docTypes"})
_M23 = _M22 | {"expirationDateTime"}
_M2402 = _M23 | {"buildMode", "azureBlobSource", "azureBlobFileListSource", "warnings"}
_M2407 = _M2402 | {"classifierId", "split", "trainingHours"}
_M2411 = _M2407 | {"modifiedDateTime"}
_DT22 = frozenset({"description", "buildMode", "fieldSchema", "fieldConfidence"})
_DT2407 = _DT22 | {"modelId", "confidenceThreshold", "features", "queryFields", "maxDocumentsToAnalyze"}
_C23 = frozenset(
    {"classifierId", "description", "createdDateTime", "expirationDateTime", "apiVersion", "docTypes"}
)
_C2407 = _C23 | {"baseClassifierId", "warnings"}
_CDT23 = frozenset({"azureBlobSource", "azureBlobFileListSource"})
_CDT24 = _CDT23 | {"sourceKind"}
_ST3 = ("notStarted", "running", "failed", "succeeded", "canceled")
_KIND22 = ("documentModelBuild", "documentModelCompose", "documentModelCopyTo")
_KIND23 = (*_KIND22, "documentClassifierBuild")
_KIND2407 = (*_KIND22, "documentClassifierCopyTo", "documentClassifierBuild")

VERSIONS: dict[str, Version] = {
    v.name: v
    for v in (
        Version(
            V21,
            "/formrecognizer/v2.1",
            False,
            False,
            False,
            False,
            ("notStarted", "running", "succeeded", "failed"),
            (),
            frozenset(),
            None,
            frozenset(),
            frozenset(),
            frozenset(),
            False,
        ),
        Version(
            "2022-08-31",
            "/formrecognizer",
            False,
            False,
            False,
            False,
            _ST3,
            _KIND22,
            _M22,
            frozenset({"modelId", "description", "createdDateTime", "apiVersion", "tags"}),
            _DT22,
            frozenset(),
            frozenset(),
            False,
        ),
        Version(
            "2023-07-31",
            "/formrecognizer",
            True,
            False,
            False,
            False,
            _ST3,
            _KIND23,
            _M23,
            frozenset(
                {"modelId", "description", "createdDateTime", "expirationDateTime", "apiVersion", "tags"}
            ),
            _DT22,
            _C23,
            _CDT23,
            True,
        ),
        # inferred: 2024-02-29-preview classifier fields as 2023-07-31 (its Details schema not re-read)
        Version(
            "2024-02-29-preview",
            "/documentintelligence",
            True,
            False,
            True,
            True,
            (*_ST3[:4], "completed", "canceled"),
            _KIND23,
            _M2402,
            None,
            _DT22,
            _C23,
            _CDT24,
            True,
        ),
        Version(
            "2024-07-31-preview",
            "/documentintelligence",
            True,
            True,
            True,
            True,
            (*_ST3[:4], "completed", "canceled"),
            _KIND2407,
            _M2407,
            None,
            _DT2407,
            _C2407,
            _CDT24,
            False,
        ),
        Version(
            "2024-11-30",
            "/documentintelligence",
            True,
            True,
            True,
            True,
            (*_ST3, "skipped"),
            _KIND2407,
            _M2411,
            None,
            _DT2407,
            _C2407 | {"modifiedDateTime"},
            _CDT24,
            False,
        ),
    )
}


def render_model(model: dict[str, Any], ver: Version, summary: bool = False) -> dict[str, Any]:
    """A stored (2024-11-30 shaped) model as the given version shows it."""
    fields = (
        ver.model_summary_fields if summary and ver.model_summary_fields is not None else ver.model_fields
    )
    out = {k: v for k, v in model.items() if k in fields and not k.startswith("_")}
    if "docTypes" in out:
        dts = {}
        for name, dt in out["docTypes"].items():
            d = {k: v for k, v in dt.items() if k in ver.doctype_fields}
            if ver.name in ("2023-07-31", "2024-02-29-preview") or ver.name == "2022-08-31":
                d.setdefault("fieldSchema", {})  # required in these versions
            dts[name] = d
        out["docTypes"] = dts
    return out


def render_classifier(clf: dict[str, Any], ver: Version) -> dict[str, Any]:
    out = {k: v for k, v in clf.items() if k in ver.classifier_fields and not k.startswith("_")}
    out["docTypes"] = {
        name: {k: v for k, v in dt.items() if k in ver.classifier_doctype_fields}
        for name, dt in clf.get("docTypes", {}).items()
    }
    return out


PREBUILT_MODELS: tuple[dict[str, Any], ...] = (
    {
        "modelId": "prebuilt-layout",
        "description": (
            "Prebuilt model to extract text, selection marks, tables, and other layout information."
        ),
        "createdDateTime": "2024-11-30T00:00:00Z",
        "apiVersion": "2024-11-30",
        "docTypes": {},
    },
    {
        "modelId": "prebuilt-read",
        "description": "Extract text from documents.",
        "createdDateTime": "2024-11-30T00:00:00Z",
        "apiVersion": "2024-11-30",
        "docTypes": {},
    },
)
PREBUILT_IDS = frozenset(m["modelId"] for m in PREBUILT_MODELS)
