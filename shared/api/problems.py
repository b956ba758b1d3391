"""RFC 9457 problem replies, and the wrapper that turns every failure of an HTTP handler into one.

Every problem is of type ``about:blank``: its ``title`` is the HTTP status phrase and its ``detail``
says what happened and what to do. The extension member ``code`` names the problem for programs; the
README's "Errors" section has an anchor for each `ProblemCode`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from http import HTTPStatus
from typing import TYPE_CHECKING

import azure.functions as func
from azure.core.exceptions import AzureError

from shared.docintel import Disposition, DocIntelError, ItemNotFound
from shared.jsondoc import JsonObject

if TYPE_CHECKING:
    from shared.context import AppContext

log = logging.getLogger("docintel_dr.http")


class ProblemCode(StrEnum):
    """What went wrong, as the ``code`` member of a problem reply."""

    INVALID_BODY = "invalid-body"
    INVALID_JSON = "invalid-json"
    INVALID_REQUEST = "invalid-request"
    INVALID_QUERY = "invalid-query"
    UNKNOWN_ALIAS = "unknown-alias"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    SIGNATURE_REQUIRED = "signature-required"
    INVALID_SIGNATURE = "invalid-signature"
    JOB_NOT_FOUND = "job-not-found"
    JOB_ALREADY_FINISHED = "job-already-finished"
    SOURCE_ITEM_NOT_FOUND = "source-item-not-found"
    COPY_REJECTED = "copy-rejected"
    SERVICE_UNAVAILABLE = "service-unavailable"
    SOURCE_UNAVAILABLE = "source-unavailable"
    STORAGE_UNAVAILABLE = "storage-unavailable"
    UPSTREAM_ERROR = "upstream-error"
    INTERNAL_ERROR = "internal-error"


class ProblemError(Exception):
    """Raised inside a handler to answer with a problem reply."""

    def __init__(self, status: int, code: ProblemCode, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extensions = extensions


def problem(status: int, code: ProblemCode, detail: str, **extensions: object) -> func.HttpResponse:
    body: JsonObject = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code.value,
        **extensions,
    }
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers
    )


def service_problem(exc: DocIntelError) -> ProblemError:
    """The reply for a Document Intelligence failure while serving a request."""
    if isinstance(exc, ItemNotFound):
        return ProblemError(404, ProblemCode.SOURCE_ITEM_NOT_FOUND, exc.message)
    if exc.disposition is Disposition.TRANSIENT:
        return ProblemError(503, ProblemCode.SERVICE_UNAVAILABLE, exc.message)
    return ProblemError(502, ProblemCode.UPSTREAM_ERROR, exc.message)


HttpHandler = Callable[[func.HttpRequest, "AppContext"], Awaitable[func.HttpResponse]]


async def handle(req: func.HttpRequest, handler: HttpHandler) -> func.HttpResponse:
    """Run an HTTP handler with the app's context; turn expected failures into problem replies and
    the unexpected into a 500 whose body names no internals (the log has the details).

    The context is built inside, so that storage being unreachable while a fresh instance starts is
    a 503 like any other storage failure."""
    from shared.context import get_context
    from shared.telemetry import incoming

    try:
        context = await get_context()
        # The caller's trace, from its traceparent header, is the parent of what this request starts.
        with incoming(req.headers):
            return await handler(req, context)
    except ProblemError as exc:
        return problem(exc.status, exc.code, exc.detail, **exc.extensions)
    except AzureError as exc:
        # Storage (jobs table, queues) or Event Grid could not be reached: the caller may retry.
        log.warning("storage unavailable in %s %s: %s", req.method, req.url.split("?")[0], type(exc).__name__)
        return problem(503, ProblemCode.STORAGE_UNAVAILABLE, "Job storage is unavailable; retry later.")
    except Exception:
        log.exception("unhandled error in %s %s", req.method, req.url.split("?")[0])
        return problem(
            500, ProblemCode.INTERNAL_ERROR, "The request could not be completed; see the app's logs."
        )
