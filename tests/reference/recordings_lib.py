"""The recordings of the real service (``recordings/*.json``) as data: entries, the resource each one
was recorded on, the item a copy started from, and how to compare a reply with a recorded one.

Used by ``test_replay.py`` in both directions (the app's client parses each recorded reply; the
emulator answers each recorded request as the service did).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RECORDINGS = Path(__file__).resolve().parent / "recordings"

# Values the SDK test proxies put in place of real ones: never compared.
SANITIZED = {"Sanitized", "redacted", "/path/to/resource/id", "region"}
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TIME_FORMS = {
    "whole seconds": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"),
    # up to 7 digits, trailing zeros dropped (recorded: .8620147Z, .862015Z)
    "fractional seconds": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{0,6}[1-9]Z$"),
}
_OPERATION_IDS = {"number_requestid": re.compile(rf"^\d+_{UUID}$"), "uuid": re.compile(rf"^{UUID}$")}
_LOCATION_KEYS = {"resourceLocation", "targetModelLocation", "targetClassifierLocation"}
# Item dates whose relation to the source item's tells how the service copied it.
ITEM_DATES = ("createdDateTime", "modifiedDateTime", "expirationDateTime", "lastUpdatedDateTime")


class Headers(dict[str, str]):
    """Response headers, names case-insensitive (the recordings mix the cases)."""

    def __init__(self, items: Mapping[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in items.items()})

    def get_(self, name: str) -> str | None:
        return self.get(name.lower())


@dataclass(frozen=True)
class Entry:
    index: int
    role: str
    method: str
    uri: str
    request_body: Any
    status: int
    headers: Headers
    body: Any

    @property
    def date(self) -> float:
        """The reply's Date header, as Unix seconds."""
        return parsedate_to_datetime(self.headers["date"]).timestamp()

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    def __str__(self) -> str:
        return f"#{self.index} {self.role} {self.method} {self.path} -> {self.status}"


@dataclass(frozen=True)
class Recording:
    name: str
    api_version: str
    entries: list[Entry]
    resource: dict[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        if self.api_version.startswith("2.1"):
            return "v2.1"
        return "v4" if self.api_version.startswith("2024-") else "v3"

    @property
    def year(self) -> int:
        """When it was recorded (x-ms-region only exists on replies from 2023 on)."""
        return min(datetime.fromtimestamp(e.date).year for e in self.entries)

    def of_role(self, role: str) -> Iterator[Entry]:
        return (e for e in self.entries if e.role == role)

    def first(self, role: str) -> Entry | None:
        return next(self.of_role(role), None)


def names() -> list[str]:
    return sorted(p.stem for p in RECORDINGS.glob("*.json"))


def load(name: str) -> Recording:
    raw = json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))
    entries = [
        Entry(
            index=i,
            role=e["role"],
            method=e["RequestMethod"],
            uri=e["RequestUri"],
            request_body=e.get("RequestBody"),
            status=int(e["StatusCode"]),
            headers=Headers(e.get("ResponseHeaders") or {}),
            body=e.get("ResponseBody"),
        )
        for i, e in enumerate(raw["entries"])
    ]
    return Recording(name, raw["apiVersion"], entries, raw.get("resource") or {})


# --- what a recording is about ------------------------------------------------------------------


def item_kind(path: str) -> str:
    """``model``, ``classifier`` or ``v21`` from a request path."""
    if "/v2.1" in path:
        return "v21"
    return "classifier" if "documentClassifiers" in path else "model"


def source_item(rec: Recording) -> dict[str, Any] | None:
    """The item the copy started from: a recorded GET of it, else the result of the build/compose
    operation that made it (the only view of it some recordings have)."""
    entry = rec.first("source_item")
    if entry is not None:
        return dict(entry.body)
    for e in rec.of_role("other"):
        if e.method == "GET" and isinstance(e.body, dict) and isinstance(e.body.get("result"), dict):
            return dict(e.body["result"])
    return None


def endpoint(rec: Recording) -> str:
    """scheme://host of the recorded resource, as the service named itself in its replies (request
    hosts may be sanitized differently)."""
    for e in rec.entries:
        for url in _urls(e):
            parts = urlsplit(url)
            if parts.scheme and "sanitized" not in parts.netloc.lower():
                return f"{parts.scheme}://{parts.netloc.lower()}"
    parts = urlsplit(rec.entries[0].uri)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _urls(e: Entry) -> Iterator[str]:
    for name in ("operation-location", "location"):
        if name in e.headers:
            yield e.headers[name]
    if isinstance(e.body, dict):
        for key in _LOCATION_KEYS:
            if isinstance(e.body.get(key), str) and e.body[key].startswith("http"):
                yield e.body[key]


def _authorized(rec: Recording, claim: str) -> str | None:
    """A claim of the recorded authorization, unless the test proxy sanitized it."""
    for e in rec.of_role("authorize"):
        value = e.body.get(claim) if isinstance(e.body, dict) else None
        if isinstance(value, str) and value not in SANITIZED:
            return value
    return None


def resource_id(rec: Recording) -> str | None:
    """The ARM id of the recorded resource, where the recording shows it."""
    return rec.resource.get("resourceId") or _authorized(rec, "targetResourceId")


def region(rec: Recording) -> str:
    """The Azure region name of the recorded resource (East US where nothing says)."""
    if rec.resource.get("region"):
        return rec.resource["region"]
    authorized = _authorized(rec, "targetResourceRegion")
    if authorized:
        return authorized
    for e in rec.entries:
        display = e.headers.get("x-ms-region")
        if display:
            return re.sub(r"\s+", "", display).lower()
    return "eastus"


# --- comparing replies --------------------------------------------------------------------------


def time_form(value: str) -> str:
    return next((name for name, rx in _TIME_FORMS.items() if rx.match(value)), f"other ({value!r})")


def operation_id_form(value: str) -> str:
    return next((name for name, rx in _OPERATION_IDS.items() if rx.match(value)), f"other ({value!r})")


def url_shape(url: str, ids: Mapping[str, str]) -> tuple[str, list[str], list[tuple[str, str]]]:
    """(host, path segments, query) with ids replaced: every known recorded id by its counterpart,
    then GUIDs, numbers and operation ids by '*'."""
    parts = urlsplit(url)
    segments = []
    for seg in parts.path.split("/"):
        item, colon, action = seg.partition(":")
        item = ids.get(item, item)
        if re.fullmatch(rf"{UUID}|\d+|\d+_{UUID}", item):
            item = "*"
        segments.append(item + colon + action)
    return parts.netloc.lower(), segments, sorted(parse_qsl(parts.query))


@dataclass
class Comparison:
    """Compare one recorded reply with the emulator's; ``divergences`` lists what differs.

    ``ids`` maps recorded ids to the emulator's (a v2.1 target GUID is minted by the service);
    ``source`` is the item the copy started from (recorded and seeded alike)."""

    ids: Mapping[str, str]
    source: Mapping[str, Any] | None
    divergences: list[str] = field(default_factory=list)

    def differs(self, where: str, what: str) -> None:
        self.divergences.append(f"{where}: {what}")

    # headers -------------------------------------------------------------------------------------
    def headers(self, rec: Entry, emu: Mapping[str, str], year: int, where: str) -> None:
        emu_h = Headers(emu)
        for name in ("Retry-After", "Operation-Location", "Location", "ms-azure-ai-errorcode"):
            key = name.lower()
            if (key in rec.headers) != (key in emu_h):
                recorded, emulated = ("present", "absent") if key in rec.headers else ("absent", "present")
                self.differs(
                    where, f"header {name}: {recorded} in the recording, {emulated} in the emulator's"
                )
        for name in ("operation-location", "location"):
            if name in rec.headers and name in emu_h:
                want, got = url_shape(rec.headers[name], self.ids), url_shape(emu_h[name], {})
                if want != got:
                    self.differs(
                        where, f"header {name} {emu_h[name]!r} is not shaped like {rec.headers[name]!r}"
                    )
        code = "ms-azure-ai-errorcode"
        if code in rec.headers and rec.headers[code] != emu_h.get(code):
            self.differs(where, f"header {code} {emu_h.get(code)!r}, recorded {rec.headers[code]!r}")
        if "apim-request-id" in rec.headers and not re.fullmatch(UUID, emu_h.get("apim-request-id", "")):
            self.differs(where, "no apim-request-id (a GUID) in the emulator's reply")
        self._region(rec, emu_h, year, where)
        deprecation = "azure-deprecating"
        if deprecation in rec.headers and rec.headers[deprecation] != emu_h.get(deprecation):
            self.differs(where, f"header {deprecation} {emu_h.get(deprecation)!r}")

    def _region(self, rec: Entry, emu: Headers, year: int, where: str) -> None:
        recorded, got = rec.headers.get("x-ms-region"), emu.get("x-ms-region")
        if recorded is not None and recorded != got:
            self.differs(where, f"header x-ms-region {got!r}, recorded {recorded!r}")
        # replies of 2022 have no x-ms-region at all; since 2023 only the gateway's lack it
        if recorded is None and year >= 2023 and got is not None:
            self.differs(where, f"header x-ms-region {got!r} where the service sends none")

    # bodies --------------------------------------------------------------------------------------
    def body(self, rec: Any, emu: Any, where: str, status: int, request_id: str | None = None) -> None:
        self._request_id = request_id
        self._status = status
        self._value("", rec, emu, where)

    def _value(self, key: str, rec: Any, emu: Any, where: str) -> None:
        if isinstance(rec, dict):
            self._object(rec, emu, where)
        elif isinstance(rec, list):
            if not isinstance(emu, list) or len(emu) != len(rec):
                self.differs(where, f"{len(rec)} items recorded, emulator: {emu!r}")
                return
            for i, (r, e) in enumerate(zip(rec, emu, strict=True)):
                self._value(key, r, e, f"{where}[{i}]")
        else:
            self._scalar(key, rec, emu, where)

    def _object(self, rec: dict[str, Any], emu: Any, where: str) -> None:
        if not isinstance(emu, dict):
            self.differs(where, f"an object recorded, emulator: {emu!r}")
            return
        want = {self.ids.get(k, k) for k in rec}
        for k in sorted(want - set(emu)):
            self.differs(where, f"key {k!r} missing (recorded)")
        for k in sorted(set(emu) - want):
            self.differs(where, f"key {k!r} not in the recording")
        for k, v in rec.items():
            mapped = self.ids.get(k, k)
            if mapped in emu:
                self._value(k, v, emu[mapped], f"{where}.{k}")
        if self.source is not None and ("docTypes" in rec or "modelInfo" in rec or "classifierId" in rec):
            self._item_dates(rec.get("modelInfo", rec), emu.get("modelInfo", emu), where)

    def _item_dates(self, rec: Mapping[str, Any], emu: Mapping[str, Any], where: str) -> None:
        """A copied item's dates relate to its source's as recorded: kept or new."""
        assert self.source is not None
        source = self.source.get("modelInfo", self.source)
        for k in ITEM_DATES:
            if k in rec and k in emu and k in source:
                kept_recorded, kept_emulated = rec[k] == source[k], emu[k] == source[k]
                if kept_recorded != kept_emulated:
                    how = "keeps" if kept_recorded else "does not keep"
                    self.differs(
                        f"{where}.{k}", f"the recorded item {how} the source's value; emulator {emu[k]!r}"
                    )

    def _scalar(self, key: str, rec: Any, emu: Any, where: str) -> None:
        kind = {bool: "bool", int: "number", float: "number", str: "string", type(None): "null"}
        if kind.get(type(rec)) != kind.get(type(emu)):
            self.differs(where, f"{kind.get(type(rec))} recorded, emulator: {emu!r}")
            return
        if not isinstance(rec, str):
            if key != "expirationDateTimeTicks" and rec != emu:  # ticks: checked as a lifetime
                self.differs(where, f"{emu!r}, recorded {rec!r}")
            return
        self._string(key, rec, str(emu), where)

    def _string(self, key: str, rec: str, emu: str, where: str) -> None:
        if rec in SANITIZED or "Sanitized" in rec or key == "accessToken":
            return
        if key.endswith("DateTime"):
            if time_form(rec) != time_form(emu):
                self.differs(where, f"{emu!r} is {time_form(emu)}, recorded {rec!r} is {time_form(rec)}")
        elif key == "operationId":
            if operation_id_form(rec) != operation_id_form(emu):
                self.differs(where, f"{emu!r} is not shaped like {rec!r}")
        elif key in _LOCATION_KEYS:
            if url_shape(rec, self.ids) != url_shape(emu, {}):
                self.differs(where, f"{emu!r} is not shaped like {rec!r}")
        elif key == "requestId":
            if emu != self._request_id:
                self.differs(where, f"{emu!r} is not this reply's apim-request-id {self._request_id!r}")
        elif key == "message" and self._status == 429:
            # The recording is of an F0 resource (its APIM text names the tier and the operation);
            # the emulator models S0 throttling, whose text is not recorded. Retry-After is compared.
            return
        elif key == "targetResourceId":
            if rec.lower() != emu.lower():
                self.differs(where, f"{emu!r}, recorded {rec!r}")
        elif self.ids.get(rec, rec) != emu:
            self.differs(where, f"{emu!r}, recorded {rec!r}")


def lifetime(headers: Mapping[str, str], body: Mapping[str, Any]) -> float:
    """Seconds from a reply's Date to the expiry of the authorization in its body."""
    issued = parsedate_to_datetime(Headers(headers)["date"]).timestamp()
    if "expirationDateTimeTicks" in body:
        return float(body["expirationDateTimeTicks"]) - issued
    expiry = datetime.fromisoformat(str(body["expirationDateTime"]).replace("Z", "+00:00"))
    return expiry.timestamp() - issued
