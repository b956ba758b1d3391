"""Small builders for values that many tests need."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.copy.jobs import Job, JobStatus, new_job_id
from shared.docintel import CopyAuthorization, ItemKind


def copy_authorization(
    expires: datetime, target_id: str = "invoice", token: str = "tok"
) -> CopyAuthorization:
    """A model copy authorization for westus2, as a target would issue it."""
    return CopyAuthorization(
        kind=ItemKind.MODEL,
        target_id=target_id,
        target_resource_id="/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/w",
        target_region="westus2",
        target_location=f"https://w.cognitiveservices.azure.com/documentintelligence/documentModels/{target_id}",
        expires_at=expires,
        access_token=token,
        api_version="2024-11-30",
    )


def job_row(created: datetime, status: JobStatus = JobStatus.SUCCEEDED, **changes: Any) -> Job:
    """A job created at `created` (its id sorts accordingly), copying model 'invoice' to westus2."""
    fields: dict[str, Any] = {
        "job_id": new_job_id(created),
        "kind": "model",
        "source_alias": "primary",
        "source_id": "invoice",
        "target_alias": "westus2",
        "target_id": "invoice",
        "status": status,
        "created_at": created,
        "updated_at": created,
        "event_published": True,
    }
    return Job(**(fields | changes))
