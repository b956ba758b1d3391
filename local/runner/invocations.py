"""The host's invocation log: one record and one log line per invocation, whatever the trigger:
`Executed '<function>' (<outcome>, <ms> ms) <detail>`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

log = logging.getLogger("docintel_dr.local.host")

T = TypeVar("T")


@dataclass
class InvocationRecord:
    function: str
    trigger: str  # http | queue | timer | eventGrid
    outcome: str  # Succeeded | Failed | Poisoned | Undecodable | Unauthorized
    seconds: float
    detail: str
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


Record = Callable[[InvocationRecord], None]


class InvocationLog:
    def __init__(self) -> None:
        self.records: list[InvocationRecord] = []

    def record(self, record: InvocationRecord) -> None:
        self.records.append(record)
        line = (
            f"Executed '{record.function}' ({record.outcome}, {record.seconds * 1000:.0f} ms) {record.detail}"
        )
        if record.error:
            line += f" error={record.error[:300]}"
        (log.warning if record.outcome != "Succeeded" else log.info)(line)


def describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"


def outcome(error: str | None) -> str:
    return "Failed" if error else "Succeeded"


async def attempt(call: Callable[[], Awaitable[T]]) -> tuple[T | None, float, str | None]:
    """Run one invocation: (its result, seconds, None) or (None, seconds, the error); the host treats
    any exception as a failed invocation."""
    started = time.perf_counter()
    try:
        result = await call()
    except Exception as exc:
        return None, time.perf_counter() - started, describe(exc)
    return result, time.perf_counter() - started, None
