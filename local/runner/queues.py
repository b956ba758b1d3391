"""Queue triggers with the Functions host's semantics (Storage Queues extension 5.x).

What is reproduced, from the extension's source (see local/README.md): messages are received with a
10-minute lease that is renewed while the function runs (at half the lease); the body is
base64-decoded (a body that is not base64 goes straight to `<queue>-poison`); a message whose dequeue
count already exceeds `maxDequeueCount` goes to poison without running; on success the message is
deleted; on failure it becomes visible again after `visibilityTimeout`, or, at `maxDequeueCount`, its
body is copied to `<queue>-poison` and it is deleted. Poison copies are base64, like the host writes
them. A queue named `*-poison` has no poison queue of its own: a message that keeps failing there is
never deleted, it comes back after `visibilityTimeout` until its time-to-live ends. A new batch is
fetched only when the messages in flight drop to `newBatchThreshold`.

The bindings around it: `storage_client` resolves a binding's `connection` (a connection string, or
`<conn>__queueServiceUri` / `__accountName` with `DefaultAzureCredential`); `queue_trigger` builds
the trigger of a function; `QueueOutputs` writes queue output bindings (`func.Out`) after the
function returns, in `messageEncoding`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from local.runner.config import HostConfigError, storage_client_options, timespan_seconds
from local.runner.faults import FaultSwitches
from local.runner.functions import FunctionSpec, encode_for_queue, resolve
from local.runner.invocations import InvocationRecord, Record

log = logging.getLogger("docintel_dr.local.host")

# The extension receives with a 10-minute visibility and renews it at half time while the function runs.
LEASE_SECONDS = 600.0
MAX_BATCH_SIZE = 32
MIN_POLLING_INTERVAL = 0.1
POISON_SUFFIX = "-poison"
DEFAULT_CONNECTION = "AzureWebJobsStorage"
_RECORD_OUTCOMES = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "poisoned": "Poisoned",
    "undecodable": "Undecodable",
}


@dataclass
class QueueHostOptions:
    """host.json `extensions.queues`, with the extension's defaults and its start-up checks."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise HostConfigError(f"host.json queues.batchSize must be between 1 and {MAX_BATCH_SIZE}")
        if self.new_batch_threshold < 0:
            raise HostConfigError("host.json queues.newBatchThreshold must not be negative")
        if self.max_dequeue_count < 1:
            raise HostConfigError("host.json queues.maxDequeueCount must be at least 1")
        if self.visibility_timeout < 0:
            raise HostConfigError("host.json queues.visibilityTimeout must not be negative")
        if self.max_polling_interval < MIN_POLLING_INTERVAL:
            raise HostConfigError("host.json queues.maxPollingInterval must not be less than 00:00:00.100")
        if self.message_encoding not in ("base64", "none"):
            raise HostConfigError("host.json queues.messageEncoding must be base64 or none")

    @classmethod
    def from_host_json(cls, host: dict[str, Any]) -> QueueHostOptions:
        queues = host.get("extensions", {}).get("queues", {})
        batch_size = int(queues.get("batchSize", 16))

        def seconds(name: str, default: float) -> float:
            value = queues.get(name)
            return default if value is None else timespan_seconds(value, f"queues.{name}")

        return cls(
            batch_size=batch_size,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch_size // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=seconds("visibilityTimeout", 0.0),
            max_polling_interval=seconds("maxPollingInterval", 60.0),
            message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
        )


Invoker = Callable[[QueueMessage], Awaitable[None]]
# azure.functions declares QueueMessage.__init__ without annotations: called through this typed alias.
_queue_message: Callable[..., QueueMessage] = QueueMessage


class InjectedCrash(RuntimeError):
    """The crash switch: the worker died after the function returned, before the message was deleted."""


@dataclass
class Invocation:
    function: str
    queue: str
    message_id: str
    dequeue_count: int
    seconds: float
    outcome: str  # "succeeded" | "failed" | "poisoned" | "undecodable"
    error: str | None = None


@dataclass
class QueueTrigger:
    """One queue-triggered function and the queues it reads and poisons to."""

    function: str
    client: QueueClient
    poison: QueueClient
    invoke: Invoker
    options: QueueHostOptions
    on_invocation: Callable[[Invocation], None] = lambda _: None
    # Test switches: deliver some messages twice; raise after the function returns (its side effects
    # happened, the message is not deleted: redelivered after visibilityTimeout, as after a crash).
    duplicate: Callable[[str], bool] = lambda _: False
    crash: Callable[[str], bool] = lambda _: False
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    lease_seconds: float = LEASE_SECONDS

    @property
    def queue(self) -> str:
        return str(self.client.queue_name)

    async def ensure_queues(self) -> None:
        for client in (self.client, self.poison):
            try:
                await client.create_queue()
            except ResourceExistsError:
                pass

    @property
    def is_poison_queue(self) -> bool:
        return self.queue.endswith(POISON_SUFFIX)

    async def receive_batch(self) -> int:
        """Receive a batch of visible messages and start processing them, once the messages in flight
        have dropped to `newBatchThreshold`; the count received."""
        if len(self.in_flight) > self.options.new_batch_threshold:
            return 0
        count = self.options.batch_size
        messages = []
        async for message in self.client.receive_messages(
            messages_per_page=count, visibility_timeout=int(self.lease_seconds), max_messages=count
        ):
            messages.append(message)
        for message in messages:
            task = asyncio.create_task(self._process(message))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return len(messages)

    async def drain_in_flight(self) -> None:
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight), return_exceptions=True)

    def _decode(self, raw: str) -> bytes | None:
        if self.options.message_encoding == "none":
            return raw.encode()
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None

    async def _to_poison(self, raw: str) -> None:
        try:
            await self.poison.send_message(raw)
        except ResourceNotFoundError:
            await self.poison.create_queue()
            await self.poison.send_message(raw)

    async def _process(self, message: Any) -> None:
        started = time.perf_counter()
        renewal = asyncio.create_task(self._renew_lease(message))
        try:
            outcome, error = await self._handle(message)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
        await self._settle(message, outcome, str(message.content))
        self._report(message, started, outcome, error)

    async def _handle(self, message: Any) -> tuple[str, BaseException | None]:
        """Run the function on a message (unless it cannot be): the outcome and the error."""
        body = self._decode(str(message.content))
        if body is None:
            log.warning(
                "Message decoding has failed! Check MessageEncoding settings. MessageId=%s", message.id
            )
            return "undecodable", None
        if message.dequeue_count > self.options.max_dequeue_count and not self.is_poison_queue:
            return "poisoned", None
        # A duplicate delivery (a test switch) runs the function twice at the same time, as two
        # instances that both received the message would.
        deliveries = 2 if self.duplicate(message.id) else 1
        if deliveries > 1:
            log.warning("Injected duplicate delivery of message %s to '%s'", message.id, self.function)
        results = await asyncio.gather(
            *(self.invoke(self._function_message(message, body)) for _ in range(deliveries)),
            return_exceptions=True,
        )
        # The host treats any exception as a failed invocation.
        error = next((r for r in results if isinstance(r, BaseException)), None)
        if error is None and self.crash(message.id):
            error = InjectedCrash(
                f"injected crash after '{self.function}' returned (message {message.id}, "
                f"dequeue count {message.dequeue_count})"
            )
        if error is None:
            return "succeeded", None
        if message.dequeue_count >= self.options.max_dequeue_count and not self.is_poison_queue:
            return "poisoned", error
        return "failed", error

    async def _settle(self, message: Any, outcome: str, raw: str) -> None:
        """Delete, move to poison or release the message, as the outcome asks. A poison queue has no
        poison queue: what fails there or cannot be decoded stays, and comes back."""
        if outcome == "succeeded":
            await self._delete(message)
        elif self.is_poison_queue and outcome == "undecodable":
            pass  # left invisible until its lease ends, then received again
        elif outcome in ("undecodable", "poisoned"):
            if outcome == "poisoned":
                log.warning(
                    "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                    self.options.max_dequeue_count,
                    self.poison.queue_name,
                )
            await self._to_poison(raw)
            await self._delete(message)
        else:
            with contextlib.suppress(ResourceNotFoundError):
                await self.client.update_message(
                    message.id,
                    pop_receipt=message.pop_receipt,
                    visibility_timeout=int(self.options.visibility_timeout),
                )

    async def _renew_lease(self, message: Any) -> None:
        """Keep the message invisible while its function runs: renewed at half the lease."""
        while True:
            await asyncio.sleep(self.lease_seconds / 2)
            try:
                renewed = await self.client.update_message(
                    message.id, pop_receipt=message.pop_receipt, visibility_timeout=int(self.lease_seconds)
                )
            except ResourceNotFoundError:
                return
            except Exception as exc:  # storage blips: the next renewal tries again
                log.warning("renewing the lease of message %s failed: %s", message.id, exc.__class__.__name__)
                continue
            message.pop_receipt = renewed.pop_receipt

    def _function_message(self, message: Any, body: bytes) -> QueueMessage:
        return _queue_message(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )

    async def _delete(self, message: Any) -> None:
        try:
            await self.client.delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            pass  # the host swallows a failed delete as well

    def _report(self, message: Any, started: float, outcome: str, error: BaseException | None = None) -> None:
        self.on_invocation(
            Invocation(
                self.function,
                self.queue,
                message.id,
                message.dequeue_count,
                time.perf_counter() - started,
                outcome,
                f"{error.__class__.__name__}: {error}" if error else None,
            )
        )


async def poll_forever(trigger: QueueTrigger, stop: asyncio.Event) -> None:
    """The listener loop: back off exponentially (from 100 ms, with jitter) up to maxPollingInterval
    while the queue is empty; go back to the minimum as soon as a message arrives. A listener that
    cannot start (storage unreachable) keeps trying, as the host retries a listener's start."""
    import random

    await _start_listener(trigger, stop)
    delay = 0.1
    while not stop.is_set():
        try:
            received = await trigger.receive_batch()
        except Exception as exc:
            log.warning("receiving from %s failed: %s", trigger.queue, exc.__class__.__name__)
            received = 0
        if received:
            delay = 0.1
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
        delay = min(delay * 2 * random.uniform(0.8, 1.2), trigger.options.max_polling_interval)
    await trigger.drain_in_flight()


async def _start_listener(trigger: QueueTrigger, stop: asyncio.Event) -> None:
    delay = 1.0
    while not stop.is_set():
        try:
            await trigger.ensure_queues()
            return
        except Exception as exc:
            log.warning(
                "The listener for function '%s' was unable to start (%s); retrying in %.0f s",
                trigger.function,
                exc.__class__.__name__,
                delay,
            )
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
        delay = min(delay * 2, 30.0)


# --- bindings -------------------------------------------------------------------------------------


def storage_client(values: Mapping[str, str], connection: str, queue: str) -> QueueClient:
    """A client for `queue` through the binding's `connection` setting, as the host resolves it."""
    name = connection or DEFAULT_CONNECTION
    value = values.get(name) or values.get("AzureWebJobs" + name)
    if value:
        return QueueClient.from_connection_string(value, queue, **storage_client_options())
    uri = values.get(f"{name}__queueServiceUri") or (
        f"https://{values[f'{name}__accountName']}.queue.core.windows.net"
        if f"{name}__accountName" in values
        else None
    )
    if uri is None:
        raise RuntimeError(f"queue connection '{name}' is not configured: set the app setting {name}")
    from azure.identity.aio import DefaultAzureCredential

    client_id = values.get(f"{name}__clientId")
    credential = (
        DefaultAzureCredential(managed_identity_client_id=client_id)
        if client_id
        else DefaultAzureCredential()
    )
    return QueueClient(uri, queue, credential=credential, **storage_client_options())


def queue_trigger(
    spec: FunctionSpec,
    values: Mapping[str, str],
    options: QueueHostOptions,
    invoke: Invoker,
    record: Record,
    faults: FaultSwitches,
) -> QueueTrigger:
    """The trigger of a queue-triggered function (raises KeyError or RuntimeError when its queue
    name or connection cannot be resolved)."""
    queue = resolve(str(spec.trigger["queueName"]), values).lower()
    connection = str(spec.trigger.get("connection") or DEFAULT_CONNECTION)
    client = storage_client(values, connection, queue)
    poison = (
        client if queue.endswith(POISON_SUFFIX) else storage_client(values, connection, queue + POISON_SUFFIX)
    )

    def report(inv: Invocation) -> None:
        record(
            InvocationRecord(
                spec.name,
                "queue",
                _RECORD_OUTCOMES.get(inv.outcome, inv.outcome),
                inv.seconds,
                f"queue={inv.queue} id={inv.message_id} dequeueCount={inv.dequeue_count}",
                inv.error,
            )
        )

    return QueueTrigger(
        spec.name,
        client,
        poison,
        invoke,
        options,
        on_invocation=report,
        duplicate=faults.duplicate,
        crash=faults.crash,
    )


async def close_triggers(triggers: list[QueueTrigger]) -> None:
    """Close every trigger's clients (a poison queue's trigger shares one)."""
    for client in {id(c): c for t in triggers for c in (t.client, t.poison)}.values():
        await client.close()


class QueueOutputs:
    """Queue output bindings: one client per (connection, queue), the queue created when missing."""

    def __init__(self, values: Mapping[str, str], encoding: str) -> None:
        self.values = values
        self.encoding = encoding
        self._clients: dict[str, QueueClient] = {}

    async def __call__(self, binding: dict[str, Any], payloads: list[str]) -> None:
        queue = resolve(str(binding["queueName"]), self.values).lower()
        connection = str(binding.get("connection") or DEFAULT_CONNECTION)
        key = f"{connection}/{queue}"
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = storage_client(self.values, connection, queue)
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
        for payload in payloads:
            body = encode_for_queue(payload, self.encoding)
            try:
                await client.send_message(body)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    await client.create_queue()
                await client.send_message(body)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
