"""Copy records in the state table (`Settings.state_table`, default ``drstate``).

Classifiers have no tags in the Document Intelligence API and v2.1 models have neither tags nor a
caller-chosen id, so the provenance of their copies cannot live on the copies. One row per
(source, target, kind, source id) keeps it instead: the target id, the source item's created time
at copy time, when the copy finished and by which job. It is written when a copy succeeds — by the
pipeline (`CopyRecords.record_job`, called by `CopyService` when a job succeeds) and by the CLI's direct
copies — for every kind (v3+ models too: the status report reads the recovery point from it).

Row: PartitionKey ``copyrecord``, RowKey ``{source}.{target}.{kind}.{source id}``.
A lost row is not fatal: for a v3+ model the tags still tell; for a classifier the planner falls
back to comparing created times; a v2.1 model is copied again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.provenance import SOURCE_CREATED_TAG
from shared.sync.planner import CopyRecord

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

    from shared.jobs import Job

log = logging.getLogger("docintel_dr.sync.state")
PARTITION = "copyrecord"


def _row_key(source: str, target: str, kind: str, source_id: str) -> str:
    return f"{source}.{target}.{kind}.{source_id}"


class CopyRecords:
    """Reads and writes copy records; the table client is passed in (and closed by its owner)."""

    def __init__(self, table: TableClient | None) -> None:
        self._table = table

    async def record(
        self,
        *,
        source: str,
        target: str,
        kind: str,
        source_id: str,
        target_id: str,
        source_created: str | None,
        copied_at: datetime,
        job_id: str | None = None,
    ) -> None:
        if self._table is None:
            return
        from azure.data.tables import UpdateMode

        entity: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": _row_key(source, target, kind, source_id),
            "source": source,
            "target": target,
            "kind": kind,
            "sourceId": source_id,
            "targetId": target_id,
            "copiedAt": copied_at.astimezone(UTC),
        }
        if source_created:
            entity["sourceCreated"] = source_created
        if job_id:
            entity["jobId"] = job_id
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:  # the table does not exist yet (a first CLI run)
            try:
                await self._table.create_table()
            except ResourceExistsError:
                pass
            await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def record_job(self, job: Job) -> None:
        """A succeeded job becomes a copy record. Never raises: a lost record costs at most one extra
        copy on the next sync."""
        from shared.jobs import JobStatus

        if job.status is not JobStatus.SUCCEEDED:
            return
        try:
            await self.record(
                source=job.source_alias,
                target=job.target_alias,
                kind=job.kind,
                source_id=job.source_id,
                target_id=job.target_id,
                source_created=job.tags.get(SOURCE_CREATED_TAG),
                copied_at=job.finished_at or job.updated_at,
                job_id=job.job_id,
            )
        except Exception as exc:
            log.warning(
                "job %s: could not write the copy record (%s); the next sync may copy it again",
                job.job_id,
                exc.__class__.__name__,
            )

    async def get(self, *, source: str, target: str, kind: str, source_id: str) -> CopyRecord | None:
        if self._table is None:
            return None
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, _row_key(source, target, kind, source_id))
        except ResourceNotFoundError:
            return None
        return _record(entity)

    async def forget(self, *, source: str, target: str, kind: str, source_id: str) -> None:
        if self._table is None:
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(PARTITION, _row_key(source, target, kind, source_id))
        except ResourceNotFoundError:
            pass

    async def load(self, source: str) -> dict[str, dict[tuple[str, str], CopyRecord]]:
        """Every record of copies from ``source``: target alias -> (kind, source id) -> record."""
        result: dict[str, dict[tuple[str, str], CopyRecord]] = {}
        if self._table is None:
            return result
        from azure.core.exceptions import ResourceNotFoundError

        query = "PartitionKey eq @pk and source eq @source"
        try:
            async for entity in self._table.query_entities(
                query, parameters={"pk": PARTITION, "source": source}
            ):
                record = _record(entity)
                result.setdefault(str(entity["target"]), {})[(record.kind, record.source_id)] = record
        except ResourceNotFoundError:
            return {}
        return result


def _record(entity: Any) -> CopyRecord:
    return CopyRecord(
        kind=str(entity["kind"]),
        source_id=str(entity["sourceId"]),
        target_id=str(entity["targetId"]),
        source_created=entity.get("sourceCreated"),
        copied_at=_as_datetime(entity.get("copiedAt")),
        job_id=entity.get("jobId"),
    )


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
