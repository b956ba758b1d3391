"""DR status rows: one per source item x target, so that the status is read in proportion to the
fleet, never to the job history.

In the state table: PartitionKey ``status.{target alias}``, RowKey ``{kind}.{source id}``; one summary
row per target and one for the primary as a source (``~source``; a sync from another source, a
failback, writes ``~source.{alias}``) in partition ``statussummary``. A target's rows are those of
the last sync that listed it, whatever its source: the summary names that source.

Who writes them:
- every sync, dry runs included, from its plan: state (present / missing / stale / orphan / blocked),
  reason, target id, the source build, when the item became exposed, the last copy time known from
  copy records; rows of items its plan no longer has (gone from the source and the target) are
  deleted; then the target's summary (the sync, its outcome, whether the target could be listed);
- the pipeline when a job ends: present with the copy time, or the job's error (the state stays
  what the last sync saw).

A lost write is healed by the next sync, which rewrites every row of the targets it lists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.copy.integrity import DIVERGED
from shared.copy.jobs import Job, JobStatus
from shared.copy.provenance import SOURCE_CREATED_TAG
from shared.docintel import ItemKind
from shared.jsondoc import JsonObject
from shared.timefmt import as_utc_datetime, iso

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.status")

SUMMARY_PARTITION = "statussummary"
SOURCE_SUMMARY = "~source"


def source_summary_key(source: str, primary: str) -> str:
    """The summary row of a sync's source: `SOURCE_SUMMARY` for the primary."""
    return SOURCE_SUMMARY if source == primary else f"{SOURCE_SUMMARY}.{source}"


BATCH = 100  # entities per entity group transaction (the service's limit)
#: A string property holds 32K characters; an error message is cut well before that.
MAX_MESSAGE_CHARS = 1000


class ItemState(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    STALE = "stale"
    ORPHAN = "orphan"
    BLOCKED = "blocked"
    #: The target holds a copy whose docTypes or field schemas differ from the source's
    #: (`shared.copy.integrity`).
    DIVERGED = "diverged"

    @property
    def exposed(self) -> bool:
        """Not protected: the target holds no current, faithful copy of a source item."""
        return self in (ItemState.MISSING, ItemState.STALE, ItemState.BLOCKED, ItemState.DIVERGED)


def partition(target_alias: str) -> str:
    return f"status.{target_alias}"


def row_key(kind: ItemKind, source_id: str) -> str:
    return f"{kind.value}.{source_id}"


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str
    at: datetime | None
    job_id: str | None

    def to_dict(self) -> JsonObject:
        return {"code": self.code, "message": self.message, "at": iso(self.at), "jobId": self.job_id}


@dataclass(frozen=True, slots=True)
class ItemStatus:
    """One item at one target, as the last sync and the jobs since then left it."""

    target: str
    kind: ItemKind
    source_id: str
    state: ItemState
    target_id: str | None = None
    reason: str | None = None
    source_created: str | None = None
    last_copied_at: datetime | None = None
    #: Since when the target has lacked a current copy (the source build's time); None when present.
    exposed_since: datetime | None = None
    last_error: LastError | None = None
    sync_id: str | None = None

    def exposure_seconds(self, now: datetime) -> int | None:
        if not self.state.exposed or self.exposed_since is None:
            return None
        return max(0, round((now - self.exposed_since).total_seconds()))

    def to_dict(self, now: datetime) -> JsonObject:
        age = round((now - self.last_copied_at).total_seconds()) if self.last_copied_at else None
        return {
            "target": self.target,
            "kind": self.kind.value,
            "sourceId": self.source_id,
            "targetId": self.target_id,
            "state": self.state.value,
            "reason": self.reason,
            "lastCopiedAt": iso(self.last_copied_at),
            "ageSeconds": age,
            "exposureSeconds": self.exposure_seconds(now),
            "lastError": self.last_error.to_dict() if self.last_error else None,
        }

    def to_entity(self) -> dict[str, Any]:
        """The row as a sync writes it (merged: the last copy and last error stay unless given)."""
        entity: dict[str, Any] = {
            "PartitionKey": partition(self.target),
            "RowKey": row_key(self.kind, self.source_id),
            "kind": self.kind.value,
            "sourceId": self.source_id,
            "state": self.state.value,
            # Empty strings, not absent properties: a merge must clear what no longer holds.
            "targetId": self.target_id or "",
            "reason": self.reason or "",
            "sourceCreated": self.source_created or "",
            "exposedSince": iso(self.exposed_since) or "",
            "syncId": self.sync_id or "",
        }
        if self.last_copied_at is not None:
            entity["lastCopiedAt"] = self.last_copied_at.astimezone(UTC)
        return entity

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> ItemStatus:
        target = str(entity["PartitionKey"]).removeprefix("status.")
        error = None
        if entity.get("lastErrorCode"):
            error = LastError(
                code=str(entity["lastErrorCode"]),
                message=str(entity.get("lastErrorMessage") or ""),
                at=as_utc_datetime(entity.get("lastErrorAt")),
                job_id=entity.get("lastErrorJobId") or None,
            )
        state = entity.get("state") or ItemState.MISSING.value
        return cls(
            target=target,
            kind=ItemKind(entity["kind"]),
            source_id=str(entity["sourceId"]),
            state=ItemState(state),
            target_id=entity.get("targetId") or None,
            reason=entity.get("reason") or None,
            source_created=entity.get("sourceCreated") or None,
            last_copied_at=as_utc_datetime(entity.get("lastCopiedAt")),
            exposed_since=as_utc_datetime(entity.get("exposedSince") or None),
            last_error=error,
            sync_id=entity.get("syncId") or None,
        )


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What the last sync found of one resource (a target, or the source under `SOURCE_SUMMARY`):
    when, with which outcome, and whether it could list it."""

    target: str
    sync_id: str | None = None
    synced_at: datetime | None = None
    sync_status: str | None = None
    reachable: bool = True
    error: str | None = None
    #: The alias of the sync's source (None: rows written before sources were recorded, the primary).
    source: str | None = None

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": SUMMARY_PARTITION,
            "RowKey": self.target,
            "syncId": self.sync_id or "",
            "syncedAt": self.synced_at.astimezone(UTC) if self.synced_at else "",
            "syncStatus": self.sync_status or "",
            "reachable": self.reachable,
            "error": (self.error or "")[:MAX_MESSAGE_CHARS],
            "source": self.source or "",
        }

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> SyncSummary:
        return cls(
            target=str(entity["RowKey"]),
            sync_id=entity.get("syncId") or None,
            synced_at=as_utc_datetime(entity.get("syncedAt") or None),
            sync_status=entity.get("syncStatus") or None,
            reachable=bool(entity.get("reachable", True)),
            error=entity.get("error") or None,
            source=entity.get("source") or None,
        )


@dataclass
class TargetCounts:
    """The states of a target's rows, the longest exposure and the oldest recovery point. Counted
    from each row's raw properties as it streams by: a target holds thousands of rows, none is
    parsed whole."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((s.value for s in ItemState), 0))
    #: ISO 8601 in UTC with a Z, as the rows hold it: text order is time order.
    earliest_exposure: str = ""
    oldest_copy: datetime | None = None

    def add(self, entity: Mapping[str, Any]) -> None:
        state = entity.get("state") or ItemState.MISSING.value
        self.counts[state] = self.counts.get(state, 0) + 1
        if state in _EXPOSED:
            since = entity.get("exposedSince") or ""
            if since and (not self.earliest_exposure or since < self.earliest_exposure):
                self.earliest_exposure = since
        elif state == ItemState.PRESENT.value:
            copied = entity.get("lastCopiedAt")
            if isinstance(copied, datetime) and (self.oldest_copy is None or copied < self.oldest_copy):
                self.oldest_copy = copied

    @property
    def exposed_since(self) -> datetime | None:
        return as_utc_datetime(self.earliest_exposure or None)


_EXPOSED = frozenset(s.value for s in ItemState if s.exposed)


class InvalidContinuation(ValueError):
    """A continuation token this store did not hand out (or for another query)."""


class StatusRows:
    """Reads and writes the status rows (the state table's client is passed in; its owner closes it)."""

    #: What counting a target reads of each row.
    _COUNT_FIELDS = ("state", "exposedSince", "lastCopiedAt")

    def __init__(self, table: TableClient) -> None:
        self._table = table

    # --- written by a sync ---------------------------------------------------------------------

    async def write_items(self, items: Iterable[ItemStatus]) -> None:
        """Upsert (merge) rows, 100 to a transaction; every item in one target's partition."""
        from azure.data.tables import UpdateMode

        batch: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for item in items:
            batch.append(("upsert", item.to_entity(), {"mode": UpdateMode.MERGE}))
            if len(batch) == BATCH:
                await self._table.submit_transaction(batch)
                batch = []
        if batch:
            await self._table.submit_transaction(batch)

    async def drop_unplanned(self, target: str, sync_id: str) -> int:
        """Delete the target's rows last written by an older sync than `sync_id`: items that left both
        sides. (Sync ids sort by start time; rows of a newer sync running alongside stay.)"""
        stale: list[tuple[str, dict[str, Any]]] = []
        dropped = 0
        query = "PartitionKey eq @pk and syncId lt @sync"
        async for entity in self._table.query_entities(
            query, parameters={"pk": partition(target), "sync": sync_id}, select=["PartitionKey", "RowKey"]
        ):
            stale.append(("delete", {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]}))
            if len(stale) == BATCH:
                await self._table.submit_transaction(stale)
                dropped += len(stale)
                stale = []
        if stale:
            await self._table.submit_transaction(stale)
            dropped += len(stale)
        return dropped

    async def write_summary(self, summary: SyncSummary) -> None:
        from azure.data.tables import UpdateMode

        await self._table.upsert_entity(summary.to_entity(), mode=UpdateMode.REPLACE)

    # --- written by the pipeline ---------------------------------------------------------------

    async def record_job(self, job: Job) -> None:
        """A job ended: a success makes the item present; a failure is its last error. Never raises:
        the next sync rewrites the row."""
        from azure.data.tables import UpdateMode

        entity: dict[str, Any] = {
            "PartitionKey": partition(job.target_alias),
            "RowKey": row_key(job.kind, job.source_id),
            "kind": job.kind.value,
            "sourceId": job.source_id,
        }
        finished = (job.finished_at or job.updated_at).astimezone(UTC)
        if job.status is JobStatus.SUCCEEDED:
            entity |= {
                "state": ItemState.PRESENT.value,
                "targetId": job.target_id,
                "reason": "",
                "exposedSince": "",
                "lastCopiedAt": finished,
                "sourceCreated": job.tags.get(SOURCE_CREATED_TAG, ""),
                # The last error is the last one since the last copy: a copy clears it.
                "lastErrorCode": "",
                "lastErrorMessage": "",
                "lastErrorJobId": "",
            }
        elif job.status is JobStatus.FAILED:
            entity |= {
                "lastErrorCode": job.error_code or "Failed",
                "lastErrorMessage": (job.error_message or "")[:MAX_MESSAGE_CHARS],
                "lastErrorAt": finished,
                "lastErrorJobId": job.job_id,
            }
            if job.error_code == DIVERGED:
                # The copy is there but differs: exposed since the build it should hold.
                entity |= {
                    "state": ItemState.DIVERGED.value,
                    "targetId": job.target_id,
                    "reason": "the copy's docTypes or field schemas differ from the source's",
                    "sourceCreated": job.tags.get(SOURCE_CREATED_TAG, ""),
                    "exposedSince": job.tags.get(SOURCE_CREATED_TAG, "") or iso(finished),
                }
        else:
            return
        try:
            await self._table.upsert_entity(entity, mode=UpdateMode.MERGE)
        except Exception as exc:  # any storage failure: the copy's outcome is on its job row
            log.warning("job %s: status row not updated (%s)", job.job_id, type(exc).__name__)

    # --- read by the status report -------------------------------------------------------------

    async def summaries(self, targets: Sequence[str]) -> dict[str, SyncSummary]:
        from azure.core.exceptions import ResourceNotFoundError

        async def one(alias: str) -> SyncSummary | None:
            try:
                return SyncSummary.from_entity(await self._table.get_entity(SUMMARY_PARTITION, alias))
            except ResourceNotFoundError:
                return None

        found = await asyncio.gather(*(one(alias) for alias in targets))
        return {s.target: s for s in found if s is not None}

    async def count(self, target: str) -> TargetCounts:
        """Read the target's rows (a few properties of each) and count them by state."""
        counts = TargetCounts()
        async for entity in self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition(target)}, select=list(self._COUNT_FIELDS)
        ):
            counts.add(entity)
        return counts

    async def page(
        self, target: str, states: Sequence[ItemState], size: int, continuation: dict[str, str] | None
    ) -> tuple[list[ItemStatus], dict[str, str] | None]:
        """One page of a target's rows (by source id), only `states` if given; and where the next
        page starts (None at the end). A page may hold fewer than `size` rows, even none, and still
        have a next one: the service ends pages where it likes."""
        from azure.core.exceptions import HttpResponseError

        query, parameters = "PartitionKey eq @pk", {"pk": partition(target)}
        if states:
            # Spaces around the parentheses: the SDK finds @names between spaces.
            query += " and ( " + " or ".join(f"state eq @s{i}" for i in range(len(states))) + " )"
            parameters |= {f"s{i}": state.value for i, state in enumerate(states)}
        pages = self._table.query_entities(query, parameters=parameters, results_per_page=size).by_page(
            continuation_token=continuation  # type: ignore[arg-type]  # the tables SDK's token is a dict
        )
        try:
            page = await pages.__anext__()
            items = [ItemStatus.from_entity(entity) async for entity in page]
        except StopAsyncIteration:
            return [], None
        except HttpResponseError as exc:
            if continuation is not None and exc.status_code == 400:
                raise InvalidContinuation("the storage service refused the continuation token") from None
            raise
        return items, pages.continuation_token or None  # type: ignore[attr-defined]

    async def iter_target(self, target: str) -> AsyncIterator[ItemStatus]:
        async for entity in self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition(target)}
        ):
            yield ItemStatus.from_entity(entity)
