"""Listing: what the source and each target hold, read concurrently (each client's per-resource rate
limiters pace the calls), with the copy records of the source's copies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class SourceInventory:
    alias: str
    endpoint: str
    api_version: str
    items: list[ItemInfo]


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


async def _target_inventory(client: DocIntelClient, records: RecordsByItem) -> TargetInventory:
    try:
        items, quota = await asyncio.gather(list_items(client), client.get_quota())
    except DocIntelError as exc:
        log.warning("sync: target %s cannot be listed: %s", client.alias, exc.message)
        return TargetInventory(client.alias, client.api_version, [], None, records, error=exc.message)
    return TargetInventory(client.alias, client.api_version, items, quota, records)


async def _source_inventory(
    settings: Settings, client: DocIntelClient
) -> tuple[SourceInventory | None, str | None]:
    try:
        items = await list_items(client)
    except DocIntelError as exc:
        log.error("sync: source %s cannot be listed: %s", client.alias, exc.message)
        return None, exc.message
    endpoint = settings.resource(settings.primary).endpoint
    return SourceInventory(client.alias, endpoint, client.api_version, items), None


async def _read_records(records: CopyRecords, source_alias: str) -> dict[str, RecordsByItem]:
    try:
        return await records.load(source_alias)
    except Exception as exc:  # any storage failure: plan from what the resources say
        log.warning("sync: copy records unreadable (%s); planning without them", type(exc).__name__)
        return {}


async def gather_inventory(
    settings: Settings,
    clients: Mapping[str, DocIntelClient],
    records: CopyRecords,
    target_aliases: Sequence[str],
) -> Inventory:
    """List the primary and the targets concurrently; read the copy records."""
    (source, error), by_target = await asyncio.gather(
        _source_inventory(settings, clients[settings.primary]), _read_records(records, settings.primary)
    )
    targets = await asyncio.gather(
        *(_target_inventory(clients[alias], by_target.get(alias, {})) for alias in target_aliases)
    )
    return Inventory(source, error, list(targets))
