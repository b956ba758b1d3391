"""What the function app's sync bindings call: the timer, ``POST /api/sync``, ``GET /api/status``.

function_app.py imports this module inside its functions (on first use), so indexing the app does
not load it. `timer`, `sync` and `status` get the app's context themselves; the `*_route` handlers
take it, for tests."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from shared.http_api import ProblemError, json_response
from shared.sync.runner import PipelineExecutor, dr_status, run_sync
from shared.sync.state import CopyRecords

log = logging.getLogger("docintel_dr.sync")

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def records_for(context: Any) -> CopyRecords:
    """Copy records in the state table (the copy service holds them)."""
    return context.service.records


def _flag(req: func.HttpRequest, name: str) -> bool:
    value = (req.params.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ProblemError(400, "Invalid query", f"{name} must be true or false.")


def _targets(req: func.HttpRequest, context: Any) -> list[str] | None:
    text = req.params.get("targets")
    if not text:
        return None
    targets = [t.strip().lower() for t in text.split(",") if t.strip()]
    unknown = [t for t in targets if t not in context.settings.secondaries]
    if unknown:
        raise ProblemError(
            400,
            "Unknown alias",
            f"Unknown target alias(es) {', '.join(unknown)}. "
            f"Secondaries: {', '.join(context.settings.secondaries)}.",
        )
    return targets


async def on_timer(context: Any, past_due: bool = False) -> dict[str, Any]:
    if past_due:
        log.warning("sync timer is past due; running now")
    report = await run_sync(
        context.settings,
        context.clients,
        PipelineExecutor(context.service, context.settings.primary),
        records_for(context),
        events=context.service.events,
        trigger="timer",
    )
    return report.to_dict()


async def sync_route(req: func.HttpRequest, context: Any) -> func.HttpResponse:
    """``POST /api/sync[?dryRun=true][&targets=a,b]``: plan (and, unless a dry run, start) a sync."""
    unknown = sorted(set(req.params) - {"dryRun", "targets", "code"})
    if unknown:
        raise ProblemError(400, "Invalid query", f"Unknown query parameter(s): {', '.join(unknown)}.")
    dry_run = _flag(req, "dryRun")
    report = await run_sync(
        context.settings,
        context.clients,
        PipelineExecutor(context.service, context.settings.primary),
        records_for(context),
        events=context.service.events,
        dry_run=dry_run,
        targets=_targets(req, context),
        trigger="http",
    )
    body = report.to_dict()
    if report.status == "failed":
        raise ProblemError(503, "Source unavailable", report.error or "the sync failed", sync=body)
    started = body["jobs"]["started"]
    return json_response(body, 202 if started else 200)


async def status_route(req: func.HttpRequest, context: Any) -> func.HttpResponse:
    """``GET /api/status[?targets=a,b]``: the DR status of every source item at every target."""
    unknown = sorted(set(req.params) - {"targets", "code"})
    if unknown:
        raise ProblemError(400, "Invalid query", f"Unknown query parameter(s): {', '.join(unknown)}.")
    body = await dr_status(
        context.settings,
        context.clients,
        records_for(context),
        context.service.jobs,
        targets=_targets(req, context),
    )
    return json_response(body, 200)


# --- entry points for function_app.py ---------------------------------------------------------------


async def timer(past_due: bool) -> None:
    from shared.context import get_context

    await on_timer(await get_context(), past_due)


async def sync(req: func.HttpRequest) -> func.HttpResponse:
    from shared.context import get_context
    from shared.http_api import handle

    return await handle(req, sync_route, await get_context())


async def status(req: func.HttpRequest) -> func.HttpResponse:
    from shared.context import get_context
    from shared.http_api import handle

    return await handle(req, status_route, await get_context())
