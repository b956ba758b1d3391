"""What every dialect does: build requests, parse replies. No I/O here (the client core does that)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from ..errors import UnsupportedByApiVersion
from ..models import (
    CopyAuthorization,
    ItemInfo,
    ItemKind,
    Operation,
    OperationStatus,
    ResourceQuota,
    ServiceError,
)
from ..ratelimit import LimitClass
from ..versions import (
    MIN_CLASSIFIER_COPY_VERSION,
    MIN_CLASSIFIER_VERSION,
    supports_classifier_copy,
    supports_classifiers,
)

logger = logging.getLogger("docintel_dr.docintel")

_DATETIME = TypeAdapter(datetime)


@dataclass(frozen=True)
class Request:
    """One HTTP request to send. ``safe_to_resend`` is False when a resend after an ambiguous
    failure could do the work twice (start copy)."""

    method: str
    url: str
    limit_class: LimitClass
    expect: tuple[int, ...]
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    safe_to_resend: bool = True


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers) when it comes from the client
    body: Any  # parsed JSON, or None when the body was empty / not JSON


def parse_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        logger.debug("unparseable date-time from the service: %r", value)
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


_STATUS_WORDS: dict[str, OperationStatus] = {
    "notstarted": OperationStatus.NOT_STARTED,
    "not-started": OperationStatus.NOT_STARTED,
    "running": OperationStatus.RUNNING,
    "succeeded": OperationStatus.SUCCEEDED,
    "failed": OperationStatus.FAILED,
    "canceled": OperationStatus.CANCELED,
    "cancelled": OperationStatus.CANCELED,
    # 2024-02-29-preview / 2024-07-31-preview list "completed"; for a copy operation it can only
    # mean done, so it is read as succeeded (inferred; the pipeline verifies the target anyway).
    "completed": OperationStatus.SUCCEEDED,
    # 2024-11-30 "skipped" is for batch analysis documents; read as terminal-not-succeeded (inferred).
    "skipped": OperationStatus.CANCELED,
}


def parse_status(raw: Any) -> OperationStatus:
    word = str(raw or "").strip().lower()
    status = _STATUS_WORDS.get(word)
    if status is None:
        # Unknown word: keep polling rather than declare an outcome we cannot know.
        logger.warning("unknown operation status %r from the service; treating it as running", raw)
        return OperationStatus.RUNNING
    return status


def parse_service_error(body: Any) -> ServiceError | None:
    """Parse ``{"error": {code, message, innererror?}}`` (all versions; v2.1 has no innererror)."""
    if not isinstance(body, Mapping):
        return None
    err = body.get("error", body)
    if not isinstance(err, Mapping) or ("code" not in err and "message" not in err):
        return None
    inner = err.get("innererror") or err.get("innerError")
    inner_code = inner_message = None
    if isinstance(inner, Mapping):
        inner_code = inner.get("code")
        inner_message = inner.get("message")
    return ServiceError(
        code=str(err.get("code") or ""),
        message=str(err.get("message") or ""),
        inner_code=str(inner_code) if inner_code is not None else None,
        inner_message=str(inner_message) if inner_message is not None else None,
        target=str(err["target"]) if err.get("target") is not None else None,
    )


def last_path_segment(url: str | None) -> str | None:
    if not url:
        return None
    path = urlsplit(url).path.rstrip("/")
    segment = path.rsplit("/", 1)[-1]
    return segment or None


class Dialect:
    """Base of the three API families. Subclasses fill in the wire formats."""

    family: ClassVar[str]

    def __init__(
        self,
        endpoint: str,
        api_version: str,
        *,
        resource_id: str | None = None,
        region: str | None = None,
        alias: str | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_version = api_version
        self.resource_id = resource_id
        self.region = region
        self.alias = alias

    # -- capability checks ----------------------------------------------------------------
    def check_supported(self, kind: ItemKind, *, copy: bool, item_id: str | None = None) -> None:
        """Raise ``UnsupportedByApiVersion`` (before any request) when ``kind`` cannot be handled."""
        if kind is not ItemKind.CLASSIFIER:
            return
        if copy and not supports_classifier_copy(self.api_version):
            raise UnsupportedByApiVersion(
                f"Classifier copy needs API version {MIN_CLASSIFIER_COPY_VERSION} or later; "
                f"this resource is configured with {self.api_version}",
                alias=self.alias,
                item_id=item_id,
            )
        if not supports_classifiers(self.api_version):
            raise UnsupportedByApiVersion(
                f"Classifiers need API version {MIN_CLASSIFIER_VERSION} or later "
                f"(classifier copy: {MIN_CLASSIFIER_COPY_VERSION}); "
                f"this resource is configured with {self.api_version}",
                alias=self.alias,
                item_id=item_id,
            )

    # -- requests and replies (implemented per family) -----------------------------------
    def authorize_copy(
        self, kind: ItemKind, target_id: str, description: str | None, tags: dict[str, str] | None
    ) -> Request:
        raise NotImplementedError

    def parse_authorization(self, kind: ItemKind, target_id: str, reply: Reply) -> CopyAuthorization:
        raise NotImplementedError

    def start_copy(
        self, kind: ItemKind, source_id: str, authorization: CopyAuthorization, allow_degrade: bool
    ) -> Request:
        raise NotImplementedError

    def parse_start_copy(self, reply: Reply) -> str:
        location = header(reply.headers, "Operation-Location")
        if not location:
            raise ValueError("the copy was accepted but the reply has no Operation-Location header")
        return location

    def get_operation(self, operation_url: str) -> Request:
        raise NotImplementedError

    def parse_operation(self, operation_url: str, reply: Reply, retry_after: float | None) -> Operation:
        raise NotImplementedError

    def get_item(self, kind: ItemKind, item_id: str) -> Request:
        raise NotImplementedError

    def parse_item(self, kind: ItemKind, body: Any) -> ItemInfo:
        raise NotImplementedError

    def list_items(self, kind: ItemKind) -> Request:
        raise NotImplementedError

    def next_page(self, kind: ItemKind, next_link: str) -> Request:
        raise NotImplementedError

    def parse_page(self, kind: ItemKind, body: Any) -> tuple[list[ItemInfo], str | None]:
        raise NotImplementedError

    def delete_item(self, kind: ItemKind, item_id: str) -> Request:
        raise NotImplementedError

    def get_quota(self) -> Request:
        raise NotImplementedError

    def parse_quota(self, body: Any) -> ResourceQuota:
        raise NotImplementedError
