"""A fresh instance whose storage is down: its first request is a 503 problem the caller can retry,
not a bare 500, and the instance serves normally once storage is back, with no restart: HTTP and
the queue listeners, which keep trying to start."""

from __future__ import annotations

import httpx

from local.azurite import Azurite, run_azurite
from local.emulator.process import free_port
from local.runner.host import run_host_in_thread
from local.stack import Services, StackOptions, build_host
from tests.stack import eventually, unique


def test_the_first_request_while_storage_is_down_is_a_503_problem_and_the_host_recovers(emulators, tmp_path):
    ports = (free_port(), free_port(), free_port())
    not_yet_running = Azurite(*ports, pid=0)
    options = StackOptions(runner_port=0, events_file=tmp_path / "events.jsonl", settings_file=None)
    host = build_host(Services(not_yet_running, emulators), options)
    with run_host_in_thread(host):
        api = httpx.Client(base_url=host.api_url, headers={"x-functions-key": host.function_key}, timeout=30)

        first = api.get("/copies")

        assert first.status_code == 503
        assert first.headers["content-type"].startswith("application/problem+json")
        assert first.json()["status"] == 503
        assert "storage" in first.json()["detail"].lower()

        with run_azurite(ports=ports):
            recovered = eventually(
                lambda: (r := api.get("/copies")).status_code == 200 and r, what="a 200 once storage is up"
            )
            assert recovered.json() == {"jobs": []}

            model_id = unique("after-outage")
            emulators["primary"].seed({"models": [{"modelId": model_id}]})
            submitted = api.post("/copies", json={"sourceId": model_id, "targets": ["westus2"]})
            assert submitted.status_code == 202, submitted.text
            [job] = submitted.json()["jobs"]
            done = eventually(
                lambda: (r := api.get(f"/copies/{job['jobId']}")).status_code == 200 and r.json(),
                timeout=60,
                what="the copy finished through the queues",
            )
            assert done["status"] == "succeeded"
