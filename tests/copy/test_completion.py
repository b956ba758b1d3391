"""Completion events: CloudEvents 1.0 whose data matches the published JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from shared.copy.completion import copy_completed_event
from shared.copy.jobs import Job, JobStatus
from shared.events import COPY_FAILED, COPY_SUCCEEDED, structured

SCHEMA = json.loads((Path(__file__).parents[2] / "docs/events/copy-completed.schema.json").read_text())
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
ENDPOINTS = {
    "primary": "https://src.cognitiveservices.azure.com",
    "westus2": "https://w.cognitiveservices.azure.com",
}


def validate_copy_event(event: dict) -> None:
    assert event["specversion"] == "1.0" and event["source"] == "/docintel-dr"
    assert event["type"] in (COPY_SUCCEEDED, COPY_FAILED)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(event["data"])


def finished_job(status: JobStatus, **fields) -> Job:
    return Job(
        job_id="0123456789abcdef",
        kind="model",
        source_alias="primary",
        source_id="inv",
        target_alias="westus2",
        target_id="inv",
        target_region="westus2",
        status=status,
        created_at=NOW - timedelta(seconds=9),
        updated_at=NOW,
        started_at=NOW - timedelta(seconds=8),
        operation_finished_at=NOW - timedelta(seconds=1),
        finished_at=NOW,
        polls=3,
        **fields,
    )


def completion_event(job: Job) -> dict:
    """The event as subscribers receive it (CloudEvents structured JSON)."""
    return structured(copy_completed_event(job, ENDPOINTS))


def test_a_success_event_has_a_stable_id_and_valid_data():
    event = completion_event(finished_job(JobStatus.SUCCEEDED))
    validate_copy_event(event)
    assert event["id"] == "copy-0123456789abcdef"
    assert event["type"] == COPY_SUCCEEDED
    assert event["data"]["timings"]["durationSeconds"] == 9
    assert event["data"]["target"]["endpoint"] == ENDPOINTS["westus2"]


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELED])
def test_failure_and_cancel_events_carry_the_reason(status):
    event = completion_event(finished_job(status, error_code="QuotaExceeded", error_message="full"))
    validate_copy_event(event)
    assert event["type"] == COPY_FAILED
    assert event["data"]["error"] == {"code": "QuotaExceeded", "message": "full"}


def test_the_schema_rejects_a_success_with_an_error():
    event = completion_event(finished_job(JobStatus.SUCCEEDED))
    event["data"]["error"] = {"code": "x", "message": "y"}
    with pytest.raises(jsonschema.ValidationError):
        validate_copy_event(event)
