"""Who the emulated resource is (region, key, endpoint, ARM id, customer-managed keys) and its
tunables (copy timing, authorization lifetime, opt-in conveniences, limits, page size, token
acceptance)."""

from __future__ import annotations

from dataclasses import dataclass

# Copies of small models took 1-6 s from copyTo to the first terminal poll in the recordings
# (tests/reference/recordings/README.md, "Time from copyTo to the terminal poll").
DEFAULT_COPY_DURATIONS = (1.0, 6.0)
# A repeated copy of the same item takes its base duration within +-15 % (inferred).
DEFAULT_COPY_DURATION_SPREAD = 0.15
# A copy naming the wrong targetResourceRegion stayed notStarted for 24 s, then failed (recorded, v2.1).
DEFAULT_WRONG_REGION_FAILURE_SECONDS = 24.0


def default_resource_id(region: str) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docintel-dr-local"
        f"/providers/Microsoft.CognitiveServices/accounts/docintel-{region}"
    )


@dataclass
class Resource:
    region: str
    key: str
    endpoint: str
    resource_id: str
    cmk: bool = False
    # Copy timing: every item has a base duration, drawn (seeded) from ``copy_durations`` per item, or
    # ``copy_duration`` for every item when set; each copy takes its base within +-``copy_duration_spread``
    # plus a uniform extra in [0, ``copy_duration_jitter``).
    copy_duration: float | None = None
    copy_durations: tuple[float, float] = DEFAULT_COPY_DURATIONS
    copy_duration_spread: float = DEFAULT_COPY_DURATION_SPREAD
    copy_duration_jitter: float = 0.0
    wrong_region_failure_seconds: float = DEFAULT_WRONG_REGION_FAILURE_SECONDS
    # None: as the service (v3/v4 one hour, v2.1 24 hours); else this many seconds for every version.
    authorization_lifetime: float | None = None
    # Opt-in conveniences the service does not offer: percentCompleted while a copy runs, and a
    # Retry-After header on polls of an unfinished copy.
    progress: bool = False
    poll_retry_after: int | None = None
    accept_any_token: bool = False
    model_limit: int = 5000
    neural_limit: int = 500
    page_size: int = 50
    # Test control the service does not have: copies committed here whose target id is listed (or
    # every copy, with "*") come out with a field schema the source does not have.
    diverge_copies: tuple[str, ...] = ()
