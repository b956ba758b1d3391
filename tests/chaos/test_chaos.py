"""Nothing is lost under faults, duplicates, crashes, outages and expired authorizations.

The scenario (`local/chaos.py`) runs the whole local stack (runner, Azurite, three emulator
processes) with transient faults on every route, failing copies, duplicate deliveries, crashes
after side effects, a source outage during a sync, a target outage, a latency spike and
authorizations that expire while their messages wait; it is driven only through the HTTP API.

`make test` runs the small version (30 copies); `pytest -m chaos` runs the full one (200 copies).
"""

from __future__ import annotations

import pytest

from local.chaos import ChaosReport, run_chaos

RESERVED = "reserved by a pending copy authorization"


def check(report: ChaosReport) -> None:
    print()
    print(report.summary())
    assert len(report.jobs) >= report.copies_requested, "every requested copy got a job"
    assert report.duplicates > 0 and report.crashes > 0, "the runner's switches fired"
    assert report.faults_injected, "the emulators injected faults"
    problems = [p for p in report.problems() if not p.startswith("still missing after the follow-up sync")]
    assert not problems, "\n".join(problems)
    assert report.jobs_lost == 0
    if report.missing_after_followup:
        # Known bug (see tests/chaos/README.md): a copy that failed because its target was down
        # leaves the target id reserved by the failed job's authorization; authorizeCopy answers 409
        # and the sync cannot copy it again until the authorization expires (24 h). Any other gap fails.
        missing = {(m["target"], m["sourceId"]) for m in report.missing_after_followup}
        reserved = {(r["target"], r["sourceId"]) for r in report.sync_refusals
                    if RESERVED in str((r.get("error") or {}).get("message"))}  # fmt: skip
        assert missing <= reserved, f"missing for another reason: {sorted(missing - reserved)}"
        pytest.xfail(
            f"BUG: {len(missing)} (item, target) pair(s) stay missing after the follow-up sync: the "
            f"target id is still reserved by the authorization of a copy that failed while the target "
            f"was down (409 on authorizeCopy): {sorted(missing)}"
        )


def test_chaos_small():
    check(run_chaos(30, seed=1))


@pytest.mark.chaos
def test_chaos_full(request):
    if "chaos" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full chaos run: pytest -m chaos")
    check(run_chaos(200, seed=1))
