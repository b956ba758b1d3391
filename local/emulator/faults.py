"""Trouble on purpose: region outages, the service's rate limits (token buckets per route group),
injected transient faults (429, 500, 503, dropped connections, latency) and copies that fail.

The random draws (faults and copy failures here, copy-duration jitter in ``operations``) share one
generator seeded by ``randomSeed``, so a seeded run repeats exactly.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from .errors import DIError, rate_limited

DEFAULT_RATE_LIMITS = {"management": 5.0, "list": 10.0, "status": 50.0}
ROUTE_GROUPS = ("management", "list", "status")
OUTAGE_MODES = ("503", "drop")


class Drop(Exception):
    """The connection is to be dropped mid-response instead of answered."""


class TokenBucket:
    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def take(self) -> int:
        """0 if allowed, else the seconds to wait (>= 1)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


@dataclass
class FaultProfile:
    rate429: float = 0.0
    rate500: float = 0.0
    rate503: float = 0.0
    rateDrop: float = 0.0
    latencyMs: float = 0.0
    retryAfterSeconds: int = 1

    def active(self) -> bool:
        return bool(self.rate429 or self.rate500 or self.rate503 or self.rateDrop or self.latencyMs)

    def draw(self, r: float) -> float:
        """Raise the fault ``r`` (uniform in [0, 1)) falls on; else the latency to add, in seconds."""
        if r < self.rate429:
            raise rate_limited(self.retryAfterSeconds)
        r -= self.rate429
        if r < self.rate500:
            raise DIError(500, "InternalServerError", "An unexpected error occurred. (injected fault)")
        r -= self.rate500
        if r < self.rate503:
            raise DIError(
                503, "ServiceUnavailable", "The service is temporarily unavailable. (injected fault)"
            )
        r -= self.rate503
        if r < self.rateDrop:
            raise Drop()
        return self.latencyMs / 1000.0


def parse_profiles(cfg: dict[str, Any] | None) -> dict[str, FaultProfile]:
    """The ``faults`` config: a profile per route group (``all`` fills the groups not named); only
    the active ones are kept."""
    faults = {}
    for group, prof in (cfg or {}).items():
        if group not in (*ROUTE_GROUPS, "all"):
            raise ValueError(f"unknown fault route group {group!r}")
        faults[group] = FaultProfile(**prof)
    if "all" in faults:
        base = faults.pop("all")
        for g in ROUTE_GROUPS:
            faults.setdefault(g, base)
    return {g: p for g, p in faults.items() if p.active()}


class Faults:
    def __init__(self, rate_limits: dict[str, float] | str | None = "default", random_seed: int = 0) -> None:
        self.down = False
        self.outage_mode = "503"
        self.profiles: dict[str, FaultProfile] = {}
        self.copy_failure_rate = 0.0
        self.random_seed = random_seed
        self.rng = random.Random(random_seed)
        self.rate_limits: dict[str, float] | None = None
        self.buckets: dict[str, TokenBucket] = {}
        self.set_rate_limits(DEFAULT_RATE_LIMITS if rate_limits == "default" else rate_limits)

    # --- settings -------------------------------------------------------------------------------

    def set_outage(self, down: bool, mode: str = "503") -> None:
        if mode not in OUTAGE_MODES:
            raise ValueError("mode must be '503' or 'drop'")
        self.down = down
        self.outage_mode = mode

    def set_rate_limits(self, limits: dict[str, float] | str | None) -> None:
        if limits is None or limits == "off":
            self.rate_limits = None
            self.buckets = {}
            return
        if not isinstance(limits, dict):
            raise ValueError("rateLimits must be an object or 'off'")
        merged = dict(self.rate_limits or DEFAULT_RATE_LIMITS)
        for k, v in limits.items():
            if k not in ROUTE_GROUPS:
                raise ValueError(f"unknown rate-limit class {k!r}")
            merged[k] = float(v)
        self.rate_limits = merged
        self.buckets = {k: TokenBucket(v) for k, v in merged.items() if v > 0}

    def set_profiles(self, cfg: dict[str, Any] | None) -> None:
        self.profiles = parse_profiles(cfg)

    def reseed(self, seed: int) -> None:
        self.random_seed = seed
        self.rng = random.Random(seed)

    # --- per request ----------------------------------------------------------------------------

    def check_outage(self) -> None:
        """Raise when the region is down: a 503, or `Drop` in ``drop`` mode."""
        if not self.down:
            return
        if self.outage_mode == "drop":
            raise Drop()
        raise DIError(503, "ServiceUnavailable", "The service is temporarily unavailable (region down).")

    def admit(self, group: str) -> float:
        """Apply the group's rate limit, then its fault profile: raise the 429 or the injected fault,
        else return the latency to add (seconds)."""
        bucket = self.buckets.get(group)
        if bucket is not None:
            wait = bucket.take()
            if wait:
                raise rate_limited(wait)
        profile = self.profiles.get(group)
        if profile is None:
            return 0.0
        return profile.draw(self.rng.random())

    def copy_fails(self) -> bool:
        """Whether the next copy operation fails at the service (``copyFailureRate``)."""
        return bool(self.copy_failure_rate) and self.rng.random() < self.copy_failure_rate
