"""DocIntelClient against the in-process emulator: every operation on every API version, both
auth modes, every error case, the outcome-unknown path, pagination, and log secrecy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from local.emulator import EmulatorNetwork, EmulatorState
from shared.docintel import (
    API_VERSIONS,
    AuthorizationAlreadyUsed,
    AuthorizationClaimsInvalid,
    AuthorizationExpired,
    Conflict,
    CopyAuthorization,
    CopyOutcomeUnknown,
    Disposition,
    DocIntelClient,
    DowngradeRequired,
    InvalidTargetResource,
    ItemKind,
    ItemNotFound,
    Operation,
    OperationStatus,
    QuotaExceeded,
    RateLimits,
    RetryPolicy,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    UnsupportedByApiVersion,
    ValidationFailed,
    error_from_service,
    supports_classifier_copy,
    supports_classifiers,
)
from tests.docintel.conftest import FakeClock
from tests.docintel.emulated import (
    DST_KEY,
    SRC_KEY,
    FakeTokenCredential,
    client_for,
    seed_for,
    source_id_for,
)

HOUR = 3600.0


@dataclass
class Emulated:
    net: EmulatorNetwork
    src: EmulatorState
    dst: EmulatorState

    def clients(self, version: str, **kwargs: object) -> tuple[DocIntelClient, DocIntelClient]:
        return client_for(self.net, self.src, version, **kwargs), client_for(
            self.net, self.dst, version, **kwargs
        )


@pytest.fixture
async def emu() -> AsyncIterator[Emulated]:
    net = EmulatorNetwork()
    src = net.add("southcentralus", SRC_KEY, copy_duration=2.0, rate_limits="off")
    dst = net.add("westus2", DST_KEY, copy_duration=2.0, rate_limits="off")
    yield Emulated(net, src, dst)
    await net.aclose()


async def finish(source: DocIntelClient, state: EmulatorState, url: str) -> Operation:
    """Move the source's clock past the copy duration and read the terminal operation."""
    state.advance_clock(10)
    op = await source.get_operation(url)
    assert op.status.is_terminal, op
    return op


# -- the three-step copy, every version ------------------------------------------------------


@pytest.mark.parametrize("version", API_VERSIONS)
async def test_model_copy_on_every_api_version(emu: Emulated, version: str) -> None:
    emu.src.seed(seed_for(version))
    source, target = emu.clients(version)
    async with source, target:
        auth = await target.authorize_copy(
            ItemKind.MODEL, "invoice-copy", description="Invoices (DR)", tags={"dr": "yes"}
        )
        assert auth.kind is ItemKind.MODEL
        assert auth.target_resource_id == emu.dst.resource_id
        assert auth.target_region == "westus2"
        assert auth.api_version == version
        lifetime = 24 * HOUR if version == "2.1" else HOUR  # as the service issues them
        assert not auth.expires_within(lifetime - 60, now=_utcnow())
        assert auth.expires_within(lifetime + 2, now=_utcnow())
        if version == "2.1":
            assert auth.target_id != "invoice-copy"  # v2.1 mints a GUID
            assert auth.expiration_ticks is not None
        else:
            assert auth.target_id == "invoice-copy"
            assert auth.target_location.startswith(emu.dst.endpoint)

        url = await source.start_copy(ItemKind.MODEL, source_id_for(version), auth)
        assert url.startswith(emu.src.endpoint)

        first = await source.get_operation(url)
        assert first.status in (OperationStatus.NOT_STARTED, OperationStatus.RUNNING)
        assert not first.status.is_terminal
        assert first.retry_after is None  # the service sends no Retry-After on polls

        done = await finish(source, emu.src, url)
        assert done.status is OperationStatus.SUCCEEDED and done.error is None
        assert done.target_id == auth.target_id
        if version != "2.1":
            assert done.result is not None and done.result.id == auth.target_id
            assert done.resource_location is not None and done.percent_completed == 100

        copied = await target.get_item(ItemKind.MODEL, auth.target_id)
        assert copied.id == auth.target_id and copied.ready
        assert copied.legacy_v21 is (version == "2.1")
        if version != "2.1":
            assert copied.tags == {"dr": "yes"} and copied.description == "Invoices (DR)"

        listed = await target.list_items(ItemKind.MODEL)
        assert auth.target_id in {i.id for i in listed}
        quota = await target.get_quota()
        assert quota.count == 1 and quota.limit == 5000

        await target.delete_item(ItemKind.MODEL, auth.target_id)
        with pytest.raises(ItemNotFound):
            await target.get_item(ItemKind.MODEL, auth.target_id)


@pytest.mark.parametrize("version", [v for v in API_VERSIONS if supports_classifier_copy(v)])
async def test_classifier_copy(emu: Emulated, version: str) -> None:
    emu.src.seed(seed_for(version))
    source, target = emu.clients(version)
    async with source, target:
        auth = await target.authorize_copy(ItemKind.CLASSIFIER, "sorter-copy", description="DR copy")
        assert auth.kind is ItemKind.CLASSIFIER and auth.target_id == "sorter-copy"
        url = await source.start_copy(ItemKind.CLASSIFIER, "sorter", auth)
        done = await finish(source, emu.src, url)
        assert done.status is OperationStatus.SUCCEEDED
        assert done.operation_kind == "documentClassifierCopyTo"
        assert done.result is not None and done.result.kind is ItemKind.CLASSIFIER
        copied = await target.get_item(ItemKind.CLASSIFIER, "sorter-copy")
        assert copied.kind is ItemKind.CLASSIFIER and copied.doc_types == ["formA"]
        assert [c.id for c in await target.list_items(ItemKind.CLASSIFIER)] == ["sorter-copy"]
        await target.delete_item(ItemKind.CLASSIFIER, "sorter-copy")
        with pytest.raises(ItemNotFound) as caught:
            await target.get_item(ItemKind.CLASSIFIER, "sorter-copy")
        assert caught.value.inner_code == "ModelNotFound"  # classifiers too, as the service says


@pytest.mark.parametrize("version", [v for v in API_VERSIONS if supports_classifiers(v)])
async def test_classifiers_are_readable_from_2023_07_31(emu: Emulated, version: str) -> None:
    emu.src.seed(seed_for(version))
    source = client_for(emu.net, emu.src, version)
    async with source:
        assert [c.id for c in await source.list_items(ItemKind.CLASSIFIER)] == ["sorter"]
        assert (await source.get_item(ItemKind.CLASSIFIER, "sorter")).description == "Sorts documents"
        if not supports_classifier_copy(version):
            with pytest.raises(UnsupportedByApiVersion, match="2024-07-31-preview"):
                await source.authorize_copy(ItemKind.CLASSIFIER, "x")
    assert all(not r["path"].endswith(":authorizeCopy") for r in emu.src.requests())


async def test_prebuilt_models_are_listed_and_flagged(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    async with client_for(emu.net, emu.src, "2024-11-30") as source:
        items = await source.list_items(ItemKind.MODEL)
    prebuilt = [i for i in items if i.is_prebuilt]
    assert prebuilt and all(i.id.startswith("prebuilt-") for i in prebuilt)
    assert [i.id for i in items if not i.is_prebuilt] == ["invoice"]


# -- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.1", "2023-07-31", "2024-11-30"])
async def test_copy_with_entra_id_tokens(emu: Emulated, version: str) -> None:
    emu.src.seed(seed_for(version))
    credential = FakeTokenCredential()
    source, target = emu.clients(version, credential=credential)
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        url = await source.start_copy(ItemKind.MODEL, source_id_for(version), auth)
        assert (await finish(source, emu.src, url)).status is OperationStatus.SUCCEEDED
    assert set(credential.scopes) == {("https://cognitiveservices.azure.com/.default",)}
    assert len(credential.issued) == 2  # one per client, cached for every later call


async def test_wrong_key_is_unauthorized(emu: Emulated) -> None:
    async with client_for(emu.net, emu.src, "2024-11-30", key="not-the-key") as source:
        with pytest.raises(Unauthorized) as caught:
            await source.get_quota()
    assert caught.value.status == 401 and caught.value.alias == "southcentralus"
    assert "not-the-key" not in str(caught.value)


async def test_expired_bearer_token_is_unauthorized(emu: Emulated) -> None:
    async with client_for(
        emu.net, emu.src, "2024-11-30", credential=FakeTokenCredential(lifetime=-10)
    ) as source:
        with pytest.raises(Unauthorized):
            await source.get_quota()


# -- error cases -----------------------------------------------------------------------------


async def test_invalid_id_is_a_validation_failure(emu: Emulated) -> None:
    async with client_for(emu.net, emu.dst, "2024-11-30") as target:
        with pytest.raises(ValidationFailed) as caught:
            await target.authorize_copy(ItemKind.MODEL, "not a valid id!")
    error = caught.value
    assert (error.status, error.code, error.inner_code) == (400, "1002", "InvalidParameter")
    assert error.alias == "westus2" and error.item_id == "not a valid id!" and error.request_id


@pytest.mark.parametrize("version", ["2.1", "2022-08-31", "2024-11-30"])
async def test_expired_authorization(emu: Emulated, version: str) -> None:
    emu.src.seed(seed_for(version))
    source, target = emu.clients(version)
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        emu.dst.advance_clock(25 * HOUR)
        with pytest.raises(AuthorizationExpired) as caught:
            await source.start_copy(ItemKind.MODEL, source_id_for(version), auth)
    assert caught.value.status == 400 and caught.value.code == "1002"
    assert caught.value.item_id == source_id_for(version)


async def test_modified_claims(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        other = auth.target_resource_id.rsplit("/", 1)[0] + "/another-account"
        tampered = auth.model_copy(update={"target_resource_id": other})
        with pytest.raises(AuthorizationClaimsInvalid) as caught:
            await source.start_copy(ItemKind.MODEL, "invoice", tampered)
    assert caught.value.inner_code == "InvalidAuthorizationClaims"


async def test_a_wrong_target_region_fails_the_operation_with_2024(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        url = await source.start_copy(
            ItemKind.MODEL, "invoice", auth.model_copy(update={"target_region": "eastus"})
        )
        assert (await source.get_operation(url)).status is OperationStatus.NOT_STARTED
        emu.src.advance_clock(25)
        op = await source.get_operation(url)
    assert op.status is OperationStatus.FAILED and op.error is not None
    assert isinstance(error_from_service(op.error), AuthorizationAlreadyUsed)


async def test_reused_authorization_fails_the_operation_with_2024(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        first = await source.start_copy(ItemKind.MODEL, "invoice", auth)
        assert (await finish(source, emu.src, first)).status is OperationStatus.SUCCEEDED
        second = await source.start_copy(ItemKind.MODEL, "invoice", auth)
        op = await finish(source, emu.src, second)
    assert op.status is OperationStatus.FAILED and op.error is not None
    error = error_from_service(op.error, alias="southcentralus", item_id="invoice")
    assert isinstance(error, AuthorizationAlreadyUsed) and error.code == "2024"
    assert "southcentralus" in str(error) and "invoice" in str(error)


async def test_v21_failed_copy_is_classified_from_copy_result_errors(emu: Emulated) -> None:
    emu.src.seed(seed_for("2.1"))
    source, target = emu.clients("2.1")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "ignored")
        first = await source.start_copy(ItemKind.MODEL, source_id_for("2.1"), auth)
        assert (await finish(source, emu.src, first)).status is OperationStatus.SUCCEEDED
        second = await source.start_copy(ItemKind.MODEL, source_id_for("2.1"), auth)
        op = await finish(source, emu.src, second)
    assert op.status is OperationStatus.FAILED and op.error is not None
    assert isinstance(error_from_service(op.error), AuthorizationAlreadyUsed)


@pytest.mark.parametrize(
    ("kind", "inner"), [(ItemKind.MODEL, "ModelIdReserved"), (ItemKind.CLASSIFIER, "ClassifierIdReserved")]
)
async def test_reauthorizing_a_pending_id_is_a_conflict(emu: Emulated, kind: ItemKind, inner: str) -> None:
    async with client_for(emu.net, emu.dst, "2024-11-30") as target:
        await target.authorize_copy(kind, "pending")
        with pytest.raises(Conflict) as caught:
            await target.authorize_copy(kind, "pending")
    assert (caught.value.status, caught.value.inner_code, caught.value.item_id) == (409, inner, "pending")


async def test_authorizing_an_existing_id_is_a_conflict(emu: Emulated) -> None:
    emu.dst.seed(seed_for("2024-11-30"))
    async with client_for(emu.net, emu.dst, "2024-11-30") as target:
        with pytest.raises(Conflict) as caught:
            await target.authorize_copy(ItemKind.MODEL, "invoice")
    assert caught.value.inner_code == "ModelExists"


async def test_invalid_target_resource(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        # A target location on a host that is not a Document Intelligence resource.
        elsewhere = auth.model_copy(
            update={"target_location": "http://nowhere.emulator.local/documentintelligence/documentModels/x"}
        )
        with pytest.raises(InvalidTargetResource) as caught:
            await source.start_copy(ItemKind.MODEL, "invoice", elsewhere)
    assert caught.value.inner_code == "InvalidTargetResource" and "Couldn't fetch" in caught.value.message


async def test_cmk_downgrade_fails_unless_allowed(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    emu.src.configure({"cmk": True})
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        refused = await finish(source, emu.src, await source.start_copy(ItemKind.MODEL, "invoice", auth))
        assert refused.status is OperationStatus.FAILED and refused.error is not None
        error = error_from_service(refused.error, alias="southcentralus", item_id="invoice")
        assert isinstance(error, DowngradeRequired)
        assert "x-ms-forms-copy-degrade" in str(error)

        again = await target.authorize_copy(ItemKind.MODEL, "invoice-copy-2")
        allowed = await source.start_copy(ItemKind.MODEL, "invoice", again, allow_degrade=True)
        assert (await finish(source, emu.src, allowed)).status is OperationStatus.SUCCEEDED


async def test_quota_exceeded(emu: Emulated) -> None:
    emu.dst.seed(seed_for("2024-11-30"))
    emu.dst.configure({"modelLimit": 1})
    async with client_for(emu.net, emu.dst, "2024-11-30") as target:
        with pytest.raises(QuotaExceeded) as caught:
            await target.authorize_copy(ItemKind.MODEL, "one-too-many")
    assert caught.value.status == 400 and caught.value.code == "QuotaExceeded"


async def test_not_found(emu: Emulated) -> None:
    async with client_for(emu.net, emu.src, "2024-11-30") as source:
        with pytest.raises(ItemNotFound) as model:
            await source.get_item(ItemKind.MODEL, "missing")
        with pytest.raises(ItemNotFound) as operation:
            await source.get_operation(
                f"{emu.src.endpoint}/documentintelligence/operations/nope?api-version=2024-11-30"
            )
    assert model.value.inner_code == "ModelNotFound" and model.value.item_id == "missing"
    assert operation.value.inner_code == "OperationNotFound" and operation.value.item_id == "nope"


async def test_operations_expire_after_24_hours(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        url = await source.start_copy(
            ItemKind.MODEL, "invoice", await target.authorize_copy(ItemKind.MODEL, "copy-1")
        )
        emu.src.advance_clock(25 * HOUR)
        with pytest.raises(ItemNotFound):
            await source.get_operation(url)


async def test_throttling_is_retried_with_the_service_retry_after(emu: Emulated, clock: FakeClock) -> None:
    emu.src.configure({"faults": {"management": {"rate429": 1.0, "retryAfterSeconds": 3}}})
    policy = RetryPolicy(max_attempts=3, seed=1)
    async with client_for(
        emu.net, emu.src, "2024-11-30", retry=policy, sleep=clock.sleep, clock=clock
    ) as source:
        with pytest.raises(Throttled) as caught:
            await source.get_item(ItemKind.MODEL, "invoice")
    assert clock.sleeps == [3.0, 3.0]
    assert (
        caught.value.retry_after == 3
        and caught.value.status == 429
        and caught.value.disposition is Disposition.TRANSIENT
    )
    assert [r["status"] for r in emu.src.requests()] == [429, 429, 429]


async def test_emulator_rate_limit_429_is_retried_until_it_passes(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    emu.src.configure({"rateLimits": {"management": 2}})
    # No client-side limiter: the service's 429 + Retry-After (real seconds) paces the burst.
    async with client_for(emu.net, emu.src, "2024-11-30", retry=RetryPolicy(seed=1)) as source:
        for _ in range(3):
            await source.get_item(ItemKind.MODEL, "invoice")
    statuses = [r["status"] for r in emu.src.requests()]
    assert statuses.count(200) == 3 and 429 in statuses


@pytest.mark.parametrize(("fault", "expected"), [("rate500", 500), ("rate503", 503)])
async def test_server_errors_are_retried_then_service_unavailable(
    emu: Emulated, clock: FakeClock, fault: str, expected: int
) -> None:
    emu.src.configure({"faults": {"list": {fault: 1.0}}})
    async with client_for(emu.net, emu.src, "2024-11-30", sleep=clock.sleep, clock=clock) as source:
        with pytest.raises(ServiceUnavailable) as caught:
            await source.list_items(ItemKind.MODEL)
    assert caught.value.status == expected and len(clock.sleeps) == 4


@pytest.mark.parametrize("mode", ["503", "drop"])
async def test_region_outage(emu: Emulated, clock: FakeClock, mode: str) -> None:
    emu.src.set_outage(True, mode)
    async with client_for(emu.net, emu.src, "2024-11-30", sleep=clock.sleep, clock=clock) as source:
        with pytest.raises(ServiceUnavailable):
            await source.get_quota()
    assert len(clock.sleeps) == 4


async def test_unreachable_endpoint(emu: Emulated, clock: FakeClock) -> None:
    lost = DocIntelClient(
        "lost",
        "http://nowhere.emulator.local",
        key="k",
        transport=emu.net.transport,
        sleep=clock.sleep,
        clock=clock,
    )
    async with lost:
        with pytest.raises(ServiceUnavailable, match="Could not reach"):
            await lost.get_quota()


# -- copy outcome unknown --------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["rateDrop", "rate500", "rate503"])
async def test_copy_with_an_ambiguous_failure_is_not_resent(emu: Emulated, fault: str) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        emu.src.configure({"faults": {"management": {fault: 1.0}}})
        with pytest.raises(CopyOutcomeUnknown) as caught:
            await source.start_copy(ItemKind.MODEL, "invoice", auth)
    copies = [r for r in emu.src.requests() if r["path"].endswith(":copyTo")]
    assert len(copies) == 1
    error = caught.value
    assert error.alias == "southcentralus" and error.item_id == "invoice"
    assert auth.access_token.get_secret_value() not in str(error) + repr(error)


async def test_copy_throttled_by_the_service_is_retried(emu: Emulated) -> None:
    emu.src.seed(seed_for("2024-11-30"))
    source, target = emu.clients("2024-11-30")
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        emu.src.configure({"rateLimits": {"management": 1}})
        await source.get_item(ItemKind.MODEL, "invoice")  # uses the only token
        url = await source.start_copy(ItemKind.MODEL, "invoice", auth)
    copies = [r["status"] for r in emu.src.requests() if r["path"].endswith(":copyTo")]
    assert copies[0] == 429 and copies[-1] == 202
    assert url


# -- pagination ------------------------------------------------------------------------------


async def test_pagination_over_1000_models(emu: Emulated) -> None:
    emu.src.seed({"models": [{"modelId": f"model-{n:04d}"} for n in range(1000)]})
    async with client_for(emu.net, emu.src, "2024-11-30") as source:
        items = await source.list_items(ItemKind.MODEL)
    custom = [i.id for i in items if not i.is_prebuilt]
    assert custom == [f"model-{n:04d}" for n in range(1000)]
    pages = [r for r in emu.src.requests() if r["path"].endswith("/documentModels")]
    assert len(pages) == -(-len(items) // emu.src.page_size)


async def test_pagination_v21(emu: Emulated) -> None:
    guids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(120)]
    emu.src.seed({"models": [{"modelId": g, "apiVersion": "2.1"} for g in guids]})
    async with client_for(emu.net, emu.src, "v2.1") as source:
        items = await source.list_items(ItemKind.MODEL)
        quota = await source.get_quota()
    assert [i.id for i in items] == guids and all(i.legacy_v21 for i in items)
    assert quota.count == 120


# -- secrets in logs -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.1", "2024-11-30"])
async def test_logs_of_a_full_copy_hold_neither_key_nor_access_token(
    emu: Emulated, caplog: pytest.LogCaptureFixture, version: str
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.src.seed(seed_for(version))
    emu.src.configure({"faults": {"status": {"rate503": 0.5}}, "randomSeed": 7})
    source, target = emu.clients(version, retry=RetryPolicy(max_attempts=10, base_delay=0, seed=1))
    async with source, target:
        auth = await target.authorize_copy(ItemKind.MODEL, "invoice-copy")
        url = await source.start_copy(ItemKind.MODEL, source_id_for(version), auth)
        emu.src.advance_clock(10)
        await source.get_operation(url)
        await target.get_item(ItemKind.MODEL, auth.target_id)
        with pytest.raises(ItemNotFound):
            await source.get_item(ItemKind.MODEL, auth.target_id)
    token = auth.access_token.get_secret_value()
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert any(r.name == "docintel_dr.docintel" and r.levelno == logging.DEBUG for r in caplog.records)
    for secret in (SRC_KEY, DST_KEY, token):
        assert secret not in text
    stored = CopyAuthorization.from_secret_json(auth.to_secret_json())
    assert token not in repr(stored) and token not in str(stored)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- client-side rate limiting ---------------------------------------------------------------


async def test_a_burst_of_50_management_calls_is_paced_at_the_configured_rate(emu: Emulated) -> None:
    """Fake time: the clock stands still and sleeps are only recorded, so each call's slot is
    ``now + wait``; 50 concurrent calls must land in slots no denser than 5 per second."""
    emu.src.seed(seed_for("2024-11-30"))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    limits = RateLimits(management_per_second=5, list_per_second=None, status_per_second=None)
    async with client_for(
        emu.net, emu.src, "2024-11-30", rate_limits=limits, sleep=record, clock=lambda: 0.0
    ) as c:
        await asyncio.gather(*(c.get_item(ItemKind.MODEL, "invoice") for _ in range(50)))
    slots = sorted(round(s, 6) for s in [0.0] * (50 - len(waits)) + waits)
    assert slots == pytest.approx([n / 5 for n in range(50)])
    assert max(sum(1 for s in slots if start <= s < start + 1) for start in slots) == 5
