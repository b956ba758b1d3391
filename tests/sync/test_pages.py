"""A sync's later pages (`shared.sync.pages`): a page handled again submits only what the first
handling did not, and the next page's message goes once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.api.copies import JOB_ID_PATTERN
from shared.copy.jobs import JobConflict, Origin
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from shared.sync.executors import CopyResult, PipelineExecutor
from shared.sync.pages import page_job_id, sync_started_at
from shared.sync.planner import PlanItem
from shared.sync.run import continue_sync, new_sync_id
from tests.stack import PipelineStack, start_sync_stack, sync_settings
from tests.sync.test_runner import sync


class FailsOnce(PipelineExecutor):
    """The pipeline, except that the first submit of one item fails as storage would."""

    def __init__(self, stack: PipelineStack, doomed: tuple[str, str]) -> None:
        super().__init__(stack.service, "primary", stack.context.pages)
        self.doomed: tuple[str, str] | None = doomed
        self.submitted: list[tuple[str, str]] = []

    async def copy(self, item: PlanItem, start_in: float = 0.0, job_id: str | None = None) -> CopyResult:
        key = (item.source_id, item.target_alias)
        if key == self.doomed:
            self.doomed = None
            raise ConnectionError("storage went away")
        self.submitted.append(key)
        return await super().copy(item, start_in, job_id)


class FailsAfterSubmit(PipelineExecutor):
    """The pipeline, except that the first submit of one item fails after its job was made (the page
    never learns that it went)."""

    def __init__(self, stack: PipelineStack, doomed: tuple[str, str]) -> None:
        super().__init__(stack.service, "primary", stack.context.pages)
        self.doomed: tuple[str, str] | None = doomed
        self.doomed_job_id: str | None = None
        self.results: list[CopyResult] = []

    async def copy(self, item: PlanItem, start_in: float = 0.0, job_id: str | None = None) -> CopyResult:
        result = await super().copy(item, start_in, job_id)
        if (item.source_id, item.target_alias) == self.doomed:
            self.doomed, self.doomed_job_id = None, result.job_id
            raise ConnectionError("storage went away")
        self.results.append(result)
        return result


@pytest.fixture
async def paged(azurite, fresh):
    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PAGE_SIZE="4"))
    yield stack
    await stack.aclose()


async def test_a_page_that_failed_midway_submits_only_the_rest_when_it_comes_back(paged, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(6)]})
    report = await sync(paged)  # 12 copies: 4 now, then pages [0, 4) and [4, 8) of the other 8
    assert report.job_counts()["scheduled"] == 8
    context = paged.context
    message = context.pages.page_from(report.sync_id, 0, 8)
    executor = FailsOnce(paged, doomed=("m3", "westus2"))

    with pytest.raises(ConnectionError):
        await continue_sync(context.settings, context.clients, executor, context.service.records, message)
    submitted_first = list(executor.submitted)
    await continue_sync(context.settings, context.clients, executor, context.service.records, message)
    await continue_sync(context.settings, context.clients, executor, context.service.records, message)

    assert len(submitted_first) == 3
    # The retry submits only what failed; the duplicate after it, nothing.
    assert executor.submitted[3:] == [("m3", "westus2")]
    assert executor.doomed is None
    # On the queue: the first page's message (never taken here) and the next page's, sent once.
    assert await paged.queue_depth("sync-pages") == 2


async def test_a_page_handled_again_finds_the_jobs_it_made_and_makes_no_more(paged, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(6)]})
    report = await sync(paged)
    context = paged.context
    message = context.pages.page_from(report.sync_id, 0, 8)
    executor = FailsAfterSubmit(paged, doomed=("m3", "westus2"))
    args = (context.settings, context.clients, executor, context.service.records)

    with pytest.raises(ConnectionError):
        await continue_sync(*args, message)
    # Every job of the page, the failed submit's too, runs to its end before the page comes back
    # (so no claim of a running job can stand in for the page's own memory).
    made = [r.job_id for r in executor.results if r.job_id] + [executor.doomed_job_id]
    handled_first = len(executor.results)
    pages_queue = paged.triggers.pop("sync-pages")
    try:
        await paged.pump(lambda: paged.jobs_terminal(made), timeout=60)
    finally:
        paged.triggers["sync-pages"] = pages_queue
    await continue_sync(*args, message)

    [again] = executor.results[handled_first:]
    assert (again.item.source_id, again.item.target_alias) == ("m3", "westus2")
    assert again.job_id == executor.doomed_job_id
    jobs = [j async for j in context.service.jobs.iter_created_before(datetime.now(UTC) + timedelta(days=1))]
    assert len([j for j in jobs if (j.source_id, j.target_alias) == ("m3", "westus2")]) == 1


async def test_retention_forgets_the_pages_of_old_syncs_only(paged, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(6)]})
    now = datetime.now(UTC)
    old = await sync(paged, sync_id=new_sync_id(now - timedelta(days=40)))
    recent = await sync(paged, sync_id=new_sync_id(now - timedelta(days=1)))
    pages = paged.context.pages

    gone = await pages.forget_before(now - timedelta(days=30))

    assert gone == old.job_counts()["scheduled"] == 8
    left = await pages.read(pages.page_from(recent.sync_id, 0, 8))
    assert len(left) == 4  # the recent sync's first page, untouched
    assert await pages.read(pages.page_from(old.sync_id, 0, 8)) == []


def test_a_pages_job_ids_are_the_same_each_time_and_sort_with_the_syncs_start():
    began = datetime(2026, 12, 2, 15, 45, 1, 123000, tzinfo=UTC)
    sync_id = new_sync_id(began)

    assert sync_started_at(sync_id) == began
    assert page_job_id(sync_id, 7) == page_job_id(sync_id, 7)
    # Every copy of a sync its own id, however many there are.
    assert len({page_job_id(sync_id, sequence) for sequence in range(20_000)}) == 20_000
    # Job ids sort newest first: a later sync's jobs come before an earlier one's.
    later = new_sync_id(began + timedelta(seconds=1))
    assert str(page_job_id(later, 7)) < str(page_job_id(sync_id, 7))
    assert JOB_ID_PATTERN.fullmatch(str(page_job_id(sync_id, 7)))


def test_a_sync_id_without_its_start_time_gives_no_page_job_id():
    assert sync_started_at("manual-sync") is None
    assert page_job_id("manual-sync", 0) is None


async def test_a_job_id_taken_by_another_copy_is_refused_not_mistaken_for_it(paged, fresh):
    fresh["primary"].seed({"models": [{"modelId": "m1"}, {"modelId": "m2"}]})
    job_id = page_job_id(new_sync_id(datetime.now(UTC)), 0)

    def request(model: str) -> CopyRequest:
        return CopyRequest(
            kind=ItemKind.MODEL,
            source_id=model,
            source_alias="primary",
            targets=["westus2"],
            origin=Origin.SYNC,
            authorize_now=False,
            job_id=job_id,
        )

    [first] = await paged.service.submit(request("m1"))
    [again] = await paged.service.submit(request("m1"))
    assert first.job is not None and again.job is not None
    assert again.job.job_id == first.job.job_id == job_id

    with pytest.raises(JobConflict):
        await paged.service.submit(request("m2"))
