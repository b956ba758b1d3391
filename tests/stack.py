"""A pipeline driven end to end in the test's event loop: the real function_app functions, real
Azurite queues and tables (with the host's queue semantics from `local.runner.queues`), real emulator
processes. Only Event Grid is stood in for, by an in-memory publisher."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.storage.queue.aio import QueueClient

from local.azurite import Azurite
from local.emulator.process import EmulatorHandle
from local.runner.queues import Invocation, QueueHostOptions, QueueTrigger
from shared.context import AppContext, build_context, set_context
from shared.copy.jobs import Job
from shared.copy.service import CopyService, TargetOutcome
from shared.events import AppEvent, structured
from shared.names import SYNC_PAGES_QUEUE
from shared.settings import COPY_POLLS_QUEUE, COPY_REQUESTS_QUEUE, POISON_SUFFIX, Settings, load_settings

KEYS = {"primary": "src-key-7f3a9c", "westus2": "tgt-key-west-51be", "northeurope": "tgt-key-north-88d0"}
REGIONS = {"primary": "southcentralus", "westus2": "westus2", "northeurope": "northeurope"}
# Fast copies, no service-side throttling, and client pacing high enough for hundreds of items.
COPY_SECONDS = 0.2
FAST_CLIENT = {
    f"DR_RESOURCES__{alias.upper()}__{limit}_PER_SECOND": "1000"
    for alias in KEYS
    for limit in ("MANAGEMENT", "LIST", "STATUS")
}


_tables = itertools.count(1)
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    """An item id no other test of the session uses (the emulators live for the whole session)."""
    return f"{prefix}-{next(_ids)}"


class MemoryPublisher:
    """Stands in for the Event Grid topic (which cannot exist locally); keeps the events in the
    structured JSON form subscribers receive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def publish(self, events: Sequence[AppEvent]) -> None:
        self.events.extend(structured(e) for e in events)

    async def aclose(self) -> None:
        return None

    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]


def eventually(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Wait (in a thread or plain test, not in an event loop) until `condition()` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)


def body_of(response: func.HttpResponse) -> dict[str, Any]:
    """The JSON body of a function's HTTP reply."""
    body: dict[str, Any] = json.loads(response.get_body())
    return body


def assert_problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """The reply is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    problem = body_of(response)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return problem


def target_item(emulator: EmulatorHandle, collection: str, item_id: str) -> dict[str, Any] | None:
    """An item as the emulator holds it (collection: models, classifiers, v21Models), or None."""
    key = "classifierId" if collection == "classifiers" else "modelId"
    return next((i for i in emulator.items()[collection] if i.get(key) == item_id), None)


def submitted_job_ids(outcomes: Sequence[TargetOutcome]) -> list[str]:
    """The job id of each submitted target, asserting that every target got a job."""
    job_ids = []
    for outcome in outcomes:
        assert outcome.job is not None, outcomes
        job_ids.append(outcome.job.job_id)
    return job_ids


def stack_settings(azurite: Azurite, emulators: dict[str, EmulatorHandle], **extra: str) -> Settings:
    n = next(_tables)
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "DR_PRIMARY": "primary",
        "DR_SECONDARIES": "westus2,northeurope",
        "DR_JOBS_TABLE": f"jobs{n}x{int(time.time())}",
        "DR_STATE_TABLE": f"state{n}x{int(time.time())}",
        "DR_POLL__FIRST_DELAY_SECONDS": "1",
        "DR_POLL__MIN_DELAY_SECONDS": "1",
        "DR_POLL__MAX_DELAY_SECONDS": "2",
    }
    for alias, emulator in emulators.items():
        prefix = f"DR_RESOURCES__{alias.upper()}__"
        env[prefix + "ENDPOINT"] = emulator.endpoint
        env[prefix + "KEY"] = emulator.key
        env[prefix + "RESOURCE_ID"] = emulator.resource_id
        env[prefix + "REGION"] = emulator.region
    env.update(extra)
    return load_settings(env)


@dataclass
class PipelineStack:
    context: AppContext
    events: MemoryPublisher
    triggers: dict[str, QueueTrigger]
    invocations: list[Invocation] = field(default_factory=list)

    @property
    def service(self) -> CopyService:
        return self.context.service

    async def pump(self, until: Callable[[], Any], timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Deliver queue messages (honoring their visibility delays) until `until()` is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            result = until()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the pipeline did not reach the expected state in time")
            received = 0
            for trigger in self.triggers.values():
                received += await trigger.receive_batch()
            for trigger in self.triggers.values():
                await trigger.drain_in_flight()
            if not received:
                await asyncio.sleep(0.1)

    async def settle(self, seconds: float) -> None:
        """Keep delivering messages for `seconds` (lets delayed messages surface and be handled)."""
        end = time.monotonic() + seconds
        await self.pump(lambda: time.monotonic() >= end, timeout=seconds + 30)

    async def jobs_terminal(self, job_ids: Sequence[str]) -> bool:
        for job_id in job_ids:
            job = await self.service.jobs.get(job_id)
            if job is None or not job.status.is_terminal or not job.event_published:
                return False
        return True

    async def job(self, job_id: str) -> Job:
        job = await self.service.jobs.get(job_id)
        assert job is not None
        return job

    async def run_to_end(self, job_ids: Sequence[str], timeout: float = 30.0) -> list[Job]:  # noqa: ASYNC109
        await self.pump(lambda: self.jobs_terminal(job_ids), timeout)
        return [await self.job(j) for j in job_ids]

    async def queue_depth(self, name: str) -> int:
        client = self.triggers[name].client
        props = await client.get_queue_properties()
        # Optional in the SDK's model, which list_queues shares; get_queue_properties always sets it.
        assert props.approximate_message_count is not None
        return props.approximate_message_count

    async def aclose(self) -> None:
        for trigger in self.triggers.values():
            await trigger.drain_in_flight()
            await trigger.poison.close()
            await trigger.client.close()
        await self.context.aclose()
        set_context(None)


async def start_stack(settings: Settings, **trigger_options: Any) -> PipelineStack:
    import function_app

    context = await build_context(settings)
    events = MemoryPublisher()
    context.service.events = events
    set_context(context)
    options = QueueHostOptions(
        max_dequeue_count=3, visibility_timeout=0, batch_size=16, new_batch_threshold=8
    )
    connection = settings.storage_connection_string
    assert connection is not None
    functions = {
        COPY_REQUESTS_QUEUE: function_app.copy_requests,
        COPY_POLLS_QUEUE: function_app.copy_polls,
        COPY_REQUESTS_QUEUE + POISON_SUFFIX: function_app.copy_requests_poison,
        COPY_POLLS_QUEUE + POISON_SUFFIX: function_app.copy_polls_poison,
        SYNC_PAGES_QUEUE: function_app.sync_pages,
    }
    stack = PipelineStack(context, events, {})
    for queue, function in functions.items():
        client = QueueClient.from_connection_string(connection.get_secret_value(), queue)
        poison = QueueClient.from_connection_string(connection.get_secret_value(), queue + POISON_SUFFIX)
        trigger = QueueTrigger(
            queue,
            client,
            poison,
            function,
            options,
            on_invocation=stack.invocations.append,
            **trigger_options,
        )
        await trigger.ensure_queues()
        await client.clear_messages()
        stack.triggers[queue] = trigger
    return stack


def sync_settings(azurite, emulators, **extra: str):
    values = {
        "DR_SYNC_PAGE_SIZE": "2000",
        "DR_POLL__FIRST_DELAY_SECONDS": "0",
        "DR_POLL__MIN_DELAY_SECONDS": "0.2",
        "DR_POLL__MAX_DELAY_SECONDS": "1",
        **FAST_CLIENT,
        **extra,
    }
    return stack_settings(azurite, emulators, **values)


async def start_sync_stack(settings) -> PipelineStack:
    """The pipeline stack, taking the host's largest queue batch (32) so hundreds of jobs drain fast."""
    stack = await start_stack(settings)
    for trigger in stack.triggers.values():
        trigger.options = dataclasses.replace(trigger.options, batch_size=32, new_batch_threshold=16)
    return stack
