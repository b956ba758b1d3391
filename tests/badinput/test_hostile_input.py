"""Hostile and malformed input, generated: the app answers with a problem (4xx) or records a failure
with a reason; it never answers 5xx, never raises out of a function, and never changes a job on a
rejected request."""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import stack_settings, start_stack

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
copy_like_bodies = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["model", "classifier", "prebuilt", "", 3]),
        "sourceId": st.text(string.ascii_letters + string.digits + "-._~/ ", max_size=80) | st.integers(),
        "targetId": st.text(max_size=70) | st.none(),
        "source": st.sampled_from(["primary", "westus2", "mars", "", "PRIMARY"]) | st.text(max_size=40),
        "targets": st.lists(st.sampled_from(["westus2", "northeurope", "primary", "mars"]), max_size=4)
        | st.text(max_size=5),
        "description": st.text(max_size=50) | st.integers(),
        "tags": st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=3),
        "endpoint": st.just("https://attacker.example"),
        "key": st.text(max_size=10),
    },
)


class Harness:
    """A real stack on its own event loop, so that hypothesis (sync) can drive it."""

    def __init__(self, azurite, emulators) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulators = emulators
        self.stack = self.run(start_stack(stack_settings(azurite, emulators)))
        emulators["primary"].seed({"models": [{"modelId": "fuzz-known"}]})
        outcomes = self.run(
            self.stack.service.submit(
                CopyRequest(
                    kind=ItemKind.MODEL, source_id="fuzz-known", source_alias="primary", targets=["westus2"]
                )
            )
        )
        self.job_id = outcomes[0].job.job_id

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def job_rows(self) -> list[str]:
        jobs = self.run(self.stack.service.jobs.list(limit=500))
        return sorted(j.model_dump_json() for j in jobs)

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def harness(azurite, emulators) -> Iterator[Harness]:
    harness = Harness(azurite, emulators)
    yield harness
    harness.close()


def http(
    method: str, url: str, body: bytes = b"", params=None, headers=None, route_params=None
) -> func.HttpRequest:
    return func.HttpRequest(
        method,
        "https://dr.example.net/api/" + url,
        body=body,
        params=params or {},
        headers=headers or {},
        route_params=route_params or {},
    )


def assert_problem_or_success(response: func.HttpResponse) -> None:
    assert response.status_code < 500, response.get_body()
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        problem = json.loads(response.get_body())
        assert problem["status"] == response.status_code and problem["detail"]


@EXAMPLES
@given(body=copy_like_bodies | json_values)
def test_copy_bodies_never_cause_a_server_error(harness, body):
    before = harness.job_rows()
    response = harness.run(
        function_app.start_copies(
            http("POST", "copies", json.dumps(body).encode(), headers={"content-type": "application/json"})
        )
    )
    assert_problem_or_success(response)
    if response.status_code >= 400:
        assert harness.job_rows() == before  # a rejected request changes nothing
    text = response.get_body().decode()
    assert "attacker.example" not in text  # a caller's endpoint is never echoed, let alone called


@EXAMPLES
@given(
    raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", "", "x/y"])
)
def test_raw_bytes_never_cause_a_server_error(harness, raw, content_type):
    response = harness.run(
        function_app.start_copies(http("POST", "copies", raw, headers={"content-type": content_type}))
    )
    assert_problem_or_success(response)


@EXAMPLES
@given(
    params=st.dictionaries(
        st.sampled_from(["status", "limit", "code", "x", "$filter"]), st.text(max_size=20)
    ),
    job_id=st.text(max_size=40),
)
def test_queries_and_job_ids_never_cause_a_server_error(harness, params, job_id):
    before = harness.job_rows()
    assert_problem_or_success(harness.run(function_app.list_copies(http("GET", "copies", params=params))))
    assert_problem_or_success(
        harness.run(function_app.get_copy(http("GET", "c", route_params={"jobId": job_id})))
    )
    if job_id != harness.job_id:
        assert_problem_or_success(
            harness.run(function_app.cancel_copy(http("POST", "c", route_params={"jobId": job_id})))
        )
    assert harness.job_rows() == before


queue_bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 2, "1", None]),
            "job_id": st.sampled_from(["ffffffffffffffffff", "zz", ""]) | st.text(max_size=20),
            "generation": st.integers(-3, 10**12) | st.text(max_size=3),
            "attempt": st.integers(-1, 5),
        }
    ).map(lambda d: json.dumps(d).encode())
    | st.just(b"x" * 70_000)
)


@EXAMPLES
@given(body=queue_bodies, dequeue=st.integers(1, 5))
def test_queue_messages_never_raise_and_never_touch_other_jobs(harness, body, dequeue):
    before = harness.job_rows()
    for function in (function_app.copy_requests, function_app.copy_polls):
        message = QueueMessage(id="fuzz", body=body, dequeue_count=dequeue, pop_receipt="r")
        harness.run(function(message))
    assert harness.job_rows() == before


def test_a_malformed_message_naming_a_real_job_fails_it_with_a_reason(harness):
    body = json.dumps({"v": 1, "job_id": harness.job_id, "generation": "zero"}).encode()
    harness.run(function_app.copy_requests(QueueMessage(id="m", body=body, dequeue_count=1, pop_receipt="r")))
    job = harness.run(harness.stack.service.jobs.get(harness.job_id))
    assert job.status.value == "failed"
    assert job.error_code == "MalformedMessage" and "generation" in job.error_message


event_data = json_values | st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["model", "classifier", "x", 1, None]),
        "id": st.text(max_size=70) | st.integers(),
        "source": st.sampled_from(["primary", "mars", ""]) | st.text(max_size=10),
        "endpoint": st.just("https://attacker.example"),
    },
)


@EXAMPLES
@given(
    data=event_data,
    event_type=st.sampled_from(["docintel-dr.model.trained", "Microsoft.Storage.BlobCreated", "", "x" * 300]),
    schema=st.sampled_from(["cloudevents", "eventgrid"]),
)
def test_event_grid_events_never_raise_and_never_touch_jobs(harness, data, event_type, schema):
    from tests.api.webhook_helpers import as_worker_gives, cloud_event, grid_event

    event = (cloud_event if schema == "cloudevents" else grid_event)(data, type=event_type)
    before = harness.job_rows()
    harness.run(function_app.model_trained_event(as_worker_gives(event)))
    if not (isinstance(data, dict) and data.get("id") == "fuzz-known"):
        assert harness.job_rows() == before
