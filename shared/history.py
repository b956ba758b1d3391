"""How long copies took, per kind and (source, target) pair: the poller aims its reads with it.

Kept as an exponential moving average in a small table row per pair, and cached in the process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.history")
PARTITION = "copy-duration"
WEIGHT = 0.3  # weight of the newest observation


class CopyDurations:
    def __init__(self, table: TableClient | None) -> None:
        self._table = table
        self._cache: dict[str, float] = {}

    async def aclose(self) -> None:
        if self._table is not None:
            await self._table.close()

    @staticmethod
    def _key(kind: str, source: str, target: str) -> str:
        return f"{kind}.{source}.{target}"

    async def expected(self, kind: str, source: str, target: str) -> float | None:
        key = self._key(kind, source, target)
        if key in self._cache or self._table is None:
            return self._cache.get(key)
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return None
        self._cache[key] = float(entity["seconds"])
        return self._cache[key]

    async def observe(
        self, kind: str, source: str, target: str, *, at_least: float | None, at_most: float
    ) -> None:
        """Learn from one copy that ended between `at_least` (the last read that saw it running) and
        `at_most` (the read that saw it done) seconds after it started. When no read saw it running,
        `at_most` is only a bound: it lowers a larger estimate and otherwise teaches nothing (a late
        first read must not make the next copies' first reads later still)."""
        if at_least is not None:
            await self.record(kind, source, target, (at_least + at_most) / 2)
            return
        expected = await self.expected(kind, source, target)
        if expected is None or expected > at_most:
            await self.record(kind, source, target, at_most)

    async def record(self, kind: str, source: str, target: str, seconds: float) -> None:
        if seconds <= 0:
            return
        previous = await self.expected(kind, source, target)
        value = seconds if previous is None else (1 - WEIGHT) * previous + WEIGHT * seconds
        key = self._key(kind, source, target)
        self._cache[key] = value
        if self._table is not None:
            from azure.data.tables import UpdateMode

            try:
                await self._table.upsert_entity(
                    {"PartitionKey": PARTITION, "RowKey": key, "seconds": value}, mode=UpdateMode.REPLACE
                )
            except Exception as exc:  # a lost estimate only makes polling less well aimed
                log.warning("could not record copy duration for %s: %s", key, exc.__class__.__name__)
