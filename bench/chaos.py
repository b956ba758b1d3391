"""The chaos scenario at production shape (tests/chaos/fleet_scenario.py) as figures: 500 copies
through 3 runner processes under faults, duplicates, crashes, outages, expiring authorizations,
kill -9 of hosts and an Azurite restart; nothing may be lost, and no job may wait long for the
watchdog."""

from __future__ import annotations

from typing import Any

from tests.chaos.fleet_scenario import STALL_BOUND_SECONDS, fleet_problems, run_fleet_chaos

COPIES, HOSTS, KILLS = 500, 3, 16
HOW = (
    f"{HOSTS} runner processes, Azurite (on disk), 3 emulator processes; "
    f"tests/chaos/fleet_scenario.py run_fleet_chaos({COPIES}, hosts={HOSTS}, kills={KILLS}, seed=1)"
)


def run() -> list[dict[str, Any]]:
    report, fleet = run_fleet_chaos(COPIES, hosts=HOSTS, kills=KILLS, seed=1)
    f = report.figures()
    problems = fleet_problems(report, fleet)

    def figure(name: str, value: Any, unit: str, how: str, target: str | None = None) -> dict[str, Any]:
        row = {"name": name, "value": value, "unit": unit, "how": f"{how}; {HOW}"}
        if target is not None:
            row["target"] = target
        return row

    return [
        figure("chaos.hosts", fleet.hosts, "processes", "runner processes serving the app at once"),
        figure("chaos.host_kills", fleet.host_kills, "kills",
               "kill -9 of a random host, started again 0.5-2 s later"),
        figure("chaos.storage_restarts", fleet.storage_restarts, "restarts",
               "Azurite stopped 3 s and started on the same data"),
        figure("chaos.copies", f["copies"], "jobs", "copy jobs run (API, syncs, follow-up syncs)",
               f">= {COPIES}"),
        figure("chaos.jobs_lost", f["jobs_lost"], "jobs",
               "jobs not terminal, without their event, or succeeded without the target item", "0"),
        figure("chaos.duplicate_event_ids_after_dedupe", fleet.duplicate_event_ids_after_dedupe, "events",
               "completion event ids beyond one per job after de-duplication by id", "0"),
        figure("chaos.max_stall_seconds", fleet.max_stall_seconds, "s",
               "longest a job sat past its due time (job rows sampled every second)",
               f"<= {STALL_BOUND_SECONDS:.0f}"),
        figure("chaos.watchdog_resumes", fleet.watchdog_resumes, "jobs",
               "jobs the watchdog gave a new message"),
        figure("chaos.copied_twice", len(fleet.copied_twice), "items",
               "items delivered twice into a target", "0"),
        figure("chaos.raw_duplicate_events", f["raw_duplicate_events"], "events",
               "completion events published twice with the same id (subscribers de-duplicate by id)"),
        figure("chaos.duplicates", f["duplicates"], "messages", "queue messages delivered twice"),
        figure("chaos.crashes", f["crashes"], "invocations", "invocations failed after their side effect"),
        figure("chaos.faults_injected", f["faults_injected"], "responses",
               f"429/500/503/dropped answers in the emulators' request logs {f['faults_by_status']}"),
        figure("chaos.jobs_failed", f["jobs_by_status"].get("failed", 0), "jobs",
               f"failed with an injected cause: {f['failures']}"),
        figure("chaos.healed_by_followup_sync", f["healed_by_followup_sync"], "items",
               f"(item, target) pairs missing after the trouble that follow-up syncs copied "
               f"(of {f['missing_before_followup']} missing; {len(report.missing_after_followup)} left)"),
        figure("chaos.problems", len(problems), "checks", "; ".join(problems) or "every check held", "0"),
        figure("chaos.elapsed", f["elapsed_seconds"], "s", "wall time of the whole scenario"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
