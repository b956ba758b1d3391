"""GET /api/status reads one row per item x target, written by every sync and every job end: it pages,
filters by state and target, and shows what the last sync found and what the jobs did since."""

from __future__ import annotations

from typing import Any

import pytest

import function_app
from shared.docintel import ItemKind
from shared.status.report import encode_token
from tests.api.test_sync import body_of, request
from tests.stack import PipelineStack, assert_problem
from tests.sync.test_runner import sync, sync_to_end


@pytest.fixture
def stack(sync_stack: PipelineStack) -> PipelineStack:
    return sync_stack


async def status(**params: str) -> dict[str, Any]:
    response = await function_app.status(request("GET", "status", params))
    assert response.status_code == 200, response.get_body()
    return body_of(response)


async def every_page(**params: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first page (with the summary) and the items of all pages, following the tokens."""
    first = await status(**params)
    items, token = list(first["items"]), first["continuationToken"]
    while token:
        page = await status(**params, continuationToken=token)
        assert "targets" not in page, "only the first page carries the summary"
        items += page["items"]
        token = page["continuationToken"]
    return first, items


def states(items: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(i["target"], i["sourceId"]): i["state"] for i in items}


async def test_before_any_sync_every_target_is_unknown_and_not_in_sync(stack):
    body, items = await every_page()

    assert body["inSync"] is False and items == []
    assert body["source"]["lastSync"] is None
    for target in body["targets"].values():
        assert target["lastSync"] is None and target["inSync"] is False and target["reachable"] is None


async def test_a_sync_shows_every_item_missing_then_the_jobs_make_them_present(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(3)]})

    report = await sync(stack, dry_run=True)
    body, items = await every_page()

    assert set(states(items).values()) == {"missing"} and len(items) == 6
    assert all(i["exposureSeconds"] is not None and i["exposureSeconds"] >= 0 for i in items)
    west = body["targets"]["westus2"]
    assert west["counts"]["missing"] == 3 and west["inSync"] is False and west["exposureSeconds"] is not None
    assert west["lastSync"]["syncId"] == report.sync_id and west["reachable"] is True

    await sync_to_end(stack)
    body, items = await every_page()

    assert set(states(items).values()) == {"present"} and len(items) == 6
    assert body["inSync"] is True
    for target in body["targets"].values():
        assert target["counts"]["present"] == 3 and target["exposureSeconds"] is None
        assert target["oldestRecoveryPoint"] is not None
    assert all(i["lastCopiedAt"] and i["ageSeconds"] >= 0 and i["lastError"] is None for i in items)


async def test_pages_follow_targets_and_ids_and_cover_every_item_once(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(5)]})
    await sync(stack, dry_run=True)

    first, items = await every_page(pageSize="2")

    assert len(first["items"]) <= 2
    keys = [(i["target"], i["sourceId"]) for i in items]
    assert len(keys) == len(set(keys)) == 10
    assert keys == sorted(keys, key=lambda k: (["westus2", "northeurope"].index(k[0]), k[1]))


async def test_filters_by_state_and_target(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "kept"}, {"modelId": "fresh"}]})
    await sync_to_end(stack, targets=["westus2"])
    fresh["primary"].seed({"models": [{"modelId": "later"}]})
    await sync(stack, dry_run=True)

    _, missing = await every_page(state="missing")
    assert states(missing) == {
        ("westus2", "later"): "missing",
        ("northeurope", "kept"): "missing",
        ("northeurope", "fresh"): "missing",
        ("northeurope", "later"): "missing",
    }
    body, west = await every_page(target="westus2", state="present,stale")
    assert list(body["targets"]) == ["westus2"]
    assert states(west) == {("westus2", "kept"): "present", ("westus2", "fresh"): "present"}


async def test_a_failed_copy_is_the_items_last_error(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "doomed"}]})
    fresh["primary"].configure(copyFailureRate=1.0)

    report = await sync(stack)
    await stack.run_to_end([c.job_id for c in report.copies if c.job_id])
    _, items = await every_page(target="northeurope")

    [item] = items
    assert item["state"] == "missing" and item["lastError"]["code"]
    assert item["lastError"]["jobId"] in {c.job_id for c in report.copies}

    fresh["primary"].configure(copyFailureRate=0.0)
    await sync_to_end(stack)
    _, items = await every_page(target="northeurope")
    [item] = items
    assert item["state"] == "present" and item["lastError"] is None  # a copy clears the last error


async def test_an_item_gone_from_both_sides_leaves_the_status(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "stays"}, {"modelId": "goes"}]})
    await sync(stack, dry_run=True)

    await stack.context.clients["primary"].delete_item(ItemKind.MODEL, "goes")
    await sync(stack, dry_run=True)
    _, items = await every_page()

    assert {i["sourceId"] for i in items} == {"stays"}


async def test_an_unreachable_target_keeps_its_last_known_rows(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "m0"}]})
    await sync_to_end(stack)
    fresh["northeurope"].outage(True)

    await sync(stack, dry_run=True)
    body, items = await every_page(target="northeurope")

    north = body["targets"]["northeurope"]
    assert north["reachable"] is False and north["error"] and north["inSync"] is False
    assert states(items) == {("northeurope", "m0"): "present"}
    assert body["inSync"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"state": "lost"},
        {"pageSize": "0"},
        {"pageSize": "1001"},
        {"continuationToken": "not-a-token"},
        {"continuationToken": encode_token("elsewhere", None)},
        {"targets": "westus2", "target": "westus2"},
        {"target": "nowhere"},
    ],
)
async def test_bad_queries_are_problems(stack, params):
    response = await function_app.status(request("GET", "status", params))
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "forged",
    [
        {"PartitionKey": "status.northeurope", "RowKey": "model.m0"},
        {"NextPartitionKey": "'", "NextRowKey": "\x00"},
        {"NextPartitionKey": "1!40!" + "x" * 100},
    ],
)
async def test_a_forged_token_reads_nothing_beyond_its_targets_rows(stack, fresh, forged):
    fresh["primary"].seed({"models": [{"modelId": "m0"}]})
    await sync(stack, dry_run=True)

    response = await function_app.status(
        request("GET", "status", {"target": "westus2", "continuationToken": encode_token("westus2", forged)})
    )

    assert response.status_code < 500
    if response.status_code == 200:
        assert {i["target"] for i in body_of(response)["items"]} <= {"westus2"}
