"""What function_app.py calls: one typed entry per function, each one line into the handler that
does the work. A reader follows every binding to its behaviour with "go to definition" from here.

Each entry imports its handler on first use, so that the host indexes the app without loading
pydantic, httpx and the Azure SDKs (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import azure.functions as func

    from shared.context import AppContext


async def _context() -> AppContext:
    from shared.context import get_context

    return await get_context()


# --- HTTP: copy jobs (shared/api/copies.py) ---------------------------------------------------------


async def start_copies(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import copies, problems

    return await problems.handle(req, copies.submit_copies)


async def list_copies(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import copies, problems

    return await problems.handle(req, copies.list_copies)


async def get_copy(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import copies, problems

    return await problems.handle(req, copies.get_copy)


async def cancel_copy(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import copies, problems

    return await problems.handle(req, copies.cancel_copy)


# --- the copy pipeline's queues (shared/copy/service.py) --------------------------------------------


async def copy_request(msg: func.QueueMessage) -> None:
    await (await _context()).service.handle_copy_request(msg.get_body(), msg.id)


async def copy_poll(msg: func.QueueMessage) -> None:
    await (await _context()).service.handle_poll(msg.get_body(), msg.id)


async def poison(queue: str, msg: func.QueueMessage) -> None:
    await (await _context()).service.handle_poison(queue, msg.get_body())


async def watchdog() -> None:
    await (await _context()).service.resume_stalled()


async def retention() -> None:
    from shared.copy.retention import retire
    from shared.timefmt import utcnow

    ctx = await _context()
    await retire(ctx.service.jobs, ctx.pages, utcnow(), ctx.settings.job_retention_days)


# --- "a model was trained" (shared/api/webhooks.py) -------------------------------------------------


async def model_trained_webhook(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import problems, webhooks

    return await problems.handle(req, webhooks.model_trained_webhook)


async def model_trained_event(event: func.EventGridEvent | func.CloudEvent) -> None:
    """The worker hands over a `func.CloudEvent` for a CloudEvents payload, whatever the annotation says."""
    from shared.api import webhooks

    await webhooks.handle_trained_event(event, await _context())


# --- scheduled sync and DR status (shared/api/sync.py) ---------------------------------------------


async def sync_timer(timer: func.TimerRequest) -> None:
    from shared.api import sync

    await sync.on_timer(await _context(), timer.past_due)


async def sync_page(msg: func.QueueMessage) -> None:
    from shared.api import sync

    await sync.on_page(await _context(), msg.get_body())


async def sync(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import problems, sync

    return await problems.handle(req, sync.sync_route)


async def status(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import problems, sync

    return await problems.handle(req, sync.status_route)


# --- the DR dashboard (shared/api/dashboard.py) -------------------------------------------------------


async def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api import dashboard, problems

    return await problems.handle(req, dashboard.dashboard_page)
