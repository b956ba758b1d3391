"""Stand-ins for every test: Azurite and emulated Document Intelligence resources (three for the
session, three fresh ones for a sync), and the pipeline stack over them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
from azure.data.tables.aio import TableClient

from local.azurite import Azurite, run_azurite
from local.emulator.process import EmulatorHandle, run_emulator_process
from tests.stack import (
    COPY_SECONDS,
    KEYS,
    REGIONS,
    PipelineStack,
    stack_settings,
    start_stack,
    start_sync_stack,
    sync_settings,
)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with run_azurite() as handle:
        yield handle


_table_names = itertools.count(1)


@pytest.fixture
async def state_table(azurite: Azurite) -> AsyncIterator[TableClient]:
    """A fresh table in Azurite, as the app's stores use one."""
    table = TableClient.from_connection_string(azurite.connection_string, f"state{next(_table_names)}t")
    await table.create_table()
    yield table
    await table.delete_table()
    await table.close()


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


# --- sync tests get their own emulator processes (a source and two targets, empty), so that items
# seeded by other tests into the session emulators neither take part in a sync nor get pruned.


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


@pytest.fixture
async def sync_stack(azurite, fresh) -> AsyncIterator[PipelineStack]:
    stack = await start_sync_stack(sync_settings(azurite, fresh))
    yield stack
    await stack.aclose()
