"""Client-side rate limiting per resource, so that a fan-out stays under the service's limits.

Three classes of calls, each with its own pacing (defaults: the S0 tier's published limits):

* ``management`` — authorize / copy / delete / get item (5 per second)
* ``list``       — list items / resource info (10 per second)
* ``status``     — get operation (50 per second)

The limiter is a virtual-scheduling token bucket (GCRA) with a burst of ``burst`` calls: each
caller reserves the next free slot synchronously (no await between reading and updating the
schedule, so no lock is needed and it is safe across event loops) and then sleeps until its
slot. Limiters are shared by every ``DocIntelClient`` of the same endpoint in this process
(module-level registry), so several clients fanning out to one resource share one budget.
Several processes (Functions scale-out) each have their own budget, so each limiter also takes the
service's word for the shared one: a 429 cuts its rate by 30 %, and every success gives back a
sliver of it (additive increase, multiplicative decrease, as TCP shares a link). As TCP cuts once per
round trip, the 429s of one overload (calls that were on their way at the old rate) cut once: a 429
within a second of the last cut is its echo. Instances that together ask too much settle at their
share within seconds, and a lone instance runs at the configured rate.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable
from enum import StrEnum

from pydantic import BaseModel, Field


class LimitClass(StrEnum):
    MANAGEMENT = "management"
    LIST = "list"
    STATUS = "status"


class RateLimits(BaseModel):
    """Calls per second per resource for each class of call; None = unlimited."""

    management_per_second: float | None = Field(default=5, gt=0)
    list_per_second: float | None = Field(default=10, gt=0)
    status_per_second: float | None = Field(default=50, gt=0)
    #: Calls allowed back to back before pacing applies. 1 keeps every 1-second window at or
    #: under the rate (the service's window semantics are not documented).
    burst: int = Field(default=1, ge=1)

    def rate_for(self, limit_class: LimitClass) -> float | None:
        return {
            LimitClass.MANAGEMENT: self.management_per_second,
            LimitClass.LIST: self.list_per_second,
            LimitClass.STATUS: self.status_per_second,
        }[limit_class]


#: After a 429 the rate is multiplied by this; every success adds back this fraction of the
#: configured rate (from 70 %, back in 60 successes: seconds at S0).
THROTTLED_FACTOR = 0.7
RECOVERY_PER_SUCCESS = 0.005
#: 429s this soon after a cut answer calls made before it: they do not cut again.
CUT_ECHO_SECONDS = 1.0


class AsyncRateLimiter:
    """Paces callers to ``rate`` per second with bursts of up to ``burst``."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.configured = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        # Theoretical arrival time of the next call (GCRA "TAT").
        self._tat: float | None = None
        self._last_cut: float | None = None

    def reserve(self) -> float:
        """Claim the next slot; return how long the caller must wait for it (seconds)."""
        now = self._clock()
        tat = now if self._tat is None else max(self._tat, now)
        allowance = (self.burst - 1) * self._interval
        wait = tat - allowance - now
        wait = wait if wait > 1e-9 else 0.0  # float noise is not a wait
        self._tat = tat + self._interval
        return wait

    def throttled(self) -> None:
        """The service answered 429: others share this budget. Slow down (not below 1/16 of the rate),
        once per overload."""
        now = self._clock()
        if self._last_cut is not None and now - self._last_cut < CUT_ECHO_SECONDS:
            return
        self._last_cut = now
        self._set_rate(max(self.configured / 16, self.rate * THROTTLED_FACTOR))

    def succeeded(self) -> None:
        """A call went through: take back a sliver of the configured rate."""
        if self.rate < self.configured:
            self._set_rate(min(self.configured, self.rate + self.configured * RECOVERY_PER_SUCCESS))

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        self._interval = 1.0 / rate

    async def acquire(self) -> float:
        """Wait for a slot; returns the time waited."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
        return wait


_registry: weakref.WeakValueDictionary[tuple[object, ...], AsyncRateLimiter] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def shared_limiter(
    endpoint: str,
    limit_class: LimitClass,
    rate: float,
    *,
    burst: int,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> AsyncRateLimiter:
    """The process-wide limiter for ``endpoint`` and ``limit_class`` (created on first use).

    Keyed also by rate, burst and clock so that clients with a different configuration (or a
    test's fake clock) never share a schedule measured on another time base.
    """
    key = (endpoint.rstrip("/").lower(), str(limit_class), rate, burst, clock)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = AsyncRateLimiter(rate, burst=burst, clock=clock, sleep=sleep)
            _registry[key] = limiter
        return limiter
