"""The emulator clock: the wall clock plus an offset that only moves forward (``advance``), and the
timestamp format the service uses. Everything the emulator times (authorizations, copies, the
request log) reads this clock; the rate limiter alone uses the real monotonic clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import formatdate

TWO_YEARS = 730 * 86400.0


def fmt_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def fmt_time_7(ts: float) -> str:
    """With up to seven fractional digits, trailing zeros dropped, as v2.1 copy results show a started
    operation's times (recorded: ``...:19.8620147Z``, ``...:19.862015Z``)."""
    whole = int(ts)
    fraction = f"{int((ts - whole) * 1e7):07d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + (f".{fraction}Z" if fraction else "Z")


def http_date(ts: float) -> str:
    """The ``Date`` response header (RFC 1123, GMT)."""
    return formatdate(ts, usegmt=True)


def parse_time(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def plus_two_years(created: str) -> str:
    """The expiry of a custom item created at ``created``; ``created`` itself when it is no date."""
    try:
        return fmt_time(parse_time(created) + TWO_YEARS)
    except ValueError:
        return created


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.offset += seconds
        return self.now()
