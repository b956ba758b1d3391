"""Shared fixtures for the Document Intelligence client tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Verbatim copies of the official REST examples (see tests/reference/README.md).
EXAMPLES = Path(__file__).parent.parent / "reference" / "docintel-examples"


class FakeClock:
    """A monotonic clock that only moves when somebody sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def example(version: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / version / f"{name}.json").read_text(encoding="utf-8"))
    return data


def example_body(version: str, name: str, status: str = "200") -> Any:
    return example(version, name)["responses"][status].get("body")
