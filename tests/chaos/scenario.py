"""The chaos scenario: the whole local stack (runner, Azurite, three emulator processes) under every
kind of trouble at once, driven only through the app's HTTP API, then checked for anything lost.

Trouble injected:
- transient faults on every route of every emulator (429 with Retry-After, 500, 503, dropped
  connections, latency) and copy operations that fail outright (`copyFailureRate` at the source);
- duplicate delivery of queue messages and a crash right after a function's side effect (the
  runner's `LOCAL_DUPLICATE_FRACTION` / `LOCAL_CRASH_FRACTION`);
- an outage of the source region during a sync, an outage of one target, a latency spike; healed;
- authorizations that expire while their messages wait: a sync authorizes while the source's copy
  routes answer 503, the target's clock moves 25 h on, the source heals, copyTo fails with
  AuthorizationExpired (1002) and the pipeline authorizes again.

Checks (`ChaosReport.problems()` lists every broken one): every job terminal; every job that could
succeed did and its target item carries the provenance tags; every failure has a readable reason
and an explained cause; one completion event id per job (raw duplicates only counted); no message
left in the copy queues once everything settled; a follow-up sync leaves every item present at
every target. Used by `tests/chaos/test_chaos.py` and `bench/chaos.py`; on its own:
`python -m tests.chaos.scenario [copies]`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local.stack import SOURCE_ALIAS, LocalStack, StackOptions, run_local_stack
from shared.copy.provenance import SOURCE_ID_TAG, SOURCE_TAG, TOOL, TOOL_TAG, source_key

TARGETS = ("westus2", "northeurope")
EXPIRY_TARGET = "westus2"  # its clock jumps 25 h
OUTAGE_TARGET = "northeurope"
FAULTS = {"rate429": 0.04, "retryAfterSeconds": 1, "rate500": 0.03, "rate503": 0.03, "rateDrop": 0.02,
          "latencyMs": 20}  # fmt: skip
COPY_FAILURE_RATE = 0.05
# Failure codes with a cause the scenario injected: a copy operation that failed at the service
# (copyFailureRate, or the target down while the copy was transferred).
EXPLAINED_FAILURES = {"InternalServerError"}
# A reason a person understands: no traceback, no exception class dump.
UNREADABLE = re.compile(r"Traceback|File \"|\b[A-Za-z_]+(Error|Exception)\(|\b[A-Z]\w*(Error|Exception): ")


@dataclass
class ChaosReport:
    copies_requested: int
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # jobId -> final public view
    job_origin: dict[str, str] = field(default_factory=dict)  # jobId -> phase
    faults_injected: dict[str, int] = field(default_factory=dict)  # status -> count (0 = dropped)
    duplicates: int = 0
    crashes: int = 0
    raw_duplicate_events: dict[str, int] = field(default_factory=dict)  # event id -> extra copies
    events_per_job: dict[str, int] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)  # "code: message" -> count
    unexplained_failures: list[dict[str, Any]] = field(default_factory=list)
    unreadable_failures: list[dict[str, Any]] = field(default_factory=list)
    not_terminal: list[dict[str, Any]] = field(default_factory=list)
    missing_targets: list[dict[str, Any]] = field(default_factory=list)
    missing_events: list[str] = field(default_factory=list)
    wrong_event_type: list[str] = field(default_factory=list)
    leftover_messages: dict[str, list[Any]] = field(default_factory=dict)
    api_statuses: Counter[int] = field(default_factory=Counter)
    api_5xx: list[str] = field(default_factory=list)  # 500s from the app (503s are documented)
    invocation_failures: Counter[str] = field(default_factory=Counter)
    expiry_jobs: list[dict[str, Any]] = field(default_factory=list)
    copy_to_1002: int = 0
    source_outage_sync_status: int | None = None
    missing_before_followup: int = 0
    healed_by_followup_sync: int = 0
    followup_syncs: int = 0
    missing_after_followup: list[dict[str, Any]] = field(default_factory=list)
    submit_gave_up: list[str] = field(default_factory=list)
    sync_refusals: list[dict[str, Any]] = field(default_factory=list)  # follow-up sync items not started
    target_outage: tuple[str, str] | None = None  # ISO UTC window of the target outage
    elapsed_seconds: float = 0.0
    timeline: list[str] = field(default_factory=list)

    @property
    def jobs_lost(self) -> int:
        """Jobs that did not end terminal, or ended without their event, or say succeeded without
        their item at the target."""
        lost = {j["jobId"] for j in self.not_terminal}
        lost |= {j.removeprefix("copy-") for j in self.missing_events}
        lost |= {m["jobId"] for m in self.missing_targets}
        return len(lost)

    def problems(self) -> list[str]:
        return self._job_problems() + self._scenario_problems()

    def _job_problems(self) -> list[str]:
        """What went wrong with the jobs: lost, without their event, failed without a cause."""
        known = {f"copy-{j}" for j in self.jobs}
        extra = sorted(k for k in self.events_per_job if k not in known)
        unexplained = self.unexplained_failures
        found = [
            (self.not_terminal, f"{len(self.not_terminal)} job(s) never ended: {self.not_terminal[:3]}"),
            (
                self.missing_events,
                f"{len(self.missing_events)} job(s) without an event: {self.missing_events[:5]}",
            ),
            (self.wrong_event_type, f"event type does not match the job status: {self.wrong_event_type[:5]}"),
            (extra, f"completion events for unknown jobs: {extra[:5]}"),
            (self.missing_targets, f"succeeded without a proper target item: {self.missing_targets[:3]}"),
            (unexplained, f"{len(unexplained)} failure(s) without an injected cause: {unexplained[:3]}"),
            (self.unreadable_failures, f"unreadable failure reasons: {self.unreadable_failures[:3]}"),
        ]
        return [message for broken, message in found if broken]

    def _scenario_problems(self) -> list[str]:
        """What went wrong with the system as a whole, or trouble that was not exercised."""
        leftover, still_missing = self.leftover_messages, self.missing_after_followup
        found = [
            (leftover, f"messages left in the copy queues after settling: {leftover}"),
            (self.api_5xx, f"the API answered 500: {self.api_5xx[:5]}"),
            (still_missing, f"still missing after the follow-up sync: {still_missing[:5]}"),
            (
                not any(j.get("reauthorized") for j in self.expiry_jobs),
                f"no job re-authorized after its authorization expired: {self.expiry_jobs}",
            ),
            (
                self.copy_to_1002 == 0,
                "copyTo never answered AuthorizationExpired (1002): the expiry was not exercised",
            ),
            (
                self.source_outage_sync_status != 503,
                f"a sync during the source outage answered {self.source_outage_sync_status}, not 503",
            ),
        ]
        return [message for broken, message in found if broken]

    def figures(self) -> dict[str, Any]:
        statuses = Counter(j["status"] for j in self.jobs.values())
        return {
            "copies": len(self.jobs),
            "copies_requested": self.copies_requested,
            "jobs_by_status": dict(statuses),
            "jobs_by_phase": dict(Counter(self.job_origin.values())),
            "jobs_lost": self.jobs_lost,
            "faults_injected": sum(self.faults_injected.values()),
            "faults_by_status": {("dropped" if k == "0" else k): v for k, v in self.faults_injected.items()},
            "duplicates": self.duplicates,
            "crashes": self.crashes,
            "failures": dict(self.failures),
            "raw_duplicate_events": sum(self.raw_duplicate_events.values()),
            "reauthorized_after_expiry": sum(1 for j in self.expiry_jobs if j.get("reauthorized")),
            "copy_to_1002": self.copy_to_1002,
            "missing_before_followup": self.missing_before_followup,
            "healed_by_followup_sync": self.healed_by_followup_sync,
            "followup_syncs": self.followup_syncs,
            "api_statuses": {str(k): v for k, v in sorted(self.api_statuses.items())},
            "invocation_failures": dict(self.invocation_failures),
            "submit_gave_up": len(self.submit_gave_up),
            "elapsed_seconds": round(self.elapsed_seconds, 1),
        }

    def summary(self) -> str:
        lines = ["chaos run:"]
        for key, value in self.figures().items():
            lines.append(f"  {key}: {value}")
        if self.raw_duplicate_events:
            lines.append(f"  raw duplicate event ids: {dict(list(self.raw_duplicate_events.items())[:10])}")
        if self.sync_refusals:
            lines.append(f"  follow-up sync items not started: {self.sync_refusals[:10]}")
        lines.append("  timeline: " + "; ".join(self.timeline))
        return "\n".join(lines)


def stack_options(workdir: Path, seed: int) -> StackOptions:
    aliases = [SOURCE_ALIAS, *TARGETS]
    extra = {
        "DR_POLL__FIRST_DELAY_SECONDS": "1",
        "DR_POLL__MIN_DELAY_SECONDS": "1",
        "DR_POLL__MAX_DELAY_SECONDS": "3",
        "DR_SYNC_SCHEDULE": "0 0 0 1 1 *",  # the scheduled sync stays out of the way
        "LOCAL_DUPLICATE_FRACTION": "0.2",
        "LOCAL_CRASH_FRACTION": "0.1",
        "LOCAL_FAULT_SEED": str(seed),
        # A crashed invocation's message comes back after 1 s, not host.json's 10 s.
        "LOCAL_HOST_JSON_OVERRIDE": json.dumps({"extensions": {"queues": {"visibilityTimeout": "00:00:01"}}}),
    }
    for alias in aliases:  # client-side pacing above the emulators' (disabled) limits
        prefix = f"DR_RESOURCES__{alias.upper()}__"
        extra |= {prefix + "MANAGEMENT_PER_SECOND": "40", prefix + "LIST_PER_SECOND": "40",
                  prefix + "STATUS_PER_SECOND": "200"}  # fmt: skip
    return StackOptions(
        runner_port=0,
        emulator_ports=(0, 0, 0),
        targets=TARGETS,
        copy_duration=0.3,
        rate_limits="off",
        seed=None,
        events_file=workdir / "events.jsonl",
        settings_file=None,
        extra_settings=extra,
    )


class Driver:
    """The scenario's client: the HTTP API with the function key, the emulators' control routes."""

    def __init__(self, stack: LocalStack, report: ChaosReport, started: float) -> None:
        self.stack = stack
        self.report = report
        self.started = started
        self.api = httpx.AsyncClient(
            base_url=stack.api_url, headers={"x-functions-key": stack.function_key}, timeout=60
        )

    def note(self, text: str) -> None:
        self.report.timeline.append(f"{time.monotonic() - self.started:.1f}s {text}")

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.api.request(method, path, **kwargs)
        self.report.api_statuses[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.report.api_5xx.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
        return response

    async def emulator(self, alias: str, action: str, *args: Any, **kwargs: Any) -> Any:
        handle = self.stack.emulators[alias]
        return await asyncio.to_thread(getattr(handle, action), *args, **kwargs)

    def add_jobs(self, jobs: list[dict[str, Any]], phase: str) -> None:
        for job in jobs:
            if job.get("jobId"):
                self.report.job_origin.setdefault(job["jobId"], phase)

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, kind: str, item_id: str, phase: str) -> None:
        """POST /api/copies as a careful client does: retry a 503 and any target refused transiently."""
        targets = list(TARGETS)
        for attempt in range(8):
            body_in = {"kind": kind, "sourceId": item_id, "targets": targets}
            r = await self.call("POST", "/copies", json=body_in)
            body = r.json() if "json" in r.headers.get("content-type", "") else {}
            jobs = body.get("jobs") or []
            self.add_jobs(jobs, phase)
            done = {j["target"] for j in jobs if j.get("jobId") or j.get("status") == "upToDate"}
            targets = [t for t in targets if t not in done]
            if not targets:
                return
            if r.status_code not in (202, 409, 503):
                break
            await asyncio.sleep(min(0.5 * 2**attempt, 4))
        self.report.submit_gave_up.append(f"{kind} {item_id} -> {targets}")

    async def sync(self, phase: str) -> httpx.Response:
        r = await self.call("POST", "/sync")
        if "json" in r.headers.get("content-type", ""):
            body = r.json()
            items = (body.get("jobs") or body.get("sync", {}).get("jobs") or {}).get("items") or []
            self.add_jobs(items, phase)
            if phase == "followup":
                self.report.sync_refusals += [
                    {k: i.get(k) for k in ("target", "sourceId", "action", "status", "error")}
                    for i in items
                    if not i.get("jobId")
                ]
        return r

    async def sync_until(self, phase: str, accepted: tuple[int, ...], attempts: int = 10) -> None:
        """POST /api/sync until it answers one of `accepted` (1 s apart), at most `attempts` times."""
        for _ in range(attempts):
            r = await self.sync(phase)
            if r.status_code in accepted:
                return
            await asyncio.sleep(1)

    # --- waiting ------------------------------------------------------------------------------

    async def wait_terminal(self, limit: float) -> None:
        pending = [j for j in self.report.job_origin if j not in self.report.jobs]
        deadline = time.monotonic() + limit
        semaphore = asyncio.Semaphore(8)

        async def read(job_id: str) -> None:
            async with semaphore:
                r = await self.call("GET", f"/copies/{job_id}")
            if r.status_code == 200:
                self.report.jobs[job_id] = r.json()

        while pending and time.monotonic() < deadline:
            await asyncio.gather(*(read(j) for j in pending))
            pending = [j for j in pending if j not in self.report.jobs]
            if pending:
                await asyncio.sleep(1.0)
        for job_id in pending:
            r = await self.call("GET", f"/copies/{job_id}")
            self.report.not_terminal.append(
                {
                    "jobId": job_id,
                    "phase": self.report.job_origin[job_id],
                    "view": r.json(),
                    "row": await asyncio.to_thread(job_row, self.stack, job_id),
                }
            )

    async def settle_queues(self, limit: float) -> dict[str, list[Any]]:
        """Wait until the copy queues hold no message at all (invisible ones included); what is left
        at the limit, decoded where visible."""
        deadline = time.monotonic() + limit
        while True:
            counts = await asyncio.to_thread(queue_counts, self.stack)
            if not any(counts.values()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        left = {}
        for queue, count in counts.items():
            if count:
                left[queue] = [count, *await asyncio.to_thread(peek_queue, self.stack, queue)]
        return left

    async def status_missing(self, *, listed: bool = True) -> list[dict[str, Any]]:
        """The (item, target) pairs the status rows show not present, all pages; with `listed`, only
        once the last sync could list every resource."""
        for _ in range(10):
            r = await self.call("GET", "/status")
            if r.status_code == 200:
                body = r.json()
                reached = body["source"]["reachable"] and all(
                    t["reachable"] for t in body["targets"].values()
                )
                if reached or not listed:
                    items, token = body["items"], body["continuationToken"]
                    while token:
                        page = await self.call("GET", "/status", params={"continuationToken": token})
                        if page.status_code != 200:
                            break
                        items += page.json()["items"]
                        token = page.json()["continuationToken"]
                    if not token:
                        return [
                            {k: item.get(k) for k in ("target", "sourceId", "state", "reason")}
                            for item in items
                            if item["state"] != "present"
                        ]
            await asyncio.sleep(1.0)
        raise AssertionError("GET /api/status never reached every resource")


# --- storage helpers (Azurite, through the stack's connection string) -----------------------------


def job_row(stack: LocalStack, job_id: str) -> dict[str, Any] | None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableClient

    from shared.copy.jobs import partition_of

    table = stack.values.get("DR_JOBS_TABLE", "copyjobs")
    with TableClient.from_connection_string(stack.values["AzureWebJobsStorage"], table) as client:
        try:
            entity = dict(client.get_entity(partition_of(job_id), job_id))
        except ResourceNotFoundError:
            return None
    entity.pop("authorization", None)  # a secret: never printed
    return {k: (str(v) if not isinstance(v, int | float | str | bool) else v) for k, v in entity.items()}


def queue_counts(stack: LocalStack) -> dict[str, int]:
    from azure.storage.queue import QueueClient

    counts = {}
    for queue in ("copy-requests", "copy-polls"):
        with QueueClient.from_connection_string(stack.values["AzureWebJobsStorage"], queue) as q:
            counts[queue] = q.get_queue_properties().approximate_message_count or 0
    return counts


def peek_queue(stack: LocalStack, queue: str) -> list[Any]:
    from azure.storage.queue import QueueClient

    with QueueClient.from_connection_string(stack.values["AzureWebJobsStorage"], queue) as q:
        out = []
        for message in q.peek_messages(max_messages=32):
            try:
                out.append(json.loads(base64.b64decode(message.content)))
            except ValueError:
                out.append(message.content)
        return out


# --- the scenario ---------------------------------------------------------------------------------


async def _scenario(stack: LocalStack, report: ChaosReport, seed: int, started: float) -> None:
    d = Driver(stack, report, started)
    await configure_faults(d, seed)
    items = max(report.copies_requested // len(TARGETS), 1)
    expiry_jobs = await _expiry_phase(d, expiry_items=3 if items < 50 else 5)
    await _load_phase(d, items)
    await _followup_phase(d)
    await _check(d, stack, report, expiry_jobs)
    await d.api.aclose()


async def configure_faults(d: Driver, seed: int) -> None:
    """Transient faults on every route of every emulator; failing copies at the source."""
    for i, alias in enumerate(d.stack.emulators):
        await d.emulator(alias, "configure", faults={"all": FAULTS}, randomSeed=seed * 10 + i,
                         copyDurationSeconds=0.3, copyDurationJitterSeconds=0.7,
                         copyFailureRate=COPY_FAILURE_RATE if alias == SOURCE_ALIAS else 0.0)  # fmt: skip


async def _expiry_phase(d: Driver, expiry_items: int) -> list[str]:
    """1. Authorizations that expire while their copy-requests wait: the source's copy routes
    (management) answer 503 while a sync authorizes and queues; the target's clock jumps 25 h.
    The jobs of that sync."""
    source = d.stack.emulators[SOURCE_ALIAS]
    await asyncio.to_thread(
        source.seed, {"models": [{"modelId": f"expiry-{n}"} for n in range(expiry_items)]}
    )
    await d.emulator(SOURCE_ALIAS, "configure", faults={"management": {"rate503": 1.0}, "list": FAULTS,
                                                        "status": FAULTS})  # fmt: skip
    d.note("source copy routes down")
    await d.sync_until("expiry", (202,))
    expiry_jobs = [j for j, phase in d.report.job_origin.items() if phase == "expiry"]
    d.note(f"sync authorized {len(expiry_jobs)} job(s)")

    async def copy_to_503s() -> int:
        log = await d.emulator(SOURCE_ALIAS, "requests")
        return sum(1 for x in log if x["path"].endswith(":copyTo") and x["status"] == 503)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await copy_to_503s() >= len(expiry_jobs):
            break
        await asyncio.sleep(0.5)
    await d.emulator(EXPIRY_TARGET, "advance_clock", 25 * 3600)
    d.note(f"{EXPIRY_TARGET} clock +25 h")
    await d.emulator(SOURCE_ALIAS, "configure", faults={"all": FAULTS})
    d.note("source copy routes healed")
    return expiry_jobs


async def _load_phase(d: Driver, items: int) -> None:
    """2. The load: copies through POST /api/copies (one in ten a classifier), with a target outage,
    a source outage during a sync, and a latency spike while they run."""
    kinds = ["classifier" if n % 10 == 9 else "model" for n in range(items)]
    names = [f"{k[0]}{n:04d}" for n, k in enumerate(kinds)]
    await asyncio.to_thread(
        d.stack.emulators[SOURCE_ALIAS].seed,
        {"models": [{"modelId": n, "description": f"chaos {n}", "tags": {"team": "chaos"}}
                    for n, k in zip(names, kinds, strict=True) if k == "model"],
         "classifiers": [{"classifierId": n} for n, k in zip(names, kinds, strict=True)
                         if k == "classifier"]},
    )  # fmt: skip
    semaphore = asyncio.Semaphore(6)

    async def one(kind: str, name: str) -> None:
        async with semaphore:
            await d.submit(kind, name, "load")

    trouble_task = asyncio.create_task(_trouble(d))
    await asyncio.gather(*(one(k, n) for k, n in zip(kinds, names, strict=True)))
    d.note(f"{len(names)} item(s) submitted")
    await trouble_task
    await d.wait_terminal(limit=120 + items * 1.5)
    d.note("load jobs terminal")
    d.report.leftover_messages = await d.settle_queues(limit=75)
    d.note("queues settled")


async def _trouble(d: Driver) -> None:
    """While the load runs: a target outage, a source outage during a sync, a latency spike."""
    await asyncio.sleep(2)
    down_at = utc_now()
    await d.emulator(OUTAGE_TARGET, "outage", True)
    d.note(f"{OUTAGE_TARGET} down")
    await asyncio.sleep(4)
    await d.emulator(OUTAGE_TARGET, "outage", False)
    d.report.target_outage = (down_at, utc_now())
    d.note(f"{OUTAGE_TARGET} up")
    await asyncio.sleep(1)
    await d.emulator(SOURCE_ALIAS, "outage", True, mode="drop")
    d.note("source down")
    r = await d.sync("source-outage")
    d.report.source_outage_sync_status = r.status_code
    d.note(f"sync during source outage -> {r.status_code}")
    await asyncio.sleep(3)
    await d.emulator(SOURCE_ALIAS, "outage", False)
    d.note("source up")
    await d.emulator(EXPIRY_TARGET, "configure", faults={"all": {**FAULTS, "latencyMs": 1500}})
    d.note(f"{EXPIRY_TARGET} latency spike 1.5 s")
    await asyncio.sleep(3)
    await d.emulator(EXPIRY_TARGET, "configure", faults={"all": FAULTS})
    d.note("latency spike over")


async def _followup_phase(d: Driver) -> None:
    """3. The follow-up sync heals what the outages and failed copies left missing. The trouble is
    over (no outage, no failing copies); transient faults, duplicates and crashes go on."""
    report = d.report
    await d.emulator(SOURCE_ALIAS, "configure", copyFailureRate=0.0)
    # The last sync may have run during an outage: whatever the rows show, as they are.
    missing = await d.status_missing(listed=False)
    report.missing_before_followup = len(missing)
    d.note(f"{len(missing)} (item, target) pair(s) missing before the follow-up sync")
    # The status is what the last sync and the jobs since left: at least one follow-up sync runs,
    # whatever it shows, and it is read again only after that sync's jobs ended.
    for _ in range(3):
        report.followup_syncs += 1
        await d.sync_until("followup", (200, 202))
        await d.wait_terminal(limit=90)
        still = await d.status_missing()
        d.note(f"follow-up sync {report.followup_syncs}: {len(still)} missing")
        if not still:
            break
    report.healed_by_followup_sync = len(missing) - len(still)
    report.missing_after_followup = still
    left = await d.settle_queues(limit=75)
    for queue, value in left.items():
        report.leftover_messages.setdefault(queue, value)


# --- 4. the evidence --------------------------------------------------------------------------------


async def _check(d: Driver, stack: LocalStack, report: ChaosReport, expiry_jobs: list[str]) -> None:
    await _check_events(stack, report)
    held = {alias: await d.emulator(alias, "items") for alias in TARGETS}
    source_host = source_key(stack.emulators[SOURCE_ALIAS].endpoint)
    for job_id, view in report.jobs.items():
        if view["status"] == "succeeded":
            if not _target_ok(view, held, source_host):
                report.missing_targets.append({"jobId": job_id, "target": view["target"]})
        else:
            await _check_failure(stack, report, job_id, view)
    for job_id in expiry_jobs:
        row = await asyncio.to_thread(job_row, stack, job_id) or {}
        report.expiry_jobs.append(
            {
                "jobId": job_id,
                "target": row.get("target_alias"),
                "status": row.get("status"),
                "reauthorized": int(row.get("reauthorizations") or 0) > 0,
            }
        )
    await _count_faults(d, stack, report)
    report.duplicates = stack.host.faults.duplicates
    report.crashes = stack.host.faults.crashes
    for record in stack.host.invocations:
        if record.outcome not in ("Succeeded", "Unauthorized"):
            cause = (record.error or record.outcome).split(":", 1)[0]
            report.invocation_failures[f"{record.function} {record.outcome} {cause}"] += 1


def _copy_events(stack: LocalStack) -> list[dict[str, Any]]:
    return [e for e in stack.events() if str(e.get("type", "")).startswith("docintel-dr.copy.")]


async def _check_events(stack: LocalStack, report: ChaosReport) -> None:
    """One completion event per job, of the type its status says; raw duplicates counted."""
    expected = {f"copy-{j}" for j in report.jobs}
    deadline = time.monotonic() + 20
    while True:  # an event goes out just after its job turned terminal
        if expected <= {e["id"] for e in _copy_events(stack)} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # a late raw duplicate, if any, shows up now
    events = _copy_events(stack)
    per_id = Counter(e["id"] for e in events)
    report.events_per_job = dict(per_id)
    report.raw_duplicate_events = {k: v - 1 for k, v in per_id.items() if v > 1}
    report.missing_events = sorted(expected - set(per_id))
    by_id = {e["id"]: e for e in events}
    for job_id, view in report.jobs.items():
        event = by_id.get(f"copy-{job_id}")
        want = "docintel-dr.copy." + ("succeeded" if view["status"] == "succeeded" else "failed")
        if event is not None and event["type"] != want:
            report.wrong_event_type.append(f"{job_id}: {view['status']} / {event['type']}")


def _target_ok(view: dict[str, Any], held: dict[str, Any], source_host: str) -> bool:
    """A succeeded job's item is at its target; a model with the provenance tags."""
    target = view["target"]
    if view["kind"] != "model":
        return any(c["classifierId"] == target["id"] for c in held[target["alias"]]["classifiers"])
    item = next((m for m in held[target["alias"]]["models"] if m["modelId"] == target["id"]), None)
    tags = (item or {}).get("tags") or {}
    return item is not None and tags.get(TOOL_TAG) == TOOL and tags.get(SOURCE_TAG) == source_host \
        and tags.get(SOURCE_ID_TAG) == view["source"]["id"]  # fmt: skip


async def _check_failure(stack: LocalStack, report: ChaosReport, job_id: str, view: dict[str, Any]) -> None:
    """A failed job: its reason counted; readable; caused by the scenario."""
    error = view.get("error") or {}
    message = str(error.get("message") or "")
    report.failures[f"{error.get('code')}: {message[:140]}"] += 1
    if not message.strip() or UNREADABLE.search(message):
        report.unreadable_failures.append({"jobId": job_id, "error": error})
    if not explained(report, view):
        report.unexplained_failures.append(
            {
                "jobId": job_id,
                "phase": report.job_origin.get(job_id),
                "error": error,
                "row": await asyncio.to_thread(job_row, stack, job_id),
            }
        )


async def _count_faults(d: Driver, stack: LocalStack, report: ChaosReport) -> None:
    """copyTo answers 400 at the source (the expired authorizations); faults in every emulator's log."""
    source_log = await d.emulator(SOURCE_ALIAS, "requests")
    report.copy_to_1002 = sum(1 for x in source_log if x["path"].endswith(":copyTo") and x["status"] == 400)
    for alias in stack.emulators:
        log = source_log if alias == SOURCE_ALIAS else await d.emulator(alias, "requests")
        for x in log:
            if x["status"] in (0, 429, 500, 503):
                key = str(x["status"])
                report.faults_injected[key] = report.faults_injected.get(key, 0) + 1


def utc_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def explained(report: ChaosReport, view: dict[str, Any]) -> bool:
    """A failure the scenario caused: a copy operation that failed at the service, or a copy refused
    because its target was down (the service then calls the target resource invalid: 1002)."""
    code = (view.get("error") or {}).get("code")
    if code in EXPLAINED_FAILURES:
        return True
    if code == "1002" and report.target_outage and view["target"]["alias"] == OUTAGE_TARGET:
        started, ended = report.target_outage
        finished = str(view.get("finishedAt") or "")
        return started[:19] <= finished[:19] <= ended[:19] or finished[:19] <= _plus(ended, 3)
    return False


def _plus(stamp: str, seconds: float) -> str:
    from datetime import datetime, timedelta

    moment = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S") + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def run_chaos(copies: int = 200, *, seed: int = 1, workdir: Path | None = None) -> ChaosReport:
    """Run the whole scenario on a fresh local stack; the report holds the figures and problems."""
    report = ChaosReport(copies_requested=copies)
    started = time.monotonic()
    with contextlib.ExitStack() as stack_cm:
        if workdir is None:
            workdir = Path(stack_cm.enter_context(tempfile.TemporaryDirectory(prefix="chaos-")))
        stack = stack_cm.enter_context(run_local_stack(stack_options(workdir, seed)))
        asyncio.run(_scenario(stack, report, seed, started))
    report.elapsed_seconds = time.monotonic() - started
    return report


if __name__ == "__main__":  # python -m tests.chaos.scenario [copies]
    import sys

    result = run_chaos(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(result.summary())
    for problem in result.problems():
        print("PROBLEM:", problem)
    raise SystemExit(1 if result.problems() else 0)
