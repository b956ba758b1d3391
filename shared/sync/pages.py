"""A sync that finishes: the copies beyond the first page continue in pages, paced by the source's
rate limit, in the durable style of the rest of the app.

A sync submits its first `DR_SYNC_PAGE_SIZE` copies itself. The rest of its work (in dependency
order) is written to the state table, ``syncwork.{sync id}`` / ``{sequence}``, and one message on
``sync-pages`` names where the next page starts. Each page message submits its page through the
pipeline, sends the message of the next page, then deletes its rows; a page delivered twice submits
nothing twice (a copy already under way is answered with the job making it, `shared.copy.claims`),
and a page whose message is lost mid-way comes back with its lease and is submitted again.

Pacing across instances needs no shared state: each job's first message is released at its own
slot, one per 1/`managementPerSecond` of the source (the source takes every copyTo), and a page's
successor is due when the page's last slot is. However many instances take the messages, copyTo
calls reach the source at its rate; a 429 is still honoured (Retry-After) if other callers share it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.docintel import ItemInfo, ItemKind
from shared.settings import Settings
from shared.sync.planner import PlanAction, PlanItem

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from shared.storage import QueueSender

log = logging.getLogger("docintel_dr.sync")

BATCH = 100  # entities per entity group transaction
SYNC_ID_PATTERN = r"^[0-9A-Za-z-]{1,64}$"


class SyncPageMessage(BaseModel):
    """On `sync-pages`: submit the copies of sync `sync_id` from sequence number `start` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    type: Literal["sync-page"] = "sync-page"
    sync_id: str = Field(pattern=SYNC_ID_PATTERN)
    start: int = Field(ge=0)


def pacing_slot(settings: Settings) -> float:
    """Seconds between two jobs' first messages: the source takes one copyTo per job."""
    rate = settings.resource(settings.primary).management_per_second
    return 1.0 / rate if rate else 0.0


def _partition(sync_id: str) -> str:
    return f"syncwork.{sync_id}"


def _row(sync_id: str, sequence: int, item: PlanItem) -> dict[str, Any]:
    assert item.source_item is not None  # the planner hands the source item to every copy
    return {
        "PartitionKey": _partition(sync_id),
        "RowKey": f"{sequence:09d}",
        "target": item.target_alias,
        "kind": item.kind.value,
        "sourceId": item.source_id,
        "targetId": item.target_id or "",
        "action": item.action.value,
        "reason": item.reason,
        "sourceCreated": item.source_created or "",
        "delete": item.delete,
        "sourceItem": item.source_item.model_dump_json(),
    }


def _item(entity: Any) -> PlanItem:
    return PlanItem(
        target_alias=str(entity["target"]),
        kind=ItemKind(entity["kind"]),
        source_id=str(entity["sourceId"]),
        target_id=entity.get("targetId") or None,
        action=PlanAction(entity["action"]),
        reason=str(entity.get("reason") or ""),
        source_created=entity.get("sourceCreated") or None,
        delete=bool(entity.get("delete")),
        source_item=ItemInfo.model_validate_json(entity["sourceItem"]),
    )


class SyncPages:
    """The work a sync left for later (rows in the state table) and the messages that carry it on.
    The table and the queue sender are passed in; their owner closes them."""

    def __init__(self, table: TableClient, queue: QueueSender, page_size: int, slot: float) -> None:
        self._table = table
        self._queue = queue
        self.page_size = page_size
        self.slot = slot

    async def schedule(self, sync_id: str, items: Sequence[PlanItem], *, start_in: float) -> None:
        """Write `items` as the sync's remaining work; its first page is due in `start_in` seconds."""
        for offset in range(0, len(items), BATCH):
            chunk = items[offset : offset + BATCH]
            await self._table.submit_transaction(
                [("upsert", _row(sync_id, offset + i, item)) for i, item in enumerate(chunk)]
            )
        await self._send(SyncPageMessage(sync_id=sync_id, start=0), start_in)
        log.info("sync %s: %d copies continue in pages of %d", sync_id, len(items), self.page_size)

    async def read(self, message: SyncPageMessage) -> list[tuple[int, PlanItem]]:
        """The page that starts at `message.start` (fewer than a page at the end; none when done)."""
        query = "PartitionKey eq @pk and RowKey ge @start"
        parameters = {"pk": _partition(message.sync_id), "start": f"{message.start:09d}"}
        page: list[tuple[int, PlanItem]] = []
        async for entity in self._table.query_entities(
            query, parameters=parameters, results_per_page=self.page_size
        ):
            page.append((int(entity["RowKey"]), _item(entity)))
            if len(page) == self.page_size:
                break
        return page

    async def carry_on(self, message: SyncPageMessage, page: Sequence[tuple[int, PlanItem]]) -> None:
        """After a page is submitted: the next page's message (due when this page's last slot is),
        then this page's rows go. A crash in between re-submits at most this page, which claims make
        harmless."""
        if len(page) == self.page_size:
            nxt = SyncPageMessage(sync_id=message.sync_id, start=page[-1][0] + 1)
            await self._send(nxt, len(page) * self.slot)
        for offset in range(0, len(page), BATCH):
            chunk = page[offset : offset + BATCH]
            await self._table.submit_transaction(
                [
                    ("delete", {"PartitionKey": _partition(message.sync_id), "RowKey": f"{seq:09d}"})
                    for seq, _ in chunk
                ]
            )

    async def _send(self, message: SyncPageMessage, delay: float) -> None:
        await self._queue.send(message.model_dump_json(), delay_seconds=delay)
