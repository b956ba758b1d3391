"""Cold start: how long a fresh interpreter takes to import function_app (what the host does to
index the app), and which modules dominate it. Median of 10 runs."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10
_PROBE = "import time; t = time.perf_counter(); import function_app; print((time.perf_counter() - t) * 1000)"


def _import_ms() -> float:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    return float(out.stdout.strip())


def top_modules(count: int = 5) -> list[tuple[str, float]]:
    """Modules function_app imports, by cumulative import time (python -X importtime)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import function_app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative: dict[str, float] = {}
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) == 3:  # a module imported by function_app itself
            cumulative[match.group(3)] = int(match.group(1)) / 1000
    return sorted(cumulative.items(), key=lambda kv: -kv[1])[:count]


def run() -> list[dict[str, Any]]:
    samples = [_import_ms() for _ in range(RUNS)]
    heavy = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top_modules())
    return [
        {
            "name": "cold_start.import_function_app",
            "value": round(statistics.median(samples), 1),
            "unit": "ms",
            "target": 300,
            "how": f"median of {RUNS} fresh interpreters timing `import function_app`; "
            f"heaviest imports: {heavy}",
        }
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
