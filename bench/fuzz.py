"""The fuzz run (tests/fuzz, ``pytest -m fuzz``) as figures: at least 10,000 generated inputs on every
HTTP route, queue and Event Grid schema; none may get a 5xx, raise out of a function, or change a job
when rejected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOW = "tests/fuzz (pytest -m fuzz): in-process functions against Azurite and 3 emulator processes"


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        report_path = Path(tmp) / "report.json"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "fuzz", "-p", "no:cacheprovider", "tests/fuzz"],
            cwd=ROOT,
            env={**os.environ, "FUZZ_REPORT": str(report_path)},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = round(time.perf_counter() - started, 1)
        if not report_path.exists():
            raise RuntimeError(
                f"the fuzz run reported nothing (exit {result.returncode}): {result.stdout[-2000:]}"
            )
        report = json.loads(report_path.read_text(encoding="utf-8"))
    total = report["full"]["total"]
    outcome = "passed" if result.returncode == 0 else f"FAILED (pytest exit {result.returncode})"

    def figure(name: str, value: Any, unit: str, how: str, target: Any = None) -> dict[str, Any]:
        row = {"name": name, "value": value, "unit": unit, "how": f"{how}; {HOW}; {outcome}"}
        if target is not None:
            row["target"] = target
        return row

    return [
        figure("fuzz.inputs", total["inputs"], "inputs",
               f"generated inputs handed to a function ({total['rejected']} rejected, "
               f"{total['accepted']} accepted)", target=">= 10000"),
        figure("fuzz.server_errors", total["server_errors"], "replies", "HTTP replies of 5xx", target=0),
        figure("fuzz.unhandled_exceptions", total["unhandled_exceptions"], "inputs",
               "exceptions out of a queue or Event Grid function", target=0),
        figure("fuzz.jobs_changed_by_rejected", total["jobs_changed_by_rejected"], "inputs",
               "rejected inputs (4xx, malformed message, invalid event) that changed a job row", target=0),
        figure("fuzz.elapsed", elapsed, "s", "wall time of the run"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(row)
