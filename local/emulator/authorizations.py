"""The target side of a copy: ``authorizeCopy`` issues an authorization (and reserves the target id
and a quota slot); when the source's copy arrives (through the peer protocol, ``peers``) the
authorization is checked (``validate``), then consumed by ``commit``, which creates the item, or by
``abort`` when the copy failed."""

from __future__ import annotations

import math
import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .clock import Clock, fmt_time, parse_time
from .errors import DIError, bad_request, copy_refused
from .items import Item, ItemStore
from .resource import Resource
from .versions import ID_PATTERN, LATEST, PREBUILT_IDS, V21, VERSIONS, Version

# How long an authorization is good for (recorded: expirationDateTime = reply Date + 1 h for every
# v3/v4 version; v2.1 expirationDateTimeTicks = Unix seconds of the reply Date + 24 h).
AUTH_TTL = 3600.0
AUTH_TTL_V21 = 24 * 3600.0
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
        # Copies delivered here, per (kind, id): tests check that no item is ever copied twice.
        self.commits: Counter[tuple[str, str]] = Counter()

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
        # whole seconds, rounded up (recorded: 3600 or 3601 s after the reply's Date)
        expires = float(math.ceil(self.clock.now()) + self.lifetime(kind))
        res = self.resource
        location = f"{res.endpoint}{ver.prefix}/{_COLLECTIONS[kind]}/{item_id}?api-version={ver.name}"
        claims = {
            "targetResourceId": res.resource_id,
            "targetResourceRegion": res.region,
            f"target{label}Id": item_id,
            f"target{label}Location": location,
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
        # expirationDateTimeTicks: Unix seconds (recorded: exactly the reply's Date + 24 h)
        expires = float(int(self.clock.now()) + self.lifetime("v21"))
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

    def lifetime(self, kind: str) -> float:
        """Seconds an authorization of ``kind`` is good for."""
        if self.resource.authorization_lifetime is not None:
            return self.resource.authorization_lifetime
        return AUTH_TTL_V21 if kind == "v21" else AUTH_TTL

    def is_reserved(self, kind: str, item_id: str) -> bool:
        """Whether ``item_id`` is only reserved here by a pending authorization (a copy into this
        resource has not yet created it)."""
        token = self.reserved.get((kind, item_id))
        auth = self.auths.get(token) if token is not None else None
        return auth is not None and not auth.consumed and auth.expires > self.clock.now()

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
        the target. A copy that names another region never reaches the authorization (the source
        looks for it in that region), so nothing is checked or changed then; otherwise a refused
        authorization is dropped (unless a copy already used it)."""
        res = self.resource
        target = {"resourceId": res.resource_id, "region": res.region, "cmk": res.cmk}
        claims = payload.get("claims") or {}
        if str(claims.get("targetResourceRegion", "")).lower() != res.region.lower():
            return target
        auth = self.auths.get(token)
        if auth is None:
            raise _bad_claims()
        if auth.kind != payload.get("kind") or not _same_claims(auth.claims, claims):
            self._release_unless_consumed(auth)
            raise _bad_claims()
        if auth.expires <= self.clock.now():
            self._release_unless_consumed(auth)
            raise copy_refused(
                "The copy authorization has expired. Authorizations are valid for one hour "
                "(API v2.1: 24 hours); request a new one from the target resource.",
                "AuthorizationExpired",
            )
        if not auth.consumed and payload.get("buildMode") == "neural":
            self._check_neural_quota(auth)
        return target

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
        source = Source(payload.get("definition") or {}, str(payload.get("sourceId") or ""))
        ver = VERSIONS.get(str(payload.get("apiVersion")), VERSIONS[LATEST])
        item = _COMMITTED[auth.kind](source, auth, fmt_time(self.clock.now()), ver)
        if "*" in self.resource.diverge_copies or auth.item_id in self.resource.diverge_copies:
            item = diverged(auth.kind, item)
        self.store.of_kind(auth.kind)[auth.item_id] = item
        auth.consumed = True
        self.reserved.pop((auth.kind, auth.item_id), None)
        self.commits[(auth.kind, auth.item_id)] += 1
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


def _same_claims(issued: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether ``sent`` means what was ``issued``: the service checks what an authorization says, not
    its bytes (an SDK re-serializes expirationDateTime as ``...:54.000Z``; recorded copies with
    ``.0000000Z`` succeed). Resource ids, regions and hosts compare case-insensitively (inferred:
    Azure treats them so)."""
    return all(_same_claim(name, value, sent.get(name)) for name, value in issued.items())


def _same_claim(name: str, issued: Any, sent: Any) -> bool:
    if name == "expirationDateTime":
        try:
            return parse_time(str(sent)) == parse_time(str(issued))
        except ValueError:
            return False
    if not isinstance(sent, str) or not isinstance(issued, str):
        return bool(sent == issued)
    if name in ("targetResourceId", "targetResourceRegion", "modelId"):  # modelId: a v2.1 GUID
        return sent.lower() == issued.lower()
    if name.endswith("Location"):
        return _same_url(sent, issued)
    return sent == issued


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.netloc.lower(), pa.path, pa.query) == (
        pb.scheme.lower(),
        pb.netloc.lower(),
        pb.path,
        pb.query,
    )


@dataclass(frozen=True)
class Source:
    """What a copy brings to the target: the source item as the source holds it, and its id."""

    definition: Item
    source_id: str


def _committed_v21(src: Source, auth: Authorization, now: str, ver: Version) -> Item:
    # the copy keeps the source's name, attributes, dates and train results (recorded)
    item = {**src.definition, "modelId": auth.item_id, "status": "ready"}
    item.pop("keys", None)
    return item


def _committed_v3(id_field: str, src: Source, auth: Authorization, now: str, ver: Version) -> Item:
    """A copied model or classifier, as the recordings show it per version of the copy request."""
    d = src.definition
    keep_out = (id_field, "createdDateTime", "modifiedDateTime", "apiVersion", "tags", "description")
    created = d.get("createdDateTime", now) if ver.copy_keeps_created else now
    item: Item = {
        id_field: auth.item_id,
        "createdDateTime": created,
        # the copy keeps the source's modifiedDateTime (recorded, 2024-11-30)
        "modifiedDateTime": d.get("modifiedDateTime", d.get("createdDateTime", now)),
        **{k: v for k, v in d.items() if k not in keep_out},
        "apiVersion": ver.name,
    }
    doc_types = item.get("docTypes")
    if ver.renames_doc_type and isinstance(doc_types, dict) and src.source_id in doc_types:
        item["docTypes"] = {(auth.item_id if k == src.source_id else k): v for k, v in doc_types.items()}
    # description: the authorization's, else the source's (recorded for a classifier)
    description = auth.description if auth.description is not None else d.get("description")
    if description is not None:
        item["description"] = description
    # tags: a model takes the authorization's (recorded), else the source's (inferred); a copied
    # classifier has none, even when the authorization had tags (recorded)
    tags = auth.tags if auth.tags is not None else d.get("tags")
    if tags and id_field == "modelId":
        item["tags"] = dict(tags)
    return item


def _committed_model(src: Source, auth: Authorization, now: str, ver: Version) -> Item:
    return _committed_v3("modelId", src, auth, now, ver)


def _committed_classifier(src: Source, auth: Authorization, now: str, ver: Version) -> Item:
    return _committed_v3("classifierId", src, auth, now, ver)


DIVERGED_FIELD = "EmulatorDivergedField"


def diverged(kind: str, item: Item) -> Item:
    """A copy that does not match its source (the ``divergeCopies`` control; the service has no such
    thing): every docType of a model gets a field the source lacks, a classifier gets a docType, a
    v2.1 model's train results a field. The source's definition is left as it was."""
    out = dict(item)
    if kind == "v21":
        field = {"fieldName": DIVERGED_FIELD, "accuracy": 1.0}
        if isinstance(out.get("trainResult"), dict):
            train = dict(out["trainResult"])
            out["trainResult"] = {**train, "fields": [*(train.get("fields") or []), field]}
        if isinstance(out.get("composedTrainResults"), list):
            out["composedTrainResults"] = [
                {**r, "fields": [*(r.get("fields") or []), field]} if isinstance(r, dict) else r
                for r in out["composedTrainResults"]
            ]
        return out
    doc_types = out.get("docTypes") if isinstance(out.get("docTypes"), dict) else {}
    assert isinstance(doc_types, dict)
    if kind == "classifier":
        extra = {"kind": "azureBlob", "azureBlobSource": {"containerUrl": "https://example.invalid/x"}}
        out["docTypes"] = {**doc_types, "emulator-diverged": extra}
        return out
    out["docTypes"] = {
        name: {**dt, "fieldSchema": {**(dt.get("fieldSchema") or {}), DIVERGED_FIELD: {"type": "string"}}}
        if isinstance(dt, dict)
        else dt
        for name, dt in doc_types.items()
    }
    return out


# The item a committed copy creates at the target, per kind.
_COMMITTED: dict[str, Callable[[Source, Authorization, str, Version], Item]] = {
    "v21": _committed_v21,
    "model": _committed_model,
    "classifier": _committed_classifier,
}
