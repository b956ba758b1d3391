"""A copy job's completion event: ``docintel-dr.copy.succeeded`` or ``docintel-dr.copy.failed``,
exactly one per job, with an id derived from the job id."""

from __future__ import annotations

from shared.copy.jobs import Job, JobStatus
from shared.events import COPY_FAILED, COPY_SUCCEEDED, AppEvent, app_event
from shared.jsondoc import JsonObject
from shared.timefmt import iso


def copy_event_id(job_id: str) -> str:
    """The one id of a job's completion event; stable, so duplicates can be dropped by subscribers."""
    return f"copy-{job_id}"


def copy_completed_event(job: Job, endpoints: dict[str, str], traceparent: str | None = None) -> AppEvent:
    """The event that tells subscribers a copy job ended. `traceparent`, the span that publishes it (in
    the job's trace), becomes the event's CloudEvents `traceparent` extension."""
    succeeded = job.status is JobStatus.SUCCEEDED
    seconds = (job.finished_at - job.created_at).total_seconds() if job.finished_at else None
    data: JsonObject = {
        "jobId": job.job_id,
        "kind": job.kind.value,
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
            "createdAt": iso(job.created_at),
            "startedAt": iso(job.started_at),
            "operationFinishedAt": iso(job.operation_finished_at),
            "finishedAt": iso(job.finished_at),
            "durationSeconds": seconds,
        },
        "polls": job.polls,
    }
    return app_event(
        COPY_SUCCEEDED if succeeded else COPY_FAILED,
        copy_event_id(job.job_id),
        f"/{job.kind.value}s/{job.source_id}/targets/{job.target_alias}",
        job.finished_at or job.updated_at,
        data,
        traceparent=traceparent,
    )
