"""One running job per copy: a second request for a copy that is under way gets the job that is making
it, across concurrent requests; once that job ends, the next request makes a new one."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.copy.jobs import JobStatus
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import submitted_job_ids, unique


def request(model_id: str, **changes: Any) -> CopyRequest:
    fields: dict[str, Any] = {
        "kind": ItemKind.MODEL,
        "source_id": model_id,
        "source_alias": "primary",
        "targets": ["westus2"],
    }
    return CopyRequest(**(fields | changes))


async def all_jobs(stack) -> list:
    return [j async for j in stack.service.jobs.iter_all()]


async def test_a_second_request_for_a_copy_under_way_gets_the_running_job(stack, emulators):
    model_id = unique("claim")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    [first] = submitted_job_ids(await stack.service.submit(request(model_id)))
    [again] = submitted_job_ids(await stack.service.submit(request(model_id, authorize_now=False)))

    assert again == first
    assert [j.job_id for j in await all_jobs(stack) if j.source_id == model_id] == [first]


async def test_concurrent_requests_for_the_same_copy_make_one_job(stack, emulators):
    model_id = unique("race")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    outcomes = await asyncio.gather(*(stack.service.submit(request(model_id)) for _ in range(4)))

    job_ids = {j for o in outcomes for j in submitted_job_ids(o)}
    assert len(job_ids) == 1
    [done] = await stack.run_to_end(sorted(job_ids))
    assert done.status is JobStatus.SUCCEEDED
    assert [j.job_id for j in await all_jobs(stack) if j.source_id == model_id] == sorted(job_ids)
    assert [c["commits"] for c in emulators["westus2"].commits() if c["id"] == model_id] == [1]


async def test_once_the_job_ended_the_next_request_makes_a_new_one(stack, emulators):
    model_id = unique("again")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    [first] = submitted_job_ids(await stack.service.submit(request(model_id)))
    await stack.run_to_end([first])
    await stack.context.clients["westus2"].delete_item(ItemKind.MODEL, model_id)  # deleted at the target

    [second] = submitted_job_ids(await stack.service.submit(request(model_id)))

    assert second != first
    [done] = await stack.run_to_end([second])
    assert done.status is JobStatus.SUCCEEDED


async def test_a_request_for_another_build_is_not_the_same_copy(stack, emulators):
    model_id = unique("build")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    [first] = submitted_job_ids(await stack.service.submit(request(model_id, authorize_now=False)))

    outcomes = await stack.service.submit(request(model_id, authorize_now=False, description="retrained"))

    assert submitted_job_ids(outcomes) != [first]


async def test_a_request_the_target_refuses_leaves_no_job_and_no_claim(stack, emulators):
    model_id = unique("refused")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    emulators["westus2"].seed({"models": [{"modelId": model_id, "description": "someone else's"}]})

    [outcome] = await stack.service.submit(request(model_id))

    assert outcome.job is None and outcome.error is not None
    assert not [j for j in await all_jobs(stack) if j.source_id == model_id]
    job = (await stack.service.submit(request(model_id, authorize_now=False)))[0].job
    assert job is not None  # the claim was released: a queued request is accepted
