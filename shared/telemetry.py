"""Telemetry: OpenTelemetry traces and metrics, and where they go.

Every metric, span and attribute name of the app is defined here, once. App Insights alert rules
query the metric names in `customMetrics`: renaming one breaks them.

Metrics (meter ``docintel_dr``):

* ``docintel_dr.copy.duration`` (histogram, s): from copyTo (accepted by the source) to the job's end,
  the target item verified; a job that never got to copyTo counts from its creation. By ``source``,
  ``target``, ``kind``, ``outcome`` (succeeded / failed / canceled). Recorded when a job ends.
* ``docintel_dr.copy.jobs`` (counter): jobs ended, by ``outcome`` and ``reason_class`` (the error
  class, such as ``RetriesExhausted`` or a service code; ``none`` for a success).
* ``docintel_dr.poll.reads`` (counter): status reads of copy operations, by ``source``, ``target``,
  ``kind``.
* ``docintel_dr.items`` (gauge): what a sync's plan found at each target, by ``target`` and ``state``
  (present / missing / stale / orphan / blocked / diverged).
* ``docintel_dr.exposure.seconds`` (gauge, s): per ``target``, the longest an item has been missing
  there (since the source item was created), stale (since the source was rebuilt) or diverged; 0 when
  none is.
* ``docintel_dr.sync.runs`` (counter): sync runs, by ``outcome`` (succeeded / partial / failed),
  ``trigger``, ``source_listed`` (whether the source could be listed) and ``dry_run``.

Traces (tracer ``docintel_dr``): one trace per job. The job's first span, ``docintel_dr.copy.submit``,
is a child of whatever started it (the HTTP request, the sync run, the webhook or Event Grid
invocation); its W3C ``traceparent`` is kept on the job row, and every queue message carries the
``traceparent`` of the span that sent it. Each queue hop (``docintel_dr.copy.request``,
``docintel_dr.copy.poll``, ``docintel_dr.copy.poison``) continues the trace from its message, or from
the job row for a message without one; a job the watchdog resumes (``docintel_dr.copy.resume``) or
that is canceled (``docintel_dr.copy.cancel``) continues from the row. Such a span links to the
invocation it ran in. ``docintel_dr.copy.publish`` sends the completion event, whose CloudEvents
``traceparent`` extension names it. A sync run is ``docintel_dr.sync.run``; a batch of jobs the
watchdog resumes, ``docintel_dr.copy.watchdog`` (the resumes link to it).

No key, token or message text goes into an attribute: ids, aliases, kinds, statuses and error
codes only.

Where telemetry goes (``DR_TELEMETRY``, read once per process when the app context is first built,
so that ``import function_app`` stays cheap): Application Insights through the Azure Monitor
OpenTelemetry distro with the managed identity, the console, an OTLP endpoint, or nowhere. Without a
configured provider, the OpenTelemetry API records nothing and costs next to nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram
    from opentelemetry.metrics import _Gauge as Gauge

    from shared.settings import Settings
    from shared.sync.planner import Plan
    from shared.sync.run import SyncReport

log = logging.getLogger("docintel_dr.telemetry")

P = ParamSpec("P")
R = TypeVar("R")

INSTRUMENTATION_NAME = "docintel_dr"
SERVICE_NAME = "docintel-dr"

# --- metric names (App Insights alert rules query these: do not rename) ---------------------------
COPY_DURATION = "docintel_dr.copy.duration"
COPY_JOBS = "docintel_dr.copy.jobs"
POLL_READS = "docintel_dr.poll.reads"
ITEMS = "docintel_dr.items"
EXPOSURE = "docintel_dr.exposure.seconds"
SYNC_RUNS = "docintel_dr.sync.runs"

# --- metric attributes (customDimensions in App Insights) -------------------------------------------
SOURCE = "source"
TARGET = "target"
KIND = "kind"
OUTCOME = "outcome"
REASON = "reason_class"
STATE = "state"
TRIGGER = "trigger"
SOURCE_LISTED = "source_listed"
DRY_RUN = "dry_run"
#: The reason of a job that succeeded.
NO_REASON = "none"
#: The states of `ITEMS`, in the order a person reads them.
ITEM_STATES = ("present", "missing", "stale", "orphan", "blocked", "diverged")
#: Error codes come from the service too: a runaway one must not make a metric series per message.
_MAX_REASON_CHARS = 64

# --- span names -------------------------------------------------------------------------------------
SPAN_SUBMIT = "docintel_dr.copy.submit"
SPAN_REQUEST = "docintel_dr.copy.request"
SPAN_POLL = "docintel_dr.copy.poll"
SPAN_POISON = "docintel_dr.copy.poison"
SPAN_RESUME = "docintel_dr.copy.resume"
SPAN_CANCEL = "docintel_dr.copy.cancel"
SPAN_WATCHDOG = "docintel_dr.copy.watchdog"
SPAN_PUBLISH = "docintel_dr.copy.publish"
SPAN_SYNC = "docintel_dr.sync.run"

# --- span attributes ----------------------------------------------------------------------------------
JOB_ID = "docintel_dr.job.id"
JOB_KIND = "docintel_dr.job.kind"
JOB_SOURCE = "docintel_dr.job.source"
JOB_TARGET = "docintel_dr.job.target"
JOB_ITEM = "docintel_dr.job.item_id"
JOB_STATUS = "docintel_dr.job.status"
JOB_GENERATION = "docintel_dr.job.generation"
JOB_ORIGIN = "docintel_dr.job.origin"
SYNC_ID = "docintel_dr.sync.id"
SYNC_TRIGGER = "docintel_dr.sync.trigger"
SYNC_OUTCOME = "docintel_dr.sync.outcome"
RESUMED = "docintel_dr.watchdog.resumed"
EVENT_ID = "docintel_dr.event.id"
EVENT_TYPE = "docintel_dr.event.type"
MESSAGE_ID = "messaging.message.id"
QUEUE = "messaging.destination.name"

#: A W3C trace context `traceparent` (version 00): trace id, parent span id, flags. All-zero ids are
#: invalid too (`is_traceparent`); the pattern has no look-ahead, so that pydantic's engine takes it.
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_TRACEPARENT = re.compile(TRACEPARENT_PATTERN)
_ZERO_TRACE_ID, _ZERO_SPAN_ID = "0" * 32, "0" * 16
_propagator = TraceContextTextMapPropagator()


# --- configuration ------------------------------------------------------------------------------------

_configured: str | None = None
_lock = threading.Lock()


def configure(settings: Settings) -> str:
    """Send the process's telemetry where `settings` says, once per process; the exporter in use.

    Called when the app context is first built, not at import: the distro and the SDK take a few
    hundred milliseconds to load, which the host's indexing of the app must not wait for."""
    global _configured
    with _lock:
        if _configured is None:
            exporter = settings.telemetry_exporter
            if exporter == "azure-monitor":
                _configure_azure_monitor(settings)
            elif exporter in ("console", "otlp"):
                _configure_sdk(exporter)
            _configured = exporter
            if exporter != "none":
                log.info("telemetry goes to %s", exporter)
        return _configured


def _configure_azure_monitor(settings: Settings) -> None:
    """Application Insights, with Microsoft Entra ID: the resource refuses instrumentation-key-only
    ingestion (local auth is off), so the exporter gets the app's managed identity."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
    from azure.monitor.opentelemetry import configure_azure_monitor

    if not settings.worker_opentelemetry:
        # The Functions host relays every log record of the worker to Application Insights itself
        # unless the worker claims them (PYTHON_ENABLE_OPENTELEMETRY: see README, Telemetry), so the
        # distro must not export them a second time; it takes that only from this variable.
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
    credential = (
        ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
        if settings.managed_identity_client_id
        else DefaultAzureCredential()
    )
    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string,
        credential=credential,
        # Every log record, as the worker's own set-up of the distro takes them.
        logger_name="",
    )


def _configure_sdk(exporter: str) -> None:
    """The OpenTelemetry SDK with console or OTLP/HTTP exporters (the standard OTEL_EXPORTER_OTLP_*
    variables say where; by default http://localhost:4318)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    spans: SpanExporter
    points: MetricExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        spans, points = OTLPSpanExporter(), OTLPMetricExporter()
    else:
        spans, points = ConsoleSpanExporter(), ConsoleMetricExporter()
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over the default name.
    resource = Resource.create({SERVICE_NAME_KEY: os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(points)])
    )
    instrument_libraries()


def instrument_libraries() -> None:
    """What the distro instruments in Azure, for the local exporters too: the Azure SDK's calls
    (storage, Event Grid) and httpx (Document Intelligence), as dependency spans."""
    from azure.core.settings import settings as azure_settings
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    azure_settings.tracing_implementation = "opentelemetry"
    HTTPXClientInstrumentor().instrument()


# --- metrics ------------------------------------------------------------------------------------------


class _Instruments(NamedTuple):
    copy_duration: Histogram
    copy_jobs: Counter
    poll_reads: Counter
    items: Gauge
    exposure: Gauge
    sync_runs: Counter


@cache
def _instruments() -> _Instruments:
    # The global meter provider may be set after this (the API's proxies follow it).
    meter = metrics.get_meter(INSTRUMENTATION_NAME)
    return _Instruments(
        copy_duration=meter.create_histogram(
            COPY_DURATION, unit="s", description="How long a copy took, from copyTo to the job's end"
        ),
        copy_jobs=meter.create_counter(COPY_JOBS, description="Copy jobs ended, by outcome and reason"),
        poll_reads=meter.create_counter(POLL_READS, description="Status reads of copy operations"),
        items=meter.create_gauge(ITEMS, description="Items at each target, by state, as a sync planned"),
        exposure=meter.create_gauge(
            EXPOSURE,
            unit="s",
            description="Longest time an item has been missing or stale at the target",
        ),
        sync_runs=meter.create_counter(SYNC_RUNS, description="Sync runs, by outcome and trigger"),
    )


def reason_class(error_code: str | None) -> str:
    """A job's reason as a metric attribute: its error code (an error class, never a message)."""
    return (error_code or NO_REASON)[:_MAX_REASON_CHARS]


def record_job_end(
    *, source: str, target: str, kind: str, outcome: str, error_code: str | None, seconds: float | None
) -> None:
    """A copy job ended: `copy.jobs` and, when its duration is known, `copy.duration`."""
    instruments = _instruments()
    instruments.copy_jobs.add(1, {OUTCOME: outcome, REASON: reason_class(error_code)})
    if seconds is not None:
        instruments.copy_duration.record(
            max(seconds, 0.0), {SOURCE: source, TARGET: target, KIND: kind, OUTCOME: outcome}
        )


def record_status_read(*, source: str, target: str, kind: str) -> None:
    """One status read of a copy operation (at the source)."""
    _instruments().poll_reads.add(1, {SOURCE: source, TARGET: target, KIND: kind})


def record_plan(the_plan: Plan, now: datetime) -> None:
    """The `items` and `exposure` gauges from what a sync plan found; a target that could not be
    listed is left out (its last values stand until it can be)."""
    instruments = _instruments()
    for alias, target in the_plan.targets.items():
        if target.error is not None:
            continue
        counts = dict.fromkeys(ITEM_STATES, 0)
        exposure = 0.0
        for item in target.items:
            state = "diverged" if item.diverged else _STATE_OF_ACTION[item.action.value]
            counts[state] += 1
            since = item.source_item.created_at if item.source_item is not None else None
            if state in ("missing", "stale", "diverged") and since is not None:
                exposure = max(exposure, (now - since).total_seconds())
        for state, count in counts.items():
            instruments.items.set(count, {TARGET: alias, STATE: state})
        instruments.exposure.set(exposure, {TARGET: alias})


#: The planner's action for an item at a target, as the state the `items` gauge reports. A missing
#: item the plan copies, a stale one it copies again; a blocked one (quota, API version, a foreign
#: item under its id) is its own state, so that `missing` is what the next sync will heal. A copy
#: whose docTypes or field schemas differ from the source's is `diverged`, whatever the action.
_STATE_OF_ACTION = {
    "up-to-date": "present",
    "copy": "missing",
    "recopy": "stale",
    "orphan": "orphan",
    "blocked": "blocked",
}


def record_sync_run(report: SyncReport) -> None:
    """A sync run ended: `sync.runs`, and what the run's span says of it."""
    source_listed = report.plan is not None
    _instruments().sync_runs.add(
        1,
        {
            OUTCOME: report.status,
            TRIGGER: report.trigger,
            SOURCE_LISTED: source_listed,
            DRY_RUN: report.dry_run,
        },
    )
    trace.get_current_span().set_attributes(
        {SYNC_ID: report.sync_id, SYNC_TRIGGER: report.trigger, SYNC_OUTCOME: report.status}
    )


# --- traces -------------------------------------------------------------------------------------------


def tracer() -> trace.Tracer:
    return trace.get_tracer(INSTRUMENTATION_NAME)


def traced(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run a coroutine function in a span of that name, a child of the current span."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer().start_as_current_span(name):
                return await function(*args, **kwargs)

        return wrapper

    return decorate


def is_traceparent(value: str | None) -> bool:
    """True for a valid W3C `traceparent` of version 00."""
    if value is None or _TRACEPARENT.match(value) is None:
        return False
    _, trace_id, span_id, _ = value.split("-")
    return trace_id != _ZERO_TRACE_ID and span_id != _ZERO_SPAN_ID


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span; None when there is none (telemetry off)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    value = carrier.get("traceparent")
    return value if is_traceparent(value) else None


def _context_of(traceparent: str | None) -> otel_context.Context | None:
    if not is_traceparent(traceparent):
        return None
    assert traceparent is not None
    return _propagator.extract({"traceparent": traceparent})


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    continues: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A span of the app. With `continues` (a job's `traceparent`), it is a child of that span, in
    the job's trace, and links to the span current here (the invocation it runs in); without, it is
    a child of the current span."""
    parent = _context_of(continues)
    links: list[Link] = []
    if parent is not None:
        here = trace.get_current_span().get_span_context()
        if here.is_valid:
            links.append(Link(here))
    with tracer().start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {}), links=links
    ) as current:
        yield current


@contextmanager
def incoming(headers: Mapping[str, str]) -> Iterator[None]:
    """Continue the caller's trace from an HTTP request's `traceparent` header, unless the worker
    already made the host's invocation span current."""
    if trace.get_current_span().get_span_context().is_valid or not is_traceparent(headers.get("traceparent")):
        yield
        return
    carrier = {name: headers.get(name) or "" for name in ("traceparent", "tracestate")}
    token = otel_context.attach(_propagator.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)
