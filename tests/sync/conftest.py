"""Sync tests get their own emulator processes (a source and two targets, empty), so that items
seeded by other tests into the session emulators neither take part in a sync nor get pruned."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from local.emulator.process import EmulatorHandle, run_emulator_process
from tests.conftest import KEYS, REGIONS
from tests.stack import PipelineStack, stack_settings, start_stack

# Fast copies, no service-side throttling, and client pacing high enough for hundreds of items.
COPY_SECONDS = 0.2
FAST_CLIENT = {
    f"DR_RESOURCES__{alias.upper()}__{limit}_PER_SECOND": "1000"
    for alias in KEYS
    for limit in ("MANAGEMENT", "LIST", "STATUS")
}


@pytest.fixture
def fresh() -> Iterator[dict[str, EmulatorHandle]]:
    with (
        run_emulator_process(REGIONS["primary"], KEYS["primary"], copy_duration=COPY_SECONDS,
                             rate_limits="off") as src,
        run_emulator_process(REGIONS["westus2"], KEYS["westus2"], copy_duration=COPY_SECONDS,
                             rate_limits="off") as west,
        run_emulator_process(REGIONS["northeurope"], KEYS["northeurope"], copy_duration=COPY_SECONDS,
                             rate_limits="off") as north,
    ):  # fmt: skip
        yield {"primary": src, "westus2": west, "northeurope": north}


def sync_settings(azurite, emulators, **extra: str):
    return stack_settings(
        azurite,
        emulators,
        DR_SYNC_MAX_JOBS_PER_RUN="2000",
        DR_POLL__FIRST_DELAY_SECONDS="0",
        DR_POLL__MIN_DELAY_SECONDS="0.2",
        DR_POLL__MAX_DELAY_SECONDS="1",
        **FAST_CLIENT,
        **extra,
    )


async def start_sync_stack(settings) -> PipelineStack:
    """The pipeline stack, taking the host's largest queue batch (32) so hundreds of jobs drain fast."""
    stack = await start_stack(settings)
    for trigger in stack.triggers.values():
        trigger.options = dataclasses.replace(trigger.options, batch_size=32, new_batch_threshold=16)
    return stack


@pytest.fixture
async def stack(azurite, fresh) -> AsyncIterator[PipelineStack]:
    stack = await start_sync_stack(sync_settings(azurite, fresh))
    yield stack
    await stack.aclose()
