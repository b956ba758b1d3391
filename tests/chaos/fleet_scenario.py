"""The chaos scenario at production shape: several runner **processes** serve one function app over one
Azurite and the same emulators, as Flex Consumption scales out, and instances die.

Everything `scenario.py` injects (transient faults on every emulator route, failing copies, duplicate
deliveries, crashes after a side effect, a source outage during a sync, a target outage, a latency
spike, authorizations that expire in the queue) plus:
- kill -9 of a random host every few seconds, started again a moment later (its leased messages stay
  invisible for the runner's 10-minute lease, as in Azure);
- a restart of Azurite with its data on disk (storage that blips) while copies run;
- the API driven through whichever hosts are up, a request cut by a kill retried on another.

Checks, on top of `ChaosReport.problems()`: after de-duplication by id exactly one completion event
per job; no item copied twice into any target (the emulators count deliveries); every item present
at every target after the follow-up sync; and no job sat past its due time longer than the
watchdog's bound (`max_stall_seconds`, sampled from the job rows every second).
Used by `tests/chaos/test_chaos.py` and `bench/chaos.py`; on its own:
`python -m tests.chaos.fleet_scenario [copies] [hosts] [kills]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from local.emulator.process import run_emulator_process
from local.stack import SOURCE_ALIAS, SOURCE_REGION, Services, app_settings
from shared.copy.jobs import ALL_JOBS_FILTER, Job
from shared.copy.watchdog import GRACE, WATCHDOG_PERIOD
from tests.chaos import scenario as single
from tests.chaos.hosts import HostFleet, RestartableAzurite, run_fleet

#: The documented bound: the watchdog's grace, one watchdog period, and the time the timer's
#: singleton lock takes to move from a killed host to a live one, with slack for a busy machine.
STALL_BOUND_SECONDS = 120.0  # the target; shared.copy.watchdog.STALL_BOUND is 90 s
# Authorizations live 2 min instead of 1 h (time compressed as the rest): a host killed between
# authorizeCopy and keeping its reply leaves the target id reserved until that authorization lapses.
LIFETIME = 120
KILL_EVERY = (4.0, 8.0)  # seconds between kills
DOWN_FOR = (0.5, 2.0)  # seconds a killed host stays down


@dataclass
class FleetFigures:
    hosts: int
    host_kills: int = 0
    storage_restarts: int = 0
    max_stall_seconds: float = 0.0
    stalls_over_bound: list[dict[str, Any]] = field(default_factory=list)
    watchdog_resumes: int = 0
    duplicate_event_ids_after_dedupe: int = 0
    copied_twice: list[dict[str, Any]] = field(default_factory=list)
    unclosed_sessions: int = 0
    invisible_at_end: dict[str, int] = field(default_factory=dict)


class FleetStack:
    """What the single-host scenario's steps read from a stack, served by a fleet of processes."""

    def __init__(self, services: Services, values: dict[str, str], fleet: HostFleet) -> None:
        self.services = services
        self.values = values
        self.fleet = fleet
        self.host = _FleetHostView(fleet)

    @property
    def emulators(self) -> dict[str, Any]:
        return self.services.emulators

    @property
    def api_url(self) -> str:
        return self.fleet.api_urls()[0]

    @property
    def function_key(self) -> str:
        return self.fleet.function_key

    def events(self) -> list[dict[str, Any]]:
        return self.fleet.events()


class _FleetHostView:
    """The counters `scenario._check` reads from the in-process host, from the processes' logs."""

    def __init__(self, fleet: HostFleet) -> None:
        self.fleet = fleet
        self.invocations: list[Any] = []

    @property
    def faults(self) -> Any:
        text = self.fleet.log_text()

        class Counts:
            duplicates = text.count("Injected duplicate delivery")
            crashes = text.count("injected crash after")

        return Counts()


class FleetDriver(single.Driver):
    """Calls go to a live host; a request cut by a kill (or refused by a host that is down) is sent
    again to another one, as a client behind a load balancer would see it."""

    def __init__(self, stack: Any, report: single.ChaosReport, started: float, fleet: HostFleet) -> None:
        super().__init__(stack, report, started)
        self.fleet = fleet
        self._turn = 0

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(20):
            urls = self.fleet.api_urls()
            self._turn += 1
            url = urls[self._turn % len(urls)] + path
            try:
                response = await self.api.request(method, url, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
                continue
            self.report.api_statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.report.api_5xx.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
            return response
        raise AssertionError(f"{method} {path}: no host answered")

    async def settle_queues(self, limit: float) -> dict[str, list[Any]]:
        """Wait until no copy message is visible. Messages a killed host held stay invisible until
        their lease ends; their jobs were resumed by the watchdog, so they come back stale."""
        deadline = time.monotonic() + limit
        while True:
            visible = {q: await asyncio.to_thread(single.peek_queue, self.stack, q) for q in QUEUES}
            if not any(visible.values()) or time.monotonic() > deadline:
                return {q: m for q, m in visible.items() if m}
            await asyncio.sleep(1.0)


QUEUES = ("copy-requests", "copy-polls")


# --- what the fleet adds: kills, a storage restart, the stall sampler -------------------------------


async def _kill_hosts(
    d: FleetDriver, figures: FleetFigures, kills: int, stop: asyncio.Event, storage: RestartableAzurite
) -> None:
    """`kills` times, a random host killed and started again a moment later; once, Azurite."""
    rng = d.fleet.rng
    storage_restarted = False
    while not stop.is_set() and figures.host_kills < kills:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(*KILL_EVERY))
        if stop.is_set():
            break
        victim = d.fleet.kill_one()
        figures.host_kills += 1
        d.note(f"host {victim.index} killed")
        if not storage_restarted:  # at the first kill: the load phase may end before a third
            storage_restarted = True
            await asyncio.to_thread(storage.restart, 3.0)
            figures.storage_restarts += 1
            d.note("Azurite restarted (3 s down, data on disk)")
        await asyncio.sleep(rng.uniform(*DOWN_FOR))
        await asyncio.to_thread(victim.start)
        d.note(f"host {victim.index} started again")


def _jobs(values: dict[str, str], query: str) -> list[Job]:
    from azure.data.tables import TableClient

    table = values.get("DR_JOBS_TABLE", "copyjobs")
    with TableClient.from_connection_string(values["AzureWebJobsStorage"], table) as client:
        return [Job.from_entity(e) for e in client.query_entities(query)]


def _unfinished_jobs(values: dict[str, str]) -> list[Job]:
    return _jobs(values, f"{ALL_JOBS_FILTER} and event_published eq false")


async def _adopt_unacknowledged_jobs(d: FleetDriver, stack: FleetStack) -> None:
    """Jobs the driver never heard of: a kill cut the reply to the POST that created them (the retry
    then found the copy under way). They count like every other job: terminal, one event, copied."""
    every = await asyncio.to_thread(_jobs, stack.values, ALL_JOBS_FILTER)
    unknown = [j.job_id for j in every if j.job_id not in d.report.job_origin]
    for job_id in unknown:
        d.report.job_origin[job_id] = "reply-lost"
    if unknown:
        d.note(f"{len(unknown)} job(s) whose creating reply was lost")
        await d.wait_terminal(limit=60)


async def _sample_stalls(values: dict[str, str], stalls: dict[str, float], stop: asyncio.Event) -> None:
    """Every second: for each unfinished job, how long it has sat past its due time (the longest seen
    per job). Samples that storage refuses (Azurite restarting) are skipped."""
    while not stop.is_set():
        try:
            jobs = await asyncio.to_thread(_unfinished_jobs, values)
        except Exception:  # storage blips are part of the scenario
            jobs = []
        now = datetime.now(UTC)
        for job in jobs:
            due = job.due_at or job.updated_at
            late = (now - due).total_seconds()
            if late > stalls.get(job.job_id, 0.0):
                stalls[job.job_id] = late
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


# --- the run -----------------------------------------------------------------------------------------


async def _scenario(
    stack: FleetStack, storage: RestartableAzurite, report: single.ChaosReport, figures: FleetFigures,
    kills: int, seed: int, started: float,
) -> None:  # fmt: skip
    d = FleetDriver(stack, report, started, stack.fleet)
    await single.configure_faults(d, seed)
    expiry_jobs = await single._expiry_phase(d, expiry_items=3 if report.copies_requested < 100 else 5)
    stop = asyncio.Event()
    stalls: dict[str, float] = {}
    sampler = asyncio.create_task(_sample_stalls(stack.values, stalls, stop))
    killer = asyncio.create_task(_kill_hosts(d, figures, kills, stop, storage))
    items = max(report.copies_requested // len(single.TARGETS), 1)
    await single._load_phase(d, items)
    stop.set()
    await killer
    await sampler
    for host in stack.fleet.hosts:  # the trouble is over: every instance up for the follow-up
        if not host.alive:
            await asyncio.to_thread(host.start)
    d.note("kills over; every host up")
    await single._followup_phase(d)
    await _adopt_unacknowledged_jobs(d, stack)
    await single._check(d, stack, report, expiry_jobs)  # type: ignore[arg-type]
    _check_fleet(stack, report, figures, stalls)
    await d.api.aclose()


def _check_fleet(
    stack: FleetStack, report: single.ChaosReport, figures: FleetFigures, stalls: dict[str, float]
) -> None:
    ids = Counter(e["id"] for e in single._copy_events(stack))  # type: ignore[arg-type]
    expected = {f"copy-{j}" for j in report.jobs}
    figures.duplicate_event_ids_after_dedupe = sum(1 for i in set(ids) if i not in expected)
    # After de-duplication by id, exactly one per job: missing ones are in report.missing_events.
    figures.max_stall_seconds = round(max(stalls.values(), default=0.0), 1)
    figures.stalls_over_bound = [
        {"jobId": j, "seconds": round(s, 1)} for j, s in stalls.items() if s > STALL_BOUND_SECONDS
    ]
    for alias in single.TARGETS:
        for entry in stack.emulators[alias].commits():
            if entry["commits"] > 1:
                figures.copied_twice.append({"target": alias, **entry})
    figures.watchdog_resumes = stack.fleet.log_text().count("made no progress; resuming it")


def fleet_problems(report: single.ChaosReport, figures: FleetFigures) -> list[str]:
    found = [
        (figures.duplicate_event_ids_after_dedupe, "completion event ids that belong to no job"),
        (figures.copied_twice, f"items copied twice into a target: {figures.copied_twice[:5]}"),
        (
            figures.stalls_over_bound,
            f"jobs past their due time over {STALL_BOUND_SECONDS:.0f} s: {figures.stalls_over_bound[:5]}",
        ),
        (figures.host_kills == 0, "no host was killed"),
        (figures.storage_restarts == 0, "storage was never restarted"),
        (figures.unclosed_sessions, f"{figures.unclosed_sessions} unclosed client session(s) logged"),
    ]
    return report.problems() + [message for broken, message in found if broken]


def run_fleet_chaos(
    copies: int = 500, *, hosts: int = 3, kills: int = 16, seed: int = 1, workdir: Path | None = None
) -> tuple[single.ChaosReport, FleetFigures]:
    report = single.ChaosReport(copies_requested=copies)
    figures = FleetFigures(hosts=hosts)
    started = time.monotonic()
    with contextlib.ExitStack() as cm:
        if workdir is None:
            workdir = Path(cm.enter_context(tempfile.TemporaryDirectory(prefix="fleet-chaos-")))
        storage = RestartableAzurite(workdir / "azurite")
        azurite = storage.start()
        cm.callback(storage.stop)
        emulators = {
            alias: cm.enter_context(run_emulator_process(region, secrets.token_hex(16), copy_duration=0.3,
                                                         rate_limits="off", authorization_lifetime=LIFETIME))
            for alias, region in [(SOURCE_ALIAS, SOURCE_REGION), *((t, t) for t in single.TARGETS)]
        }  # fmt: skip
        services = Services(azurite, emulators)
        options = single.stack_options(workdir, seed)
        values = app_settings(services, options)
        values.pop("LOCAL_EVENTS_FILE", None)  # one per host
        values["DR_AUTHORIZATION_MARGIN_MINUTES"] = "0"  # authorizations live LIFETIME here
        fleet = cm.enter_context(run_fleet(values, workdir, hosts, seed))
        stack = FleetStack(services, values, fleet)
        asyncio.run(_scenario(stack, storage, report, figures, kills, seed, started))
        for host in fleet.hosts:  # a normal stop: checked for what it leaves open
            host.stop()
        figures.unclosed_sessions = fleet.log_text().count("Unclosed client session")
    report.elapsed_seconds = time.monotonic() - started
    return report, figures


def summary(report: single.ChaosReport, figures: FleetFigures) -> str:
    fleet = {k: v for k, v in figures.__dict__.items() if k not in ("stalls_over_bound", "copied_twice")}
    return report.summary() + "\n  fleet: " + json.dumps(fleet)


if __name__ == "__main__":  # python -m tests.chaos.fleet_scenario [copies] [hosts] [kills]
    import sys

    args = [int(a) for a in sys.argv[1:]] + [500, 3, 16][len(sys.argv) - 1 :]
    result, fleet_figures = run_fleet_chaos(args[0], hosts=args[1], kills=args[2])
    print(summary(result, fleet_figures))
    for problem in fleet_problems(result, fleet_figures):
        print("PROBLEM:", problem)
    grace, period = GRACE.total_seconds(), WATCHDOG_PERIOD.total_seconds()
    print(f"bound: watchdog grace {grace:.0f} s + period {period:.0f} s")
    raise SystemExit(1 if fleet_problems(result, fleet_figures) else 0)
