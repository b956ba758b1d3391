"""Job rows are spread over 16 partitions by their id's last hex digit, so that no partition takes
every write; rows of the single partition used before are still found, listed, updated and retired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.copy.jobs import BUCKETS, PARTITION, JobStatus, JobStore, partition_of
from shared.copy.retention import delete_old_jobs
from tests.factories import job_row

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_jobs_land_in_many_partitions_and_list_newest_first_across_them(state_table):
    store = JobStore(state_table)
    jobs = [job_row(NOW - timedelta(minutes=i)) for i in range(64)]
    for job in jobs:
        await store.create(job)

    partitions = {
        e["PartitionKey"] async for e in state_table.query_entities("RowKey ne ''", select=["PartitionKey"])
    }
    assert len(partitions & set(BUCKETS)) > 4

    listed = await store.list(limit=10)
    assert [j.job_id for j in listed] == [j.job_id for j in jobs[:10]]  # newest first, whatever the partition


async def test_a_job_from_the_single_partition_of_before_is_read_updated_listed_and_retired(state_table):
    store = JobStore(state_table)
    legacy = job_row(NOW - timedelta(days=40), JobStatus.POLLING, event_published=False)
    entity = legacy.to_entity() | {"PartitionKey": PARTITION}
    await state_table.create_entity(entity)

    found = await store.get(legacy.job_id)
    assert found is not None and found.status is JobStatus.POLLING
    found.status, found.event_published = JobStatus.SUCCEEDED, True
    await store.replace(found)

    again = await store.get(legacy.job_id)
    assert again is not None and again.status is JobStatus.SUCCEEDED and again.partition == PARTITION
    assert [j.job_id for j in await store.list(status=JobStatus.SUCCEEDED)] == [legacy.job_id]

    assert await delete_old_jobs(store, NOW, retention_days=30) == 1
    assert await store.get(legacy.job_id) is None


def test_the_partition_follows_the_ids_random_end():
    assert partition_of("9999998887776abc1234abcf") == "jobf"
    assert partition_of("") == PARTITION
