"""Fail over, fail back, end to end: the real pipeline over Azurite copying between emulator
processes. The primary's items reach the secondaries; the primary goes down; the pipeline runs on a
secondary and trains there; the primary comes back; a failback sync copies what the secondary
trained to the primary (and nothing the primary already has); the primary's next syncs recognise
those copies and plan nothing new for them. Pruning is on throughout: nothing of the primary's is
deleted by the failback."""

from __future__ import annotations

from shared.copy.provenance import read_provenance, source_key
from shared.docintel import ItemKind
from shared.status.report import StatusQuery, status_report
from shared.sync.executors import PipelineExecutor
from shared.sync.run import SyncReport, run_sync
from tests.stack import PipelineStack, start_sync_stack, sync_settings
from tests.sync.test_runner import held, plan_of


async def sync_from(stack: PipelineStack, source: str, **options) -> SyncReport:
    context = stack.context
    report = await run_sync(
        context.settings,
        context.clients,
        PipelineExecutor(context.service, source, context.pages),
        context.service.records,
        events=stack.events,
        status=context.service.status,
        source=source,
        **options,
    )
    job_ids = [c.job_id for c in report.copies if c.job_id]
    jobs = await stack.run_to_end(job_ids, timeout=60)
    assert [(j.source_id, j.target_alias, j.error_code) for j in jobs if j.status.value != "succeeded"] == []
    return report


def actions(report: SyncReport, target: str) -> dict[str, str]:
    return {f"{i.kind.value}:{i.source_id}": i.action.value for i in plan_of(report).targets[target].items}


async def test_fail_over_train_at_the_secondary_fail_back_and_the_primary_plans_nothing_new(azurite, fresh):
    primary, west, north = fresh["primary"], fresh["westus2"], fresh["northeurope"]
    primary.seed(
        {
            "models": [{"modelId": "invoices"}, {"modelId": "archive"}],
            "classifiers": [{"classifierId": "sorter"}],
        }
    )
    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PRUNE="true"))
    try:
        first = await sync_from(stack, "primary")
        assert plan_of(first).counts()["copy"] == 6

        # The primary's region fails. The pipeline moves to westus2 and trains there; a model the
        # team retires there during the outage is deleted at westus2 only.
        primary.outage(True)
        west.seed(
            {
                "models": [{"modelId": "receipts", "tags": {"team": "ap"}}],
                "classifiers": [{"classifierId": "triage"}],
            }
        )
        await stack.context.clients["westus2"].delete_item(ItemKind.MODEL, "archive")
        primary.outage(False)
        for emulator in fresh.values():
            emulator.clear_requests()

        # Fail back: westus2 -> primary (its default target).
        back = await sync_from(stack, "westus2")

        assert back.source_alias == "westus2" and list(plan_of(back).targets) == ["primary"]
        assert actions(back, "primary") == {
            "classifier:sorter": "up-to-date",
            "classifier:triage": "copy",
            "model:invoices": "up-to-date",
            "model:receipts": "copy",
            "model:archive": "orphan",
        }
        assert plan_of(back).prune is False and back.deletions == []
        assert held(primary) == {
            "models": {"invoices", "archive", "receipts"},
            "classifiers": {"sorter", "triage"},
        }
        # Only what westus2 trained went to the primary; its provenance names westus2.
        assert sorted((c["kind"], c["id"]) for c in primary.commits()) == [
            ("classifier", "triage"),
            ("model", "receipts"),
        ]
        receipts = next(m for m in primary.items()["models"] if m["modelId"] == "receipts")
        provenance = read_provenance(receipts["tags"])
        assert provenance is not None and provenance.source == source_key(west.endpoint)
        assert receipts["tags"]["team"] == "ap"
        # The failback's rows are the primary's status, naming their source.
        status = await status_report(stack.service.status, StatusQuery(["primary"]), source_alias="primary")
        assert status["targets"]["primary"]["lastSync"]["source"] == "westus2"
        assert status["targets"]["primary"]["counts"]["present"] == 4

        # The primary's sync: the copies back are up to date at westus2, and reach northeurope.
        again = await sync_from(stack, "primary")
        assert actions(again, "westus2") == {
            "classifier:sorter": "up-to-date",
            "classifier:triage": "up-to-date",
            "model:invoices": "up-to-date",
            "model:receipts": "up-to-date",
            "model:archive": "copy",  # retired at westus2 during the outage: the primary still has it
        }
        assert actions(again, "northeurope") == {
            "classifier:sorter": "up-to-date",
            "classifier:triage": "copy",
            "model:invoices": "up-to-date",
            "model:receipts": "copy",
            "model:archive": "up-to-date",
        }
        assert again.deletions == []
        assert {c["id"] for c in west.commits() if c["id"] in ("receipts", "triage")} == set()
        assert held(north) == held(primary)

        # And once more: nothing at all to do.
        steady = await sync_from(stack, "primary")
        assert plan_of(steady).counts() == {
            "copy": 0,
            "recopy": 0,
            "up-to-date": 10,
            "orphan": 0,
            "blocked": 0,
        }
        assert steady.copies == []
    finally:
        await stack.aclose()


async def test_a_failback_larger_than_a_page_copies_from_the_secondary_in_every_page(azurite, fresh):
    fresh["westus2"].seed({"models": [{"modelId": f"trained-{i}"} for i in range(5)]})
    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PAGE_SIZE="2"))
    try:
        context = stack.context
        report = await run_sync(
            context.settings,
            context.clients,
            PipelineExecutor(context.service, "westus2", context.pages),
            context.service.records,
            status=context.service.status,
            source="westus2",
        )
        assert report.job_counts()["started"] == 2 and report.job_counts()["scheduled"] == 3
        everything = {f"trained-{i}" for i in range(5)}
        await stack.pump(lambda: held(fresh["primary"])["models"] == everything, timeout=90)
        jobs = [j async for j in stack.service.jobs.iter_all()]
        assert {(j.source_alias, j.target_alias) for j in jobs} == {("westus2", "primary")}
    finally:
        await stack.aclose()
