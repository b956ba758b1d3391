"""How long copies took, per kind and (source, target) pair: the poller aims its reads with it.

Kept as an exponential moving average in a small row per pair in the state table, and cached in the
process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared.docintel import ItemKind

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.history")
PARTITION = "copy-duration"
WEIGHT = 0.3  # weight of the newest observation


class CopyDurations:
    """Per-pair copy durations (the table client is passed in, its owner closes it)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._cache: dict[str, float] = {}

    @staticmethod
    def _key(kind: ItemKind, source_alias: str, target_alias: str) -> str:
        return f"{kind.value}.{source_alias}.{target_alias}"

    async def expected(self, kind: ItemKind, source_alias: str, target_alias: str) -> float | None:
        key = self._key(kind, source_alias, target_alias)
        if key in self._cache:
            return self._cache[key]
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return None
        self._cache[key] = float(entity["seconds"])
        return self._cache[key]

    async def observe(
        self, kind: ItemKind, source_alias: str, target_alias: str, *, at_least: float | None, at_most: float
    ) -> None:
        """Learn from one copy that ended between `at_least` (the last read that saw it running) and
        `at_most` (the read that saw it done) seconds after it started. When no read saw it running,
        `at_most` is only a bound: it lowers a larger estimate and otherwise teaches nothing (a late
        first read must not make the next copies' first reads later still)."""
        if at_least is not None:
            await self.record(kind, source_alias, target_alias, (at_least + at_most) / 2)
            return
        expected = await self.expected(kind, source_alias, target_alias)
        if expected is None or expected > at_most:
            await self.record(kind, source_alias, target_alias, at_most)

    async def record(self, kind: ItemKind, source_alias: str, target_alias: str, seconds: float) -> None:
        if seconds <= 0:
            return
        previous = await self.expected(kind, source_alias, target_alias)
        value = seconds if previous is None else (1 - WEIGHT) * previous + WEIGHT * seconds
        key = self._key(kind, source_alias, target_alias)
        self._cache[key] = value
        from azure.data.tables import UpdateMode

        try:
            await self._table.upsert_entity(
                {"PartitionKey": PARTITION, "RowKey": key, "seconds": value}, mode=UpdateMode.REPLACE
            )
        except Exception as exc:  # any storage failure: a lost estimate only makes polling less well aimed
            log.warning("could not record copy duration for %s: %s", key, exc.__class__.__name__)
