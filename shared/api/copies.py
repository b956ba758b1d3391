"""``/api/copies``: start copies, list them, read one, cancel one.

The API only talks to resources named in configuration, by alias: a body that carries an endpoint, a
key or any unknown field is rejected, and no reply ever carries a key or a copy access token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from shared.api.inputs import (
    GUID_PATTERN,
    ID_PATTERN,
    int_param,
    read_json_body,
    reject_unknown_params,
    resolve_aliases,
    validate_body,
)
from shared.api.problems import ProblemCode, ProblemError, json_response, problem, service_problem
from shared.copy.jobs import JobStatus, Origin
from shared.copy.service import CopyRequest, TargetOutcome
from shared.docintel import Disposition, DocIntelError, ItemKind
from shared.jsondoc import JsonObject
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.context import AppContext

JOB_ID_PATTERN = re.compile(r"[0-9a-f]{13,40}")  # fullmatch: `$` would let a trailing newline through
RUNNING_RETRY_AFTER = "5"


class CopyBody(BaseModel):
    """`POST /api/copies`"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["model", "classifier"] = "model"
    sourceId: str = Field(pattern=f"{ID_PATTERN}|{GUID_PATTERN}")
    targetId: str | None = Field(default=None, pattern=ID_PATTERN)
    source: str | None = Field(default=None, max_length=32)
    targets: list[str] | None = Field(default=None, min_length=1, max_length=32)
    description: str | None = Field(default=None, max_length=4096)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


def status_url_builder(req: func.HttpRequest, settings: Settings) -> Callable[[str], str]:
    base = settings.public_base_url
    if not base:
        match = re.match(r"^(https?://[^/]+)", req.url)
        base = match.group(1) if match else ""
    base = base.rstrip("/")
    return lambda job_id: f"{base}/api/copies/{job_id}"


async def submit_copies(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """Authorize at each target, create the jobs, answer 202 with them."""
    body = validate_body(read_json_body(req), CopyBody)
    source, targets = resolve_aliases(ctx.settings, body.source, body.targets)
    try:
        outcomes = await ctx.service.submit(
            CopyRequest(
                kind=ItemKind(body.kind),
                source_id=body.sourceId,
                source_alias=source,
                targets=targets,
                target_id=body.targetId,
                description=body.description,
                tags=body.tags,
                origin=Origin.API,
            )
        )
    except DocIntelError as exc:
        raise service_problem(exc) from None
    return copies_response(req, ctx.settings, outcomes)


def copies_response(
    req: func.HttpRequest, settings: Settings, outcomes: list[TargetOutcome]
) -> func.HttpResponse:
    """202 with the jobs created; 200 when every target is up to date; else the targets' errors."""
    status_url = status_url_builder(req, settings)
    results = [public_outcome(o, status_url) for o in outcomes]
    created = [o.job for o in outcomes if o.job is not None]
    if created:
        headers = {"Retry-After": RUNNING_RETRY_AFTER}
        if len(created) == 1:
            headers["Location"] = status_url(created[0].job_id)
        return json_response({"jobs": results}, 202, headers)
    if all(o.up_to_date for o in outcomes):
        return json_response({"jobs": results}, 200)
    errors = [o.error for o in outcomes if o.error is not None]
    detail = "; ".join(f"{o.target}: {o.error.message}" for o in outcomes if o.error is not None)
    if any(e.disposition is Disposition.TRANSIENT for e in errors):
        return problem(503, ProblemCode.SERVICE_UNAVAILABLE, detail, jobs=results)
    return problem(409, ProblemCode.COPY_REJECTED, detail, jobs=results)


def _job_id(req: func.HttpRequest) -> str:
    job_id = str(req.route_params.get("jobId", ""))
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise ProblemError(404, ProblemCode.JOB_NOT_FOUND, f"There is no job with id '{job_id[:80]}'.")
    return job_id


async def get_copy(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    job_id = _job_id(req)
    job = await ctx.service.jobs.get(job_id)
    if job is None:
        raise ProblemError(404, ProblemCode.JOB_NOT_FOUND, f"There is no job with id '{job_id}'.")
    if job.status.is_terminal:
        return json_response(job.public_view(), 200)
    return json_response(job.public_view(), 202, {"Retry-After": RUNNING_RETRY_AFTER})


async def list_copies(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    reject_unknown_params(req, {"status", "limit"})
    status_text = req.params.get("status")
    status = None
    if status_text:
        try:
            status = JobStatus(status_text)
        except ValueError:
            raise ProblemError(
                400,
                ProblemCode.INVALID_QUERY,
                f"status must be one of {', '.join(s.value for s in JobStatus)}.",
            ) from None
    jobs = await ctx.service.jobs.list(status=status, limit=int_param(req, "limit", 50, 1, 500))
    return json_response({"jobs": [job.public_view() for job in jobs]})


async def cancel_copy(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    job_id = _job_id(req)
    before = await ctx.service.jobs.get(job_id)
    if before is None:
        raise ProblemError(404, ProblemCode.JOB_NOT_FOUND, f"There is no job with id '{job_id}'.")
    if before.status.is_terminal:
        raise ProblemError(
            409,
            ProblemCode.JOB_ALREADY_FINISHED,
            f"Job '{job_id}' already ended as {before.status.value}.",
        )
    job = await ctx.service.cancel(job_id)
    assert job is not None  # cancel returns the row it read; it existed a moment ago
    return json_response(job.public_view(), 200)


def public_outcome(outcome: TargetOutcome, status_url: Callable[[str], str]) -> JsonObject:
    if outcome.job is not None:
        return {
            "target": outcome.target,
            "jobId": outcome.job.job_id,
            "status": outcome.job.status.value,
            "statusUrl": status_url(outcome.job.job_id),
        }
    if outcome.up_to_date:
        return {"target": outcome.target, "status": "upToDate", "jobId": None}
    assert outcome.error is not None
    return {
        "target": outcome.target,
        "status": "rejected",
        "jobId": None,
        "error": {
            "code": outcome.error.code or type(outcome.error).__name__,
            "message": outcome.error.message,
        },
    }
