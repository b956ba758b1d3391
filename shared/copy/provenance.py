"""Provenance tags: what a copy records about its origin, so a later run can tell an up-to-date copy
from a stale one without any other state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

TOOL = "docintel-dr"
TOOL_TAG = "docintel-dr.tool"
SOURCE_TAG = "docintel-dr.source"
SOURCE_ID_TAG = "docintel-dr.sourceId"
SOURCE_CREATED_TAG = "docintel-dr.sourceCreated"


@dataclass(frozen=True)
class Provenance:
    source: str  # the source resource's endpoint host: stable across alias renames
    source_id: str
    source_created: str | None  # ISO 8601, UTC, as recorded at copy time


def stamp(value: datetime | None) -> str | None:
    """A created time as provenance records it (ISO 8601, UTC, whole seconds)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_key(endpoint: str) -> str:
    """How a source resource is named in tags: its endpoint host."""
    return endpoint.split("://", 1)[-1].split("/", 1)[0].lower()


def provenance_tags(source_endpoint: str, source_id: str, source_created: datetime | None) -> dict[str, str]:
    tags = {TOOL_TAG: TOOL, SOURCE_TAG: source_key(source_endpoint), SOURCE_ID_TAG: source_id}
    created = stamp(source_created)
    if created is not None:
        tags[SOURCE_CREATED_TAG] = created
    return tags


def read_provenance(tags: dict[str, str] | None) -> Provenance | None:
    """The provenance recorded in an item's tags, or None when it was not copied by this tool."""
    if not tags or tags.get(TOOL_TAG) != TOOL or SOURCE_TAG not in tags or SOURCE_ID_TAG not in tags:
        return None
    return Provenance(tags[SOURCE_TAG], tags[SOURCE_ID_TAG], tags.get(SOURCE_CREATED_TAG))


def is_copy_of(
    tags: dict[str, str] | None, source_endpoint: str, source_id: str, source_created: datetime | None
) -> bool:
    """True when the tags say the item is a copy of exactly this source item (same build)."""
    found = read_provenance(tags)
    if found is None:
        return False
    return (
        found.source == source_key(source_endpoint)
        and found.source_id == source_id
        and (source_created is None or found.source_created == stamp(source_created))
    )


def is_copy_of_build(tags: dict[str, str] | None, wanted: Provenance) -> bool:
    """True when the tags say the item is a copy of the build `wanted` names (any build of the item,
    when `wanted` has no created time)."""
    found = read_provenance(tags)
    return (
        found is not None
        and found.source == wanted.source
        and found.source_id == wanted.source_id
        and (wanted.source_created is None or found.source_created == wanted.source_created)
    )
