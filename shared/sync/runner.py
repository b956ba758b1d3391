"""The sync executor: list, plan, carry out, report. Also the DR status report.

One run: list the source and every target concurrently (each client's per-resource rate limiters
pace the calls), read the copy records, plan (`shared.sync.planner`), then — unless it is a dry
run — delete stale copies and submit copies in dependency order through an `Executor`, at most
`sync_max_jobs_per_run` per run and `concurrency` at a time, delete orphans when pruning is on,
and publish ``docintel-dr.sync.completed`` (always) and ``docintel-dr.drift.detected`` (when a
target misses items, holds stale ones, cannot take some, or cannot be reached).

Two executors: `PipelineExecutor` (the function app: `CopyService.submit`, i.e. authorize, job row,
queue; the copy finishes later) and `DirectExecutor` (the CLI: authorize, copyTo, poll until done,
with the client only — no queues, no function app).

A source that cannot be listed ends the run as ``failed`` with its event; a target that cannot be
listed is reported unreachable and the others are synced. The next run heals whatever is missing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.docintel import (
    Conflict,
    DocIntelClient,
    DocIntelError,
    ItemInfo,
    ItemKind,
    ItemNotFound,
    supports_classifiers,
)
from shared.events import DATA_SCHEMA_VERSION, DRIFT_DETECTED, EVENT_SOURCE, SYNC_COMPLETED, EventPublisher
from shared.jobs import Job, JobStatus, JobStore, Origin, utcnow
from shared.provenance import is_copy_of, provenance_tags
from shared.settings import Settings
from shared.sync.planner import (
    Action,
    CopyRecord,
    Filters,
    Plan,
    PlanItem,
    SourceInventory,
    TargetInventory,
    plan,
)
from shared.sync.state import CopyRecords

log = logging.getLogger("docintel_dr.sync")

DEFAULT_CONCURRENCY = 16
#: Items named per target in a drift event (the full list is in the plan / status report).
DRIFT_ITEMS_PER_TARGET = 100

Progress = Callable[[int, int, str], None]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _error(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, DocIntelError):
        return {"code": exc.code or type(exc).__name__, "message": exc.message}
    return {"code": type(exc).__name__, "message": str(exc)[:300]}


# --- listing --------------------------------------------------------------------------------------


async def _list_all(client: DocIntelClient) -> list[ItemInfo]:
    kinds = [ItemKind.MODEL]
    if supports_classifiers(client.api_version):
        kinds.append(ItemKind.CLASSIFIER)
    pages = await asyncio.gather(*(client.list_items(kind) for kind in kinds))
    return [item for page in pages for item in page]


async def _target_inventory(
    client: DocIntelClient, records: dict[tuple[str, str], CopyRecord]
) -> TargetInventory:
    try:
        items, quota = await asyncio.gather(_list_all(client), client.get_quota())
    except DocIntelError as exc:
        log.warning("sync: target %s cannot be listed: %s", client.alias, exc.message)
        return TargetInventory(client.alias, client.api_version, [], None, records, error=exc.message)
    return TargetInventory(client.alias, client.api_version, items, quota, records)


async def gather_inventory(
    settings: Settings,
    clients: dict[str, DocIntelClient],
    records: CopyRecords,
    targets: Sequence[str],
) -> tuple[SourceInventory | None, str | None, list[TargetInventory]]:
    """List the source and the targets concurrently; read the copy records. The source inventory
    is None (with the reason) when the source cannot be listed."""
    source = clients[settings.primary]

    async def list_source() -> tuple[SourceInventory | None, str | None]:
        try:
            items = await _list_all(source)
        except DocIntelError as exc:
            log.error("sync: source %s cannot be listed: %s", source.alias, exc.message)
            return None, exc.message
        endpoint = settings.resource(settings.primary).endpoint
        return SourceInventory(source.alias, endpoint, source.api_version, items), None

    async def read_records() -> dict[str, dict[tuple[str, str], CopyRecord]]:
        try:
            return await records.load(settings.primary)
        except Exception as exc:
            log.warning("sync: copy records unreadable (%s); planning without them", type(exc).__name__)
            return {}

    (inventory, error), by_target = await asyncio.gather(list_source(), read_records())
    target_inventories = await asyncio.gather(
        *(_target_inventory(clients[alias], by_target.get(alias, {})) for alias in targets)
    )
    return inventory, error, list(target_inventories)


# --- executing ------------------------------------------------------------------------------------


@dataclass
class JobResult:
    """What happened to one copy (item x target) in this run."""

    target: str
    kind: str
    source_id: str
    action: str
    status: str  # started | succeeded | failed | up-to-date | deferred
    job_id: str | None = None
    target_id: str | None = None
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "sourceId": self.source_id,
            "action": self.action,
            "status": self.status,
            "jobId": self.job_id,
            "targetId": self.target_id,
            "error": self.error,
        }


class Executor(Protocol):
    async def copy(self, item: PlanItem) -> JobResult: ...


class PipelineExecutor:
    """Copies through the app's pipeline: `CopyService.submit` authorizes, writes the job row and
    enqueues; the queue functions finish the copy."""

    def __init__(self, service: Any, source: str) -> None:
        self.service = service
        self.source = source

    async def copy(self, item: PlanItem) -> JobResult:
        from shared.copy_service import CopyRequest

        assert item.source is not None
        legacy = item.source.legacy_v21
        outcomes = await self.service.submit(
            CopyRequest(
                kind=ItemKind(item.kind),
                source_id=item.source_id,
                source=self.source,
                targets=[item.target],
                target_id=None if legacy else item.source_id,
                origin=Origin.SYNC,
                source_item=item.source,
            )
        )
        outcome = outcomes[0]
        result = JobResult(item.target, item.kind, item.source_id, item.action.value, "failed")
        if outcome.job is not None:
            result.status, result.job_id, result.target_id = (
                "started",
                outcome.job.job_id,
                outcome.job.target_id,
            )
        elif outcome.up_to_date:
            result.status, result.target_id = "up-to-date", item.source_id
        elif outcome.error is not None:
            result.error = _error(outcome.error)
        return result


class DirectExecutor:
    """Copies with the client alone (the CLI): authorize at the target, copyTo at the source, poll
    the operation until it ends, then write the copy record."""

    def __init__(
        self,
        settings: Settings,
        clients: dict[str, DocIntelClient],
        records: CopyRecords,
        *,
        poll_interval: float = 1.0,
        timeout: float = 3600.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.records = records
        self.poll_interval = poll_interval
        self.timeout = timeout
        self._sleep = sleep

    async def _recorded(self, item: PlanItem) -> bool:
        """A classifier (no tags): does the copy record say this build is at the target?"""
        try:
            record = await self.records.get(
                source=self.settings.primary, target=item.target, kind=item.kind, source_id=item.source_id
            )
        except Exception:
            return False
        return record is not None and record.source_created == item.source_created

    async def copy(self, item: PlanItem) -> JobResult:
        source_alias = self.settings.primary
        source = self.clients[source_alias]
        target = self.clients[item.target]
        kind = ItemKind(item.kind)
        result = JobResult(item.target, item.kind, item.source_id, item.action.value, "failed")
        src = item.source
        assert src is not None
        endpoint = self.settings.resource(source_alias).endpoint
        tags = {**src.tags, **provenance_tags(endpoint, src.id, src.created_at)}
        target_id = item.source_id  # v2.1 targets ignore it and mint their own id
        try:
            try:
                authorization = await target.authorize_copy(
                    kind, target_id, description=src.description, tags=tags
                )
            except Conflict as exc:
                try:
                    existing = await target.get_item(kind, target_id)
                except DocIntelError:
                    raise exc from None
                if is_copy_of(existing.tags, endpoint, src.id, src.created_at) or (
                    kind is ItemKind.CLASSIFIER and await self._recorded(item)
                ):
                    result.status, result.target_id = "up-to-date", target_id
                    return result
                raise
            result.target_id = authorization.target_id
            url = await source.start_copy(
                kind,
                src.id,
                authorization,
                allow_degrade=self.settings.resource(item.target).allow_degrade,
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            while True:
                operation = await source.get_operation(url)
                if operation.status.is_terminal:
                    break
                if loop.time() > deadline:
                    result.error = {"code": "Timeout", "message": "the copy did not finish in time"}
                    return result
                await self._sleep(operation.retry_after or self.poll_interval)
            if operation.status.value != "succeeded":
                error = operation.error
                result.error = {
                    "code": error.code if error else operation.status.value,
                    "message": error.message if error else f"the copy ended {operation.status.value}",
                }
                return result
        except DocIntelError as exc:
            result.error = _error(exc)
            return result
        result.status = "succeeded"
        try:
            await self.records.record(
                source=source_alias,
                target=item.target,
                kind=item.kind,
                source_id=item.source_id,
                target_id=result.target_id or target_id,
                source_created=item.source_created,
                copied_at=utcnow(),
            )
        except Exception as exc:
            log.warning("copy record for %s not written (%s)", item.source_id, type(exc).__name__)
        return result


# --- a run ----------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    sync_id: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    source: str = ""
    error: str | None = None
    plan: Plan | None = None
    jobs: list[JobResult] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)

    def job_counts(self) -> dict[str, int]:
        counts = {"started": 0, "succeeded": 0, "failed": 0, "upToDate": 0, "deferred": 0}
        for job in self.jobs:
            key = "upToDate" if job.status == "up-to-date" else job.status
            counts[key] = counts.get(key, 0) + 1
        counts["deleted"] = sum(1 for d in self.deleted if d["status"] == "deleted")
        return counts

    @property
    def status(self) -> str:
        if self.error is not None or self.plan is None:
            return "failed"
        counts = self.job_counts()
        plan_counts = self.plan.counts()
        if (
            self.plan.unreachable
            or counts["failed"]
            or counts["deferred"]
            or plan_counts["blocked"]
            or any(d["status"] != "deleted" for d in self.deleted)
        ):
            return "partial"
        return "succeeded"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "syncId": self.sync_id,
            "trigger": self.trigger,
            "dryRun": self.dry_run,
            "status": self.status,
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at),
            "source": self.source,
            "error": self.error,
        }
        plan_dict = self.plan.to_dict() if self.plan else {"counts": None, "excluded": 0, "targets": {}}
        body.update(
            {
                "prune": plan_dict.get("prune"),
                "counts": plan_dict["counts"],
                "excluded": plan_dict["excluded"],
                "targets": plan_dict["targets"],
                "jobs": {**self.job_counts(), "items": [j.to_dict() for j in self.jobs]},
                "deleted": self.deleted,
            }
        )
        return body


def new_sync_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


async def run_sync(
    settings: Settings,
    clients: dict[str, DocIntelClient],
    executor: Executor,
    records: CopyRecords,
    *,
    events: EventPublisher | None = None,
    dry_run: bool = False,
    targets: Sequence[str] | None = None,
    trigger: str = "manual",
    max_jobs: int | None = None,
    prune: bool | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
    sync_id: str | None = None,
) -> SyncReport:
    """One sync run. Never raises for service failures: they end up in the report (and events)."""
    started = clock()
    report = SyncReport(
        sync_id=sync_id or new_sync_id(started),
        trigger=trigger,
        dry_run=dry_run,
        started_at=started,
        source=settings.primary,
    )
    target_aliases = list(targets) if targets else list(settings.secondaries)
    source, error, inventories = await gather_inventory(settings, clients, records, target_aliases)
    if source is None:
        report.error = f"the source '{settings.primary}' could not be listed: {error}"
    else:
        report.plan = plan(
            source,
            inventories,
            filters=Filters.from_settings(settings),
            prune=settings.sync_prune if prune is None else prune,
        )
        if not dry_run:
            await _execute(
                report,
                report.plan,
                clients,
                executor,
                records,
                max_jobs or settings.sync_max_jobs_per_run,
                concurrency,
                progress,
            )
    report.finished_at = clock()
    log.info(
        "sync %s %s: %s, jobs %s",
        report.sync_id,
        report.status,
        report.plan.counts() if report.plan else report.error,
        report.job_counts(),
    )
    if events is not None and not dry_run:
        await events.publish(sync_events(report, settings))
    return report


async def _execute(
    report: SyncReport,
    the_plan: Plan,
    clients: dict[str, DocIntelClient],
    executor: Executor,
    records: CopyRecords,
    max_jobs: int,
    concurrency: int,
    progress: Progress | None,
) -> None:
    work = the_plan.work()
    now_work, later = work[:max_jobs], work[max_jobs:]
    deletions = the_plan.deletions()
    total = len(now_work) + len(deletions)
    done = 0
    semaphore = asyncio.Semaphore(max(1, concurrency))
    source = the_plan.source

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    async def delete(item: PlanItem) -> dict[str, str] | None:
        """Delete a stale or orphaned copy at the target; the error, or None."""
        assert item.target_id is not None
        try:
            await clients[item.target].delete_item(ItemKind(item.kind), item.target_id)
        except ItemNotFound:
            pass
        except DocIntelError as exc:
            return _error(exc)
        try:
            await records.forget(source=source, target=item.target, kind=item.kind, source_id=item.source_id)
        except Exception:
            log.debug("copy record not removed", exc_info=True)
        return None

    async def copy(item: PlanItem) -> JobResult:
        async with semaphore:
            try:
                if item.action is Action.RECOPY and item.delete and item.target_id:
                    failure = await delete(item)
                    if failure is not None:
                        return JobResult(
                            item.target,
                            item.kind,
                            item.source_id,
                            item.action.value,
                            "failed",
                            target_id=item.target_id,
                            error=failure,
                        )
                try:
                    return await executor.copy(item)
                except DocIntelError as exc:
                    return JobResult(
                        item.target, item.kind, item.source_id, item.action.value, "failed", error=_error(exc)
                    )
            finally:
                tick(f"{item.kind} {item.source_id} -> {item.target}")

    async def prune(item: PlanItem) -> dict[str, Any]:
        async with semaphore:
            failure = await delete(item)
            tick(f"delete {item.kind} {item.target_id} at {item.target}")
        entry: dict[str, Any] = {
            "target": item.target,
            "kind": item.kind,
            "targetId": item.target_id,
            "status": "deleted" if failure is None else "failed",
        }
        if failure is not None:
            entry["error"] = failure
        return entry

    results = await asyncio.gather(*(copy(item) for item in now_work))
    report.jobs.extend(results)
    report.jobs.extend(
        JobResult(
            item.target, item.kind, item.source_id, item.action.value, "deferred", target_id=item.target_id
        )
        for item in later
    )
    report.deleted.extend(await asyncio.gather(*(prune(item) for item in deletions)))


# --- events ---------------------------------------------------------------------------------------


def sync_events(report: SyncReport, settings: Settings) -> list[dict[str, Any]]:
    """``sync.completed`` always, ``drift.detected`` when a target is out of sync. The ids derive
    from the run id, so a re-published run carries the same ids."""
    body = report.to_dict()
    targets = {
        alias: {"reachable": t["reachable"], "error": t["error"], "counts": t["counts"]}
        for alias, t in body["targets"].items()
    }
    time = _iso(report.finished_at or report.started_at)
    events = [
        {
            "specversion": "1.0",
            "id": f"sync-{report.sync_id}",
            "source": EVENT_SOURCE,
            "type": SYNC_COMPLETED,
            "subject": f"/syncs/{report.sync_id}",
            "time": time,
            "datacontenttype": "application/json",
            "data": {
                "schemaVersion": DATA_SCHEMA_VERSION,
                "syncId": report.sync_id,
                "trigger": report.trigger,
                "status": report.status,
                "source": {"alias": report.source, "endpoint": settings.resource(report.source).endpoint},
                "error": None
                if report.error is None
                else {"code": "SourceUnavailable", "message": report.error},
                "counts": body["counts"],
                "excluded": body["excluded"],
                "targets": targets,
                "jobs": {k: v for k, v in body["jobs"].items() if k != "items"},
                "startedAt": _iso(report.started_at),
                "finishedAt": time,
            },
        }
    ]
    if report.plan is not None and report.plan.drift:
        drift: dict[str, Any] = {}
        for alias, target in report.plan.targets.items():
            counts = target.counts()
            if target.error is None and not (counts["copy"] or counts["recopy"] or counts["blocked"]):
                continue
            drift[alias] = {
                "reachable": target.error is None,
                "error": target.error,
                "missing": counts["copy"],
                "stale": counts["recopy"],
                "blocked": counts["blocked"],
                "orphans": counts["orphan"],
                "items": [
                    {"kind": i.kind, "sourceId": i.source_id, "action": i.action.value, "reason": i.reason}
                    for i in target.items
                    if i.action in (Action.COPY, Action.RECOPY, Action.BLOCKED)
                ][:DRIFT_ITEMS_PER_TARGET],
            }
        events.append(
            {
                "specversion": "1.0",
                "id": f"drift-{report.sync_id}",
                "source": EVENT_SOURCE,
                "type": DRIFT_DETECTED,
                "subject": f"/syncs/{report.sync_id}",
                "time": time,
                "datacontenttype": "application/json",
                "data": {
                    "schemaVersion": DATA_SCHEMA_VERSION,
                    "syncId": report.sync_id,
                    "source": {"alias": report.source},
                    "targets": drift,
                },
            }
        )
    return events


# --- DR status ------------------------------------------------------------------------------------

_STATE = {
    Action.UP_TO_DATE: "present",
    Action.COPY: "missing",
    Action.RECOPY: "stale",
    Action.BLOCKED: "missing",
    Action.ORPHAN: "orphan",
}


async def _job_history(
    jobs: JobStore | None,
) -> tuple[dict[tuple[str, str, str], Job], dict[tuple[str, str, str], Job]]:
    """Latest succeeded and latest failed job per (kind, source id, target)."""
    succeeded: dict[tuple[str, str, str], Job] = {}
    failed: dict[tuple[str, str, str], Job] = {}
    if jobs is None:
        return succeeded, failed
    try:
        async for job in jobs.iter_all():  # newest first
            key = (job.kind, job.source_id, job.target_alias)
            if job.status is JobStatus.SUCCEEDED:
                succeeded.setdefault(key, job)
            elif job.status is JobStatus.FAILED:
                failed.setdefault(key, job)
    except Exception as exc:
        log.warning("status: job rows unreadable (%s)", type(exc).__name__)
    return succeeded, failed


async def dr_status(
    settings: Settings,
    clients: dict[str, DocIntelClient],
    records: CopyRecords,
    jobs: JobStore | None = None,
    *,
    targets: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """For every source item x target: present / missing / stale / orphan, the recovery point (time
    of the last successful copy, from copy records or job rows, else the target item's created
    time) and its age, and the last error since then."""
    now = clock()
    target_aliases = list(targets) if targets else list(settings.secondaries)
    (source, error, inventories), (succeeded, failed) = await asyncio.gather(
        gather_inventory(settings, clients, records, target_aliases), _job_history(jobs)
    )
    body: dict[str, Any] = {
        "generatedAt": _iso(now),
        "source": {"alias": settings.primary, "reachable": source is not None, "error": error},
        "inSync": False,
        "targets": {},
    }
    if source is None:
        return body
    the_plan = plan(source, inventories, filters=Filters.from_settings(settings), prune=False)
    in_sync = True
    for inventory in inventories:
        target_plan = the_plan.targets[inventory.alias]
        by_id = {(i.kind.value, i.id): i for i in inventory.items}
        items = []
        counts = {"present": 0, "missing": 0, "stale": 0, "orphan": 0, "blocked": 0}
        oldest: datetime | None = None
        for entry in target_plan.items:
            state = _STATE[entry.action]
            counts[state] += 1
            if entry.action is Action.BLOCKED:
                counts["blocked"] += 1
            key = (entry.kind, entry.source_id, inventory.alias)
            record = inventory.records.get((entry.kind, entry.source_id))
            job = succeeded.get(key)
            last_copy: datetime | None = None
            if entry.action is not Action.ORPHAN:
                candidates = [
                    t for t in (record.copied_at if record else None, job.finished_at if job else None) if t
                ]
                if candidates:
                    last_copy = max(candidates)
                elif entry.target_id and (entry.kind, entry.target_id) in by_id:
                    last_copy = by_id[(entry.kind, entry.target_id)].created_at
            if state == "present" and last_copy is not None and (oldest is None or last_copy < oldest):
                oldest = last_copy
            failure = failed.get(key)
            last_error = None
            if failure is not None and (last_copy is None or (failure.updated_at or now) > last_copy):
                last_error = {
                    "code": failure.error_code,
                    "message": failure.error_message,
                    "at": _iso(failure.finished_at or failure.updated_at),
                    "jobId": failure.job_id,
                }
            items.append(
                {
                    "kind": entry.kind,
                    "sourceId": entry.source_id,
                    "targetId": entry.target_id,
                    "state": state,
                    "reason": entry.reason if entry.action is not Action.UP_TO_DATE else None,
                    "lastCopiedAt": _iso(last_copy),
                    "ageSeconds": round((now - last_copy).total_seconds()) if last_copy else None,
                    "lastError": last_error,
                }
            )
        target_in_sync = inventory.error is None and not (counts["missing"] or counts["stale"])
        in_sync = in_sync and target_in_sync
        body["targets"][inventory.alias] = {
            "reachable": inventory.error is None,
            "error": inventory.error,
            "inSync": target_in_sync,
            "counts": counts,
            "oldestRecoveryPoint": _iso(oldest),
            "oldestRecoveryPointAgeSeconds": round((now - oldest).total_seconds()) if oldest else None,
            "items": items,
        }
    body["inSync"] = in_sync
    return body
