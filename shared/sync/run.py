"""One sync run: list, plan, carry out, report.

List the source and every target concurrently (`shared.sync.inventory`), plan
(`shared.sync.planner`), then, unless it is a dry run, delete stale copies and submit copies in
dependency order through an `Executor`: the first `DR_SYNC_PAGE_SIZE` in this invocation, each
job's first message at its slot of the source's rate, `concurrency` submits at a time; the rest
continue in pages on the `sync-pages` queue (`shared.sync.pages`, `continue_sync`), or, for the
CLI, are deferred to the next run. Then delete orphans when pruning is on, and publish
``docintel-dr.sync.completed`` (always) and ``docintel-dr.drift.detected`` (when a target misses
items, holds stale ones, cannot take some, or cannot be reached).

A source that cannot be listed ends the run as ``failed`` with its event; a target that cannot be
listed is reported unreachable and the others are synced. The next run heals whatever is missing.

The source is the primary unless `source` names another resource: a failback, after an outage,
copies what was trained or changed at the secondary back to the recovered primary (default target:
the primary). Such a run never deletes orphans: the target's own items are not its to prune.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared import telemetry as tel
from shared.copy.records import CopyRecords
from shared.docintel import DocIntelClient, DocIntelError, ItemNotFound
from shared.events import EventPublisher
from shared.jsondoc import JsonObject
from shared.settings import Settings
from shared.status.rows import StatusRows, source_summary_key
from shared.status.snapshot import record_outcome, record_plan, record_source
from shared.sync.events import sync_events
from shared.sync.executors import CopyResult, CopyStatus, ErrorInfo, Executor
from shared.sync.filters import Filters
from shared.sync.inventory import gather_inventory
from shared.sync.pages import SyncPageMessage, pacing_slot, page_job_id
from shared.sync.planner import Plan, PlanAction, PlanItem, plan
from shared.timefmt import iso, utcnow

log = logging.getLogger("docintel_dr.sync")

DEFAULT_CONCURRENCY = 16

Progress = Callable[[int, int, str], None]


@dataclass
class Deletion:
    """A stale or orphaned copy deleted at a target (or not, with the error)."""

    item: PlanItem
    error: ErrorInfo | None = None

    def to_dict(self) -> JsonObject:
        body: JsonObject = {
            "target": self.item.target_alias,
            "kind": self.item.kind.value,
            "targetId": self.item.target_id,
            "status": "deleted" if self.error is None else "failed",
        }
        if self.error is not None:
            body["error"] = self.error.to_dict()
        return body


@dataclass
class SyncReport:
    sync_id: str
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    source_alias: str = ""
    error: str | None = None
    plan: Plan | None = None
    copies: list[CopyResult] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)

    def job_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("started", "succeeded", "failed", "upToDate", "scheduled", "deferred"), 0)
        for copy in self.copies:
            key = "upToDate" if copy.status is CopyStatus.UP_TO_DATE else copy.status.value
            counts[key] += 1
        counts["deleted"] = sum(1 for d in self.deletions if d.error is None)
        return counts

    @property
    def status(self) -> str:
        if self.error is not None or self.plan is None:
            return "failed"
        counts = self.job_counts()
        if (
            self.plan.unreachable
            or counts["failed"]
            or counts["deferred"]
            or self.plan.counts()["blocked"]
            or any(d.error is not None for d in self.deletions)
        ):
            return "partial"
        return "succeeded"

    def to_dict(self) -> JsonObject:
        plan_dict = self.plan.to_dict() if self.plan else {"counts": None, "excluded": 0, "targets": {}}
        return {
            "syncId": self.sync_id,
            "trigger": self.trigger,
            "dryRun": self.dry_run,
            "status": self.status,
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "source": self.source_alias,
            "error": self.error,
            "prune": plan_dict.get("prune"),
            "counts": plan_dict["counts"],
            "excluded": plan_dict["excluded"],
            "targets": plan_dict["targets"],
            "jobs": {**self.job_counts(), "items": [c.to_dict() for c in self.copies]},
            "deleted": [d.to_dict() for d in self.deletions],
        }


def new_sync_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


@tel.traced(tel.SPAN_SYNC)
async def run_sync(
    settings: Settings,
    clients: Mapping[str, DocIntelClient],
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
    status: StatusRows | None = None,
    source: str | None = None,
) -> SyncReport:
    """One sync run. Never raises for service failures: they end up in the report (and events).
    With `status`, what it saw and did is written to the DR status rows (dry runs too). `source`:
    the resource to copy from (default: the primary; see the module's docstring)."""
    started = clock()
    source_alias = source or settings.primary
    report = SyncReport(
        sync_id=sync_id or new_sync_id(started),
        trigger=trigger,
        dry_run=dry_run,
        started_at=started,
        source_alias=source_alias,
    )
    inventory = await gather_inventory(
        settings, clients, records, list(targets or default_targets(settings, source_alias)), source_alias
    )
    if inventory.source is None:
        report.error = f"the source '{source_alias}' could not be listed: {inventory.error}"
    else:
        pruning = settings.sync_prune if prune is None else prune
        report.plan = plan(
            inventory.source,
            inventory.targets,
            filters=Filters.from_settings(settings),
            prune=pruning and source_alias == settings.primary,
        )
        tel.record_plan(report.plan, clock())
        if status is not None:
            for inventory_of_target in inventory.targets:
                target_plan = report.plan.targets[inventory_of_target.alias]
                await record_plan(status, target_plan, inventory_of_target, report.sync_id)
        if not dry_run:
            execution = Execution(clients, executor, records, source_alias, concurrency, progress)
            execution.page_source = None if source_alias == settings.primary else source_alias
            await execution.run(
                report, report.plan, max_jobs or settings.sync_page_size, pacing_slot(settings, source_alias)
            )
    report.finished_at = clock()
    tel.record_sync_run(report)
    if status is not None:
        await _record_status(status, report, settings.primary)
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


def default_targets(settings: Settings, source_alias: str) -> list[str]:
    """Every secondary for a sync from the primary; the primary for a sync from elsewhere (a
    failback)."""
    if source_alias == settings.primary:
        return list(settings.secondaries)
    return [settings.primary]


async def _record_status(rows: StatusRows, report: SyncReport, primary: str) -> None:
    assert report.finished_at is not None
    sync_id, finished_at, status = report.sync_id, report.finished_at, report.status
    await record_source(
        rows,
        key=source_summary_key(report.source_alias, primary),
        source=report.source_alias,
        reachable=report.plan is not None,
        error=report.error,
        sync_id=sync_id,
        finished_at=finished_at,
        sync_status=status,
    )
    if report.plan is not None:
        for target_plan in report.plan.targets.values():
            await record_outcome(
                rows,
                target_plan,
                report.copies,
                source=report.source_alias,
                sync_id=sync_id,
                finished_at=finished_at,
                sync_status=status,
            )


async def continue_sync(
    settings: Settings,
    clients: Mapping[str, DocIntelClient],
    executor: Executor,
    records: CopyRecords,
    message: SyncPageMessage,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[CopyResult]:
    """One later page of a sync (a `sync-pages` message): submit its copies at their slots, send the
    next page's message, forget the page."""
    pages = executor.pages
    assert pages is not None, "only the pipeline continues a sync in pages"
    began = time.monotonic()
    page = await pages.read(message)
    execution = Execution(clients, executor, records, message.source or settings.primary, concurrency, None)

    async def submit(index: int, sequence: int, item: PlanItem) -> CopyResult:
        job_id = page_job_id(message.sync_id, sequence)
        result = await execution.copy(item, due=began + index * pages.slot, job_id=job_id)
        await pages.submitted(message, sequence)
        return result

    outcomes = await asyncio.gather(
        *(submit(index, sequence, item) for index, (sequence, item) in enumerate(page)),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        # The rows of what was submitted are gone: the retry of this message submits only the rest.
        raise failures[0]
    await pages.carry_on(message, elapsed=time.monotonic() - began)
    results = [o for o in outcomes if isinstance(o, CopyResult)]
    started = sum(1 for r in results if r.status is CopyStatus.STARTED)
    log.info("sync %s: page %d-%d submitted %d copies", message.sync_id, message.start, message.end, started)
    return results


class Execution:
    """Carrying out a plan: copies (after deleting what they replace), then orphan deletions, with
    at most `concurrency` service calls in flight."""

    def __init__(
        self,
        clients: Mapping[str, DocIntelClient],
        executor: Executor,
        records: CopyRecords,
        source_alias: str,
        concurrency: int,
        progress: Progress | None,
    ) -> None:
        self.clients = clients
        self.executor = executor
        self.records = records
        self.source_alias = source_alias
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.progress = progress
        self.done = 0
        self.total = 0
        #: What the pages of this sync name as its source (None: the primary).
        self.page_source: str | None = None

    async def run(self, report: SyncReport, the_plan: Plan, page_size: int, slot: float) -> None:
        began = time.monotonic()
        work = the_plan.work()
        now_work, later = work[:page_size], work[page_size:]
        deletions = the_plan.deletions()
        self.total = len(now_work) + len(deletions)
        report.copies.extend(
            await asyncio.gather(
                *(self.copy(item, due=began + index * slot) for index, item in enumerate(now_work))
            )
        )
        pages = self.executor.pages
        if later and pages is not None:
            # The first later page is due when this one's last slot is (slots count from `began`).
            start_in = len(now_work) * slot - (time.monotonic() - began)
            await pages.schedule(report.sync_id, later, start_in=start_in, source=self.page_source)
        status = CopyStatus.SCHEDULED if pages is not None else CopyStatus.DEFERRED
        report.copies.extend(CopyResult(item, status, target_id=item.target_id) for item in later)
        report.deletions.extend(await asyncio.gather(*(self._prune(item) for item in deletions)))

    def _tick(self, label: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, label)

    async def _delete(self, item: PlanItem) -> ErrorInfo | None:
        """Delete a stale or orphaned copy at the target; the error, or None."""
        assert item.target_id is not None  # the planner names the copy it deletes
        try:
            await self.clients[item.target_alias].delete_item(item.kind, item.target_id)
        except ItemNotFound:
            pass
        except DocIntelError as exc:
            return ErrorInfo.of(exc)
        try:
            await self.records.forget(
                source_alias=self.source_alias,
                target_alias=item.target_alias,
                kind=item.kind,
                source_id=item.source_id,
            )
        except Exception:  # any storage failure: a record of a deleted copy is only ignored later
            log.debug("copy record not removed", exc_info=True)
        return None

    async def copy(
        self, item: PlanItem, *, due: float | None = None, job_id: str | None = None
    ) -> CopyResult:
        """Copy one item; its job's first step is due at `due` (`time.monotonic()`), its slot counted
        from when the page began, however long the submits before it took. `job_id`: see
        `Executor.copy`."""
        async with self.semaphore:
            try:
                if item.action is PlanAction.RECOPY and item.delete and item.target_id:
                    failure = await self._delete(item)
                    if failure is not None:
                        return CopyResult(item, CopyStatus.FAILED, target_id=item.target_id, error=failure)
                start_in = max(0.0, due - time.monotonic()) if due else 0.0
                return await self.executor.copy(item, start_in, job_id)
            except DocIntelError as exc:
                return CopyResult(item, CopyStatus.FAILED, error=ErrorInfo.of(exc))
            finally:
                self._tick(f"{item.kind.value} {item.source_id} -> {item.target_alias}")

    async def _prune(self, item: PlanItem) -> Deletion:
        async with self.semaphore:
            failure = await self._delete(item)
            self._tick(f"delete {item.kind.value} {item.target_id} at {item.target_alias}")
        return Deletion(item, failure)
