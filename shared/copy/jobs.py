"""Copy jobs: the job row model and its store on Azure Table storage.

One job = one item (model or classifier) x one target. The row is the single source of truth for
the job's state; every update is guarded by the row's ETag, so two handlers that race on the same
job cannot both win. A row holds no secret: the copy authorization's access token is kept apart
(`shared.copy.authorizations`); `Job.public_view()` is what the API returns and events carry.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.copy.durations import CopyKey
from shared.docintel import CopyAuthorization, ItemKind
from shared.timefmt import iso

if TYPE_CHECKING:
    from azure.data.tables import TableEntity
    from azure.data.tables.aio import TableClient

#: Job rows are spread over 16 partitions by the last hex digit of the job id (random), so that no
#: partition takes every write; rows written before that live in the single `job` partition and are
#: still read. (A partition takes about 2,000 entities/s; a sync at S0 writes about 50/s.)
PARTITION = "job"
BUCKETS = tuple(f"{PARTITION}{digit}" for digit in "0123456789abcdef")
PARTITIONS = (*BUCKETS, PARTITION)
#: Every job row, in one key range: 'job' < 'job0' < ... < 'jobf' < 'jobg'.
ALL_JOBS_FILTER = f"PartitionKey ge '{PARTITION}' and PartitionKey lt '{PARTITION}g'"


def partition_of(job_id: str) -> str:
    """Where a job's row lives: its bucket (ids end with random hex)."""
    digit = job_id[-1:].lower()
    return f"{PARTITION}{digit}" if digit and digit in "0123456789abcdef" else PARTITION


#: The index of jobs whose completion event is not out yet: one empty row per such job, in the same
#: table, so that the watchdog reads the jobs in flight by key, however long the history.
UNFINISHED = "unfinished"
#: An index row whose job row does not exist is removed only past this age: the job is written just
#: after its index row.
_INDEX_SETUP_SECONDS = 60
_ID_SPACE = 10**13  # milliseconds; inverted so that ids sort newest first


class JobStatus(StrEnum):
    #: Waiting for its turn; the target is authorized just before copyTo (an authorization lives 1 h).
    QUEUED = "queued"
    AUTHORIZED = "authorized"
    STARTED = "started"
    POLLING = "polling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class Origin(StrEnum):
    API = "api"
    SYNC = "sync"
    WEBHOOK = "webhook"
    EVENT = "event"
    CLI = "cli"


def new_job_id(now: datetime) -> str:
    """A job id that sorts newest first in the table: inverted milliseconds plus randomness."""
    return f"{created_before(now)}{secrets.token_hex(4)}"


def created_before(moment: datetime) -> str:
    """The row key past which every job was created before `moment` (ids sort newest first), so that
    old jobs are read by a key range, not by scanning the table."""
    return f"{_ID_SPACE - int(moment.timestamp() * 1000):013d}"


class Job(BaseModel):
    """A copy job row."""

    model_config = ConfigDict(validate_assignment=False)

    job_id: str
    kind: ItemKind
    source_alias: str
    source_id: str
    target_alias: str
    target_id: str
    target_region: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    origin: Origin = Origin.API
    status: JobStatus = JobStatus.AUTHORIZED
    # Bumped by every step that hands the job to the next queue message; a message that carries
    # another generation is stale and is dropped, so duplicate chains collapse into one.
    generation: int = 0
    # The queue message id that produced the current generation: its redelivery (after a crash
    # between the row update and the send) may resend the next message.
    advanced_by: str | None = None
    authorization_expires_at: datetime | None = None
    reauthorizations: int = 0
    # Copies that failed with "could not retrieve authorization metadata" (2024) and left nothing at
    # the target: a second one means the target is misconfigured.
    unretrievable_authorizations: int = 0
    retries: int = 0  # transient failures of the current step, for backoff
    operation_url: str | None = None
    percent_completed: int | None = None
    polls: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    operation_finished_at: datetime | None = None
    # When a read last saw the operation still running: with operation_finished_at, it brackets
    # when the copy really ended (the copy-duration estimate learns from it).
    last_running_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    # When the job's pending message is due to be handled (shared.copy.watchdog): written with every
    # step that sends one; past it by the watchdog's grace, the message is presumed lost.
    due_at: datetime | None = None
    resumes: int = 0  # times the watchdog gave the job a new message
    error_code: str | None = None
    error_message: str | None = None
    #: The source build's docTypes and field schemas as one digest (`shared.copy.integrity`): the copy
    #: must match it. None when the source was known only from a list that does not show them; the
    #: job then reads the source item when it verifies the copy.
    source_schema: str | None = None
    event_published: bool = False
    # The W3C traceparent of the job's first span: every step of the job, a watchdog resume
    # included, continues this trace (shared.telemetry). None for jobs made with telemetry off.
    traceparent: str | None = None
    etag: str | None = Field(default=None, exclude=True)
    #: The partition the row was read from (rows written before the buckets live in `job`).
    partition: str | None = Field(default=None, exclude=True)

    @property
    def copy_key(self) -> CopyKey:
        return CopyKey(self.kind, self.source_alias, self.target_alias, self.source_id)

    def authorized(self, authorization: CopyAuthorization) -> None:
        """The target authorized the copy: the job is ready for copyTo (the target mints the id in v2.1)."""
        self.status = JobStatus.AUTHORIZED
        self.target_id = authorization.target_id
        self.target_region = authorization.target_region
        self.authorization_expires_at = authorization.expires_at

    def public_view(self) -> dict[str, Any]:
        """The job as the API shows it: no authorization, no operation URL internals."""
        return {
            "jobId": self.job_id,
            "kind": self.kind.value,
            "status": self.status.value,
            "source": {"alias": self.source_alias, "id": self.source_id},
            "target": {"alias": self.target_alias, "id": self.target_id},
            "origin": self.origin.value,
            "polls": self.polls,
            "percentCompleted": self.percent_completed,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "error": {"code": self.error_code, "message": self.error_message} if self.error_code else None,
        }

    # --- table mapping ----------------------------------------------------------------------

    def to_entity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"job_id", "etag", "partition"})
        entity: dict[str, Any] = {
            "PartitionKey": self.partition or partition_of(self.job_id),
            "RowKey": self.job_id,
        }
        for key, value in data.items():
            if isinstance(value, dict):
                entity[key] = json.dumps(value)
            elif value is not None:
                entity[key] = value
        return entity

    @classmethod
    def from_entity(cls, entity: TableEntity) -> Job:
        data = {k: v for k, v in dict(entity).items() if k not in ("PartitionKey", "RowKey", "Timestamp")}
        if isinstance(data.get("tags"), str):
            data["tags"] = json.loads(data["tags"])
        job = cls.model_validate({**data, "job_id": entity["RowKey"]})
        job.etag = entity.metadata.get("etag")
        job.partition = entity["PartitionKey"]
        return job


class JobConflict(Exception):
    """The job row changed since it was read (ETag mismatch) or already exists."""


class JobStore:
    """Job rows in one Azure Table. The table client is passed in (connection string or identity)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def create(self, job: Job) -> Job:
        """Write a new job (its index row first, so that no unfinished job is ever unindexed)."""
        from azure.core.exceptions import ResourceExistsError

        if not job.event_published:
            await self._table.upsert_entity({"PartitionKey": UNFINISHED, "RowKey": job.job_id})
        try:
            meta = await self._table.create_entity(job.to_entity())
        except ResourceExistsError:
            raise JobConflict(f"job {job.job_id} already exists") from None
        job.etag = meta.get("etag")
        return job

    async def delete(self, job: Job) -> None:
        """Remove a job that never ran (its copy was refused or already made before it started)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(job.partition or partition_of(job.job_id), job.job_id)
        except ResourceNotFoundError:
            pass
        await self.finished(job.job_id)

    async def finished(self, job_id: str) -> None:
        """The job's completion event is out (or the job is gone): it leaves the unfinished index."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(UNFINISHED, job_id)
        except ResourceNotFoundError:
            pass

    async def get(self, job_id: str) -> Job | None:
        from azure.core.exceptions import ResourceNotFoundError

        for partition in dict.fromkeys((partition_of(job_id), PARTITION)):
            try:
                return Job.from_entity(await self._table.get_entity(partition, job_id))
            except ResourceNotFoundError:
                continue
        return None

    async def replace(self, job: Job) -> Job:
        """Write the job back if nobody changed it since it was read; else raise `JobConflict`."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        try:
            meta = await self._table.update_entity(
                job.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=job.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            raise JobConflict(f"job {job.job_id} was changed concurrently") from None
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise JobConflict(f"job {job.job_id} was changed concurrently") from None
            raise
        job.etag = meta.get("etag")
        return job

    async def list(self, *, status: JobStatus | None = None, limit: int = 50) -> list[Job]:
        """Most recent jobs first (ids sort newest first): the newest `limit` of each partition,
        merged."""
        parameters: dict[str, Any] = {}
        condition = ""
        if status is not None:
            condition = " and status eq @status"
            parameters["status"] = status.value

        async def newest(partition: str) -> list[Job]:
            found: list[Job] = []
            query = f"PartitionKey eq '{partition}'{condition}"
            async for entity in self._table.query_entities(
                query, parameters=parameters, results_per_page=limit
            ):
                found.append(Job.from_entity(entity))
                if len(found) >= limit:
                    break
            return found

        per_partition = await asyncio.gather(*(newest(p) for p in PARTITIONS))
        return list(heapq.merge(*per_partition, key=lambda job: job.job_id))[:limit]

    async def iter_unfinished(self, now: datetime) -> AsyncIterator[Job]:
        """Jobs whose completion event is not out yet: every job that is running, and any terminal job
        whose event could not be published. Read through the `unfinished` index (a key query and a
        point read per job), so the cost follows the jobs in flight, not the history."""
        async for entry in self._table.query_entities(f"PartitionKey eq '{UNFINISHED}'"):
            job = await self.get(entry["RowKey"])
            if job is not None and not job.event_published:
                yield job
                continue
            written = entry.metadata.get("timestamp")
            if job is not None or written is None or (now - written).total_seconds() > _INDEX_SETUP_SECONDS:
                # Finished before its index row went (a crash in between), or gone for good.
                await self.finished(entry["RowKey"])

    async def iter_created_before(self, moment: datetime) -> AsyncIterator[Job]:
        """Jobs created before `moment`, read by row-key range in each partition."""
        for partition in PARTITIONS:
            query = f"PartitionKey eq '{partition}' and RowKey gt @floor"
            async for entity in self._table.query_entities(
                query, parameters={"floor": created_before(moment)}
            ):
                yield Job.from_entity(entity)

    async def delete_many(self, jobs: Sequence[Job]) -> None:
        """Delete jobs, up to 100 per request (an entity group transaction is one partition's)."""
        by_partition: dict[str, list[Job]] = {}
        for job in jobs:
            by_partition.setdefault(job.partition or partition_of(job.job_id), []).append(job)
        for partition, members in by_partition.items():
            for start in range(0, len(members), 100):
                await self._table.submit_transaction(
                    [
                        ("delete", {"PartitionKey": partition, "RowKey": j.job_id})
                        for j in members[start : start + 100]
                    ]
                )

    async def iter_all(self) -> AsyncIterator[Job]:
        async for entity in self._table.query_entities(ALL_JOBS_FILTER):
            yield Job.from_entity(entity)
