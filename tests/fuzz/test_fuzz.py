"""Generated input on every entry point of function_app.py: the seven HTTP routes, the four queue
functions and the Event Grid trigger in both schemas, against Azurite and emulator processes.

For every input:

* HTTP: never a 5xx; a 4xx is an RFC 9457 problem (``application/problem+json`` with ``type``,
  ``title``, ``status``, ``detail``) and changes no job row; a 2xx creates only the jobs it names
  (copies, webhook), cancels only the job it names, or changes nothing (reads, dry runs).
* Queues: the function never raises (the stand-ins are up, so nothing is transient), creates no
  job, and changes no job but the one the message names. A malformed message may change that one
  job in one way only: failed, with the reason (``MalformedMessage``); a poison message only ends it
  (``RetriesExhausted``) or publishes its event.
* Event Grid: the function never raises; an event that is not a valid model-trained event changes no
  job; a valid one only creates jobs for the item it names.

`make test` runs each test at the `quick` scale (deterministic, a few hundred inputs in all);
`pytest -m fuzz` at the `full` scale, at least 10,000 inputs, counted, and the count asserted by the
last test.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from hypothesis import given, reject
from hypothesis import strategies as st
from pydantic import ValidationError

import function_app
from shared.api.webhooks import MODEL_TRAINED, TrainedBody
from shared.copy.jobs import JobStatus
from shared.copy.messages import MAX_MESSAGE_BYTES, CopyRequestMessage, PollMessage
from tests.fuzz.harness import ALIASES, FULL_RUN_INPUTS, SCALES, TALLY, Counts, Diff, Harness, Scale, counts
from tests.fuzz.strategies import ROUTES, Call, events, host_text, http_calls, message_bodies, poison_bodies

#: Inputs per family in the full run (`pytest -m fuzz`); the quick run takes a 25th of each.
BUDGET = {
    "http copies.post": 2_000,
    "http copies.list": 600,
    "http copies.get": 500,
    "http copies.cancel": 500,
    "http webhooks.model-trained": 1_800,
    "http sync": 400,
    "http status": 400,
    "queue copy-requests": 1_000,
    "queue copy-polls": 1_000,
    "queue copy-requests-poison": 400,
    "queue copy-polls-poison": 400,
    "event cloudevents": 700,
    "event eventgrid": 700,
}

HTTP_FUNCTIONS: dict[str, Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]] = {
    "copies.post": function_app.start_copies,
    "copies.list": function_app.list_copies,
    "copies.get": function_app.get_copy,
    "copies.cancel": function_app.cancel_copy,
    "webhooks.model-trained": function_app.model_trained_webhook,
    "sync": function_app.sync,
    "status": function_app.status,
}
QUEUE_FUNCTIONS: dict[str, Callable[[func.QueueMessage], Awaitable[None]]] = {
    "copy-requests": function_app.copy_requests,
    "copy-polls": function_app.copy_polls,
    "copy-requests-poison": function_app.copy_requests_poison,
    "copy-polls-poison": function_app.copy_polls_poison,
}
Message = CopyRequestMessage | PollMessage
QUEUE_MODELS: dict[str, type[Message]] = {"copy-requests": CopyRequestMessage, "copy-polls": PollMessage}


def run_input(harness: Harness, tally: Counts, invoke: Callable[[], Any]) -> tuple[Any, Diff]:
    """Hand one input to a function; what it returned and what it changed in the jobs table. An
    exception out of the function is counted and fails the input."""
    tally.inputs += 1
    try:
        result = harness.run(invoke())
    except Exception:
        tally.unhandled_exceptions += 1
        harness.tidy(harness.after()[0])
        raise
    now, changes = harness.after()
    harness.tidy(now)
    return result, changes


def rejected_unchanged(tally: Counts, changes: Diff, what: str) -> None:
    tally.rejected += 1
    if not changes.empty:
        tally.jobs_changed_by_rejected += 1
        raise AssertionError(f"{what} changed jobs: {changes}")


# --- HTTP ---------------------------------------------------------------------------------------------


def http_request(call: Call) -> func.HttpRequest:
    method, path = ROUTES[call.route]
    for name, value in call.route_params.items():
        path = path.replace("{" + name + "}", value)
    return func.HttpRequest(
        method.upper(),
        "https://dr.example.net/api" + path,
        body=call.body,
        params=call.params,
        headers=call.headers,
        route_params=call.route_params,
    )


def check_reply(call: Call, response: func.HttpResponse, changes: Diff, tally: Counts) -> None:
    status = response.status_code
    if status >= 500:
        tally.status(status)
        tally.server_errors += 1
        raise AssertionError(f"{status} for {call!r}: {response.get_body()[:500]!r}")
    body = json.loads(response.get_body())
    tally.status(f"{status} {body['code']}" if status >= 400 else status)
    if status >= 400:
        assert response.mimetype == "application/problem+json", response.mimetype
        assert body["type"] == "about:blank" and body["title"] == HTTPStatus(status).phrase, body
        assert body["status"] == status and isinstance(body["detail"], str) and body["detail"], body
        rejected_unchanged(tally, changes, f"the {status} reply to {call!r}")
        return
    tally.accepted += 1
    assert response.mimetype == "application/json"
    assert not changes.deleted, changes
    if call.route in ("copies.post", "webhooks.model-trained"):
        named = {j["jobId"] for j in body["jobs"] if j.get("jobId")}
        assert not changes.modified and set(changes.created) <= named, (changes, body)
    elif call.route == "copies.cancel":
        assert not changes.created and set(changes.modified) <= {call.route_params["jobId"]}, changes
        assert all(row["status"] == JobStatus.CANCELED for row in changes.modified.values()), changes
    elif call.route == "sync":
        assert not changes.modified, changes
        assert all(row["origin"] == "sync" for row in changes.created.values()), changes
    else:
        assert changes.empty, f"{call.route} changed jobs: {changes}"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_http_route(harness: Harness, route: str, scale: Scale, request: pytest.FixtureRequest) -> None:
    scale.skip_unless_selected(request)
    family = f"http {route}"
    examples = scale.examples(BUDGET[family])
    tally = counts(scale, family)
    function = HTTP_FUNCTIONS[route]

    @given(call=http_calls(route, harness))
    @scale.settings(examples)
    def one(call: Call) -> None:
        response, changes = run_input(harness, tally, lambda: function(http_request(call)))
        check_reply(call, response, changes, tally)

    one()
    assert tally.inputs >= examples


# --- queues -------------------------------------------------------------------------------------------


def well_formed(body: bytes, model: type[Message]) -> Message | None:
    """The message, if it is one that the queue's documented format accepts."""
    if len(body) > MAX_MESSAGE_BYTES:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    try:
        return model.model_validate(document)
    except ValidationError:
        return None


def named_job(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    job_id = document.get("job_id") if isinstance(document, dict) else None
    return job_id if isinstance(job_id, str) else None


def check_message(queue: str, body: bytes, before: dict[str, Any], changes: Diff, tally: Counts) -> None:
    assert not changes.created and not changes.deleted, (
        f"a message on {queue} created or deleted jobs: {changes}"
    )
    if queue.endswith("-poison"):
        tally.accepted += 1
        tally.status("ended a job" if changes.modified else "no change")
        assert set(changes.modified) <= {named_job(body)}, changes
        for job_id, row in changes.modified.items():
            assert JobStatus(row["status"]).is_terminal and row["event_published"], row
            if not JobStatus(before[job_id][1]["status"]).is_terminal:
                assert row["status"] == JobStatus.FAILED and row["error_code"] == "RetriesExhausted", row
        return
    message = well_formed(body, QUEUE_MODELS[queue])
    if message is not None:
        tally.accepted += 1
        tally.status("well-formed")
        assert set(changes.modified) <= {message.job_id}, changes
        return
    tally.rejected += 1
    tally.status("malformed")
    for row in changes.modified.values():
        # The one change a malformed message may make: the job it names fails, with the reason.
        if not (row["status"] == JobStatus.FAILED and row["error_code"] == "MalformedMessage"):
            tally.jobs_changed_by_rejected += 1
            raise AssertionError(f"a malformed message on {queue} changed a job otherwise: {row}")
        assert row.get("error_message"), row
    if set(changes.modified) - {named_job(body)}:
        tally.jobs_changed_by_rejected += 1
        raise AssertionError(f"a malformed message on {queue} changed another job: {changes}")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("queue", list(QUEUE_FUNCTIONS))
def test_queue(harness: Harness, queue: str, scale: Scale, request: pytest.FixtureRequest) -> None:
    scale.skip_unless_selected(request)
    family = f"queue {queue}"
    examples = scale.examples(BUDGET[family])
    tally = counts(scale, family)
    function = QUEUE_FUNCTIONS[queue]
    bodies = (
        poison_bodies(harness) if queue.endswith("-poison") else message_bodies(QUEUE_MODELS[queue], harness)
    )

    @given(body=bodies, as_text=st.booleans(), dequeue_count=st.integers(1, 10), message_id=host_text)
    @scale.settings(examples)
    def one(body: bytes, as_text: bool, dequeue_count: int, message_id: str) -> None:
        payload: bytes | str = body
        if as_text:  # the worker hands over a string when the host sent one
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        message = QueueMessage(id=message_id, body=payload, dequeue_count=dequeue_count, pop_receipt="fuzz")
        before = harness.current
        _, changes = run_input(harness, tally, lambda: function(message))
        check_message(queue, body, before, changes, tally)

    one()
    assert tally.inputs >= examples


# --- Event Grid ---------------------------------------------------------------------------------------


def trained_item(event: dict[str, Any]) -> TrainedBody | None:
    """What a valid model-trained event names; None for any other event."""
    cloud = "specversion" in event
    if event.get("type" if cloud else "eventType") != MODEL_TRAINED:
        return None
    data = event.get("data")
    if data is None and cloud and "data_base64" in event:
        import base64

        try:
            data = base64.b64decode(str(event["data_base64"]), validate=True)
        except ValueError:
            return None
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if isinstance(data, str):
            data = json.loads(data)
        body = TrainedBody.model_validate(data)
    except (ValueError, RecursionError):  # ValidationError and UnicodeDecodeError are ValueErrors
        return None
    if body.source and body.source.lower() not in ALIASES:  # no source (or "") is the primary
        return None
    return body


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("schema", ["cloudevents", "eventgrid"])
def test_event_grid(harness: Harness, schema: str, scale: Scale, request: pytest.FixtureRequest) -> None:
    from tests.api.webhook_helpers import as_worker_gives

    scale.skip_unless_selected(request)
    family = f"event {schema}"
    examples = scale.examples(BUDGET[family])
    tally = counts(scale, family)

    @given(event=events(schema))
    @scale.settings(examples)
    def one(event: dict[str, Any]) -> None:
        try:
            delivered = as_worker_gives(event)
        except Exception:
            reject()  # the worker could not decode it: the function would never see it
        _, changes = run_input(harness, tally, lambda: function_app.model_trained_event(delivered))
        body = trained_item(event)
        if body is None:
            tally.status("invalid")
            rejected_unchanged(tally, changes, f"the event {event!r}")
            return
        tally.accepted += 1
        tally.status("created jobs" if changes.created else "valid, no job")
        assert not changes.modified and not changes.deleted, changes
        for row in changes.created.values():
            assert (row["origin"], row["kind"], row["source_id"]) == ("event", body.kind, body.id), row

    one()
    assert tally.inputs >= examples


# --- the count ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES)
def test_the_run_counted_its_inputs(scale: Scale, request: pytest.FixtureRequest) -> None:
    """Runs last in this module: every family ran its inputs, and the full run reached 10,000."""
    scale.skip_unless_selected(request)
    ran = TALLY.get(scale.name, {})
    missing = sorted(set(BUDGET) - set(ran))
    if missing:
        pytest.skip(f"not every family ran in this session: {', '.join(missing)}")
    total = sum(c.inputs for c in ran.values())
    assert sum(BUDGET.values()) >= FULL_RUN_INPUTS
    assert total >= sum(scale.examples(b) for b in BUDGET.values())
    if scale.name == "full":
        assert total >= FULL_RUN_INPUTS
    assert sum(c.server_errors for c in ran.values()) == 0
    assert sum(c.unhandled_exceptions for c in ran.values()) == 0
    assert sum(c.jobs_changed_by_rejected for c in ran.values()) == 0
