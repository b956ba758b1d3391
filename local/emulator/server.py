"""ASGI app (Starlette) for one emulated Document Intelligence resource, and the CLI ``main``."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .state import (
    COPY_TOKEN_HEADER,
    DIError,
    EmulatorState,
    Operation,
    bad_request,
    fmt_time,
    not_found,
    route_not_found,
)
from .versions import (
    ID_PATTERN,
    PREBUILT_IDS,
    PREBUILT_MODELS,
    UUID_PATTERN,
    V21,
    VERSIONS,
    Version,
    render_classifier,
    render_model,
)

APIM_401 = {
    "error": {
        "code": "401",
        "message": (
            "Access denied due to invalid subscription key or wrong API endpoint. "
            "Make sure to provide a valid key for an active subscription "
            "and use a correct regional API endpoint for your resource."
        ),
    }
}
COGNITIVE_AUDIENCES = ("https://cognitiveservices.azure.com", "https://cognitiveservices.azure.com/")
_SECRET_QUERY_KEYS = {"subscription-key", "access_token", "code", "sig"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status, headers, "application/json; charset=utf-8"
    )


class _Route:
    __slots__ = ("group", "handler", "params")

    def __init__(self, group: str, handler: Any, *params: str) -> None:
        self.group, self.handler, self.params = group, handler, params


class EmulatorApp:
    """The ASGI callable: DI routes are dispatched by hand (lean hot path, exact per-version 404s);
    ``/_emulator/*`` controls go to a Starlette router."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._jwt_cache: dict[str, float] = {}
        routes = [
            Route("/_emulator/health", self.c_health, methods=["GET"]),
            Route("/_emulator/seed", self.c_seed, methods=["POST"]),
            Route("/_emulator/config", self.c_config, methods=["GET", "PUT"]),
            Route("/_emulator/outage", self.c_outage, methods=["POST"]),
            Route("/_emulator/clock", self.c_clock, methods=["GET", "POST"]),
            Route("/_emulator/requests", self.c_requests, methods=["GET", "DELETE"]),
            Route("/_emulator/items", self.c_items, methods=["GET"]),
            Route("/_emulator/tokens", self.c_tokens, methods=["GET"]),
            Route("/_emulator/copy/{action}", self.c_copy, methods=["POST"]),
        ]
        self.controls = Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.state.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.controls(scope, receive, send)
            return
        await self._handle_di(scope, receive, send)

    # ------------------------------------------------------------------ DI request pipeline
    async def _handle_di(self, scope: Scope, receive: Receive, send: Send) -> None:
        st = self.state
        request = Request(scope, receive)
        ver: Version | None = None
        drop = False
        extra: dict[str, str] = {}
        try:
            if st.down:
                if st.outage_mode == "drop":
                    drop = True
                    raise DIError(503, "ServiceUnavailable", "dropped")
                raise DIError(
                    503, "ServiceUnavailable", "The service is temporarily unavailable (region down)."
                )
            if not self._authorized(request):
                response = _json(APIM_401, 401)
            else:
                ver, route = self._route(request)
                self._throttle_and_faults(route.group)
                if route.group in st.faults:
                    drop, delay = self._inject(route.group)
                    if delay:
                        await asyncio.sleep(delay)
                response = await route.handler(request, ver, *route.params)
        except DIError as e:
            response = _json(e.body(ver), e.status, e.headers)
        except _Drop:
            drop = True
            response = Response(status_code=500)
        if ver is not None and ver.echo_client_request_id:
            crid = request.headers.get("x-ms-client-request-id")
            if crid:
                extra["x-ms-client-request-id"] = crid
        response.headers["apim-request-id"] = str(uuid.uuid4())
        response.headers["x-ms-region"] = st.region
        for k, v in extra.items():
            response.headers[k] = v
        self._log(request, 0 if drop else response.status_code)
        if drop:
            # Start a response then abort: over a socket the client sees the connection close mid-response;
            # in-process (httpx.ASGITransport) it surfaces as the same httpx transport error.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            raise httpx.RemoteProtocolError("connection dropped by the emulator (fault injection / outage)")
        await response(scope, receive, send)

    def _log(self, request: Request, status: int) -> None:
        q = request.scope.get("query_string", b"").decode("latin-1")
        if q:
            q = urlencode([(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in parse_qsl(q)])
        self.state.request_log.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": q,
                "status": status,
                "time": fmt_time(self.state.now()),
            }
        )

    def _authorized(self, request: Request) -> bool:
        key = request.headers.get("ocp-apim-subscription-key")
        if key is not None:
            return key == self.state.key
        auth = request.headers.get("authorization")
        if not auth or not auth.lower().startswith("bearer "):
            return False
        token = auth[7:].strip()
        exp = self._jwt_cache.get(token)
        if exp is None:
            exp = self._check_jwt(token)
            if exp is None:
                return False
            if len(self._jwt_cache) > 1000:
                self._jwt_cache.clear()
            self._jwt_cache[token] = exp
        return exp > self.state.now()

    def _check_jwt(self, token: str) -> float | None:
        """Expiry of an acceptable JWT, else None. Signatures are not checked (no keys offline)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        if self.state.accept_any_token:
            exp = claims.get("exp")
            return float(exp) if isinstance(exp, int | float) else float("inf")
        if claims.get("aud") not in COGNITIVE_AUDIENCES or not isinstance(claims.get("exp"), int | float):
            return None
        return float(claims["exp"])

    def _throttle_and_faults(self, group: str) -> None:
        bucket = self.state.buckets.get(group)
        if bucket is not None:
            wait = bucket.take()
            if wait:
                raise DIError(
                    429,
                    "429",
                    f"Rate limit is exceeded. Try again in {wait} seconds.",
                    headers={"Retry-After": str(wait)},
                )

    def _inject(self, group: str) -> tuple[bool, float]:
        prof = self.state.faults[group]
        r = self.state.rng.random()
        delay = prof.latencyMs / 1000.0
        if r < prof.rate429:
            n = prof.retryAfterSeconds
            raise DIError(
                429,
                "429",
                f"Rate limit is exceeded. Try again in {n} seconds.",
                headers={"Retry-After": str(n)},
            )
        r -= prof.rate429
        if r < prof.rate500:
            raise DIError(500, "InternalServerError", "An unexpected error occurred. (injected fault)")
        r -= prof.rate500
        if r < prof.rate503:
            raise DIError(
                503, "ServiceUnavailable", "The service is temporarily unavailable. (injected fault)"
            )
        r -= prof.rate503
        if r < prof.rateDrop:
            raise _Drop()
        return False, delay

    # ------------------------------------------------------------------ routing
    def _route(self, request: Request) -> tuple[Version, _Route]:
        path = request.url.path
        if path.startswith("/formrecognizer/v2.1/"):
            ver = VERSIONS[V21]
            return ver, self._route_v21(request.method, path[len(ver.prefix) :])
        api = request.query_params.get("api-version")
        ver_or_none = VERSIONS.get(api) if api and api != V21 else None
        if ver_or_none is None or not path.startswith(ver_or_none.prefix + "/"):
            # inferred: a missing/unknown api-version or a prefix of another version -> APIM-level 404
            raise route_not_found()
        ver = ver_or_none
        segs = path[len(ver.prefix) + 1 :].split("/")
        m = request.method
        n = len(segs)
        head = segs[0]
        if head == "operations":
            if n == 1 and m == "GET":
                return ver, _Route("list", self.h_list_ops)
            if n == 2 and m == "GET" and segs[1]:
                return ver, _Route("status", self.h_get_op, segs[1])
        elif head == "info" and n == 1 and m == "GET":
            return ver, _Route("list", self.h_info)
        elif head.startswith("documentModels") or (
            head.startswith("documentClassifiers") and ver.classifiers
        ):
            kind = "model" if head.startswith("documentModels") else "classifier"
            coll = "documentModels" if kind == "model" else "documentClassifiers"
            copy_ok = kind == "model" or ver.classifier_copy
            if n == 1:
                if head == coll and m == "GET":
                    return ver, _Route("list", self.h_list_items, kind)
                if head == coll + ":authorizeCopy" and m == "POST" and copy_ok:
                    return ver, _Route("management", self.h_authorize, kind)
            elif n == 2 and head == coll and segs[1]:
                item, _, action = segs[1].partition(":")
                if not action and m == "GET":
                    return ver, _Route("management", self.h_get_item, kind, item)
                if not action and m == "DELETE":
                    return ver, _Route("management", self.h_delete_item, kind, item)
                if action == "copyTo" and m == "POST" and copy_ok:
                    return ver, _Route("management", self.h_copy, kind, item)
        raise route_not_found()

    @staticmethod
    def _check_id(kind: str, item_id: str, copy: bool = False) -> None:
        if kind == "v21":
            if not UUID_PATTERN.match(item_id):
                raise bad_request("modelId", f"The model id '{item_id}' is not a GUID.", copy=copy)
        elif not ID_PATTERN.match(item_id):
            name = "modelId" if kind == "model" else "classifierId"
            raise bad_request(
                name,
                f"The {name} '{item_id}' does not match ^[a-zA-Z0-9][a-zA-Z0-9._~-]{{1,63}}$.",
                copy=copy,
            )

    def _route_v21(self, method: str, rest: str) -> _Route:
        segs = rest.strip("/").split("/")
        n = len(segs)
        if n >= 2 and segs[0] == "custom" and segs[1] == "models":
            if n == 2 and method == "GET":
                return _Route("list", self.h_v21_list)
            if n == 3 and segs[2] == "copyAuthorization" and method == "POST":
                return _Route("management", self.h_authorize, "v21")
            if n == 3 and method == "GET":
                return _Route("management", self.h_get_item, "v21", segs[2])
            if n == 3 and method == "DELETE":
                return _Route("management", self.h_delete_item, "v21", segs[2])
            if n == 4 and segs[3] == "copy" and method == "POST":
                return _Route("management", self.h_copy, "v21", segs[2])
            if n == 5 and segs[3].lower() == "copyresults" and method == "GET":
                return _Route("status", self.h_v21_copy_result, segs[2], segs[4])
        raise route_not_found()

    # ------------------------------------------------------------------ DI handlers
    async def _body(self, request: Request, copy: bool) -> Any:
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("body", "The request body is not valid JSON.", copy=copy) from None

    async def h_authorize(self, request: Request, ver: Version, kind: str) -> Response:
        body = await self._body(request, copy=True)
        out = self.state.authorize(kind, ver, body)
        if kind == "v21":
            loc = f"{self.state.endpoint}/formrecognizer/v2.1/custom/models/{out['modelId']}"
            return _json(out, 201, {"Location": loc})
        return _json(out)

    async def h_copy(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        self._check_id(kind, item_id, copy=True)
        body = await self._body(request, copy=True)
        degrade = request.headers.get("x-ms-forms-copy-degrade", "").lower() == "true"
        op = await self.state.copy_to(kind, ver, item_id, body, degrade)
        if kind == "v21":
            loc = f"{self.state.endpoint}/formrecognizer/v2.1/custom/models/{item_id}/copyResults/{op.op_id}"
            return Response(status_code=202, headers={"Operation-Location": loc})
        headers = {
            "Operation-Location": f"{self.state.endpoint}{ver.prefix}/operations/{op.op_id}"
            f"?api-version={ver.name}"
        }
        if ver.retry_after_on_202:
            headers["Retry-After"] = "1"
        return Response(status_code=202, headers=headers)

    def _op_body(
        self, op: Operation, ver: Version, status: str, pct: int, updated: float, summary: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "operationId": op.op_id,
            "status": status,
            "percentCompleted": pct,
            "createdDateTime": fmt_time(op.created),
            "lastUpdatedDateTime": fmt_time(updated),
            "kind": "documentModelCopyTo" if op.kind == "model" else "documentClassifierCopyTo",
            "resourceLocation": op.resource_location,
            "apiVersion": op.api_version,
        }
        if op.tags:
            body["tags"] = op.tags
        if not summary:
            if status == "succeeded" and op.result is not None:
                body["result"] = (
                    render_model(op.result, ver) if op.kind == "model" else render_classifier(op.result, ver)
                )
            elif status == "failed" and op.error is not None:
                body["error"] = op.error
        return body

    async def h_get_op(self, request: Request, ver: Version, op_id: str) -> Response:
        op = self.state.find_operation(op_id, "v3")
        status, pct, updated = await self.state.operation_view(op)
        headers = None
        if status in ("notStarted", "running"):
            # inferred: the service's Retry-After on polls is undocumented; the SDK honours it when present
            headers = {"Retry-After": "1"}
        return _json(self._op_body(op, ver, status, pct, updated), 200, headers)

    async def h_v21_copy_result(
        self, request: Request, ver: Version, model_id: str, result_id: str
    ) -> Response:
        op = self.state.find_operation(result_id, "v21")
        if op.source_id != model_id:
            raise not_found("operation", result_id)
        status, _, updated = await self.state.operation_view(op)
        body: dict[str, Any] = {
            "status": status,
            "createdDateTime": fmt_time(op.created),
            "lastUpdatedDateTime": fmt_time(updated),
        }
        if status in ("succeeded", "failed"):
            errors = [op.error] if op.error else []
            body["copyResult"] = {"modelId": op.target_id, "errors": errors}
        headers = {"Retry-After": "1"} if status in ("notStarted", "running") else None
        return _json(body, 200, headers)

    def _page(
        self, request: Request, ver: Version, items: list[Any], path: str, extra: dict[str, str] | None = None
    ) -> tuple[list[Any], str | None]:
        try:
            start = int(request.query_params.get("nextLink") or 0)
        except ValueError:
            raise bad_request("nextLink", "Invalid nextLink.") from None
        size = self.state.page_size
        page = items[start : start + size]
        if start + size < len(items):
            q = {
                **(extra or {}),
                **({} if ver.name == V21 else {"api-version": ver.name}),
                "nextLink": str(start + size),
            }
            return page, f"{self.state.endpoint}{ver.prefix}{path}?{urlencode(q)}"
        return page, None

    async def h_list_ops(self, request: Request, ver: Version) -> Response:
        st = self.state
        st._expire_operations()
        ops = [o for o in st.operations.values() if o.kind != "v21"]
        page, nxt = self._page(request, ver, ops, "/operations")
        value = []
        for op in page:
            status, pct, updated = await st.operation_view(op)
            value.append(self._op_body(op, ver, status, pct, updated, summary=True))
        return _json({"value": value, **({"nextLink": nxt} if nxt else {})})

    async def h_info(self, request: Request, ver: Version) -> Response:
        return _json(self.state.info(ver))

    async def h_list_items(self, request: Request, ver: Version, kind: str) -> Response:
        st = self.state
        if kind == "model":
            items: list[Any] = [*PREBUILT_MODELS, *st.models.values()]
            page, nxt = self._page(request, ver, items, "/documentModels")
            value = [render_model(m, ver, summary=True) for m in page]
        else:
            page, nxt = self._page(request, ver, list(st.classifiers.values()), "/documentClassifiers")
            value = [render_classifier(c, ver) for c in page]
        return _json({"value": value, **({"nextLink": nxt} if nxt else {})})

    async def h_v21_list(self, request: Request, ver: Version) -> Response:
        st = self.state
        op = request.query_params.get("op", "full")
        if op not in ("full", "summary"):
            raise bad_request("op", "op must be 'full' or 'summary'.")
        body = st.info(ver)
        if op == "full":
            page, nxt = self._page(
                request, ver, list(st.v21_models.values()), "/custom/models", {"op": "full"}
            )
            body["modelList"] = [_v21_info(m) for m in page]
            body["nextLink"] = nxt or ""  # as in the v2.1 example: empty string on the last page
        return _json(body)

    async def h_get_item(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        self._check_id(kind, item_id)
        st = self.state
        if kind == "v21":
            m = st.v21_models.get(item_id)
            if m is None:
                raise not_found("v21", item_id)
            body: dict[str, Any] = {"modelInfo": _v21_info(m), "trainResult": m.get("trainResult")}
            if "composedTrainResults" in m:
                body["composedTrainResults"] = m["composedTrainResults"]
            if request.query_params.get("includeKeys", "").lower() == "true":
                body["keys"] = m.get("keys", {"clusters": {}})
            return _json(body)
        if kind == "model":
            m = st.models.get(item_id)
            if m is None:
                m = next((p for p in PREBUILT_MODELS if p["modelId"] == item_id), None)
            if m is None:
                raise not_found("model", item_id)
            return _json(render_model(m, ver))
        c = st.classifiers.get(item_id)
        if c is None:
            raise not_found("classifier", item_id)
        return _json(render_classifier(c, ver))

    async def h_delete_item(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        self._check_id(kind, item_id)
        st = self.state
        if kind == "model" and item_id in PREBUILT_IDS:
            # inferred: the service refuses to delete prebuilt models; exact code undocumented
            raise DIError(
                400, "InvalidRequest", f"Prebuilt model '{item_id}' cannot be deleted.", "InvalidParameter"
            )
        store = {"model": st.models, "classifier": st.classifiers, "v21": st.v21_models}[kind]
        if store.pop(item_id, None) is None:
            raise not_found(kind, item_id)
        return Response(status_code=204)

    # ------------------------------------------------------------------ controls
    async def _ctl_json(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise _CtlError("body is not valid JSON") from None

    async def c_health(self, request: Request) -> Response:
        return JSONResponse(self.state.health())

    async def c_seed(self, request: Request) -> Response:
        try:
            return JSONResponse(self.state.seed(await self._ctl_json(request)))
        except (ValueError, _CtlError, TypeError, AttributeError) as e:
            return JSONResponse({"error": str(e)}, 400)

    async def c_config(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.state.config())
        try:
            return JSONResponse(self.state.configure(await self._ctl_json(request)))
        except (ValueError, _CtlError, TypeError) as e:
            return JSONResponse({"error": str(e)}, 400)

    async def c_outage(self, request: Request) -> Response:
        try:
            body = await self._ctl_json(request)
            self.state.set_outage(bool(body.get("down", True)), str(body.get("mode", "503")))
        except (ValueError, _CtlError) as e:
            return JSONResponse({"error": str(e)}, 400)
        return JSONResponse({"down": self.state.down, "mode": self.state.outage_mode})

    async def c_clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await self._ctl_json(request)
                self.state.advance_clock(float(body.get("advanceSeconds", 0)))
            except (ValueError, _CtlError, TypeError) as e:
                return JSONResponse({"error": str(e)}, 400)
        return JSONResponse({"now": fmt_time(self.state.now()), "offsetSeconds": self.state.clock_offset})

    async def c_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_requests()
            return Response(status_code=204)
        return JSONResponse(self.state.requests())

    async def c_items(self, request: Request) -> Response:
        return JSONResponse(self.state.items())

    async def c_tokens(self, request: Request) -> Response:
        # Every copy access token this resource issued: secret-hygiene tests search for them in logs,
        # events and replies. (An emulator's tokens protect nothing.)
        return JSONResponse(sorted(self.state.auths))

    async def c_copy(self, request: Request) -> Response:
        """Private emulator-to-emulator copy routes, authenticated by the copy access token."""
        st = self.state
        if st.down:
            return _json(DIError(503, "ServiceUnavailable", "region down").body(None), 503)
        token = request.headers.get(COPY_TOKEN_HEADER, "")
        try:
            payload = await self._ctl_json(request)
        except _CtlError:
            payload = {}
        action = request.path_params["action"]
        try:
            if action == "validate":
                return _json(st.copy_validate(token, payload))
            if action == "commit":
                item = st.copy_commit(token, payload)
                return _json(item) if item is not None else _json({"error": {"code": "2024"}}, 409)
            if action == "abort":
                st.copy_abort(token)
                return Response(status_code=204)
        except DIError as e:
            return _json(e.body(None), e.status)
        return _json(route_not_found().body(None), 404)


class _Drop(Exception):
    pass


class _CtlError(Exception):
    pass


def _v21_info(m: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        k: m[k] for k in ("modelId", "status", "createdDateTime", "lastUpdatedDateTime") if k in m
    }
    if m.get("modelName") is not None:
        info["modelName"] = m["modelName"]
    info["attributes"] = m.get("attributes") or {"isComposed": False}
    return info


def create_app(state: EmulatorState) -> EmulatorApp:
    return EmulatorApp(state)


# ---------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m local.emulator",
        description="Local Azure AI Document Intelligence emulator (one resource).",
    )
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--region", required=True)
    p.add_argument("--key", required=True, help="the resource's API key (Ocp-Apim-Subscription-Key)")
    p.add_argument("--seed", help="JSON file with {models: [...], classifiers: [...]}")
    p.add_argument("--resource-id", help="ARM id of the emulated resource")
    p.add_argument("--cmk", action="store_true", help="resource uses customer-managed keys")
    p.add_argument("--copy-duration", type=float, default=3.0, help="seconds a copy takes (default 3)")
    p.add_argument("--accept-any-token", action="store_true", help="accept any well-formed JWT bearer token")
    p.add_argument("--model-limit", type=int, default=5000)
    p.add_argument("--neural-limit", type=int, default=500)
    p.add_argument("--page-size", type=int, default=50)
    p.add_argument("--rate-limits", default="default", help="'default' (S0), 'off', or JSON object")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="RESOURCE_ID=ENDPOINT",
        help="another emulated resource (needed for v2.1 copies); repeatable",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = build_parser().parse_args(argv)
    rate: Any = args.rate_limits
    if rate not in ("default", "off"):
        rate = json.loads(rate)
    peers = dict(p.split("=", 1) for p in args.peer)
    state = EmulatorState(
        args.region,
        args.key,
        endpoint=f"http://{args.host}:{args.port}",
        resource_id=args.resource_id,
        cmk=args.cmk,
        copy_duration=args.copy_duration,
        accept_any_token=args.accept_any_token,
        model_limit=args.model_limit,
        neural_limit=args.neural_limit,
        page_size=args.page_size,
        rate_limits=rate,
        random_seed=args.random_seed,
        peers=peers,
    )
    if args.seed:
        try:
            with open(args.seed, encoding="utf-8") as f:
                state.seed(json.load(f))
        except (OSError, ValueError, TypeError, AttributeError) as e:
            print(f"emulator: cannot seed from {args.seed}: {e}", file=sys.stderr)
            return 2
    app = create_app(state)
    parent = os.getppid()

    async def watch_parent() -> None:  # never outlive the process that started us
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http="h11",
        loop="asyncio",
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(watch_parent())
        try:
            await server.serve()
        finally:
            task.cancel()

    t0 = time.time()
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0 if server.started or time.time() - t0 > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
