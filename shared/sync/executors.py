"""How a sync carries out one copy of its plan.

`PipelineExecutor` (the function app): `CopyService.submit` authorizes, writes the job row and
enqueues; the queue functions finish the copy later. `DirectExecutor` (the CLI): authorize, copyTo,
poll until done, with the client only: no queues, no function app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.copy import integrity
from shared.copy.jobs import Origin
from shared.copy.provenance import is_copy_of, provenance_tags
from shared.copy.records import CopyRecords
from shared.copy.service import CopyRequest, CopyService
from shared.docintel import (
    Conflict,
    CopyAuthorization,
    DocIntelClient,
    DocIntelError,
    ItemInfo,
    ItemKind,
    ItemNotFound,
    OperationStatus,
)
from shared.jsondoc import JsonObject
from shared.settings import Settings
from shared.sync.pages import SyncPages
from shared.sync.planner import PlanItem
from shared.timefmt import utcnow

log = logging.getLogger("docintel_dr.sync")


class CopyStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UP_TO_DATE = "up-to-date"
    #: Left for a later page of the same sync (`shared.sync.pages`).
    SCHEDULED = "scheduled"
    #: Left for the next run (the CLI's --max-jobs).
    DEFERRED = "deferred"


@dataclass
class ErrorInfo:
    code: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, DocIntelError):
            return cls(exc.code or type(exc).__name__, exc.message)
        return cls(type(exc).__name__, str(exc)[:300])

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class CopyResult:
    """What happened to one copy (item x target) in this run."""

    item: PlanItem
    status: CopyStatus
    job_id: str | None = None
    target_id: str | None = None
    error: ErrorInfo | None = None

    def to_dict(self) -> JsonObject:
        return {
            "target": self.item.target_alias,
            "kind": self.item.kind.value,
            "sourceId": self.item.source_id,
            "action": self.item.action.value,
            "status": self.status.value,
            "jobId": self.job_id,
            "targetId": self.target_id,
            "error": self.error.to_dict() if self.error else None,
        }


class Executor(Protocol):
    #: Where copies beyond the first page continue (None: they are deferred to the next run).
    pages: SyncPages | None

    async def copy(self, item: PlanItem, start_in: float = 0.0, job_id: str | None = None) -> CopyResult:
        """Copy `item`, starting in `start_in` seconds. `job_id`: the id of the copy's job, the same
        each time this copy is submitted again (where copies have jobs)."""
        ...


def _source_item(item: PlanItem) -> ItemInfo:
    # The planner hands the source item to every copy and recopy it plans.
    assert item.source_item is not None, f"plan item {item.source_id} has no source item"
    return item.source_item


class PipelineExecutor:
    """Copies through the app's pipeline; the copy finishes later, in the queue functions."""

    def __init__(self, service: CopyService, source_alias: str, pages: SyncPages | None = None) -> None:
        self.service = service
        self.source_alias = source_alias
        self.pages = pages

    async def copy(self, item: PlanItem, start_in: float = 0.0, job_id: str | None = None) -> CopyResult:
        source = _source_item(item)
        [outcome] = await self.service.submit(
            CopyRequest(
                kind=item.kind,
                source_id=item.source_id,
                source_alias=self.source_alias,
                targets=[item.target_alias],
                target_id=None if source.legacy_v21 else item.source_id,
                origin=Origin.SYNC,
                source_item=source,
                authorize_now=False,
                start_in=start_in,
                job_id=job_id,
            )
        )
        if outcome.job is not None:
            return CopyResult(item, CopyStatus.STARTED, outcome.job.job_id, outcome.job.target_id)
        if outcome.up_to_date:
            return CopyResult(item, CopyStatus.UP_TO_DATE, target_id=item.source_id)
        error = ErrorInfo.of(outcome.error) if outcome.error is not None else None
        return CopyResult(item, CopyStatus.FAILED, error=error)


class DirectExecutor:
    """Copies with the client alone (the CLI): authorize at the target, copyTo at the source, poll
    the operation until it ends, read the target item (it must be ready and match the source), then
    write the copy record."""

    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, DocIntelClient],
        records: CopyRecords,
        *,
        source_alias: str | None = None,
        poll_interval: float = 1.0,
        timeout: float = 3600.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.records = records
        self.source_alias = source_alias or settings.primary
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._sleep = sleep
        self.pages: SyncPages | None = None

    async def copy(self, item: PlanItem, start_in: float = 0.0, job_id: str | None = None) -> CopyResult:
        source = _source_item(item)  # the copy runs here and now: it has no job
        try:
            authorization = await self._authorize(item, source)
            if authorization is None:
                return CopyResult(item, CopyStatus.UP_TO_DATE, target_id=item.source_id)
            error = await self._copy_and_wait(item, source, authorization)
            if error is None:
                error = await self._verify(item, source, authorization.target_id)
        except DocIntelError as exc:
            return CopyResult(item, CopyStatus.FAILED, error=ErrorInfo.of(exc))
        if error is not None:
            return CopyResult(item, CopyStatus.FAILED, target_id=authorization.target_id, error=error)
        await self._record(item, authorization.target_id)
        return CopyResult(item, CopyStatus.SUCCEEDED, target_id=authorization.target_id)

    async def _authorize(self, item: PlanItem, source: ItemInfo) -> CopyAuthorization | None:
        """An authorization at the target; None when the target already holds this very build."""
        target = self.clients[item.target_alias]
        endpoint = self.settings.resource(self.source_alias).endpoint
        tags = {**source.tags, **provenance_tags(endpoint, source.id, source.created_at)}
        target_id = item.source_id  # v2.1 targets ignore it and mint their own id
        try:
            return await target.authorize_copy(
                item.kind, target_id, description=source.description, tags=tags
            )
        except Conflict as conflict:
            try:
                existing = await target.get_item(item.kind, target_id)
            except DocIntelError:
                raise conflict from None
            if is_copy_of(existing.tags, endpoint, source.id, source.created_at) or (
                item.kind is ItemKind.CLASSIFIER and await self._recorded(item)
            ):
                return None
            raise

    async def _copy_and_wait(
        self, item: PlanItem, source: ItemInfo, authorization: CopyAuthorization
    ) -> ErrorInfo | None:
        """copyTo, then poll until the operation ends; why it failed, or None."""
        client = self.clients[self.source_alias]
        allow_degrade = self.settings.resource(item.target_alias).allow_degrade
        url = await client.start_copy(item.kind, source.id, authorization, allow_degrade=allow_degrade)
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            operation = await client.get_operation(url)
            if operation.status.is_terminal:
                break
            if asyncio.get_running_loop().time() > deadline:
                return ErrorInfo("Timeout", "the copy did not finish in time")
            await self._sleep(operation.retry_after or self.poll_interval)
        if operation.status is OperationStatus.SUCCEEDED:
            return None
        if operation.error is not None:
            return ErrorInfo(operation.error.code, operation.error.message)
        return ErrorInfo(operation.status.value, f"the copy ended {operation.status.value}")

    async def _verify(self, item: PlanItem, source: ItemInfo, target_id: str) -> ErrorInfo | None:
        """The copy must be at the target, ready, with the source's docTypes and field schemas
        (`shared.copy.integrity`); why not, or None. The source is read again only when its listing
        did not show its schemas."""
        try:
            copied = await self.clients[item.target_alias].get_item(item.kind, target_id)
        except ItemNotFound:
            return ErrorInfo(
                "TargetMissing",
                f"the operation reported success but {item.kind.value} '{target_id}' does not exist at "
                f"'{item.target_alias}'",
            )
        if not copied.ready:
            return ErrorInfo(
                "TargetNotReady", f"{item.kind.value} '{target_id}' at '{item.target_alias}' is not ready"
            )
        if source.field_schemas is None and copied.field_schemas is not None:
            try:
                source = await self.clients[self.source_alias].get_item(item.kind, source.id)
            except DocIntelError as exc:  # not known then: the copy itself succeeded
                log.warning(
                    "copy of %s: source not readable for the integrity check (%s)", source.id, exc.code
                )
        found = integrity.check_copy(expected=None, source=source, target=copied, source_id=item.source_id)
        if found is None:
            return None
        return ErrorInfo(
            integrity.DIVERGED,
            f"the copy of {item.kind.value} '{item.source_id}' at '{item.target_alias}' ('{target_id}') does "
            f"not match the source at '{self.source_alias}': {integrity.describe(found)}; it stays at the "
            "target, not counted as present: delete it there and copy again",
        )

    async def _recorded(self, item: PlanItem) -> bool:
        """A classifier (no tags): does the copy record say this build is at the target?"""
        try:
            record = await self.records.get(
                source_alias=self.source_alias,
                target_alias=item.target_alias,
                kind=item.kind,
                source_id=item.source_id,
            )
        except Exception:  # any storage failure: unknown, so copy
            return False
        return record is not None and record.source_created == item.source_created

    async def _record(self, item: PlanItem, target_id: str) -> None:
        try:
            await self.records.record(
                source_alias=self.source_alias,
                target_alias=item.target_alias,
                kind=item.kind,
                source_id=item.source_id,
                target_id=target_id,
                source_created=item.source_created,
                copied_at=utcnow(),
            )
        except Exception as exc:  # any storage failure: the copy itself succeeded
            log.warning("copy record for %s not written (%s)", item.source_id, type(exc).__name__)
