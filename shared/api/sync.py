"""``POST /api/sync`` and ``GET /api/status``, and the sync timer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared.api.inputs import (
    flag_param,
    int_param,
    reject_unknown_params,
    sync_aliases_param,
    target_aliases_param,
)
from shared.api.problems import ProblemCode, ProblemError, json_response
from shared.copy.messages import MalformedMessage, parse_message
from shared.status.report import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, StatusQuery, status_report
from shared.status.rows import InvalidContinuation, ItemState
from shared.sync.executors import PipelineExecutor
from shared.sync.pages import SyncPageMessage
from shared.sync.run import SyncReport, continue_sync, run_sync

if TYPE_CHECKING:
    from shared.context import AppContext

log = logging.getLogger("docintel_dr.sync")


async def on_timer(ctx: AppContext, past_due: bool = False) -> SyncReport:
    """The scheduled sync of every secondary."""
    if past_due:
        log.warning("sync timer is past due; running now")
    return await run_sync(
        ctx.settings,
        ctx.clients,
        PipelineExecutor(ctx.service, ctx.settings.primary, ctx.pages),
        ctx.service.records,
        events=ctx.service.events,
        trigger="timer",
        status=ctx.service.status,
    )


async def on_page(ctx: AppContext, body: str | bytes) -> None:
    """A later page of a sync (`shared.sync.pages`). A message that is not a page is refused
    (MalformedMessage): the host retries it and then moves it to the poison queue, where it stays."""
    message = parse_message(body, SyncPageMessage)
    source = message.source or ctx.settings.primary
    if source not in ctx.settings.resources:
        raise MalformedMessage(f"the page names source '{source}', which is not configured")
    executor = PipelineExecutor(ctx.service, source, ctx.pages)
    await continue_sync(ctx.settings, ctx.clients, executor, ctx.service.records, message)


async def sync_route(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``POST /api/sync[?dryRun=true][&source=a][&targets=b,c]``: plan (and, unless a dry run, start)
    a sync; from another source than the primary, a failback (default target: the primary)."""
    reject_unknown_params(req, {"dryRun", "targets", "source"})
    source, targets = sync_aliases_param(req, ctx.settings)
    report = await run_sync(
        ctx.settings,
        ctx.clients,
        PipelineExecutor(ctx.service, source, ctx.pages),
        ctx.service.records,
        events=ctx.service.events,
        dry_run=flag_param(req, "dryRun"),
        targets=targets,
        trigger="http",
        status=ctx.service.status,
        source=source,
    )
    body = report.to_dict()
    if report.status == "failed":
        raise ProblemError(503, ProblemCode.SOURCE_UNAVAILABLE, report.error or "the sync failed", sync=body)
    started = report.job_counts()["started"]
    return json_response(body, 202 if started else 200)


async def status_route(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``GET /api/status[?targets=a,b][&state=missing,stale][&pageSize=N][&continuationToken=T]``:
    one page of the DR status of every source item at every target (`shared.status.report`)."""
    reject_unknown_params(req, {"targets", "target", "state", "pageSize", "continuationToken"})
    # Any configured resource: the primary has rows once a failback has synced into it.
    query = StatusQuery(
        targets=target_aliases_param(req, ctx.settings, "target", allowed=ctx.settings.aliases)
        or list(ctx.settings.secondaries),
        states=states_param(req),
        page_size=int_param(req, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        continuation=req.params.get("continuationToken") or None,
    )
    try:
        body = await status_report(ctx.service.status, query, source_alias=ctx.settings.primary)
    except InvalidContinuation as exc:
        raise ProblemError(400, ProblemCode.INVALID_QUERY, f"continuationToken: {exc}.") from None
    return json_response(body, 200)


def states_param(req: func.HttpRequest) -> list[ItemState]:
    """``?state=missing,stale``: the item states to list (default: all)."""
    names = [s.strip().lower() for s in (req.params.get("state") or "").split(",") if s.strip()]
    valid = [s.value for s in ItemState]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ProblemError(
            400,
            ProblemCode.INVALID_QUERY,
            f"Unknown state(s) {', '.join(unknown)}. States: {', '.join(valid)}.",
        )
    return [ItemState(n) for n in dict.fromkeys(names)]
