"""The HTTP API's handlers: parse and validate the request, call the copy service, shape the reply.

Errors are RFC 9457 problem details (`application/problem+json`). The API only talks to resources
named in configuration, by alias: a body that carries an endpoint, a key or any unknown field is
rejected, and no reply ever carries a key or a copy access token.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

import azure.functions as func
from azure.core.exceptions import AzureError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.copy_service import CopyRequest, CopyService, TargetOutcome, public_outcome
from shared.docintel import DocIntelError, ItemKind, ItemNotFound, ServiceUnavailable, Throttled
from shared.jobs import JobStatus, Origin
from shared.settings import Settings

log = logging.getLogger("docintel_dr.http")

MAX_BODY_BYTES = 64 * 1024
ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
JOB_ID_PATTERN = re.compile(r"^[0-9a-f]{13,40}$")
PROBLEM_BASE = "https://github.com/docintel-dr/docintel-dr/blob/main/README.md#errors"
RUNNING_RETRY_AFTER = "5"


class ProblemError(Exception):
    """Raised inside a handler to answer with a problem+json reply."""

    def __init__(self, status: int, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions


def problem(
    status: int, title: str, detail: str, instance: str | None = None, **extensions: Any
) -> func.HttpResponse:
    slug = title.lower().replace(" ", "-")
    body = {"type": f"{PROBLEM_BASE}-{slug}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers
    )


# --- request bodies ---------------------------------------------------------------------------


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


_FORBIDDEN_HINT = (
    "This API copies only between resources configured by alias; it never takes an endpoint, a key "
    "or a token from a request."
)


def read_json_body(req: func.HttpRequest) -> Any:
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise ProblemError(
            413, "Payload too large", f"The body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}."
        )
    content_type = (req.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if body and content_type not in ("application/json", "text/json") and not content_type.endswith("+json"):
        raise ProblemError(415, "Unsupported media type", "Send the body as application/json.")
    if not body.strip():
        raise ProblemError(400, "Invalid body", "The request needs a JSON object body.")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProblemError(
            400, "Invalid JSON", f"The body is not valid JSON: {exc.__class__.__name__}."
        ) from None


def validate_body(document: Any, model: type[BaseModel]) -> BaseModel:
    if not isinstance(document, dict):
        raise ProblemError(400, "Invalid body", "The body must be a JSON object.")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in error["loc"]) or "body"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown field"
                if str(error["loc"][0]).lower() in (
                    "endpoint",
                    "key",
                    "apikey",
                    "token",
                    "accesstoken",
                    "url",
                    "credential",
                ):
                    message = f"unknown field. {_FORBIDDEN_HINT}"
            errors.append({"field": where, "message": message})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ProblemError(400, "Invalid request", detail, errors=errors) from None


def resolve_aliases(
    settings: Settings, source: str | None, targets: list[str] | None
) -> tuple[str, list[str]]:
    known = settings.aliases
    source_alias = (source or settings.primary).lower()
    if source_alias not in settings.resources:
        raise ProblemError(
            400, "Unknown alias", f"Unknown source alias '{source}'. Configured aliases: {', '.join(known)}."
        )
    target_aliases = (
        [t.lower() for t in targets] if targets else [a for a in settings.secondaries if a != source_alias]
    )
    unknown = [t for t in target_aliases if t not in settings.resources]
    if unknown:
        raise ProblemError(
            400,
            "Unknown alias",
            f"Unknown target alias(es) {', '.join(unknown)}. Configured aliases: {', '.join(known)}.",
        )
    if source_alias in target_aliases:
        raise ProblemError(400, "Invalid request", "A target must differ from the source.")
    if len(set(target_aliases)) != len(target_aliases):
        raise ProblemError(400, "Invalid request", "A target is listed twice.")
    if not target_aliases:
        raise ProblemError(400, "Invalid request", "There is no target to copy to.")
    return source_alias, target_aliases


def _status_url_builder(req: func.HttpRequest, settings: Settings) -> Any:
    base = settings.public_base_url
    if not base:
        match = re.match(r"^(https?://[^/]+)", req.url)
        base = match.group(1) if match else ""
    base = base.rstrip("/")
    return lambda job_id: f"{base}/api/copies/{job_id}"


def service_problem(exc: DocIntelError) -> ProblemError:
    if isinstance(exc, ItemNotFound):
        return ProblemError(404, "Source item not found", exc.message)
    if isinstance(exc, Throttled | ServiceUnavailable):
        return ProblemError(503, "Service unavailable", exc.message)
    return ProblemError(502, "Upstream error", exc.message)


# --- handlers ---------------------------------------------------------------------------------


async def submit_copies(
    req: func.HttpRequest,
    service: CopyService,
    body_model: type[BaseModel] = CopyBody,
    origin: Origin = Origin.API,
) -> func.HttpResponse:
    """Authorize at each target, create the jobs, answer 202 with them."""
    body = validate_body(read_json_body(req), body_model)
    assert isinstance(body, CopyBody)
    kind = ItemKind(body.kind)
    source, targets = resolve_aliases(service.settings, body.source, body.targets)
    try:
        outcomes = await service.submit(
            CopyRequest(
                kind=kind,
                source_id=body.sourceId,
                source=source,
                targets=targets,
                target_id=body.targetId,
                description=body.description,
                tags=body.tags,
                origin=origin,
            )
        )
    except DocIntelError as exc:
        raise service_problem(exc) from None
    return copies_response(req, service.settings, outcomes)


def copies_response(
    req: func.HttpRequest, settings: Settings, outcomes: list[TargetOutcome]
) -> func.HttpResponse:
    status_url = _status_url_builder(req, settings)
    results = [public_outcome(o, status_url) for o in outcomes]
    created = [o for o in outcomes if o.job is not None]
    if created:
        headers = {"Retry-After": RUNNING_RETRY_AFTER}
        if len(created) == 1:
            assert created[0].job is not None
            headers["Location"] = status_url(created[0].job.job_id)
        return json_response({"jobs": results}, 202, headers)
    if all(o.up_to_date for o in outcomes):
        return json_response({"jobs": results}, 200)
    errors = [o.error for o in outcomes if o.error is not None]
    status = 503 if any(isinstance(e, Throttled | ServiceUnavailable) for e in errors) else 409
    title = "Service unavailable" if status == 503 else "Copy rejected"
    detail = "; ".join(f"{o.target}: {o.error.message}" for o in outcomes if o.error is not None)
    return problem(status, title, detail, jobs=results)


def _job_id(req: func.HttpRequest) -> str:
    job_id = req.route_params.get("jobId", "")
    if not JOB_ID_PATTERN.match(job_id):
        raise ProblemError(404, "Job not found", f"There is no job with id '{job_id[:80]}'.")
    return job_id


async def get_copy(req: func.HttpRequest, service: CopyService) -> func.HttpResponse:
    job_id = _job_id(req)
    job = await service.get_job(job_id)
    if job is None:
        raise ProblemError(404, "Job not found", f"There is no job with id '{job_id}'.")
    if job.status.is_terminal:
        return json_response(job.public_view(), 200)
    return json_response(job.public_view(), 202, {"Retry-After": RUNNING_RETRY_AFTER})


async def list_copies(req: func.HttpRequest, service: CopyService) -> func.HttpResponse:
    unknown = sorted(set(req.params) - {"status", "limit", "code"})
    if unknown:
        raise ProblemError(400, "Invalid query", f"Unknown query parameter(s): {', '.join(unknown)}.")
    status_text = req.params.get("status")
    status = None
    if status_text:
        try:
            status = JobStatus(status_text)
        except ValueError:
            raise ProblemError(
                400, "Invalid query", f"status must be one of {', '.join(s.value for s in JobStatus)}."
            ) from None
    limit_text = req.params.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 500:
        raise ProblemError(400, "Invalid query", "limit must be an integer from 1 to 500.")
    jobs = await service.list_jobs(status, int(limit_text))
    return json_response({"jobs": [job.public_view() for job in jobs]})


async def cancel_copy(req: func.HttpRequest, service: CopyService) -> func.HttpResponse:
    job_id = _job_id(req)
    before = await service.get_job(job_id)
    if before is None:
        raise ProblemError(404, "Job not found", f"There is no job with id '{job_id}'.")
    if before.status.is_terminal:
        raise ProblemError(
            409, "Job already finished", f"Job '{job_id}' already ended as {before.status.value}."
        )
    job = await service.cancel(job_id)
    assert job is not None
    return json_response(job.public_view(), 200)


async def handle(req: func.HttpRequest, handler: Any, *args: Any) -> func.HttpResponse:
    """Run a handler; turn expected failures into problem replies and the unexpected into a 500
    whose body names no internals (the log has the details)."""
    try:
        return await handler(req, *args)
    except ProblemError as exc:
        return problem(exc.status, exc.title, exc.detail, **exc.extensions)
    except AzureError as exc:
        # Storage (jobs table, queues) or Event Grid could not be reached: the caller may retry.
        log.warning("storage unavailable in %s %s: %s", req.method, req.url.split("?")[0], type(exc).__name__)
        return problem(503, "Service unavailable", "Job storage is unavailable; retry later.")
    except Exception:
        log.exception("unhandled error in %s %s", req.method, req.url.split("?")[0])
        return problem(500, "Internal error", "The request could not be completed; see the app's logs.")
