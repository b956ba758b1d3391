"""Completion events: CloudEvents 1.0, published to an Event Grid custom topic.

Why the SDK (`azure-eventgrid`) and not the Event Grid output binding: the binding publishes after
the function returns, gives no way to see a failure, and retries the whole invocation on one; the SDK
lets the app publish with a deterministic event id, know that it worked, and only then mark the job
as published. A redelivered message publishes the same id again, which subscribers de-duplicate.

Locally the same code publishes to the local runner's Event Grid stand-in (see `local/`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from azure.core.messaging import CloudEvent

from shared.jsondoc import JsonObject
from shared.storage import transport_options
from shared.timefmt import iso

if TYPE_CHECKING:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger("docintel_dr.events")

EVENT_SOURCE = "/docintel-dr"
COPY_SUCCEEDED = "docintel-dr.copy.succeeded"
COPY_FAILED = "docintel-dr.copy.failed"
SYNC_COMPLETED = "docintel-dr.sync.completed"
DRIFT_DETECTED = "docintel-dr.drift.detected"
DATA_SCHEMA_VERSION = "1.0"

#: Every event of this app: a CloudEvent with a JSON object as its data.
AppEvent = CloudEvent[JsonObject]


def app_event(
    event_type: str,
    event_id: str,
    subject: str,
    time: datetime,
    data: JsonObject,
    *,
    traceparent: str | None = None,
) -> AppEvent:
    """Every event this app emits: CloudEvents 1.0 from ``/docintel-dr`` with JSON data that names its
    schema version. The id is derived from what the event is about, so that a re-published event
    carries the same id and subscribers can drop the duplicate.

    `traceparent` (W3C trace context) becomes the CloudEvents Distributed Tracing extension of that
    name: a subscriber continues the trace the event ends (for a copy, the job's)."""
    return CloudEvent(
        source=EVENT_SOURCE,
        type=event_type,
        id=event_id,
        subject=subject,
        time=time,
        datacontenttype="application/json",
        data={"schemaVersion": DATA_SCHEMA_VERSION, **data},
        extensions={"traceparent": traceparent} if traceparent else None,
    )


def structured(event: AppEvent) -> JsonObject:
    """The event in CloudEvents' structured JSON form (what subscribers receive; used for logs and tests)."""
    return {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": iso(event.time),
        "datacontenttype": event.datacontenttype,
        **(event.extensions or {}),
        "data": event.data,
    }


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[AppEvent]) -> None: ...

    async def aclose(self) -> None: ...


class EventGridPublisher:
    """Publishes CloudEvents to an Event Grid topic, with a topic key or a Microsoft Entra credential."""

    def __init__(
        self, endpoint: str, *, key: str | None = None, credential: AsyncTokenCredential | None = None
    ) -> None:
        from azure.core.credentials import AzureKeyCredential
        from azure.eventgrid.aio import EventGridPublisherClient

        auth: AzureKeyCredential | AsyncTokenCredential
        if key is not None:
            auth = AzureKeyCredential(key)
        elif credential is not None:
            auth = credential
        else:
            raise ValueError("an Event Grid topic needs a key or a credential")
        self._client = EventGridPublisherClient(endpoint, auth, **transport_options())

    async def publish(self, events: Sequence[AppEvent]) -> None:
        await self._client.send(list(events))

    async def aclose(self) -> None:
        await self._client.close()


class LogOnlyPublisher:
    """Used when no topic is configured: events are only logged (their ids and types)."""

    async def publish(self, events: Sequence[AppEvent]) -> None:
        for event in events:
            log.info("event %s %s (no Event Grid topic configured)", event.type, event.id)

    async def aclose(self) -> None:
        return None
