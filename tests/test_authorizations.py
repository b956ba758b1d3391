"""Pending copy authorizations: found again by target and item, never past their expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.authorizations import PendingAuthorizations, content_fingerprint
from tests.factories import copy_authorization

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


async def test_a_kept_authorization_is_found_with_its_job_and_content():
    store = PendingAuthorizations(None)
    await store.put("westus2", copy_authorization(NOW + timedelta(hours=1)), "job1", "abc")
    found = await store.get("westus2", "model", "invoice", NOW)
    assert found is not None
    assert found[0].access_token.get_secret_value() == "tok" and found[1:] == ("job1", "abc")
    assert await store.get("northeurope", "model", "invoice", NOW) is None
    assert await store.get("westus2", "classifier", "invoice", NOW) is None


async def test_an_expired_authorization_is_not_returned_and_is_forgotten():
    store = PendingAuthorizations(None)
    await store.put("westus2", copy_authorization(NOW - timedelta(seconds=1)), "job1")
    assert await store.get("westus2", "model", "invoice", NOW) is None
    assert await store.get("westus2", "model", "invoice", NOW - timedelta(hours=1)) is None


async def test_a_used_authorization_is_discarded():
    store = PendingAuthorizations(None)
    await store.put("westus2", copy_authorization(NOW + timedelta(hours=1)), "job1")
    await store.discard("westus2", "model", "invoice")
    assert await store.get("westus2", "model", "invoice", NOW) is None


def test_the_content_fingerprint_tells_builds_apart():
    tags = {"docintel-dr.sourceCreated": "2026-11-01T00:00:00Z"}
    assert content_fingerprint("d", tags) == content_fingerprint("d", dict(tags))
    assert content_fingerprint("d", tags) != content_fingerprint(
        "d", {"docintel-dr.sourceCreated": "2026-11-02T00:00:00Z"}
    )
    assert content_fingerprint("d", tags) != content_fingerprint("e", tags)
