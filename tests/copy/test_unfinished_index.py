"""The watchdog reads the jobs in flight through an index, never the history: a job is indexed when it
is created and leaves the index when its completion event is out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.copy.jobs import UNFINISHED, Job, JobStatus, JobStore
from tests.copy.test_resilience import submit_model
from tests.factories import job_row

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def job(status: JobStatus, published: bool) -> Job:
    return job_row(NOW - timedelta(hours=1), status, event_published=published)


async def index_rows(table) -> list[str]:
    return [e["RowKey"] async for e in table.query_entities(f"PartitionKey eq '{UNFINISHED}'")]


async def test_only_jobs_whose_event_is_not_out_are_indexed_and_read(state_table):
    store = JobStore(state_table)
    history = [job(JobStatus.SUCCEEDED, published=True) for _ in range(50)]
    running = job(JobStatus.POLLING, published=False)
    unpublished = job(JobStatus.FAILED, published=False)
    for j in [*history, running, unpublished]:
        await store.create(j)

    read = [j.job_id async for j in store.iter_unfinished(NOW)]

    assert sorted(read) == sorted([running.job_id, unpublished.job_id])
    assert sorted(await index_rows(state_table)) == sorted(read)


async def test_a_job_that_finished_before_leaving_the_index_is_dropped_from_it(state_table):
    store = JobStore(state_table)
    crashed = job(JobStatus.POLLING, published=False)
    await store.create(crashed)
    crashed.status, crashed.event_published = JobStatus.SUCCEEDED, True
    await store.replace(crashed)  # the event went out; the instance died before the index row went

    assert [j async for j in store.iter_unfinished(NOW)] == []
    assert await index_rows(state_table) == []


async def test_an_index_row_whose_job_is_being_written_is_kept_until_it_is_old(state_table):
    store = JobStore(state_table)
    await state_table.upsert_entity({"PartitionKey": UNFINISHED, "RowKey": "0000000000000dead"})
    written = (await state_table.get_entity(UNFINISHED, "0000000000000dead")).metadata["timestamp"]

    assert [j async for j in store.iter_unfinished(written + timedelta(seconds=10))] == []
    assert await index_rows(state_table) == ["0000000000000dead"]  # maybe being created right now

    assert [j async for j in store.iter_unfinished(written + timedelta(minutes=5))] == []
    assert await index_rows(state_table) == []  # its instance died before writing the job


async def test_a_copy_leaves_the_index_once_its_event_is_out(stack, emulators):
    _, job_ids = await submit_model(stack, emulators)
    table = stack.service.jobs._table
    assert set(job_ids) <= set(await index_rows(table))

    await stack.run_to_end(job_ids)

    assert not set(job_ids) & set(await index_rows(table))
