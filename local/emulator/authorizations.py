"""The target side of a copy: ``authorizeCopy`` issues an authorization (and reserves the target id
and a quota slot); when the source's copy arrives (through the peer protocol, ``peers``) the
authorization is checked (``validate``), then consumed by ``commit``, which creates the item, or by
``abort`` when the copy failed."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import Clock, fmt_time
from .errors import DIError, bad_request, copy_refused
from .items import Item, ItemStore
from .resource import Resource
from .versions import ID_PATTERN, LATEST, PREBUILT_IDS, V21, VERSIONS, Version

AUTH_TTL = 24 * 3600.0
_LABELS = {"model": "Model", "classifier": "Classifier"}
_COLLECTIONS = {"model": "documentModels", "classifier": "documentClassifiers"}


@dataclass
class Authorization:
    token: str
    kind: str  # "model" | "classifier" | "v21"
    item_id: str
    claims: dict[str, Any]
    expires: float
    description: str | None
    tags: dict[str, str] | None
    api_version: str
    consumed: bool = False


class Authorizations:
    def __init__(self, resource: Resource, store: ItemStore, clock: Clock) -> None:
        self.resource = resource
        self.store = store
        self.clock = clock
        self.auths: dict[str, Authorization] = {}
        self.reserved: dict[tuple[str, str], str] = {}  # (kind, id) -> token of pending authorization

    # --- authorizeCopy --------------------------------------------------------------------------

    def authorize(self, kind: str, ver: Version, body: Any) -> dict[str, Any]:
        """The claims of a new authorization (v2.1: its reply); ``body`` is the request's JSON."""
        if kind == "v21":
            return self._authorize_v21()
        item_id, desc, tags = _authorize_request(kind, body)
        label = _LABELS[kind]
        if item_id in self.store.of_kind(kind) or (kind == "model" and item_id in PREBUILT_IDS):
            raise DIError(409, "Conflict", f"{label} with id '{item_id}' already exists.", f"{label}Exists")
        self._check_reservation(kind, item_id, label)
        if kind == "model":
            self._check_quota()
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + AUTH_TTL
        loc_q = f"?api-version={ver.name}" if ver.name == "2022-08-31" else ""  # as in that version's example
        res = self.resource
        claims = {
            "targetResourceId": res.resource_id,
            "targetResourceRegion": res.region,
            f"target{label}Id": item_id,
            f"target{label}Location": f"{res.endpoint}{ver.prefix}/{_COLLECTIONS[kind]}/{item_id}{loc_q}",
            "accessToken": token,
            "expirationDateTime": fmt_time(expires),
        }
        self.auths[token] = Authorization(token, kind, item_id, claims, expires, desc, tags, ver.name)
        self.reserved[(kind, item_id)] = token
        return dict(claims)

    def _authorize_v21(self) -> dict[str, Any]:
        self._check_quota()
        item_id = str(uuid.uuid4())
        token = secrets.token_urlsafe(32)
        expires = self.clock.now() + AUTH_TTL
        # inferred: expirationDateTimeTicks as seconds since the epoch (the spec text's wording)
        claims = {
            "modelId": item_id,
            "accessToken": token,
            "expirationDateTimeTicks": int(expires),
            "targetResourceId": self.resource.resource_id,
            "targetResourceRegion": self.resource.region,
        }
        self.auths[token] = Authorization(token, "v21", item_id, claims, expires, None, None, V21)
        self.reserved[("v21", item_id)] = token
        return {"modelId": item_id, "accessToken": token, "expirationDateTimeTicks": int(expires)}

    def _check_reservation(self, kind: str, item_id: str, label: str) -> None:
        token = self.reserved.get((kind, item_id))
        if token is None:
            return
        auth = self.auths.get(token)
        if auth is not None and not auth.consumed and auth.expires > self.clock.now():
            raise DIError(
                409,
                "Conflict",
                f"{label} id '{item_id}' is reserved by a pending copy "
                "authorization. Use the existing authorization or choose another id.",
                f"{label}IdReserved",
            )
        # inferred: an expired reservation no longer blocks the id
        self.release(token)

    def _check_quota(self) -> None:
        pending = sum(1 for (k, _) in self.reserved if k in ("model", "v21"))
        count = self.store.custom_model_count() + pending
        limit = self.resource.model_limit
        if count >= limit:
            raise DIError(
                400,
                "QuotaExceeded",
                f"The custom model quota of this resource is exhausted: "
                f"{count} custom models (including pending copies) of a limit of {limit}. "
                "Delete unused models or request a quota increase.",
            )

    def release(self, token: str) -> None:
        """Free the reserved id; forget the authorization unless a copy already used it."""
        auth = self.auths.get(token)
        if auth is None:
            return
        if self.reserved.get((auth.kind, auth.item_id)) == token:
            del self.reserved[(auth.kind, auth.item_id)]
        if not auth.consumed:
            del self.auths[token]

    def _release_unless_consumed(self, auth: Authorization) -> None:
        if not auth.consumed:
            self.release(auth.token)

    # --- the source's copy arrives --------------------------------------------------------------

    def validate(self, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Check a copy about to start against its authorization; what the source needs to know of
        the target. A refused authorization is dropped (unless a copy already used it)."""
        auth = self.auths.get(token)
        claims = payload.get("claims") or {}
        if auth is None:
            raise _bad_claims()
        if auth.kind != payload.get("kind") or any(claims.get(k) != v for k, v in auth.claims.items()):
            self._release_unless_consumed(auth)
            raise _bad_claims()
        if auth.expires <= self.clock.now():
            self._release_unless_consumed(auth)
            raise copy_refused(
                "The copy authorization has expired. Authorizations are valid for "
                "24 hours; request a new one from the target resource.",
                "AuthorizationExpired",
            )
        if not auth.consumed and payload.get("buildMode") == "neural":
            self._check_neural_quota(auth)
        res = self.resource
        return {"resourceId": res.resource_id, "region": res.region, "cmk": res.cmk}

    def _check_neural_quota(self, auth: Authorization) -> None:
        # inferred: the neural limit can only be checked once the source says the model is neural
        used, limit = self.store.neural_count(), self.resource.neural_limit
        if used >= limit:
            self.release(auth.token)
            raise DIError(
                400,
                "QuotaExceeded",
                f"The neural model quota of the target is exhausted: "
                f"{used} neural models of a limit of {limit}.",
            )

    def commit(self, token: str, payload: dict[str, Any]) -> Item | None:
        """Create the target item; None when the authorization is unknown or already consumed."""
        auth = self.auths.get(token)
        if auth is None or auth.consumed or auth.kind != payload.get("kind"):
            return None
        definition = payload.get("definition") or {}
        ver = VERSIONS.get(str(payload.get("apiVersion")), VERSIONS[LATEST])
        item = _COMMITTED[auth.kind](definition, auth, fmt_time(self.clock.now()), ver)
        self.store.of_kind(auth.kind)[auth.item_id] = item
        auth.consumed = True
        self.reserved.pop((auth.kind, auth.item_id), None)
        return item

    def abort(self, token: str) -> None:
        auth = self.auths.get(token)
        if auth is None:
            return
        self.reserved.pop((auth.kind, auth.item_id), None)
        auth.consumed = True  # a token used by a failed copy stays used


def _authorize_request(kind: str, body: Any) -> tuple[str, str | None, dict[str, str] | None]:
    """(target id, description, tags) of an authorizeCopy request body."""
    if not isinstance(body, dict):
        raise bad_request("body", "The request body must be a JSON object.", copy=True)
    id_field = "modelId" if kind == "model" else "classifierId"
    item_id = body.get(id_field)
    if not isinstance(item_id, str) or not item_id:
        raise bad_request(id_field, f"The parameter {id_field} is required.", copy=True)
    if not ID_PATTERN.match(item_id):
        raise bad_request(
            id_field,
            f"The {id_field} '{item_id}' is invalid: it must match ^[a-zA-Z0-9][a-zA-Z0-9._~-]{{1,63}}$.",
            copy=True,
        )
    desc = body.get("description")
    if desc is not None and (not isinstance(desc, str) or len(desc) > 4096):
        raise bad_request(
            "description", "The description must be a string of at most 4096 characters.", copy=True
        )
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())
    ):
        raise bad_request("tags", "The tags must be an object of string values.", copy=True)
    return item_id, desc, tags


def _bad_claims() -> DIError:
    return copy_refused(
        "The copy request has missing or invalid authorization claims. "
        "Pass the copy authorization exactly as returned by the target resource.",
        "InvalidAuthorizationClaims",
    )


def _committed_v21(d: Item, auth: Authorization, now: str, ver: Version) -> Item:
    item = {
        **d,
        "modelId": auth.item_id,
        "status": "ready",
        "createdDateTime": now,
        "lastUpdatedDateTime": now,
    }
    item.pop("keys", None)
    return item


def _committed_v3(id_field: str, d: Item, auth: Authorization, now: str, ver: Version) -> Item:
    rest = {k: v for k, v in d.items() if k not in (id_field, "createdDateTime", "modifiedDateTime")}
    item = {
        id_field: auth.item_id,
        "createdDateTime": now,
        "modifiedDateTime": now,
        **rest,
        "apiVersion": ver.name,
    }
    # inferred: description/tags from the authorization when given, else the source's
    if auth.description is not None:
        item["description"] = auth.description
    if auth.tags is not None and id_field == "modelId":
        item["tags"] = dict(auth.tags)
    return item


def _committed_model(d: Item, auth: Authorization, now: str, ver: Version) -> Item:
    return _committed_v3("modelId", d, auth, now, ver)


def _committed_classifier(d: Item, auth: Authorization, now: str, ver: Version) -> Item:
    return _committed_v3("classifierId", d, auth, now, ver)


# The item a committed copy creates at the target, per kind: the source's definition, the target's id,
# new dates, the request's API version.
_COMMITTED: dict[str, Callable[[Item, Authorization, str, Version], Item]] = {
    "v21": _committed_v21,
    "model": _committed_model,
    "classifier": _committed_classifier,
}
