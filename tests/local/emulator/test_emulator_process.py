"""The emulator as a real process: CLI, controls over HTTP, sockets, and no orphan left behind."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from emulator_testlib import SRC_KEY, standard_seed

from local.emulator.process import run_emulator_process

V = "2024-11-30"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_process_lifecycle_controls_and_faults(tmp_path):
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(standard_seed()))
    with run_emulator_process("southcentralus", SRC_KEY, seed=str(seed_file), model_limit=7) as h:
        assert h.endpoint.startswith("http://127.0.0.1:") and alive(h.pid)
        assert h.health()["region"] == "southcentralus"
        c = httpx.Client(base_url=h.endpoint, headers={"Ocp-Apim-Subscription-Key": h.key})
        info = c.get("/documentintelligence/info", params={"api-version": V})
        assert info.json()["customDocumentModels"] == {"count": 4, "limit": 7}
        # default S0 limits: the 11th list call within a second is throttled
        codes = [
            c.get("/documentintelligence/info", params={"api-version": V}).status_code for _ in range(15)
        ]
        assert 429 in codes
        h.configure(rateLimits="off", faults={"list": {"rateDrop": 1.0}})
        with pytest.raises(httpx.TransportError):
            c.get("/documentintelligence/info", params={"api-version": V})
        h.configure(faults={})
        h.outage(True)
        assert c.get("/documentintelligence/info", params={"api-version": V}).status_code == 503
        h.outage(False)
        assert h.advance_clock(60)["offsetSeconds"] == 60
        assert any(e["status"] == 503 for e in h.requests())
        h.clear_requests()
        assert h.requests() == []
        assert h.seed({"models": [{"modelId": "more"}]})["models"] == 1
        assert "more" in {m["modelId"] for m in h.items()["models"]}
        c.close()
        pid = h.pid
    assert not alive(pid)


def test_process_is_terminated_when_the_body_raises():
    pid = None
    with pytest.raises(RuntimeError, match="boom"), run_emulator_process("westus2", "k") as h:
        pid = h.pid
        raise RuntimeError("boom")
    assert pid is not None and not alive(pid)


def test_cli_main_rejects_bad_arguments():
    from local.emulator.cli import main

    with pytest.raises(SystemExit):
        main(["--region", "westus2"])


def test_process_options_for_the_service_s_behaviour_and_the_opt_in_conveniences():
    with run_emulator_process(
        "eastus",
        SRC_KEY,
        seed=standard_seed(),
        copy_durations=(2, 3),
        authorization_lifetime=7200,
        progress=True,
        poll_retry_after=1,
    ) as h:
        cfg = h.config()
        assert cfg["copyDurations"] == [2, 3] and cfg["copyDurationSeconds"] is None
        assert cfg["authorizationLifetimeSeconds"] == 7200
        assert cfg["progress"] is True and cfg["pollRetryAfterSeconds"] == 1
        with httpx.Client(base_url=h.endpoint, headers={"Ocp-Apim-Subscription-Key": h.key}) as c:
            r = c.get("/documentintelligence/info", params={"api-version": V})
        assert r.headers["x-ms-region"] == "East US"
        assert len(r.headers.get_list("date")) == 1 and "server" not in r.headers
