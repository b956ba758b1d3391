"""Listing: what the source and each target hold, read concurrently (each client's per-resource rate
limiters pace the calls), with the copy records that relate their items.

The source is the primary, or, for a failback, the secondary the pipeline ran on during an outage.
Copy records in every direction are read, so that the planner knows, for items without tags
(classifiers, v2.1 models), which item is a copy of which: the source's copies at a target
(`TargetInventory.records`), the target's items copied into the source (`reverse`), and every
copy into the source or a target from any configured resource (`copied_in`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.copy.provenance import source_key
from shared.copy.records import CopyRecord, CopyRecords
from shared.docintel import (
    DocIntelClient,
    DocIntelError,
    ItemInfo,
    ItemKind,
    ResourceQuota,
    supports_classifiers,
)
from shared.settings import Settings

log = logging.getLogger("docintel_dr.sync")

RecordsByItem = dict[tuple[ItemKind, str], CopyRecord]


@dataclass(frozen=True, slots=True)
class CopiedIn:
    """A copy into a resource, as its copy record tells: the host of the resource it came from."""

    source_host: str
    record: CopyRecord


#: (kind, id at the resource the copies went into) -> the latest copy record of that item.
CopiedInByItem = dict[tuple[ItemKind, str], CopiedIn]


@dataclass(slots=True)
class SourceInventory:
    alias: str
    endpoint: str
    api_version: str
    items: list[ItemInfo]
    #: Items of the source that are copies from another resource, by copy record.
    copied_in: CopiedInByItem = field(default_factory=dict)


@dataclass(slots=True)
class TargetInventory:
    alias: str
    api_version: str
    items: list[ItemInfo]
    quota: ResourceQuota | None = None
    #: (kind, source id) -> record, for this source and this target.
    records: RecordsByItem = field(default_factory=dict)
    #: Why the target could not be listed (it is then left out of the plan, reported as unreachable).
    error: str | None = None
    #: The target's endpoint: a source item whose provenance names it is a copy of a target item.
    endpoint: str = ""
    #: (kind, id at the target) -> record of its copy into the source (a failback's copies).
    reverse: RecordsByItem = field(default_factory=dict)
    #: Items of the target that are copies from any resource, by copy record.
    copied_in: CopiedInByItem = field(default_factory=dict)


@dataclass(slots=True)
class Inventory:
    """The source (None when it could not be listed, with `error`) and every target."""

    source: SourceInventory | None
    error: str | None
    targets: list[TargetInventory]


async def list_items(client: DocIntelClient) -> list[ItemInfo]:
    """Every model and (where the API version has them) classifier of a resource."""
    kinds = [ItemKind.MODEL]
    if supports_classifiers(client.api_version):
        kinds.append(ItemKind.CLASSIFIER)
    pages = await asyncio.gather(*(client.list_items(kind) for kind in kinds))
    return [item for page in pages for item in page]


async def _target_inventory(client: DocIntelClient, endpoint: str, lineage: Lineage) -> TargetInventory:
    alias = client.alias
    records, reverse, copied_in = lineage.forward(alias), lineage.reverse(alias), lineage.into(alias)
    try:
        items, quota = await asyncio.gather(list_items(client), client.get_quota())
    except DocIntelError as exc:
        log.warning("sync: target %s cannot be listed: %s", alias, exc.message)
        return TargetInventory(
            alias, client.api_version, [], None, records, exc.message, endpoint, reverse, copied_in
        )
    return TargetInventory(
        alias, client.api_version, items, quota, records, None, endpoint, reverse, copied_in
    )


async def _source_inventory(
    settings: Settings, client: DocIntelClient
) -> tuple[SourceInventory | None, str | None]:
    try:
        items = await list_items(client)
    except DocIntelError as exc:
        log.error("sync: source %s cannot be listed: %s", client.alias, exc.message)
        return None, exc.message
    endpoint = settings.resource(client.alias).endpoint
    return SourceInventory(client.alias, endpoint, client.api_version, items), None


_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class Lineage:
    """The copy records of every direction, arranged for one sync (source `source`)."""

    source: str
    hosts: dict[str, str]
    records: list[tuple[str, str, CopyRecord]] = field(default_factory=list)

    def forward(self, target: str) -> RecordsByItem:
        return {(r.kind, r.source_id): r for s, t, r in self.records if s == self.source and t == target}

    def reverse(self, target: str) -> RecordsByItem:
        return {(r.kind, r.source_id): r for s, t, r in self.records if s == target and t == self.source}

    def into(self, alias: str) -> CopiedInByItem:
        found: CopiedInByItem = {}
        for origin, into, record in self.records:
            if into != alias or origin not in self.hosts:
                continue
            key = (record.kind, record.target_id)
            current = found.get(key)
            if current is None or (record.copied_at or _EPOCH) > (current.record.copied_at or _EPOCH):
                found[key] = CopiedIn(self.hosts[origin], record)
        return found


async def _read_lineage(records: CopyRecords, settings: Settings, source_alias: str) -> Lineage:
    hosts = {alias: source_key(res.endpoint) for alias, res in settings.resources.items()}
    lineage = Lineage(source_alias, hosts)
    try:
        lineage.records = await records.load_all()
    except Exception as exc:  # any storage failure: plan from what the resources say
        log.warning("sync: copy records unreadable (%s); planning without them", type(exc).__name__)
    return lineage


async def gather_inventory(
    settings: Settings,
    clients: Mapping[str, DocIntelClient],
    records: CopyRecords,
    target_aliases: Sequence[str],
    source_alias: str | None = None,
) -> Inventory:
    """List the source (default: the primary) and the targets concurrently; read the copy records."""
    source_alias = source_alias or settings.primary
    (source, error), lineage = await asyncio.gather(
        _source_inventory(settings, clients[source_alias]), _read_lineage(records, settings, source_alias)
    )
    if source is not None:
        source.copied_in = lineage.into(source_alias)
    targets = await asyncio.gather(
        *(
            _target_inventory(clients[alias], settings.resource(alias).endpoint, lineage)
            for alias in target_aliases
        )
    )
    return Inventory(source, error, list(targets))
