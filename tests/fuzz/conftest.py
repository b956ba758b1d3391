"""The fuzz runs' stage (module-wide: emulator processes of its own, one stack) and their tally, printed
at the end of the session and written to ``$FUZZ_REPORT`` for bench/fuzz.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.azurite import Azurite
from local.emulator.process import EmulatorHandle
from tests.fuzz.harness import TALLY, Harness, fuzz_emulators, tally_report, write_report


@pytest.fixture(scope="module")
def fuzz_stand_ins() -> Iterator[dict[str, EmulatorHandle]]:
    with fuzz_emulators() as emulators:
        yield emulators


@pytest.fixture(scope="module")
def harness(azurite: Azurite, fuzz_stand_ins: dict[str, EmulatorHandle]) -> Iterator[Harness]:
    stage = Harness(azurite, fuzz_stand_ins)
    yield stage
    stage.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("fuzz inputs")
    for scale, report in tally_report().items():
        total = report["total"]
        terminalreporter.write_line(
            f"{scale}: {total['inputs']} inputs ({total['rejected']} rejected, "
            f"{total['accepted']} accepted), "
            f"{total['server_errors']} server errors, {total['unhandled_exceptions']} unhandled exceptions, "
            f"{total['jobs_changed_by_rejected']} jobs changed by rejected inputs"
        )
        for family, c in report["families"].items():
            statuses = " ".join(f"{k}:{v}" for k, v in sorted(c["statuses"].items()))
            terminalreporter.write_line(f"    {family:32} {c['inputs']:6}  {statuses}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_report()
