"""What a sync saw, as status rows: its plan per target becomes one `ItemStatus` per item, and the
run's outcome the target's summary. Pure, except `record_sync`, which writes them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from shared.copy.integrity import DIVERGED
from shared.docintel import ItemKind
from shared.status.rows import (
    MAX_MESSAGE_CHARS,
    SOURCE_SUMMARY,
    ItemState,
    ItemStatus,
    StatusRows,
    SyncSummary,
)
from shared.sync.executors import CopyResult, CopyStatus
from shared.sync.inventory import TargetInventory
from shared.sync.planner import PlanAction, PlanItem, TargetPlan
from shared.timefmt import as_utc_datetime

log = logging.getLogger("docintel_dr.status")

STATE_OF = {
    PlanAction.UP_TO_DATE: ItemState.PRESENT,
    PlanAction.COPY: ItemState.MISSING,
    PlanAction.RECOPY: ItemState.STALE,
    PlanAction.BLOCKED: ItemState.BLOCKED,
    PlanAction.ORPHAN: ItemState.ORPHAN,
}


def plan_statuses(target_plan: TargetPlan, inventory: TargetInventory, sync_id: str) -> Iterator[ItemStatus]:
    """A row per planned item: its state, and for a present one when it was copied (the copy record,
    else when the target item was created)."""
    created_at = {(i.kind, i.id): i.created_at for i in inventory.items}
    for entry in target_plan.items:
        state = ItemState.DIVERGED if entry.diverged else STATE_OF[entry.action]
        yield ItemStatus(
            target=entry.target_alias,
            kind=entry.kind,
            source_id=entry.source_id,
            state=state,
            target_id=entry.target_id,
            reason=None if state is ItemState.PRESENT else entry.reason,
            source_created=entry.source_created if entry.action is not PlanAction.ORPHAN else None,
            last_copied_at=_copied_at(entry, inventory, created_at) if state is ItemState.PRESENT else None,
            exposed_since=as_utc_datetime(entry.source_created) if state.exposed else None,
            sync_id=sync_id,
        )


def _copied_at(
    entry: PlanItem, inventory: TargetInventory, created_at: dict[tuple[ItemKind, str], datetime | None]
) -> datetime | None:
    record = inventory.records.get((entry.kind, entry.source_id))
    if record is not None and record.copied_at is not None:
        return record.copied_at
    return created_at.get((entry.kind, entry.target_id or entry.source_id))


def result_status(result: CopyResult, sync_id: str, finished_at: datetime) -> ItemStatus | None:
    """What the sync's copies tell without a job: the target already held the item, or (the CLI's
    direct copies) it was copied, or its copy differs from the source."""
    item = result.item
    diverged = result.error is not None and result.error.code == DIVERGED
    if not diverged and result.status not in (CopyStatus.UP_TO_DATE, CopyStatus.SUCCEEDED):
        return None
    return ItemStatus(
        target=item.target_alias,
        kind=item.kind,
        source_id=item.source_id,
        state=ItemState.DIVERGED if diverged else ItemState.PRESENT,
        target_id=result.target_id or item.target_id,
        reason=result.error.message[:MAX_MESSAGE_CHARS] if diverged and result.error else None,
        source_created=item.source_created,
        last_copied_at=finished_at if result.status is CopyStatus.SUCCEEDED and not diverged else None,
        exposed_since=(as_utc_datetime(item.source_created) or finished_at) if diverged else None,
        sync_id=sync_id,
    )


async def record_plan(
    rows: StatusRows, target_plan: TargetPlan, inventory: TargetInventory, sync_id: str
) -> None:
    """Write a listed target's rows from the plan, before its copies start (a job that ends later
    then has the last word). Never raises: the status is only as fresh as the last sync that wrote it."""
    if target_plan.error is not None:
        return  # not listed: its rows stay as the last sync that could list it left them
    try:
        await rows.write_items(plan_statuses(target_plan, inventory, sync_id))
    except Exception as exc:  # any storage failure: the sync itself goes on
        log.warning(
            "sync %s: status rows of %s not written (%s)", sync_id, target_plan.alias, type(exc).__name__
        )


async def record_outcome(
    rows: StatusRows,
    target_plan: TargetPlan,
    results: list[CopyResult],
    *,
    source: str | None = None,
    sync_id: str,
    finished_at: datetime,
    sync_status: str,
) -> None:
    """After the copies: rows of what was found already copied, the rows of items that left both
    sides removed, and the target's summary. Never raises."""
    try:
        if target_plan.error is None:
            made = [s for s in (result_status(r, sync_id, finished_at) for r in results) if s is not None]
            await rows.write_items(s for s in made if s.target == target_plan.alias)
            await rows.drop_unplanned(target_plan.alias, sync_id)
        await rows.write_summary(
            SyncSummary(
                target=target_plan.alias,
                sync_id=sync_id,
                synced_at=finished_at,
                sync_status=sync_status,
                reachable=target_plan.error is None,
                error=target_plan.error,
                source=source,
            )
        )
    except Exception as exc:  # any storage failure
        log.warning("sync %s: status of %s not written (%s)", sync_id, target_plan.alias, type(exc).__name__)


async def record_source(
    rows: StatusRows,
    *,
    key: str = SOURCE_SUMMARY,
    source: str | None = None,
    reachable: bool,
    error: str | None,
    sync_id: str,
    finished_at: datetime,
    sync_status: str,
) -> None:
    """Whether the sync could list its source (row `key`: see `source_summary_key`). Never raises."""
    summary = SyncSummary(key, sync_id, finished_at, sync_status, reachable, error, source)
    try:
        await rows.write_summary(summary)
    except Exception as exc:  # any storage failure
        log.warning("sync %s: source status not written (%s)", sync_id, type(exc).__name__)
