"""What function_app.py calls. Each entry imports the machinery it needs on first use, so that the
host indexes the app without loading pydantic, httpx and the Azure SDKs (cold start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import azure.functions as func

    from shared.copy_service import CopyService


async def _service() -> CopyService:
    from shared.context import get_context

    return (await get_context()).service


async def http(req: func.HttpRequest, handler_name: str) -> func.HttpResponse:
    """Run the HTTP handler `shared.http_api.<handler_name>` with the app's copy service."""
    from shared import http_api

    return await http_api.handle(req, getattr(http_api, handler_name), await _service())


async def copy_request(msg: func.QueueMessage) -> None:
    await (await _service()).handle_copy_request(msg.get_body(), msg.id)


async def copy_poll(msg: func.QueueMessage) -> None:
    await (await _service()).handle_poll(msg.get_body(), msg.id)


async def poison(queue: str, msg: func.QueueMessage) -> None:
    await (await _service()).handle_poison(queue, msg.get_body())


async def watchdog() -> None:
    """Resume jobs that made no progress for a while (see `CopyService.resume_stalled`)."""
    from datetime import timedelta

    service = await _service()
    stale_after = timedelta(seconds=max(600.0, 3 * service.settings.poll.max_delay_seconds))
    await service.resume_stalled(stale_after)


async def model_trained_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """`POST /api/webhooks/model-trained` (see `shared.webhooks`)."""
    from shared import http_api, webhooks

    return await http_api.handle(req, webhooks.model_trained_webhook, await _service())


async def model_trained_event(event: func.EventGridEvent | func.CloudEvent) -> None:
    """Event Grid `docintel-dr.model.trained` (CloudEvents 1.0 or Event Grid schema). The worker
    hands over a `func.CloudEvent` for a CloudEvents payload whatever the annotation says."""
    from shared import webhooks

    await webhooks.handle_trained_event(event, await _service())


async def sync_timer(timer: func.TimerRequest) -> None:
    from shared.sync import api

    await api.timer(timer.past_due)


async def sync(req: func.HttpRequest) -> func.HttpResponse:
    from shared.sync import api

    return await api.sync(req)


async def status(req: func.HttpRequest) -> func.HttpResponse:
    from shared.sync import api

    return await api.status(req)
