"""The runner's test switches (all off by default), for queue-triggered functions: deliver a fraction
of messages twice, concurrently (`LOCAL_DUPLICATE_FRACTION`), as two instances would; fail a
fraction of invocations right after the function returned, as a worker that dies before deleting
the message (`LOCAL_CRASH_FRACTION`). Each draws from its own `random.Random` seeded from
`LOCAL_FAULT_SEED` (default 0)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

DUPLICATE_SETTING = "LOCAL_DUPLICATE_FRACTION"
CRASH_SETTING = "LOCAL_CRASH_FRACTION"
FAULT_SEED_SETTING = "LOCAL_FAULT_SEED"


@dataclass
class FaultSwitches:
    duplicate_fraction: float = 0.0
    crash_fraction: float = 0.0
    seed: str = "0"
    duplicates: int = 0  # messages delivered twice so far
    crashes: int = 0  # invocations failed by the crash switch so far

    def __post_init__(self) -> None:
        self._duplicate_rng = random.Random(f"{self.seed}:duplicate")
        self._crash_rng = random.Random(f"{self.seed}:crash")

    @classmethod
    def from_settings(cls, values: Mapping[str, str]) -> FaultSwitches:
        return cls(
            duplicate_fraction=float(values.get(DUPLICATE_SETTING, "0") or 0),
            crash_fraction=float(values.get(CRASH_SETTING, "0") or 0),
            seed=str(values.get(FAULT_SEED_SETTING, "0") or "0"),
        )

    def duplicate(self, _message_id: str) -> bool:
        if self.duplicate_fraction <= 0 or self._duplicate_rng.random() >= self.duplicate_fraction:
            return False
        self.duplicates += 1
        return True

    def crash(self, _message_id: str) -> bool:
        if self.crash_fraction <= 0 or self._crash_rng.random() >= self.crash_fraction:
            return False
        self.crashes += 1
        return True
