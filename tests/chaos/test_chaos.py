"""Nothing is lost under faults, duplicates, crashes, outages, expired authorizations, killed hosts
and a storage restart.

`scenario.py` runs the whole local stack (one in-process runner, Azurite, three emulator processes)
with transient faults on every route, failing copies, duplicate deliveries, crashes after side
effects, a source outage during a sync, a target outage, a latency spike and authorizations that
expire while their messages wait; it is driven only through the HTTP API.

`fleet_scenario.py` runs the same trouble at production shape: several runner processes over one
Azurite, kill -9 of a random host every few seconds, Azurite restarted with its data on disk.

`make test` runs the small runs (one host; three host processes with four kills and a storage
restart); `pytest -m chaos` adds the full runs; `make bench` the full run with several hosts.
"""

from __future__ import annotations

import pytest

from tests.chaos.fleet_scenario import fleet_problems, run_fleet_chaos, summary
from tests.chaos.scenario import ChaosReport, run_chaos


def check(report: ChaosReport, problems: list[str] | None = None) -> None:
    assert len(report.jobs) >= report.copies_requested, "every requested copy got a job"
    assert report.duplicates > 0 and report.crashes > 0, "the runner's switches fired"
    assert report.faults_injected, "the emulators injected faults"
    assert report.jobs_lost == 0
    problems = report.problems() if problems is None else problems
    assert not problems, "\n".join(problems)


def full_run(request: pytest.FixtureRequest) -> None:
    if "chaos" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full chaos run: pytest -m chaos")


def test_chaos_small():
    report = run_chaos(30, seed=1)
    print("\n" + report.summary())
    check(report)


def test_chaos_with_three_host_processes_small():
    report, figures = run_fleet_chaos(40, hosts=3, kills=4, seed=2)
    print("\n" + summary(report, figures))
    check(report, fleet_problems(report, figures))


@pytest.mark.chaos
def test_chaos_full(request):
    full_run(request)
    report = run_chaos(200, seed=1)
    print("\n" + report.summary())
    check(report)


@pytest.mark.chaos
def test_chaos_with_three_host_processes_full(request):
    full_run(request)
    report, figures = run_fleet_chaos(500, hosts=3, kills=16, seed=1)
    print("\n" + summary(report, figures))
    assert figures.hosts >= 3 and figures.host_kills >= 16 and figures.storage_restarts >= 1
    check(report, fleet_problems(report, figures))
