"""In-process networking: several emulators talking to each other without sockets."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from .server import EmulatorApp, create_app
from .state import EmulatorState


class RouterTransport(httpx.AsyncBaseTransport):
    """Routes each request to the ASGI app registered for its scheme://host[:port]; unknown hosts raise
    httpx.ConnectError like an unreachable address would."""

    def __init__(self) -> None:
        self._apps: dict[str, httpx.ASGITransport] = {}

    def register(self, base_url: str, app: Any) -> None:
        p = urlsplit(base_url)
        self._apps[f"{p.scheme}://{p.netloc}".lower()] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}".lower()
        transport = self._apps.get(base)
        if transport is None:
            raise httpx.ConnectError(f"no emulator at {base}", request=request)
        return await transport.handle_async_request(request)


class EmulatorNetwork:
    """A set of in-process emulators that can copy between each other.

    >>> net = EmulatorNetwork()
    >>> src = net.add("southcentralus", "key1")        # endpoint http://southcentralus.emulator.local
    >>> client = net.client(src)                       # httpx.AsyncClient with base_url = src.endpoint
    """

    def __init__(self) -> None:
        self.transport = RouterTransport()
        self.states: list[EmulatorState] = []
        self.apps: dict[str, EmulatorApp] = {}

    def add(self, region: str, key: str, *, endpoint: str | None = None, **options: Any) -> EmulatorState:
        endpoint = endpoint or f"http://{region}-{len(self.states)}.emulator.local"
        options.setdefault(
            "resource_id",
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
            f"docintel-dr-local/providers/Microsoft.CognitiveServices/accounts/di-{region}-"
            f"{len(self.states)}",
        )
        state = EmulatorState(region, key, endpoint=endpoint, transport=self.transport, **options)
        app = create_app(state)
        self.transport.register(endpoint, app)
        for other in self.states:
            other.register_peer(state.resource_id, state.endpoint)
            state.register_peer(other.resource_id, other.endpoint)
        self.states.append(state)
        self.apps[state.endpoint] = app
        return state

    def app(self, state: EmulatorState) -> EmulatorApp:
        return self.apps[state.endpoint]

    def client(self, state: EmulatorState | None = None, **kwargs: Any) -> httpx.AsyncClient:
        if state is not None:
            kwargs.setdefault("base_url", state.endpoint)
            kwargs.setdefault("headers", {"Ocp-Apim-Subscription-Key": state.key})
        return httpx.AsyncClient(transport=self.transport, **kwargs)

    async def aclose(self) -> None:
        for s in self.states:
            await s.aclose()
