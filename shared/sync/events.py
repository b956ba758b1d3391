"""A sync's events: ``docintel-dr.sync.completed`` always, ``docintel-dr.drift.detected`` when a target
is out of sync. The ids derive from the run id, so a re-published run carries the same ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.events import DRIFT_DETECTED, SYNC_COMPLETED, AppEvent, app_event
from shared.jsondoc import JsonObject
from shared.settings import Settings
from shared.sync.planner import Plan, PlanAction, TargetPlan
from shared.timefmt import iso

if TYPE_CHECKING:
    from shared.sync.run import SyncReport

#: Items named per target in a drift event (the full list is in the plan / status report).
DRIFT_ITEMS_PER_TARGET = 100
_OUT_OF_SYNC = (PlanAction.COPY, PlanAction.RECOPY, PlanAction.BLOCKED)


def sync_events(report: SyncReport, settings: Settings) -> list[AppEvent]:
    time = report.finished_at or report.started_at
    subject = f"/syncs/{report.sync_id}"
    targets: JsonObject = {}
    if report.plan is not None:
        targets = {
            alias: {"reachable": t.error is None, "error": t.error, "counts": t.counts()}
            for alias, t in report.plan.targets.items()
        }
    counts = report.job_counts()
    completed: JsonObject = {
        "syncId": report.sync_id,
        "trigger": report.trigger,
        "status": report.status,
        "source": {"alias": report.source_alias, "endpoint": settings.resource(report.source_alias).endpoint},
        "error": None if report.error is None else {"code": "SourceUnavailable", "message": report.error},
        "counts": report.plan.counts() if report.plan else None,
        "excluded": len(report.plan.excluded) if report.plan else 0,
        "targets": targets,
        "jobs": counts,
        "startedAt": iso(report.started_at),
        "finishedAt": iso(time),
    }
    events = [app_event(SYNC_COMPLETED, f"sync-{report.sync_id}", subject, time, completed)]
    if report.plan is not None and report.plan.drift:
        drift: JsonObject = {"syncId": report.sync_id, "source": {"alias": report.source_alias}}
        drift["targets"] = _drift_by_target(report.plan)
        events.append(app_event(DRIFT_DETECTED, f"drift-{report.sync_id}", subject, time, drift))
    return events


def _drift_by_target(plan: Plan) -> JsonObject:
    drift: JsonObject = {}
    for alias, target in plan.targets.items():
        counts = target.counts()
        if target.error is None and not any(counts[a.value] for a in _OUT_OF_SYNC):
            continue
        drift[alias] = {
            "reachable": target.error is None,
            "error": target.error,
            "missing": counts["copy"],
            "stale": counts["recopy"],
            "blocked": counts["blocked"],
            "orphans": counts["orphan"],
            "items": _drifted_items(target),
        }
    return drift


def _drifted_items(target: TargetPlan) -> list[JsonObject]:
    return [
        {"kind": i.kind.value, "sourceId": i.source_id, "action": i.action.value, "reason": i.reason}
        for i in target.items
        if i.action in _OUT_OF_SYNC
    ][:DRIFT_ITEMS_PER_TARGET]
