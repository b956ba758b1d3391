"""Nothing is lost under faults, duplicates, crashes, outages and expired authorizations.

The scenario (`tests/chaos/scenario.py`) runs the whole local stack (runner, Azurite, three emulator
processes) with transient faults on every route, failing copies, duplicate deliveries, crashes
after side effects, a source outage during a sync, a target outage, a latency spike and
authorizations that expire while their messages wait; it is driven only through the HTTP API.

`make test` runs the small version (30 copies); `pytest -m chaos` runs the full one (200 copies).
"""

from __future__ import annotations

import pytest

from tests.chaos.scenario import ChaosReport, run_chaos


def check(report: ChaosReport) -> None:
    print()
    print(report.summary())
    assert len(report.jobs) >= report.copies_requested, "every requested copy got a job"
    assert report.duplicates > 0 and report.crashes > 0, "the runner's switches fired"
    assert report.faults_injected, "the emulators injected faults"
    assert report.jobs_lost == 0
    problems = report.problems()
    assert not problems, "\n".join(problems)


def test_chaos_small():
    check(run_chaos(30, seed=1))


@pytest.mark.chaos
def test_chaos_full(request):
    if "chaos" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full chaos run: pytest -m chaos")
    check(run_chaos(200, seed=1))
