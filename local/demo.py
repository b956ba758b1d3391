"""The end-to-end demo (`make demo`, `python -m local.demo`).

Starts the local stack in this process (Azurite, three emulator processes, function_app.py under the
local runner on a free port), copies every item of local/sample-seed.json to every target through
the app's HTTP API (classifier and component models first, then the composed model), waits for the
jobs, prints a table and the completion events, verifies each copy at its target through the
emulator's own API, stops everything and exits 0 only if every copy succeeded.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from local.stack import API_VERSION, SAMPLE_SEED, STATE_DIR, LocalStack, StackOptions, run_local_stack

JOB_TIMEOUT = 90.0


def plan(seed: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """Waves of (kind, id): classifiers and plain models first, composed models (whose doc types name
    other models) after their components are at the targets."""
    first: list[tuple[str, str]] = [("classifier", c["classifierId"]) for c in seed.get("classifiers", [])]
    composed: list[tuple[str, str]] = []
    for model in seed.get("models", []):
        components = [
            dt.get("modelId") for dt in (model.get("docTypes") or {}).values() if isinstance(dt, dict)
        ]
        (composed if any(components) else first).append(("model", model["modelId"]))
    return [wave for wave in (first, composed) if wave]


def submit(client: httpx.Client, kind: str, item_id: str) -> list[dict[str, Any]]:
    r = client.post("/copies", json={"kind": kind, "sourceId": item_id})
    if r.status_code not in (200, 202):
        raise RuntimeError(f"POST /api/copies for {kind} {item_id} answered {r.status_code}: {r.text[:300]}")
    jobs = r.json()["jobs"]
    rejected = [j for j in jobs if not j.get("jobId")]
    if rejected:
        raise RuntimeError(f"{kind} {item_id}: not submitted to {rejected}")
    print(f"  submitted {kind:<10} {item_id:<20} -> {', '.join(j['target'] for j in jobs)}")
    return [{"kind": kind, "item": item_id, **j} for j in jobs]


def wait(client: httpx.Client, jobs: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT
    pending = {j["jobId"]: j for j in jobs}
    while pending:
        for job_id, job in list(pending.items()):
            r = client.get(f"/copies/{job_id}")
            if r.status_code == 200:
                job["final"] = r.json()
                del pending[job_id]
            elif r.status_code != 202:
                raise RuntimeError(f"GET /api/copies/{job_id} answered {r.status_code}: {r.text[:300]}")
        if pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs not finished after {JOB_TIMEOUT:.0f} s: {sorted(pending)}")
            time.sleep(0.5)


def seconds(view: dict[str, Any]) -> float:
    def parse(text: str) -> float:
        from datetime import datetime

        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    if view.get("finishedAt") and view.get("createdAt"):
        return parse(view["finishedAt"]) - parse(view["createdAt"])
    return float("nan")


def verify(stack: LocalStack, job: dict[str, Any]) -> str:
    """GET the item at the target with the target's key (the emulator's public API)."""
    emulator = stack.emulators[job["target"]]
    collection = "documentClassifiers" if job["kind"] == "classifier" else "documentModels"
    r = httpx.get(
        f"{emulator.endpoint}/documentintelligence/{collection}/{job['final']['target']['id']}",
        params={"api-version": API_VERSION},
        headers={"Ocp-Apim-Subscription-Key": emulator.key},
        timeout=10,
    )
    return "present" if r.status_code == 200 else f"MISSING ({r.status_code})"


def demo(events_file: Path) -> bool:
    seed = json.loads(SAMPLE_SEED.read_text(encoding="utf-8"))
    events_file.parent.mkdir(parents=True, exist_ok=True)
    events_file.write_text("", encoding="utf-8")
    started = time.monotonic()
    options = StackOptions(runner_port=0, emulator_ports=(0, 0, 0), events_file=events_file)
    print("starting the local stack (Azurite, 3 emulators, the function app) ...")
    with run_local_stack(options) as stack:
        print(f"  up in {time.monotonic() - started:.1f} s: {stack.api_url}")
        print(f"  dashboard (while the demo runs): {stack.api_url}/dashboard?code={stack.function_key}")
        for alias, emulator in stack.emulators.items():
            print(f"  {alias:<12} {emulator.region:<15} {emulator.endpoint}")
        client = httpx.Client(
            base_url=stack.api_url, headers={"x-functions-key": stack.function_key}, timeout=30
        )
        jobs: list[dict[str, Any]] = []
        for wave in plan(seed):
            batch = [job for kind, item in wave for job in submit(client, kind, item)]
            wait(client, batch)
            jobs += batch
        client.close()
        time.sleep(0.3)  # the last event reaches the sink right after the job row is final
        print()
        print(
            f"{'item':<20} {'kind':<10} {'target':<12} {'status':<10} {'seconds':>7} {'polls':>5}  at target"
        )
        ok = True
        for job in jobs:
            final = job["final"]
            found = verify(stack, job)
            ok = ok and final["status"] == "succeeded" and found == "present"
            print(
                f"{job['item']:<20} {job['kind']:<10} {job['target']:<12} {final['status']:<10} "
                f"{seconds(final):>7.1f} {final['polls']:>5}  {found}"
            )
        events = stack.events()
        print()
        print(f"completion events ({stack.events_file}):")
        for event in events:
            data = event.get("data") or {}
            source, target = data.get("source") or {}, data.get("target") or {}
            print(
                f"  {event['type']:<28} {event['id']:<28} {data.get('kind')} {source.get('id')} "
                f"-> {target.get('alias')}"
            )
        by_id = {e["id"] for e in events}
        missing = [j["jobId"] for j in jobs if f"copy-{j['jobId']}" not in by_id]
        if missing or len(events) != len(jobs):
            print(f"expected one event per job: {len(events)} events for {len(jobs)} jobs, missing {missing}")
            ok = False
        print("stopping the stack ...")
    print(f"done in {time.monotonic() - started:.1f} s")
    return ok


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        ok = demo(STATE_DIR / "demo-events.jsonl")
    except Exception as exc:  # any failure -> non-zero exit with a readable reason
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    print("demo OK: every copy succeeded" if ok else "demo FAILED: see the table above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
