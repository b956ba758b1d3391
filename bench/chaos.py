"""The full chaos scenario (tests/chaos/scenario.py) as figures: 200 copies under faults, duplicates,
crashes, outages and expiring authorizations; nothing may be lost."""

from __future__ import annotations

from typing import Any

from tests.chaos.scenario import run_chaos

HOW = "local stack (runner, Azurite, 3 emulator processes), tests/chaos/scenario.py run_chaos(200, seed=1)"


def run() -> list[dict[str, Any]]:
    report = run_chaos(200, seed=1)
    f = report.figures()
    failed = f["jobs_by_status"].get("failed", 0)

    def figure(name: str, value: Any, unit: str, how: str) -> dict[str, Any]:
        return {"name": name, "value": value, "unit": unit, "how": f"{how}; {HOW}"}

    return [
        figure("chaos.copies", f["copies"], "jobs", "copy jobs run (API, syncs, follow-up syncs)"),
        figure("chaos.jobs_lost", f["jobs_lost"], "jobs",
               "jobs not terminal, without their event, or succeeded without the target item (must be 0)"),
        figure("chaos.jobs_failed", failed, "jobs", f"failed with an injected cause: {f['failures']}"),
        figure("chaos.faults_injected", f["faults_injected"], "responses",
               f"429/500/503/dropped answers in the emulators' request logs {f['faults_by_status']}"),
        figure("chaos.duplicates", f["duplicates"], "messages", "queue messages delivered twice"),
        figure("chaos.crashes", f["crashes"], "invocations", "invocations failed after their side effect"),
        figure("chaos.raw_duplicate_events", f["raw_duplicate_events"], "events",
               "completion events published twice with the same id"),
        figure("chaos.reauthorized_after_expiry", f["reauthorized_after_expiry"], "jobs",
               "jobs that authorized again after copyTo answered AuthorizationExpired"),
        figure("chaos.healed_by_followup_sync", f["healed_by_followup_sync"], "items",
               f"(item, target) pairs missing after the trouble that follow-up syncs copied "
               f"(of {f['missing_before_followup']} missing; {len(report.missing_after_followup)} left)"),
        figure("chaos.elapsed", f["elapsed_seconds"], "s", "wall time of the whole scenario"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
