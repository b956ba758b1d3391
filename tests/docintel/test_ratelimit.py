"""Client-side rate limiter: paces calls per resource and class, shared across clients."""

from __future__ import annotations

import asyncio

import pytest

from shared.docintel import RateLimits
from shared.docintel.ratelimit import AsyncRateLimiter, LimitClass, shared_limiter
from tests.docintel.conftest import FakeClock


def max_in_window(times: list[float], window: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_burst_of_50_stays_at_5_per_second(clock: FakeClock) -> None:
    limiter = AsyncRateLimiter(5, clock=clock, sleep=clock.sleep)
    start = clock()
    times: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        times.append(clock())

    # The fake sleep does not yield to others, so run the callers one after another; each one's
    # wait is computed from the shared schedule exactly as under concurrency.
    for _ in range(50):
        await call()
    assert max_in_window(times) <= 5
    assert times[-1] - start >= 49 / 5 - 1e-9


async def test_concurrent_waiters_get_distinct_slots() -> None:
    limiter = AsyncRateLimiter(10, clock=asyncio.get_running_loop().time, sleep=asyncio.sleep)
    waits = await asyncio.gather(*(asyncio.create_task(_reserve(limiter)) for _ in range(5)))
    assert sorted(round(w, 3) for w in waits) == [0.0, 0.1, 0.2, 0.3, 0.4]


async def _reserve(limiter: AsyncRateLimiter) -> float:
    return limiter.reserve()


def test_burst_allowance(clock: FakeClock) -> None:
    limiter = AsyncRateLimiter(5, burst=3, clock=clock, sleep=clock.sleep)
    assert [limiter.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.2])


def test_limiters_are_shared_per_endpoint_and_class(clock: FakeClock) -> None:
    a = shared_limiter(
        "https://x.example/", LimitClass.MANAGEMENT, 5, burst=1, clock=clock, sleep=clock.sleep
    )
    b = shared_limiter("https://X.example", LimitClass.MANAGEMENT, 5, burst=1, clock=clock, sleep=clock.sleep)
    c = shared_limiter("https://x.example", LimitClass.STATUS, 50, burst=1, clock=clock, sleep=clock.sleep)
    other_clock = FakeClock()
    d = shared_limiter(
        "https://x.example", LimitClass.MANAGEMENT, 5, burst=1, clock=other_clock, sleep=clock.sleep
    )
    assert a is b
    assert a is not c and a is not d


def test_defaults_are_the_s0_limits() -> None:
    limits = RateLimits()
    assert limits.rate_for(LimitClass.MANAGEMENT) == 5
    assert limits.rate_for(LimitClass.LIST) == 10
    assert limits.rate_for(LimitClass.STATUS) == 50
    assert RateLimits(management_per_second=None).rate_for(LimitClass.MANAGEMENT) is None


def test_a_429_slows_the_rate_and_successes_win_it_back(clock: FakeClock) -> None:
    """Several instances each pace to the whole budget; the service's 429 tells them it is shared."""
    limiter = AsyncRateLimiter(10, clock=clock, sleep=clock.sleep)

    limiter.throttled()
    assert limiter.rate == pytest.approx(7)
    limiter.reserve()
    assert limiter.reserve() == pytest.approx(1 / 7)  # one call per 1/7 s now

    for _ in range(20):
        limiter.succeeded()
    assert 7 < limiter.rate < 10
    for _ in range(1000):
        limiter.succeeded()
    assert limiter.rate == 10  # never above what is configured


def test_the_429s_of_one_burst_cut_the_rate_once(clock: FakeClock) -> None:
    """Calls sent before the first 429 came back are answered 429 too: echoes, not news."""
    limiter = AsyncRateLimiter(10, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.throttled()
        clock.advance(0.1)
    assert limiter.rate == pytest.approx(7)

    clock.advance(1.0)
    limiter.throttled()  # still too much a second on: another cut
    assert limiter.rate == pytest.approx(4.9)


def test_throttling_never_stops_the_calls(clock: FakeClock) -> None:
    limiter = AsyncRateLimiter(16, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        limiter.throttled()
        clock.advance(1.0)
    assert limiter.rate == pytest.approx(1)
