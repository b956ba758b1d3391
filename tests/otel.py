"""What the app records with OpenTelemetry, captured in memory: the SDK's `InMemorySpanExporter` and
`InMemoryMetricReader` behind the process's global providers (OpenTelemetry lets a process set them
once), with the libraries instrumented as the distro instruments them in Azure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


class _Spans(InMemorySpanExporter):
    """Keeps spans only while a telemetry test runs: the provider outlives it, for the whole session."""

    recording = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return super().export(spans) if self.recording else SpanExportResult.SUCCESS


@dataclass
class Point:
    attributes: dict[str, Any]
    value: Any  # a counter's or gauge's value; a histogram's (count, sum)


@dataclass
class Recorded:
    exporter: _Spans
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[Point]]:
        """Every metric recorded since the last call (counters and histograms as deltas)."""
        found: dict[str, list[Point]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    for p in metric.data.data_points:
                        if isinstance(p, HistogramDataPoint):
                            value: Any = (p.count, p.sum)
                        else:
                            assert isinstance(p, NumberDataPoint)
                            value = p.value
                        points.append(Point(dict(p.attributes or {}), value))
        return found


_recorded: Recorded | None = None


def recorded() -> Recorded:
    """The process's in-memory telemetry, installed on first use."""
    global _recorded
    if _recorded is None:
        exporter = _Spans()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        delta = AggregationTemporality.DELTA
        reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        assert trace.get_tracer_provider() is provider, "another tracer provider was set in this process"
        telemetry.instrument_libraries()
        _recorded = Recorded(exporter, reader)
    return _recorded


def capture() -> Iterator[Recorded]:
    """Body of a fixture: telemetry from here on, none before."""
    rec = recorded()
    rec.exporter.clear()
    rec.metrics()  # counters and histograms start from zero
    rec.exporter.recording = True
    try:
        yield rec
    finally:
        rec.exporter.recording = False
        rec.exporter.clear()


def attribute_values(spans: Sequence[ReadableSpan], points: dict[str, list[Point]]) -> list[str]:
    """Every attribute name and value of every span (with its events and links) and metric point."""
    texts: list[str] = []

    def add(attributes: Any) -> None:
        for key, value in dict(attributes or {}).items():
            texts.extend([str(key), str(value)])

    for span in spans:
        texts.append(span.name)
        add(span.attributes)
        for event in span.events:
            texts.append(event.name)
            add(event.attributes)
        for link in span.links:
            add(link.attributes)
        if span.status.description:
            texts.append(span.status.description)
    for series in points.values():
        for point in series:
            add(point.attributes)
    return texts
