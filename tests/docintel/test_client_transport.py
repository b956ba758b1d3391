"""Client core against scripted transport faults (httpx.MockTransport).

These scripts are transport-level sequences ("429 with Retry-After 7, then 200"), not a model
of the service: service behaviour is tested against the emulator.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.docintel import (
    Conflict,
    CopyAuthorization,
    CopyOutcomeUnknown,
    Disposition,
    DocIntelClient,
    DocIntelError,
    InvalidTargetResource,
    ItemKind,
    ItemNotFound,
    RateLimits,
    RetryPolicy,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    UnsupportedByApiVersion,
)
from shared.docintel.auth import TokenAuth
from tests.docintel.conftest import FakeClock

ENDPOINT = "https://source.cognitiveservices.azure.com"
KEY = "k3y-0123456789abcdef"
TOKEN = "acc3ss-t0ken-abcdef0123456789"
NO_LIMITS = RateLimits(management_per_second=None, list_per_second=None, status_per_second=None)

Responder = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests from a list of responders (or exceptions), recording each request."""

    def __init__(self, *steps: Responder | httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)


def client(script: Script, clock: FakeClock, **kwargs: Any) -> DocIntelClient:
    options: dict[str, Any] = {
        "key": KEY,
        "transport": httpx.MockTransport(script),
        "rate_limits": NO_LIMITS,
        "retry": RetryPolicy(seed=1),
        "sleep": clock.sleep,
        "clock": clock,
    }
    options.update(kwargs)
    return DocIntelClient("primary", ENDPOINT, **options)


def error_response(
    status: int, code: str, message: str, inner: str | None = None, **headers: str
) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner, "message": message}
    return httpx.Response(status, json={"error": error}, headers={"apim-request-id": "req-42", **headers})


MODEL = {"modelId": "m1", "createdDateTime": "2024-01-01T00:00:00Z", "apiVersion": "2024-11-30"}


def authorization() -> CopyAuthorization:
    return CopyAuthorization(
        kind=ItemKind.MODEL,
        target_id="m1-copy",
        target_resource_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/t",
        target_region="westus2",
        target_location="https://target.cognitiveservices.azure.com/documentintelligence/documentModels/m1-copy",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        access_token=TOKEN,
        api_version="2024-11-30",
        expiration_raw="2030-01-01T00:00:00Z",
    )


COPY_ACCEPTED = httpx.Response(
    202,
    headers={"Operation-Location": f"{ENDPOINT}/documentintelligence/operations/op1?api-version=2024-11-30"},
)


# -- retries ---------------------------------------------------------------------------------


async def test_429_with_retry_after_then_success_waits_exactly_retry_after(clock: FakeClock) -> None:
    script = Script(
        error_response(429, "429", "Rate limit is exceeded.", **{"Retry-After": "7"}),
        httpx.Response(200, json=MODEL),
    )
    async with client(script, clock) as c:
        item = await c.get_item(ItemKind.MODEL, "m1")
    assert item.id == "m1"
    assert clock.sleeps == [7.0]
    assert len(script.requests) == 2


async def test_retry_after_ms_header(clock: FakeClock) -> None:
    script = Script(
        error_response(503, "ServiceUnavailable", "busy", **{"retry-after-ms": "1500"}),
        httpx.Response(200, json=MODEL),
    )
    async with client(script, clock) as c:
        await c.get_item(ItemKind.MODEL, "m1")
    assert clock.sleeps == [1.5]


async def test_5xx_backoff_is_full_jitter_and_bounded_by_attempts(clock: FakeClock) -> None:
    script = Script(error_response(503, "ServiceUnavailable", "The service is unavailable."))
    policy = RetryPolicy(max_attempts=4, base_delay=1, max_delay=3, seed=7)
    async with client(script, clock, retry=policy) as c:
        with pytest.raises(ServiceUnavailable) as caught:
            await c.get_item(ItemKind.MODEL, "m1")
    assert len(script.requests) == 4
    assert len(clock.sleeps) == 3
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, [1, 2, 3], strict=True))
    rng = policy.make_random()
    assert clock.sleeps == [policy.backoff(n, rng) for n in (1, 2, 3)]
    error = caught.value
    assert (error.status, error.code, error.request_id, error.alias, error.item_id) == (
        503,
        "ServiceUnavailable",
        "req-42",
        "primary",
        "m1",
    )
    assert error.disposition is Disposition.TRANSIENT


async def test_a_wait_beyond_the_total_budget_is_not_taken(clock: FakeClock) -> None:
    script = Script(
        error_response(
            429, "429", "Rate limit is exceeded. Try again in 100 seconds.", **{"Retry-After": "100"}
        )
    )
    async with client(script, clock, retry=RetryPolicy(max_total_seconds=60)) as c:
        with pytest.raises(Throttled) as caught:
            await c.get_item(ItemKind.MODEL, "m1")
    assert clock.sleeps == []
    assert caught.value.retry_after == 100
    assert len(script.requests) == 1


async def test_connection_errors_and_read_timeouts_are_retried_for_reads(clock: FakeClock) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=MODEL))
    async with client(script, clock) as c:
        assert (await c.get_item(ItemKind.MODEL, "m1")).id == "m1"
    assert len(script.requests) == 3 and len(clock.sleeps) == 2


async def test_unreachable_service_ends_in_service_unavailable(clock: FakeClock) -> None:
    script = Script(httpx.ConnectError("refused"))
    async with client(script, clock, retry=RetryPolicy(max_attempts=3, seed=1)) as c:
        with pytest.raises(ServiceUnavailable, match="Could not reach"):
            await c.get_quota()
    assert len(script.requests) == 3


async def test_not_found_is_not_retried(clock: FakeClock) -> None:
    script = Script(error_response(404, "NotFound", "Resource not found.", "ModelNotFound"))
    async with client(script, clock) as c:
        with pytest.raises(ItemNotFound) as caught:
            await c.get_item(ItemKind.MODEL, "gone")
    assert len(script.requests) == 1 and clock.sleeps == []
    assert caught.value.inner_code == "ModelNotFound" and caught.value.item_id == "gone"


# -- start copy: at most once ----------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.WriteTimeout("stuck"),
        error_response(500, "InternalServerError", "An unexpected error occurred."),
        error_response(503, "ServiceUnavailable", "The service is unavailable."),
    ],
)
async def test_start_copy_is_not_resent_when_it_may_have_arrived(clock: FakeClock, failure: Any) -> None:
    script = Script(failure, COPY_ACCEPTED)
    async with client(script, clock) as c:
        with pytest.raises(CopyOutcomeUnknown) as caught:
            await c.start_copy(ItemKind.MODEL, "m1", authorization())
    assert len(script.requests) == 1
    assert caught.value.alias == "primary" and caught.value.item_id == "m1"
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("no route"),
        error_response(429, "429", "Rate limit is exceeded. Try again in 2 seconds.", **{"Retry-After": "2"}),
    ],
)
async def test_start_copy_is_retried_when_it_surely_did_not_arrive(clock: FakeClock, failure: Any) -> None:
    script = Script(failure, COPY_ACCEPTED)
    async with client(script, clock) as c:
        url = await c.start_copy(ItemKind.MODEL, "m1", authorization())
    assert url == f"{ENDPOINT}/documentintelligence/operations/op1?api-version=2024-11-30"
    assert len(script.requests) == 2


async def test_start_copy_sends_the_authorization_and_degrade_header(clock: FakeClock) -> None:
    script = Script(COPY_ACCEPTED)
    async with client(script, clock) as c:
        await c.start_copy(ItemKind.MODEL, "m1", authorization(), allow_degrade=True)
    sent = script.requests[0]
    assert sent.url.path == "/documentintelligence/documentModels/m1:copyTo"
    assert sent.headers["x-ms-forms-copy-degrade"] == "true"
    assert TOKEN.encode() in sent.content


async def test_reauthorizing_a_reserved_id_is_a_conflict(clock: FakeClock) -> None:
    script = Script(error_response(409, "Conflict", "Model id is reserved.", "ModelIdReserved"))
    async with client(script, clock) as c:
        with pytest.raises(Conflict) as caught:
            await c.authorize_copy(ItemKind.MODEL, "m1-copy")
    assert caught.value.status == 409 and caught.value.item_id == "m1-copy"


# -- checks before any request ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2.1", "2022-08-31", "2023-07-31", "2024-02-29-preview"])
async def test_classifier_copy_needs_2024_07_31_preview(clock: FakeClock, version: str) -> None:
    script = Script(httpx.Response(500))
    async with client(script, clock, api_version=version, resource_id="/x", region="y") as c:
        with pytest.raises(UnsupportedByApiVersion, match="2024-07-31-preview"):
            await c.authorize_copy(ItemKind.CLASSIFIER, "c1")
        with pytest.raises(UnsupportedByApiVersion, match="2024-07-31-preview"):
            await c.start_copy(ItemKind.CLASSIFIER, "c1", authorization())
    assert script.requests == []


async def test_classifiers_cannot_even_be_listed_before_2023_07_31(clock: FakeClock) -> None:
    script = Script(httpx.Response(500))
    async with client(script, clock, api_version="2022-08-31") as c:
        with pytest.raises(UnsupportedByApiVersion):
            await c.list_items(ItemKind.CLASSIFIER)
    assert script.requests == []


async def test_v21_target_needs_its_resource_id_and_region(clock: FakeClock) -> None:
    script = Script(httpx.Response(500))
    async with client(script, clock, api_version="v2.1") as c:
        assert c.api_version == "2.1"
        with pytest.raises(InvalidTargetResource, match="resource_id"):
            await c.authorize_copy(ItemKind.MODEL, "ignored")
    assert script.requests == []


def test_exactly_one_of_key_or_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        DocIntelClient("a", ENDPOINT)
    with pytest.raises(ValueError, match="exactly one"):
        DocIntelClient("a", ENDPOINT, key="k", credential=object())  # type: ignore[arg-type]


def test_unknown_api_version_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unsupported"):
        DocIntelClient("a", ENDPOINT, key="k", api_version="2099-01-01")


# -- urls ------------------------------------------------------------------------------------


async def test_pagination_follows_next_link_and_adds_the_api_version(clock: FakeClock) -> None:
    page1 = {"value": [MODEL], "nextLink": f"{ENDPOINT}/documentintelligence/documentModels?nextLink=abc"}
    page2 = {"value": [{**MODEL, "modelId": "m2"}]}
    script = Script(httpx.Response(200, json=page1), httpx.Response(200, json=page2))
    async with client(script, clock) as c:
        items = await c.list_items(ItemKind.MODEL)
    assert [i.id for i in items] == ["m1", "m2"]
    assert script.requests[1].url.params["nextLink"] == "abc"
    assert script.requests[1].url.params["api-version"] == "2024-11-30"


async def test_operation_urls_on_another_host_are_rebased_onto_the_endpoint(clock: FakeClock) -> None:
    body = {
        "operationId": "op1",
        "status": "running",
        "createdDateTime": "2024-01-01T00:00:00Z",
        "lastUpdatedDateTime": "2024-01-01T00:00:00Z",
        "kind": "documentModelCopyTo",
        "resourceLocation": "https://target/documentintelligence/documentModels/m1-copy",
    }
    script = Script(httpx.Response(200, json=body, headers={"Retry-After": "2"}))
    async with client(script, clock) as c:
        op = await c.get_operation(
            "https://elsewhere.example/documentintelligence/operations/op1?api-version=2024-11-30"
        )
    assert script.requests[0].url.host == "source.cognitiveservices.azure.com"
    assert op.retry_after == 2 and op.target_id == "m1-copy"


async def test_an_unreadable_reply_is_a_docintel_error(clock: FakeClock) -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"))
    async with client(script, clock) as c:
        with pytest.raises(DocIntelError, match="cannot read"):
            await c.get_quota()


# -- auth ------------------------------------------------------------------------------------


class Token:
    def __init__(self, token: str, expires_on: int) -> None:
        self.token = token
        self.expires_on = expires_on


class FakeCredential:
    """Implements azure-core's AsyncTokenCredential.get_token."""

    def __init__(self, lifetime: int = 3600, now: Callable[[], float] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lifetime = lifetime
        self.now = now or time.time

    async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.calls.append(scopes)
        return Token(f"bearer-{len(self.calls)}", int(self.now()) + self.lifetime)

    async def close(self) -> None:
        return None


async def test_key_auth_header(clock: FakeClock) -> None:
    script = Script(httpx.Response(200, json=MODEL))
    async with client(script, clock) as c:
        await c.get_item(ItemKind.MODEL, "m1")
    assert script.requests[0].headers["Ocp-Apim-Subscription-Key"] == KEY
    assert "Authorization" not in script.requests[0].headers


async def test_bearer_token_is_cached_and_renewed_after_a_401(clock: FakeClock) -> None:
    credential = FakeCredential()
    script = Script(
        httpx.Response(200, json=MODEL),
        httpx.Response(200, json=MODEL),
        error_response(401, "401", "Access denied due to invalid subscription key or wrong API endpoint."),
        httpx.Response(200, json=MODEL),
    )
    async with client(script, clock, key=None, credential=credential) as c:
        for _ in range(3):
            await c.get_item(ItemKind.MODEL, "m1")
    assert credential.calls == [("https://cognitiveservices.azure.com/.default",)] * 2
    assert [r.headers["Authorization"] for r in script.requests] == [
        "Bearer bearer-1",
        "Bearer bearer-1",
        "Bearer bearer-1",
        "Bearer bearer-2",
    ]
    assert all("Ocp-Apim-Subscription-Key" not in r.headers for r in script.requests)


async def test_a_second_401_is_unauthorized(clock: FakeClock) -> None:
    script = Script(
        error_response(401, "401", "Access denied due to invalid subscription key or wrong API endpoint.")
    )
    async with client(script, clock, key=None, credential=FakeCredential()) as c:
        with pytest.raises(Unauthorized, match="Cognitive Services User"):
            await c.get_item(ItemKind.MODEL, "m1")
    assert len(script.requests) == 2


async def test_token_refreshed_five_minutes_before_expiry() -> None:
    wall = [1_700_000_000.0]
    credential = FakeCredential(lifetime=3600, now=lambda: wall[0])
    auth = TokenAuth(credential, wall_clock=lambda: wall[0])  # type: ignore[arg-type]
    assert await auth.headers() == {"Authorization": "Bearer bearer-1"}
    wall[0] += 3600 - 301
    assert await auth.headers() == {"Authorization": "Bearer bearer-1"}
    wall[0] += 2
    assert await auth.headers() == {"Authorization": "Bearer bearer-2"}
    assert TOKEN not in repr(auth) and "bearer-" not in repr(auth)


# -- secrets ---------------------------------------------------------------------------------


async def test_secrets_echoed_by_the_service_are_redacted(clock: FakeClock) -> None:
    script = Script(error_response(400, "1002", f"Bad token {TOKEN} for key {KEY}", "InvalidParameter"))
    async with client(script, clock) as c:
        with pytest.raises(DocIntelError) as caught:
            await c.start_copy(ItemKind.MODEL, "m1", authorization())
    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert TOKEN not in text and KEY not in text


async def test_logs_one_debug_line_per_request_and_a_warning_per_retry(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="docintel_dr.docintel")
    script = Script(
        error_response(429, "429", "Rate limit is exceeded.", **{"Retry-After": "1"}), COPY_ACCEPTED
    )
    async with client(script, clock) as c:
        await c.start_copy(ItemKind.MODEL, "m1", authorization())
    records = [r for r in caplog.records if r.name == "docintel_dr.docintel"]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(debug) == 2 and "-> 429" in debug[0] and "-> 202" in debug[1]
    assert "req-42" in debug[0] and "attempt=1" in debug[0] and "attempt=2" in debug[1]
    assert "/documentintelligence/documentModels/m1:copyTo" in debug[1]
    assert len(warnings) == 1 and "retry 1/4" in warnings[0]
    everything = caplog.text
    assert KEY not in everything and TOKEN not in everything


def test_import_is_light() -> None:
    code = "import sys, shared.docintel; print(sorted(m for m in sys.modules if m.startswith('azure')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_a_credential_failure_is_unauthorized_naming_the_resource(clock: FakeClock) -> None:
    class Broken:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            raise RuntimeError("ManagedIdentityCredential: no identity assigned")

    script = Script(httpx.Response(200, json=MODEL))
    async with client(script, clock, key=None, credential=Broken()) as c:
        with pytest.raises(Unauthorized, match="Entra ID token") as caught:
            await c.get_item(ItemKind.MODEL, "m1")
    assert caught.value.alias == "primary" and "no identity assigned" in str(caught.value)
    assert script.requests == []
