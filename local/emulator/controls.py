"""The emulator's own routes under ``/_emulator/`` (no DI authentication): health, seeding,
config, outage, clock, request log, items, issued tokens, and the peer protocol's copy routes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import fmt_time
from .errors import DIError
from .peers import COPY_TOKEN_HEADER, answer
from .state import EmulatorState


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON, as the service sends it."""
    return Response(
        json.dumps(body, separators=(",", ":")), status, headers, "application/json; charset=utf-8"
    )


class _CtlError(Exception):
    pass


async def _ctl_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise _CtlError("body is not valid JSON") from None


def _bad(e: Exception) -> Response:
    return JSONResponse({"error": str(e)}, 400)


class Controls:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def app(self) -> Starlette:
        """The Starlette app for ``/_emulator/*``; its lifespan closes the state on shutdown."""
        routes = [
            Route("/_emulator/health", self.health, methods=["GET"]),
            Route("/_emulator/seed", self.seed, methods=["POST"]),
            Route("/_emulator/config", self.config, methods=["GET", "PUT"]),
            Route("/_emulator/outage", self.outage, methods=["POST"]),
            Route("/_emulator/clock", self.clock, methods=["GET", "POST"]),
            Route("/_emulator/requests", self.requests, methods=["GET", "DELETE"]),
            Route("/_emulator/items", self.items, methods=["GET"]),
            Route("/_emulator/tokens", self.tokens, methods=["GET"]),
            Route("/_emulator/commits", self.commits, methods=["GET"]),
            Route("/_emulator/copy/{action}", self.copy, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.state.aclose()

    async def health(self, request: Request) -> Response:
        return JSONResponse(self.state.health())

    async def seed(self, request: Request) -> Response:
        try:
            return JSONResponse(self.state.seed(await _ctl_json(request)))
        except (ValueError, _CtlError, TypeError, AttributeError) as e:
            return _bad(e)

    async def config(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.state.config())
        try:
            return JSONResponse(self.state.configure(await _ctl_json(request)))
        except (ValueError, _CtlError, TypeError) as e:
            return _bad(e)

    async def outage(self, request: Request) -> Response:
        try:
            body = await _ctl_json(request)
            self.state.set_outage(bool(body.get("down", True)), str(body.get("mode", "503")))
        except (ValueError, _CtlError) as e:
            return _bad(e)
        return JSONResponse({"down": self.state.down, "mode": self.state.faults.outage_mode})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _ctl_json(request)
                self.state.advance_clock(float(body.get("advanceSeconds", 0)))
            except (ValueError, _CtlError, TypeError) as e:
                return _bad(e)
        return JSONResponse({"now": fmt_time(self.state.now()), "offsetSeconds": self.state.clock_offset})

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_requests()
            return Response(status_code=204)
        return JSONResponse(self.state.requests())

    async def items(self, request: Request) -> Response:
        return JSONResponse(self.state.items())

    async def tokens(self, request: Request) -> Response:
        # Every copy access token this resource issued: secret-hygiene tests search for them in logs,
        # events and replies. (An emulator's tokens protect nothing.)
        return JSONResponse(sorted(self.state.auths))

    async def commits(self, request: Request) -> Response:
        """How many copies were delivered into each item here: `[{"kind", "id", "commits"}]`."""
        counts = self.state.authorizations.commits
        return JSONResponse([{"kind": k, "id": i, "commits": n} for (k, i), n in sorted(counts.items())])

    async def copy(self, request: Request) -> Response:
        """The peer protocol's routes (``peers.py``), authenticated by the copy access token."""
        if self.state.down:
            return json_response(DIError(503, "ServiceUnavailable", "region down").body(None), 503)
        token = request.headers.get(COPY_TOKEN_HEADER, "")
        try:
            payload = await _ctl_json(request)
        except _CtlError:
            payload = {}
        status, body = answer(self.state.authorizations, request.path_params["action"], token, payload)
        return Response(status_code=status) if body is None else json_response(body, status)
