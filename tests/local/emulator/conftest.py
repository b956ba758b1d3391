from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from emulator_testlib import DST_KEY, SRC_KEY, standard_seed

from local.emulator import EmulatorNetwork, EmulatorState


@dataclass
class Pair:
    net: EmulatorNetwork
    src: EmulatorState
    dst: EmulatorState
    s: httpx.AsyncClient  # client for the source (source key)
    t: httpx.AsyncClient  # client for the target (target key)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    net = EmulatorNetwork()
    src = net.add("southcentralus", SRC_KEY, copy_duration=0.2, rate_limits="off")
    dst = net.add("westus2", DST_KEY, copy_duration=0.2, rate_limits="off")
    src.seed(standard_seed())
    async with net.client(src) as s, net.client(dst) as t:
        yield Pair(net, src, dst, s, t)
    await net.aclose()
