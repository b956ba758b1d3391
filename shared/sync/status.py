"""The DR status report: for every source item at every target, present / missing / stale / orphan,
the recovery point (the time of the last successful copy, from copy records or job rows, else the
target item's created time) and its age, and the last error since then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shared.copy.jobs import Job, JobStatus, JobStore
from shared.copy.records import CopyRecords
from shared.docintel import DocIntelClient, ItemInfo, ItemKind
from shared.jsondoc import JsonObject
from shared.settings import Settings
from shared.sync.filters import Filters
from shared.sync.inventory import TargetInventory, gather_inventory
from shared.sync.planner import PlanAction, PlanItem, TargetPlan, plan
from shared.timefmt import iso, utcnow

log = logging.getLogger("docintel_dr.sync")


JobKey = tuple[ItemKind, str, str]  # kind, source id, target alias

STATE = {
    PlanAction.UP_TO_DATE: "present",
    PlanAction.COPY: "missing",
    PlanAction.RECOPY: "stale",
    PlanAction.BLOCKED: "missing",
    PlanAction.ORPHAN: "orphan",
}


@dataclass
class JobHistory:
    """The latest succeeded and the latest failed job per (kind, source id, target)."""

    succeeded: dict[JobKey, Job] = field(default_factory=dict)
    failed: dict[JobKey, Job] = field(default_factory=dict)

    @classmethod
    async def read(cls, jobs: JobStore) -> JobHistory:
        history = cls()
        try:
            async for job in jobs.iter_all():  # newest first
                key = (job.kind, job.source_id, job.target_alias)
                if job.status is JobStatus.SUCCEEDED:
                    history.succeeded.setdefault(key, job)
                elif job.status is JobStatus.FAILED:
                    history.failed.setdefault(key, job)
        except Exception as exc:  # any storage failure: the report still shows what the resources hold
            log.warning("status: job rows unreadable (%s)", type(exc).__name__)
        return history


async def dr_status(
    settings: Settings,
    clients: Mapping[str, DocIntelClient],
    records: CopyRecords,
    jobs: JobStore,
    *,
    targets: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> JsonObject:
    now = clock()
    target_aliases = list(targets) if targets else list(settings.secondaries)
    inventory, history = await asyncio.gather(
        gather_inventory(settings, clients, records, target_aliases), JobHistory.read(jobs)
    )
    body: JsonObject = {
        "generatedAt": iso(now),
        "source": {
            "alias": settings.primary,
            "reachable": inventory.source is not None,
            "error": inventory.error,
        },
        "inSync": False,
        "targets": {},
    }
    if inventory.source is None:
        return body
    the_plan = plan(inventory.source, inventory.targets, filters=Filters.from_settings(settings), prune=False)
    reports = {
        target.alias: _target_status(target, the_plan.targets[target.alias], history, now)
        for target in inventory.targets
    }
    body["targets"] = reports
    body["inSync"] = all(report["inSync"] for report in reports.values())
    return body


def _target_status(
    inventory: TargetInventory, target_plan: TargetPlan, history: JobHistory, now: datetime
) -> JsonObject:
    by_id = {(i.kind, i.id): i for i in inventory.items}
    counts = {"present": 0, "missing": 0, "stale": 0, "orphan": 0, "blocked": 0}
    items = []
    oldest: datetime | None = None
    for entry in target_plan.items:
        state = STATE[entry.action]
        counts[state] += 1
        if entry.action is PlanAction.BLOCKED:
            counts["blocked"] += 1
        last_copy = _last_copy(entry, inventory, history, by_id)
        if state == "present" and last_copy is not None and (oldest is None or last_copy < oldest):
            oldest = last_copy
        items.append(
            {
                "kind": entry.kind.value,
                "sourceId": entry.source_id,
                "targetId": entry.target_id,
                "state": state,
                "reason": entry.reason if entry.action is not PlanAction.UP_TO_DATE else None,
                "lastCopiedAt": iso(last_copy),
                "ageSeconds": _age(now, last_copy),
                "lastError": _last_error(history.failed.get(_job_key(entry)), last_copy, now),
            }
        )
    in_sync = inventory.error is None and not (counts["missing"] or counts["stale"])
    return {
        "reachable": inventory.error is None,
        "error": inventory.error,
        "inSync": in_sync,
        "counts": counts,
        "oldestRecoveryPoint": iso(oldest),
        "oldestRecoveryPointAgeSeconds": _age(now, oldest),
        "items": items,
    }


def _job_key(entry: PlanItem) -> JobKey:
    return (entry.kind, entry.source_id, entry.target_alias)


def _age(now: datetime, then: datetime | None) -> int | None:
    return round((now - then).total_seconds()) if then else None


def _last_copy(
    entry: PlanItem,
    inventory: TargetInventory,
    history: JobHistory,
    by_id: dict[tuple[ItemKind, str], ItemInfo],
) -> datetime | None:
    """When this item was last copied to the target: the copy record or the job, whichever is later;
    without either, when the target item was created."""
    if entry.action is PlanAction.ORPHAN:
        return None
    record = inventory.records.get((entry.kind, entry.source_id))
    job = history.succeeded.get(_job_key(entry))
    candidates = [t for t in (record.copied_at if record else None, job.finished_at if job else None) if t]
    if candidates:
        return max(candidates)
    if entry.target_id and (entry.kind, entry.target_id) in by_id:
        return by_id[(entry.kind, entry.target_id)].created_at
    return None


def _last_error(failure: Job | None, last_copy: datetime | None, now: datetime) -> JsonObject | None:
    """The latest failed job of the item, if it failed after the last copy."""
    if failure is None or (last_copy is not None and (failure.updated_at or now) <= last_copy):
        return None
    return {
        "code": failure.error_code,
        "message": failure.error_message,
        "at": iso(failure.finished_at or failure.updated_at),
        "jobId": failure.job_id,
    }
