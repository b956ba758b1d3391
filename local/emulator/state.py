"""The state of one emulated Document Intelligence resource, independent of HTTP framing.

Everything here is keyed on the *emulator clock* (``now()``: wall clock + an offset that
``advance_clock`` moves forward) except the rate limiter, which uses the real monotonic clock.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from .versions import (
    ARM_ID_PATTERN,
    ID_PATTERN,
    LATEST,
    PREBUILT_IDS,
    REGION_PATTERN,
    UUID_PATTERN,
    V21,
    VERSIONS,
    Version,
)

AUTH_TTL = 24 * 3600.0
OPERATION_TTL = 24 * 3600.0
DEFAULT_RATE_LIMITS = {"management": 5.0, "list": 10.0, "status": 50.0}
ROUTE_GROUPS = ("management", "list", "status")
COPY_TOKEN_HEADER = "x-ms-emulator-copy-token"  # noqa: S105 - a header name, not a secret


def fmt_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_time(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC).timestamp()


class DIError(Exception):
    """An error the service answers with. Rendered per API version by the server."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self, ver: Version | None) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner and (ver is None or ver.name != V21):
            err["innererror"] = {"code": self.inner, "message": self.message}
        return {"error": err}


def bad_request(field_name: str, message: str, copy: bool = False) -> DIError:
    return DIError(
        400, "1002" if copy else "InvalidRequest", f"{message} (field: {field_name})", "InvalidParameter"
    )


def not_found(kind: str, item_id: str) -> DIError:
    inner = {
        "model": "ModelNotFound",
        "v21": "ModelNotFound",
        "classifier": "ClassifierNotFound",
        "operation": "OperationNotFound",
    }[kind]
    label = {"v21": "model"}.get(kind, kind)
    return DIError(404, "NotFound", f"The requested {label} '{item_id}' was not found.", inner)


def route_not_found() -> DIError:
    return DIError(404, "404", "Resource not found")


class TokenBucket:
    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def take(self) -> int:
        """0 if allowed, else the seconds to wait (>= 1)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


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
    failure: tuple[str, str] | None
    tags: dict[str, str] | None = None
    status: str = "running"  # internal: running | succeeded | failed
    finished: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class FaultProfile:
    rate429: float = 0.0
    rate500: float = 0.0
    rate503: float = 0.0
    rateDrop: float = 0.0
    latencyMs: float = 0.0
    retryAfterSeconds: int = 1

    def active(self) -> bool:
        return bool(self.rate429 or self.rate500 or self.rate503 or self.rateDrop or self.latencyMs)


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
        copy_duration: float = 3.0,
        accept_any_token: bool = False,
        model_limit: int = 5000,
        neural_limit: int = 500,
        page_size: int = 50,
        rate_limits: dict[str, float] | str | None = "default",
        random_seed: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
        peers: dict[str, str] | None = None,
    ) -> None:
        self.region = region
        self.key = key
        self.endpoint = endpoint.rstrip("/")
        self.resource_id = resource_id or (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docintel-dr-local"
            f"/providers/Microsoft.CognitiveServices/accounts/docintel-{region}"
        )
        self.cmk = cmk
        self.copy_duration = float(copy_duration)
        # Each copy takes copy_duration plus a uniform random extra in [0, jitter): a real copy does not
        # finish on a whole-second grid relative to its request (benchmarks use it against aliasing).
        self.copy_duration_jitter = 0.0
        self.accept_any_token = accept_any_token
        self.model_limit = model_limit
        self.neural_limit = neural_limit
        self.page_size = page_size
        self.clock_offset = 0.0
        self.down = False
        self.outage_mode = "503"
        self.faults: dict[str, FaultProfile] = {}
        self.copy_failure_rate = 0.0
        self.random_seed = random_seed
        self.rng = random.Random(random_seed)
        self.rate_limits: dict[str, float] | None = None
        self.buckets: dict[str, TokenBucket] = {}
        self.set_rate_limits(DEFAULT_RATE_LIMITS if rate_limits == "default" else rate_limits)
        self.peers: dict[str, str] = {k.lower(): v.rstrip("/") for k, v in (peers or {}).items()}
        self.models: dict[str, dict[str, Any]] = {}
        self.v21_models: dict[str, dict[str, Any]] = {}
        self.classifiers: dict[str, dict[str, Any]] = {}
        self.auths: dict[str, Authorization] = {}
        self.reserved: dict[tuple[str, str], str] = {}  # (kind, id) -> token of pending authorization
        self.operations: dict[str, Operation] = {}
        self.request_log: deque[dict[str, Any]] = deque(maxlen=20000)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ clock, config, controls
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self.clock_offset += seconds
        return self.now()

    def set_outage(self, down: bool, mode: str = "503") -> None:
        if mode not in ("503", "drop"):
            raise ValueError("mode must be '503' or 'drop'")
        self.down = down
        self.outage_mode = mode

    def set_rate_limits(self, limits: dict[str, float] | str | None) -> None:
        if limits is None or limits == "off":
            self.rate_limits = None
            self.buckets = {}
            return
        if not isinstance(limits, dict):
            raise ValueError("rateLimits must be an object or 'off'")
        merged = dict(self.rate_limits or DEFAULT_RATE_LIMITS)
        for k, v in limits.items():
            if k not in ROUTE_GROUPS:
                raise ValueError(f"unknown rate-limit class {k!r}")
            merged[k] = float(v)
        self.rate_limits = merged
        self.buckets = {k: TokenBucket(v) for k, v in merged.items() if v > 0}

    def register_peer(self, resource_id: str, endpoint: str) -> None:
        """Tell this emulator where another resource lives (needed by v2.1 copy, which only names
        the target by ARM id)."""
        self.peers[resource_id.lower()] = endpoint.rstrip("/")

    def configure(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """Apply a partial config (same keys as PUT /_emulator/config). Returns the full config."""
        known = {
            "copyDurationSeconds",
            "copyDurationJitterSeconds",
            "faults",
            "copyFailureRate",
            "rateLimits",
            "cmk",
            "modelLimit",
            "neuralLimit",
            "pageSize",
            "randomSeed",
            "acceptAnyToken",
            "peers",
        }
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "copyDurationSeconds" in cfg:
            self.copy_duration = float(cfg["copyDurationSeconds"])
        if "copyDurationJitterSeconds" in cfg:
            self.copy_duration_jitter = max(0.0, float(cfg["copyDurationJitterSeconds"]))
        if "faults" in cfg:
            faults = {}
            for group, prof in (cfg["faults"] or {}).items():
                if group not in (*ROUTE_GROUPS, "all"):
                    raise ValueError(f"unknown fault route group {group!r}")
                faults[group] = FaultProfile(**prof)
            if "all" in faults:
                base = faults.pop("all")
                for g in ROUTE_GROUPS:
                    faults.setdefault(g, base)
            self.faults = {g: p for g, p in faults.items() if p.active()}
        if "copyFailureRate" in cfg:
            self.copy_failure_rate = float(cfg["copyFailureRate"])
        if "rateLimits" in cfg:
            self.set_rate_limits(cfg["rateLimits"])
        if "cmk" in cfg:
            self.cmk = bool(cfg["cmk"])
        if "modelLimit" in cfg:
            self.model_limit = int(cfg["modelLimit"])
        if "neuralLimit" in cfg:
            self.neural_limit = int(cfg["neuralLimit"])
        if "pageSize" in cfg:
            if int(cfg["pageSize"]) < 1:
                raise ValueError("pageSize must be >= 1")
            self.page_size = int(cfg["pageSize"])
        if "randomSeed" in cfg:
            self.random_seed = int(cfg["randomSeed"])
            self.rng = random.Random(self.random_seed)
        if "acceptAnyToken" in cfg:
            self.accept_any_token = bool(cfg["acceptAnyToken"])
        for rid, ep in (cfg.get("peers") or {}).items():
            self.register_peer(rid, ep)
        return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "copyDurationSeconds": self.copy_duration,
            "copyDurationJitterSeconds": self.copy_duration_jitter,
            "faults": {g: vars(p) for g, p in self.faults.items()},
            "copyFailureRate": self.copy_failure_rate,
            "rateLimits": self.rate_limits if self.rate_limits is not None else "off",
            "cmk": self.cmk,
            "modelLimit": self.model_limit,
            "neuralLimit": self.neural_limit,
            "pageSize": self.page_size,
            "randomSeed": self.random_seed,
            "acceptAnyToken": self.accept_any_token,
            "peers": dict(self.peers),
            "down": self.down,
            "clockOffsetSeconds": self.clock_offset,
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

    def items(self) -> dict[str, Any]:
        return {
            "models": list(self.models.values()),
            "v21Models": list(self.v21_models.values()),
            "classifiers": list(self.classifiers.values()),
            "pendingAuthorizations": [{"kind": k, "id": i} for (k, i), _ in self.reserved.items()],
            # Copy operations with their timing (emulator clock, seconds since the epoch): a copy
            # turns terminal at `terminalAt`; benchmarks measure from there.
            "operations": [
                {
                    "id": o.op_id,
                    "kind": o.kind,
                    "sourceId": o.source_id,
                    "targetId": o.target_id,
                    "created": o.created,
                    "terminalAt": o.created + o.duration,
                    "status": o.status,
                }
                for o in self.operations.values()
            ],
        }

    # ------------------------------------------------------------------ seeding
    def seed(self, data: dict[str, Any]) -> dict[str, int]:
        models = data.get("models") or []
        classifiers = data.get("classifiers") or []
        if not isinstance(models, list) or not isinstance(classifiers, list):
            raise ValueError("'models' and 'classifiers' must be lists")
        now = fmt_time(self.now())
        n21 = 0
        for m in models:
            if str(m.get("apiVersion", "")) in ("2.1", "v2.1"):
                self._seed_v21(m, now)
                n21 += 1
            else:
                self._seed_model(m, now)
        for c in classifiers:
            self._seed_classifier(c, now)
        return {"models": len(models) - n21, "v21Models": n21, "classifiers": len(classifiers)}

    def _seed_model(self, m: dict[str, Any], now: str) -> None:
        mid = m.get("modelId")
        if not isinstance(mid, str) or not ID_PATTERN.match(mid) or mid in PREBUILT_IDS:
            raise ValueError(f"invalid modelId {mid!r}")
        model = dict(m)
        model.setdefault("createdDateTime", now)
        # inferred: custom items carry an expiry (the examples show one); the emulator uses created + 2 years
        model.setdefault("expirationDateTime", _plus_two_years(model["createdDateTime"]))
        model.setdefault("apiVersion", LATEST)
        build_mode = model.get("buildMode") or "template"
        model.setdefault("buildMode", build_mode)
        model.setdefault(
            "docTypes", {mid: {"buildMode": build_mode, "fieldSchema": {}, "fieldConfidence": {}}}
        )
        model.setdefault("tags", {})
        self.models[mid] = model

    def _seed_v21(self, m: dict[str, Any], now: str) -> None:
        mid = m.get("modelId")
        if not isinstance(mid, str) or not UUID_PATTERN.match(mid):
            raise ValueError(f"a v2.1 modelId must be a GUID, got {mid!r}")
        info = m.get("modelInfo") or {}
        self.v21_models[mid] = {
            "modelId": mid,
            "modelName": m.get("modelName", info.get("modelName", m.get("description"))),
            "status": m.get("status", info.get("status", "ready")),
            "createdDateTime": m.get("createdDateTime", info.get("createdDateTime", now)),
            "lastUpdatedDateTime": m.get("lastUpdatedDateTime", info.get("lastUpdatedDateTime", now)),
            "attributes": m.get("attributes", info.get("attributes", {"isComposed": False})),
            "trainResult": m.get(
                "trainResult",
                {"trainingDocuments": [], "fields": [], "averageModelAccuracy": 0, "errors": []},
            ),
            **({"composedTrainResults": m["composedTrainResults"]} if "composedTrainResults" in m else {}),
            **({"keys": m["keys"]} if "keys" in m else {}),
        }

    def _seed_classifier(self, c: dict[str, Any], now: str) -> None:
        cid = c.get("classifierId")
        if not isinstance(cid, str) or not ID_PATTERN.match(cid):
            raise ValueError(f"invalid classifierId {cid!r}")
        clf = dict(c)
        clf.setdefault("createdDateTime", now)
        clf.setdefault("expirationDateTime", _plus_two_years(clf["createdDateTime"]))
        clf.setdefault("apiVersion", LATEST)
        clf.setdefault(
            "docTypes",
            {
                "formA": {
                    "azureBlobSource": {
                        "containerUrl": "https://example.blob.core.windows.net/training",
                        "prefix": "formA/",
                    }
                }
            },
        )
        self.classifiers[cid] = clf

    # ------------------------------------------------------------------ reads
    def custom_model_count(self) -> int:
        return len(self.models) + len(self.v21_models)

    def neural_count(self) -> int:
        return sum(1 for m in self.models.values() if _is_neural(m))

    def info(self, ver: Version) -> dict[str, Any]:
        if ver.name == V21:
            return {
                "summary": {
                    "count": self.custom_model_count(),
                    "limit": self.model_limit,
                    "lastUpdatedDateTime": fmt_time(self.now()),
                }
            }
        out: dict[str, Any] = {
            "customDocumentModels": {"count": self.custom_model_count(), "limit": self.model_limit}
        }
        if ver.neural_builds_in_info:
            # inferred: the emulator reports neural models held vs the neural limit here
            first_of_next_month = datetime.fromtimestamp(self.now(), UTC).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0
            )
            nxt = first_of_next_month.replace(
                month=first_of_next_month.month % 12 + 1,
                year=first_of_next_month.year + first_of_next_month.month // 12,
            )
            out["customNeuralDocumentModelBuilds"] = {
                "used": self.neural_count(),
                "quota": self.neural_limit,
                "quotaResetDateTime": nxt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        return out

    def _expire_operations(self) -> None:
        cutoff = self.now() - OPERATION_TTL
        for op_id in [o.op_id for o in self.operations.values() if o.created < cutoff]:
            del self.operations[op_id]

    def find_operation(self, op_id: str, kind: str | None = None) -> Operation:
        op = self.operations.get(op_id)
        if op is None or (kind is not None and (op.kind == "v21") != (kind == "v21")):
            raise not_found("operation", op_id)
        if op.created + OPERATION_TTL < self.now():
            del self.operations[op_id]
            raise not_found("operation", op_id)
        return op

    async def operation_view(self, op: Operation) -> tuple[str, int, float]:
        """(status, percentCompleted, lastUpdated) - lazily from the clock; finishes the copy when due."""
        if op.finished is None:
            now = self.now()
            elapsed = now - op.created
            if elapsed < op.duration:
                if elapsed < min(0.2, op.duration * 0.1):
                    return "notStarted", 0, op.created
                return "running", min(99, int(elapsed / op.duration * 100)), now
            await self._finish(op)
        assert op.finished is not None
        return op.status, 100, op.finished

    # ------------------------------------------------------------------ authorize (at the TARGET)
    def authorize(self, kind: str, ver: Version, body: Any) -> dict[str, Any]:
        if kind == "v21":
            return self._authorize_v21()
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
        store = self.models if kind == "model" else self.classifiers
        label = "Model" if kind == "model" else "Classifier"
        if item_id in store or (kind == "model" and item_id in PREBUILT_IDS):
            raise DIError(409, "Conflict", f"{label} with id '{item_id}' already exists.", f"{label}Exists")
        self._check_reservation(kind, item_id, label)
        if kind == "model":
            self._check_quota()
        token = secrets.token_urlsafe(32)
        expires = self.now() + AUTH_TTL
        loc_q = f"?api-version={ver.name}" if ver.name == "2022-08-31" else ""  # as in that version's example
        coll = "documentModels" if kind == "model" else "documentClassifiers"
        claims = {
            "targetResourceId": self.resource_id,
            "targetResourceRegion": self.region,
            f"target{label}Id": item_id,
            f"target{label}Location": f"{self.endpoint}{ver.prefix}/{coll}/{item_id}{loc_q}",
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
        expires = self.now() + AUTH_TTL
        # inferred: expirationDateTimeTicks as seconds since the epoch (the spec text's wording)
        claims = {
            "modelId": item_id,
            "accessToken": token,
            "expirationDateTimeTicks": int(expires),
            "targetResourceId": self.resource_id,
            "targetResourceRegion": self.region,
        }
        self.auths[token] = Authorization(token, "v21", item_id, claims, expires, None, None, V21)
        self.reserved[("v21", item_id)] = token
        return {"modelId": item_id, "accessToken": token, "expirationDateTimeTicks": int(expires)}

    def _check_reservation(self, kind: str, item_id: str, label: str) -> None:
        token = self.reserved.get((kind, item_id))
        if token is None:
            return
        auth = self.auths.get(token)
        if auth is not None and not auth.consumed and auth.expires > self.now():
            raise DIError(
                409,
                "Conflict",
                f"{label} id '{item_id}' is reserved by a pending copy "
                "authorization. Use the existing authorization or choose another id.",
                f"{label}IdReserved",
            )
        # inferred: an expired reservation no longer blocks the id
        self._release(token)

    def _check_quota(self) -> None:
        pending = sum(1 for (k, _) in self.reserved if k in ("model", "v21"))
        count = self.custom_model_count() + pending
        if count >= self.model_limit:
            raise DIError(
                400,
                "QuotaExceeded",
                f"The custom model quota of this resource is exhausted: "
                f"{count} custom models (including pending copies) of a limit of {self.model_limit}. "
                "Delete unused models or request a quota increase.",
            )

    def _release(self, token: str) -> None:
        auth = self.auths.get(token)
        if auth is None:
            return
        if self.reserved.get((auth.kind, auth.item_id)) == token:
            del self.reserved[(auth.kind, auth.item_id)]
        if not auth.consumed:
            del self.auths[token]

    # ------------------------------------------------------------------ copy (at the SOURCE)
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=httpx.Timeout(10.0))
        return self._client

    async def copy_to(self, kind: str, ver: Version, source_id: str, body: Any, degrade: bool) -> Operation:
        definition = self._source_definition(kind, source_id)
        claims, target_base = self._parse_copy_body(kind, body)
        target_id = (
            claims["modelId"]
            if kind == "v21"
            else claims["targetModelId" if kind == "model" else "targetClassifierId"]
        )
        payload = {
            "kind": kind,
            "claims": claims,
            "buildMode": _build_mode(definition),
            "sourceResourceId": self.resource_id,
        }
        rid = claims["targetResourceId"]
        try:
            resp = await self._http().post(
                f"{target_base}/_emulator/copy/validate",
                json=payload,
                headers={COPY_TOKEN_HEADER: str(claims["accessToken"])},
            )
        except httpx.HTTPError:
            resp = None
        if resp is None or resp.status_code not in (200, 400):
            raise _invalid_target(rid)
        data = resp.json()
        if resp.status_code == 400:
            err = data.get("error", {})
            raise DIError(
                400,
                err.get("code", "1002"),
                err.get("message", "Invalid copy request."),
                err.get("innererror", {}).get("code"),
            )
        if data.get("resourceId", "").lower() != rid.lower():
            raise _invalid_target(rid)
        failure: tuple[str, str] | None = None
        if self.cmk and not data.get("cmk") and not degrade:
            failure = (
                "DataProtectionTransformServiceError",
                "The copy transfer is not allowed because it downgrades data protection: the source "
                "resource uses customer-managed keys and the target does not. Send the header "
                "'x-ms-forms-copy-degrade: true' to allow it.",
            )
        elif self.copy_failure_rate and self.rng.random() < self.copy_failure_rate:
            failure = ("InternalServerError", "An unexpected error occurred while copying the model.")
        if kind == "v21":
            location = f"{target_base}/formrecognizer/v2.1/custom/models/{target_id}"
        else:
            location = str(claims["targetModelLocation" if kind == "model" else "targetClassifierLocation"])
            location = location.split("?", 1)[0]
        op = Operation(
            op_id=str(uuid.uuid4()),
            kind=kind,
            api_version=ver.name,
            created=self.now(),
            duration=self.copy_duration + self.rng.uniform(0, self.copy_duration_jitter),
            source_id=source_id,
            target_id=target_id,
            target_base=target_base,
            resource_location=location,
            token=str(claims["accessToken"]),
            claims=claims,
            definition=definition,
            failure=failure,
        )
        self._expire_operations()
        self.operations[op.op_id] = op
        self._schedule(op)
        return op

    def _source_definition(self, kind: str, source_id: str) -> dict[str, Any]:
        if kind == "model" and source_id in PREBUILT_IDS:
            raise DIError(400, "1002", f"Prebuilt model '{source_id}' cannot be copied.", "InvalidParameter")
        store = {"model": self.models, "classifier": self.classifiers, "v21": self.v21_models}[kind]
        item = store.get(source_id)
        if item is None:
            raise not_found(kind, source_id)
        if kind == "v21" and item.get("status") != "ready":
            raise DIError(
                400, "1002", f"Model '{source_id}' is not ready and cannot be copied.", "InvalidParameter"
            )
        return dict(item)

    def _parse_copy_body(self, kind: str, body: Any) -> tuple[dict[str, Any], str]:
        if not isinstance(body, dict):
            raise bad_request("body", "The copy request body must be a JSON object.", copy=True)
        if kind == "v21":
            for f in ("targetResourceId", "targetResourceRegion", "copyAuthorization"):
                if f not in body:
                    raise bad_request(f, f"The parameter {f} is required.", copy=True)
            ca = body["copyAuthorization"]
            if not isinstance(ca, dict):
                raise bad_request("copyAuthorization", "copyAuthorization must be an object.", copy=True)
            for f in ("modelId", "accessToken", "expirationDateTimeTicks"):
                if f not in ca:
                    raise bad_request(f"copyAuthorization.{f}", f"The parameter {f} is required.", copy=True)
            if not isinstance(ca["expirationDateTimeTicks"], int):
                raise bad_request(
                    "copyAuthorization.expirationDateTimeTicks", "Must be an integer.", copy=True
                )
            if not isinstance(ca["modelId"], str) or not UUID_PATTERN.match(ca["modelId"]):
                raise bad_request("copyAuthorization.modelId", "Must be a GUID.", copy=True)
            claims = {
                "modelId": ca["modelId"],
                "accessToken": ca["accessToken"],
                "expirationDateTimeTicks": ca["expirationDateTimeTicks"],
                "targetResourceId": body["targetResourceId"],
                "targetResourceRegion": body["targetResourceRegion"],
            }
        else:
            label = "Model" if kind == "model" else "Classifier"
            fields = (
                "targetResourceId",
                "targetResourceRegion",
                f"target{label}Id",
                f"target{label}Location",
                "accessToken",
                "expirationDateTime",
            )
            for f in fields:
                if f not in body:
                    raise bad_request(f, f"The parameter {f} is required.", copy=True)
                if not isinstance(body[f], str) or not body[f]:
                    raise bad_request(f, f"The parameter {f} must be a non-empty string.", copy=True)
            if not ID_PATTERN.match(body[f"target{label}Id"]):
                raise bad_request(f"target{label}Id", "The id does not match the allowed pattern.", copy=True)
            try:
                parse_time(body["expirationDateTime"])
            except ValueError:
                raise bad_request("expirationDateTime", "Not a valid date-time.", copy=True) from None
            claims = {f: body[f] for f in fields}
        rid = claims["targetResourceId"]
        if not isinstance(rid, str) or len(rid) > 1024 or not ARM_ID_PATTERN.match(rid):
            raise _invalid_target(str(rid))
        if not isinstance(claims["targetResourceRegion"], str) or not REGION_PATTERN.match(
            claims["targetResourceRegion"]
        ):
            raise bad_request(
                "targetResourceRegion", "The region must match ^[a-z0-9]+$ (1-24 chars).", copy=True
            )
        if kind == "v21":
            base = self.peers.get(rid.lower())
            if base is None:
                raise _invalid_target(rid)
        else:
            loc = claims["targetModelLocation" if kind == "model" else "targetClassifierLocation"]
            parts = urlsplit(loc)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise bad_request("targetLocation", "The target location must be an absolute URL.", copy=True)
            base = f"{parts.scheme}://{parts.netloc}"
        return claims, base

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
            delay = op.created + op.duration - self.now()
            if delay <= 0:
                await self._finish(op)
                return
            await asyncio.sleep(min(delay, 1.0))

    async def _finish(self, op: Operation) -> None:
        """Transfer the definition to the target (or fail). Idempotent; the first caller does it."""
        async with op.lock:
            if op.finished is not None:
                return
            headers = {COPY_TOKEN_HEADER: op.token}
            http = self._http()
            error: tuple[str, str] | None = op.failure
            result: dict[str, Any] | None = None
            try:
                if error is not None:
                    await http.post(f"{op.target_base}/_emulator/copy/abort", json={}, headers=headers)
                else:
                    resp = await http.post(
                        f"{op.target_base}/_emulator/copy/commit",
                        headers=headers,
                        json={
                            "kind": op.kind,
                            "claims": op.claims,
                            "definition": op.definition,
                            "apiVersion": op.api_version,
                        },
                    )
                    if resp.status_code == 200:
                        result = resp.json()
                    elif resp.status_code == 409:
                        error = (
                            "2024",
                            "Could not retrieve authorization metadata. If this issue persists "
                            "use a different target model to copy into.",
                        )
                    else:
                        # inferred: target failed mid-transfer -> generic failure
                        error = (
                            "InternalServerError",
                            "The copy failed: the target resource did not accept "
                            f"the model (HTTP {resp.status_code}).",
                        )
            except httpx.HTTPError:
                error = ("InternalServerError", "The copy failed: the target resource is unreachable.")
            op.finished = max(self.now(), op.created + op.duration)
            if error is None:
                op.status, op.result = "succeeded", result
            else:
                op.status = "failed"
                op.error = {"code": error[0], "message": error[1]}

    async def aclose(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: S110
                pass
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ private copy routes (at the TARGET)
    def copy_validate(self, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        auth = self.auths.get(token)
        claims = payload.get("claims") or {}
        bad_claims = DIError(
            400,
            "1002",
            "The copy request has missing or invalid authorization claims. "
            "Pass the copy authorization exactly as returned by the target resource.",
            "InvalidAuthorizationClaims",
        )
        if auth is None:
            raise bad_claims
        if auth.kind != payload.get("kind") or any(claims.get(k) != v for k, v in auth.claims.items()):
            if not auth.consumed:
                self._release(token)
            raise bad_claims
        if auth.expires <= self.now():
            if not auth.consumed:
                self._release(token)
            raise DIError(
                400,
                "1002",
                "The copy authorization has expired. Authorizations are valid for "
                "24 hours; request a new one from the target resource.",
                "AuthorizationExpired",
            )
        if (
            not auth.consumed
            and payload.get("buildMode") == "neural"
            and self.neural_count() >= self.neural_limit
        ):
            # inferred: the neural limit can only be checked once the source says the model is neural
            self._release(token)
            raise DIError(
                400,
                "QuotaExceeded",
                f"The neural model quota of the target is exhausted: "
                f"{self.neural_count()} neural models of a limit of {self.neural_limit}.",
            )
        return {"resourceId": self.resource_id, "region": self.region, "cmk": self.cmk}

    def copy_commit(self, token: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Create the target item; None when the authorization is unknown or already consumed."""
        auth = self.auths.get(token)
        if auth is None or auth.consumed or auth.kind != payload.get("kind"):
            return None
        d = payload.get("definition") or {}
        now = fmt_time(self.now())
        ver = VERSIONS.get(str(payload.get("apiVersion")), VERSIONS[LATEST])
        if auth.kind == "v21":
            item = {
                **d,
                "modelId": auth.item_id,
                "status": "ready",
                "createdDateTime": now,
                "lastUpdatedDateTime": now,
            }
            item.pop("keys", None)
            self.v21_models[auth.item_id] = item
            out: dict[str, Any] = item
        elif auth.kind == "model":
            item = {k: v for k, v in d.items() if k not in ("modelId", "createdDateTime", "modifiedDateTime")}
            item = {
                "modelId": auth.item_id,
                "createdDateTime": now,
                "modifiedDateTime": now,
                **item,
                "apiVersion": ver.name,
            }
            # inferred: description/tags from the authorization when given, else the source's
            if auth.description is not None:
                item["description"] = auth.description
            if auth.tags is not None:
                item["tags"] = dict(auth.tags)
            self.models[auth.item_id] = item
            out = item
        else:
            item = {
                k: v for k, v in d.items() if k not in ("classifierId", "createdDateTime", "modifiedDateTime")
            }
            item = {
                "classifierId": auth.item_id,
                "createdDateTime": now,
                "modifiedDateTime": now,
                **item,
                "apiVersion": ver.name,
            }
            if auth.description is not None:
                item["description"] = auth.description
            self.classifiers[auth.item_id] = item
            out = item
        auth.consumed = True
        self.reserved.pop((auth.kind, auth.item_id), None)
        return out

    def copy_abort(self, token: str) -> None:
        auth = self.auths.get(token)
        if auth is None:
            return
        self.reserved.pop((auth.kind, auth.item_id), None)
        auth.consumed = True  # a token used by a failed copy stays used


def _plus_two_years(created: str) -> str:
    try:
        return fmt_time(parse_time(created) + 730 * 86400)
    except ValueError:
        return created


def _invalid_target(rid: str) -> DIError:
    return DIError(
        400,
        "1002",
        f"Couldn't fetch information for Cognitive resource with ID {rid}.",
        "InvalidTargetResource",
    )


def _build_mode(m: dict[str, Any]) -> str:
    return "neural" if _is_neural(m) else str(m.get("buildMode") or "template")


def _is_neural(m: dict[str, Any]) -> bool:
    if m.get("buildMode") == "neural":
        return True
    return any(
        isinstance(dt, dict) and dt.get("buildMode") == "neural" for dt in (m.get("docTypes") or {}).values()
    )
