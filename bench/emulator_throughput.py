"""Status-read throughput of one emulator process: GET /operations/{id} over loopback.

``python -m bench.emulator_throughput`` prints the result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

import httpx

from local.emulator.process import run_emulator_process

API = "2024-11-30"
DURATION_S = 5.0
CONCURRENCY = 4  # per client process; httpx pool contention makes higher values slower
CLIENT_PROCESSES = 2  # one httpx client process saturates its core before the server does


async def _hammer(op_url: str, key: str) -> tuple[int, int, float]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers={"Ocp-Apim-Subscription-Key": key}, limits=limits) as client:
        for _ in range(20):  # warm up the connection pool
            (await client.get(op_url)).raise_for_status()
        ok = errors = 0
        start = time.perf_counter()
        deadline = start + DURATION_S

        async def worker() -> None:
            nonlocal ok, errors
            while time.perf_counter() < deadline:
                r = await client.get(op_url)
                if r.status_code == 200:
                    ok += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return ok, errors, time.perf_counter() - start


def _client_process(op_url: str, key: str) -> tuple[int, int, float]:
    return asyncio.run(_hammer(op_url, key))


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def run() -> list[dict[str, Any]]:
    seed = {"models": [{"modelId": "bench-source"}]}
    with run_emulator_process("westus2", "bench-key", seed=seed, rate_limits="off", copy_duration=2.0) as h:
        headers = {"Ocp-Apim-Subscription-Key": h.key}
        with httpx.Client(base_url=h.endpoint, headers=headers) as c:
            auth = c.post(
                "/documentintelligence/documentModels:authorizeCopy",
                params={"api-version": API},
                json={"modelId": "bench-target"},
            )
            auth.raise_for_status()
            r = c.post(
                "/documentintelligence/documentModels/bench-source:copyTo",
                params={"api-version": API},
                json=auth.json(),
            )
            r.raise_for_status()
            op_url = r.headers["Operation-Location"]
        cpu0 = _cpu_seconds(h.pid)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(CLIENT_PROCESSES) as pool:
            results = pool.starmap(_client_process, [(op_url, h.key)] * CLIENT_PROCESSES)
        server_cpu = _cpu_seconds(h.pid) - cpu0
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    if errors:
        raise RuntimeError(f"{errors} non-200 status reads during the benchmark")
    return [
        {
            "name": "emulator.status_reads_per_second",
            "value": round(ok / elapsed, 1),
            "unit": "req/s",
            "target": 500,
            "how": f"one emulator process (uvicorn/h11, rate limits off) on loopback; {CLIENT_PROCESSES} "
            f"httpx client processes x {CONCURRENCY} concurrent keep-alive requests GET one copy operation "
            f"for {DURATION_S:.0f} s ({ok} reads; the server used {server_cpu:.2f} CPU-s = "
            f"{ok / server_cpu if server_cpu else float('nan'):.0f} reads per server CPU-second)",
        }
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
