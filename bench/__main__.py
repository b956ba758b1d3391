"""`make bench`: every figure, printed as a table and written to bench/results.json.

Each module under bench/ exposes `run() -> list[dict]`; a figure is
`{"name", "value", "unit", "target"?, "baseline"?, "baseline_name"?, "how"}`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIGURES = [
    "bench.cold_start",
    "bench.planner",
    "bench.emulator_throughput",
    "bench.copy_latency",
    "bench.fleet_sync",
    "bench.fleet_scale",
    "bench.status_scale",
    "bench.chaos",
    "bench.fuzz",
]
RESULTS = Path(__file__).resolve().parent / "results.json"


def _machine() -> str:
    import os

    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help="run only these figure modules (e.g. cold_start planner)")
    args = parser.parse_args(argv)
    modules = [m for m in FIGURES if not args.only or m.split(".")[-1] in args.only]
    figures: list[dict[str, Any]] = []
    failed = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # figure not built yet
            raise
        started = time.perf_counter()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        try:
            results = module.run()
        except Exception as exc:
            failed.append(f"{name}: {exc.__class__.__name__}: {exc}")
            print(f"   failed: {exc}", file=sys.stderr)
            continue
        for figure in results:
            figure.setdefault("seconds_to_measure", round(time.perf_counter() - started, 1))
        figures.extend(results)
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": _machine(),
        "figures": figures,
        "failed": failed,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'figure':50} {'value':>12} {'unit':8} {'target':>10} {'baseline':>12}")
    for f in figures:
        baseline = f.get("baseline")
        target = f.get("target")
        print(
            f"{f['name']:50} {f['value']!s:>12} {f['unit']:8} {'' if target is None else target!s:>10} "
            f"{'' if baseline is None else baseline!s:>12}"
        )
    for f in figures:
        print(f"- {f['name']}: {f.get('how', '')}")
    print(
        f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
