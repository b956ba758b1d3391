"""The copies HTTP API, called through the real functions against Azurite and emulators."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app
from shared.copy.jobs import JobStatus
from tests.conftest import KEYS
from tests.stack import assert_problem, body_of, unique

BASE = "https://dr.example.net/api/"


def request(
    method: str,
    route: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    params=None,
    route_params=None,
    headers=None,
) -> func.HttpRequest:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return func.HttpRequest(
        method,
        BASE + route,
        headers={"content-type": "application/json", **(headers or {})},
        params=params or {},
        route_params=route_params or {},
        body=data,
    )


async def post_copies(body: object) -> func.HttpResponse:
    return await function_app.start_copies(request("POST", "copies", body))


async def test_a_copy_request_answers_202_with_a_job_per_target_and_links(stack, emulators):
    model_id = unique("receipt")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    response = await post_copies({"kind": "model", "sourceId": model_id})

    assert response.status_code == 202
    jobs = body_of(response)["jobs"]
    assert [j["target"] for j in jobs] == ["westus2", "northeurope"]
    assert all(j["statusUrl"] == f"https://dr.example.net/api/copies/{j['jobId']}" for j in jobs)
    assert response.headers["Retry-After"]
    assert "Location" not in response.headers  # several jobs: no single status URL

    status = await function_app.get_copy(
        request("GET", f"copies/{jobs[0]['jobId']}", route_params={"jobId": jobs[0]["jobId"]})
    )
    assert status.status_code == 202 and status.headers["Retry-After"]
    await stack.run_to_end([j["jobId"] for j in jobs])
    done = await function_app.get_copy(
        request("GET", f"copies/{jobs[0]['jobId']}", route_params={"jobId": jobs[0]["jobId"]})
    )
    assert done.status_code == 200
    view = body_of(done)
    assert view["status"] == "succeeded" and view["target"] == {"alias": "westus2", "id": model_id}
    assert "authorization" not in json.dumps(view).lower()


async def test_a_single_target_gets_location_and_a_repeat_is_up_to_date(stack, emulators):
    model_id = unique("po")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    response = await post_copies({"sourceId": model_id, "targets": ["westus2"]})
    assert response.status_code == 202
    [job] = body_of(response)["jobs"]
    assert response.headers["Location"] == job["statusUrl"]
    await stack.run_to_end([job["jobId"]])

    again = await post_copies({"sourceId": model_id, "targets": ["westus2"]})

    assert again.status_code == 200
    assert body_of(again)["jobs"] == [{"target": "westus2", "status": "upToDate", "jobId": None}]


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b"", 400, "JSON object body"),
        (
            json.dumps({"sourceId": "ok-id", "endpoint": "https://evil.example"}).encode(),
            400,
            "never takes an endpoint",
        ),
        (json.dumps({"sourceId": "ok-id", "key": "abc"}).encode(), 400, "never takes an endpoint"),
        (json.dumps({"sourceId": "-bad id!"}).encode(), 400, "sourceId"),
        (json.dumps({"sourceId": "ok-id", "kind": "prebuilt"}).encode(), 400, "kind"),
        (json.dumps({"sourceId": "ok-id", "targets": ["mars"]}).encode(), 400, "westus2"),
        (json.dumps({"sourceId": "ok-id", "source": "mars"}).encode(), 400, "Configured aliases"),
        (json.dumps({"sourceId": "ok-id", "targets": ["primary"]}).encode(), 400, "differ from the source"),
        (json.dumps({"sourceId": "x" * 70_000}).encode(), 413, "limit"),
    ],
)
async def test_bad_requests_get_a_problem_and_change_nothing(stack, raw, status, needle):
    response = await function_app.start_copies(request("POST", "copies", raw=raw))
    problem = assert_problem(response, status)
    assert needle in json.dumps(problem)
    assert await stack.service.jobs.list(limit=10) == []


async def test_an_unknown_source_item_is_404(stack):
    assert_problem(await post_copies({"sourceId": unique("nothing")}), 404)


async def test_unknown_and_malformed_job_ids_are_404(stack):
    for job_id in ("0" * 21, "../../etc", "ABC"):
        assert_problem(
            await function_app.get_copy(request("GET", "copies/x", route_params={"jobId": job_id})), 404
        )
    assert_problem(
        await function_app.cancel_copy(request("POST", "c", route_params={"jobId": "0" * 21})), 404
    )


async def test_jobs_are_listed_newest_first_and_filtered(stack, emulators):
    first, second = unique("a"), unique("b")
    emulators["primary"].seed({"models": [{"modelId": first}, {"modelId": second}]})
    await post_copies({"sourceId": first, "targets": ["westus2"]})
    await post_copies({"sourceId": second, "targets": ["westus2"]})

    listed = body_of(await function_app.list_copies(request("GET", "copies", params={"limit": "10"})))["jobs"]
    assert [j["source"]["id"] for j in listed] == [second, first]
    authorized = await function_app.list_copies(request("GET", "copies", params={"status": "authorized"}))
    assert len(body_of(authorized)["jobs"]) == 2
    assert_problem(await function_app.list_copies(request("GET", "copies", params={"status": "nope"})), 400)
    assert_problem(await function_app.list_copies(request("GET", "copies", params={"limit": "0"})), 400)
    assert_problem(await function_app.list_copies(request("GET", "copies", params={"endpoint": "x"})), 400)


async def test_cancel_stops_a_running_job_and_a_second_cancel_is_409(stack, emulators):
    model_id = unique("c")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    [job] = body_of(await post_copies({"sourceId": model_id, "targets": ["westus2"]}))["jobs"]
    route = {"jobId": job["jobId"]}

    canceled = await function_app.cancel_copy(request("POST", "cancel", route_params=route))
    assert canceled.status_code == 200 and body_of(canceled)["status"] == JobStatus.CANCELED
    assert_problem(await function_app.cancel_copy(request("POST", "cancel", route_params=route)), 409)
    await stack.settle(2)
    assert (await stack.job(job["jobId"])).status is JobStatus.CANCELED


async def test_no_reply_carries_a_key_or_an_access_token(stack, emulators):
    model_id = unique("secret")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    replies = [await post_copies({"sourceId": model_id})]
    jobs = body_of(replies[0])["jobs"]
    await stack.run_to_end([j["jobId"] for j in jobs])
    for job in jobs:
        replies.append(await function_app.get_copy(request("GET", "c", route_params={"jobId": job["jobId"]})))
    replies.append(await function_app.list_copies(request("GET", "copies")))
    tokens = [token for emulator in emulators.values() for token in emulator.tokens()]
    assert tokens
    text = " ".join(r.get_body().decode() for r in replies) + json.dumps(stack.events.events)
    for secret in [*KEYS.values(), *tokens]:
        assert secret not in text
