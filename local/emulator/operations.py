"""The source side of a copy: ``copyTo`` starts an operation (after the target validated the
authorization), which runs for the copy duration on the emulator clock, then transfers the
definition to the target (or aborts it) through the peer protocol. Polls read its state lazily
from the clock; a background task finishes it when due even if nobody polls.

An operation is ``notStarted`` while it waits its turn, ``running`` for its last second (at most half
of its duration), then ``succeeded`` or ``failed`` (recorded: the service's own lastUpdated - created
of a copy is 0-1 s, the rest of the time the copy waits). How long a copy takes is drawn per item
(``duration``), so that items differ and a repeated copy of one item takes about as long again.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .copy_request import CopyRequest, parse_copy_request
from .errors import copy_refused, not_found, not_ready
from .faults import Faults
from .items import Item, ItemStore, build_mode
from .peers import NOT_COMMITTED, Failure, PeerClient
from .resource import Resource
from .versions import PREBUILT_IDS, Version

OPERATION_TTL = 24 * 3600.0
# v3/v4 operation ids are "<number>_<apim-request-id of the 202>" (recorded); the number counts down
# with the seconds: 33166368000 - Unix time of the copy.
_OPERATION_ID_EPOCH = 33_166_368_000
# A copy's running phase: its last second, at most half of it.
_RUNNING_SECONDS = 1.0
DOWNGRADE = (
    "DataProtectionTransformServiceError",
    "The copy transfer is not allowed because it downgrades data protection: the source "
    "resource uses customer-managed keys and the target does not. Send the header "
    "'x-ms-forms-copy-degrade: true' to allow it.",
)
COPY_FAILED = ("InternalServerError", "An unexpected error occurred while copying the model.")
# A copy naming another region than the target's: accepted, then failed with 2024 once the service
# gave up looking for the authorization there (recorded for v2.1; inferred for v3/v4).
WRONG_REGION = NOT_COMMITTED


@dataclass
class Operation:
    op_id: str
    kind: str  # "model" | "classifier" | "v21"
    api_version: str
    created: float
    duration: float
    running_at: float  # when it turns running (== created + duration: never shown running)
    source_id: str
    target_id: str
    target_base: str
    resource_location: str
    token: str
    claims: dict[str, Any]
    definition: dict[str, Any]
    failure: Failure | None
    reaches_target: bool = True  # False: the copy never gets to the target (wrong region)
    tags: dict[str, str] | None = None
    status: str = "running"  # internal: running | succeeded | failed
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def terminal_at(self) -> float:
        return self.created + self.duration


@dataclass(frozen=True)
class View:
    """An operation as a poll sees it now."""

    status: str  # notStarted | running | succeeded | failed
    updated: float  # lastUpdatedDateTime
    progress: int  # percent of the duration elapsed (shown only with the ``progress`` option)

    @property
    def terminal(self) -> bool:
        return self.status in ("succeeded", "failed")


def _unit(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts`` (reproducible across runs and processes)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Operations:
    def __init__(
        self,
        resource: Resource,
        store: ItemStore,
        clock: Clock,
        faults: Faults,
        peers: PeerClient,
        is_reserved: Callable[[str, str], bool],
    ) -> None:
        self.resource = resource
        self.store = store
        self.clock = clock
        self.faults = faults
        self.peers = peers
        self.is_reserved = is_reserved  # (kind, id) reserved here by a pending authorization
        self.ops: dict[str, Operation] = {}
        self._copies: Counter[tuple[str, str]] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- copyTo ---------------------------------------------------------------------------------

    async def start_copy(
        self, kind: str, ver: Version, source_id: str, body: Any, degrade: bool, request_id: str
    ) -> Operation:
        """Start a copy; ``request_id`` is the apim-request-id of the reply (part of a v3/v4 id)."""
        request = parse_copy_request(kind, body, self.peers.endpoints)
        definition = self._source_definition(kind, source_id)
        payload = {
            "kind": kind,
            "claims": request.claims,
            "buildMode": build_mode(definition),
            "sourceResourceId": self.resource.resource_id,
        }
        base = request.target_endpoint()
        target = await self.peers.validate(base, request.target_resource_id, request.token, payload)
        op = self._operation(request, ver, source_id, definition, request_id)
        if str(target.get("region", "")).lower() != request.target_region.lower():
            self._doom(op)
        else:
            op.failure = self._failure(bool(target.get("cmk")), degrade)
        self.expire()
        self.ops[op.op_id] = op
        self._schedule(op)
        return op

    def _source_definition(self, kind: str, source_id: str) -> Item:
        if kind == "model" and source_id in PREBUILT_IDS:
            raise copy_refused(f"Prebuilt model '{source_id}' cannot be copied.")
        item = self.store.of_kind(kind).get(source_id)
        if item is None:
            if kind != "v21" and self.is_reserved(kind, source_id):
                raise not_ready()
            raise not_found(kind, source_id)
        if kind == "v21" and item.get("status") != "ready":
            raise copy_refused(f"Model '{source_id}' is not ready and cannot be copied.")
        return dict(item)

    def _failure(self, target_cmk: bool, degrade: bool) -> Failure | None:
        """How the copy will end if it is to fail: a data-protection downgrade not allowed, or an
        injected failure (``copyFailureRate``)."""
        if self.resource.cmk and not target_cmk and not degrade:
            return DOWNGRADE
        if self.faults.copy_fails():
            return COPY_FAILED
        return None

    def _doom(self, op: Operation) -> None:
        """The copy names another region: it waits, never runs, and fails without reaching the target."""
        op.failure = WRONG_REGION
        op.reaches_target = False
        op.duration = self.resource.wrong_region_failure_seconds
        op.running_at = op.terminal_at

    def duration(self, kind: str, source_id: str) -> float:
        """How long the next copy of this item takes: its base duration (``copy_duration``, else drawn
        per item from ``copy_durations``) within +-``copy_duration_spread``, plus the jitter."""
        res = self.resource
        seed = self.faults.random_seed
        n = self._copies[(kind, source_id)]
        self._copies[(kind, source_id)] += 1
        spread = res.copy_duration_spread * (2 * _unit(seed, kind, source_id, n, "spread") - 1)
        jitter = res.copy_duration_jitter * _unit(seed, kind, source_id, n, "jitter")
        return max(0.0, self.base_duration(kind, source_id) * (1 + spread) + jitter)

    def base_duration(self, kind: str, source_id: str) -> float:
        """The item's base copy duration: ``copy_duration``, else drawn from ``copy_durations`` by the
        random seed, the kind and the id."""
        res = self.resource
        if res.copy_duration is not None:
            return res.copy_duration
        low, high = res.copy_durations
        return low + (high - low) * _unit(self.faults.random_seed, kind, source_id)

    def _operation(
        self, request: CopyRequest, ver: Version, source_id: str, definition: Item, request_id: str
    ) -> Operation:
        now = self.clock.now()
        duration = self.duration(request.kind, source_id)
        location = request.target_location()
        if request.kind == "v21":
            op_id = str(uuid.uuid4())
        else:
            op_id = f"{_OPERATION_ID_EPOCH - int(now)}_{request_id}"
            location += f"?api-version={ver.name}"
        return Operation(
            op_id=op_id,
            kind=request.kind,
            api_version=ver.name,
            created=now,
            duration=duration,
            running_at=now + duration - min(_RUNNING_SECONDS, duration / 2),
            source_id=source_id,
            target_id=request.target_id,
            target_base=request.target_endpoint(),
            resource_location=location,
            token=request.token,
            claims=request.claims,
            definition=definition,
            failure=None,
        )

    # --- reads ----------------------------------------------------------------------------------

    def expire(self) -> None:
        cutoff = self.clock.now() - OPERATION_TTL
        for op_id in [o.op_id for o in self.ops.values() if o.created < cutoff]:
            del self.ops[op_id]

    def listed(self) -> list[Operation]:
        """The operations ``GET /operations`` lists (v3/v4 copies not expired)."""
        self.expire()
        return [o for o in self.ops.values() if o.kind != "v21"]

    def find(self, op_id: str, kind: str | None = None) -> Operation:
        op = self.ops.get(op_id)
        missing = "v21-operation" if kind == "v21" else "operation"
        if op is None or (kind is not None and (op.kind == "v21") != (kind == "v21")):
            raise not_found(missing, op_id)
        if op.created + OPERATION_TTL < self.clock.now():
            del self.ops[op_id]
            raise not_found(missing, op_id)
        return op

    async def view(self, op: Operation) -> View:
        """The operation now, lazily from the clock; finishes the copy when due."""
        if op.finished is None:
            now = self.clock.now()
            if now < op.terminal_at:
                progress = min(99, int((now - op.created) / op.duration * 100)) if op.duration else 0
                if now < op.running_at:
                    return View("notStarted", op.created, progress)
                return View("running", op.running_at, progress)
            await self.finish(op)
        assert op.finished is not None
        return View(op.status, op.finished, 100)

    def timings(self) -> list[dict[str, Any]]:
        """Every copy operation with its timing (emulator clock, seconds since the epoch): a copy
        turns running at ``runningAt`` and terminal at ``terminalAt``; benchmarks measure from there."""
        return [
            {
                "id": o.op_id,
                "kind": o.kind,
                "sourceId": o.source_id,
                "targetId": o.target_id,
                "created": o.created,
                "runningAt": o.running_at,
                "terminalAt": o.terminal_at,
                "durationSeconds": o.duration,
                "status": o.status,
                "failure": o.failure[0] if o.failure else None,
            }
            for o in self.ops.values()
        ]

    # --- finishing ------------------------------------------------------------------------------

    def _schedule(self, op: Operation) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._finish_later(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_later(self, op: Operation) -> None:
        while op.finished is None:
            delay = op.terminal_at - self.clock.now()
            if delay <= 0:
                await self.finish(op)
                return
            await asyncio.sleep(min(delay, 1.0))

    async def finish(self, op: Operation) -> None:
        """Transfer the definition to the target (or fail). Idempotent; the first caller does it."""
        async with op.lock:
            if op.finished is not None:
                return
            if op.reaches_target:
                commit = {
                    "kind": op.kind,
                    "claims": op.claims,
                    "definition": op.definition,
                    "sourceId": op.source_id,
                    "apiVersion": op.api_version,
                }
                result, error = await self.peers.transfer(op.target_base, op.token, op.failure, commit)
            else:
                result, error = None, op.failure
            op.finished = max(self.clock.now(), op.terminal_at)
            if error is None:
                op.status, op.result = "succeeded", result
            else:
                op.status = "failed"
                op.error = {"code": error[0], "message": error[1]}

    async def aclose(self) -> None:
        """Cancel the background finishers."""
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: S110
                pass
