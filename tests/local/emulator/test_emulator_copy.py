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
            r"/copyResults/[0-9a-f-]{36}",
            loc,
        )
    else:
        assert re.fullmatch(
            rf"{re.escape(source_endpoint)}{prefix(ver)}/operations/[0-9a-f-]{{36}}"
            rf"\?api-version={ver}",
            loc,
        )
        assert ("Retry-After" in r.headers) == ver.startswith("2024")
    body = await poll(s, loc)
    assert body["status"] == "succeeded", body
    # the target item is ready as soon as the operation reads succeeded
    r = await get_item(t, ver, kind, target_id)
    assert r.status_code == 200, r.text
    item = r.json()
    if ver == "v2.1":
        assert body["copyResult"] == {"modelId": target_id, "errors": []}
        assert item["modelInfo"]["status"] == "ready"
        assert item["modelInfo"]["modelName"] == "legacy"
    else:
        assert body["kind"] == ("documentModelCopyTo" if kind == "model" else "documentClassifierCopyTo")
        assert body["percentCompleted"] == 100
        assert body["resourceLocation"].endswith(f"/{target_id}")
        assert body["result"] == item
        assert item["description"] == "copied"
        if kind == "model":
            assert item["modelId"] == target_id and item["tags"] == {"dr": "yes"}
            assert item["docTypes"]["invoice"]["fieldSchema"] == {"Total": {"type": "number"}}
        else:
            assert item["classifierId"] == target_id and "formA" in item["docTypes"]
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


async def test_status_progression_and_lazy_transfer(pair):
    pair.src.configure({"copyDurationSeconds": 100})
    auth = (await authorize(pair.t, "2024-11-30", "model", "slow")).json()
    r = await copy_to(pair.s, "2024-11-30", "model", "src-model", auth)
    loc = r.headers["Operation-Location"]
    first = (await pair.s.get(loc)).json()
    assert first["status"] == "notStarted" and first["percentCompleted"] == 0
    pair.src.advance_clock(50)
    mid = await pair.s.get(loc)
    assert mid.json()["status"] == "running" and 40 <= mid.json()["percentCompleted"] <= 60
    assert mid.headers["Retry-After"] == "1"
    assert "slow" not in pair.dst.models
    pair.src.advance_clock(60)
    done = await pair.s.get(loc)
    assert done.json()["status"] == "succeeded" and "Retry-After" not in done.headers
    assert "slow" in pair.dst.models


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
