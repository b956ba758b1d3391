"""How long copies take: the poller aims its status reads with it, since the service reports no
progress before a copy ends and no Retry-After.

Two estimates, each an exponential moving average in a small row of the state table, cached in the
process: per item (a repeated copy of the same item takes about as long as the last ones) and, for an
item copied for the first time, per kind and (source, target) pair.

A copy whose first read already found it done teaches only an upper bound. An item known only by
such bounds is not aimed at the bound: its next copy may end anywhere below it, so the window starts
at zero, and the reads of that copy bracket its end.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.docintel import ItemKind

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.durations")
PARTITION = "copy-duration"
WEIGHT = 0.3  # weight of the newest observation
#: How far a copy may end from the estimate, as a fraction of it: an item's own history is tight,
#: other items' is only a rough guide.
ITEM_SPREAD = 0.2
PAIR_SPREAD = 0.6
#: An item known only by upper bounds: its copies may end anywhere below the bound.
BOUND_SPREAD = 1.0
#: Estimates kept in the process (the table holds them all).
CACHE_SIZE = 20_000


@dataclass(frozen=True)
class CopyKey:
    """Which copy: an item, of a kind, from a source to a target."""

    kind: ItemKind
    source_alias: str
    target_alias: str
    source_id: str

    @property
    def pair_row(self) -> str:
        return f"{self.kind.value}.{self.source_alias}.{self.target_alias}"

    @property
    def item_row(self) -> str:
        return f"item.{self.pair_row}.{self.source_id}"


@dataclass(frozen=True)
class DurationEstimate:
    """A copy should take about `seconds`, give or take `spread` (a fraction of it)."""

    seconds: float
    spread: float

    @property
    def earliest(self) -> float:
        return self.seconds * (1 - self.spread)

    @property
    def latest(self) -> float:
        return self.seconds * (1 + self.spread)


class CopyDurations:
    """Copy-duration estimates in the state table (the table client is passed in, its owner closes it)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._cache: OrderedDict[str, tuple[float, bool]] = OrderedDict()

    async def estimate(self, key: CopyKey) -> DurationEstimate | None:
        """The item's own history if it has one, else its pair's."""
        item = await self._read(key.item_row)
        if item is not None:
            seconds, bound = item
            return (
                DurationEstimate(seconds / 2, BOUND_SPREAD)
                if bound
                else DurationEstimate(seconds, ITEM_SPREAD)
            )
        pair = await self._read(key.pair_row)
        return None if pair is None else DurationEstimate(pair[0], PAIR_SPREAD)

    async def observe(self, key: CopyKey, *, at_least: float | None, at_most: float) -> None:
        """Learn from one copy that ended between `at_least` (the last read that saw it running) and
        `at_most` (the read that saw it done) seconds after it started. When no read saw it running,
        `at_most` is only a bound: it lowers a larger estimate and otherwise teaches nothing (a late
        first read must not make the next copies' first reads later still); for an item known so far
        only by bounds, it is the new bound."""
        await self._observe_item(key.item_row, at_least, at_most)
        if at_least is not None:
            await self._record(key.pair_row, (at_least + at_most) / 2)
            return
        pair = await self._read(key.pair_row)
        if pair is None or pair[0] > at_most:
            await self._record(key.pair_row, at_most)

    async def _observe_item(self, row: str, at_least: float | None, at_most: float) -> None:
        known = await self._read(row)
        if at_least is not None:
            # The first bracketed end replaces what bounds said; later ones move the average.
            await self._record(row, (at_least + at_most) / 2, fresh=known is not None and known[1])
        elif known is None or (known[1] and known[0] > at_most):
            await self._record(row, at_most, fresh=True, bound=True)
        elif known[0] > at_most:
            await self._record(row, at_most)

    async def _read(self, row: str) -> tuple[float, bool] | None:
        """(seconds, whether that is only an upper bound) of a row."""
        if row in self._cache:
            self._cache.move_to_end(row)
            return self._cache[row]
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, row)
        except ResourceNotFoundError:
            return None  # not cached: another instance may learn it
        value = (float(entity["seconds"]), bool(entity.get("bound", False)))
        self._remember(row, value)
        return value

    async def _record(self, row: str, seconds: float, *, fresh: bool = False, bound: bool = False) -> None:
        """Move the row's average towards `seconds`; `fresh`: replace it."""
        if seconds <= 0:
            return
        previous = None if fresh else await self._read(row)
        value = seconds if previous is None else (1 - WEIGHT) * previous[0] + WEIGHT * seconds
        self._remember(row, (value, bound))
        from azure.data.tables import UpdateMode

        try:
            await self._table.upsert_entity(
                {"PartitionKey": PARTITION, "RowKey": row, "seconds": value, "bound": bound},
                mode=UpdateMode.REPLACE,
            )
        except Exception as exc:  # any storage failure: a lost estimate only makes polling less well aimed
            log.warning("could not record copy duration for %s: %s", row, exc.__class__.__name__)

    def _remember(self, row: str, value: tuple[float, bool]) -> None:
        self._cache[row] = value
        self._cache.move_to_end(row)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
