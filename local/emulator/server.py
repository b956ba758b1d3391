"""The HTTP face of one emulated Document Intelligence resource: the ASGI app.

Document Intelligence requests go through one pipeline (outage, key or token, route, rate limit
and injected faults, handler, response headers, request log); ``/_emulator/*`` goes to the
control routes (``controls.py``). ``main`` runs it as a process (``cli.py``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import routing
from .auth import APIM_401, Authenticator
from .clock import fmt_time, fmt_time_7, http_date
from .controls import Controls, json_response
from .errors import DIError, bad_request, not_found
from .faults import Drop
from .operations import Operation, View
from .regions import display_name
from .state import EmulatorState
from .versions import (
    ID_PATTERN,
    PREBUILT_IDS,
    PREBUILT_MODELS,
    UUID_PATTERN,
    V21,
    Version,
    render_classifier,
    render_model,
)

_SECRET_QUERY_KEYS = {"subscription-key", "access_token", "code", "sig"}
# On every v2.1 reply since 2024 (recorded).
V21_DEPRECATION = (
    "API version 2.1 will retire on 2027-09-30. (https://aka.ms/Azure-Docuement-Intelligence-V2-retirement)"
)
REQUEST_ID = "apim-request-id"

# A DI handler: (request, version, *path parameters) -> response. The parameters differ per route
# (kind, item id, operation id), hence the ``...``.
Handler = Callable[..., Awaitable[Response]]


class EmulatorApp:
    """The ASGI callable: DI routes are dispatched by hand (lean hot path, exact per-version 404s,
    ``routing.py``); ``/_emulator/*`` controls go to a Starlette router."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.auth = Authenticator(state.resource, state.clock)
        self.controls = Controls(state).app()
        self.handlers: dict[str, Handler] = {
            routing.LIST_OPERATIONS: self.h_list_ops,
            routing.GET_OPERATION: self.h_get_op,
            routing.INFO: self.h_info,
            routing.LIST_ITEMS: self.h_list_items,
            routing.AUTHORIZE: self.h_authorize,
            routing.GET_ITEM: self.h_get_item,
            routing.DELETE_ITEM: self.h_delete_item,
            routing.COPY: self.h_copy,
            routing.V21_LIST: self.h_v21_list,
            routing.V21_COPY_RESULT: self.h_v21_copy_result,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self.controls(scope, receive, send)
            return
        await self._handle_di(scope, receive, send)

    # ------------------------------------------------------------------ DI request pipeline
    async def _handle_di(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        ver, response, drop, gateway = await self._respond(request)
        self._add_headers(request, ver, response, gateway)
        self._log(request, 0 if drop else response.status_code)
        if drop:
            # Start a response then abort: over a socket the client sees the connection close mid-response;
            # in-process (httpx.ASGITransport) it surfaces as the same httpx transport error.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            raise httpx.RemoteProtocolError("connection dropped by the emulator (fault injection / outage)")
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> tuple[Version | None, Response, bool, bool]:
        """(version when known, response, whether to drop the connection instead, whether the reply
        is the gateway's rather than the service's)."""
        faults = self.state.faults
        ver: Version | None = None
        try:
            faults.check_outage()
            if not self.auth.authorized(request.headers):
                return None, json_response(APIM_401, 401), False, False
            ver, match = routing.resolve(
                request.method, request.url.path, request.query_params.get("api-version")
            )
            delay = faults.admit(match.group)
            if delay:
                await asyncio.sleep(delay)
            return ver, await self.handlers[match.route](request, ver, *match.params), False, False
        except DIError as e:
            return ver, json_response(e.body(ver), e.status, e.headers), False, e.gateway
        except Drop:
            return ver, Response(status_code=500), True, False

    def _add_headers(self, request: Request, ver: Version | None, response: Response, gateway: bool) -> None:
        """apim-request-id (a handler may have set it), Date from the emulator clock, and the
        service's own headers: x-ms-region as a display name ("West US 2"), which the gateway's
        replies lack (recorded), and the v2.1 deprecation notice."""
        headers = response.headers
        if REQUEST_ID not in headers:
            headers[REQUEST_ID] = str(uuid.uuid4())
        headers["date"] = http_date(self.state.now())
        if not gateway:
            headers["x-ms-region"] = display_name(self.state.region)
        if ver is not None and ver.name == V21:
            headers["azure-deprecating"] = V21_DEPRECATION
        crid = request.headers.get("x-ms-client-request-id")
        if ver is not None and ver.echo_client_request_id and crid:
            headers["x-ms-client-request-id"] = crid

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
        out = self.state.authorizations.authorize(kind, ver, body)
        if kind == "v21":
            loc = f"{self.state.endpoint}/formrecognizer/v2.1/custom/models/{out['modelId']}"
            return json_response(out, 201, {"Location": loc})
        return json_response(out)

    async def h_copy(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        body = await self._body(request, copy=True)
        if kind != "v21":
            self._check_id(kind, item_id, copy=True)
        degrade = request.headers.get("x-ms-forms-copy-degrade", "").lower() == "true"
        request_id = str(uuid.uuid4())
        op = await self.state.operations.start_copy(kind, ver, item_id, body, degrade, request_id)
        if kind == "v21":
            # lowercase "copyresults" (recorded); both casings are accepted on GET
            loc = f"{self.state.endpoint}/formrecognizer/v2.1/custom/models/{item_id}/copyresults/{op.op_id}"
        else:
            loc = f"{self.state.endpoint}{ver.prefix}/operations/{op.op_id}?api-version={ver.name}"
        # no Retry-After (recorded in every version; the 2024-* specs declare one)
        return Response(status_code=202, headers={"Operation-Location": loc, REQUEST_ID: request_id})

    def _op_body(self, op: Operation, ver: Version, view: View, summary: bool = False) -> dict[str, Any]:
        """A v3/v4 operation reply (recorded key set and order): percentCompleted only once succeeded
        (with the ``progress`` option also while it runs), apiVersion from 2024-02-29-preview on."""
        body: dict[str, Any] = {
            "operationId": op.op_id,
            "kind": "documentModelCopyTo" if op.kind == "model" else "documentClassifierCopyTo",
            "status": view.status,
            "createdDateTime": fmt_time(op.created),
            "lastUpdatedDateTime": fmt_time(view.updated),
            "resourceLocation": op.resource_location,
        }
        if view.status == "succeeded" or (self.state.resource.progress and not view.terminal):
            body["percentCompleted"] = view.progress
        if op.tags:
            body["tags"] = op.tags
        if not summary:
            if view.status == "succeeded" and op.result is not None:
                body["result"] = (
                    render_model(op.result, ver) if op.kind == "model" else render_classifier(op.result, ver)
                )
            elif view.status == "failed" and op.error is not None:
                body["error"] = op.error
        if ver.operation_api_version:
            body["apiVersion"] = op.api_version
        return body

    def _poll_headers(self, op: Operation, view: View) -> dict[str, str]:
        """A failed poll names its error code (recorded: ``ms-azure-ai-errorcode: 2024``); Retry-After
        only with the ``poll_retry_after`` option (the service sends none)."""
        headers = {REQUEST_ID: str(uuid.uuid4())}
        if view.status == "failed" and op.error is not None:
            headers["ms-azure-ai-errorcode"] = str(op.error["code"])
        retry_after = self.state.resource.poll_retry_after
        if retry_after is not None and not view.terminal:
            headers["Retry-After"] = str(retry_after)
        return headers

    async def h_get_op(self, request: Request, ver: Version, op_id: str) -> Response:
        op = self.state.operations.find(op_id, "v3")
        view = await self.state.operations.view(op)
        return json_response(self._op_body(op, ver, view), 200, self._poll_headers(op, view))

    async def h_v21_copy_result(
        self, request: Request, ver: Version, model_id: str, result_id: str
    ) -> Response:
        op = self.state.operations.find(result_id, "v21")
        if op.source_id != model_id:
            raise not_found("v21-operation", result_id)
        view = await self.state.operations.view(op)
        headers = self._poll_headers(op, view)
        return json_response(_v21_copy_result(op, view, headers[REQUEST_ID]), 200, headers)

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
        page, nxt = self._page(request, ver, st.operations.listed(), "/operations")
        value = []
        for op in page:
            value.append(self._op_body(op, ver, await st.operations.view(op), summary=True))
        return json_response({"value": value, **({"nextLink": nxt} if nxt else {})})

    async def h_info(self, request: Request, ver: Version) -> Response:
        return json_response(self.state.info(ver))

    async def h_list_items(self, request: Request, ver: Version, kind: str) -> Response:
        st = self.state
        if kind == "model":
            items: list[Any] = [*PREBUILT_MODELS, *st.models.values()]
            page, nxt = self._page(request, ver, items, "/documentModels")
            value = [render_model(m, ver, summary=True) for m in page]
        else:
            page, nxt = self._page(request, ver, list(st.classifiers.values()), "/documentClassifiers")
            value = [render_classifier(c, ver) for c in page]
        return json_response({"value": value, **({"nextLink": nxt} if nxt else {})})

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
        return json_response(body)

    async def h_get_item(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        self._check_id(kind, item_id)
        st = self.state
        if kind == "v21":
            m = st.v21_models.get(item_id)
            if m is None:
                raise not_found("v21", item_id)
            body: dict[str, Any] = {"modelInfo": _v21_info(m)}
            for part in ("trainResult", "composedTrainResults"):
                if part in m:
                    body[part] = m[part]
            if request.query_params.get("includeKeys", "").lower() == "true" and "keys" in m:
                body["keys"] = m["keys"]
            return json_response(body)
        if kind == "model":
            m = st.models.get(item_id)
            if m is None:
                m = next((p for p in PREBUILT_MODELS if p["modelId"] == item_id), None)
            if m is None:
                raise not_found("model", item_id)
            return json_response(render_model(m, ver))
        c = st.classifiers.get(item_id)
        if c is None:
            raise not_found("classifier", item_id)
        return json_response(render_classifier(c, ver))

    async def h_delete_item(self, request: Request, ver: Version, kind: str, item_id: str) -> Response:
        self._check_id(kind, item_id)
        st = self.state
        if kind == "model" and item_id in PREBUILT_IDS:
            # inferred: the service refuses to delete prebuilt models; exact code undocumented
            raise DIError(
                400, "InvalidRequest", f"Prebuilt model '{item_id}' cannot be deleted.", "InvalidParameter"
            )
        if st.store.of_kind(kind).pop(item_id, None) is None:
            raise not_found(kind, item_id)
        return Response(status_code=204)


def _v21_copy_result(op: Operation, view: View, request_id: str) -> dict[str, Any]:
    """A v2.1 copy result (recorded): whole-second times while it waits; once started, both times are
    of the latest state, with seven fractional digits; ``copyResult.modelId`` from the start, and
    ``errors`` only when it failed, each naming this reply's request id."""
    if view.status == "notStarted":
        created = updated = fmt_time(op.created)
    else:
        created, updated = fmt_time_7(view.updated), fmt_time_7(view.updated + 2e-7)
    result: dict[str, Any] = {"modelId": op.target_id}
    if view.status == "failed" and op.error is not None:
        code, message = op.error["code"], op.error["message"]
        result["errors"] = [{"code": code, "innerError": {"requestId": request_id}, "message": message}]
    return {
        "status": view.status,
        "createdDateTime": created,
        "lastUpdatedDateTime": updated,
        "copyResult": result,
    }


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
