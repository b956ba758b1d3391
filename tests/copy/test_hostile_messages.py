"""Queue messages that break the JSON parser or carry huge values: recognised as malformed, never
raised out of a queue function, and the reason recorded on the job is short enough for its row
(a Table string property holds 32K characters). (Found by the fuzz run, tests/fuzz.)"""

from __future__ import annotations

import json

import pytest
from azure.functions.queue import QueueMessage

import function_app
from shared.copy.jobs import JobStatus
from shared.copy.messages import (
    MAX_REASON_CHARS,
    CopyRequestMessage,
    MalformedMessage,
    PollMessage,
    job_id_hint,
    parse_message,
)
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import unique

UNPARSABLE = {
    "a huge integer": b'{"job_id": "ab", "generation": ' + b"9" * 5_000 + b"}",
    "deep nesting": b"[" * 20_000 + b"]" * 20_000,
}


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
@pytest.mark.parametrize("model", [CopyRequestMessage, PollMessage])
def test_a_message_that_breaks_the_parser_is_malformed(raw, model):
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_message(raw, model)
    assert job_id_hint(raw) is None


def test_the_reason_is_cut_to_a_length_a_row_can_hold():
    raw = json.dumps({"v": "x" * 40_000, "job_id": "ab", "generation": 0})
    with pytest.raises(MalformedMessage) as caught:
        parse_message(raw, CopyRequestMessage)
    assert "schema version" in str(caught.value) and len(str(caught.value)) == MAX_REASON_CHARS


def message(body: bytes | str) -> QueueMessage:
    return QueueMessage(id="m-1", body=body, dequeue_count=1, pop_receipt="r")


@pytest.mark.parametrize(
    "function", [function_app.copy_requests, function_app.copy_polls], ids=["copy-requests", "copy-polls"]
)
async def test_a_huge_malformed_message_fails_its_job_with_a_short_reason(stack, emulators, function):
    model_id = unique("hostile")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    [outcome] = await stack.service.submit(
        CopyRequest(kind=ItemKind.MODEL, source_id=model_id, source_alias="primary", targets=["westus2"])
    )
    assert outcome.job is not None
    body = json.dumps({"v": "x" * 40_000, "job_id": outcome.job.job_id, "generation": 0})

    await function(message(body))  # returns: nothing transient about a malformed message

    job = await stack.job(outcome.job.job_id)
    assert job.status is JobStatus.FAILED and job.error_code == "MalformedMessage"
    assert job.error_message is not None and len(job.error_message) <= MAX_REASON_CHARS


@pytest.mark.parametrize("raw", UNPARSABLE.values(), ids=UNPARSABLE.keys())
async def test_queue_functions_return_on_a_body_that_breaks_the_parser(stack, raw):
    for function in (
        function_app.copy_requests,
        function_app.copy_polls,
        function_app.copy_requests_poison,
        function_app.copy_polls_poison,
    ):
        await function(message(raw))
    assert await stack.service.jobs.list(limit=10) == []
