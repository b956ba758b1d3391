"""checkov (framework bicep) over infra/: no failed check, no parse error, every skip has a reason.

checkov cannot share the project venv (it pins packaging<24; pytest 9 needs >=24), so the fixture keeps
it in its own venv under .venv/checkov (git-ignored, removed by `make clean`), installed from
tests/infra/requirements-checkov.txt and reinstalled when that file changes. It runs offline: no
external checks download, no guideline mapping, no version check, and proxies that point nowhere so any
outbound call would fail loudly instead of hanging. If checkov cannot be installed or run, the test
fails (it never skips).

checkov 3.3.30 (the latest) pins pycep-parser 0.5.1, whose grammar predates Bicep's `fail()` (2025)
and refuses a whole template that calls it. The copy checkov scans spells `fail('...')` as
`string('...')`: same argument, no resource or property changes, so every check sees the resources as
written, and a parse error still fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from infra_bicep import INFRA, REPO

REQUIREMENTS = Path(__file__).with_name("requirements-checkov.txt")
VENV = REPO / ".venv" / "checkov"
STAMP = VENV / ".installed"
# A template with known failures, scanned in the same run: proves that failures are reported.
CANARY = """
resource weak 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stcanary'
  location: 'eastus'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: true
    minimumTlsVersion: 'TLS1_0'
    supportsHttpsTrafficOnly: false
  }
}
"""


FAIL_CALL = re.compile(r"\bfail\(")


def _for_checkov(infra: Path) -> int:
    """Rewrite fail( calls in the copy under `infra` for checkov's parser; returns how many."""
    rewritten = 0
    for path in infra.rglob("*.bicep"):
        text, count = FAIL_CALL.subn("string(", path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        rewritten += count
    return rewritten


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_checkov() -> Path:
    wanted = REQUIREMENTS.read_text(encoding="utf-8")
    if STAMP.exists() and STAMP.read_text(encoding="utf-8") == wanted and _python().exists():
        return _python()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [
            str(_python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            pytest.fail(f"cannot install checkov ({' '.join(step[:4])}):\n{output}")
    STAMP.write_text(wanted, encoding="utf-8")
    return _python()


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_"))}
    env.update(
        BC_SKIP_MAPPING="TRUE",  # no guideline mapping download
        CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",  # no PyPI version check at import
        CKV_PARSE_ERROR_FAIL="TRUE",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
        PYTHONWARNINGS="ignore",
    )
    return env


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = _ensure_checkov()
    # One directory per run: with two --directory options checkov 3.3.30 scans the first one twice.
    root = tmp_path_factory.mktemp("checkov-scan")
    shutil.copytree(INFRA, root / "infra")
    written = sum(len(FAIL_CALL.findall(p.read_text(encoding="utf-8"))) for p in INFRA.rglob("*.bicep"))
    assert _for_checkov(root / "infra") == written
    (root / "canary").mkdir()
    (root / "canary" / "canary.bicep").write_text(CANARY, encoding="utf-8")
    command = [
        str(python),
        "-m",
        "checkov.main",
        "--directory",
        str(root),
        "--framework",
        "bicep",
        "--skip-download",
        "--compact",
        "--output",
        "json",
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=_offline_env(), check=False, cwd=REPO
    )
    elapsed = time.monotonic() - started
    # checkov exits 1 when a check fails (the canary always does); anything else is a crash.
    if done.returncode not in (0, 1):
        pytest.fail(f"checkov could not run (exit {done.returncode}):\n{done.stderr[-4000:]}")
    try:
        parsed = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    reports = parsed if isinstance(parsed, list) else [parsed]
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(bicep) == 1, f"no bicep report: {[r.get('check_type') for r in reports]}"
    print(f"checkov {bicep[0]['summary'].get('checkov_version')} took {elapsed:.1f}s")
    return bicep[0]


def _in_infra(check: dict[str, Any]) -> bool:
    return "/canary/" not in check["file_abs_path"].replace("\\", "/")


def test_checkov_has_no_failed_check_on_infra(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a template (its pycep is older)"
    failed = [c for c in checkov_report["results"]["failed_checks"] if _in_infra(c)]
    details = "\n".join(
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})" for c in failed
    )
    assert not failed, f"checkov failed checks on infra/:\n{details}"
    passed = [c for c in checkov_report["results"]["passed_checks"] if _in_infra(c)]
    assert len(passed) >= 15, "checkov checked suspiciously little of infra/"
    scanned = {Path(c["file_abs_path"]).name for c in passed}
    assert {"app.bicep", "docintel-account.bicep"} <= scanned


def test_checkov_reports_failures(checkov_report: dict[str, Any]) -> None:
    canary = {c["check_id"] for c in checkov_report["results"]["failed_checks"] if not _in_infra(c)}
    assert {"CKV_AZURE_44", "CKV_AZURE_3"} <= canary, f"checkov did not flag the canary: {canary}"


def test_every_skip_is_next_to_its_resource_with_a_reason(checkov_report: dict[str, Any]) -> None:
    skip = re.compile(r"#checkov:skip=(CKV2?_[A-Z]+_\d+)(?::(.*))?")
    written = set()
    for path in INFRA.rglob("*.bicep"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if match := skip.search(line):
                reason = (match.group(2) or "").strip()
                assert len(reason) >= 20, f"{path.name}: skip {match.group(1)} needs a reason"
                assert line.startswith("  #"), f"{path.name}: put skip {match.group(1)} inside its resource"
                written.add(match.group(1))
    applied = {c["check_id"] for c in checkov_report["results"]["skipped_checks"] if _in_infra(c)}
    assert applied == written, f"skips written but not applied (or the reverse): {applied ^ written}"
    for check in checkov_report["results"]["skipped_checks"]:
        if _in_infra(check):
            assert check["check_result"].get("suppress_comment"), check["check_id"]
