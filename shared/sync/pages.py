"""A sync that finishes: the copies beyond the first page continue in pages, paced by the source's
rate limit, in the durable style of the rest of the app.

A sync submits its first `DR_SYNC_PAGE_SIZE` copies itself. The rest of its work (in dependency
order) is written to the state table, ``syncwork.{sync id}`` / ``{sequence}``, and one message on
``sync-pages`` names the first page (sequence numbers `start` to `end`, of `total`). A page deletes
each copy's row as it submits it, so a page handled again (a retry after a failure midway, a
duplicate delivery) submits only what was not submitted yet; then it sends the next page's message
once (a marker row records it). After the last page the sync's rows are gone.

Pacing across instances needs no shared state: each job's first message is released at its own
slot, one per 1/`managementPerSecond` of the source (the source takes every copyTo), and a page's
successor is due when the page's last slot is. However many instances take the messages, copyTo
calls reach the source at its rate; a 429 is still honoured (Retry-After) if other callers share it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.copy.jobs import created_before
from shared.docintel import ItemInfo, ItemKind
from shared.settings import ALIAS_PATTERN, Settings
from shared.sync.planner import PlanAction, PlanItem

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from shared.storage import QueueSender

log = logging.getLogger("docintel_dr.sync")

BATCH = 100  # entities per entity group transaction
SYNC_ID_PATTERN = r"^[0-9A-Za-z-]{1,64}$"


class SyncPageMessage(BaseModel):
    """On `sync-pages`: submit the copies of sync `sync_id` numbered `start` to `end` (excluded),
    of `total`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    type: Literal["sync-page"] = "sync-page"
    sync_id: str = Field(pattern=SYNC_ID_PATTERN)
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    total: int = Field(ge=1)
    #: The sync's source when it is not the primary (a failback); absent otherwise.
    source: str | None = Field(default=None, pattern=ALIAS_PATTERN.pattern)

    @model_validator(mode="after")
    def _in_order(self) -> SyncPageMessage:
        if not self.start < self.end <= self.total:
            raise ValueError("a page needs start < end <= total")
        return self


def pacing_slot(settings: Settings, source: str | None = None) -> float:
    """Seconds between two jobs' first messages: the source (default: the primary) takes one copyTo
    per job."""
    rate = settings.resource(source or settings.primary).management_per_second
    return 1.0 / rate if rate else 0.0


def sync_started_at(sync_id: str) -> datetime | None:
    """When a sync began, from its id (``20261202T154501123Z-3fa2c1``); None for another id."""
    try:
        began = datetime.strptime(sync_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = sync_id[15:18]
    return began + timedelta(milliseconds=int(millis)) if millis.isdigit() else None


def page_job_id(sync_id: str, sequence: int) -> str | None:
    """The id of the job that makes copy `sequence` of a sync: the same each time its page is handled,
    so that a page handled again (a retry, a duplicate delivery) finds its jobs instead of starting
    more. It sorts as created when the sync began (job ids sort by creation time), then names the sync
    (a digest of its id) and the copy (its sequence number, so no two copies of a sync share an id)."""
    began = sync_started_at(sync_id)
    if began is None:
        return None
    return f"{created_before(began)}{hashlib.sha256(sync_id.encode()).hexdigest()[:8]}{sequence:08x}"


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

    def page_from(self, sync_id: str, start: int, total: int, source: str | None = None) -> SyncPageMessage:
        return SyncPageMessage(
            sync_id=sync_id, start=start, end=min(start + self.page_size, total), total=total, source=source
        )

    async def schedule(
        self, sync_id: str, items: Sequence[PlanItem], *, start_in: float, source: str | None = None
    ) -> None:
        """Write `items` as the sync's remaining work; its first page is due in `start_in` seconds.
        `source`: the sync's source when it is not the primary (the pages copy from it)."""
        for offset in range(0, len(items), BATCH):
            chunk = items[offset : offset + BATCH]
            await self._table.submit_transaction(
                [("upsert", _row(sync_id, offset + i, item)) for i, item in enumerate(chunk)]
            )
        await self._send(self.page_from(sync_id, 0, len(items), source), start_in)
        log.info("sync %s: %d copies continue in pages of %d", sync_id, len(items), self.page_size)

    async def read(self, message: SyncPageMessage) -> list[tuple[int, PlanItem]]:
        """What is left of the page: its copies not submitted yet (none once it is done)."""
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        parameters = {
            "pk": _partition(message.sync_id),
            "start": f"{message.start:09d}",
            "end": f"{message.end:09d}",
        }
        return [
            (int(e["RowKey"]), _item(e))
            async for e in self._table.query_entities(query, parameters=parameters)
        ]

    async def submitted(self, message: SyncPageMessage, sequence: int) -> None:
        """One copy of the page is submitted: its row goes, so that a page handled again (a retry, a
        duplicate delivery) submits only what this one did not."""
        await self._delete(_partition(message.sync_id), f"{sequence:09d}")

    async def forget_before(self, moment: datetime) -> int:
        """Delete what syncs started before `moment` left behind (a page that ended in the poison
        queue): one key range, since sync ids begin with their start time. How many rows."""
        query = "PartitionKey ge @low and PartitionKey lt @high"
        parameters = {"low": _partition(""), "high": _partition(f"{moment.astimezone(UTC):%Y%m%dT%H%M%S}")}
        gone = 0
        async for entity in self._table.query_entities(
            query, parameters=parameters, select=["PartitionKey", "RowKey"]
        ):
            await self._delete(entity["PartitionKey"], entity["RowKey"])
            gone += 1
        return gone

    async def carry_on(self, message: SyncPageMessage, *, elapsed: float = 0.0) -> None:
        """After the page: the next page's message, due when this page's last slot is, sent once (a
        marker row says it went; sent before the marker is written, so a crash between the two sends
        it twice, which only costs the second delivery a read). After the last page, the sync's
        markers go."""
        from azure.core.exceptions import ResourceExistsError

        partition = _partition(message.sync_id)
        if message.end >= message.total:
            async for entity in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}
            ):
                await self._delete(partition, entity["RowKey"])
            return
        marker = f"next-{message.end:09d}"
        if await self._exists(partition, marker):
            return
        nxt = self.page_from(message.sync_id, message.end, message.total, message.source)
        # Due when this page's last slot is: its slots count from when the page began, `elapsed` ago.
        await self._send(nxt, (message.end - message.start) * self.slot - elapsed)
        try:
            await self._table.create_entity({"PartitionKey": partition, "RowKey": marker})
        except ResourceExistsError:
            pass

    async def _delete(self, partition: str, row_key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(partition, row_key)
        except ResourceNotFoundError:
            pass

    async def _exists(self, partition: str, row_key: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.get_entity(partition, row_key)
        except ResourceNotFoundError:
            return False
        return True

    async def _send(self, message: SyncPageMessage, delay: float) -> None:
        # Without `source` when there is none: the message reads as before for a sync from the primary.
        await self._queue.send(message.model_dump_json(exclude_none=True), delay_seconds=delay)
