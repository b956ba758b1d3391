"""Seeding: put models (v3/v4 and v2.1) and classifiers into an emulated resource, filling in what a
real item would carry (dates, expiry, build mode, doc types)."""

from __future__ import annotations

from typing import Any

from .clock import plus_two_years
from .items import Item, ItemStore
from .versions import ID_PATTERN, LATEST, PREBUILT_IDS, UUID_PATTERN


def _v21_train_result() -> dict[str, Any]:
    fields = [{"fieldName": name, "accuracy": 0.995} for name in _FIELDS]
    return {"trainingDocuments": [], "fields": fields, "averageModelAccuracy": 0.995, "errors": []}


# The fields of the models in the recordings (their field schemas cut to these three).
_FIELDS = ("Merchant", "PhoneNumber", "Website")


def _doc_type(mode: str) -> dict[str, Any]:
    """A docType as a model built on the recordings' sample forms shows it."""
    return {
        "buildMode": mode,
        "fieldSchema": {name: {"type": "string"} for name in _FIELDS},
        "fieldConfidence": dict.fromkeys(_FIELDS, 0.995),
    }


def _classifier_doc_types() -> dict[str, Any]:
    return {
        "formA": {
            "kind": "azureBlob",
            "azureBlobSource": {
                "containerUrl": "https://example.blob.core.windows.net/training",
                "prefix": "formA/",
            },
        }
    }


def seed(store: ItemStore, data: dict[str, Any], now: str) -> dict[str, int]:
    """Add ``data`` (``{"models": [...], "classifiers": [...]}``) to ``store``; the counts added.
    Raises ValueError on an invalid entry (the entries before it stay)."""
    models = data.get("models") or []
    classifiers = data.get("classifiers") or []
    if not isinstance(models, list) or not isinstance(classifiers, list):
        raise ValueError("'models' and 'classifiers' must be lists")
    n21 = 0
    for m in models:
        if str(m.get("apiVersion", "")) in ("2.1", "v2.1"):
            mid, item = v21_model(m, now)
            store.v21_models[mid] = item
            n21 += 1
        else:
            mid, item = model(m, now)
            store.models[mid] = item
    for c in classifiers:
        cid, item = classifier(c, now)
        store.classifiers[cid] = item
    return {"models": len(models) - n21, "v21Models": n21, "classifiers": len(classifiers)}


def model(m: Item, now: str) -> tuple[str, Item]:
    mid = m.get("modelId")
    if not isinstance(mid, str) or not ID_PATTERN.match(mid) or mid in PREBUILT_IDS:
        raise ValueError(f"invalid modelId {mid!r}")
    out = dict(m)
    _dates(out, now)
    out.setdefault("apiVersion", LATEST)
    # The service shows the build mode inside each doc type only (recorded): a top-level "buildMode"
    # in a seed entry is moved there. No "tags" key unless the entry has tags (recorded).
    build_mode = out.pop("buildMode", None)
    if "docTypes" not in out:
        mode = build_mode or "template"
        out["docTypes"] = {mid: _doc_type(mode)}
    elif build_mode:
        out["docTypes"] = {
            name: {"buildMode": build_mode, **dt} if isinstance(dt, dict) else dt
            for name, dt in out["docTypes"].items()
        }
    return mid, out


def _dates(out: Item, now: str) -> None:
    out.setdefault("createdDateTime", now)
    # a fresh item was last modified when it was created (recorded: equal in every source item)
    out.setdefault("modifiedDateTime", out["createdDateTime"])
    # custom items expire 730 days after they were created (recorded, e.g. 2023-03-21 -> 2025-03-20)
    out.setdefault("expirationDateTime", plus_two_years(out["createdDateTime"]))


def v21_model(m: Item, now: str) -> tuple[str, Item]:
    mid = m.get("modelId")
    if not isinstance(mid, str) or not UUID_PATTERN.match(mid):
        raise ValueError(f"a v2.1 modelId must be a GUID, got {mid!r}")
    info = m.get("modelInfo") or {}
    return mid, {
        "modelId": mid,
        "modelName": m.get("modelName", info.get("modelName", m.get("description"))),
        "status": m.get("status", info.get("status", "ready")),
        "createdDateTime": m.get("createdDateTime", info.get("createdDateTime", now)),
        "lastUpdatedDateTime": m.get("lastUpdatedDateTime", info.get("lastUpdatedDateTime", now)),
        "attributes": m.get("attributes", info.get("attributes", {"isComposed": False})),
        # a composed model has composedTrainResults instead of a trainResult (recorded)
        **({"trainResult": m.get("trainResult", _v21_train_result())} if _has_train_result(m) else {}),
        **({"composedTrainResults": m["composedTrainResults"]} if "composedTrainResults" in m else {}),
        **({"keys": m["keys"]} if "keys" in m else {}),
    }


def _has_train_result(m: Item) -> bool:
    return "trainResult" in m or "composedTrainResults" not in m


def classifier(c: Item, now: str) -> tuple[str, Item]:
    cid = c.get("classifierId")
    if not isinstance(cid, str) or not ID_PATTERN.match(cid):
        raise ValueError(f"invalid classifierId {cid!r}")
    out = dict(c)
    _dates(out, now)
    out.setdefault("apiVersion", LATEST)
    doc_types = out.get("docTypes") or _classifier_doc_types()
    out["docTypes"] = {name: _with_source_kind(dt) for name, dt in doc_types.items()}
    return cid, out


def _with_source_kind(dt: Any) -> Any:
    """A classifier doc type names the kind of its training source (recorded: ``"kind": "azureBlob"``)."""
    if not isinstance(dt, dict) or "kind" in dt:
        return dt
    if "azureBlobSource" in dt:
        return {"kind": "azureBlob", **dt}
    if "azureBlobFileListSource" in dt:
        return {"kind": "azureBlobFileList", **dt}
    return dt
