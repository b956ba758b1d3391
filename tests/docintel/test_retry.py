"""Retry waits: Retry-After in all its spellings, and full-jitter backoff."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.docintel import RetryPolicy
from shared.docintel.retry import parse_retry_after

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_retry_after_seconds() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5


def test_retry_after_http_date() -> None:
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 12:00:30 GMT"}, now=NOW) == 30.0
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 11:00:00 GMT"}, now=NOW) == 0.0


def test_retry_after_ms_wins() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "7"}) == 1.5
    assert parse_retry_after({"x-ms-retry-after-ms": "250"}) == 0.25


def test_no_or_garbage_header() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None


def test_full_jitter_backoff_is_bounded_and_seeded() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4, seed=42)
    rng = policy.make_random()
    delays = [policy.backoff(n, rng) for n in range(1, 9)]
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    again = policy.make_random()
    assert delays == [policy.backoff(n, again) for n in range(1, 9)]
