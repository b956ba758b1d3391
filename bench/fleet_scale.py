"""Fleet scale: one sync protects ITEMS source models in TARGETS regions, through HOSTS runner
processes (Flex scale-out), time-compressed.

The emulators enforce rate limits scaled up RATE times from S0 (management 5/s -> 5*RATE/s, list and
status likewise) and copies take COPY_SECONDS; the app is told the same limits. One `POST /api/sync`
starts it all: the first page of copies is submitted by that request, the rest by `sync-pages`
messages on whichever host takes them, each job's first message one slot of the source's rate after
the previous one.

Figures:
- wall: from just before `POST /api/sync` to the last job's `finished_at` (job rows, same clock);
- bound: the rate-limit bound computed as in `bench/fleet_sync.py`: the source accepts one copyTo per
  job, ITEMS*TARGETS of them at r = 5*RATE/s with a bucket of b = 5, then the last copy runs:
  (ITEMS*TARGETS - b) / r + COPY_SECONDS;
- throttled: 429 answers in every emulator's request log during the run;
- authorizations renewed: authorizeCopy calls at the targets beyond one per job;
- CPU per job: user + system time of the host processes during the run (/proc), over the jobs;
- peak RSS: the largest VmHWM of the host processes at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from local.azurite import run_azurite
from local.emulator.process import run_emulator_process
from local.stack import SOURCE_ALIAS, SOURCE_REGION, Services, StackOptions, app_settings
from shared.copy.jobs import ALL_JOBS_FILTER

ITEMS = 1500
TARGETS = ("westus2", "northeurope", "eastus")
HOSTS = 2
# The emulators' and the app's limits: S0 times RATE (FLEET_SCALE_RATE). At 5 the two cores of this
# machine are busy all the time (Azurite about half a core, each host more than half), and the figure
# measures them; on a slower machine, a lower RATE keeps the app, not the cores, the bottleneck.
RATE = int(os.environ.get("FLEET_SCALE_RATE", "4"))
COPY_SECONDS = 0.5
BUCKET = 5
TIMEOUT = 1800.0


def bound_seconds(items: int = ITEMS, targets: int = len(TARGETS)) -> float:
    return (items * targets - BUCKET) / (5 * RATE) + COPY_SECONDS


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _jobs(connection: str) -> list[dict[str, Any]]:
    from azure.data.tables import TableClient

    with TableClient.from_connection_string(connection, "copyjobs") as table:
        return list(
            table.query_entities(
                ALL_JOBS_FILTER,
                select=[
                    "RowKey",
                    "status",
                    "finished_at",
                    "started_at",
                    "created_at",
                    "reauthorizations",
                    "event_published",
                    "source_id",
                    "target_alias",
                ],
            )
        )


def _settings(services: Services, workdir: Path) -> dict[str, str]:
    options = StackOptions(
        runner_port=0,
        emulator_ports=(0,) * (1 + len(TARGETS)),
        targets=TARGETS,
        seed=None,
        events_file=workdir / "events.jsonl",
        settings_file=None,
    )
    values = app_settings(services, options)
    values.pop("LOCAL_EVENTS_FILE", None)
    values["DR_SYNC_SCHEDULE"] = "0 0 0 1 1 *"  # the scheduled sync stays out of the way
    for alias in (SOURCE_ALIAS, *TARGETS):
        prefix = f"DR_RESOURCES__{alias.upper()}__"
        values |= {
            prefix + "MANAGEMENT_PER_SECOND": str(5 * RATE),
            prefix + "LIST_PER_SECOND": str(10 * RATE),
            prefix + "STATUS_PER_SECOND": str(50 * RATE),
        }
    return values


def measure(items: int = ITEMS, hosts: int = HOSTS) -> dict[str, Any]:
    from tests.chaos.hosts import run_fleet

    limits = {"management": 5.0 * RATE, "list": 10.0 * RATE, "status": 50.0 * RATE}
    with contextlib.ExitStack() as cm:
        workdir = Path(cm.enter_context(tempfile.TemporaryDirectory(prefix="fleet-scale-")))
        azurite = cm.enter_context(run_azurite())
        emulators = {
            alias: cm.enter_context(
                run_emulator_process(
                    region, secrets.token_hex(16), copy_duration=COPY_SECONDS, rate_limits=limits
                )
            )
            for alias, region in [(SOURCE_ALIAS, SOURCE_REGION), *((t, t) for t in TARGETS)]
        }
        emulators[SOURCE_ALIAS].configure(
            copyDurationSeconds=COPY_SECONDS, copyDurationSpread=0, copyDurationJitterSeconds=0
        )
        emulators[SOURCE_ALIAS].seed({"models": [{"modelId": f"fleet-{i:05d}"} for i in range(items)]})
        values = _settings(Services(azurite, emulators), workdir)
        fleet = cm.enter_context(run_fleet(values, workdir, hosts, seed=1))
        pids = [h.process.pid for h in fleet.hosts if h.process is not None]
        for emulator in emulators.values():
            emulator.clear_requests()
        cpu_before = sum(_cpu_seconds(pid) for pid in pids)
        started = time.time()
        reply = httpx.post(
            fleet.api_urls()[0] + "/sync", headers={"x-functions-key": fleet.function_key}, timeout=600
        )
        reply.raise_for_status()
        expected = items * len(TARGETS)
        deadline = time.monotonic() + TIMEOUT
        connection = values["AzureWebJobsStorage"]
        while True:
            jobs = _jobs(connection)
            done = [j for j in jobs if j.get("event_published")]
            if len(done) >= expected or time.monotonic() > deadline:
                break
            time.sleep(3)
        cpu = sum(_cpu_seconds(pid) for pid in pids) - cpu_before
        rss = max(_peak_rss_mb(pid) for pid in pids)
        finished = [j["finished_at"] for j in jobs if j.get("finished_at")]
        last = max(datetime.fromisoformat(str(f).replace("Z", "+00:00")) for f in finished)
        throttled_where: dict[str, int] = {}
        for alias, emulator in emulators.items():
            for r in emulator.requests():
                if r["status"] == 429:
                    where = f"{alias} {r['method']} {r['path'].rsplit('/', 1)[-1].split(':')[-1][:20]}"
                    throttled_where[where] = throttled_where.get(where, 0) + 1
        throttled = sum(throttled_where.values())
        # When the 429s came: by 20-second window from the request, to tell a start-up burst from
        # trouble all along.
        throttled_when: dict[int, int] = {}
        copy_calls_per_second: dict[int, int] = {}
        for r in emulators[SOURCE_ALIAS].requests():
            at = datetime.fromisoformat(str(r["time"]).replace("Z", "+00:00")).timestamp() - started
            if r["method"] == "POST" and "copyTo" in r["path"]:
                copy_calls_per_second[int(at)] = copy_calls_per_second.get(int(at), 0) + 1
            if r["status"] == 429:
                throttled_when[int(at // 20) * 20] = throttled_when.get(int(at // 20) * 20, 0) + 1
        over = sorted(second for second, calls in copy_calls_per_second.items() if calls > 5 * RATE)
        authorizations = sum(
            1
            for alias in TARGETS
            for r in emulators[alias].requests()
            if r["method"] == "POST" and "authorizeCopy" in r["path"] and r["status"] < 300
        )
        body = reply.json()
        copied_twice = sum(1 for alias in TARGETS for e in emulators[alias].commits() if e["commits"] > 1)
        host_errors = fleet.log_text().count("Traceback")
        by_copy: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for job in jobs:
            by_copy.setdefault((str(job.get("source_id")), str(job.get("target_alias"))), []).append(job)
        repeated = {copy: rows for copy, rows in by_copy.items() if len(rows) > 1}
    wall = last.astimezone(UTC).timestamp() - started

    def offsets(column: str) -> list[float]:
        return sorted(
            datetime.fromisoformat(str(j[column]).replace("Z", "+00:00")).timestamp() - started
            for j in jobs
            if j.get(column)
        )

    copy_starts = offsets("started_at")
    return {
        "items": items,
        "targets": len(TARGETS),
        "hosts": hosts,
        "jobs": len(jobs),
        "succeeded": sum(1 for j in jobs if j.get("status") == "succeeded"),
        "wall": wall,
        "bound": bound_seconds(items),
        "throttled": throttled,
        "throttled_where": throttled_where,
        "throttled_when": dict(sorted(throttled_when.items())),
        "seconds_over_rate": over,
        "renewed": max(0, authorizations - len(jobs))
        + sum(int(j.get("reauthorizations") or 0) for j in jobs),
        "cpu_ms_per_job": 1000 * cpu / max(len(jobs), 1),
        "peak_rss_mb": rss,
        "first_page": body["jobs"]["started"],
        "copied_twice": copied_twice,
        "repeated": [
            f"{source} -> {target}: " + ", ".join(f"{r.get('status')} at {r.get('created_at')}" for r in rows)
            for (source, target), rows in sorted(repeated.items())
        ],
        "host_errors": host_errors,
        "scheduled": body["jobs"].get("scheduled", 0),
        "last_copy_started": copy_starts[-1] if copy_starts else None,
        "half_copies_started": copy_starts[len(copy_starts) // 2] if copy_starts else None,
        "last_job_created": max(offsets("created_at"), default=None),
    }


def run() -> list[dict[str, Any]]:
    m = measure()
    how = (
        f"{m['items']} models x {m['targets']} targets through {m['hosts']} runner processes, "
        f"emulator limits S0 x {RATE}, {COPY_SECONDS} s copies; one POST /api/sync submitted "
        f"{m['first_page']} and scheduled {m['scheduled']} in pages; "
        f"{m['succeeded']} of {m['jobs']} jobs succeeded"
    )
    ratio = m["wall"] / m["bound"]
    return [
        {"name": "fleet_scale.items", "value": m["items"], "unit": "items", "how": how},
        {"name": "fleet_scale.targets", "value": m["targets"], "unit": "targets", "how": how},
        {"name": "fleet_scale.hosts", "value": m["hosts"], "unit": "processes", "how": how},
        {"name": "fleet_scale.wall_seconds", "value": round(m["wall"], 1), "unit": "s", "how": how},
        {
            "name": "fleet_scale.bound_seconds",
            "value": round(m["bound"], 1),
            "unit": "s",
            "how": f"(jobs - {BUCKET}) / {5 * RATE}/s + {COPY_SECONDS} s",
        },
        {
            "name": "fleet_scale.wall_vs_bound",
            "value": round(ratio, 3),
            "unit": "x",
            "target": "<= 1.15",
            "how": f"{how}; seconds from the request: half the copies started at "
            f"{m['half_copies_started']:.0f}, the last job created at {m['last_job_created']:.0f}, the "
            f"last copy started at {m['last_copy_started']:.0f}",
        },
        {
            "name": "fleet_scale.throttled",
            "value": m["throttled"],
            "unit": "429s",
            "target": "0",
            "how": f"429 answers in the emulators' request logs: {m['throttled_where'] or 'none'}; at the "
            f"source by 20 s from the request: {m['throttled_when'] or 'none'}; seconds in which more "
            f"copyTo calls than the rate came: {m['seconds_over_rate'] or 'none'}",
        },
        {
            "name": "fleet_scale.authorizations_renewed",
            "value": m["renewed"],
            "unit": "authorizations",
            "target": "0",
            "how": "authorizeCopy calls beyond one per job, plus the jobs' reauthorizations",
        },
        {
            "name": "fleet_scale.extra_jobs",
            "value": m["jobs"] - m["items"] * m["targets"],
            "unit": "jobs",
            "target": "0",
            "how": f"job rows beyond one per copy; items copied twice at a target: {m['copied_twice']}; "
            f"tracebacks in the host logs: {m['host_errors']}; copies with more than one job: "
            f"{m['repeated'] or 'none'}",
        },
        {
            "name": "fleet_scale.app_cpu_ms_per_job",
            "value": round(m["cpu_ms_per_job"], 1),
            "unit": "ms",
            "target": "<= 50",
            "how": "user + system CPU of the host processes during the run / jobs",
        },
        {
            "name": "fleet_scale.host_peak_rss_mb",
            "value": round(m["peak_rss_mb"], 1),
            "unit": "MB",
            "how": "largest VmHWM of the host processes",
        },
    ]


if __name__ == "__main__":  # python -m bench.fleet_scale [items]
    import sys

    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else ITEMS))
