"""docs/openapi.yaml describes the HTTP API as it is: the same routes and methods as function_app.py,
and live replies of the local runner that conform to it (schemathesis generates the requests)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.core.result import Err

from local.stack import LocalStack, StackOptions, run_local_stack

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def load() -> dict:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


def test_the_document_is_valid_openapi():
    validate(load())


def test_the_document_has_exactly_the_http_functions_routes_and_methods():
    import function_app

    app = function_app.app
    app.functions_bindings = None
    routes: set[tuple[str, str]] = set()
    for function in app.get_functions():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        if trigger["type"] == "httpTrigger":
            routes.update(("/" + trigger["route"], method.lower()) for method in trigger["methods"])
    documented = {(path, method) for path, ops in load()["paths"].items() for method in ops}
    assert documented == routes


@pytest.fixture(scope="module")
def live() -> Iterator[LocalStack]:
    with tempfile.TemporaryDirectory() as tmp:
        options = StackOptions(
            runner_port=0,
            emulator_ports=(0, 0, 0),
            copy_duration=0.5,
            rate_limits="off",
            events_file=Path(tmp) / "events.jsonl",
            settings_file=None,
        )
        with run_local_stack(options) as stack:
            yield stack


def test_live_replies_conform_to_the_document(live):
    """For every operation, generated requests (valid and not) get replies that the document
    describes: a documented status, content type and body schema, and never a 5xx."""
    api = schemathesis.openapi.from_path(DOCUMENT)
    headers = {"x-functions-key": live.function_key}
    checked = 0
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation in the document that schemathesis cannot load
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def exercise(case) -> None:
            response = case.call(base_url=live.api_url, headers=headers, timeout=30)
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text}"
            # Aliases and ids that exist are configuration and data, not schema: a schema-valid
            # request may rightly be refused (unknown alias 400, unknown item 404).
            case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        exercise()
        checked += 1
    assert checked == sum(len(ops) for ops in load()["paths"].values())


def test_a_request_without_the_function_key_is_refused(live):
    import httpx

    for path in ("/copies", "/status"):
        assert httpx.get(live.api_url + path, timeout=10).status_code == 401
        assert (
            httpx.get(live.api_url + path, headers={"x-functions-key": "wrong"}, timeout=10).status_code
            == 401
        )
