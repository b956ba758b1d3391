"""Integrity: a copy must extract what its source extracts. Its document types and their field
schemas (`ItemInfo.field_schemas`) must equal the source's, after the one rename the service makes.

The rename (recorded, `reference/recordings`): from API 2023-07-31 on, a model's docType named after
the model's own id takes the id of the copy (``{"<source id>": …}`` becomes ``{"<target id>": …}``);
2022-08-31 keeps the source id. docTypes named after other models (the components of a composed
model) keep their names, and a classifier's docTypes keep theirs. So before comparing, a docType
named after either id, or prefixed with ``<id>:``, is named `OWN_ID` on both sides.

A copy that differs is *diverged*: the copy job fails with `DIVERGED` and the status shows the item as
``diverged`` (exposed), not present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.docintel import ItemInfo
from shared.docintel.schema import digest

#: The error code of a copy whose result differs from its source.
DIVERGED = "TargetDiverged"
#: What a docType named after the item's own id is called when two items are compared.
OWN_ID = "<own id>"
#: Differences named in a message; the rest are counted.
SHOWN_DIFFERENCES = 5


def normalized(schema: Mapping[str, str], ids: Iterable[str]) -> dict[str, str]:
    """`schema` with a docType named after one of `ids` (or ``<id>:…``) renamed to `OWN_ID`."""
    own = [i for i in ids if i]
    result: dict[str, str] = {}
    for name, value in schema.items():
        key = name
        for item_id in own:
            if name == item_id:
                key = OWN_ID
                break
            if name.startswith(item_id + ":"):
                key = OWN_ID + name[len(item_id) :]
                break
        result[key] = value
    return result


def schema_digest(schema: Mapping[str, str]) -> str:
    """One digest for a whole (normalized) schema: what a job keeps of its source."""
    return digest(sorted(schema.items()))


def source_digest(source: ItemInfo) -> str | None:
    """What a copy of `source` must match (None when its schema is not known)."""
    if source.field_schemas is None:
        return None
    return schema_digest(normalized(source.field_schemas, [source.id]))


def differences(source: Mapping[str, str], target: Mapping[str, str]) -> list[str]:
    """How two normalized schemas differ, one phrase per docType."""
    found = [f"docType '{name}' is missing" for name in sorted(source.keys() - target.keys())]
    found += [f"docType '{name}' is not in the source" for name in sorted(target.keys() - source.keys())]
    found += [
        f"docType '{name}' has another field schema"
        for name in sorted(source.keys() & target.keys())
        if source[name] != target[name]
    ]
    return found


def describe(found: list[str]) -> str:
    shown = "; ".join(found[:SHOWN_DIFFERENCES])
    more = len(found) - SHOWN_DIFFERENCES
    return shown + (f"; and {more} more" if more > 0 else "")


def compare(source: ItemInfo, target: ItemInfo) -> list[str] | None:
    """The differences between a copy and its source (empty: equal); None when either schema is not
    known (a list that shows no docTypes)."""
    if source.field_schemas is None or target.field_schemas is None:
        return None
    ids = [source.id, target.id]
    return differences(normalized(source.field_schemas, ids), normalized(target.field_schemas, ids))


def check_copy(
    *,
    expected: str | None,
    source: ItemInfo | None,
    target: ItemInfo,
    source_id: str,
) -> list[str] | None:
    """Whether a finished copy matches its source: None when it does (or cannot be told: the
    target's schema is unknown, or neither the source's digest nor the source item is at hand), else
    the differences (at least one phrase; a bare digest mismatch says so)."""
    if target.field_schemas is None:
        return None
    ids = [source_id, target.id]
    copied = normalized(target.field_schemas, ids)
    if source is not None and source.field_schemas is not None:
        original = normalized(source.field_schemas, ids)
        if schema_digest(original) == schema_digest(copied):
            return None
        return differences(original, copied) or ["its docTypes or field schemas differ"]
    if expected is None or expected == schema_digest(copied):
        return None
    return ["its docTypes or field schemas differ from those the source had when the copy was made"]
