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
CLAIMS = "rejected the copy authorization as modified"


def known_bugs(report: ChaosReport) -> tuple[list[str], list[str]]:
    """Split what went wrong into the two known bugs (tests/chaos/README.md) and everything else."""
    known, other = [], []
    # Bug 1: a copy that failed because its target was down leaves the target id reserved by the
    # failed job's authorization; authorizeCopy answers 409 and no sync can copy the item again until
    # that authorization expires (24 h).
    missing = {(m["target"], m["sourceId"]) for m in report.missing_after_followup}
    reserved = {
        (r["target"], r["sourceId"])
        for r in report.sync_refusals
        if RESERVED in str((r.get("error") or {}).get("message"))
    }
    if missing:
        known.append(f"bug 1: {len(missing & reserved)} pair(s) stay missing, id reserved: {sorted(missing)}")
        if missing - reserved:
            other.append(f"missing after the follow-up sync for another reason: {sorted(missing - reserved)}")
    # Bug 2: a copy-request whose authorization expired, delivered twice at once: one copyTo gets
    # AuthorizationExpired (the target drops the authorization), the other "claims modified", and
    # when that one wins the row the job fails for good instead of authorizing again.
    claims = [f for f in report.unexplained_failures if CLAIMS in str(f["error"].get("message"))]
    if claims:
        known.append(f"bug 2: {len(claims)} job(s) failed 'claims modified' after expiry: {claims}")
    unexplained = [f for f in report.unexplained_failures if f not in claims]
    for problem in report.problems():
        if problem.startswith("still missing after the follow-up sync"):
            continue
        if "failure(s) without an injected cause" in problem:
            if not unexplained:
                continue
            problem = f"{len(unexplained)} failure(s) without an injected cause: {unexplained[:3]}"
        other.append(problem)
    return known, other


def check(report: ChaosReport) -> None:
    print()
    print(report.summary())
    assert len(report.jobs) >= report.copies_requested, "every requested copy got a job"
    assert report.duplicates > 0 and report.crashes > 0, "the runner's switches fired"
    assert report.faults_injected, "the emulators injected faults"
    assert report.jobs_lost == 0
    known, other = known_bugs(report)
    assert not other, "\n".join(other)
    if known:
        pytest.xfail("known bugs reproduced: " + " | ".join(known))


def test_chaos_small():
    check(run_chaos(30, seed=1))


@pytest.mark.chaos
def test_chaos_full(request):
    if "chaos" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full chaos run: pytest -m chaos")
    check(run_chaos(200, seed=1))
