"""The runner's fault switches: a crash right after the function returned (the side effect happened,
the message comes back after visibilityTimeout until maxDequeueCount, then poison), duplicate
delivery, both reproducible from LOCAL_FAULT_SEED; and the host.json override setting."""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from local.runner.host import FaultSwitches, host_for_script, merge_host_json, run_host_in_thread
from tests.stack import eventually

APP = Path(__file__).with_name("runner_crash_app.py")
HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:10", "maxPollingInterval": "00:00:00.2"}
    },
}


def raw_messages(azurite: Any, name: str) -> list[str]:
    with QueueClient.from_connection_string(azurite.connection_string, name) as q:
        try:
            return [m.content for m in q.peek_messages(max_messages=32)]
        except Exception:
            return []


def test_every_invocation_crashing_after_it_returned_runs_max_dequeue_count_times_then_poison(
    azurite, tmp_path
):
    queue = f"crash-{int(time.time() * 1000) % 10_000_000}"
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "CRASH_QUEUE": queue,
        "LOCAL_CRASH_FRACTION": "1.0",
        "LOCAL_FAULT_SEED": "7",
        # The override setting shortens host.json's visibilityTimeout and maxDequeueCount.
        "LOCAL_HOST_JSON_OVERRIDE": json.dumps(
            {"extensions": {"queues": {"visibilityTimeout": "00:00:00.5", "maxDequeueCount": 3}}}
        ),
    }
    host = host_for_script(
        APP, settings, host_json=HOST_JSON, port=0, events_file=tmp_path / "e.jsonl", topic_settings=None
    )
    assert host.queue_options.max_dequeue_count == 3
    assert host.queue_options.visibility_timeout == 0.5
    assert host.queue_options.max_polling_interval == 0.2  # kept from host.json
    app = sys.modules["runner_crash_app"]
    body = json.dumps({"n": queue})
    encoded = base64.b64encode(body.encode()).decode()
    with run_host_in_thread(host):
        with QueueClient.from_connection_string(azurite.connection_string, queue) as q:
            with contextlib.suppress(ResourceExistsError):  # the host's listener may create it first
                q.create_queue()
            q.send_message(encoded)
        eventually(lambda: raw_messages(azurite, queue + "-poison") == [encoded], what="poison copy")
        mine = [c for c in app.calls if c["body"] == body]
        # The function ran (its side effect happened) each time; each run was then failed by the switch.
        assert [c["dequeue_count"] for c in mine] == [1, 2, 3]
        assert raw_messages(azurite, queue) == []
        records = [r for r in host.invocations if r.function == "counted"]
        assert [r.outcome for r in records] == ["Failed", "Failed", "Poisoned"]
        assert all("InjectedCrash" in (r.error or "") for r in records)
        assert host.faults.crashes == 3


def test_switches_are_off_by_default_and_reproducible_from_the_seed():
    off = FaultSwitches.from_settings({})
    assert not any(off.duplicate("m") or off.crash("m") for _ in range(100))
    assert (off.duplicates, off.crashes) == (0, 0)

    def draws(seed: str) -> tuple[list[bool], list[bool]]:
        sw = FaultSwitches.from_settings(
            {"LOCAL_DUPLICATE_FRACTION": "0.3", "LOCAL_CRASH_FRACTION": "0.2", "LOCAL_FAULT_SEED": seed}
        )
        # Interleaving must not matter: each switch has its own random stream.
        dup = [sw.duplicate("m") for _ in range(200)]
        crash = [sw.crash("m") for _ in range(200)]
        assert (sw.duplicates, sw.crashes) == (sum(dup), sum(crash))
        return dup, crash

    first, again, other = draws("42"), draws("42"), draws("43")
    assert first == again
    assert first != other
    assert 30 < sum(first[0]) < 90 and 15 < sum(first[1]) < 70


def test_host_json_override_merges_objects_and_replaces_values():
    base: dict[str, Any] = {
        "version": "2.0",
        "extensions": {"queues": {"batchSize": 16, "visibilityTimeout": "00:00:10"}},
    }
    merged = merge_host_json(base, {"extensions": {"queues": {"visibilityTimeout": "00:00:01"}}})
    assert merged["extensions"]["queues"] == {"batchSize": 16, "visibilityTimeout": "00:00:01"}
    assert base["extensions"]["queues"]["visibilityTimeout"] == "00:00:10"  # not mutated
