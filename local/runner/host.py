"""The local runner: runs a `function_app.py` the way the Azure Functions host does, on one machine.

Everything is learned from `app.get_functions()` (see `functions.py`): HTTP triggers are served by
uvicorn (Starlette) at `http://127.0.0.1:7071/{routePrefix}/{route}`; every queue trigger gets one
listener with host.json queue semantics (`queues.py`); timers fire on their NCRONTAB schedule
(`timers.py`); Event Grid triggers take webhook deliveries at `/runtime/webhooks/EventGrid`; and a
stand-in Event Grid topic at `/_local/eventgrid/api/events` records and forwards what the app
publishes (`eventgrid.py`). All of it runs in one asyncio loop; sync functions run in threads.

Each invocation is logged on one line: function, outcome, duration, trigger detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.runner.eventgrid import EventGridError, TopicSink, parse_events, trigger_events, validation_code
from local.runner.functions import FunctionSpec, Invoker, discover, encode_for_queue, load_app, resolve
from local.runner.http import HttpRoute, authorized, build_routes, response_parts
from local.runner.queues import POISON_SUFFIX, Invocation, QueueHostOptions, QueueTrigger, poll_forever
from local.runner.timers import Schedule, TimerFire, run_timer

log = logging.getLogger("docintel_dr.local.host")

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_PORT = 7071
TOPIC_PATH = "/_local/eventgrid/api/events"
EVENTGRID_WEBHOOK_PATH = "/runtime/webhooks/eventgrid"
# App settings the runner reads for itself (none of them is needed in Azure).
FUNCTION_KEY_SETTING = "LOCAL_FUNCTION_KEY"
MASTER_KEY_SETTING = "LOCAL_MASTER_KEY"
TOPIC_KEY_SETTING = "LOCAL_EVENTGRID_TOPIC_KEY"
WEBHOOKS_SETTING = "LOCAL_EVENT_WEBHOOKS"
EVENTS_FILE_SETTING = "LOCAL_EVENTS_FILE"
DUPLICATE_SETTING = "LOCAL_DUPLICATE_FRACTION"
CRASH_SETTING = "LOCAL_CRASH_FRACTION"
FAULT_SEED_SETTING = "LOCAL_FAULT_SEED"
# JSON merged over host.json (objects key by key), e.g. a shorter queues.visibilityTimeout in tests.
HOST_JSON_OVERRIDE_SETTING = "LOCAL_HOST_JSON_OVERRIDE"
# The app settings through which the app finds its Event Grid topic: pointed at the stand-in.
TOPIC_ENDPOINT_SETTINGS = ("DR_EVENTGRID_TOPIC_ENDPOINT", "DR_EVENTGRID_TOPIC_KEY")


@dataclass
class InvocationRecord:
    function: str
    trigger: str  # http | queue | timer | eventGrid
    outcome: str  # Succeeded | Failed | Poisoned | Undecodable
    seconds: float
    detail: str
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def read_host_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def merge_host_json(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: objects are merged key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_host_json(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class FaultSwitches:
    """The runner's test switches (all off by default): deliver a fraction of queue messages twice,
    concurrently (`LOCAL_DUPLICATE_FRACTION`); fail a fraction of queue invocations right after the
    function returned, as a worker that dies before deleting the message (`LOCAL_CRASH_FRACTION`).
    Each draws from its own `random.Random` seeded from `LOCAL_FAULT_SEED` (default 0)."""

    duplicate_fraction: float = 0.0
    crash_fraction: float = 0.0
    seed: str = "0"
    duplicates: int = 0  # messages delivered twice so far
    crashes: int = 0  # invocations failed by the crash switch so far

    def __post_init__(self) -> None:
        self._duplicate_rng = random.Random(f"{self.seed}:duplicate")
        self._crash_rng = random.Random(f"{self.seed}:crash")

    @classmethod
    def from_settings(cls, values: Mapping[str, str]) -> FaultSwitches:
        return cls(
            duplicate_fraction=float(values.get(DUPLICATE_SETTING, "0") or 0),
            crash_fraction=float(values.get(CRASH_SETTING, "0") or 0),
            seed=str(values.get(FAULT_SEED_SETTING, "0") or "0"),
        )

    def duplicate(self, _message_id: str) -> bool:
        if self.duplicate_fraction <= 0 or self._duplicate_rng.random() >= self.duplicate_fraction:
            return False
        self.duplicates += 1
        return True

    def crash(self, _message_id: str) -> bool:
        if self.crash_fraction <= 0 or self._crash_rng.random() >= self.crash_fraction:
            return False
        self.crashes += 1
        return True


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
        self.master_key = self.values.get(MASTER_KEY_SETTING) or self.function_key
        self.route_prefix = str(
            self.host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        )
        self.routes: list[HttpRoute] = build_routes(self.specs)
        self.queue_options = QueueHostOptions.from_host_json(self.host_json)
        self.faults = FaultSwitches.from_settings(self.values)
        webhooks = [u.strip() for u in self.values.get(WEBHOOKS_SETTING, "").split(",") if u.strip()]
        events_path = events_file or Path(
            self.values.get(EVENTS_FILE_SETTING) or ROOT / ".local" / "events.jsonl"
        )
        self.sink = TopicSink(
            self.values.get(TOPIC_KEY_SETTING) or secrets.token_urlsafe(24), events_path, webhooks
        )
        self.invocations: list[InvocationRecord] = []
        self.stop_event = asyncio.Event()
        self.ready = threading.Event()
        self._socket: socket.socket | None = None
        self._triggers: list[QueueTrigger] = []
        self._output_clients: dict[str, Any] = {}
        for spec in self.specs:
            if spec.trigger_type not in ("httpTrigger", "queueTrigger", "timerTrigger", "eventGridTrigger"):
                log.warning(
                    "%s: trigger type %s is not supported by the local runner", spec.name, spec.trigger_type
                )

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
            tasks.append(asyncio.create_task(server.serve(sockets=[self._socket]), name="http"))
            while not server.started:
                if tasks[0].done():
                    tasks[0].result()
                    raise RuntimeError("the HTTP server stopped while starting")
                await asyncio.sleep(0.02)
            for spec in self.specs:
                if spec.trigger_type == "queueTrigger":
                    try:
                        trigger = self._queue_trigger(spec)
                    except (KeyError, RuntimeError) as exc:
                        log.error("%s is disabled: %s", spec.name, exc.args[0] if exc.args else exc)
                        continue
                    self._triggers.append(trigger)
                    tasks.append(asyncio.create_task(poll_forever(trigger, self.stop_event), name=spec.name))
                elif spec.trigger_type == "timerTrigger":
                    tasks.append(asyncio.create_task(self._timer(spec), name=spec.name))
            self.ready.set()
            if on_ready is not None:
                on_ready()
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            server.should_exit = True
            if tasks:
                done = await asyncio.gather(*tasks, return_exceptions=True)
                for spec_task, result in zip(tasks, done, strict=True):
                    if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                        log.error(
                            "%s stopped with %s: %s", spec_task.get_name(), result.__class__.__name__, result
                        )
            for client in {id(c): c for t in self._triggers for c in (t.client, t.poison)}.values():
                await client.close()
            for client in self._output_clients.values():
                await client.close()
            await self.sink.aclose()
            if self._shutdown is not None:
                await self._shutdown()
            self._socket.close()

    def request_stop(self) -> None:
        self.stop_event.set()

    # --- invocation log -------------------------------------------------------------------------

    def _record(self, record: InvocationRecord) -> None:
        self.invocations.append(record)
        line = (
            f"Executed '{record.function}' ({record.outcome}, {record.seconds * 1000:.0f} ms) {record.detail}"
        )
        if record.error:
            line += f" error={record.error[:300]}"
        (log.warning if record.outcome != "Succeeded" else log.info)(line)

    # --- queues ---------------------------------------------------------------------------------

    def _storage_client(self, connection: str, queue: str) -> Any:
        from azure.storage.queue.aio import QueueClient

        name = connection or "AzureWebJobsStorage"
        value = self.values.get(name) or self.values.get("AzureWebJobs" + name)
        if value:
            return QueueClient.from_connection_string(value, queue)
        uri = self.values.get(f"{name}__queueServiceUri") or (
            f"https://{self.values[f'{name}__accountName']}.queue.core.windows.net"
            if f"{name}__accountName" in self.values
            else None
        )
        if uri is None:
            raise RuntimeError(f"queue connection '{name}' is not configured: set the app setting {name}")
        from azure.identity.aio import DefaultAzureCredential

        client_id = self.values.get(f"{name}__clientId")
        credential = (
            DefaultAzureCredential(managed_identity_client_id=client_id)
            if client_id
            else DefaultAzureCredential()
        )
        return QueueClient(uri, queue, credential=credential)

    def _queue_trigger(self, spec: FunctionSpec) -> QueueTrigger:
        queue = resolve(str(spec.trigger["queueName"]), self.values).lower()
        connection = str(spec.trigger.get("connection") or "AzureWebJobsStorage")
        client = self._storage_client(connection, queue)
        poison = (
            client
            if queue.endswith(POISON_SUFFIX)
            else self._storage_client(connection, queue + POISON_SUFFIX)
        )
        invoker = Invoker(spec, queue_output=self._queue_output)

        def report(inv: Invocation) -> None:
            outcome = {
                "succeeded": "Succeeded",
                "failed": "Failed",
                "poisoned": "Poisoned",
                "undecodable": "Undecodable",
            }
            self._record(
                InvocationRecord(
                    spec.name,
                    "queue",
                    outcome.get(inv.outcome, inv.outcome),
                    inv.seconds,
                    f"queue={inv.queue} id={inv.message_id} dequeueCount={inv.dequeue_count}",
                    inv.error,
                )
            )

        return QueueTrigger(
            spec.name,
            client,
            poison,
            invoker,
            self.queue_options,
            on_invocation=report,
            duplicate=self.faults.duplicate,
            crash=self.faults.crash,
        )

    async def _queue_output(self, binding: dict[str, Any], payloads: list[str]) -> None:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        queue = resolve(str(binding["queueName"]), self.values).lower()
        connection = str(binding.get("connection") or "AzureWebJobsStorage")
        key = f"{connection}/{queue}"
        client = self._output_clients.get(key)
        if client is None:
            client = self._output_clients[key] = self._storage_client(connection, queue)
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
        for payload in payloads:
            body = encode_for_queue(payload, self.queue_options.message_encoding)
            try:
                await client.send_message(body)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    await client.create_queue()
                await client.send_message(body)

    # --- timers ---------------------------------------------------------------------------------

    async def _timer(self, spec: FunctionSpec) -> None:
        from azure.functions.timer import TimerRequest

        try:
            schedule = Schedule(resolve(str(spec.trigger["schedule"]), self.values))
        except (KeyError, ValueError) as exc:
            # The host does not start such a function either (its binding cannot be resolved).
            log.error("%s is disabled: %s", spec.name, exc.args[0] if exc.args else exc)
            return
        invoker = Invoker(spec, queue_output=self._queue_output)
        last: datetime | None = None

        async def fire(info: TimerFire, following: datetime) -> None:
            nonlocal last
            request = TimerRequest(
                past_due=info.past_due,
                schedule_status={
                    "Last": (last or info.scheduled).isoformat(),
                    "Next": following.isoformat(),
                    "LastUpdated": info.started.isoformat(),
                },
                schedule={"AdjustForDST": True},
            )
            started = time.perf_counter()
            error = None
            try:
                await invoker(request)
            except Exception as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            last = info.scheduled
            detail = f"timer schedule='{schedule.expression}' pastDue={info.past_due}"
            if info.startup:
                detail += " runOnStartup"
            self._record(
                InvocationRecord(
                    spec.name,
                    "timer",
                    "Failed" if error else "Succeeded",
                    time.perf_counter() - started,
                    detail,
                    error,
                )
            )

        await run_timer(schedule, bool(spec.trigger.get("runOnStartup")), fire, self.stop_event)

    # --- HTTP -----------------------------------------------------------------------------------

    def asgi(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Starlette(
            routes=[
                Route(TOPIC_PATH, self._topic, methods=["POST"]),
                Route("/{path:path}", self._dispatch, methods=methods),
            ]
        )

    async def _topic(self, request: Request) -> Response:
        if not self.sink.check_key(request.headers):
            return JSONResponse(
                {"error": {"code": "Unauthorized", "message": "The aeg-sas-key is missing or wrong."}}, 401
            )
        try:
            await self.sink.accept(await request.body())
        except EventGridError as exc:
            return JSONResponse({"error": {"code": "BadRequest", "message": str(exc)}}, 400)
        return Response(status_code=200)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        if path.lower().rstrip("/") == EVENTGRID_WEBHOOK_PATH:
            return await self._eventgrid_webhook(request)
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        if prefix and not (path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/")):
            return Response(status_code=404)
        relative = path[len(prefix) :] or "/"
        for route in self.routes:
            params = route.match(relative.rstrip("/") or "/")
            if params is None:
                continue
            spec = route.functions.get(request.method) or (
                route.functions.get("GET") if request.method == "HEAD" else None
            )
            if spec is None:
                return Response(status_code=405, headers={"Allow": ", ".join(sorted(route.functions))})
            return await self._invoke_http(spec, request, params)
        return Response(status_code=404)

    async def _invoke_http(self, spec: FunctionSpec, request: Request, params: dict[str, str]) -> Response:
        import azure.functions as func

        query = dict(request.query_params)
        headers = {k: v for k, v in request.headers.items()}
        if not authorized(
            str(spec.trigger.get("authLevel", "FUNCTION")),
            headers,
            query,
            {"function": self.function_key, "master": self.master_key},
        ):
            self._record(
                InvocationRecord(
                    spec.name, "http", "Unauthorized", 0.0, f"{request.method} {request.url.path} -> 401"
                )
            )
            return Response(status_code=401)
        body = await request.body()
        req = func.HttpRequest(
            request.method, str(request.url), headers=headers, params=query, route_params=params, body=body
        )
        started = time.perf_counter()
        try:
            result = await Invoker(spec, queue_output=self._queue_output)(req)
            status, out_headers, content = response_parts(result)
            error = None
        except Exception as exc:
            status, out_headers, content = 500, [], b""
            error = f"{exc.__class__.__name__}: {exc}"
        self._record(
            InvocationRecord(
                spec.name,
                "http",
                "Failed" if error else "Succeeded",
                time.perf_counter() - started,
                f"{request.method} {request.url.path} -> {status}",
                error,
            )
        )
        response = Response(content=content, status_code=status)
        for name, value in out_headers:
            response.headers.append(name, value)
        return response

    async def _eventgrid_webhook(self, request: Request) -> Response:
        query = dict(request.query_params)
        if request.method == "OPTIONS":  # CloudEvents webhook validation (abuse protection)
            origin = request.headers.get("webhook-request-origin", "*")
            return Response(
                status_code=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"}
            )
        if request.method != "POST":
            return Response(status_code=405, headers={"Allow": "POST, OPTIONS"})
        if not authorized(
            "FUNCTION",
            dict(request.headers),
            query,
            {"function": self.function_key, "master": self.master_key},
        ):
            return Response(status_code=401)
        name = query.get("functionName", "")
        spec = next((s for s in self.specs if s.name == name and s.trigger_type == "eventGridTrigger"), None)
        if spec is None:
            return JSONResponse({"error": f"no Event Grid trigger function named '{name}'"}, 404)
        kind = request.headers.get("aeg-event-type", "")
        try:
            events = parse_events(await request.body())
        except EventGridError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if kind == "SubscriptionValidation":
            code = validation_code(events)
            if code is None:
                return JSONResponse({"error": "no validationCode in the validation event"}, 400)
            return JSONResponse({"validationResponse": code})
        if kind == "Unsubscribe":
            return Response(status_code=202)
        if kind != "Notification":
            allowed = "Notification, SubscriptionValidation or Unsubscribe"
            return JSONResponse({"error": f"header aeg-event-type must be {allowed}"}, 400)
        annotation = inspect.signature(spec.user_function).parameters[spec.arg_name].annotation
        want_cloud = "CloudEvent" in (
            annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        )
        try:
            values = trigger_events(events, want_cloud)
        except EventGridError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        invoker = Invoker(spec, queue_output=self._queue_output)
        failed = False
        for event, value in zip(events, values, strict=True):
            started = time.perf_counter()
            error = None
            try:
                await invoker(value)
            except Exception as exc:
                error = f"{exc.__class__.__name__}: {exc}"
                failed = True
            self._record(
                InvocationRecord(
                    spec.name,
                    "eventGrid",
                    "Failed" if error else "Succeeded",
                    time.perf_counter() - started,
                    f"event id={event.get('id')} type={event.get('type') or event.get('eventType')}",
                    error,
                )
            )
        # Event Grid redelivers the whole batch when any event failed.
        return Response(status_code=500 if failed else 202)


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
