"""The queue listener holds to what the Storage Queues extension does, against real Azurite: the lease
is renewed while a function runs, a new batch waits for `newBatchThreshold`, a poison queue has no
poison queue of its own, invocations stop at `functionTimeout`, and host.json values the real host
refuses stop the runner from starting too."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import azure.functions as func
import pytest
from azure.storage.queue.aio import QueueClient

from local.runner.config import HostConfigError, function_timeout_seconds
from local.runner.functions import FunctionTimeout, Invoker, discover
from local.runner.host import FunctionHost
from local.runner.queues import Invocation, QueueHostOptions, QueueTrigger, poll_forever

_names = itertools.count(1)


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def queues(azurite) -> AsyncIterator[Callable[[str], Awaitable[tuple[QueueClient, QueueClient]]]]:
    made: list[QueueClient] = []

    async def make(name: str) -> tuple[QueueClient, QueueClient]:
        unique = f"{name}-{next(_names)}-{id(made) % 100_000}"
        pair = []
        for queue in (unique, unique + "-poison"):
            client = QueueClient.from_connection_string(azurite.connection_string, queue)
            await client.create_queue()
            made.append(client)
            pair.append(client)
        return pair[0], pair[1]

    yield make
    for client in made:
        await client.delete_queue()
        await client.close()


class Watched:
    """A value the test waits on: every change wakes the waiters, so a test waits for a state, not a time."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def touch(self, *_: object) -> None:
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                await self._changed.wait()
                self._changed.clear()


async def _listen(trigger: QueueTrigger, watched: Watched, until: Callable[[], bool]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(poll_forever(trigger, stop))
    try:
        await watched.until(until)
    finally:
        stop.set()
        await task


FAST = QueueHostOptions(max_dequeue_count=2, visibility_timeout=0, max_polling_interval=0.1)


async def test_a_message_failing_in_a_poison_queue_is_never_deleted_it_comes_back(queues):
    _, poison = await queues("stuck")
    seen: list[int | None] = []
    watched = Watched()

    async def handler(msg: func.QueueMessage) -> None:
        seen.append(msg.dequeue_count)
        watched.touch()
        if len(seen) < 5:
            raise RuntimeError("the poison handler fails")

    trigger = QueueTrigger("stuck_poison", poison, poison, handler, FAST)
    await poison.send_message(_encoded("{}"))
    await _listen(trigger, watched, lambda: len(seen) >= 5)
    # Well past maxDequeueCount (2): retried each time, as the host does until the message's TTL.
    assert seen == [1, 2, 3, 4, 5]
    props = await poison.get_queue_properties()
    assert props.approximate_message_count == 0  # deleted only once it succeeded


async def test_a_message_failing_in_a_queue_goes_to_poison_at_max_dequeue_count(queues):
    main, poison = await queues("fails")
    seen: list[int | None] = []

    async def handler(msg: func.QueueMessage) -> None:
        seen.append(msg.dequeue_count)
        raise RuntimeError("always fails")

    outcomes: list[str] = []
    watched = Watched()

    def record(invocation: Invocation) -> None:
        outcomes.append(invocation.outcome)
        watched.touch()

    trigger = QueueTrigger("fails", main, poison, handler, FAST, on_invocation=record)
    await main.send_message(_encoded("{}"))
    await _listen(trigger, watched, lambda: "poisoned" in outcomes)
    assert seen == [1, 2]
    assert [m.content async for m in poison.receive_messages()] == [_encoded("{}")]


async def test_the_lease_is_renewed_while_the_function_runs(queues):
    main, poison = await queues("long")
    started: list[int | None] = []
    release = asyncio.Event()
    watched = Watched()

    async def handler(msg: func.QueueMessage) -> None:
        started.append(msg.dequeue_count)
        watched.touch()
        await release.wait()

    trigger = QueueTrigger("long", main, poison, handler, FAST, lease_seconds=4)
    await main.send_message(_encoded("{}"))
    stop = asyncio.Event()
    task = asyncio.create_task(poll_forever(trigger, stop))
    try:
        await watched.until(lambda: bool(started))
        await asyncio.sleep(10)  # 2.5 leases: unrenewed, the message would be visible and run again
        assert await main.peek_messages() == []
        assert started == [1]
    finally:
        release.set()
        stop.set()
        await task
    assert (await main.get_queue_properties()).approximate_message_count == 0


async def test_a_new_batch_waits_until_in_flight_drops_to_new_batch_threshold(queues):
    main, poison = await queues("batch")
    running = 0
    most = 0
    release = asyncio.Event()
    watched = Watched()

    async def handler(msg: func.QueueMessage) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        watched.touch()
        await release.wait()
        running -= 1

    options = QueueHostOptions(batch_size=4, new_batch_threshold=1, max_polling_interval=0.1)
    done: list[Invocation] = []

    def finished(invocation: Invocation) -> None:
        done.append(invocation)
        watched.touch()

    trigger = QueueTrigger("batch", main, poison, handler, options, on_invocation=finished)
    for n in range(10):
        await main.send_message(_encoded(str(n)))
    stop = asyncio.Event()
    task = asyncio.create_task(poll_forever(trigger, stop))
    try:
        await watched.until(lambda: running == 4)
        await asyncio.sleep(1)  # ten listener polls: none may fetch while four are in flight
        assert most == 4
        release.set()
        await watched.until(lambda: len(done) == 10)
    finally:
        release.set()
        stop.set()
        await task
    assert most <= 4 + 1  # a batch of 4 on top of at most newBatchThreshold (1) still running


async def test_an_invocation_past_function_timeout_fails():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    async def sleeper(msg: func.QueueMessage) -> None:
        await asyncio.sleep(30)

    [spec] = discover(app)
    with pytest.raises(
        FunctionTimeout, match=r"Timeout value of 0\.2 s was exceeded by function: Functions.sleeper"
    ):
        await Invoker(spec, timeout=0.2)(None)


@pytest.mark.parametrize(
    ("queues_json", "problem"),
    [
        ({"batchSize": 33}, "batchSize must be between 1 and 32"),
        ({"batchSize": 0}, "batchSize must be between 1 and 32"),
        ({"maxPollingInterval": "00:00:00.050"}, "maxPollingInterval must not be less than 00:00:00.100"),
        ({"maxDequeueCount": 0}, "maxDequeueCount must be at least 1"),
        ({"visibilityTimeout": "ten seconds"}, "is not a TimeSpan"),
    ],
)
def test_the_host_refuses_to_start_with_queue_settings_the_real_host_rejects(queues_json, problem):
    with pytest.raises(HostConfigError, match=problem):
        FunctionHost(func.FunctionApp(), {}, host_json={"extensions": {"queues": queues_json}})


def test_function_timeout_defaults_to_flex_consumption_and_minus_one_means_no_limit():
    assert function_timeout_seconds({}) == 1800
    assert function_timeout_seconds({"functionTimeout": "00:10:00"}) == 600
    assert function_timeout_seconds({"functionTimeout": "-1"}) is None
    with pytest.raises(HostConfigError):
        function_timeout_seconds({"functionTimeout": "00:00:00"})


def test_the_app_host_json_is_accepted():
    from local.runner.config import read_host_json
    from local.stack import ROOT

    host = FunctionHost(func.FunctionApp(), {}, host_json=read_host_json(ROOT / "host.json"))
    assert host.queue_options.batch_size == 16 and host.function_timeout == 600
