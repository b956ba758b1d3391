"""Status and watchdog cost against a large fleet and a long history, on Azurite.

5,500 items x 3 targets of status rows (as syncs and job ends write them). `GET /api/status`'s work
(`shared.status.report.status_report`: the first page, 500 items, with the per-target summary that
counts every row) is timed 30 times, first with no job history, then with 100,000 finished job rows
in the jobs table (and 10 running ones). The watchdog's read of the jobs in flight
(`JobStore.iter_unfinished`) counts the rows it gets from storage with that history present.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from local.azurite import run_azurite
from shared.copy.jobs import Job, JobStatus, JobStore, new_job_id
from shared.docintel import ItemKind
from shared.status.report import StatusQuery, status_report
from shared.status.rows import ItemState, ItemStatus, StatusRows

ITEMS = 5500
TARGETS = ("westus2", "northeurope", "eastus")
HISTORY = 100_000
RUNNING = 10
CALLS = 30


class CountingTable:
    """A table client that counts the entities storage hands back."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.rows_read = 0

    def query_entities(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._table.query_entities(*args, **kwargs)

        async def counted() -> Any:
            async for entity in inner:
                self.rows_read += 1
                yield entity

        return counted()

    async def get_entity(self, *args: Any, **kwargs: Any) -> Any:
        entity = await self._table.get_entity(*args, **kwargs)
        self.rows_read += 1
        return entity

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _status_rows(now: datetime) -> list[list[ItemStatus]]:
    states = [ItemState.PRESENT] * 8 + [ItemState.MISSING, ItemState.STALE]
    return [
        [
            ItemStatus(
                target,
                ItemKind.MODEL,
                f"model-{i:05d}",
                states[i % 10],
                f"model-{i:05d}",
                last_copied_at=now - timedelta(hours=i % 48),
                exposed_since=now - timedelta(hours=3),
                sync_id="20261201T000000000Z-bench",
            )
            for i in range(ITEMS)
        ]
        for target in TARGETS
    ]


def _job(now: datetime, i: int, status: JobStatus) -> Job:
    created = now - timedelta(days=20, seconds=i)
    return Job(
        job_id=new_job_id(created),
        kind=ItemKind.MODEL,
        source_alias="primary",
        source_id=f"model-{i % ITEMS:05d}",
        target_alias=TARGETS[i % 3],
        target_id=f"model-{i % ITEMS:05d}",
        status=status,
        created_at=created,
        updated_at=created,
        finished_at=created if status.is_terminal else None,
        event_published=status.is_terminal,
    )


async def _p95_ms(rows: StatusRows) -> float:
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await status_report(rows, StatusQuery(TARGETS), source_alias="primary")
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.quantiles(samples, n=20)[-1]


async def measure(connection: str) -> dict[str, float]:
    from azure.data.tables.aio import TableClient

    now = datetime.now(UTC)
    async with (
        TableClient.from_connection_string(connection, "drstate") as state,
        TableClient.from_connection_string(connection, "copyjobs") as jobs_table,
    ):
        await state.create_table()
        await jobs_table.create_table()
        rows = StatusRows(state)
        for target_rows in _status_rows(now):
            await rows.write_items(target_rows)
        empty = await _p95_ms(rows)
        for start in range(0, HISTORY, 100):
            batch = [_job(now, i, JobStatus.SUCCEEDED).to_entity() for i in range(start, start + 100)]
            await jobs_table.submit_transaction([("create", e) for e in batch])
        store = JobStore(jobs_table)
        for i in range(RUNNING):
            await store.create(_job(now, HISTORY + i, JobStatus.POLLING))
        full = await _p95_ms(rows)
        counting = CountingTable(jobs_table)
        unfinished = [j async for j in JobStore(counting).iter_unfinished(now)]  # type: ignore[arg-type]
    return {"empty": empty, "full": full, "rows_read": counting.rows_read, "unfinished": len(unfinished)}


def run() -> list[dict[str, Any]]:
    with run_azurite() as azurite:
        m = asyncio.run(measure(azurite.connection_string))
    how = (
        f"first page of the status (500 items + the summary of {ITEMS} items x {len(TARGETS)} targets), "
        f"p95 of {CALLS} calls, in process against Azurite"
    )
    return [
        {
            "name": "status.p95_ms",
            "value": round(m["full"], 1),
            "unit": "ms",
            "target": "<= 2000",
            "how": how + f", with {HISTORY:,} historic job rows",
        },
        {
            "name": "status.history_sensitivity",
            "value": round(m["full"] / m["empty"], 3),
            "unit": "x",
            "target": "<= 1.2",
            "how": f"p95 with {HISTORY:,} job rows / p95 with none ({m['empty']:.0f} ms)",
        },
        {
            "name": "watchdog.rows_read",
            "value": m["rows_read"],
            "unit": "rows",
            "target": f"{2 * RUNNING} (the {RUNNING} running jobs' index rows and rows)",
            "how": f"rows iter_unfinished read with {HISTORY:,} finished and {RUNNING} running jobs; "
            f"found {m['unfinished']} unfinished",
        },
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
