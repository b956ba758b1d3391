"""Telemetry's set-up: the DR_TELEMETRY setting, the console exporter of a real process, the
traceparent rule, and that indexing the app (`import function_app`) loads no OpenTelemetry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared import telemetry as tel
from shared.copy.messages import MalformedMessage, PollMessage, parse_message
from shared.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "DR_PRIMARY": "primary",
    "DR_SECONDARIES": "westus2",
    "DR_RESOURCES__PRIMARY__ENDPOINT": "http://127.0.0.1:5100",
    "DR_RESOURCES__WESTUS2__ENDPOINT": "http://127.0.0.1:5101",
}
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://x.example/"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("values", "exporter"),
    [
        ({}, "none"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}, "azure-monitor"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION, "DR_TELEMETRY": "none"}, "none"),
        ({"DR_TELEMETRY": "console"}, "console"),
        ({"DR_TELEMETRY": "otlp"}, "otlp"),
    ],
)
def test_dr_telemetry_picks_the_exporter(values, exporter):
    assert load_settings({**BASE, **values}).telemetry_exporter == exporter


def test_azure_monitor_without_a_connection_string_is_a_settings_error():
    with pytest.raises(SettingsError) as raised:
        load_settings({**BASE, "DR_TELEMETRY": "azure-monitor"})
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in str(raised.value)
    with pytest.raises(SettingsError) as raised:
        load_settings({**BASE, "DR_TELEMETRY": "prometheus"})
    assert "DR_TELEMETRY" in str(raised.value)


def test_only_a_w3c_traceparent_with_real_ids_is_one():
    assert tel.is_traceparent(TRACEPARENT)
    for bad in (
        None,
        "",
        TRACEPARENT.upper(),
        "01" + TRACEPARENT[2:],
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-4bf92f3577b34da6a3ce929d0e0e4736-{'0' * 16}-01",
        TRACEPARENT + "-extra",
    ):
        assert not tel.is_traceparent(bad), bad


def test_messages_carry_a_valid_traceparent_or_none():
    old = '{"v":1,"job_id":"ab12","generation":3,"type":"poll","attempt":2}'
    assert parse_message(old, PollMessage).traceparent is None
    message = PollMessage(job_id="ab12", generation=3, attempt=2, traceparent=TRACEPARENT)
    assert parse_message(message.to_json(), PollMessage) == message
    assert "traceparent" not in json.loads(PollMessage(job_id="ab12", generation=3, attempt=2).to_json())
    bad = json.dumps({**json.loads(old), "traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"})
    with pytest.raises(MalformedMessage, match="traceparent"):
        parse_message(bad, PollMessage)


def test_the_reason_is_the_error_code_cut_short():
    assert tel.reason_class(None) == tel.NO_REASON
    assert tel.reason_class("RetriesExhausted") == "RetriesExhausted"
    assert len(tel.reason_class("x" * 500)) == 64


_CONSOLE = f"""
import json
from opentelemetry import metrics, trace
from shared import telemetry
from shared.settings import load_settings

assert telemetry.configure(load_settings({json.dumps({**BASE, "DR_TELEMETRY": "console"})})) == "console"
with telemetry.span(telemetry.SPAN_SYNC, {{telemetry.SYNC_TRIGGER: "timer"}}):
    telemetry.record_status_read(source="primary", target="westus2", kind="model")
trace.get_tracer_provider().force_flush()
metrics.get_meter_provider().force_flush()
"""


def test_console_telemetry_prints_spans_and_metrics_of_a_real_process():
    out = subprocess.run(
        [sys.executable, "-c", _CONSOLE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert f'"name": "{tel.SPAN_SYNC}"' in out
    assert f'"name": "{tel.POLL_READS}"' in out
    assert '"service.name": "docintel-dr"' in out


def test_indexing_the_app_loads_no_opentelemetry():
    probe = "import sys, function_app; print(sorted(m for m in sys.modules if 'opentelemetry' in m))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"
