"""Who the emulated resource is (region, key, endpoint, ARM id, customer-managed keys) and its
tunables (copy timing, limits, page size, token acceptance)."""

from __future__ import annotations

from dataclasses import dataclass


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
    copy_duration: float = 3.0
    # Each copy takes copy_duration plus a uniform random extra in [0, jitter): a real copy does not
    # finish on a whole-second grid relative to its request (benchmarks use it against aliasing).
    copy_duration_jitter: float = 0.0
    accept_any_token: bool = False
    model_limit: int = 5000
    neural_limit: int = 500
    page_size: int = 50
