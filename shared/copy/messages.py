"""Queue messages of the copy pipeline.

Messages are small JSON documents with a schema version; the job row holds the state, a message only
says which job to look at and which generation of it the sender saw, and the W3C `traceparent` of
the span that sent it, so that the job's trace goes on across the hop (`shared.telemetry`). Messages
sent before it was added carry none and parse as before. The Functions host decodes
base64 by default, so what the app sends itself is base64 encoded (see `shared.storage.QueueSender`).
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.jsondoc import NotJson, parse_json
from shared.telemetry import TRACEPARENT_PATTERN, is_traceparent

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 48 * 1024  # 64 KiB after base64
#: A reason quotes parts of the message and is stored on the job's row (a string property holds 32K
#: characters at most): it is cut to this length.
MAX_REASON_CHARS = 500


class MalformedMessage(ValueError):
    """A queue message that can never be processed (not JSON, wrong schema, wrong version)."""

    def __init__(self, reason: str) -> None:
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "\u2026"
        super().__init__(reason)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    job_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    generation: int = Field(ge=0)
    traceparent: str | None = Field(default=None, max_length=55, pattern=TRACEPARENT_PATTERN)

    @field_validator("traceparent")
    @classmethod
    def _traceparent(cls, value: str | None) -> str | None:
        if value is not None and not is_traceparent(value):
            raise ValueError("not a W3C traceparent (all-zero trace or span id)")
        return value

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


M = TypeVar("M", bound=BaseModel)


class CopyRequestMessage(_Message):
    """On `copy-requests`: start the copy of this job at the source."""

    type: Literal["copy-request"] = "copy-request"


class PollMessage(_Message):
    """On `copy-polls`: read the job's copy operation once."""

    type: Literal["poll"] = "poll"
    attempt: int = Field(ge=0)


def parse_message(raw: str | bytes, model: type[M]) -> M:
    """Parse a queue message body into `model`, or raise `MalformedMessage` with a reason."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message is {len(raw)} bytes, more than any message this app sends")
    try:
        document = parse_json(raw)
    except NotJson as exc:
        raise MalformedMessage(f"message is not JSON ({exc})") from None
    if isinstance(document, dict) and document.get("v") not in (None, SCHEMA_VERSION):
        raise MalformedMessage(f"unsupported message schema version {document.get('v')!r}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise MalformedMessage(f"message does not match {model.__name__}: invalid {fields}") from None


def job_id_hint(raw: str | bytes) -> str | None:
    """The job id of a message that failed to parse, if one can be read (for recording the failure)."""
    try:
        document = parse_json(raw)
    except NotJson:
        return None
    job_id = document.get("job_id") if isinstance(document, dict) else None
    if isinstance(job_id, str) and 0 < len(job_id) <= 64 and job_id.isalnum():
        return job_id
    return None
