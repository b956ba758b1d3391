"""A tiny function app for the runner tests: one of each trigger the runner supports."""

import json
import threading
import time
from typing import cast

import azure.functions as func
from azure.functions.timer import TimerRequest as TimerRequestImpl

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

calls: dict[str, list] = {"echo": [], "fail": [], "fail_poison": [], "tick": [], "startup": [], "slow": [],
                          "event": [], "cloud": [], "any": []}  # fmt: skip
# Two events of one delivery meet here: only if the host runs them at the same time.
batch_barrier = threading.Barrier(2, timeout=10)


@app.route(route="items/{id:int}", methods=["GET", "DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    body = {"id": req.route_params["id"], "method": req.method, "q": dict(req.params)}
    return func.HttpResponse(json.dumps(body), mimetype="application/json", headers={"X-Tiny": "1"})


@app.route(route="items/{id:int}/notes/{note?}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def add_note(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"route": dict(req.route_params), "body": req.get_body().decode()}), status_code=201
    )


@app.route(route="secure", methods=["GET"])
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret ok")


@app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.queue_trigger(arg_name="msg", queue_name="tiny-echo", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="tiny-out", connection="AzureWebJobsStorage")
async def echo(msg: func.QueueMessage, out: func.Out[str]) -> None:
    calls["echo"].append({"id": msg.id, "body": msg.get_body().decode(), "dequeue_count": msg.dequeue_count})
    out.set("echo:" + msg.get_body().decode())


@app.queue_trigger(arg_name="msg", queue_name="%TINY_FAIL_QUEUE%", connection="AzureWebJobsStorage")
def fail(msg: func.QueueMessage) -> None:
    calls["fail"].append({"body": msg.get_body().decode(), "dequeue_count": msg.dequeue_count})
    raise ValueError("this message never works")


@app.queue_trigger(arg_name="msg", queue_name="tiny-fail-poison", connection="AzureWebJobsStorage")
async def fail_poison(msg: func.QueueMessage) -> None:
    calls["fail_poison"].append({"body": msg.get_body().decode(), "dequeue_count": msg.dequeue_count})


@app.queue_trigger(arg_name="msg", queue_name="tiny-unwatched", connection="AzureWebJobsStorage")
async def unwatched(msg: func.QueueMessage) -> None:
    raise ValueError("always fails; its poison queue has no trigger")


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def tick(timer: func.TimerRequest) -> None:
    # The host passes an azure.functions.timer.TimerRequest; the abstract type lacks schedule_status.
    status = cast(TimerRequestImpl, timer).schedule_status
    calls["tick"].append({"past_due": timer.past_due, "at": time.time(), "status": status})


@app.timer_trigger(arg_name="timer", schedule="%TINY_SCHEDULE%", run_on_startup=True)
async def startup(timer: func.TimerRequest) -> None:
    calls["startup"].append({"past_due": timer.past_due})


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def slow(timer: func.TimerRequest) -> None:
    calls["slow"].append({"past_due": timer.past_due})
    if len(calls["slow"]) == 1:
        time.sleep(2.5)  # overruns the next occurrences: the next run is late (past due)


@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    calls["event"].append(
        {"id": event.id, "type": event.event_type, "subject": event.subject, "data": event.get_json()}
    )
    if event.event_type == "tiny.fail":
        raise RuntimeError("event handler failed")


@app.event_grid_trigger(arg_name="event")
def on_cloud_event(event: func.CloudEvent) -> None:
    calls["cloud"].append(
        {"id": event.id, "type": event.type, "source": event.source, "data": event.get_json()}
    )


@app.event_grid_trigger(arg_name="event")
def on_any_event(event: func.EventGridEvent) -> None:
    # The worker hands over what the payload is, whatever the annotation says.
    calls["any"].append({"id": event.id, "class": type(event).__name__})
    if event.id.startswith("together-"):
        batch_barrier.wait()
