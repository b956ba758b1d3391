"""docintel-dr's Azure Functions: a table of bindings. Each function hands over to `shared/`."""

import azure.functions as func

from shared import http_api as http
from shared.context import get_context
from shared.settings import (
    COPY_POLLS_QUEUE,
    COPY_REQUESTS_QUEUE,
    POISON_SUFFIX,
    STORAGE_CONNECTION,
    SYNC_SCHEDULE_SETTING,
)
from shared.sync import api as sync_api

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


# --- HTTP API: copy jobs ------------------------------------------------------------------------


@app.route(route="copies", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def start_copies(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, http.submit_copies, (await get_context()).service)


@app.route(route="copies", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_copies(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, http.list_copies, (await get_context()).service)


@app.route(route="copies/{jobId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_copy(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, http.get_copy, (await get_context()).service)


@app.route(route="copies/{jobId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def cancel_copy(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, http.cancel_copy, (await get_context()).service)


# --- the pipeline ---------------------------------------------------------------------------------


@app.queue_trigger(arg_name="msg", queue_name=COPY_REQUESTS_QUEUE, connection=STORAGE_CONNECTION)
async def copy_requests(msg: func.QueueMessage) -> None:
    await (await get_context()).service.handle_copy_request(msg.get_body(), msg.id)


@app.queue_trigger(arg_name="msg", queue_name=COPY_POLLS_QUEUE, connection=STORAGE_CONNECTION)
async def copy_polls(msg: func.QueueMessage) -> None:
    await (await get_context()).service.handle_poll(msg.get_body(), msg.id)


@app.queue_trigger(
    arg_name="msg", queue_name=COPY_REQUESTS_QUEUE + POISON_SUFFIX, connection=STORAGE_CONNECTION
)
async def copy_requests_poison(msg: func.QueueMessage) -> None:
    await (await get_context()).service.handle_poison(COPY_REQUESTS_QUEUE + POISON_SUFFIX, msg.get_body())


@app.queue_trigger(arg_name="msg", queue_name=COPY_POLLS_QUEUE + POISON_SUFFIX, connection=STORAGE_CONNECTION)
async def copy_polls_poison(msg: func.QueueMessage) -> None:
    await (await get_context()).service.handle_poison(COPY_POLLS_QUEUE + POISON_SUFFIX, msg.get_body())


# --- scheduled sync and DR status (shared/sync) ---------------------------------------------------


@app.timer_trigger(arg_name="timer", schedule=f"%{SYNC_SCHEDULE_SETTING}%", run_on_startup=False)
async def sync_timer(timer: func.TimerRequest) -> None:
    await sync_api.on_timer(await get_context(), timer.past_due)


@app.route(route="sync", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def sync(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, sync_api.sync_route, await get_context())


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def status(req: func.HttpRequest) -> func.HttpResponse:
    return await http.handle(req, sync_api.status_route, await get_context())
