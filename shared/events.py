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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.jobs import Job, JobStatus

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger("docintel_dr.events")

EVENT_SOURCE = "/docintel-dr"
COPY_SUCCEEDED = "docintel-dr.copy.succeeded"
COPY_FAILED = "docintel-dr.copy.failed"
SYNC_COMPLETED = "docintel-dr.sync.completed"
DRIFT_DETECTED = "docintel-dr.drift.detected"
DATA_SCHEMA_VERSION = "1.0"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def copy_event_id(job_id: str) -> str:
    """The one id of a job's completion event; stable, so duplicates can be dropped by subscribers."""
    return f"copy-{job_id}"


def copy_completed_event(job: Job, endpoints: dict[str, str]) -> dict[str, Any]:
    """The CloudEvent (structured JSON form) that tells subscribers a copy job ended."""
    succeeded = job.status is JobStatus.SUCCEEDED
    seconds = (job.finished_at - job.created_at).total_seconds() if job.finished_at else None
    data = {
        "schemaVersion": DATA_SCHEMA_VERSION,
        "jobId": job.job_id,
        "kind": job.kind,
        "status": job.status.value,
        "origin": job.origin.value,
        "source": {
            "alias": job.source_alias,
            "endpoint": endpoints.get(job.source_alias),
            "id": job.source_id,
        },
        "target": {
            "alias": job.target_alias,
            "region": job.target_region,
            "endpoint": endpoints.get(job.target_alias),
            "id": job.target_id,
        },
        "error": None
        if succeeded
        else {"code": job.error_code or "Unknown", "message": job.error_message or ""},
        "timings": {
            "createdAt": _iso(job.created_at),
            "startedAt": _iso(job.started_at),
            "operationFinishedAt": _iso(job.operation_finished_at),
            "finishedAt": _iso(job.finished_at),
            "durationSeconds": seconds,
        },
        "polls": job.polls,
    }
    return {
        "specversion": "1.0",
        "id": copy_event_id(job.job_id),
        "source": EVENT_SOURCE,
        "type": COPY_SUCCEEDED if succeeded else COPY_FAILED,
        "subject": f"/{job.kind}s/{job.source_id}/targets/{job.target_alias}",
        "time": _iso(job.finished_at or job.updated_at),
        "datacontenttype": "application/json",
        "data": data,
    }


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[dict[str, Any]]) -> None: ...

    async def aclose(self) -> None: ...


class EventGridPublisher:
    """Publishes CloudEvents to an Event Grid topic, with a topic key or a Microsoft Entra credential."""

    def __init__(
        self, endpoint: str, *, key: str | None = None, credential: AsyncTokenCredential | None = None
    ) -> None:
        from azure.core.credentials import AzureKeyCredential
        from azure.eventgrid.aio import EventGridPublisherClient

        if key is None and credential is None:
            raise ValueError("an Event Grid topic needs a key or a credential")
        auth: Any = AzureKeyCredential(key) if key is not None else credential
        self._client = EventGridPublisherClient(endpoint, auth)

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        from azure.core.messaging import CloudEvent

        batch = [
            CloudEvent(
                source=e["source"],
                type=e["type"],
                data=e.get("data"),
                id=e["id"],
                subject=e.get("subject"),
                time=datetime.fromisoformat(e["time"]) if e.get("time") else None,
                datacontenttype=e.get("datacontenttype"),
            )
            for e in events
        ]
        await self._client.send(batch)

    async def aclose(self) -> None:
        await self._client.close()


class LogOnlyPublisher:
    """Used when no topic is configured: events are only logged (their ids and types)."""

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        for event in events:
            log.info("event %s %s (no Event Grid topic configured)", event["type"], event["id"])

    async def aclose(self) -> None:
        return None
