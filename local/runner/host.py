"""The local runner: runs a `function_app.py` the way the Azure Functions host does, on one machine.

Everything is learned from `app.get_functions()` (see `functions.py`): HTTP triggers are served by
uvicorn (Starlette) at `http://127.0.0.1:7071/{routePrefix}/{route}` (`http.py`); every queue trigger
gets one listener with host.json queue semantics (`queues.py`); timers fire on their NCRONTAB
schedule (`timers.py`); Event Grid triggers take webhook deliveries at `/runtime/webhooks/EventGrid`,
and a stand-in Event Grid topic at `/_local/eventgrid/api/events` records and forwards what the app
publishes (`eventgrid.py`). All of it runs in one asyncio loop; sync functions run in threads.

This module wires them together: settings and host.json, keys, the HTTP server, one task per
listener, start and stop. Each invocation is logged on one line (`invocations.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.runner.config import function_timeout_seconds, merge_host_json, read_host_json
from local.runner.eventgrid import TOPIC_PATH, WEBHOOK_PATH, EventGridTriggers, TopicSink, topic_endpoint
from local.runner.faults import FaultSwitches
from local.runner.functions import FunctionSpec, Invoker, discover, load_app
from local.runner.http import HttpRoute, HttpTriggers, build_routes
from local.runner.invocations import InvocationLog, InvocationRecord
from local.runner.queues import (
    QueueHostOptions,
    QueueOutputs,
    QueueTrigger,
    close_triggers,
    poll_forever,
    queue_trigger,
)
from local.runner.timers import TimerHost

log = logging.getLogger("docintel_dr.local.host")

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_PORT = 7071
# App settings the runner reads for itself (none of them is needed in Azure).
FUNCTION_KEY_SETTING = "LOCAL_FUNCTION_KEY"
MASTER_KEY_SETTING = "LOCAL_MASTER_KEY"
# The `eventgrid_extension` system key that the Event Grid trigger webhook requires.
EVENTGRID_KEY_SETTING = "LOCAL_EVENTGRID_EXTENSION_KEY"
TOPIC_KEY_SETTING = "LOCAL_EVENTGRID_TOPIC_KEY"
WEBHOOKS_SETTING = "LOCAL_EVENT_WEBHOOKS"
EVENTS_FILE_SETTING = "LOCAL_EVENTS_FILE"
# JSON merged over host.json (objects key by key), e.g. a shorter queues.visibilityTimeout in tests.
HOST_JSON_OVERRIDE_SETTING = "LOCAL_HOST_JSON_OVERRIDE"
# The app settings through which the app finds its Event Grid topic: pointed at the stand-in.
TOPIC_ENDPOINT_SETTINGS = ("DR_EVENTGRID_TOPIC_ENDPOINT", "DR_EVENTGRID_TOPIC_KEY")
SUPPORTED_TRIGGERS = ("httpTrigger", "queueTrigger", "timerTrigger", "eventGridTrigger")
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner's owner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class FunctionHost:
    """One function app, served until `stop` is set. Build it, `bind()` (or let `serve()` bind), then
    `await serve()`; or use `run_host_in_thread()`."""

    def __init__(
        self,
        app: Any,
        settings: Mapping[str, str],
        *,
        host_json: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        events_file: Path | None = None,
        export_env: bool = False,
        startup: Callable[[dict[str, str]], Awaitable[Any]] | None = None,
        shutdown: Callable[[], Awaitable[Any]] | None = None,
        topic_settings: tuple[str, str] | None = TOPIC_ENDPOINT_SETTINGS,
    ) -> None:
        self.specs: list[FunctionSpec] = discover(app)
        self.values: dict[str, str] = {k: str(v) for k, v in settings.items()}
        self.host_json = host_json if host_json is not None else read_host_json(ROOT / "host.json")
        override = self.values.get(HOST_JSON_OVERRIDE_SETTING)
        if override:
            self.host_json = merge_host_json(self.host_json, json.loads(override))
        self.host = host
        self.requested_port = port
        self.export_env = export_env
        self._startup = startup
        self._shutdown = shutdown
        self.topic_settings = topic_settings
        self.function_key = self.values.get(FUNCTION_KEY_SETTING) or secrets.token_urlsafe(24)
        self.values[FUNCTION_KEY_SETTING] = self.function_key
        self.master_key = self.values.get(MASTER_KEY_SETTING) or secrets.token_urlsafe(24)
        self.eventgrid_key = self.values.get(EVENTGRID_KEY_SETTING) or secrets.token_urlsafe(24)
        keys = {
            "function": self.function_key,
            "master": self.master_key,
            "eventgrid_extension": self.eventgrid_key,
        }
        self.route_prefix = str(
            self.host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        )
        self.routes: list[HttpRoute] = build_routes(self.specs)
        # Values the real host refuses to start with raise HostConfigError here.
        self.queue_options = QueueHostOptions.from_host_json(self.host_json)
        self.function_timeout = function_timeout_seconds(self.host_json)
        # Timers: LOCAL_PLAN, host.json `singleton` (refused out of range), the host id, their blobs.
        self.timers = TimerHost(self.values, self.host_json)
        self.faults = FaultSwitches.from_settings(self.values)
        webhooks = [u.strip() for u in self.values.get(WEBHOOKS_SETTING, "").split(",") if u.strip()]
        events_path = events_file or Path(
            self.values.get(EVENTS_FILE_SETTING) or ROOT / ".local" / "events.jsonl"
        )
        self.sink = TopicSink(
            self.values.get(TOPIC_KEY_SETTING) or secrets.token_urlsafe(24), events_path, webhooks
        )
        self.log = InvocationLog()
        self.invocations: list[InvocationRecord] = self.log.records
        self.outputs = QueueOutputs(self.values, self.queue_options.message_encoding)
        self.http = HttpTriggers(self.routes, self.route_prefix, keys, self._invoker, self.log.record)
        self.eventgrid = EventGridTriggers(self.specs, keys, self._invoker, self.log.record)
        self.stop_event = asyncio.Event()
        self.ready = threading.Event()
        self._socket: socket.socket | None = None
        self._triggers: list[QueueTrigger] = []
        for spec in self.specs:
            if spec.trigger_type not in SUPPORTED_TRIGGERS:
                log.warning(
                    "%s: trigger type %s is not supported by the local runner", spec.name, spec.trigger_type
                )

    def _invoker(self, spec: FunctionSpec) -> Invoker:
        return Invoker(spec, queue_output=self.outputs, timeout=self.function_timeout)

    # --- addresses ------------------------------------------------------------------------------

    def bind(self) -> int:
        """Bind the HTTP socket now (port 0 picks a free port) and point the app's topic settings at
        the local topic. Returns the port."""
        if self._socket is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
            sock.listen(128)
            sock.setblocking(False)
            self._socket = sock
            if self.topic_settings is not None:
                endpoint_name, key_name = self.topic_settings
                if not self.values.get(endpoint_name):
                    self.values[endpoint_name] = self.topic_endpoint
                    self.values[key_name] = self.sink.key
        return self.port

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the host is not bound yet")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/{self.route_prefix}".rstrip("/")

    @property
    def topic_endpoint(self) -> str:
        return f"{self.base_url}{TOPIC_PATH}"

    # --- running --------------------------------------------------------------------------------

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        self.bind()
        assert self._socket is not None
        if self.export_env:
            os.environ.update(self.values)
        tasks: list[asyncio.Task[Any]] = []
        server = _Server(
            uvicorn.Config(
                self.asgi(),
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        try:
            if self._startup is not None:
                await self._startup(dict(self.values))
            tasks.append(await self._start_http(server, self._socket))
            tasks += self._start_listeners()
            self.ready.set()
            if on_ready is not None:
                on_ready()
            await self.stop_event.wait()
        finally:
            await self._stop(server, tasks)

    async def _start_http(self, server: _Server, sock: socket.socket) -> asyncio.Task[Any]:
        task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.02)
        return task

    def _start_listeners(self) -> list[asyncio.Task[Any]]:
        """One task per queue trigger and per timer."""
        tasks: list[asyncio.Task[Any]] = []
        for spec in self.specs:
            if spec.trigger_type == "queueTrigger":
                try:
                    trigger = queue_trigger(
                        spec,
                        self.values,
                        self.queue_options,
                        self._invoker(spec),
                        self.log.record,
                        self.faults,
                    )
                except (KeyError, RuntimeError) as exc:
                    log.error("%s is disabled: %s", spec.name, exc.args[0] if exc.args else exc)
                    continue
                self._triggers.append(trigger)
                tasks.append(asyncio.create_task(poll_forever(trigger, self.stop_event), name=spec.name))
            elif spec.trigger_type == "timerTrigger":
                timer = self.timers.run(spec, self._invoker(spec), self.log.record, self.stop_event)
                tasks.append(asyncio.create_task(timer, name=spec.name))
        return tasks

    async def _stop(self, server: _Server, tasks: list[asyncio.Task[Any]]) -> None:
        self.stop_event.set()
        server.should_exit = True
        if tasks:
            done = await asyncio.gather(*tasks, return_exceptions=True)
            for task, result in zip(tasks, done, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.error("%s stopped with %s: %s", task.get_name(), result.__class__.__name__, result)
        await close_triggers(self._triggers)
        await self.timers.aclose()
        await self.outputs.aclose()
        await self.sink.aclose()
        if self._shutdown is not None:
            await self._shutdown()
        assert self._socket is not None
        self._socket.close()

    def request_stop(self) -> None:
        self.stop_event.set()

    # --- HTTP -----------------------------------------------------------------------------------

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route(TOPIC_PATH, self._topic, methods=["POST"]),
                Route("/{path:path}", self._dispatch, methods=HTTP_METHODS),
            ]
        )

    async def _topic(self, request: Request) -> Response:
        return await topic_endpoint(self.sink, request)

    async def _dispatch(self, request: Request) -> Response:
        if request.url.path.lower().rstrip("/") == WEBHOOK_PATH:
            return await self.eventgrid.webhook(request)
        return await self.http.dispatch(request)


def host_for_script(script: Path, settings: Mapping[str, str], **options: Any) -> FunctionHost:
    app = load_app(script)
    options.setdefault("host_json", read_host_json(script.parent / "host.json"))
    return FunctionHost(app, settings, **options)


@contextlib.contextmanager
def run_host_in_thread(host: FunctionHost, *, timeout: float = 60.0) -> Iterator[FunctionHost]:
    """Serve `host` from a background thread (its own event loop) until the block ends."""
    host.bind()
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(host.serve())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=target, name="function-host", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not host.ready.wait(0.05):
        if failure or not thread.is_alive():
            thread.join(5)
            raise RuntimeError(
                f"the local function host failed to start: {failure[0] if failure else 'exited'}"
            ) from (failure[0] if failure else None)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local function host did not start within {timeout:.0f} s")
    try:
        yield host
    finally:
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(host.request_stop)
        thread.join(30)
        if failure:
            raise RuntimeError(f"the local function host failed: {failure[0]}") from failure[0]
