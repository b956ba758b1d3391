"""Retry policy: which failures are retried, and how long to wait between attempts."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pydantic import BaseModel, Field

#: HTTP statuses worth retrying (throttling and transient server failures).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryPolicy(BaseModel):
    """Bounds for retrying one call: attempts, total time, and the backoff curve.

    Waits honor ``Retry-After`` / ``retry-after-ms`` when the service sends them, otherwise
    exponential backoff with full jitter: ``uniform(0, min(max_delay, base_delay * 2 ** (n - 1)))``.
    A wait that would overrun ``max_total_seconds`` is not taken: the error is raised instead
    (carrying ``retry_after``) so that a queue-driven caller can come back later.
    """

    max_attempts: int = Field(default=5, ge=1)
    max_total_seconds: float = Field(default=60, ge=0)
    base_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=20, ge=0)
    #: Seed for the jitter (tests); None = nondeterministic.
    seed: int | None = None

    def make_random(self) -> random.Random:
        return random.Random(self.seed)  # noqa: S311 - jitter, not cryptography

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return rng.uniform(0, ceiling)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` / ``x-ms-retry-after-ms`` / ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP date (relative to ``now``, default: wall clock).
    Returns None when no usable header is present. Negative values become 0.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = lowered.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / 1000.0)
            except ValueError:
                pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
