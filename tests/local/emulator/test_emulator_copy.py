"""The full three-step copy: in-process (ASGI, no sockets) and between two real emulator processes."""

from __future__ import annotations

import re

import httpx
import pytest
from emulator_testlib import (
    ALL_VERSIONS,
    CLASSIFIER_COPY_VERSIONS,
    DST_KEY,
    SRC_KEY,
    V21_SOURCE_ID,
    authorize,
    copy_to,
    get_item,
    poll,
    prefix,
    standard_seed,
)

from local.emulator.process import run_emulator_process


async def three_step_copy(
    s: httpx.AsyncClient,
    t: httpx.AsyncClient,
    ver: str,
    kind: str,
    target_rid: str,
    target_region: str,
    source_endpoint: str,
) -> str:
    if ver == "v2.1":
        source_id, target_id = V21_SOURCE_ID, None
    else:
        source_id = "src-model" if kind == "model" else "src-classifier"
        target_id = f"copied-{kind}-{ver}"
    r = await authorize(t, ver, kind, target_id, description="copied", tags={"dr": "yes"})
    assert r.status_code == (201 if ver == "v2.1" else 200), r.text
    auth = r.json()
    if ver == "v2.1":
        target_id = auth["modelId"]
        assert r.headers["Location"].endswith(f"/formrecognizer/v2.1/custom/models/{target_id}")
    r = await copy_to(s, ver, kind, source_id, auth, target_rid, target_region)
    assert r.status_code == 202, r.text
    loc = r.headers["Operation-Location"]
    if ver == "v2.1":
        assert re.fullmatch(
            rf"{re.escape(source_endpoint)}/formrecognizer/v2\.1/custom/models/{source_id}"
            r"/copyresults/[0-9a-f-]{36}",
            loc,
        )
    else:
        # "<number>_<apim-request-id of the 202>", as the service names its operations
        op_id = f"[0-9]+_{r.headers['apim-request-id']}"
        assert re.fullmatch(
            rf"{re.escape(source_endpoint)}{prefix(ver)}/operations/{op_id}\?api-version={ver}", loc
        )
    assert "Retry-After" not in r.headers
    body = await poll(s, loc)
    assert body["status"] == "succeeded", body
    # the target item is ready as soon as the operation reads succeeded
    r = await get_item(t, ver, kind, target_id)
    assert r.status_code == 200, r.text
    item = r.json()
    if ver == "v2.1":
        assert body["copyResult"] == {"modelId": target_id}
        assert item["modelInfo"]["status"] == "ready"
        assert item["modelInfo"]["modelName"] == "legacy"
    else:
        assert body["kind"] == ("documentModelCopyTo" if kind == "model" else "documentClassifierCopyTo")
        assert body["percentCompleted"] == 100
        assert body["resourceLocation"].endswith(f"/{target_id}?api-version={ver}")
        assert body["result"] == item
        assert item["description"] == "copied"
        if kind == "model":
            assert item["modelId"] == target_id and item["tags"] == {"dr": "yes"}
            assert item["docTypes"]["invoice"]["fieldSchema"] == {"Total": {"type": "number"}}
        else:
            # a copied classifier has no tags, whatever the authorization said
            assert item["classifierId"] == target_id and "formA" in item["docTypes"]
            assert "tags" not in item
    assert target_id is not None
    return target_id


@pytest.mark.parametrize("ver", ALL_VERSIONS)
async def test_model_copy_in_process(pair, ver):
    await three_step_copy(pair.s, pair.t, ver, "model", pair.dst.resource_id, "westus2", pair.src.endpoint)


@pytest.mark.parametrize("ver", CLASSIFIER_COPY_VERSIONS)
async def test_classifier_copy_in_process(pair, ver):
    await three_step_copy(
        pair.s, pair.t, ver, "classifier", pair.dst.resource_id, "westus2", pair.src.endpoint
    )


def timing(state, op_url: str) -> dict:
    """The emulator's own record of the operation behind ``op_url``."""
    return next(t for t in state.operations.timings() if op_url.split("?")[0].endswith(t["id"]))


async def test_a_copy_waits_then_runs_then_succeeds_without_progress_or_retry_after(pair):
    auth = (await authorize(pair.t, "2024-11-30", "model", "slow")).json()
    r = await copy_to(pair.s, "2024-11-30", "model", "src-model", auth)
    loc = r.headers["Operation-Location"]
    first = await pair.s.get(loc)
    assert first.json()["status"] == "notStarted"
    assert "percentCompleted" not in first.json() and "Retry-After" not in first.headers
    t = timing(pair.src, loc)
    pair.src.advance_clock(t["runningAt"] - pair.src.now() + 0.01)
    mid = await pair.s.get(loc)
    assert mid.json()["status"] == "running"
    assert "percentCompleted" not in mid.json() and "Retry-After" not in mid.headers
    assert "slow" not in pair.dst.models
    pair.src.advance_clock(t["terminalAt"] - pair.src.now() + 0.01)
    done = await pair.s.get(loc)
    assert done.json()["status"] == "succeeded" and done.json()["percentCompleted"] == 100
    assert "slow" in pair.dst.models  # the transfer happens before the first reply that says succeeded


async def test_progress_and_poll_retry_after_are_opt_in(pair):
    pair.src.configure({"progress": True, "pollRetryAfterSeconds": 2, "copyDurationSeconds": 100})
    auth = (await authorize(pair.t, "2024-11-30", "model", "slow")).json()
    loc = (await copy_to(pair.s, "2024-11-30", "model", "src-model", auth)).headers["Operation-Location"]
    first = await pair.s.get(loc)
    assert first.json()["percentCompleted"] == 0 and first.headers["Retry-After"] == "2"
    pair.src.advance_clock(timing(pair.src, loc)["durationSeconds"] / 2)
    assert 40 <= (await pair.s.get(loc)).json()["percentCompleted"] <= 60


def test_copy_durations_differ_per_item_and_repeat_within_15_percent():
    from local.emulator import EmulatorState

    ops = EmulatorState("eastus", "k").operations
    items = [f"m{i}" for i in range(8)]
    bases = [ops.base_duration("model", i) for i in items]
    assert all(1 <= b <= 6 for b in bases)  # default: as copies of small models took, 1-6 s
    assert len({round(b, 3) for b in bases}) == len(items)
    again = [ops.duration("model", "m0") for _ in range(20)]
    assert all(abs(d / bases[0] - 1) <= 0.15 + 1e-9 for d in again) and len(set(again)) > 1
    ops.resource.copy_durations = (20, 60)
    assert all(20 <= ops.base_duration("model", i) <= 60 for i in items)
    ops.resource.copy_duration = 10  # copy_duration: the same base for every item
    assert {ops.base_duration("model", i) for i in items} == {10}
    assert all(8.5 <= ops.duration("model", i) <= 11.5 for i in items)


async def test_copy_durations_are_configurable_over_http(pair):
    cfg = (await pair.s.put("/_emulator/config", json={"copyDurations": [2, 60]})).json()
    assert cfg["copyDurations"] == [2, 60] and cfg["copyDurationSeconds"] is None
    cfg = (await pair.s.put("/_emulator/config", json={"copyDurationSeconds": 4})).json()
    assert cfg["copyDurationSeconds"] == 4


def test_copy_durations_are_reproducible_with_the_random_seed():
    from local.emulator import EmulatorState

    def durations(seed: int) -> list[float]:
        ops = EmulatorState("eastus", "k", random_seed=seed).operations
        return [ops.duration("model", f"m{i % 3}") for i in range(6)]

    assert durations(1) == durations(1) != durations(2)


async def test_composed_model_keeps_component_ids(pair):
    auth = (await authorize(pair.t, "2024-11-30", "model", "composed-copy")).json()
    r = await copy_to(pair.s, "2024-11-30", "model", "src-composed", auth)
    assert (await poll(pair.s, r.headers["Operation-Location"]))["status"] == "succeeded"
    dts = pair.dst.models["composed-copy"]["docTypes"]
    assert dts["a"]["modelId"] == "src-model" and dts["b"]["modelId"] == "src-neural"


@pytest.fixture(scope="module")
def processes():
    with (
        run_emulator_process(
            "southcentralus", SRC_KEY, seed=standard_seed(), copy_duration=0.3, rate_limits="off"
        ) as src,
        run_emulator_process("westus2", DST_KEY, copy_duration=0.3, rate_limits="off") as dst,
    ):
        src.register_peer(dst)
        yield src, dst


@pytest.mark.parametrize("ver", ALL_VERSIONS)
async def test_model_copy_between_processes(processes, ver):
    src, dst = processes
    async with (
        httpx.AsyncClient(base_url=src.endpoint, headers={"Ocp-Apim-Subscription-Key": src.key}) as s,
        httpx.AsyncClient(base_url=dst.endpoint, headers={"Ocp-Apim-Subscription-Key": dst.key}) as t,
    ):
        await three_step_copy(s, t, ver, "model", dst.resource_id, "westus2", src.endpoint)


@pytest.mark.parametrize("ver", CLASSIFIER_COPY_VERSIONS)
async def test_classifier_copy_between_processes(processes, ver):
    src, dst = processes
    async with (
        httpx.AsyncClient(base_url=src.endpoint, headers={"Ocp-Apim-Subscription-Key": src.key}) as s,
        httpx.AsyncClient(base_url=dst.endpoint, headers={"Ocp-Apim-Subscription-Key": dst.key}) as t,
    ):
        await three_step_copy(s, t, ver, "classifier", dst.resource_id, "westus2", src.endpoint)
