"""The binding contract: what the Functions host will read from function_app.py is what the README
documents, and every function's parameters match its bindings (the worker refuses to load otherwise)."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def functions():
    import function_app

    app = function_app.app
    app.functions_bindings = None  # get_functions() may run once per app object
    return {f.get_function_name(): f for f in app.get_functions()}


def documented_bindings() -> dict[str, dict[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- bindings:start -->")[1].split("<!-- bindings:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        name, trigger, where, methods, auth = cells
        rows[name] = {"trigger": trigger, "where": where, "methods": methods, "auth": auth}
    return rows


def test_every_function_is_documented_and_every_documented_function_exists(functions):
    assert set(functions) == set(documented_bindings())


def test_each_function_has_the_documented_trigger_route_methods_auth_and_queue(functions):
    for name, doc in documented_bindings().items():
        trigger = json.loads(functions[name].get_function_json())["bindings"][0]
        if doc["trigger"] == "http":
            assert trigger["type"] == "httpTrigger", name
            assert trigger["route"] == doc["where"], name
            assert trigger["methods"] == doc["methods"].split(","), name
            assert trigger["authLevel"].lower() == doc["auth"], name
        elif doc["trigger"] == "queue":
            assert trigger["type"] == "queueTrigger", name
            assert trigger["queueName"] == doc["where"], name
            assert trigger["connection"] == doc["auth"], name
        elif doc["trigger"] == "timer":
            assert trigger["type"] == "timerTrigger", name
            assert trigger["schedule"] == doc["where"], name
        elif doc["trigger"] == "eventGrid":
            assert trigger["type"] == "eventGridTrigger", name
            assert doc["where"] in ("", "—") and not doc["methods"] and not doc["auth"], name
            # The worker accepts only these annotations for an Event Grid trigger parameter.
            from azure.functions.eventgrid import EventGridEventInConverter

            param = inspect.signature(functions[name].get_user_function()).parameters[trigger["name"]]
            assert EventGridEventInConverter.check_input_type_annotation(param.annotation), name
        else:
            pytest.fail(f"unknown trigger kind {doc['trigger']} for {name}")


def test_parameter_names_match_binding_names(functions):
    for name, function in functions.items():
        params = set(inspect.signature(function.get_user_function()).parameters) - {"context"}
        bindings = {b.name for b in function.get_bindings() if b.name != "$return"}
        assert params == bindings, name


def test_no_http_route_is_anonymous(functions):
    for name, function in functions.items():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        if trigger["type"] == "httpTrigger":
            assert trigger["authLevel"] != "ANONYMOUS", name


def test_queue_names_fit_the_hosts_poison_suffix_rule(functions):
    for function in functions.values():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        if trigger["type"] == "queueTrigger":
            assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", trigger["queueName"])
            if not trigger["queueName"].endswith("-poison"):
                assert len(trigger["queueName"]) <= 56  # so '<queue>-poison' exists


def test_function_app_holds_no_logic():
    """Each function is a couple of lines that hand over to shared/."""
    source = (ROOT / "function_app.py").read_text(encoding="utf-8")
    bodies = re.split(r"\n@app\.", source)[1:]
    for body in bodies:
        code_lines = [
            line for line in body.splitlines()[1:] if line.strip() and not line.strip().startswith("#")
        ]
        assert len(code_lines) <= 6, body
