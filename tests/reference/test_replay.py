"""Replay of the real service's recorded traffic (tests/reference/recordings), both ways.

* The app's client (``shared.docintel`` dialects) reads every recorded reply, step by step, as what it
  is: the authorization and its expiry, the operation's status and progress, the copied item, the
  error and what to do about it.
* The emulator (``local.emulator``, in-process) answers every recorded request as the service did:
  the same status code; the same headers present and absent (Retry-After, Operation-Location and
  Location with their shape, ms-azure-ai-errorcode, x-ms-region, apim-request-id, azure-deprecating);
  the same JSON keys at every level, enum values, ids, messages, time formats; the same lifetime of an
  authorization; and a copied item that keeps or renews its source's dates as the recording does.
  Each emulator is the recorded resource (its host, ARM id and region), seeded with the recorded
  source item; the emulator clock is moved to the state each recorded poll saw.

A failure lists every divergence. Build and compose traffic (role ``other``) is not replayed: the
emulator has no build; its results only seed the source item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from local.emulator import EmulatorNetwork, EmulatorState
from local.emulator.operations import Operation
from local.emulator.resource import DEFAULT_COPY_DURATION_SPREAD, DEFAULT_COPY_DURATIONS, default_resource_id
from shared.docintel import (
    AuthorizationAlreadyUsed,
    DocIntelError,
    InvalidTargetResource,
    ItemKind,
    ItemNotFound,
    ItemNotReady,
    OperationStatus,
    Throttled,
    error_from_service,
)
from shared.docintel.dialects import Dialect, Reply, V3Dialect, V4Dialect, V21Dialect
from shared.docintel.dialects.base import last_path_segment, parse_datetime, parse_service_error
from shared.docintel.retry import parse_retry_after
from tests.reference.recordings_lib import (
    Comparison,
    Entry,
    Recording,
    endpoint,
    item_kind,
    lifetime,
    load,
    names,
    region,
    resource_id,
    source_item,
)

NAMES = names()
KEY = "replay-key"

# Recordings the emulator cannot stand in for, and why.
NOT_EMULATED = {
    "v21-preview.1_copy_model_fail": (
        "API 2.1-preview.1 (2020), a retired preview the project does not speak: it accepted a "
        "targetResourceId that is no ARM id and failed the copy 16 s later, where GA v2.1 refuses it "
        "at once (v21_copy_model_invalid_target_resource_id)"
    ),
}
# What the client makes of each recorded error reply (every error entry of the recording), and of
# each recorded failed operation.
ERRORS: dict[str, type[DocIntelError]] = {
    "v21_copy_model_invalid_target_resource_id": InvalidTargetResource,
    "v21_delete_model_not_found": ItemNotFound,
    "v3_2022-08-31_copy_model_fail_bad_model_id": ItemNotFound,
    "v3_2022-08-31_copy_model_not_ready": ItemNotReady,
    "v3_2023-02-28-preview_copy_model_not_ready": ItemNotReady,
    "v4_2024-02-29-preview_copy_model": Throttled,
    "v4_2024-07-31-preview_copy_model_empty_id": ItemNotFound,
    "v4_2024-07-31-preview_get_classifier_not_found": ItemNotFound,
    "v4_2024-11-30_copy_classifier_empty_id": ItemNotFound,
}
FAILED_OPERATIONS: dict[str, type[DocIntelError]] = {
    "v21_copy_model_wrong_region": AuthorizationAlreadyUsed,
    "v21-preview.1_copy_model_fail": AuthorizationAlreadyUsed,
}
STATUSES = {
    "notStarted": OperationStatus.NOT_STARTED,
    "running": OperationStatus.RUNNING,
    "succeeded": OperationStatus.SUCCEEDED,
    "failed": OperationStatus.FAILED,
}


def test_every_recording_is_replayed():
    assert len(NAMES) >= 24
    assert set(NOT_EMULATED) <= set(NAMES) and set(ERRORS) <= set(NAMES)


# === the client reads every recorded reply ========================================================


def kind_of(entry: Entry) -> ItemKind:
    return ItemKind.CLASSIFIER if item_kind(entry.path) == "classifier" else ItemKind.MODEL


def reply(entry: Entry) -> Reply:
    return Reply(entry.status, httpx.Headers(entry.headers), entry.body)


def client_dialect(rec: Recording) -> Dialect:
    ep = endpoint(rec)
    if rec.family == "v2.1":
        # v2.1 names the target only in the copy request, from the app's configuration of the target
        copy = next(
            (
                e
                for e in rec.entries
                if isinstance(e.request_body, dict) and "copyAuthorization" in e.request_body
            ),
            None,
        )
        body = copy.request_body if copy is not None else {}
        return V21Dialect(
            ep,
            "2.1",
            resource_id=body.get("targetResourceId", rec.resource.get("resourceId", "/rid")),
            region=body.get("targetResourceRegion", region(rec)),
        )
    return (V4Dialect if rec.family == "v4" else V3Dialect)(ep, rec.api_version)


def same_meaning(sent: Any, recorded: Any, key: str = "") -> bool:
    """The app's copy request says what the SDK's recorded one said (an expiry is an instant)."""
    if isinstance(recorded, dict):
        return (
            isinstance(sent, dict)
            and set(sent) == set(recorded)
            and all(same_meaning(sent[k], v, k) for k, v in recorded.items())
        )
    if key == "expirationDateTime":
        return parse_datetime(sent) == parse_datetime(recorded)
    return bool(sent == recorded)


class ClientReplay:
    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.dialect = client_dialect(rec)
        self.auth: Any = None
        self.target_id: str | None = None
        self.problems: list[str] = []

    def check(self, entry: Entry, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(f"{self.rec.name} {entry}: {what}")

    def run(self) -> list[str]:
        for e in self.rec.entries:
            if e.status >= 400:
                self.error(e)
            elif e.role == "authorize":
                self.authorize(e)
            elif e.role == "copy":
                self.copy(e)
            elif e.role in ("poll", "other") and e.method == "GET":
                self.poll(e)
            elif e.role in ("source_item", "target_item"):
                self.item(e)
        return self.problems

    def authorize(self, e: Entry) -> None:
        requested = (e.request_body or {}).get("modelId") or (e.request_body or {}).get("classifierId") or ""
        auth = self.dialect.parse_authorization(kind_of(e), requested, reply(e))
        body = e.body
        self.target_id = auth.target_id
        expiry: datetime | None
        if "expirationDateTimeTicks" in body:
            expiry = datetime.fromtimestamp(body["expirationDateTimeTicks"], UTC)
            self.check(e, auth.target_id == body["modelId"], f"target id {auth.target_id}")
            self.check(e, auth.expires_at.timestamp() - e.date == 24 * 3600, "v2.1 authorizations last 24 h")
        else:
            expiry = parse_datetime(body["expirationDateTime"])
            self.check(e, auth.target_id == requested, f"target id {auth.target_id}")
            self.check(e, auth.expires_at.timestamp() - e.date in (3600, 3601), "authorizations last 1 h")
        self.check(e, auth.expires_at == expiry, f"expiry {auth.expires_at}, recorded {expiry}")
        self.auth = auth

    def copy(self, e: Entry) -> None:
        source_id = e.path.rsplit("/", 2)[-2] if e.path.endswith("/copy") else e.path.rsplit("/", 1)[-1]
        if self.auth is not None and isinstance(e.request_body, dict):
            request = self.dialect.start_copy(kind_of(e), source_id.split(":")[0], self.auth, False)
            self.check(e, same_meaning(request.json, e.request_body), f"copy request {request.json}")
        if e.status == 202:
            location = self.dialect.parse_start_copy(reply(e))
            self.check(e, location == e.headers["operation-location"], f"operation {location}")

    def poll(self, e: Entry) -> None:
        body = e.body
        if not isinstance(body, dict) or "status" not in body:
            return
        op = self.dialect.parse_operation(e.uri, reply(e), parse_retry_after(httpx.Headers(e.headers)))
        self.check(e, op.status is STATUSES[body["status"]], f"status {op.status}")
        self.check(
            e, op.percent_completed == body.get("percentCompleted"), f"progress {op.percent_completed}"
        )
        self.check(e, op.retry_after is None, f"retry after {op.retry_after}")
        if e.role == "poll":
            self.check(e, op.target_id == self.target_id, f"target {op.target_id}, expected {self.target_id}")
        result = body.get("result")
        if isinstance(result, dict):
            self.check(e, op.result is not None and op.result.id == op.target_id, f"result {op.result}")
            self.check(
                e, op.result is not None and op.result.doc_types == list(result["docTypes"]), "docTypes"
            )
        if op.status is OperationStatus.FAILED:
            assert op.error is not None
            error = error_from_service(op.error)
            expected = FAILED_OPERATIONS[self.rec.name]
            self.check(
                e, isinstance(error, expected), f"{type(error).__name__}, expected {expected.__name__}"
            )

    def item(self, e: Entry) -> None:
        kind = kind_of(e)
        item = self.dialect.parse_item(kind, e.body)
        info = e.body.get("modelInfo", e.body)
        item_id = info.get("modelId") or info.get("classifierId")
        self.check(e, item.id == item_id, f"id {item.id}")
        self.check(e, item.created_at == parse_datetime(info["createdDateTime"]), "createdDateTime")
        if self.rec.family == "v2.1":
            self.check(e, item.ready and item.description == info.get("modelName"), "v2.1 model")
            components = [r["modelId"] for r in e.body.get("composedTrainResults", [])]
            self.check(e, item.component_ids == components, f"components {item.component_ids}")
        else:
            self.check(e, item.doc_types == list(e.body["docTypes"]), f"docTypes {item.doc_types}")
            self.check(e, item.tags == e.body.get("tags", {}), f"tags {item.tags}")
            self.check(e, item.description == e.body.get("description"), "description")
            self.check(e, item.build_mode in ("template", None), f"build mode {item.build_mode}")

    def error(self, e: Entry) -> None:
        if e.role == "error" and e.method == "POST" and isinstance(e.request_body, dict):
            self.copy(e)
        service_error = parse_service_error(e.body)
        self.check(e, service_error is not None, "no error body")
        assert service_error is not None
        retry_after = parse_retry_after(httpx.Headers(e.headers))
        error = error_from_service(service_error, status=e.status, retry_after=retry_after)
        expected = ERRORS[self.rec.name]
        self.check(e, isinstance(error, expected), f"{type(error).__name__}, expected {expected.__name__}")
        if isinstance(error, Throttled):
            self.check(
                e, error.retry_after == float(e.headers["retry-after"]), f"retry after {error.retry_after}"
            )


@pytest.mark.parametrize("name", NAMES)
def test_the_client_reads_every_recorded_reply(name):
    problems = ClientReplay(load(name)).run()
    assert not problems, "\n".join(problems)


# === the emulator answers every recorded request =================================================


def seed_of(rec: Recording, source: dict[str, Any]) -> dict[str, Any]:
    if rec.family == "v2.1":
        extra = {k: v for k, v in source.items() if k in ("trainResult", "composedTrainResults", "keys")}
        return {"models": [{**source["modelInfo"], **extra, "apiVersion": "2.1"}]}
    if "classifierId" in source:
        return {"classifiers": [source]}
    return {"models": [source]}


def restyle(value: str, issued: str, sent: str) -> str:
    """``value`` re-serialized as the recorded client re-serialized ``issued`` into ``sent``
    (``...:35Z`` -> ``...:35.0000000Z``)."""
    if issued.endswith("Z") and sent.startswith(issued[:-1]):
        return value[:-1] + sent[len(issued) - 1 :]
    return value


class EmulatorReplay:
    def __init__(self, rec: Recording, net: EmulatorNetwork) -> None:
        self.rec = rec
        self.state: EmulatorState = net.add(
            region(rec),
            KEY,
            endpoint=endpoint(rec),
            resource_id=resource_id(rec) or default_resource_id(region(rec)),
            rate_limits="off",
        )
        self.state.register_peer(self.state.resource_id, self.state.endpoint)  # same-resource copies
        self.client = net.client(self.state)
        self.source = source_item(rec)
        if self.source is not None:
            self.state.seed(seed_of(rec, self.source))
        self.ids: dict[str, str] = {}
        self.auth: tuple[dict[str, Any], dict[str, Any]] | None = None  # (recorded, emulated) authorization
        self.copied_at: float | None = None  # Date of the recorded 202
        self.compare = Comparison(self.ids, self.source)

    async def run(self) -> list[str]:
        for e in self.rec.entries:
            if e.role == "other":
                continue
            if e.role == "poll":
                await self.position_clock(e)
            response = await self.send(e)
            self.learn(e, response)
            self.compare_reply(e, response)
        return self.compare.divergences

    # requests ------------------------------------------------------------------------------------
    def url(self, uri: str) -> str:
        parts = httpx.URL(uri)
        segments = []
        for seg in parts.path.split("/"):
            item, colon, action = seg.partition(":")
            segments.append(self.ids.get(item, item) + colon + action)
        query = f"?{parts.query.decode()}" if parts.query else ""
        return f"{self.state.endpoint}{'/'.join(segments)}{query}"

    def request_body(self, e: Entry) -> Any:
        """The recorded body, with the recorded authorization's values replaced by the emulator's
        (tokens, sanitized values); values the recorded client changed on purpose (a wrong region)
        are kept."""
        body = e.request_body
        if self.auth is None or not isinstance(body, dict):
            return body
        issued, emulated = self.auth
        if "copyAuthorization" in body:
            return {**body, "copyAuthorization": self._rewritten(body["copyAuthorization"], issued, emulated)}
        return self._rewritten(body, issued, emulated)

    def _rewritten(
        self, sent: dict[str, Any], issued: dict[str, Any], emulated: dict[str, Any]
    ) -> dict[str, Any]:
        out = dict(sent)
        for key, value in sent.items():
            if key not in issued or key not in emulated:
                continue
            if value == issued[key]:
                out[key] = emulated[key]
            elif key == "expirationDateTime":
                out[key] = restyle(emulated[key], issued[key], value)
        return out

    async def send(self, e: Entry) -> httpx.Response:
        throttled = e.status == 429
        if throttled:
            profile = {"rate429": 1.0, "retryAfterSeconds": int(e.headers["retry-after"])}
            self.state.configure({"faults": {"all": profile}})
        body = self.request_body(e)
        try:
            if body is None:
                return await self.client.request(e.method, self.url(e.uri))
            if isinstance(body, str):
                return await self.client.request(e.method, self.url(e.uri), content=body.encode())
            return await self.client.request(e.method, self.url(e.uri), json=body)
        finally:
            if throttled:
                self.state.configure({"faults": {}})

    # time ----------------------------------------------------------------------------------------
    def operation(self, e: Entry) -> Operation:
        op_id = self.ids[last_path_segment(e.uri) or ""]
        return self.state.operations.ops[op_id]

    async def position_clock(self, e: Entry) -> None:
        """Move the emulator clock into the state the recorded poll saw (recorded times depend on
        the service's queue; what each state looks like is what is compared)."""
        op = self.operation(e)
        status = e.body["status"]
        at = {"running": op.running_at, "succeeded": op.terminal_at, "failed": op.terminal_at}.get(status)
        if at is not None and self.state.now() < at + 0.001:
            self.state.advance_clock(at + 0.001 - self.state.now())
        if status == "failed" and self.copied_at is not None:
            self.compare_failure_time(e, op)

    def compare_failure_time(self, e: Entry, op: Operation) -> None:
        """A copy fails when the recorded one did (Date headers: to the second)."""
        assert self.copied_at is not None
        waited = [p.date - self.copied_at for p in self.rec.of_role("poll") if p.index < e.index]
        earliest, latest = (max(waited) if waited else 0) - 1, e.date - self.copied_at + 1
        if not earliest <= op.duration <= latest:
            self.compare.differs(
                f"{self.rec.name} {e}", f"fails {op.duration:.1f} s after copyTo, recorded {latest - 1:.0f} s"
            )

    # comparing -----------------------------------------------------------------------------------
    def compare_reply(self, e: Entry, response: httpx.Response) -> None:
        where = f"{self.rec.name} {e}"
        if response.status_code != e.status:
            self.compare.differs(
                where, f"HTTP {response.status_code} ({response.text[:300]}), recorded {e.status}"
            )
            return
        self.compare.headers(e, response.headers, self.rec.year, where)
        body = response.json() if response.content else None
        if (body is None) != (e.body is None):
            self.compare.differs(where, f"body {body!r}, recorded {e.body!r}")
        elif body is not None:
            self.compare.body(e.body, body, where, e.status, response.headers.get("apim-request-id"))
        if e.role == "authorize" and e.status < 300 and isinstance(body, dict):
            recorded, emulated = lifetime(e.headers, e.body), lifetime(response.headers, body)
            if abs(recorded - emulated) > 1:
                self.compare.differs(
                    where, f"authorization lasts {emulated:.0f} s, recorded {recorded:.0f} s"
                )

    def learn(self, e: Entry, response: httpx.Response) -> None:
        """What later requests need: the authorization, the ids the emulator minted."""
        if e.role == "authorize" and response.status_code < 300:
            self.auth = (e.body, response.json())
            if "modelId" in e.body and "targetModelId" not in e.body:  # v2.1: the target id is minted
                self.ids[e.body["modelId"]] = response.json()["modelId"]
        if e.role == "copy" and response.status_code == 202:
            recorded, emulated = e.headers["operation-location"], response.headers["operation-location"]
            self.ids[last_path_segment(recorded) or ""] = last_path_segment(emulated) or ""
            self.copied_at = e.date


@pytest.fixture
async def network() -> AsyncIterator[EmulatorNetwork]:
    net = EmulatorNetwork()
    yield net
    await net.aclose()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_EMULATED])
async def test_the_emulator_answers_as_recorded(name, network):
    replay = EmulatorReplay(load(name), network)
    try:
        divergences = await replay.run()
    finally:
        await replay.client.aclose()
    assert not divergences, f"{len(divergences)} divergences from the recording:\n" + "\n".join(divergences)


def test_default_copy_durations_cover_the_recorded_copies():
    """Every recorded successful copy ended (copyTo to the first terminal poll, to the second) within
    the emulator's default range of durations."""
    low, high = DEFAULT_COPY_DURATIONS
    low, high = low * (1 - DEFAULT_COPY_DURATION_SPREAD), high * (1 + DEFAULT_COPY_DURATION_SPREAD)
    for name in NAMES:
        rec = load(name)
        copy = next((e for e in rec.of_role("copy") if e.status == 202), None)
        polls = [e for e in rec.of_role("poll") if e.status == 200]
        if copy is None or not polls or polls[-1].body["status"] != "succeeded":
            continue
        waiting = [p.date - copy.date for p in polls if p.body["status"] != "succeeded"]
        earliest, latest = (max(waiting) if waiting else 0) - 1, polls[-1].date - copy.date + 1
        assert earliest <= high and latest >= low, (name, earliest, latest)
