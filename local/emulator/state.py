"""``EmulatorState``: one emulated Document Intelligence resource, independent of HTTP framing.

It wires the parts together and is the object the server, the tests and ``EmulatorNetwork`` hold:

* ``resource`` (``resource.py``): identity and tunables;  ``clock`` (``clock.py``): the emulator clock;
* ``faults`` (``faults.py``): outages, rate limits, injected faults, failing copies;
* ``store`` (``items.py``): the models and classifiers held; ``seed`` fills them (``seeding.py``);
* ``authorizations`` (``authorizations.py``): the target side of copies;
* ``operations`` (``operations.py``): the source side of copies;  ``peers`` (``peers.py``): the
  protocol between them.

Here: the control surface (``configure``/``config`` as ``PUT``/``GET /_emulator/config``, outage,
clock, request log, health, items) and the attribute names tests use.

Everything is keyed on the *emulator clock* (``now()``: wall clock + an offset that
``advance_clock`` moves forward) except the rate limiter, which uses the real monotonic clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from . import seeding
from .authorizations import Authorization, Authorizations
from .clock import Clock, fmt_time
from .faults import Faults
from .items import Item, ItemStore
from .operations import Operations
from .peers import PeerClient
from .resource import (
    DEFAULT_COPY_DURATION_SPREAD,
    DEFAULT_COPY_DURATIONS,
    DEFAULT_WRONG_REGION_FAILURE_SECONDS,
    Resource,
    default_resource_id,
)
from .versions import Version


class EmulatorState:
    """One emulated DI resource. All HTTP handlers call into this object; tests may too."""

    def __init__(
        self,
        region: str,
        key: str,
        *,
        endpoint: str = "http://127.0.0.1",
        resource_id: str | None = None,
        cmk: bool = False,
        copy_duration: float | None = None,
        copy_durations: tuple[float, float] = DEFAULT_COPY_DURATIONS,
        copy_duration_spread: float = DEFAULT_COPY_DURATION_SPREAD,
        authorization_lifetime: float | None = None,
        progress: bool = False,
        poll_retry_after: int | None = None,
        wrong_region_failure_seconds: float = DEFAULT_WRONG_REGION_FAILURE_SECONDS,
        accept_any_token: bool = False,
        model_limit: int = 5000,
        neural_limit: int = 500,
        page_size: int = 50,
        rate_limits: dict[str, float] | str | None = "default",
        random_seed: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
        peers: dict[str, str] | None = None,
    ) -> None:
        self.resource = Resource(
            region=region,
            key=key,
            endpoint=endpoint.rstrip("/"),
            resource_id=resource_id or default_resource_id(region),
            cmk=cmk,
            copy_duration=None if copy_duration is None else float(copy_duration),
            copy_durations=_duration_range(copy_durations),
            copy_duration_spread=float(copy_duration_spread),
            authorization_lifetime=None if authorization_lifetime is None else float(authorization_lifetime),
            progress=progress,
            poll_retry_after=poll_retry_after,
            wrong_region_failure_seconds=float(wrong_region_failure_seconds),
            accept_any_token=accept_any_token,
            model_limit=model_limit,
            neural_limit=neural_limit,
            page_size=page_size,
        )
        self.clock = Clock()
        self.faults = Faults(rate_limits, random_seed)
        self.store = ItemStore()
        self.peers = PeerClient(transport, peers)
        self.authorizations = Authorizations(self.resource, self.store, self.clock)
        self.operations = Operations(
            self.resource, self.store, self.clock, self.faults, self.peers, self.authorizations.is_reserved
        )
        self.request_log: deque[dict[str, Any]] = deque(maxlen=20000)

    # --- the names tests and the server read ----------------------------------------------------

    @property
    def region(self) -> str:
        return self.resource.region

    @property
    def key(self) -> str:
        return self.resource.key

    @property
    def endpoint(self) -> str:
        return self.resource.endpoint

    @property
    def resource_id(self) -> str:
        return self.resource.resource_id

    @property
    def page_size(self) -> int:
        return self.resource.page_size

    @property
    def models(self) -> dict[str, Item]:
        return self.store.models

    @property
    def v21_models(self) -> dict[str, Item]:
        return self.store.v21_models

    @property
    def classifiers(self) -> dict[str, Item]:
        return self.store.classifiers

    @property
    def auths(self) -> dict[str, Authorization]:
        return self.authorizations.auths

    @property
    def reserved(self) -> dict[tuple[str, str], str]:
        return self.authorizations.reserved

    @property
    def rate_limits(self) -> dict[str, float] | None:
        return self.faults.rate_limits

    @property
    def down(self) -> bool:
        return self.faults.down

    @property
    def clock_offset(self) -> float:
        return self.clock.offset

    # --- controls -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def advance_clock(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def set_outage(self, down: bool, mode: str = "503") -> None:
        self.faults.set_outage(down, mode)

    def set_rate_limits(self, limits: dict[str, float] | str | None) -> None:
        self.faults.set_rate_limits(limits)

    def register_peer(self, resource_id: str, endpoint: str) -> None:
        """Tell this emulator where another resource lives (needed by v2.1 copy, which only names
        the target by ARM id)."""
        self.peers.register(resource_id, endpoint)

    def seed(self, data: dict[str, Any]) -> dict[str, int]:
        return seeding.seed(self.store, data, fmt_time(self.now()))

    def configure(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Apply a partial config (same keys as PUT /_emulator/config). Returns the full config.
        Keys are applied in the order of ``_SETTERS``; an invalid value stops there."""
        unknown = set(cfg) - set(_SETTERS)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        for name, setter in _SETTERS.items():
            if name in cfg:
                setter(self, cfg[name])
        return self.config()

    def config(self) -> dict[str, Any]:
        res, faults = self.resource, self.faults
        return {
            "copyDurationSeconds": res.copy_duration,
            "copyDurations": list(res.copy_durations),
            "copyDurationSpread": res.copy_duration_spread,
            "copyDurationJitterSeconds": res.copy_duration_jitter,
            "wrongRegionFailureSeconds": res.wrong_region_failure_seconds,
            "authorizationLifetimeSeconds": res.authorization_lifetime,
            "progress": res.progress,
            "pollRetryAfterSeconds": res.poll_retry_after,
            "faults": {g: vars(p) for g, p in faults.profiles.items()},
            "copyFailureRate": faults.copy_failure_rate,
            "rateLimits": faults.rate_limits if faults.rate_limits is not None else "off",
            "cmk": res.cmk,
            "modelLimit": res.model_limit,
            "neuralLimit": res.neural_limit,
            "pageSize": res.page_size,
            "divergeCopies": list(res.diverge_copies),
            "randomSeed": faults.random_seed,
            "acceptAnyToken": res.accept_any_token,
            "peers": dict(self.peers.endpoints),
            "down": faults.down,
            "clockOffsetSeconds": self.clock.offset,
        }

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "region": self.region,
            "resourceId": self.resource_id,
            "endpoint": self.endpoint,
            "down": self.down,
            "now": fmt_time(self.now()),
        }

    def requests(self) -> list[dict[str, Any]]:
        return list(self.request_log)

    def clear_requests(self) -> None:
        self.request_log.clear()

    def info(self, ver: Version) -> dict[str, Any]:
        return self.store.info(ver, self.now(), self.resource.model_limit, self.resource.neural_limit)

    def items(self) -> dict[str, Any]:
        """Everything held (``GET /_emulator/items``)."""
        return {
            "models": list(self.models.values()),
            "v21Models": list(self.v21_models.values()),
            "classifiers": list(self.classifiers.values()),
            "pendingAuthorizations": [{"kind": k, "id": i} for (k, i), _ in self.reserved.items()],
            "operations": self.operations.timings(),
        }

    async def aclose(self) -> None:
        await self.operations.aclose()
        await self.peers.aclose()


# --- PUT /_emulator/config: one setter per key, in the order they are applied -------------------
# The values are JSON (Any): each setter converts or rejects its own.


def _duration_range(v: Any) -> tuple[float, float]:
    """``[low, high]`` seconds (or ``"low,high"``), 0 <= low <= high."""
    parts = v.split(",") if isinstance(v, str) else list(v)
    if len(parts) != 2:
        raise ValueError("copyDurations must be [low, high] seconds")
    low, high = float(parts[0]), float(parts[1])
    if not 0 <= low <= high:
        raise ValueError("copyDurations must be [low, high] with 0 <= low <= high")
    return low, high


def _optional_seconds(v: Any) -> float | None:
    return None if v is None else max(0.0, float(v))


def _set_copy_duration(st: EmulatorState, v: Any) -> None:
    st.resource.copy_duration = _optional_seconds(v)


def _set_copy_durations(st: EmulatorState, v: Any) -> None:
    """A range replaces a fixed ``copyDurationSeconds`` (unless the same config sets one again)."""
    st.resource.copy_durations = _duration_range(v)
    st.resource.copy_duration = None


def _set_copy_duration_spread(st: EmulatorState, v: Any) -> None:
    st.resource.copy_duration_spread = min(1.0, max(0.0, float(v)))


def _set_copy_duration_jitter(st: EmulatorState, v: Any) -> None:
    st.resource.copy_duration_jitter = max(0.0, float(v))


def _set_wrong_region_failure(st: EmulatorState, v: Any) -> None:
    st.resource.wrong_region_failure_seconds = max(0.0, float(v))


def _set_authorization_lifetime(st: EmulatorState, v: Any) -> None:
    st.resource.authorization_lifetime = _optional_seconds(v)


def _set_progress(st: EmulatorState, v: Any) -> None:
    st.resource.progress = bool(v)


def _set_poll_retry_after(st: EmulatorState, v: Any) -> None:
    st.resource.poll_retry_after = None if v is None else max(0, int(v))


def _set_faults(st: EmulatorState, v: Any) -> None:
    st.faults.set_profiles(v)


def _set_copy_failure_rate(st: EmulatorState, v: Any) -> None:
    st.faults.copy_failure_rate = float(v)


def _set_rate_limits(st: EmulatorState, v: Any) -> None:
    st.faults.set_rate_limits(v)


def _set_cmk(st: EmulatorState, v: Any) -> None:
    st.resource.cmk = bool(v)


def _set_model_limit(st: EmulatorState, v: Any) -> None:
    st.resource.model_limit = int(v)


def _set_neural_limit(st: EmulatorState, v: Any) -> None:
    st.resource.neural_limit = int(v)


def _set_page_size(st: EmulatorState, v: Any) -> None:
    if int(v) < 1:
        raise ValueError("pageSize must be >= 1")
    st.resource.page_size = int(v)


def _set_diverge_copies(st: EmulatorState, v: Any) -> None:
    """Target ids (``"*"``: every copy) whose copies come out diverged; ``[]`` or null: none."""
    ids = [v] if isinstance(v, str) else list(v or [])
    if not all(isinstance(i, str) and i for i in ids):
        raise ValueError("divergeCopies must be a list of item ids, or '*'")
    st.resource.diverge_copies = tuple(ids)


def _set_random_seed(st: EmulatorState, v: Any) -> None:
    st.faults.reseed(int(v))


def _set_accept_any_token(st: EmulatorState, v: Any) -> None:
    st.resource.accept_any_token = bool(v)


def _add_peers(st: EmulatorState, v: Any) -> None:
    for rid, ep in (v or {}).items():
        st.register_peer(rid, ep)


_SETTERS: dict[str, Callable[[EmulatorState, Any], None]] = {
    "copyDurations": _set_copy_durations,
    "copyDurationSeconds": _set_copy_duration,
    "copyDurationSpread": _set_copy_duration_spread,
    "copyDurationJitterSeconds": _set_copy_duration_jitter,
    "wrongRegionFailureSeconds": _set_wrong_region_failure,
    "authorizationLifetimeSeconds": _set_authorization_lifetime,
    "progress": _set_progress,
    "pollRetryAfterSeconds": _set_poll_retry_after,
    "faults": _set_faults,
    "copyFailureRate": _set_copy_failure_rate,
    "rateLimits": _set_rate_limits,
    "cmk": _set_cmk,
    "modelLimit": _set_model_limit,
    "neuralLimit": _set_neural_limit,
    "pageSize": _set_page_size,
    "divergeCopies": _set_diverge_copies,
    "randomSeed": _set_random_seed,
    "acceptAnyToken": _set_accept_any_token,
    "peers": _add_peers,
}
