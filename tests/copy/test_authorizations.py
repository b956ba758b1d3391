"""Pending copy authorizations: found again by target and item, never past their expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.copy.authorizations import PendingAuthorization, PendingAuthorizations, content_fingerprint
from shared.docintel import ItemKind
from tests.factories import copy_authorization

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


async def test_a_kept_authorization_is_found_with_its_job_and_content(state_table):
    store = PendingAuthorizations(state_table)
    authorization = copy_authorization(NOW + timedelta(hours=1))
    await store.put("westus2", authorization, "job1", "abc")
    found = await store.get("westus2", ItemKind.MODEL, "invoice", NOW)
    assert found == PendingAuthorization(authorization, "job1", "abc")
    assert found.authorization.access_token.get_secret_value() == "tok"
    assert await store.get("northeurope", ItemKind.MODEL, "invoice", NOW) is None
    assert await store.get("westus2", ItemKind.CLASSIFIER, "invoice", NOW) is None


async def test_an_expired_authorization_is_not_returned_and_is_forgotten(state_table):
    store = PendingAuthorizations(state_table)
    await store.put("westus2", copy_authorization(NOW - timedelta(seconds=1)), "job1", "abc")
    assert await store.get("westus2", ItemKind.MODEL, "invoice", NOW) is None
    assert await store.get("westus2", ItemKind.MODEL, "invoice", NOW - timedelta(hours=1)) is None


async def test_a_used_authorization_is_discarded(state_table):
    store = PendingAuthorizations(state_table)
    await store.put("westus2", copy_authorization(NOW + timedelta(hours=1)), "job1", "abc")
    await store.discard("westus2", ItemKind.MODEL, "invoice")
    assert await store.get("westus2", ItemKind.MODEL, "invoice", NOW) is None


def test_the_content_fingerprint_tells_builds_apart():
    tags = {"docintel-dr.sourceCreated": "2026-11-01T00:00:00Z"}
    assert content_fingerprint("d", tags) == content_fingerprint("d", dict(tags))
    assert content_fingerprint("d", tags) != content_fingerprint(
        "d", {"docintel-dr.sourceCreated": "2026-11-02T00:00:00Z"}
    )
    assert content_fingerprint("d", tags) != content_fingerprint("e", tags)
