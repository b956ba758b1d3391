"""``POST /api/sync`` and ``GET /api/status``, and the sync timer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared.api.inputs import flag_param, reject_unknown_params, target_aliases_param
from shared.api.problems import ProblemCode, ProblemError, json_response
from shared.sync.executors import PipelineExecutor
from shared.sync.run import SyncReport, run_sync
from shared.sync.status import dr_status

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
        PipelineExecutor(ctx.service, ctx.settings.primary),
        ctx.service.records,
        events=ctx.service.events,
        trigger="timer",
    )


async def sync_route(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``POST /api/sync[?dryRun=true][&targets=a,b]``: plan (and, unless a dry run, start) a sync."""
    reject_unknown_params(req, {"dryRun", "targets"})
    report = await run_sync(
        ctx.settings,
        ctx.clients,
        PipelineExecutor(ctx.service, ctx.settings.primary),
        ctx.service.records,
        events=ctx.service.events,
        dry_run=flag_param(req, "dryRun"),
        targets=target_aliases_param(req, ctx.settings),
        trigger="http",
    )
    body = report.to_dict()
    if report.status == "failed":
        raise ProblemError(503, ProblemCode.SOURCE_UNAVAILABLE, report.error or "the sync failed", sync=body)
    started = report.job_counts()["started"]
    return json_response(body, 202 if started else 200)


async def status_route(req: func.HttpRequest, ctx: AppContext) -> func.HttpResponse:
    """``GET /api/status[?targets=a,b]``: the DR status of every source item at every target."""
    reject_unknown_params(req, {"targets"})
    body = await dr_status(
        ctx.settings,
        ctx.clients,
        ctx.service.records,
        ctx.service.jobs,
        targets=target_aliases_param(req, ctx.settings),
    )
    return json_response(body, 200)
