"""A ``copyTo`` request as the source receives it: the body (the target's authorization, v2.1 or
v3/v4 shape) checked field by field, and where the target lives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .clock import parse_time
from .errors import bad_request, invalid_target
from .versions import ARM_ID_PATTERN, ID_PATTERN, REGION_PATTERN, UUID_PATTERN

_V21_FIELDS = ("targetResourceId", "targetResourceRegion", "copyAuthorization")
_V21_AUTH_FIELDS = ("modelId", "accessToken", "expirationDateTimeTicks")
_LABELS = {"model": "Model", "classifier": "Classifier"}


@dataclass(frozen=True)
class CopyRequest:
    kind: str  # "model" | "classifier" | "v21"
    claims: dict[str, Any]  # the authorization, as the target will check it
    target_base: str  # scheme://host[:port] of the target resource

    @property
    def target_resource_id(self) -> Any:
        return self.claims["targetResourceId"]

    @property
    def token(self) -> str:
        return str(self.claims["accessToken"])

    @property
    def target_id(self) -> Any:
        if self.kind == "v21":
            return self.claims["modelId"]
        return self.claims[f"target{_LABELS[self.kind]}Id"]

    def target_location(self) -> str:
        """Where the copied item will be (an operation's ``resourceLocation``)."""
        if self.kind == "v21":
            return f"{self.target_base}/formrecognizer/v2.1/custom/models/{self.target_id}"
        return str(self.claims[f"target{_LABELS[self.kind]}Location"]).split("?", 1)[0]


def parse_copy_request(kind: str, body: Any, peers: Mapping[str, str]) -> CopyRequest:
    """Check a copyTo body (any JSON); ``peers`` maps lower-cased ARM ids to endpoints (a v2.1
    request names its target only by ARM id)."""
    if not isinstance(body, dict):
        raise bad_request("body", "The copy request body must be a JSON object.", copy=True)
    claims = _v21_claims(body) if kind == "v21" else _claims(kind, body)
    rid = _check_target(claims)
    if kind == "v21":
        base = peers.get(rid.lower())
        if base is None:
            raise invalid_target(rid)
    else:
        base = _location_base(claims[f"target{_LABELS[kind]}Location"])
    return CopyRequest(kind, claims, base)


def _require(obj: dict[str, Any], fields: tuple[str, ...], prefix: str = "") -> None:
    for f in fields:
        if f not in obj:
            raise bad_request(prefix + f, f"The parameter {f} is required.", copy=True)


def _v21_claims(body: dict[str, Any]) -> dict[str, Any]:
    _require(body, _V21_FIELDS)
    ca = body["copyAuthorization"]
    if not isinstance(ca, dict):
        raise bad_request("copyAuthorization", "copyAuthorization must be an object.", copy=True)
    _require(ca, _V21_AUTH_FIELDS, "copyAuthorization.")
    if not isinstance(ca["expirationDateTimeTicks"], int):
        raise bad_request("copyAuthorization.expirationDateTimeTicks", "Must be an integer.", copy=True)
    if not isinstance(ca["modelId"], str) or not UUID_PATTERN.match(ca["modelId"]):
        raise bad_request("copyAuthorization.modelId", "Must be a GUID.", copy=True)
    return {
        "modelId": ca["modelId"],
        "accessToken": ca["accessToken"],
        "expirationDateTimeTicks": ca["expirationDateTimeTicks"],
        "targetResourceId": body["targetResourceId"],
        "targetResourceRegion": body["targetResourceRegion"],
    }


def _claims(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    label = _LABELS[kind]
    fields = (
        "targetResourceId",
        "targetResourceRegion",
        f"target{label}Id",
        f"target{label}Location",
        "accessToken",
        "expirationDateTime",
    )
    for f in fields:
        _require(body, (f,))
        if not isinstance(body[f], str) or not body[f]:
            raise bad_request(f, f"The parameter {f} must be a non-empty string.", copy=True)
    if not ID_PATTERN.match(body[f"target{label}Id"]):
        raise bad_request(f"target{label}Id", "The id does not match the allowed pattern.", copy=True)
    try:
        parse_time(body["expirationDateTime"])
    except ValueError:
        raise bad_request("expirationDateTime", "Not a valid date-time.", copy=True) from None
    return {f: body[f] for f in fields}


def _check_target(claims: dict[str, Any]) -> str:
    """The target's ARM id, once it and the region look right."""
    rid = claims["targetResourceId"]
    if not isinstance(rid, str) or len(rid) > 1024 or not ARM_ID_PATTERN.match(rid):
        raise invalid_target(str(rid))
    region = claims["targetResourceRegion"]
    if not isinstance(region, str) or not REGION_PATTERN.match(region):
        raise bad_request(
            "targetResourceRegion", "The region must match ^[a-z0-9]+$ (1-24 chars).", copy=True
        )
    return rid


def _location_base(location: str) -> str:
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request("targetLocation", "The target location must be an absolute URL.", copy=True)
    return f"{parts.scheme}://{parts.netloc}"
