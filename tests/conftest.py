"""Session-wide stand-ins: Azurite and three emulated Document Intelligence resources."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from local.azurite import Azurite, run_azurite
from local.emulator.process import EmulatorHandle, run_emulator_process
from tests.stack import PipelineStack, stack_settings, start_stack

KEYS = {"primary": "src-key-7f3a9c", "westus2": "tgt-key-west-51be", "northeurope": "tgt-key-north-88d0"}
REGIONS = {"primary": "southcentralus", "westus2": "westus2", "northeurope": "northeurope"}


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with run_azurite() as handle:
        yield handle


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, EmulatorHandle]]:
    """A source and two targets, each its own process, with copies that take about a second."""
    with (
        run_emulator_process(
            REGIONS["primary"], KEYS["primary"], copy_duration=1.0, rate_limits="off"
        ) as src,
        run_emulator_process(
            REGIONS["westus2"], KEYS["westus2"], copy_duration=1.0, rate_limits="off"
        ) as west,
        run_emulator_process(
            REGIONS["northeurope"], KEYS["northeurope"], copy_duration=1.0, rate_limits="off"
        ) as north,
    ):
        yield {"primary": src, "westus2": west, "northeurope": north}


@pytest.fixture
async def stack(azurite, emulators) -> AsyncIterator[PipelineStack]:
    """The real pipeline over the session's Azurite and emulators, with its own tables."""
    stack = await start_stack(stack_settings(azurite, emulators))
    yield stack
    await stack.aclose()
