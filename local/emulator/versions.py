"""Per-API-version wire details: prefixes, enums, and which fields each version shows.

Sources: recordings of the real service (tests/reference/recordings, which win where they differ),
the Document Intelligence REST specs and official examples (tests/reference/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

V21 = "v2.1"
V3_VERSIONS = ("2022-08-31", "2023-02-28-preview", "2023-07-31")
V4_VERSIONS = ("2024-02-29-preview", "2024-07-31-preview", "2024-11-30")
ALL_VERSIONS = (V21, *V3_VERSIONS, *V4_VERSIONS)
LATEST = "2024-11-30"

ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$")
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ARM_ID_PATTERN = re.compile(
    r"^/subscriptions/[^/]*/resourceGroups/[^/]*/providers/Microsoft\.CognitiveServices/accounts/[^/]*$"
)
REGION_PATTERN = re.compile(r"^[a-z0-9]{1,24}$")


@dataclass(frozen=True, kw_only=True)
class Version:
    name: str
    prefix: str
    classifiers: bool = True  # classifier get/list/delete routes exist
    classifier_copy: bool = False  # classifier authorizeCopy/copyTo exist
    echo_client_request_id: bool = False
    statuses: tuple[str, ...]
    kinds: tuple[str, ...]
    model_fields: frozenset[str]
    model_summary_fields: frozenset[str] | None = None  # None: list items are full details
    doctype_fields: frozenset[str]
    doctype_requires_field_schema: bool = False
    classifier_fields: frozenset[str] = frozenset()
    classifier_doctype_fields: frozenset[str] = frozenset()
    neural_builds_in_info: bool = False
    # What a copy made with this version looks like (recorded, tests/reference/recordings/README.md):
    operation_api_version: bool = False  # operation replies carry "apiVersion" (2024-* on)
    renames_doc_type: bool = False  # a docType named after the source id takes the target id (2023-07-31 on)
    copy_keeps_created: bool = True  # the copy keeps the source's createdDateTime (to 2024-02-29-preview)


_M22 = frozenset({"modelId", "description", "createdDateTime", "apiVersion", "tags", "docTypes"})
_M23 = _M22 | {"expirationDateTime"}
# Top-level buildMode is in the 2024-* specs but the service never shows it (recorded): not rendered.
_M2402 = _M23 | {"azureBlobSource", "azureBlobFileListSource", "warnings"}
_M2407 = _M2402 | {"classifierId", "split", "trainingHours"}
_M2411 = _M2407 | {"modifiedDateTime"}
_DT22 = frozenset({"description", "buildMode", "fieldSchema", "fieldConfidence"})
_DT2407 = _DT22 | {"modelId", "confidenceThreshold", "features", "queryFields", "maxDocumentsToAnalyze"}
_C23 = frozenset(
    {"classifierId", "description", "createdDateTime", "expirationDateTime", "apiVersion", "docTypes"}
)
_C2407 = _C23 | {"baseClassifierId", "warnings"}
_CDT23 = frozenset({"azureBlobSource", "azureBlobFileListSource"})
# The specs call it sourceKind; the service answers "kind" (recorded, 2024-11-30; inferred for the previews).
_CDT24 = _CDT23 | {"kind"}
_ST3 = ("notStarted", "running", "failed", "succeeded", "canceled")
_ST24P = (*_ST3[:4], "completed", "canceled")
_KIND22 = ("documentModelBuild", "documentModelCompose", "documentModelCopyTo")
_KIND23 = (*_KIND22, "documentClassifierBuild")
_KIND2407 = (*_KIND22, "documentClassifierCopyTo", "documentClassifierBuild")
_SUMMARY22 = frozenset({"modelId", "description", "createdDateTime", "apiVersion", "tags"})
_V3 = "/formrecognizer"
_V4 = "/documentintelligence"

VERSIONS: dict[str, Version] = {
    v.name: v
    for v in (
        Version(
            name=V21,
            prefix="/formrecognizer/v2.1",
            classifiers=False,
            statuses=("notStarted", "running", "succeeded", "failed"),
            kinds=(),
            model_fields=frozenset(),
            doctype_fields=frozenset(),
        ),
        Version(
            name="2022-08-31",
            prefix=_V3,
            classifiers=False,
            statuses=_ST3,
            kinds=_KIND22,
            model_fields=_M22,
            model_summary_fields=_SUMMARY22,
            doctype_fields=_DT22,
            doctype_requires_field_schema=True,
        ),
        # inferred: as 2023-07-31 except the copy (recorded) and no neural builds in /info
        Version(
            name="2023-02-28-preview",
            prefix=_V3,
            statuses=_ST3,
            kinds=_KIND23,
            model_fields=_M23,
            model_summary_fields=_SUMMARY22 | {"expirationDateTime"},
            doctype_fields=_DT22,
            doctype_requires_field_schema=True,
            classifier_fields=_C23,
            classifier_doctype_fields=_CDT23,
        ),
        Version(
            name="2023-07-31",
            prefix=_V3,
            statuses=_ST3,
            kinds=_KIND23,
            model_fields=_M23,
            model_summary_fields=_SUMMARY22 | {"expirationDateTime"},
            doctype_fields=_DT22,
            doctype_requires_field_schema=True,
            classifier_fields=_C23,
            classifier_doctype_fields=_CDT23,
            neural_builds_in_info=True,
            renames_doc_type=True,
        ),
        # inferred: 2024-02-29-preview classifier fields as 2023-07-31 (its Details schema not re-read)
        Version(
            name="2024-02-29-preview",
            prefix=_V4,
            echo_client_request_id=True,
            statuses=_ST24P,
            kinds=_KIND23,
            model_fields=_M2402,
            doctype_fields=_DT22,
            doctype_requires_field_schema=True,
            classifier_fields=_C23,
            classifier_doctype_fields=_CDT24,
            neural_builds_in_info=True,
            operation_api_version=True,
            renames_doc_type=True,
        ),
        Version(
            name="2024-07-31-preview",
            prefix=_V4,
            classifier_copy=True,
            echo_client_request_id=True,
            statuses=_ST24P,
            kinds=_KIND2407,
            model_fields=_M2407,
            doctype_fields=_DT2407,
            classifier_fields=_C2407,
            classifier_doctype_fields=_CDT24,
            operation_api_version=True,
            renames_doc_type=True,
            copy_keeps_created=False,
        ),
        Version(
            name="2024-11-30",
            prefix=_V4,
            classifier_copy=True,
            echo_client_request_id=True,
            statuses=(*_ST3, "skipped"),
            kinds=_KIND2407,
            model_fields=_M2411,
            doctype_fields=_DT2407,
            classifier_fields=_C2407 | {"modifiedDateTime"},
            classifier_doctype_fields=_CDT24,
            operation_api_version=True,
            renames_doc_type=True,
            copy_keeps_created=False,
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
            if ver.doctype_requires_field_schema:
                d.setdefault("fieldSchema", {})
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
