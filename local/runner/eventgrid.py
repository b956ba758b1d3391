"""Event Grid, both sides, on loopback.

* `TopicSink`: stands in for an Event Grid custom topic. It accepts what `azure-eventgrid`'s
  `EventGridPublisherClient` sends (CloudEvents batch `application/cloudevents-batch+json`, or an
  Event Grid schema array; key in the `aeg-sas-key` header), appends every event as one JSON line to
  a file, and delivers each event to the configured webhook URLs in the background (failures are
  logged, never fatal), like an event subscription.
* `trigger_events()`: turns a webhook delivery (Event Grid schema or CloudEvents 1.0, one event or an
  array) into `func.EventGridEvent` / `func.CloudEvent` for an Event Grid trigger, by payload.
* `topic_endpoint()` and `EventGridTriggers.webhook()`: the host's HTTP endpoints for both, the
  topic at `/_local/eventgrid/api/events` and the trigger webhook at `/runtime/webhooks/EventGrid`
  (`aeg-event-type` Notification, SubscriptionValidation or Unsubscribe; the CloudEvents OPTIONS
  handshake).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from local.runner.functions import FunctionSpec
from local.runner.http import authorized
from local.runner.invocations import InvocationRecord, Record, attempt, outcome

log = logging.getLogger("docintel_dr.local.host")

TOPIC_PATH = "/_local/eventgrid/api/events"
WEBHOOK_PATH = "/runtime/webhooks/eventgrid"  # compared case-insensitively
EVENT_TYPES = "Notification, SubscriptionValidation or Unsubscribe"


class EventGridError(ValueError):
    pass


def parse_events(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventGridError(f"the body is not JSON ({exc.__class__.__name__})") from None
    events = document if isinstance(document, list) else [document]
    if not events or not all(isinstance(e, dict) for e in events):
        raise EventGridError("the body must be an event object or a non-empty JSON array of events")
    for event in events:
        if "specversion" in event:
            missing = [k for k in ("id", "source", "type") if not event.get(k)]
        else:
            missing = [k for k in ("id", "subject", "eventType", "dataVersion") if k not in event]
        if missing:
            raise EventGridError(f"event {event.get('id', '?')!r} lacks {', '.join(missing)}")
    return events


class TopicSink:
    def __init__(self, key: str, path: Path, webhooks: list[str]) -> None:
        self.key = key
        self.path = path
        self.webhooks = webhooks
        self._lock = asyncio.Lock()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def check_key(self, headers: Any) -> bool:
        given = headers.get("aeg-sas-key") or ""
        return bool(given) and hmac.compare_digest(given.encode(), self.key.encode())

    async def accept(self, body: bytes) -> int:
        """Store and forward; the count of events."""
        events = parse_events(body)
        lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        async with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(self._append, lines)
        for event in events:
            log.info(
                "event %s %s received by the local topic",
                event.get("type") or event.get("eventType"),
                event.get("id"),
            )
            for url in self.webhooks:
                task = asyncio.create_task(self._deliver(url, event))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
        return len(events)

    def _append(self, lines: str) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)

    async def _deliver(self, url: str, event: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        cloud = "specversion" in event
        try:
            response = await self._client.post(
                url,
                content=json.dumps(event if cloud else [event]),
                headers={
                    "content-type": "application/cloudevents+json; charset=utf-8"
                    if cloud
                    else "application/json",
                    "aeg-event-type": "Notification",
                },
            )
            if response.status_code >= 300:
                log.warning(
                    "webhook %s answered %d for event %s", _redact(url), response.status_code, event.get("id")
                )
        except httpx.HTTPError as exc:
            log.warning(
                "webhook %s failed for event %s: %s", _redact(url), event.get("id"), exc.__class__.__name__
            )

    async def aclose(self) -> None:
        if self._deliveries:
            await asyncio.wait(list(self._deliveries), timeout=5)
        if self._client is not None:
            await self._client.aclose()


def _redact(url: str) -> str:
    return url.split("?")[0]


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def trigger_events(events: list[dict[str, Any]]) -> list[Any]:
    """The values the trigger parameter receives, one per event: as the Python worker does, the
    payload decides, whatever the annotation says (a CloudEvents payload gives `func.CloudEvent`, an
    Event Grid schema one `func.EventGridEvent`)."""
    import azure.functions as func

    values: list[Any] = []
    for e in events:
        if "specversion" in e:
            known = {"id", "source", "type", "specversion", "data", "time", "subject", "datacontenttype",
                     "dataschema"}  # fmt: skip
            values.append(
                func.CloudEvent(
                    id=e["id"],
                    source=e["source"],
                    type=e["type"],
                    specversion=e["specversion"],
                    data=e.get("data"),
                    time=_time(e.get("time")),
                    subject=e.get("subject"),
                    datacontenttype=e.get("datacontenttype"),
                    dataschema=e.get("dataschema"),
                    **{k: v for k, v in e.items() if k not in known},
                )
            )
        else:
            values.append(
                func.EventGridEvent(
                    id=e["id"],
                    data=e.get("data"),  # type: ignore[arg-type]
                    topic=e.get("topic", ""),
                    subject=e["subject"],
                    event_type=e["eventType"],
                    event_time=_time(e.get("eventTime")),
                    data_version=e["dataVersion"],
                )
            )
    return values


def validation_code(events: list[dict[str, Any]]) -> str | None:
    for e in events:
        data = e.get("data")
        if isinstance(data, dict) and "validationCode" in data:
            return str(data["validationCode"])
    return None


# --- the host's endpoints -------------------------------------------------------------------------


async def topic_endpoint(sink: TopicSink, request: Request) -> Response:
    """`POST /_local/eventgrid/api/events`: what `EventGridPublisherClient` sends to a topic."""
    if not sink.check_key(request.headers):
        return JSONResponse(
            {"error": {"code": "Unauthorized", "message": "The aeg-sas-key is missing or wrong."}}, 401
        )
    try:
        await sink.accept(await request.body())
    except EventGridError as exc:
        return JSONResponse({"error": {"code": "BadRequest", "message": str(exc)}}, 400)
    return Response(status_code=200)


def _handshake(request: Request) -> Response:
    """CloudEvents webhook validation (abuse protection)."""
    origin = request.headers.get("webhook-request-origin", "*")
    return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"})


def _control_reply(kind: str, events: list[dict[str, Any]]) -> Response | None:
    """The reply to a delivery that is not a Notification; None for a Notification."""
    if kind == "SubscriptionValidation":
        code = validation_code(events)
        if code is None:
            return JSONResponse({"error": "no validationCode in the validation event"}, 400)
        return JSONResponse({"validationResponse": code})
    if kind == "Unsubscribe":
        return Response(status_code=202)
    if kind != "Notification":
        return JSONResponse({"error": f"header aeg-event-type must be {EVENT_TYPES}"}, 400)
    return None


@dataclass
class EventGridTriggers:
    """The Event Grid trigger webhook of a host: deliveries to its event-grid-triggered functions."""

    specs: list[FunctionSpec]
    keys: Mapping[str, str]  # {"function": ..., "master": ...}
    invoker: Callable[[FunctionSpec], Callable[[Any], Awaitable[Any]]]
    record: Record

    async def webhook(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _handshake(request)
        if request.method != "POST":
            return Response(status_code=405, headers={"Allow": "POST, OPTIONS"})
        query = dict(request.query_params)
        # The host's system endpoint: the `eventgrid_extension` system key (or the master key).
        if not authorized("SYSTEM", dict(request.headers), query, self.keys):
            return Response(status_code=401)
        name = query.get("functionName", "")
        spec = next((s for s in self.specs if s.name == name and s.trigger_type == "eventGridTrigger"), None)
        if spec is None:
            return JSONResponse({"error": f"no Event Grid trigger function named '{name}'"}, 404)
        try:
            events = parse_events(await request.body())
        except EventGridError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        reply = _control_reply(request.headers.get("aeg-event-type", ""), events)
        if reply is not None:
            return reply
        return await self._notify(spec, events, trigger_events(events))

    async def _notify(self, spec: FunctionSpec, events: list[dict[str, Any]], values: list[Any]) -> Response:
        """Invoke the function once per event, all at once as the host does; Event Grid redelivers the
        whole batch when any failed."""
        invoke = self.invoker(spec)
        results = await asyncio.gather(*(attempt(functools.partial(invoke, v)) for v in values))
        for event, (_, seconds, error) in zip(events, results, strict=True):
            detail = f"event id={event.get('id')} type={event.get('type') or event.get('eventType')}"
            self.record(InvocationRecord(spec.name, "eventGrid", outcome(error), seconds, detail, error))
        return Response(status_code=500 if any(error for _, _, error in results) else 202)
