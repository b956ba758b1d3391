"""A ``copyTo`` request as the source receives it: the body (the target's authorization, v2.1 or
v3/v4 shape) checked field by field, and where the target lives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .clock import parse_time
from .errors import bad_request, invalid_target, v21_copy_invalid
from .versions import ARM_ID_PATTERN, ID_PATTERN, REGION_PATTERN, UUID_PATTERN

_LABELS = {"model": "Model", "classifier": "Classifier"}


@dataclass(frozen=True)
class CopyRequest:
    kind: str  # "model" | "classifier" | "v21"
    claims: dict[str, Any]  # the authorization, as the target will check it
    target_base: str | None  # scheme://host[:port] of the target resource; None: not known here

    @property
    def target_resource_id(self) -> Any:
        return self.claims["targetResourceId"]

    @property
    def target_region(self) -> str:
        return str(self.claims["targetResourceRegion"])

    def target_endpoint(self) -> str:
        """``target_base``, once it is known; else the copy is refused (target unknown)."""
        if self.target_base is None:
            raise invalid_target(str(self.target_resource_id))
        return self.target_base

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
    request names its target only by ARM id; an unknown one is refused by ``target_endpoint``).
    Only the body is looked at: this comes before the source item is looked up (recorded, v2.1)."""
    if kind == "v21":
        claims = _v21_claims(body)
        return CopyRequest(kind, claims, peers.get(str(claims["targetResourceId"]).lower()))
    if not isinstance(body, dict):
        raise bad_request("body", "The copy request body must be a JSON object.", copy=True)
    claims = _claims(kind, body)
    _check_target(claims)
    return CopyRequest(kind, claims, _location_base(claims[f"target{_LABELS[kind]}Location"]))


def _require(obj: dict[str, Any], fields: tuple[str, ...], prefix: str = "") -> None:
    for f in fields:
        if f not in obj:
            raise bad_request(prefix + f, f"The parameter {f} is required.", copy=True)


def _v21_claims(body: Any) -> dict[str, Any]:
    """The v2.1 body, checked in the service's order: the target resource id comes first (recorded:
    refused with a missing source model and a malformed authorization); the rest is inferred."""
    if not isinstance(body, dict):
        raise v21_copy_invalid("CopyRequest", "must be a JSON object")
    rid = body.get("targetResourceId")
    if not isinstance(rid, str) or len(rid) > 1024 or not ARM_ID_PATTERN.match(rid):
        raise v21_copy_invalid("TargetResourceId", "must be a valid Azure Resource ID")
    region = body.get("targetResourceRegion")
    if not isinstance(region, str) or not REGION_PATTERN.match(region):
        raise v21_copy_invalid("TargetResourceRegion", "must be a valid Azure region name")
    ca = body.get("copyAuthorization")
    if not isinstance(ca, dict):
        raise v21_copy_invalid("CopyAuthorization", "is required")
    if not isinstance(ca.get("modelId"), str) or not UUID_PATTERN.match(ca["modelId"]):
        raise v21_copy_invalid("CopyAuthorization.ModelId", "must be a valid GUID")
    if not isinstance(ca.get("accessToken"), str) or not ca["accessToken"]:
        raise v21_copy_invalid("CopyAuthorization.AccessToken", "is required")
    if not isinstance(ca.get("expirationDateTimeTicks"), int):
        raise v21_copy_invalid("CopyAuthorization.ExpirationDateTimeTicks", "must be an integer")
    return {
        "modelId": ca["modelId"],
        "accessToken": ca["accessToken"],
        "expirationDateTimeTicks": ca["expirationDateTimeTicks"],
        "targetResourceId": rid,
        "targetResourceRegion": region,
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


def _check_target(claims: dict[str, Any]) -> None:
    """The target's ARM id and region must look right."""
    rid = claims["targetResourceId"]
    if not isinstance(rid, str) or len(rid) > 1024 or not ARM_ID_PATTERN.match(rid):
        raise invalid_target(str(rid))
    region = claims["targetResourceRegion"]
    if not isinstance(region, str) or not REGION_PATTERN.match(region):
        raise bad_request(
            "targetResourceRegion", "The region must match ^[a-z0-9]+$ (1-24 chars).", copy=True
        )


def _location_base(location: str) -> str:
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request("targetLocation", "The target location must be an absolute URL.", copy=True)
    return f"{parts.scheme}://{parts.netloc}"
