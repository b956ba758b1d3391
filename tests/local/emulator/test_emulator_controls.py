"""Controls: faults, rate limits, outage, clock, request log, seeding and paging (in-process, via HTTP)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from emulator_testlib import DST_KEY, SRC_KEY, authorize, copy_to, get_item, params, poll, prefix

V = "2024-11-30"


async def ctl(client: httpx.AsyncClient, method: str, path: str, body=None) -> httpx.Response:
    r = await client.request(method, f"/_emulator/{path}", json=body)
    assert r.status_code in (200, 204), r.text
    return r


async def start_copy(pair, target_id="tgt") -> str:
    auth = (await authorize(pair.t, V, "model", target_id)).json()
    r = await copy_to(pair.s, V, "model", "src-model", auth)
    return r.headers["Operation-Location"]


async def test_health_and_config_roundtrip(pair):
    h = (await ctl(pair.s, "GET", "health")).json()
    assert h["region"] == "southcentralus" and h["resourceId"] == pair.src.resource_id
    cfg = (await ctl(pair.s, "PUT", "config", {"copyDurationSeconds": 7, "pageSize": 3, "cmk": True})).json()
    assert cfg["copyDurationSeconds"] == 7 and cfg["pageSize"] == 3 and cfg["cmk"] is True
    r = await pair.s.put("/_emulator/config", json={"nope": 1})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "fault,status,code",
    [
        ("rate500", 500, "InternalServerError"),
        ("rate503", 503, "ServiceUnavailable"),
        ("rate429", 429, "429"),
    ],
)
async def test_fault_profile(pair, fault, status, code):
    loc = await start_copy(pair)
    await ctl(pair.s, "PUT", "config", {"faults": {"status": {fault: 1.0, "retryAfterSeconds": 3}}})
    r = await pair.s.get(loc)
    assert r.status_code == status and r.json()["error"]["code"] == code
    if status == 429:
        assert r.headers["Retry-After"] == "3"
        assert r.json()["error"]["message"] == "Rate limit is exceeded. Try again in 3 seconds."
    # other route groups are untouched
    assert (await pair.s.get(f"{prefix(V)}/info", params=params(V))).status_code == 200
    await ctl(pair.s, "PUT", "config", {"faults": {}})
    assert (await pair.s.get(loc)).status_code == 200


async def test_dropped_connection_and_latency(pair):
    loc = await start_copy(pair)
    await ctl(pair.s, "PUT", "config", {"faults": {"status": {"rateDrop": 1.0}}})
    with pytest.raises(httpx.RemoteProtocolError):
        await pair.s.get(loc)
    await ctl(pair.s, "PUT", "config", {"faults": {"all": {"latencyMs": 150}}})
    t0 = time.monotonic()
    assert (await pair.s.get(loc)).status_code == 200
    assert time.monotonic() - t0 >= 0.14


async def test_faults_are_reproducible_with_a_seed(pair):
    loc = await start_copy(pair)

    async def run() -> list[int]:
        await ctl(pair.s, "PUT", "config", {"randomSeed": 42, "faults": {"status": {"rate500": 0.5}}})
        return [(await pair.s.get(loc)).status_code for _ in range(30)]

    first, second = await run(), await run()
    assert first == second and 500 in first and 200 in first


async def test_copy_failure_probability(pair):
    await ctl(pair.s, "PUT", "config", {"copyFailureRate": 1.0})
    body = await poll(pair.s, await start_copy(pair))
    assert body["status"] == "failed"


async def test_rate_limits_429_with_retry_after(pair):
    await ctl(pair.s, "PUT", "config", {"rateLimits": {"management": 5, "list": 10, "status": 50}})
    codes = [(await pair.s.get(f"{prefix(V)}/documentModels/src-model", params=params(V))) for _ in range(6)]
    assert [r.status_code for r in codes[:5]] == [200] * 5
    r = codes[5]
    assert r.status_code == 429 and r.json() == {
        "error": {"code": "429", "message": r.json()["error"]["message"]}
    }
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["message"].startswith("Rate limit is exceeded. Try again in ")
    # classes are separate buckets: list calls still pass
    assert (await pair.s.get(f"{prefix(V)}/documentModels", params=params(V))).status_code == 200
    await ctl(pair.s, "PUT", "config", {"rateLimits": "off"})
    assert all(
        [(await pair.s.get(f"{prefix(V)}/info", params=params(V))).status_code == 200 for _ in range(30)]
    )


async def test_default_rate_limits_are_s0(pair):
    from local.emulator import EmulatorState

    st = EmulatorState("eastus", "k")
    assert st.rate_limits == {"management": 5.0, "list": 10.0, "status": 50.0}


async def test_outage(pair):
    await ctl(pair.s, "POST", "outage", {"down": True})
    r = await pair.s.get(f"{prefix(V)}/info", params=params(V))
    assert r.status_code == 503 and r.json()["error"]["code"] == "ServiceUnavailable"
    assert (await ctl(pair.s, "GET", "health")).json()["down"] is True  # controls keep working
    await ctl(pair.s, "POST", "outage", {"down": True, "mode": "drop"})
    with pytest.raises(httpx.RemoteProtocolError):
        await pair.s.get(f"{prefix(V)}/info", params=params(V))
    await ctl(pair.s, "POST", "outage", {"down": False})
    assert (await pair.s.get(f"{prefix(V)}/info", params=params(V))).status_code == 200


async def test_clock_advance_expires_authorizations(pair):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    r = await ctl(pair.t, "POST", "clock", {"advanceSeconds": 24 * 3600})
    assert r.json()["offsetSeconds"] == 24 * 3600
    r = await copy_to(pair.s, V, "model", "src-model", auth)
    assert r.json()["error"]["innererror"]["code"] == "AuthorizationExpired"


async def test_request_log_has_no_secrets(pair):
    await ctl(pair.s, "DELETE", "requests")
    loc = await start_copy(pair)
    await poll(pair.s, loc)
    await pair.s.get(f"{prefix(V)}/info", params={**params(V), "subscription-key": SRC_KEY})
    log = (await ctl(pair.s, "GET", "requests")).json()
    assert [e["method"] for e in log][:1] == ["POST"]
    assert {"method", "path", "query", "status", "time"} <= set(log[0])
    assert (
        log[0]["path"] == "/documentintelligence/documentModels/src-model:copyTo" and log[0]["status"] == 202
    )
    token = pair.dst.auths[next(iter(pair.dst.auths))].token
    dump = json.dumps(log) + json.dumps((await ctl(pair.t, "GET", "requests")).json())
    for secret in (SRC_KEY, DST_KEY, token):
        assert secret not in dump
    await ctl(pair.s, "DELETE", "requests")
    assert (await ctl(pair.s, "GET", "requests")).json() == []


async def test_seed_1000_models_and_page_through_them(pair):
    models = [{"modelId": f"bulk-{i:04d}"} for i in range(1000)]
    t0 = time.monotonic()
    r = await ctl(pair.t, "POST", "seed", {"models": models})
    assert time.monotonic() - t0 < 2.0
    assert r.json()["models"] == 1000
    ids: list[str] = []
    url: str | None = f"{prefix(V)}/documentModels?api-version={V}"
    pages = 0
    while url:
        body = (await pair.t.get(url)).json()
        ids += [m["modelId"] for m in body["value"]]
        url = body.get("nextLink")
        if url:
            assert url.startswith(pair.dst.endpoint) and f"api-version={V}" in url
        pages += 1
    assert pages == 21 and len(ids) == 1002 and ids[:2] == ["prebuilt-layout", "prebuilt-read"]
    info = (await pair.t.get(f"{prefix(V)}/info", params=params(V))).json()
    assert info["customDocumentModels"]["count"] == 1000


async def test_v21_paging_and_bad_seed(pair):
    guids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(5)]
    pair.dst.seed({"models": [{"modelId": g, "apiVersion": "2.1"} for g in guids]})
    pair.dst.configure({"pageSize": 2})
    url: str | None = f"{prefix('v2.1')}/custom/models?op=full"
    seen = []
    while url:
        body = (await pair.t.get(url)).json()
        seen += [m["modelId"] for m in body["modelList"]]
        url = body["nextLink"] or None
    assert seen == guids
    r = await pair.t.post(
        "/_emulator/seed", json={"models": [{"modelId": "not-a-guid", "apiVersion": "2.1"}]}
    )
    assert r.status_code == 400


async def test_items_control(pair):
    items = (await ctl(pair.s, "GET", "items")).json()
    assert {m["modelId"] for m in items["models"]} == {"src-model", "src-neural", "src-composed"}
    assert len(items["v21Models"]) == 1 and len(items["classifiers"]) == 1


async def test_diverge_copies_makes_a_copy_differ_from_its_source(pair):
    """`divergeCopies` (a test control): a copy into the listed id gets a field its source lacks;
    other copies, and the source, stay as they were."""
    cfg = (await ctl(pair.t, "PUT", "config", {"divergeCopies": ["odd"]})).json()
    assert cfg["divergeCopies"] == ["odd"]
    for target_id in ("odd", "even"):
        body = await poll(pair.s, await start_copy(pair, target_id))
        assert body["status"] == "succeeded"
    source = (await get_item(pair.s, V, "model", "src-model")).json()
    odd = (await get_item(pair.t, V, "model", "odd")).json()
    even = (await get_item(pair.t, V, "model", "even")).json()
    assert even["docTypes"] == source["docTypes"] == {"invoice": source["docTypes"]["invoice"]}
    assert set(odd["docTypes"]["invoice"]["fieldSchema"]) == {"Total", "EmulatorDivergedField"}
    await ctl(pair.t, "PUT", "config", {"divergeCopies": []})
    r = await pair.t.put("/_emulator/config", json={"divergeCopies": [3]})
    assert r.status_code == 400
