"""Retention: job rows of finished copies are kept `DR_JOB_RETENTION_DAYS` (default 30), then deleted
by a daily timer, so that the jobs table, and whatever reads it, does not grow for years.

Only old rows are read (a row-key range: ids sort newest first), a page at a time, and deleted in
batches of 100 (one request each). A job that is not finished, or whose completion event is not out,
is kept whatever its age: the watchdog still owns it. What a user needs after that (which items are
protected where) is in the copy records and the targets themselves, not in job history.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.copy.jobs import Job, JobStore

log = logging.getLogger("docintel_dr.retention")

#: Rows per delete request: the Table service's limit for one entity group transaction.
BATCH = 100


class LeftOvers(Protocol):
    """What else is kept by time and may go with the jobs (a sync's unfinished pages)."""

    async def forget_before(self, moment: datetime) -> int: ...


async def retire(jobs: JobStore, leftovers: LeftOvers, now: datetime, retention_days: int) -> None:
    """The daily retention: old finished jobs, and what syncs of that age left behind."""
    await delete_old_jobs(jobs, now, retention_days)
    gone = await leftovers.forget_before(now - timedelta(days=retention_days))
    if gone:
        log.info("retention: %d row(s) of unfinished sync pages deleted", gone)


def expired(job: Job) -> bool:
    """A job that may go: finished, and its completion event is out."""
    return job.status.is_terminal and job.event_published


async def delete_old_jobs(jobs: JobStore, now: datetime, retention_days: int) -> int:
    """Delete the finished jobs created more than `retention_days` before `now`; how many."""
    cutoff = now - timedelta(days=retention_days)
    batch: list[Job] = []
    deleted = 0
    async for job in jobs.iter_created_before(cutoff):
        if not expired(job):
            continue
        batch.append(job)
        if len(batch) == BATCH:
            await jobs.delete_many(batch)
            deleted += len(batch)
            batch = []
    await jobs.delete_many(batch)
    deleted += len(batch)
    log.info("retention: %d job(s) created before %s deleted", deleted, cutoff.isoformat())
    return deleted
