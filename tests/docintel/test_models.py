"""Normalized models: the copy authorization keeps its token secret except for storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.docintel import CopyAuthorization, ItemKind, OperationStatus, ResourceQuota

TOKEN = "sekrit-access-token-1234567890"
RESOURCE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/t"


def authorization(**overrides: object) -> CopyAuthorization:
    fields: dict[str, object] = {
        "kind": ItemKind.MODEL,
        "target_id": "target-model",
        "target_resource_id": RESOURCE_ID,
        "target_region": "westus2",
        "target_location": "https://t.cognitiveservices.azure.com/documentintelligence/documentModels/target-model",
        "expires_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "access_token": TOKEN,
        "api_version": "2024-11-30",
    }
    fields.update(overrides)
    return CopyAuthorization(**fields)


def test_access_token_never_shown() -> None:
    auth = authorization()
    assert TOKEN not in repr(auth)
    assert TOKEN not in str(auth)
    assert TOKEN not in json.dumps(auth.model_dump(mode="json"))
    assert TOKEN not in auth.model_dump_json()


def test_secret_json_round_trip_includes_the_token() -> None:
    auth = authorization(expiration_raw="2030-01-02T03:04:05.000Z")
    raw = auth.to_secret_json()
    assert TOKEN in raw
    again = CopyAuthorization.from_secret_json(raw)
    assert again == auth
    assert again.access_token.get_secret_value() == TOKEN


def test_v21_ticks_kept_verbatim() -> None:
    auth = authorization(api_version="2.1", expiration_ticks=637233481531659440)
    assert CopyAuthorization.from_secret_json(auth.to_secret_json()).expiration_ticks == 637233481531659440


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        authorization().target_id = "other"  # type: ignore[misc]


def test_expires_at_is_utc_even_when_given_in_another_zone_or_naive() -> None:
    cet = timezone(timedelta(hours=1))
    assert authorization(expires_at=datetime(2030, 1, 1, 1, tzinfo=cet)).expires_at == datetime(
        2030, 1, 1, tzinfo=UTC
    )
    assert authorization(expires_at=datetime(2030, 1, 1)).expires_at.tzinfo is UTC


def test_expires_within() -> None:
    auth = authorization()
    assert not auth.expires_within(3600, now=auth.expires_at - timedelta(hours=2))
    assert auth.expires_within(3600, now=auth.expires_at - timedelta(minutes=30))
    assert auth.expires_within(0, now=auth.expires_at + timedelta(seconds=1))
    with pytest.raises(ValueError):
        auth.expires_within(10, now=datetime(2030, 1, 1))


def test_operation_status_terminality() -> None:
    assert {s for s in OperationStatus if s.is_terminal} == {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELED,
    }
    assert OperationStatus("not-started") is OperationStatus.NOT_STARTED


def test_quota_available() -> None:
    assert ResourceQuota(count=7, limit=5).available == 0
    assert ResourceQuota(count=2, limit=5).available == 3
