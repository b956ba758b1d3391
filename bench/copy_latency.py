"""Figure 1: completion latency and status reads of a copy, the app vs the official SDK, on the emulator
as the real service behaves (its defaults): no `percentCompleted` before a copy succeeds, no
`Retry-After` on polls, one-hour authorizations, S0 rate limits.

ITEMS source models, each with its own copy duration drawn by the emulator (seeded, uniformly between
2 and 60 s: `copyDurations`), each copy of the same item within +-15 % of that item's base. Every item
is copied ROUNDS times by each client, to a new target id every round, so that from the second round
on the app can aim its status reads from the item's earlier copies (the first round is a first copy:
no history of the item, only what other items between the same two resources took).

* The app: the full local stack (`POST /api/copies` with a `targetId` -> copy-requests -> copyTo ->
  copy-polls chain -> verify the target item -> completion event), production poll policy.
* The baseline, same run, same emulators, same items: `azure-ai-documentintelligence` 1.0.2,
  `authorize_model_copy` + `begin_copy_model_to(...).result()` at its default polling (1 s: the
  service sends no Retry-After), one thread per copy.

In each round the items are submitted in a shuffled order, one item every STAGGER seconds, the app's
copy and the SDK's side by side, so that the source's management budget (copyTo, the app's read of
the source item) and the target's (two authorizations, the app's verifying read) stay under S0's 5/s.
A round ends when every copy of it has ended.

Latency of a copy: from the moment its operation turned terminal at the source (the emulator's own
record, `terminalAt`, same machine clock) to the `time` of the app's completion event (stamped as
the job is finalized, just before publishing) / to `result()` returning. Status reads of a copy: the
GETs of its operation that the source received (its request log).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local.stack import StackOptions, run_local_stack

ITEMS = 24
ROUNDS = 3
DURATIONS = (2.0, 60.0)  # range of the per-item base durations (emulator `copyDurations`)
ORDER_SEED = 17  # the submission order of each round (which item takes how long: the emulator's
# default random seed)
STAGGER = 0.8  # seconds between one item's submissions and the next's
TARGET = "westus2"
MEDIAN_MARGIN = 0.5  # target: the app's median within this of the SDK's
READS_FRACTION = 1 / 3  # target: the app's status reads per copy at most this fraction of the SDK's
# The app's production poll policy (shared/settings.py defaults), not the local stack's short one.
PRODUCTION_POLL = {
    "DR_POLL__FIRST_DELAY_SECONDS": "1",
    "DR_POLL__MIN_DELAY_SECONDS": "1",
    "DR_POLL__MAX_DELAY_SECONDS": "30",
}
SUCCEEDED = "docintel-dr.copy.succeeded"
FAILED = "docintel-dr.copy.failed"
SDK = "azure-ai-documentintelligence 1.0.2 result()"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _status_reads(requests: list[dict[str, Any]]) -> dict[str, int]:
    """GETs of each copy operation at the source, by operation id."""
    counts: dict[str, int] = {}
    for r in requests:
        if r["method"] == "GET" and "/operations/" in r["path"]:
            op_id = r["path"].rsplit("/", 1)[-1]
            counts[op_id] = counts.get(op_id, 0) + 1
    return counts


def _sdk_copy(source: Any, target: Any, item_id: str, target_id: str) -> float:
    """One copy by the official SDK at its defaults; when `result()` returned."""
    from azure.ai.documentintelligence import DocumentIntelligenceAdministrationClient
    from azure.ai.documentintelligence.models import AuthorizeCopyRequest
    from azure.core.credentials import AzureKeyCredential

    with (
        DocumentIntelligenceAdministrationClient(target.endpoint, AzureKeyCredential(target.key)) as tgt,
        DocumentIntelligenceAdministrationClient(source.endpoint, AzureKeyCredential(source.key)) as src,
    ):
        authorization = tgt.authorize_model_copy(AuthorizeCopyRequest(model_id=target_id))
        model = src.begin_copy_model_to(item_id, authorization).result()
        done = time.time()
    if model.model_id != target_id:
        raise RuntimeError(f"SDK copy of {item_id} returned {model.model_id}")
    return done


def _app_events(stack: Any, jobs: dict[str, str], timeout: float) -> dict[str, float]:
    """Wait for the completion events of `jobs` (job id -> target id); event time by target id."""
    deadline = time.monotonic() + timeout
    done: dict[str, float] = {}
    while len(done) < len(jobs):
        if time.monotonic() > deadline:
            missing = sorted(t for j, t in jobs.items() if t not in done)
            raise TimeoutError(f"app copies did not finish: {missing}")
        for event in stack.events():
            target_id = jobs.get(event.get("data", {}).get("jobId"))
            if target_id is None:
                continue
            if event["type"] == FAILED:
                raise RuntimeError(f"app copy to {target_id} failed: {event['data']}")
            if event["type"] == SUCCEEDED:
                done[target_id] = _ts(event["time"])
        time.sleep(0.05)
    return done


def _round(
    stack: Any, client: httpx.Client, pool: ThreadPoolExecutor, items: list[str], rnd: int
) -> tuple[dict[str, float], dict[str, float]]:
    """One round: every item copied once by each client. (app, sdk) end times by target id."""
    source, target = stack.emulators["primary"], stack.emulators[TARGET]
    order = list(items)
    random.Random(ORDER_SEED * 1000 + rnd).shuffle(order)
    jobs: dict[str, str] = {}
    sdk: dict[str, Future[float]] = {}
    started = time.monotonic()
    for k, item in enumerate(order):
        app_target, sdk_target = f"{item}-app-{rnd}", f"{item}-sdk-{rnd}"
        sdk[sdk_target] = pool.submit(_sdk_copy, source, target, item, sdk_target)
        r = client.post(
            "/copies", json={"kind": "model", "sourceId": item, "targetId": app_target, "targets": [TARGET]}
        )
        r.raise_for_status()
        jobs[r.json()["jobs"][0]["jobId"]] = app_target
        time.sleep(max(0.0, started + (k + 1) * STAGGER - time.monotonic()))
    app = _app_events(stack, jobs, timeout=DURATIONS[1] * 1.15 * 3 + 120)
    return app, {t: f.result() for t, f in sdk.items()}


def _summary(latencies: list[float], reads: list[int]) -> dict[str, float]:
    return {
        "median": statistics.median(latencies),
        "p95": _percentile(latencies, 0.95),
        "reads": statistics.mean(reads),
        "n": len(latencies),
    }


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        options = StackOptions(
            runner_port=0,
            emulator_ports=(0, 0),
            targets=(TARGET,),
            rate_limits="default",
            seed=None,
            copy_duration=None,
            events_file=Path(tmp) / "events.jsonl",
            settings_file=None,
            extra_settings=PRODUCTION_POLL,
        )
        with run_local_stack(options) as stack:
            source = stack.emulators["primary"]
            source.configure(copyDurations=list(DURATIONS))
            items = [f"latency-{i:02d}" for i in range(ITEMS)]
            source.seed({"models": [{"modelId": i} for i in items]})
            for e in stack.emulators.values():
                e.clear_requests()
            ended: dict[str, float] = {}
            with (
                httpx.Client(
                    base_url=stack.api_url, headers={"x-functions-key": stack.function_key}, timeout=60
                ) as client,
                ThreadPoolExecutor(ITEMS) as pool,
            ):
                for rnd in range(ROUNDS):
                    app, sdk = _round(stack, client, pool, items, rnd)
                    ended.update(app)
                    ended.update(sdk)
            ops = {op["targetId"]: op for op in source.items()["operations"]}
            reads = _status_reads(source.requests())
            throttled = {
                alias: sum(1 for r in e.requests() if r["status"] == 429)
                for alias, e in stack.emulators.items()
            }
    return _results(ended, ops, reads, throttled)


def _results(
    ended: dict[str, float], ops: dict[str, dict[str, Any]], reads: dict[str, int], throttled: dict[str, int]
) -> dict[str, Any]:
    out: dict[str, Any] = {"throttled": throttled}
    for who in ("app", "sdk"):
        copies = sorted(t for t in ended if t.rsplit("-", 2)[-2] == who)
        latency = {t: ended[t] - ops[t]["terminalAt"] for t in copies}
        count = {t: reads.get(ops[t]["id"], 0) for t in copies}
        out[who] = _summary(list(latency.values()), list(count.values()))
        out[who]["rounds"] = [
            _summary(
                [latency[t] for t in copies if t.endswith(f"-{rnd}")],
                [count[t] for t in copies if t.endswith(f"-{rnd}")],
            )
            for rnd in range(ROUNDS)
        ]
    durations = [op["durationSeconds"] for op in ops.values()]
    out["durations"] = (min(durations), statistics.median(durations), max(durations))
    return out


def _rounds(r: dict[str, Any]) -> str:
    return ", ".join(
        f"round {i + 1}: {s['median']:.2f} s / {s['p95']:.2f} s, {s['reads']:.1f} reads"
        for i, s in enumerate(r["rounds"])
    )


def run() -> list[dict[str, Any]]:
    r = measure()
    app, sdk = r["app"], r["sdk"]
    low, mid, high = r["durations"]
    how = (
        f"{ITEMS} models with per-item copy durations ({low:.1f}-{high:.1f} s, median {mid:.1f} s; "
        f"emulator copyDurations {DURATIONS[0]:g}-{DURATIONS[1]:g}, +-15 % per copy), each copied "
        f"{ROUNDS} times by each client to new target ids, submitted every {STAGGER:g} s side by side "
        f"under S0 rate limits (429s: {r['throttled']}); emulator defaults (no progress, no Retry-After); "
        f"app: full local stack, production poll policy, terminalAt -> completion event time "
        f"({_rounds(app)}); SDK: {SDK} at 1 s polling, terminalAt -> result() returned ({_rounds(sdk)})"
    )
    return [
        {
            "name": "faithful.copy_latency.median_s",
            "value": round(app["median"], 2),
            "unit": "s",
            "baseline": round(sdk["median"], 2),
            "baseline_name": SDK,
            "target": f"<= baseline + {MEDIAN_MARGIN:g}",
            "how": how,
        },
        {
            "name": "faithful.copy_latency.sdk_median_s",
            "value": round(sdk["median"], 2),
            "unit": "s",
            "how": f"{SDK}, {sdk['n']} copies of the same items, side by side with the app's",
        },
        {
            "name": "faithful.copy_latency.p95_s",
            "value": round(app["p95"], 2),
            "unit": "s",
            "baseline": round(sdk["p95"], 2),
            "baseline_name": SDK,
            "how": how,
        },
        {
            "name": "faithful.copy_latency.sdk_p95_s",
            "value": round(sdk["p95"], 2),
            "unit": "s",
            "how": f"{SDK}, {sdk['n']} copies",
        },
        {
            "name": "faithful.status_reads_per_copy",
            "value": round(app["reads"], 1),
            "unit": "GETs",
            "baseline": round(sdk["reads"], 1),
            "baseline_name": SDK,
            "target": "<= baseline / 3",
            "how": f"operation GETs at the source per copy, mean over {app['n']} copies; {how}",
        },
        {
            "name": "faithful.sdk_status_reads_per_copy",
            "value": round(sdk["reads"], 1),
            "unit": "GETs",
            "how": f"operation GETs at the source per copy, mean over {sdk['n']} copies",
        },
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
