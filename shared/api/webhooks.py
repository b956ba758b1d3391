"""Event-driven entry points: "a model was trained, protect it now".

Document Intelligence emits no event when a model is trained, so a training pipeline tells the app
itself, in one of two ways, with the same JSON body ``{"kind": "model"|"classifier", "id": "...",
"source": "<alias>"?}``:

* ``POST /api/webhooks/model-trained`` (`model_trained_webhook`): function key, and optionally an
  HMAC-SHA256 signature of the raw body with the shared secret ``DR_WEBHOOK_SECRET`` in the header
  ``X-Signature-256: sha256=<hex>`` (GitHub's format). When the secret is set the signature is
  required. Answers like ``POST /api/copies``: 202 with the jobs, 200 when every target is up to date.
* An Event Grid trigger (`handle_trained_event`) for the event type ``docintel-dr.model.trained``
  from a custom topic, in CloudEvents 1.0 or in Event Grid schema, with the body as ``data``.

Both go through `CopyService.submit`, which authorizes at each target: an item that a target already
holds as an up-to-date copy of this very source item gets no job, so a repeated notification does
not copy twice (and one that arrives while the first copy still runs hits the id reserved by that
copy's authorization: no second job either).

What the Event Grid trigger does with an event that cannot succeed (unknown type, malformed data,
unknown alias, unknown item) is to log it with the reason and return normally: raising would make
Event Grid redeliver the whole batch, again and again. Only transient failures (the service throttled
or unavailable, storage unreachable) raise, so that Event Grid retries later; a retry is safe since
targets that already got a job answer "reserved".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shared.api.copies import copies_response
from shared.api.inputs import (
    GUID_PATTERN,
    ID_PATTERN,
    check_body_size,
    read_json_body,
    resolve_aliases,
    validate_body,
)
from shared.api.problems import ProblemCode, ProblemError, service_problem
from shared.copy.jobs import Origin
from shared.copy.service import CopyRequest, TargetOutcome
from shared.docintel import Disposition, DocIntelError, ItemKind, ItemNotFound
from shared.jsondoc import NotJson, parse_json
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.context import AppContext

log = logging.getLogger("docintel_dr.webhooks")

#: The event type this app accepts (and the only one its Event Grid trigger acts on).
MODEL_TRAINED = "docintel-dr.model.trained"
#: Header carrying the HMAC-SHA256 of the raw request body, as ``sha256=<64 hex digits>``.
SIGNATURE_HEADER = "X-Signature-256"
SIGNATURE_PREFIX = "sha256="
_SIGNATURE_FORMAT = re.compile(r"^sha256=[0-9a-fA-F]{64}$")


class TrainedBody(BaseModel):
    """The webhook's body and the event's ``data``: which item was trained, at which source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["model", "classifier"]
    id: str = Field(pattern=f"{ID_PATTERN}|{GUID_PATTERN}")
    source: str | None = Field(default=None, max_length=32)


# --- signature ------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` + hex HMAC-SHA256 with the shared secret."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: SecretStr | None, body: bytes, header: str | None) -> None:
    """Raise a 401 problem when a secret is configured and ``header`` is not the body's signature.
    Without a secret there is nothing to check (the function key alone protects the route)."""
    if secret is None:
        return
    if not header:
        raise ProblemError(
            401,
            ProblemCode.SIGNATURE_REQUIRED,
            f"The {SIGNATURE_HEADER} header is missing. This webhook requires "
            f"'{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the raw body with the shared secret "
            "DR_WEBHOOK_SECRET>'.",
        )
    value = header.strip()
    expected = sign(secret.get_secret_value(), body)
    # The format check keeps compare_digest on ASCII strings (it raises TypeError otherwise).
    if not _SIGNATURE_FORMAT.match(value) or not hmac.compare_digest(
        value[len(SIGNATURE_PREFIX) :].lower(), expected[len(SIGNATURE_PREFIX) :]
    ):
        raise ProblemError(
            401,
            ProblemCode.INVALID_SIGNATURE,
            f"The {SIGNATURE_HEADER} header does not match the body. Sign the exact bytes sent, with "
            "HMAC-SHA256 and the shared secret DR_WEBHOOK_SECRET, as 'sha256=<hex>'.",
        )


# --- the request, whichever way it came -----------------------------------------------------------


def copy_request(settings: Settings, body: TrainedBody, origin: Origin) -> CopyRequest:
    """The pipeline's request for a trained item: to every configured target of its source.
    Raises a 400 `ProblemError` for an unknown source alias."""
    source, targets = resolve_aliases(settings, body.source, None)
    return CopyRequest(
        kind=ItemKind(body.kind), source_id=body.id, source_alias=source, targets=targets, origin=origin
    )


async def model_trained_webhook(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``POST /api/webhooks/model-trained``: check the signature, then copy to every target."""
    raw = req.get_body() or b""
    check_body_size(raw)
    verify_signature(ctx.settings.webhook_secret, raw, req.headers.get(SIGNATURE_HEADER))
    body = validate_body(read_json_body(req), TrainedBody)
    request = copy_request(ctx.settings, body, Origin.WEBHOOK)
    try:
        outcomes = await ctx.service.submit(request)
    except DocIntelError as exc:
        raise service_problem(exc) from None
    _log_outcomes("webhook", None, request, outcomes)
    return copies_response(req, ctx.settings, outcomes)


# --- the Event Grid trigger -----------------------------------------------------------------------


class MalformedEvent(ValueError):
    """The event's data is not a valid model-trained body; the message says why."""


class TransientEventError(RuntimeError):
    """Raised so that Event Grid delivers the event again later (throttling, outage)."""


@dataclass
class EventResult:
    """What the trigger did with one event (for logs and tests; the function returns nothing)."""

    status: Literal["submitted", "ignored", "malformed", "not-found", "rejected"]
    reason: str = ""
    outcomes: list[TargetOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class EventEnvelope:
    """The parts of an event that matter here, whichever schema it came in."""

    id: str
    type: str
    source: str
    data: object


def envelope(event: func.EventGridEvent | func.CloudEvent) -> EventEnvelope:
    """Read an event as the worker hands it over. azure-functions 1.26 decodes a CloudEvents 1.0
    payload (it has ``specversion``) into `func.CloudEvent` and an Event Grid schema payload into
    `func.EventGridEvent`, whatever the parameter's annotation says."""
    if isinstance(event, func.CloudEvent):
        data = event.get_json()
        if data is None and "data_base64" in event.extension_attrs:
            data = _from_base64(event.extension_attrs["data_base64"])
        return EventEnvelope(event.id or "", event.type or "", event.source or "", data)
    return EventEnvelope(event.id or "", event.event_type or "", event.topic or "", event.get_json())


def _from_base64(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent("data_base64 is not valid base64") from None


def parse_data(data: object) -> TrainedBody:
    """The event's ``data`` as a model-trained body. Accepts a JSON object, or JSON text/bytes."""
    if isinstance(data, bytes | bytearray):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEvent("data is not UTF-8 text") from None
    if isinstance(data, str):
        try:
            data = parse_json(data)
        except NotJson:
            raise MalformedEvent("data is not a JSON object") from None
    try:
        body = validate_body(data, TrainedBody)
    except ProblemError as exc:
        raise MalformedEvent(exc.detail) from None
    return body


async def handle_trained_event(event: func.EventGridEvent | func.CloudEvent, ctx: AppContext) -> EventResult:
    """The Event Grid trigger: copy the trained item to every target. Returns normally for events
    that cannot succeed (logged with the reason); raises only for transient failures."""
    try:
        env = envelope(event)
    except MalformedEvent as exc:
        log.warning("event %s dropped: %s", getattr(event, "id", "?"), exc)
        return EventResult("malformed", str(exc))
    if env.type != MODEL_TRAINED:
        log.info(
            "event %s of type %r from %r ignored: only %s is handled",
            env.id,
            env.type,
            env.source,
            MODEL_TRAINED,
        )
        return EventResult("ignored", f"event type {env.type!r} is not {MODEL_TRAINED}")
    try:
        body = parse_data(env.data)
        request = copy_request(ctx.settings, body, Origin.EVENT)
    except MalformedEvent as exc:
        log.warning("event %s (%s from %r) dropped, malformed data: %s", env.id, env.type, env.source, exc)
        return EventResult("malformed", str(exc))
    except ProblemError as exc:  # unknown source alias
        log.warning("event %s (%s from %r) dropped: %s", env.id, env.type, env.source, exc.detail)
        return EventResult("malformed", exc.detail)
    try:
        outcomes = await ctx.service.submit(request)
    except ItemNotFound as exc:
        log.warning(
            "event %s dropped: %s %s not found at %s: %s",
            env.id,
            body.kind,
            body.id,
            request.source_alias,
            exc.message,
        )
        return EventResult("not-found", exc.message)
    except DocIntelError as exc:
        if exc.disposition is Disposition.TRANSIENT:
            log.warning(
                "event %s: source %s unavailable (%s); Event Grid will retry",
                env.id,
                request.source_alias,
                exc.message,
            )
            raise TransientEventError(f"source '{request.source_alias}' unavailable: {exc.message}") from None
        log.error(
            "event %s dropped: reading %s %s at %s failed: %s",
            env.id,
            body.kind,
            body.id,
            request.source_alias,
            exc.message,
        )
        return EventResult("rejected", exc.message)
    _log_outcomes("event", env.id, request, outcomes)
    transient = [o for o in outcomes if o.error is not None and o.error.disposition is Disposition.TRANSIENT]
    if transient:
        # Targets that did get a job answer "reserved" on the retry, so no copy happens twice.
        names = ", ".join(o.target for o in transient)
        raise TransientEventError(f"target(s) {names} unavailable; Event Grid will retry")
    if any(o.error is not None for o in outcomes):
        return EventResult(
            "rejected", "; ".join(f"{o.target}: {o.error.message}" for o in outcomes if o.error), outcomes
        )
    return EventResult("submitted", "", outcomes)


def _log_outcomes(
    via: str, event_id: str | None, request: CopyRequest, outcomes: list[TargetOutcome]
) -> None:
    for o in outcomes:
        if o.job is not None:
            what = f"job {o.job.job_id}"
        elif o.up_to_date:
            what = "up to date"
        else:
            what = f"not copied: {o.error.message if o.error else 'unknown'}"
        log.info(
            "model trained (%s%s): %s %s %s -> %s: %s",
            via,
            f" {event_id}" if event_id else "",
            request.kind.value,
            request.source_id,
            request.source_alias,
            o.target,
            what,
        )
