"""Figure 1: completion latency and request economy of one copy, the app vs the official SDK.

For copy durations of 2, 10 and 30 s (emulator setting, plus a seeded random fraction of a second),
copies go through the full local stack (HTTP -> copy-requests -> copyTo -> copy-polls chain ->
completion event) with the app's production poll policy. Latency is the time from the moment the
operation turns terminal at the source (the emulator's own record: created + duration) to the
completion event (its `time`, stamped as the job is finalized, just before publishing). Requests are
the GET-operation calls the source received for that copy (its request log).

Baseline, same run, same emulators: `azure-ai-documentintelligence` 1.0.2,
`begin_copy_model_to(...).result()` (default polling: 1 s or the service's Retry-After); latency from
terminal to `result()` returning.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local.stack import StackOptions, run_local_stack

DURATIONS = (2, 10, 30)
WAVES = 3
PER_WAVE = 4  # 12 copies per duration and per client
TARGET = "westus2"
# Each copy takes the duration plus a uniform [0, 1) s (seeded), so that neither client's polling is
# aligned with completion by accident (the emulator would otherwise finish exactly on the SDK's 1 s grid).
JITTER = 1.0
# The app's production poll policy (shared/settings.py defaults), not the demo's short one.
PRODUCTION_POLL = {
    "DR_POLL__FIRST_DELAY_SECONDS": "1",
    "DR_POLL__MIN_DELAY_SECONDS": "1",
    "DR_POLL__MAX_DELAY_SECONDS": "30",
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _operation_reads(requests: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        if r["method"] == "GET" and "/operations/" in r["path"]:
            op_id = r["path"].rsplit("/", 1)[-1]
            counts[op_id] = counts.get(op_id, 0) + 1
    return counts


def _operations(emulator: Any) -> dict[str, dict[str, Any]]:
    """Copy operations at the source by target id."""
    return {op["targetId"]: op for op in emulator.items()["operations"]}


def _app_wave(client: httpx.Client, stack: Any, ids: list[str], timeout: float) -> dict[str, float]:
    """Copy `ids` through the app; the completion event time of each, by item id."""
    job_of = {}
    for item_id in ids:
        r = client.post("/copies", json={"kind": "model", "sourceId": item_id, "targets": [TARGET]})
        r.raise_for_status()
        job_of[r.json()["jobs"][0]["jobId"]] = item_id
    deadline = time.monotonic() + timeout
    done: dict[str, float] = {}
    while len(done) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"app copies did not finish: {sorted(set(ids) - set(done))}")
        for event in stack.events():
            job_id = event["data"]["jobId"]
            if job_id in job_of and event["type"] == "docintel-dr.copy.succeeded":
                done[job_of[job_id]] = datetime.fromisoformat(
                    event["time"].replace("Z", "+00:00")
                ).timestamp()
        time.sleep(0.05)
    return done


def _sdk_copy(source: Any, target: Any, item_id: str) -> float:
    from azure.ai.documentintelligence import DocumentIntelligenceAdministrationClient
    from azure.ai.documentintelligence.models import AuthorizeCopyRequest
    from azure.core.credentials import AzureKeyCredential

    with (
        DocumentIntelligenceAdministrationClient(target.endpoint, AzureKeyCredential(target.key)) as tgt,
        DocumentIntelligenceAdministrationClient(source.endpoint, AzureKeyCredential(source.key)) as src,
    ):
        authorization = tgt.authorize_model_copy(AuthorizeCopyRequest(model_id=item_id))
        src.begin_copy_model_to(item_id, authorization).result()
        return time.time()


def _measure(
    durations_by_id: dict[str, float], ops: dict[str, dict[str, Any]], reads: dict[str, int]
) -> dict:
    latencies = [durations_by_id[i] - ops[i]["terminalAt"] for i in durations_by_id]
    requests = [reads.get(ops[i]["id"], 0) for i in durations_by_id]
    return {
        "median": statistics.median(latencies),
        "p95": _percentile(latencies, 0.95),
        "requests": statistics.mean(requests),
        "n": len(latencies),
    }


def measure() -> dict[int, dict[str, dict[str, float]]]:
    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        options = StackOptions(
            runner_port=0,
            emulator_ports=(0, 0),
            targets=(TARGET,),
            rate_limits="off",
            seed=None,
            events_file=Path(tmp) / "events.jsonl",
            settings_file=None,
            extra_settings=PRODUCTION_POLL,
        )
        with run_local_stack(options) as stack:
            source, target = stack.emulators["primary"], stack.emulators[TARGET]
            client = httpx.Client(
                base_url=stack.api_url, headers={"x-functions-key": stack.function_key}, timeout=30
            )
            for duration in DURATIONS:
                source.configure(
                    copyDurationSeconds=duration, copyDurationJitterSeconds=JITTER, randomSeed=duration
                )
                app_ids = [f"app-{duration}s-{i}" for i in range(WAVES * PER_WAVE)]
                sdk_ids = [f"sdk-{duration}s-{i}" for i in range(WAVES * PER_WAVE)]
                source.seed({"models": [{"modelId": i} for i in app_ids + sdk_ids]})
                source.clear_requests()
                app_done: dict[str, float] = {}
                sdk_done: dict[str, float] = {}
                # Each wave runs the app's copies and the SDK's side by side (same emulators, same time).
                with ThreadPoolExecutor(PER_WAVE + 1) as pool:
                    for w in range(WAVES):
                        app_wave = app_ids[w * PER_WAVE : (w + 1) * PER_WAVE]
                        sdk_wave = sdk_ids[w * PER_WAVE : (w + 1) * PER_WAVE]
                        app_future = pool.submit(_app_wave, client, stack, app_wave, duration * 3 + 60)
                        sdk_futures = {i: pool.submit(_sdk_copy, source, target, i) for i in sdk_wave}
                        app_done.update(app_future.result())
                        sdk_done.update({i: f.result() for i, f in sdk_futures.items()})
                ops = _operations(source)
                reads = _operation_reads(source.requests())
                results[duration] = {
                    "app": _measure(app_done, ops, reads),
                    "sdk": _measure(sdk_done, ops, reads),
                }
            client.close()
    return results


def run() -> list[dict[str, Any]]:
    figures = []
    for duration, r in measure().items():
        app, sdk = r["app"], r["sdk"]
        how = (
            f"{app['n']} copies of {duration} s each way, {WAVES} waves of {PER_WAVE}, full local stack "
            f"with the production poll policy; baseline azure-ai-documentintelligence 1.0.2 result()"
        )
        figures += [
            {
                "name": f"copy_latency.{duration}s.median",
                "value": round(app["median"], 2),
                "unit": "s",
                "baseline": round(sdk["median"], 2),
                "target": "<= baseline + 1",
                "how": how,
            },
            {
                "name": f"copy_latency.{duration}s.p95",
                "value": round(app["p95"], 2),
                "unit": "s",
                "baseline": round(sdk["p95"], 2),
                "how": how,
            },
            {
                "name": f"copy_requests.{duration}s.status_reads_per_copy",
                "value": round(app["requests"], 1),
                "unit": "GETs",
                "baseline": round(sdk["requests"], 1),
                "target": "<= baseline / 3" if duration == 30 else None,
                "how": how,
            },
        ]
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
