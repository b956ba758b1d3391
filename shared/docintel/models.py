"""Normalized, version-independent models of what the service returns.

The rest of the app sees only these; the dialects translate every API version's wire format
into them (and back, for the copy authorization).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class ItemKind(StrEnum):
    MODEL = "model"
    CLASSIFIER = "classifier"


class OperationStatus(StrEnum):
    NOT_STARTED = "not-started"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.CANCELED)


def _utc(value: datetime | None) -> datetime | None:
    """Make a datetime tz-aware UTC; a naive value is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class ServiceError(BaseModel):
    """An error exactly as the service reported it (a sync error body or a failed operation's ``error``)."""

    code: str
    message: str
    inner_code: str | None = None
    #: ``innererror.message`` when the service sent one.
    inner_message: str | None = None
    target: str | None = None


class CopyAuthorization(BaseModel):
    """A one-time permission, issued by the *target* resource, to copy one item into it.

    ``access_token`` is a ``SecretStr``: ``repr``/``str``/``model_dump(mode="json")`` show
    ``'**********'``. Only :meth:`to_secret_json` (for the job row) writes it out.
    """

    model_config = ConfigDict(frozen=True)

    kind: ItemKind
    target_id: str
    target_resource_id: str
    target_region: str
    target_location: str
    expires_at: datetime
    access_token: SecretStr
    api_version: str
    #: v2.1 only: ``expirationDateTimeTicks`` exactly as the target returned it (sent back verbatim).
    expiration_ticks: int | None = None
    #: v3/v4: ``expirationDateTime`` text exactly as the target returned it. The copy request sends
    #: it back unchanged because the service may check the claims byte for byte (inferred, not
    #: documented: "missing or invalid authorization claims" is reported for modified payloads).
    expiration_raw: str | None = None

    @field_validator("expires_at")
    @classmethod
    def _expires_at_utc(cls, value: datetime) -> datetime:
        result = _utc(value)
        assert result is not None
        return result

    def expires_within(self, seconds: float, now: datetime) -> bool:
        """True when the authorization expires less than ``seconds`` after ``now`` (or already has)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return self.expires_at - now <= timedelta(seconds=seconds)

    def to_secret_json(self) -> str:
        """Serialize *including the access token*, for storage in the job row only."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data["access_token"] = self.access_token.get_secret_value()
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_secret_json(cls, raw: str) -> CopyAuthorization:
        return cls.model_validate_json(raw)


class ItemInfo(BaseModel):
    """A custom model or classifier, whatever the API version that described it."""

    kind: ItemKind
    id: str
    description: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    api_version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    doc_types: list[str] = Field(default_factory=list)
    build_mode: str | None = None
    #: Ids this item is composed of: a composed model's component models and (2024-07-31+) its
    #: classifier. Empty for plain models and for classifiers.
    component_ids: list[str] = Field(default_factory=list)
    classifier_id: str | None = None
    #: v2.1: ``modelInfo.status == "ready"``; v3+ only lists/returns usable items, so True.
    ready: bool = True
    is_prebuilt: bool = False
    #: A v2.1 model (GUID id, no tags, no description: ``description`` carries ``modelName``).
    legacy_v21: bool = False
    #: v2.1 ``modelInfo.status`` verbatim (``creating`` / ``ready`` / ``invalid``); None for v3+.
    status: str | None = None
    #: ``modifiedDateTime`` (2024-11-30) or v2.1 ``lastUpdatedDateTime``.
    modified_at: datetime | None = None
    #: The document types and their field schemas as digests (`shared.docintel.schema`): docType ->
    #: digest of its ``fieldSchema`` (v2.1: train result -> digest of its field names). None when the
    #: reply does not show them: list entries of 2022-08-31 and 2023-07-31 (summaries) and of v2.1.
    field_schemas: dict[str, str] | None = None

    @field_validator("created_at", "expires_at", "modified_at")
    @classmethod
    def _dates_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class Operation(BaseModel):
    """One poll of a copy operation."""

    url: str
    status: OperationStatus
    percent_completed: int | None = None
    #: Seconds the service asked us to wait (``Retry-After`` / ``retry-after-ms``), if any.
    retry_after: float | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    #: URL of the target item (v3/v4 ``resourceLocation``); None for v2.1.
    resource_location: str | None = None
    error: ServiceError | None = None
    result: ItemInfo | None = None
    #: The id of the item being created: from ``result``, else ``resourceLocation``, else v2.1 ``copyResult``.
    target_id: str | None = None
    #: Wire ``kind`` (``documentModelCopyTo`` ...); None for v2.1.
    operation_kind: str | None = None
    #: The service's status word verbatim (``notStarted``, ``completed`` ...).
    raw_status: str | None = None

    @field_validator("created_at", "last_updated_at")
    @classmethod
    def _dates_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class ResourceQuota(BaseModel):
    """Custom document model count and limit of a resource."""

    count: int
    limit: int

    @property
    def available(self) -> int:
        return max(0, self.limit - self.count)
