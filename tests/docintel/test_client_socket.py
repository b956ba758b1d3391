"""DocIntelClient against real emulator processes over TCP: copies with real polling waits,
a dropped connection during copy, and the client-side rate limiter versus the service's limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from local.emulator.process import EmulatorHandle, run_emulator_process
from shared.docintel import (
    CopyOutcomeUnknown,
    DocIntelClient,
    ItemKind,
    OperationStatus,
    RateLimits,
    RetryPolicy,
    Throttled,
)
from tests.docintel.emulated import DST_KEY, NO_LIMITS, SRC_KEY, seed_for, source_id_for


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[EmulatorHandle, EmulatorHandle]]:
    with (
        run_emulator_process("southcentralus", SRC_KEY, copy_duration=0.5, rate_limits="off") as src,
        run_emulator_process("westus2", DST_KEY, copy_duration=0.5, rate_limits="off") as dst,
    ):
        src.register_peer(dst)
        dst.register_peer(src)
        src.seed(seed_for("2024-11-30"))
        src.seed(seed_for("2.1"))
        yield src, dst


@pytest.fixture(autouse=True)
def reset(pair: tuple[EmulatorHandle, EmulatorHandle]) -> None:
    for handle in pair:
        handle.configure(faults={}, rateLimits="off")
        handle.clear_requests()


def client(handle: EmulatorHandle, version: str, **kwargs: object) -> DocIntelClient:
    options: dict[str, object] = {
        "api_version": version,
        "rate_limits": NO_LIMITS,
        "resource_id": handle.resource_id,
        "region": handle.region,
        "timeout": 10.0,
    }
    options.update(kwargs)
    return DocIntelClient(handle.region, handle.endpoint, key=handle.key, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["2.1", "2022-08-31", "2024-11-30"])
async def test_copy_between_processes_polling_as_told(
    pair: tuple[EmulatorHandle, EmulatorHandle], version: str
) -> None:
    src, dst = pair
    async with client(src, version) as source, client(dst, version) as target:
        auth = await target.authorize_copy(ItemKind.MODEL, f"socket-{version.replace('.', '-')}")
        url = await source.start_copy(ItemKind.MODEL, source_id_for(version), auth)
        polls = 0
        while True:
            op = await source.get_operation(url)
            polls += 1
            if op.status.is_terminal:
                break
            await asyncio.sleep(min(op.retry_after or 0.2, 0.2))
        assert op.status is OperationStatus.SUCCEEDED and op.target_id == auth.target_id
        assert polls >= 2
        assert (await target.get_item(ItemKind.MODEL, auth.target_id)).ready


async def test_dropped_connection_during_copy_is_outcome_unknown(
    pair: tuple[EmulatorHandle, EmulatorHandle],
) -> None:
    src, dst = pair
    async with client(src, "2024-11-30") as source, client(dst, "2024-11-30") as target:
        auth = await target.authorize_copy(ItemKind.MODEL, "socket-dropped")
        src.configure(faults={"management": {"rateDrop": 1.0}})
        with pytest.raises(CopyOutcomeUnknown):
            await source.start_copy(ItemKind.MODEL, "invoice", auth)
    assert len([r for r in src.requests() if r["path"].endswith(":copyTo")]) == 1


async def test_client_rate_limiter_keeps_a_burst_under_the_service_limit(
    pair: tuple[EmulatorHandle, EmulatorHandle],
) -> None:
    src, _ = pair
    src.configure(rateLimits={"management": 20})
    async with client(src, "2024-11-30", retry=RetryPolicy(max_attempts=1)) as unpaced:
        results = await asyncio.gather(
            *(unpaced.get_item(ItemKind.MODEL, "invoice") for _ in range(40)), return_exceptions=True
        )
    assert any(isinstance(r, Throttled) for r in results), "without pacing the burst is throttled"

    await asyncio.sleep(1.5)  # let the service's bucket refill
    src.clear_requests()
    paced_limits = RateLimits(management_per_second=20)
    async with (
        client(src, "2024-11-30", rate_limits=paced_limits, retry=RetryPolicy(max_attempts=1)) as one,
        client(src, "2024-11-30", rate_limits=paced_limits, retry=RetryPolicy(max_attempts=1)) as two,
    ):
        # Two clients of the same endpoint share one limiter.
        await asyncio.gather(*(c.get_item(ItemKind.MODEL, "invoice") for c in [one, two] * 20))
    statuses = [r["status"] for r in src.requests()]
    assert statuses == [200] * 40
