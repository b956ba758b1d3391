"""POST /api/sync and GET /api/status through the real function_app functions."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from tests.stack import PipelineStack

BASE = "http://localhost:7071/api/"


@pytest.fixture
def stack(sync_stack: PipelineStack) -> PipelineStack:
    """Syncs run on their own, empty emulators (`fresh`)."""
    return sync_stack


def request(method: str, route: str, params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method, BASE + route, headers={}, params=params or {}, route_params={}, body=b"")


def body_of(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


async def test_a_dry_run_returns_the_plan_and_starts_nothing(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}], "classifiers": [{"classifierId": "sorter"}]})

    response = await function_app.sync(request("POST", "sync", {"dryRun": "true"}))

    assert response.status_code == 200
    body = body_of(response)
    assert body["dryRun"] is True and body["counts"]["copy"] == 4
    west = body["targets"]["westus2"]
    assert west["reachable"] and west["counts"]["copy"] == 2
    assert {(i["kind"], i["sourceId"], i["action"]) for i in west["items"]} == {
        ("classifier", "sorter", "copy"),
        ("model", "invoices", "copy"),
    }
    assert body["jobs"]["started"] == 0 and stack.events.events == []


async def test_a_sync_starts_jobs_and_the_status_report_follows_them(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}]})

    response = await function_app.sync(request("POST", "sync", {"targets": "westus2"}))

    assert response.status_code == 202
    body = body_of(response)
    assert list(body["targets"]) == ["westus2"]
    [job] = body["jobs"]["items"]
    assert job["status"] == "started" and job["jobId"]
    await stack.run_to_end([job["jobId"]])

    status = body_of(await function_app.status(request("GET", "status")))
    west = status["targets"]["westus2"]
    assert west["inSync"] and west["counts"]["present"] == 1
    [item] = status["items"]
    assert item["state"] == "present" and item["lastCopiedAt"] and item["lastError"] is None
    assert status["targets"]["northeurope"]["lastSync"] is None and status["inSync"] is False


async def test_bad_queries_are_problems(stack):
    response = await function_app.sync(request("POST", "sync", {"dryRun": "maybe"}))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    response = await function_app.sync(request("POST", "sync", {"targets": "nowhere"}))
    assert response.status_code == 400 and "nowhere" in body_of(response)["detail"]
    response = await function_app.status(request("GET", "status", {"verbose": "1"}))
    assert response.status_code == 400


async def test_a_source_outage_answers_503_with_the_failed_summary(stack, fresh):
    fresh["primary"].outage(True)
    response = await function_app.sync(request("POST", "sync"))
    assert response.status_code == 503
    assert body_of(response)["sync"]["status"] == "failed"


async def test_a_failback_sync_takes_a_source_alias_and_defaults_to_the_primary_as_target(stack, fresh):
    fresh["westus2"].seed({"models": [{"modelId": "trained-in-outage"}]})

    response = await function_app.sync(request("POST", "sync", {"source": "westus2", "dryRun": "true"}))

    assert response.status_code == 200
    body = body_of(response)
    assert body["source"] == "westus2" and list(body["targets"]) == ["primary"]
    [item] = body["targets"]["primary"]["items"]
    assert (item["sourceId"], item["action"], item["diverged"]) == ("trained-in-outage", "copy", False)
    # Its rows are the primary's status, as the failback saw it.
    status = body_of(await function_app.status(request("GET", "status", {"target": "primary"})))
    assert status["targets"]["primary"]["lastSync"]["source"] == "westus2"
    assert [i["state"] for i in status["items"]] == ["missing"]


async def test_a_sync_source_is_an_alias_never_an_endpoint(stack):
    for source in ("nowhere", "https://evil.example.com", "127.0.0.1:1"):
        response = await function_app.sync(request("POST", "sync", {"source": source}))
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        problem = body_of(response)
        assert problem["code"] == "unknown-alias"
        assert "northeurope, primary, westus2" in problem["detail"]
    response = await function_app.sync(request("POST", "sync", {"source": "westus2", "targets": "westus2"}))
    assert response.status_code == 400 and body_of(response)["code"] == "unknown-alias"
    response = await function_app.sync(request("POST", "sync", {"targets": "primary"}))
    assert response.status_code == 400 and body_of(response)["code"] == "unknown-alias"
