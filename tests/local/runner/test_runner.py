"""The local runner over real sockets: function_app.py end to end (HTTP -> queue -> copyTo -> polls ->
event), and a tiny app of our own for the host semantics (HTTP routing and keys, base64 and poison
queues checked against raw Azurite contents, output bindings, timers, Event Grid both ways), and
`docintel-dr local` started and stopped as a process."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from local.runner.host import FunctionHost, host_for_script, run_host_in_thread
from local.stack import ROOT, Services, StackOptions, build_host
from tests.stack import eventually, target_item

TINY = Path(__file__).with_name("runner_tiny_app.py")
KEY = "tiny-function-key-123"
TINY_HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {
            "maxDequeueCount": 2,
            "visibilityTimeout": "00:00:00",
            "maxPollingInterval": "00:00:00.3",
            "batchSize": 8,
            "newBatchThreshold": 4,
        },
    },
}
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{os.getpid() % 10_000}-{int(time.time() * 1000) % 100_000}"


def raw_queue(azurite: Any, name: str, **policies: Any) -> QueueClient:
    """A queue client without any encode/decode policy (sees exactly what Azurite holds), on a queue
    that exists: the host's listener creates it too, but maybe not yet."""
    client = QueueClient.from_connection_string(azurite.connection_string, name, **policies)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def raw_messages(azurite: Any, name: str) -> list[str]:
    with raw_queue(azurite, name) as q:
        try:
            return [m.content for m in q.peek_messages(max_messages=32)]
        except HttpResponseError:
            return []


# --- the tiny app -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(azurite, tmp_path_factory) -> Iterator[tuple[FunctionHost, Any]]:
    events = tmp_path_factory.mktemp("tiny") / "events.jsonl"
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        "TINY_FAIL_QUEUE": "tiny-fail",
        "TINY_SCHEDULE": "0 0 0 1 1 *",  # once a year: fires here only because of runOnStartup
        "LOCAL_FUNCTION_KEY": KEY,
        "LOCAL_EVENTGRID_TOPIC_KEY": "tiny-topic-key",
    }
    host = host_for_script(
        TINY, settings, host_json=TINY_HOST_JSON, port=0, events_file=events, topic_settings=None
    )
    module = sys.modules["runner_tiny_app"]
    with run_host_in_thread(host):
        yield host, module


@pytest.fixture
def http(tiny) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny[0].base_url, timeout=10) as client:
        yield client


def test_functions_are_learned_from_get_functions(tiny):
    host, _ = tiny
    kinds = {s.name: s.trigger_type for s in host.specs}
    assert kinds["get_item"] == "httpTrigger"
    assert kinds["echo"] == "queueTrigger"
    assert kinds["tick"] == "timerTrigger"
    assert kinds["on_event"] == "eventGridTrigger"


def test_routes_params_methods_and_404(http):
    r = http.get("/api/items/42", params={"x": "1"})
    assert r.status_code == 200
    assert r.json() == {"id": "42", "method": "GET", "q": {"x": "1"}}
    assert r.headers["x-tiny"] == "1"
    assert r.headers["content-type"].startswith("application/json")
    assert http.delete("/api/items/7").json()["method"] == "DELETE"
    r = http.post("/api/items/42/notes/n1", content=b"hello")
    assert r.status_code == 201
    assert r.json() == {"route": {"id": "42", "note": "n1"}, "body": "hello"}
    assert http.post("/api/items/42/notes").json()["route"] == {"id": "42"}  # optional parameter
    wrong = http.post("/api/items/42")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "DELETE"}
    assert http.get("/api/items/abc").status_code == 404  # {id:int}
    assert http.get("/api/nothing-here").status_code == 404
    assert http.get("/items/42").status_code == 404  # the /api prefix is required
    assert http.get("/api/boom").status_code == 500


def test_function_keys(http, tiny):
    assert http.get("/api/secure").status_code == 401
    assert http.get("/api/secure", headers={"x-functions-key": "wrong"}).status_code == 401
    assert http.get("/api/secure", params={"code": "wrong"}).status_code == 401
    ok = http.get("/api/secure", headers={"x-functions-key": KEY})
    assert (ok.status_code, ok.text) == (200, "secret ok")
    assert http.get("/api/secure", params={"code": KEY}).status_code == 200
    assert any(r.function == "secure" and r.outcome == "Unauthorized" for r in tiny[0].invocations)


def test_base64_messages_and_queue_output(azurite, tiny):
    host, app = tiny
    with raw_queue(azurite, "tiny-echo", message_encode_policy=TextBase64EncodePolicy()) as q:
        q.send_message("héllo")
    [call] = eventually(lambda: app.calls["echo"], what="echo invocation")
    assert call["body"] == "héllo"
    assert call["dequeue_count"] == 1
    # The output binding writes base64, as the host does with messageEncoding base64.
    [raw] = eventually(lambda: raw_messages(azurite, "tiny-out"), what="output message")
    assert base64.b64decode(raw).decode() == "echo:héllo"
    eventually(lambda: not raw_messages(azurite, "tiny-echo"), what="trigger message deleted")
    record = next(r for r in host.invocations if r.function == "echo")
    assert record.outcome == "Succeeded"
    assert f"id={call['id']}" in record.detail and "dequeueCount=1" in record.detail


def test_a_message_that_is_not_base64_goes_to_poison_without_running(azurite, tiny):
    _, app = tiny
    before = len(app.calls["echo"])
    with raw_queue(azurite, "tiny-echo") as q:
        q.send_message("this is not base64!")
    eventually(
        lambda: raw_messages(azurite, "tiny-echo-poison") == ["this is not base64!"], what="poison copy"
    )
    assert raw_messages(azurite, "tiny-echo") == []
    assert len(app.calls["echo"]) == before


def test_failures_retry_until_max_dequeue_count_then_poison(azurite, tiny):
    host, app = tiny
    body = json.dumps({"job": unique("j")})
    encoded = base64.b64encode(body.encode()).decode()
    with raw_queue(azurite, "tiny-fail") as q:  # resolved from %TINY_FAIL_QUEUE%
        q.send_message(encoded)
    eventually(lambda: app.calls["fail_poison"], what="poison handler")
    assert [c["dequeue_count"] for c in app.calls["fail"] if c["body"] == body] == [1, 2]
    assert app.calls["fail_poison"][-1]["body"] == body
    assert app.calls["fail_poison"][-1]["dequeue_count"] == 1  # a new message in the poison queue
    outcomes = [r.outcome for r in host.invocations if r.function == "fail"]
    assert outcomes[-2:] == ["Failed", "Poisoned"]


def test_poison_copy_is_the_raw_base64_body(azurite, tiny):
    encoded = base64.b64encode(b'{"n": 1}').decode()
    with raw_queue(azurite, "tiny-unwatched") as q:
        q.send_message(encoded)
    eventually(lambda: raw_messages(azurite, "tiny-unwatched-poison") == [encoded], what="poison copy")
    assert raw_messages(azurite, "tiny-unwatched") == []


def test_timers_fire_on_schedule_on_startup_and_an_overrun_is_followed_by_one_run(tiny):
    _, app = tiny
    ticks = eventually(lambda: len(app.calls["tick"]) >= 2 and app.calls["tick"], what="two ticks")
    assert ticks[1]["at"] - ticks[0]["at"] == pytest.approx(1.0, abs=0.5)
    assert not ticks[1]["past_due"]
    assert ticks[0]["status"] == {}  # a sub-minute schedule has no schedule monitor, hence no status
    assert app.calls["startup"] == [{"past_due": False}]  # runOnStartup, schedule from %TINY_SCHEDULE%
    slow = eventually(lambda: len(app.calls["slow"]) >= 2 and app.calls["slow"], what="slow timer twice")
    assert slow[0]["past_due"] is False
    # The host starts the next run at once after an overrun, not past due: only an occurrence missed
    # while no listener ran (schedule monitor, at start) is past due (tests/local/runner/test_timers.py).
    assert slow[1]["past_due"] is False


def test_local_topic_takes_what_the_eventgrid_sdk_sends(tiny):
    host, _ = tiny
    event = CloudEvent(source="/tests", type="tiny.happened", data={"n": 1}, id=unique("ev"))
    EventGridPublisherClient(host.topic_endpoint, AzureKeyCredential(host.sink.key)).send([event])
    lines = [json.loads(x) for x in host.sink.path.read_text().splitlines()]
    stored = next(e for e in lines if e["id"] == event.id)
    assert stored["specversion"] == "1.0"
    assert stored["data"] == {"n": 1}
    with pytest.raises(HttpResponseError) as err:
        EventGridPublisherClient(host.topic_endpoint, AzureKeyCredential("wrong")).send([event])
    assert err.value.status_code == 401


def test_eventgrid_trigger_webhook(http, tiny):
    host, app = tiny
    hook = "/runtime/webhooks/EventGrid"
    code = host.eventgrid_key
    validation = [
        {
            "id": "v1",
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "dataVersion": "1",
            "data": {"validationCode": "abc-123"},
        }
    ]
    headers = {"aeg-event-type": "SubscriptionValidation"}
    r = http.post(hook, params={"functionName": "on_event", "code": code}, json=validation, headers=headers)
    assert r.json() == {"validationResponse": "abc-123"}
    notify = {"aeg-event-type": "Notification"}
    assert http.post(hook, params={"functionName": "on_event"}, json=[], headers=notify).status_code == 401
    assert (
        http.post(hook, params={"functionName": "nope", "code": code}, json=[], headers=notify).status_code
        == 404
    )
    grid = [{"id": "g1", "subject": "/s", "eventType": "tiny.made", "dataVersion": "1.0", "data": {"a": 1}}]
    r = http.post(hook, params={"functionName": "on_event", "code": code}, json=grid, headers=notify)
    assert r.status_code == 202
    assert app.calls["event"][-1] == {"id": "g1", "type": "tiny.made", "subject": "/s", "data": {"a": 1}}
    cloud = {"specversion": "1.0", "id": "c1", "source": "/src", "type": "tiny.cloud", "data": {"b": 2}}
    r = http.post(hook, params={"functionName": "on_cloud_event", "code": code}, json=cloud, headers=notify)
    assert r.status_code == 202
    assert app.calls["cloud"][-1] == {"id": "c1", "type": "tiny.cloud", "source": "/src", "data": {"b": 2}}
    failing = [{**grid[0], "id": "g2", "eventType": "tiny.fail"}]
    r = http.post(hook, params={"functionName": "on_event", "code": code}, json=failing, headers=notify)
    assert r.status_code == 500  # Event Grid would redeliver the batch


def test_the_eventgrid_webhook_takes_the_system_key_not_a_function_key(http, tiny):
    grid = [{"id": "k1", "subject": "/s", "eventType": "tiny.made", "dataVersion": "1.0", "data": {}}]
    params = {"functionName": "on_event", "code": KEY}
    r = http.post(
        "/runtime/webhooks/EventGrid", params=params, json=grid, headers={"aeg-event-type": "Notification"}
    )
    assert r.status_code == 401


def test_the_payload_decides_the_event_type_whatever_the_annotation(http, tiny):
    host, app = tiny
    cloud = {"specversion": "1.0", "id": unique("as-cloud"), "source": "/src", "type": "t", "data": {}}
    grid = {"id": unique("as-grid"), "subject": "/s", "eventType": "t", "dataVersion": "1", "data": {}}
    params = {"functionName": "on_any_event", "code": host.eventgrid_key}
    notify = {"aeg-event-type": "Notification"}
    assert (
        http.post("/runtime/webhooks/EventGrid", params=params, json=cloud, headers=notify).status_code == 202
    )
    assert (
        http.post("/runtime/webhooks/EventGrid", params=params, json=[grid], headers=notify).status_code
        == 202
    )
    classes = {c["id"]: c["class"] for c in app.calls["any"]}
    assert classes[cloud["id"]] == "CloudEvent" and classes[grid["id"]] == "EventGridEvent"


def test_the_events_of_one_delivery_run_at_the_same_time(http, tiny):
    host, _ = tiny
    batch = [
        {"id": unique("together-a"), "subject": "/s", "eventType": "t", "dataVersion": "1", "data": {}},
        {"id": unique("together-b"), "subject": "/s", "eventType": "t", "dataVersion": "1", "data": {}},
    ]
    params = {"functionName": "on_any_event", "code": host.eventgrid_key}
    # Each handler waits for the other at a barrier: run one after the other, both would fail.
    r = http.post(
        "/runtime/webhooks/EventGrid", params=params, json=batch, headers={"aeg-event-type": "Notification"}
    )
    assert r.status_code == 202


def test_topic_forwards_events_to_webhooks(tiny):
    host, app = tiny
    host.sink.webhooks = [
        f"{host.base_url}/runtime/webhooks/EventGrid?functionName=on_cloud_event&code={host.eventgrid_key}"
    ]
    try:
        event = CloudEvent(source="/tests", type="tiny.forwarded", data={"c": 3}, id=unique("fw"))
        EventGridPublisherClient(host.topic_endpoint, AzureKeyCredential(host.sink.key)).send([event])
        eventually(lambda: any(c["id"] == event.id for c in app.calls["cloud"]), what="forwarded event")
    finally:
        host.sink.webhooks = []


# --- function_app.py end to end ------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_host(azurite, emulators, tmp_path_factory) -> Iterator[FunctionHost]:
    state = tmp_path_factory.mktemp("app")
    suffix = f"{os.getpid()}x{int(time.time()) % 100_000}"
    options = StackOptions(
        runner_port=0,
        events_file=state / "events.jsonl",
        settings_file=state / "local.settings.json",
        extra_settings={
            "DR_JOBS_TABLE": f"runnerjobs{suffix}",
            "DR_STATE_TABLE": f"runnerstate{suffix}",
            "DR_POLL__FIRST_DELAY_SECONDS": "1",
            "DR_POLL__MAX_DELAY_SECONDS": "2",
        },
    )
    for queue in ("copy-requests", "copy-polls"):  # shared Azurite: start from empty queues
        with raw_queue(azurite, queue) as q:
            try:
                q.clear_messages()
            except HttpResponseError:
                pass
    host = build_host(Services(azurite, emulators), options)
    with run_host_in_thread(host):
        yield host


def test_copy_jobs_end_to_end_through_the_runner(app_host, emulators):
    model_id, classifier_id = unique("invoices"), unique("sorter")
    emulators["primary"].seed(
        {"models": [{"modelId": model_id}], "classifiers": [{"classifierId": classifier_id}]}
    )
    api = httpx.Client(
        base_url=app_host.api_url, headers={"x-functions-key": app_host.function_key}, timeout=30
    )
    assert httpx.post(f"{app_host.api_url}/copies", json={"sourceId": model_id}).status_code == 401
    jobs = []
    for kind, item in (("model", model_id), ("classifier", classifier_id)):
        r = api.post("/copies", json={"kind": kind, "sourceId": item})
        assert r.status_code == 202, r.text
        jobs += [(kind, item, j) for j in r.json()["jobs"]]
    assert sorted(j["target"] for _, _, j in jobs) == ["northeurope", "northeurope", "westus2", "westus2"]

    def finished() -> list[dict[str, Any]] | None:
        views = [api.get(f"/copies/{j['jobId']}") for _, _, j in jobs]
        return [v.json() for v in views] if all(v.status_code == 200 for v in views) else None

    views = eventually(finished, timeout=30, what="all jobs terminal")
    assert [v["status"] for v in views] == ["succeeded"] * 4
    assert all(v["polls"] >= 1 for v in views)
    for kind, item, job in jobs:
        collection = "models" if kind == "model" else "classifiers"
        assert target_item(emulators[job["target"]], collection, item) is not None

    def events() -> list[dict[str, Any]]:
        path = app_host.sink.path
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    expected = sorted(f"copy-{j['jobId']}" for _, _, j in jobs)
    eventually(lambda: len(events()) >= 4, what="four events")
    time.sleep(0.3)  # a duplicate, if any, would show up now
    assert sorted(e["id"] for e in events()) == expected  # exactly one per job
    assert {e["type"] for e in events()} == {"docintel-dr.copy.succeeded"}

    listed = api.get("/copies", params={"status": "succeeded"}).json()["jobs"]
    assert {j["jobId"] for _, _, j in jobs} <= {j["jobId"] for j in listed}
    assert api.post(f"/copies/{jobs[0][2]['jobId']}/cancel").status_code == 409
    assert api.get("/copies/0123456789abcdef0").status_code == 404
    assert api.put("/copies").status_code == 405
    ran = {(r.function, r.outcome) for r in app_host.invocations}
    assert {("copy_requests", "Succeeded"), ("copy_polls", "Succeeded"), ("start_copies", "Succeeded")} <= ran
    api.close()


# --- docintel-dr local ---------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_docintel_dr_local_starts_and_stops_everything(tmp_path):
    command = [sys.executable, "-m", "shared.cli", "local", "--port", "0", "--ports", "0,0,0"]
    command += ["--state-dir", str(tmp_path), "--function-key", "cli-key-1", "--copy-duration", "0.5"]
    log = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 45
        assert process.stdout is not None
        while not any("stack is up" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, "".join(lines)
            lines.append(process.stdout.readline())
        while not any("tail -f" in line for line in lines):
            lines.append(process.stdout.readline())
        banner = "".join(lines)
        api = next(w for w in banner.split() if w.startswith("http://127.0.0.1:") and w.endswith("/api"))
        assert "cli-key-1" in banner
        settings = json.loads((tmp_path / "local.settings.json").read_text())["Values"]
        secrets = [v for k, v in settings.items() if k.endswith("__KEY") or k == "DR_EVENTGRID_TOPIC_KEY"]
        assert len(secrets) == 4 and not any(s in banner for s in secrets)
        r = httpx.get(f"{api}/copies", headers={"x-functions-key": "cli-key-1"}, timeout=10)
        assert r.status_code == 200
        assert f"{api}/dashboard?code=cli-key-1" in banner.split()
        page = httpx.get(f"{api}/dashboard", params={"code": "cli-key-1"}, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        children = _children(process.pid)
        assert len(children) >= 4  # Azurite and three emulators
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        eventually(lambda: not any(_alive(p) for p in children), timeout=10, what="children gone")
        # The app's storage and HTTP clients were closed on the way out.
        assert "Unclosed" not in (tmp_path / "stderr.log").read_text()
    finally:
        log.close()
        if process.poll() is None:
            process.kill()
            process.wait()
