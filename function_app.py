"""docintel-dr's Azure Functions: a table of bindings. Each function hands over to `shared/`."""

import azure.functions as func

from shared import entry
from shared.names import (
    COPY_POLLS_QUEUE,
    COPY_REQUESTS_QUEUE,
    POISON_SUFFIX,
    RETENTION_SCHEDULE,
    STORAGE_CONNECTION,
    SYNC_PAGES_QUEUE,
    SYNC_SCHEDULE_SETTING,
    WATCHDOG_SCHEDULE,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


# --- HTTP API: copy jobs ------------------------------------------------------------------------


@app.route(route="copies", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def start_copies(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.start_copies(req)


@app.route(route="copies", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_copies(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.list_copies(req)


@app.route(route="copies/{jobId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_copy(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.get_copy(req)


@app.route(route="copies/{jobId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def cancel_copy(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.cancel_copy(req)


# --- the pipeline ---------------------------------------------------------------------------------


@app.queue_trigger(arg_name="msg", queue_name=COPY_REQUESTS_QUEUE, connection=STORAGE_CONNECTION)
async def copy_requests(msg: func.QueueMessage) -> None:
    await entry.copy_request(msg)


@app.queue_trigger(arg_name="msg", queue_name=COPY_POLLS_QUEUE, connection=STORAGE_CONNECTION)
async def copy_polls(msg: func.QueueMessage) -> None:
    await entry.copy_poll(msg)


@app.queue_trigger(
    arg_name="msg", queue_name=COPY_REQUESTS_QUEUE + POISON_SUFFIX, connection=STORAGE_CONNECTION
)
async def copy_requests_poison(msg: func.QueueMessage) -> None:
    await entry.poison(COPY_REQUESTS_QUEUE + POISON_SUFFIX, msg)


@app.queue_trigger(arg_name="msg", queue_name=COPY_POLLS_QUEUE + POISON_SUFFIX, connection=STORAGE_CONNECTION)
async def copy_polls_poison(msg: func.QueueMessage) -> None:
    await entry.poison(COPY_POLLS_QUEUE + POISON_SUFFIX, msg)


@app.timer_trigger(arg_name="timer", schedule=WATCHDOG_SCHEDULE, run_on_startup=False)
async def watchdog(timer: func.TimerRequest) -> None:
    await entry.watchdog()


@app.timer_trigger(arg_name="timer", schedule=RETENTION_SCHEDULE, run_on_startup=False)
async def retention(timer: func.TimerRequest) -> None:
    await entry.retention()


# --- event-driven entry points: "a model was trained" ------------------------------------------


@app.route(route="webhooks/model-trained", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def model_trained_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.model_trained_webhook(req)


@app.event_grid_trigger(arg_name="event")
async def model_trained_event(event: func.EventGridEvent) -> None:
    await entry.model_trained_event(event)


# --- scheduled sync and DR status -----------------------------------------------------------------


@app.timer_trigger(arg_name="timer", schedule=f"%{SYNC_SCHEDULE_SETTING}%", run_on_startup=False)
async def sync_timer(timer: func.TimerRequest) -> None:
    await entry.sync_timer(timer)


@app.queue_trigger(arg_name="msg", queue_name=SYNC_PAGES_QUEUE, connection=STORAGE_CONNECTION)
async def sync_pages(msg: func.QueueMessage) -> None:
    await entry.sync_page(msg)


@app.route(route="sync", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def sync(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.sync(req)


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def status(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.status(req)


# --- the DR dashboard: one HTML page over GET /api/status and /api/copies ---------------------------


@app.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    return await entry.dashboard(req)
