"""JSON that parses into an exception other than a decoding error: an integer longer than Python
converts (4300 digits: `ValueError`) and nesting deeper than the recursion limit (`RecursionError`).
The HTTP routes answer 400 ``invalid-json`` and the Event Grid trigger drops the event with the
reason; neither raises, and no job is written. (Found by the fuzz run, tests/fuzz.)"""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

import function_app
from tests.api.webhook_helpers import as_worker_gives, cloud_event, grid_event, webhook_request
from tests.stack import assert_problem, unique

HOSTILE = {
    "a huge integer": b'{"sourceId": "ok-id", "id": "ok-id", "kind": "model", "n": ' + b"9" * 5_000 + b"}",
    "deep nesting": b"[" * 30_000 + b"]" * 30_000,
    "deep objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
}


def copies_request(raw: bytes) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        "https://dr.example.net/api/copies",
        headers={"content-type": "application/json"},
        params={},
        route_params={},
        body=raw,
    )


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_copy_request_that_does_not_parse_is_invalid_json(stack, raw):
    problem = assert_problem(await function_app.start_copies(copies_request(raw)), 400)
    assert problem["code"] == "invalid-json"
    assert await stack.service.jobs.list(limit=10) == []


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_webhook_body_that_does_not_parse_is_invalid_json(stack, raw):
    problem = assert_problem(await function_app.model_trained_webhook(webhook_request(raw=raw)), 400)
    assert problem["code"] == "invalid-json"
    assert await stack.service.jobs.list(limit=10) == []


@pytest.mark.parametrize("schema", [cloud_event, grid_event], ids=["cloudevents", "eventgrid"])
@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
async def test_event_data_that_does_not_parse_is_dropped_with_the_reason(stack, caplog, schema, raw):
    caplog.set_level(logging.WARNING, "docintel_dr.webhooks")
    event = schema(raw.decode())

    await function_app.model_trained_event(as_worker_gives(event))  # returns: no redelivery

    assert await stack.service.jobs.list(limit=10) == []
    assert event["id"] in caplog.text and "not a JSON object" in caplog.text


def test_the_cases_are_what_they_say():
    for raw in HOSTILE.values():
        with pytest.raises((ValueError, RecursionError)) as caught:
            json.loads(raw)
        assert not isinstance(caught.value, json.JSONDecodeError)


LONE_SURROGATES = {
    "escaped, in a tag's name": b'{"sourceId": "%s", "tags": {"\\ud800": "x"}}',
    "as bytes, in a tag's name": b'{"sourceId": "%s", "tags": {"\xed\xa0\x80": "x"}}',
    "escaped, in a tag's value": b'{"sourceId": "%s", "tags": {"team": "\\udfff"}}',
}


@pytest.mark.parametrize("template", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
async def test_a_string_with_a_lone_surrogate_is_invalid_json(stack, emulators, template):
    """json.loads takes it, pydantic let it through in a dict key, and sending it to the service as
    UTF-8 failed: a 500 after the source had been read."""
    model_id = unique("surrogate")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    response = await function_app.start_copies(copies_request(template % model_id.encode()))

    assert assert_problem(response, 400)["code"] == "invalid-json"
    assert await stack.service.jobs.list(limit=10) == []
