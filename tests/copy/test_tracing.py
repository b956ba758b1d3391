"""One trace per job, through the real functions and queues over Azurite and the emulators: from the
HTTP request, through every queue hop (copy request, polls), to the completion event; a job the
watchdog resumes, and a message from before traces were carried, stay in it. The job metrics come
out with their names and attributes, and no key or copy access token reaches any span or metric."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import format_span_id, format_trace_id

from shared import telemetry as tel
from shared.copy.messages import CopyRequestMessage
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from shared.settings import COPY_REQUESTS_QUEUE
from tests.api.test_copies import request
from tests.conftest import KEYS
from tests.otel import Recorded, attribute_values, capture
from tests.stack import body_of, unique

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def otel() -> Iterator[Recorded]:
    yield from capture()


def by_job(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    jobs: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        job_id = (span.attributes or {}).get(tel.JOB_ID)
        if job_id is not None:
            jobs[str(job_id)].append(span)
    return jobs


def trace_id(traceparent: str | None) -> str:
    assert tel.is_traceparent(traceparent), traceparent
    assert traceparent is not None
    return traceparent.split("-")[1]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format_trace_id(span.context.trace_id)


async def test_a_job_is_one_trace_from_the_request_to_its_completion_event(stack, emulators, otel):
    model_id = unique("traced")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    reply = await post_copies_traced({"kind": "model", "sourceId": model_id})
    job_ids = [job["jobId"] for job in body_of(reply)["jobs"]]
    assert len(job_ids) == 2
    jobs = await stack.run_to_end(job_ids)

    spans = otel.spans()
    traced = by_job(spans)
    span_ids = {format_span_id(s.context.span_id) for s in spans if s.context is not None}
    for job in jobs:
        mine = traced[job.job_id]
        # Exactly one trace per job: the caller's, from the request to the event.
        assert {hex_trace(s) for s in mine} == {CALLER_TRACE}
        assert trace_id(job.traceparent) == CALLER_TRACE
        names = [s.name for s in mine]
        assert names.count(tel.SPAN_SUBMIT) == 1
        assert tel.SPAN_REQUEST in names and tel.SPAN_POLL in names and tel.SPAN_PUBLISH in names
        # Every hop continues from a span of its own job (the message's sender), never from nowhere.
        own = {format_span_id(s.context.span_id) for s in mine if s.context is not None}
        for hop in (s for s in mine if s.name in (tel.SPAN_REQUEST, tel.SPAN_POLL)):
            assert hop.parent is not None and format_span_id(hop.parent.span_id) in own
            assert hop.kind is trace.SpanKind.CONSUMER
        [event] = [e for e in stack.events.events if e["id"] == f"copy-{job.job_id}"]
        assert trace_id(event["traceparent"]) == CALLER_TRACE
        [publish] = [s for s in mine if s.name == tel.SPAN_PUBLISH]
        assert event["traceparent"].split("-")[2] == format_span_id(publish.context.span_id)
        assert event["traceparent"].split("-")[2] in span_ids

    points = otel.metrics()
    ended = [p for p in points[tel.COPY_JOBS] if p.attributes[tel.OUTCOME] == "succeeded"]
    assert sum(p.value for p in ended) == 2
    assert {frozenset(p.attributes) for p in points[tel.COPY_JOBS]} == {frozenset({tel.OUTCOME, tel.REASON})}
    assert {p.attributes[tel.REASON] for p in ended} == {tel.NO_REASON}
    durations = {p.attributes[tel.TARGET]: p for p in points[tel.COPY_DURATION]}
    assert set(durations) == {"westus2", "northeurope"}
    for target, point in durations.items():
        assert point.attributes == {
            tel.SOURCE: "primary",
            tel.TARGET: target,
            tel.KIND: "model",
            tel.OUTCOME: "succeeded",
        }
        count, total = point.value
        assert count == 1 and total > 0
    reads = sum(p.value for p in points[tel.POLL_READS])
    assert reads == sum(j.polls for j in jobs) >= 2
    assert {frozenset(p.attributes) for p in points[tel.POLL_READS]} == {
        frozenset({tel.SOURCE, tel.TARGET, tel.KIND})
    }

    # Dependency spans (httpx to the service, the Azure SDK to storage) included: no secret anywhere.
    assert any(s.name.startswith(("POST", "GET")) for s in spans), "httpx calls are traced"
    texts = "\n".join(attribute_values(spans, points))
    tokens = [t for e in emulators.values() for t in e.tokens()]
    assert tokens, "the copies used access tokens"
    for secret in [*KEYS.values(), *tokens, "accessToken"]:
        assert secret not in texts


async def post_copies_traced(body: object):
    """POST /api/copies with the caller's W3C traceparent header."""
    import function_app

    return await function_app.start_copies(request("POST", "copies", body, headers={"traceparent": CALLER}))


async def test_a_resumed_job_and_a_message_without_traceparent_stay_in_the_jobs_trace(stack, emulators, otel):
    model_id = unique("resumed")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    [outcome] = await stack.service.submit(
        CopyRequest(kind=ItemKind.MODEL, source_id=model_id, source_alias="primary", targets=["westus2"])
    )
    assert outcome.job is not None
    job_id, job_trace = outcome.job.job_id, trace_id(outcome.job.traceparent)
    requests = stack.triggers[COPY_REQUESTS_QUEUE].client

    # The request message is lost; the watchdog (its own invocation, its own trace) resumes the job.
    await requests.clear_messages()
    assert await stack.service.resume_stalled(grace=timedelta(0)) == [job_id]
    # Its message is lost too, and an old-style message without a traceparent stands in for it.
    await requests.clear_messages()
    job = await stack.job(job_id)
    await stack.service.requests.send(CopyRequestMessage(job_id=job_id, generation=job.generation).to_json())
    [job] = await stack.run_to_end([job_id])

    spans = otel.spans()
    mine = by_job(spans)[job_id]
    assert {hex_trace(s) for s in mine} == {job_trace}
    assert trace_id(job.traceparent) == job_trace
    [resume] = [s for s in mine if s.name == tel.SPAN_RESUME]
    [watchdog] = [s for s in spans if s.name == tel.SPAN_WATCHDOG]
    assert watchdog.context is not None and hex_trace(watchdog) != job_trace
    assert [link.context.span_id for link in resume.links] == [watchdog.context.span_id]
    [event] = stack.events.events
    assert trace_id(event["traceparent"]) == job_trace
