"""Retention: finished jobs older than DR_JOB_RETENTION_DAYS are deleted by a key-range read of the old
rows only; a job still running, or whose event is not out, is kept whatever its age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.copy.jobs import Job, JobStatus, JobStore, created_before, new_job_id
from shared.copy.retention import BATCH, delete_old_jobs
from tests.factories import job_row

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def job(created: datetime, status: JobStatus = JobStatus.SUCCEEDED, published: bool = True) -> Job:
    return job_row(created, status, event_published=published)


def test_job_ids_of_older_jobs_sort_past_the_cutoff_key():
    cutoff = NOW - timedelta(days=30)
    assert new_job_id(cutoff - timedelta(milliseconds=1)) > created_before(cutoff)
    assert new_job_id(cutoff + timedelta(milliseconds=1)) < created_before(cutoff)


async def test_old_finished_jobs_are_deleted_and_everything_else_is_kept(state_table):
    store = JobStore(state_table)
    old = NOW - timedelta(days=31)
    finished = [job(old - timedelta(minutes=i)) for i in range(BATCH + 5)]  # more than one batch
    failed = job(old, JobStatus.FAILED)
    still_running = job(old - timedelta(days=3), JobStatus.POLLING, published=False)
    event_not_out = job(old, JobStatus.SUCCEEDED, published=False)
    recent = job(NOW - timedelta(days=29))
    for j in [*finished, failed, still_running, event_not_out, recent]:
        await store.create(j)

    deleted = await delete_old_jobs(store, NOW, retention_days=30)

    assert deleted == len(finished) + 1
    left = {j.job_id async for j in store.iter_all()}
    assert left == {still_running.job_id, event_not_out.job_id, recent.job_id}


async def test_only_rows_older_than_the_cutoff_are_read(state_table):
    store = JobStore(state_table)
    for days in (1, 5, 10, 40):
        await store.create(job(NOW - timedelta(days=days)))

    read = [j.created_at async for j in store.iter_created_before(NOW - timedelta(days=30))]

    assert read == [NOW - timedelta(days=40)]
