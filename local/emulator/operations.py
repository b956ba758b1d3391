"""The source side of a copy: ``copyTo`` starts an operation (after the target validated the
authorization), which runs for the copy duration on the emulator clock, then transfers the
definition to the target (or aborts it) through the peer protocol. Polls read its progress
lazily from the clock; a background task finishes it when due even if nobody polls."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .copy_request import CopyRequest, parse_copy_request
from .errors import copy_refused, not_found
from .faults import Faults
from .items import Item, ItemStore, build_mode
from .peers import Failure, PeerClient
from .resource import Resource
from .versions import PREBUILT_IDS, Version

OPERATION_TTL = 24 * 3600.0
DOWNGRADE = (
    "DataProtectionTransformServiceError",
    "The copy transfer is not allowed because it downgrades data protection: the source "
    "resource uses customer-managed keys and the target does not. Send the header "
    "'x-ms-forms-copy-degrade: true' to allow it.",
)
COPY_FAILED = ("InternalServerError", "An unexpected error occurred while copying the model.")


@dataclass
class Operation:
    op_id: str
    kind: str  # "model" | "classifier" | "v21"
    api_version: str
    created: float
    duration: float
    source_id: str
    target_id: str
    target_base: str
    resource_location: str
    token: str
    claims: dict[str, Any]
    definition: dict[str, Any]
    failure: Failure | None
    tags: dict[str, str] | None = None
    status: str = "running"  # internal: running | succeeded | failed
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Operations:
    def __init__(
        self, resource: Resource, store: ItemStore, clock: Clock, faults: Faults, peers: PeerClient
    ) -> None:
        self.resource = resource
        self.store = store
        self.clock = clock
        self.faults = faults
        self.peers = peers
        self.ops: dict[str, Operation] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- copyTo ---------------------------------------------------------------------------------

    async def start_copy(
        self, kind: str, ver: Version, source_id: str, body: Any, degrade: bool
    ) -> Operation:
        definition = self._source_definition(kind, source_id)
        request = parse_copy_request(kind, body, self.peers.endpoints)
        payload = {
            "kind": kind,
            "claims": request.claims,
            "buildMode": build_mode(definition),
            "sourceResourceId": self.resource.resource_id,
        }
        target = await self.peers.validate(
            request.target_base, request.target_resource_id, request.token, payload
        )
        failure = self._failure(bool(target.get("cmk")), degrade)
        op = self._operation(request, ver, source_id, definition, failure)
        self.expire()
        self.ops[op.op_id] = op
        self._schedule(op)
        return op

    def _source_definition(self, kind: str, source_id: str) -> Item:
        if kind == "model" and source_id in PREBUILT_IDS:
            raise copy_refused(f"Prebuilt model '{source_id}' cannot be copied.")
        item = self.store.of_kind(kind).get(source_id)
        if item is None:
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

    def _operation(
        self, request: CopyRequest, ver: Version, source_id: str, definition: Item, failure: Failure | None
    ) -> Operation:
        location = request.target_location()
        res = self.resource
        return Operation(
            op_id=str(uuid.uuid4()),
            kind=request.kind,
            api_version=ver.name,
            created=self.clock.now(),
            duration=res.copy_duration + self.faults.rng.uniform(0, res.copy_duration_jitter),
            source_id=source_id,
            target_id=request.target_id,
            target_base=request.target_base,
            resource_location=location,
            token=request.token,
            claims=request.claims,
            definition=definition,
            failure=failure,
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
        if op is None or (kind is not None and (op.kind == "v21") != (kind == "v21")):
            raise not_found("operation", op_id)
        if op.created + OPERATION_TTL < self.clock.now():
            del self.ops[op_id]
            raise not_found("operation", op_id)
        return op

    async def view(self, op: Operation) -> tuple[str, int, float]:
        """(status, percentCompleted, lastUpdated) - lazily from the clock; finishes the copy when due."""
        if op.finished is None:
            now = self.clock.now()
            elapsed = now - op.created
            if elapsed < op.duration:
                if elapsed < min(0.2, op.duration * 0.1):
                    return "notStarted", 0, op.created
                return "running", min(99, int(elapsed / op.duration * 100)), now
            await self.finish(op)
        assert op.finished is not None
        return op.status, 100, op.finished

    def timings(self) -> list[dict[str, Any]]:
        """Every copy operation with its timing (emulator clock, seconds since the epoch): a copy
        turns terminal at ``terminalAt``; benchmarks measure from there."""
        return [
            {
                "id": o.op_id,
                "kind": o.kind,
                "sourceId": o.source_id,
                "targetId": o.target_id,
                "created": o.created,
                "terminalAt": o.created + o.duration,
                "status": o.status,
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
            delay = op.created + op.duration - self.clock.now()
            if delay <= 0:
                await self.finish(op)
                return
            await asyncio.sleep(min(delay, 1.0))

    async def finish(self, op: Operation) -> None:
        """Transfer the definition to the target (or fail). Idempotent; the first caller does it."""
        async with op.lock:
            if op.finished is not None:
                return
            commit = {
                "kind": op.kind,
                "claims": op.claims,
                "definition": op.definition,
                "apiVersion": op.api_version,
            }
            result, error = await self.peers.transfer(op.target_base, op.token, op.failure, commit)
            op.finished = max(self.clock.now(), op.created + op.duration)
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
