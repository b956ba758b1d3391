"""The pipeline never loses track of a copy: crashes, duplicates, expiries, reuse, failures, outages."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from shared.copy import service as service_module
from shared.copy import watchdog
from shared.copy.jobs import JobStatus
from shared.copy.messages import CopyRequestMessage
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import (
    PipelineStack,
    stack_settings,
    start_stack,
    submitted_job_ids,
    target_item,
    unique,
)


async def submit_model(
    stack: PipelineStack,
    emulators,
    targets=("westus2",),
    *,
    model_id: str | None = None,
    authorize_now: bool = True,
    **seed: Any,
) -> tuple[str, list[str]]:
    """Seed a model at the source and submit its copy: authorized at once as the API does, or
    queued unauthorized as a sync does (`authorize_now=False`)."""
    model_id = model_id or unique("m")
    emulators["primary"].seed({"models": [{"modelId": model_id, **seed}]})
    request = CopyRequest(
        kind=ItemKind.MODEL,
        source_id=model_id,
        source_alias="primary",
        targets=list(targets),
        authorize_now=authorize_now,
    )
    return model_id, submitted_job_ids(await stack.service.submit(request))


class Crash(RuntimeError):
    """Injected: the process dies right after a side effect."""


def crash_once_after(monkeypatch, target: object, method: str, nth: int = 1) -> list[int]:
    """Make `target.method` do its work and then raise, on its nth call only."""
    original = getattr(target, method)
    calls = [0]

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        calls[0] += 1
        if calls[0] == nth:
            raise Crash(f"crash after {method} #{nth}")
        return result

    monkeypatch.setattr(target, method, wrapper)
    return calls


def assert_one_event_per_job(stack: PipelineStack, job_ids: list[str]) -> None:
    assert sorted(set(stack.events.ids())) == sorted(f"copy-{j}" for j in job_ids)


@pytest.mark.parametrize(
    ("collaborator", "method", "nth"),
    [
        ("source", "start_copy", 1),  # copyTo accepted, the job row not yet updated
        ("jobs", "replace", 1),  # the job row says started, the first poll was not sent
        ("polls", "send", 1),  # the first poll was sent, the request message not yet deleted
        ("polls", "send", 2),  # a poll chain message sent, the poll message not yet deleted
        ("events", "publish", 1),  # the event went out, the job not yet marked as published
    ],
)
async def test_a_crash_after_any_step_recovers_on_redelivery(
    stack, emulators, monkeypatch, collaborator, method, nth
):
    holders = {
        "source": stack.context.clients["primary"],
        "jobs": stack.service.jobs,
        "polls": stack.service.polls,
        "events": stack.service.events,
    }
    emulators["primary"].configure(copyDurationSeconds=3)  # long enough for a chain of polls
    try:
        model_id, job_ids = await submit_model(stack, emulators)
        calls = crash_once_after(monkeypatch, holders[collaborator], method, nth)
        [job] = await stack.run_to_end(job_ids)
    finally:
        emulators["primary"].configure(copyDurationSeconds=1)

    assert calls[0] >= nth, "the crash point was reached"
    assert any(i.outcome == "failed" and "Crash" in (i.error or "") for i in stack.invocations)
    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "models", model_id) is not None
    assert_one_event_per_job(stack, job_ids)
    await stack.settle(3)  # any stray poll message becomes visible and is handled
    assert await stack.queue_depth("copy-polls") == 0


@pytest.mark.parametrize(
    ("collaborator", "method"),
    [
        # between keeping the authorization and writing it into the job row: the retry is refused a
        # second authorization (the id is reserved by the first) and uses its own
        ("authorizations", "put"),
        # after the job row says authorized, before copyTo: the retry starts the copy with it
        ("jobs", "replace"),
    ],
)
async def test_a_queued_job_whose_instance_died_after_authorizing_uses_the_kept_authorization(
    stack, emulators, monkeypatch, collaborator, method
):
    holders = {"authorizations": stack.service.authorizations, "jobs": stack.service.jobs}
    calls = crash_once_after(monkeypatch, holders[collaborator], method)
    model_id, job_ids = await submit_model(stack, emulators, authorize_now=False)
    [job] = await stack.run_to_end(job_ids)

    assert calls[0] >= 1, "the crash point was reached"
    assert job.status is JobStatus.SUCCEEDED and job.reauthorizations == 0
    assert [c["commits"] for c in emulators["westus2"].commits() if c["id"] == model_id] == [1]


def record_calls(monkeypatch, client: object, method: str, times: dict[str, float]) -> None:
    """Note when `client.method` is called (it still does its work)."""
    original = getattr(client, method)

    async def noted(*args: Any, **kwargs: Any) -> Any:
        times[method] = time.time()
        return await original(*args, **kwargs)

    monkeypatch.setattr(client, method, noted)


async def test_a_queued_job_authorizes_when_its_message_comes_and_starts_its_copy_at_its_slot(
    stack, emulators, monkeypatch
):
    """A sync's job message comes up to a second before the job's slot of the source's rate. The job
    authorizes at once and calls copyTo at the slot: copies reach the source at its rate, however
    long each authorization took."""
    monkeypatch.setattr(service_module, "SLOT_WAIT_SECONDS", 5.0)  # room for a slow machine
    called: dict[str, float] = {}
    record_calls(monkeypatch, stack.context.clients["westus2"], "authorize_copy", called)
    record_calls(monkeypatch, stack.context.clients["primary"], "start_copy", called)
    model_id = unique("m")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    request = CopyRequest(
        kind=ItemKind.MODEL,
        source_id=model_id,
        source_alias="primary",
        targets=["westus2"],
        authorize_now=False,
        start_in=3.0,
    )
    [job_id] = submitted_job_ids(await stack.service.submit(request))
    queued = await stack.job(job_id)
    assert queued.due_at is not None
    slot = queued.due_at.timestamp()

    # Its message, early (as the queue gives it up to a second before the slot).
    early = CopyRequestMessage(job_id=job_id, generation=queued.generation).to_json()
    await stack.service.handle_copy_request(early, "early-delivery")

    # The event loop may fire a timer up to its clock resolution early: a few ms of leeway.
    assert called["authorize_copy"] < slot <= called["start_copy"] + 0.01
    [job] = await stack.run_to_end([job_id])  # the queued message, when it comes, is stale
    assert job.status is JobStatus.SUCCEEDED
    assert [c["commits"] for c in emulators["westus2"].commits() if c["id"] == model_id] == [1]


async def test_steps_that_go_in_a_circle_are_handed_to_a_later_message_not_spun(
    stack, emulators, monkeypatch
):
    """A service answering in a circle (copy refused, re-authorize refused, copy again...) must not
    keep one invocation busy forever: after a bounded number of steps the job retries later."""
    from shared.copy import pipeline as p

    _, [job_id] = await submit_model(stack, emulators)
    calls = []

    async def in_a_circle(job, message_id, now, authorization):
        calls.append(now)
        return p.StartCopy()

    monkeypatch.setattr(stack.service, "_start_copy", in_a_circle)
    await stack.pump(lambda: len(calls) >= p.MAX_ACTIONS_PER_MESSAGE, timeout=15)

    job = await stack.job(job_id)
    assert job.retries >= 1 and "did not settle" in (job.error_message or "")
    assert len(calls) < 3 * p.MAX_ACTIONS_PER_MESSAGE  # one message's worth, then a delay


async def test_every_message_delivered_twice_still_gives_one_chain_and_one_event(azurite, emulators):
    stack = await start_stack(stack_settings(azurite, emulators), duplicate=lambda _id: True)
    try:
        _, job_ids = await submit_model(stack, emulators, targets=("westus2", "northeurope"))
        jobs = await stack.run_to_end(job_ids)
        assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 2
        assert sorted(stack.events.ids()) == sorted(f"copy-{j}" for j in job_ids)  # no raw duplicate either
        await stack.settle(3)
        assert await stack.queue_depth("copy-polls") == 0
    finally:
        await stack.aclose()


async def test_an_expired_authorization_is_replaced_before_the_copy(stack, emulators):
    model_id, job_ids = await submit_model(stack, emulators)
    # The request waited in the queue for two hours: its one-hour authorization expired (the job's
    # 24-hour deadline did not).
    emulators["westus2"].advance_clock(2 * 3600)
    stack.service.clock = _shifted(stack.service.clock, 2 * 3600)
    try:
        [job] = await stack.run_to_end(job_ids)
    finally:
        emulators["westus2"].advance_clock(0)
    assert job.status is JobStatus.SUCCEEDED
    assert job.reauthorizations == 1
    assert target_item(emulators["westus2"], "models", model_id) is not None


async def test_an_id_reserved_by_an_authorization_whose_reply_was_lost_is_copied_once_it_lapses(
    stack, emulators
):
    """An instance authorized at the target and died before keeping the reply: the service reserves
    the id until that authorization expires and offers no way to cancel it. The job neither fails
    nor copies twice: it retries, and copies once the reservation has lapsed."""
    model_id = unique("m")
    await stack.context.clients["westus2"].authorize_copy(ItemKind.MODEL, model_id)  # reply lost
    _, [job_id] = await submit_model(stack, emulators, model_id=model_id, authorize_now=False)

    async def waiting_for_the_reservation() -> bool:
        job = await stack.job(job_id)
        return job.retries >= 1 and "reserved" in (job.error_message or "")

    await stack.pump(waiting_for_the_reservation, timeout=20)
    assert not (await stack.job(job_id)).status.is_terminal

    emulators["westus2"].advance_clock(3601)  # the lost authorization expires
    [job] = await stack.run_to_end([job_id], timeout=60)

    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "models", model_id) is not None


def _shifted(clock, seconds: float):
    from datetime import timedelta

    return lambda: clock() + timedelta(seconds=seconds)


async def test_an_authorization_used_by_a_lost_copy_continues_with_that_copy(stack, emulators, monkeypatch):
    """copyTo reached the service but its reply was lost: the retry's copy fails with 'authorization
    already used', and the job succeeds on the evidence of the target item."""
    model_id, job_ids = await submit_model(stack, emulators)
    source = stack.context.clients["primary"]
    original = source.start_copy
    first = [True]

    async def lost_reply(*args, **kwargs):
        url = await original(*args, **kwargs)
        if first[0]:
            first[0] = False
            await asyncio.sleep(1.5)  # the first copy completes and consumes the authorization
            from shared.docintel import CopyOutcomeUnknown

            raise CopyOutcomeUnknown("read timeout after copyTo was sent", alias="primary", item_id=model_id)
        return url

    monkeypatch.setattr(source, "start_copy", lost_reply)
    [job] = await stack.run_to_end(job_ids)

    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "models", model_id) is not None
    assert_one_event_per_job(stack, job_ids)


async def test_a_failing_copy_operation_fails_the_job_with_the_services_reason(stack, emulators):
    emulators["primary"].configure(copyFailureRate=1.0)
    try:
        model_id, job_ids = await submit_model(stack, emulators)
        [job] = await stack.run_to_end(job_ids)
    finally:
        emulators["primary"].configure(copyFailureRate=0.0)
    assert job.status is JobStatus.FAILED
    assert job.error_code and job.error_message
    assert target_item(emulators["westus2"], "models", model_id) is None
    [event] = stack.events.events
    assert event["type"] == "docintel-dr.copy.failed"
    assert event["data"]["error"]["code"] == job.error_code


async def test_a_source_outage_during_polling_is_waited_out(stack, emulators):
    _, job_ids = await submit_model(stack, emulators)
    await stack.pump(lambda: _status_is(stack, job_ids[0], JobStatus.STARTED, JobStatus.POLLING), timeout=10)
    emulators["primary"].outage(True)
    try:
        await asyncio.sleep(0.5)
        await stack.pump(lambda: _retries(stack, job_ids[0]), timeout=15)
    finally:
        emulators["primary"].outage(False)
    [job] = await stack.run_to_end(job_ids, timeout=40)
    assert job.status is JobStatus.SUCCEEDED
    assert_one_event_per_job(stack, job_ids)


async def _status_is(stack: PipelineStack, job_id: str, *statuses: JobStatus) -> bool:
    return (await stack.job(job_id)).status in statuses


async def _retries(stack: PipelineStack, job_id: str) -> bool:
    return (await stack.job(job_id)).retries > 0


async def test_a_canceled_job_stops_its_poll_chain_and_says_so_once(stack, emulators):
    emulators["primary"].configure(copyDurationSeconds=4)
    try:
        _, job_ids = await submit_model(stack, emulators)
        await stack.pump(
            lambda: _status_is(stack, job_ids[0], JobStatus.STARTED, JobStatus.POLLING), timeout=10
        )
        job = await stack.service.cancel(job_ids[0])
        assert job.status is JobStatus.CANCELED
        await stack.settle(5)
    finally:
        emulators["primary"].configure(copyDurationSeconds=1)
    assert (await stack.job(job_ids[0])).status is JobStatus.CANCELED
    assert await stack.queue_depth("copy-polls") == 0
    [event] = stack.events.events
    assert event["type"] == "docintel-dr.copy.failed" and event["data"]["status"] == "canceled"


async def test_a_malformed_message_is_recorded_without_retries(stack):
    await stack.triggers["copy-requests"].client.send_message("eyJqb2JfaWQiOiAx")  # base64 of '{"job_id": 1'
    await stack.pump(lambda: any(i.queue == "copy-requests" for i in stack.invocations), timeout=10)
    [invocation] = [i for i in stack.invocations if i.queue == "copy-requests"]
    assert invocation.outcome == "succeeded" and invocation.dequeue_count == 1


async def test_a_message_that_is_not_base64_goes_to_poison_untouched(stack, emulators):
    _, job_ids = await submit_model(stack, emulators)
    # A producer that forgot the base64 encoding: the host cannot decode it and moves it as it is.
    raw = f'{{"v":1,"job_id":"{job_ids[0]}","generation":0}}'
    await stack.triggers["copy-requests"].client.send_message(raw)
    [job] = await stack.run_to_end(job_ids, timeout=15)
    assert job.status is JobStatus.SUCCEEDED
    # The poison queue's own listener may report its (undecodable) copy first: no order is assumed.
    assert any(i.queue == "copy-requests" and i.outcome == "undecodable" for i in stack.invocations)
    props = await stack.triggers["copy-requests"].poison.get_queue_properties()
    assert props.approximate_message_count == 1


async def test_the_watchdog_resumes_a_job_whose_message_was_lost(stack, emulators):
    model_id, job_ids = await submit_model(stack, emulators)
    await stack.triggers["copy-requests"].client.clear_messages()  # the request message is lost
    await stack.settle(1)
    assert (await stack.job(job_ids[0])).status is JobStatus.AUTHORIZED

    assert await stack.service.resume_stalled(timedelta(seconds=0)) == job_ids
    [job] = await stack.run_to_end(job_ids)

    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "models", model_id) is not None
    assert await stack.service.resume_stalled(timedelta(seconds=0)) == []  # nothing left behind


async def test_a_job_whose_message_is_held_by_a_dead_instance_is_resumed_once_overdue(
    stack, emulators, monkeypatch
):
    """An instance took the poll message and died: the message stays invisible for its lease (ten
    minutes in Azure). Past the job's due time plus the grace, the watchdog resumes it; the held
    message, when it reappears, is stale and changes nothing."""
    model_id, job_ids = await submit_model(stack, emulators)
    await stack.pump(lambda: _status_is(stack, job_ids[0], JobStatus.STARTED, JobStatus.POLLING), timeout=15)
    polls = stack.triggers["copy-polls"].client
    held: list[Any] = []
    while not held:  # the dead instance's receive: invisible for ten minutes
        held = [m async for m in polls.receive_messages(visibility_timeout=600)]
    job = await stack.job(job_ids[0])
    assert job.due_at is not None
    assert await stack.service.resume_stalled() == []  # not overdue yet: it is merely on its way

    later = job.due_at + watchdog.GRACE + timedelta(seconds=1)
    monkeypatch.setattr(stack.service, "clock", lambda: later)
    assert await stack.service.resume_stalled() == job_ids
    monkeypatch.undo()
    [done] = await stack.run_to_end(job_ids)

    assert done.status is JobStatus.SUCCEEDED and done.resumes == 1
    assert target_item(emulators["westus2"], "models", model_id) is not None
    for message in held:  # the lease ends: the old message comes back, and is dropped as stale
        await polls.update_message(message, visibility_timeout=0)
    await stack.settle(1.5)
    assert (await stack.job(job_ids[0])).generation == done.generation
    assert_one_event_per_job(stack, job_ids)


async def test_the_watchdog_publishes_an_event_that_could_not_be_published(stack, emulators, monkeypatch):
    _, job_ids = await submit_model(stack, emulators)

    async def topic_down(events):
        raise ConnectionError("Event Grid unreachable")

    monkeypatch.setattr(stack.service.events, "publish", topic_down)
    await stack.pump(lambda: _status_is(stack, job_ids[0], JobStatus.SUCCEEDED), timeout=30)
    job = await stack.job(job_ids[0])
    assert job.status is JobStatus.SUCCEEDED and not job.event_published
    monkeypatch.undo()

    await stack.service.resume_stalled(timedelta(seconds=0))

    assert (await stack.job(job_ids[0])).event_published
    assert_one_event_per_job(stack, job_ids)


async def test_the_watchdog_leaves_a_job_that_is_moving_alone(stack, emulators):
    _, job_ids = await submit_model(stack, emulators)
    assert await stack.service.resume_stalled(timedelta(minutes=10)) == []
    await stack.run_to_end(job_ids)


async def test_a_copy_that_failed_while_the_target_was_down_is_retried_with_its_pending_authorization(
    stack, emulators
):
    """The target never learned that the copy ended, so it keeps the id reserved for the first
    authorization: the next request must use that one, not be refused for a day."""
    emulators["primary"].configure(copyDurationSeconds=2)
    try:
        model_id, [first] = await submit_model(stack, emulators)
        await stack.pump(lambda: _status_is(stack, first, JobStatus.STARTED, JobStatus.POLLING), timeout=10)
        emulators["westus2"].outage(True)
        try:
            [failed] = await stack.run_to_end([first], timeout=20)
        finally:
            emulators["westus2"].outage(False)
        assert failed.status is JobStatus.FAILED
        assert target_item(emulators["westus2"], "models", model_id) is None

        [again] = await stack.service.submit(
            CopyRequest(kind=ItemKind.MODEL, source_id=model_id, source_alias="primary", targets=["westus2"])
        )
        assert again.job is not None, again.error
        [job] = await stack.run_to_end([again.job.job_id])
    finally:
        emulators["primary"].configure(copyDurationSeconds=1)
    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "models", model_id) is not None
