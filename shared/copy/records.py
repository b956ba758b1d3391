"""Copy records: which target item is the copy of which source item, and of which build.

Classifiers have no tags in the Document Intelligence API and v2.1 models have neither tags nor a
caller-chosen id, so the provenance of their copies cannot live on the copies. One row per
(source, target, kind, source id) keeps it instead: the target id, the source item's created time at
copy time, when the copy finished and by which job. It is written when a copy succeeds, by the
pipeline (`CopyRecords.record_job`) and by the CLI's direct copies, for every kind (v3+ models too:
the status report reads the recovery point from it).

Row in the state table: PartitionKey ``copyrecord``, RowKey ``{source}.{target}.{kind}.{source id}``.
A lost row is not fatal: for a v3+ model the tags still tell; for a classifier the planner falls back
to comparing created times; a v2.1 model is copied again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.copy.jobs import Job, JobStatus
from shared.copy.provenance import SOURCE_CREATED_TAG
from shared.docintel import ItemKind
from shared.timefmt import as_utc_datetime

if TYPE_CHECKING:
    from azure.data.tables import TableEntity
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.records")
PARTITION = "copyrecord"


@dataclass(frozen=True, slots=True)
class CopyRecord:
    """A successful copy as the state table remembers it (one per source item x target)."""

    kind: ItemKind
    source_id: str
    target_id: str
    source_created: str | None
    copied_at: datetime | None = None
    job_id: str | None = None


def _row_key(source_alias: str, target_alias: str, kind: ItemKind, source_id: str) -> str:
    return f"{source_alias}.{target_alias}.{kind.value}.{source_id}"


class CopyRecords:
    """Reads and writes copy records in the state table (the client is passed in, its owner closes it)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def record(
        self,
        *,
        source_alias: str,
        target_alias: str,
        kind: ItemKind,
        source_id: str,
        target_id: str,
        source_created: str | None,
        copied_at: datetime,
        job_id: str | None = None,
    ) -> None:
        from azure.data.tables import UpdateMode

        entity: dict[str, object] = {
            "PartitionKey": PARTITION,
            "RowKey": _row_key(source_alias, target_alias, kind, source_id),
            "source": source_alias,
            "target": target_alias,
            "kind": kind.value,
            "sourceId": source_id,
            "targetId": target_id,
            "copiedAt": copied_at.astimezone(UTC),
        }
        if source_created:
            entity["sourceCreated"] = source_created
        if job_id:
            entity["jobId"] = job_id
        await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def record_job(self, job: Job) -> None:
        """A succeeded job becomes a copy record. Never raises: a lost record costs at most one extra
        copy on the next sync."""
        if job.status is not JobStatus.SUCCEEDED:
            return
        try:
            await self.record(
                source_alias=job.source_alias,
                target_alias=job.target_alias,
                kind=job.kind,
                source_id=job.source_id,
                target_id=job.target_id,
                source_created=job.tags.get(SOURCE_CREATED_TAG),
                copied_at=job.finished_at or job.updated_at,
                job_id=job.job_id,
            )
        except Exception as exc:  # any storage failure: the copy itself succeeded
            log.warning(
                "job %s: could not write the copy record (%s); the next sync may copy it again",
                job.job_id,
                exc.__class__.__name__,
            )

    async def get(
        self, *, source_alias: str, target_alias: str, kind: ItemKind, source_id: str
    ) -> CopyRecord | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(
                PARTITION, _row_key(source_alias, target_alias, kind, source_id)
            )
        except ResourceNotFoundError:
            return None
        return _record(entity)

    async def forget(self, *, source_alias: str, target_alias: str, kind: ItemKind, source_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(PARTITION, _row_key(source_alias, target_alias, kind, source_id))
        except ResourceNotFoundError:
            pass

    async def load_all(self) -> list[tuple[str, str, CopyRecord]]:
        """Every record, as (source alias, target alias, record): copies in every direction, which a
        sync needs to recognise a copy of a copy (`shared.sync.inventory`)."""
        found: list[tuple[str, str, CopyRecord]] = []
        async for entity in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION}):
            found.append((str(entity["source"]), str(entity["target"]), _record(entity)))
        return found

    async def load(self, source_alias: str) -> dict[str, dict[tuple[ItemKind, str], CopyRecord]]:
        """Every record of copies from ``source_alias``: target alias -> (kind, source id) -> record."""
        result: dict[str, dict[tuple[ItemKind, str], CopyRecord]] = {}
        query = "PartitionKey eq @pk and source eq @source"
        async for entity in self._table.query_entities(
            query, parameters={"pk": PARTITION, "source": source_alias}
        ):
            record = _record(entity)
            result.setdefault(str(entity["target"]), {})[(record.kind, record.source_id)] = record
        return result


def _record(entity: TableEntity) -> CopyRecord:
    return CopyRecord(
        kind=ItemKind(entity["kind"]),
        source_id=str(entity["sourceId"]),
        target_id=str(entity["targetId"]),
        source_created=entity.get("sourceCreated"),
        copied_at=as_utc_datetime(entity.get("copiedAt")),
        job_id=entity.get("jobId"),
    )
