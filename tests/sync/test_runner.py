"""Syncs driven end to end: the real pipeline (function_app queue functions over Azurite) copying
between emulator processes, planned by the sync runner."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared.copy.provenance import Provenance, read_provenance
from shared.docintel import ItemKind
from shared.status.report import StatusQuery, status_report
from shared.sync.executors import PipelineExecutor
from shared.sync.planner import Plan
from shared.sync.run import SyncReport, run_sync
from tests.stack import PipelineStack, start_sync_stack, sync_settings

TARGETS = ("westus2", "northeurope")
ITEM_READ = re.compile(r"/document(Models|Classifiers)/[^/:]+$")


def seed_300(emulator) -> dict[str, set[str]]:
    """300 items: template and neural models, classifiers, composed models (some with a classifier)."""
    models: list[dict[str, Any]] = [{"modelId": f"tmpl-{i:03d}"} for i in range(150)]
    models += [{"modelId": f"neural-{i:03d}", "buildMode": "neural"} for i in range(60)]
    classifiers = [{"classifierId": f"sorter-{i:02d}"} for i in range(30)]
    for i in range(60):
        composed = {
            "modelId": f"composed-{i:02d}",
            "docTypes": {
                "invoice": {"modelId": f"tmpl-{2 * i:03d}", "buildMode": "template"},
                "receipt": {"modelId": f"neural-{i:03d}", "buildMode": "neural"},
            },
        }
        if i % 3 == 0:
            composed["classifierId"] = f"sorter-{i // 3:02d}"
        models.append(composed)
    emulator.seed({"models": models, "classifiers": classifiers})
    return {"models": {m["modelId"] for m in models}, "classifiers": {c["classifierId"] for c in classifiers}}


def held(emulator) -> dict[str, set[str]]:
    items = emulator.items()
    return {
        "models": {m["modelId"] for m in items["models"]},
        "classifiers": {c["classifierId"] for c in items["classifiers"]},
    }


async def sync(stack: PipelineStack, **options) -> SyncReport:
    context = stack.context
    return await run_sync(
        context.settings,
        context.clients,
        PipelineExecutor(context.service, context.settings.primary, context.pages),
        context.service.records,
        events=stack.events,
        status=context.service.status,
        **options,
    )


async def sync_to_end(stack: PipelineStack, within: float = 60, **options) -> SyncReport:
    report = await sync(stack, **options)
    job_ids = [j.job_id for j in report.copies if j.job_id]
    jobs = await stack.run_to_end(job_ids, timeout=within)
    assert [j.job_id for j in jobs if j.status.value != "succeeded"] == []
    return report


def plan_of(report: SyncReport) -> Plan:
    """The report's plan: a sync that got past reading its source always has one."""
    assert report.plan is not None, report.error
    return report.plan


def provenance_of(item: dict[str, Any]) -> Provenance:
    """The provenance tags of an item at a target: every item a sync copied has them."""
    provenance = read_provenance(item["tags"])
    assert provenance is not None, item
    return provenance


def item_reads(emulator) -> list[str]:
    return [r["path"] for r in emulator.requests() if r["method"] == "GET" and ITEM_READ.search(r["path"])]


async def test_a_sync_authorizes_each_copy_only_when_its_turn_comes(stack, fresh):
    """An authorization lives one hour; a large sync takes longer. The sync's jobs wait in the queue
    unauthorized, and each is authorized right before its copyTo."""
    fresh["primary"].seed({"models": [{"modelId": f"jit-{i}"} for i in range(4)]})
    for emulator in fresh.values():
        emulator.clear_requests()

    report = await sync(stack)

    assert report.job_counts()["started"] == 8
    queued = [await stack.job(c.job_id) for c in report.copies if c.job_id]
    assert {j.status.value for j in queued} == {"queued"}
    assert all(j.authorization_expires_at is None for j in queued)
    for alias in TARGETS:
        assert not [r for r in fresh[alias].requests() if r["path"].endswith(":authorizeCopy")]

    jobs = await stack.run_to_end([j.job_id for j in queued])
    assert {j.status.value for j in jobs} == {"succeeded"} and all(j.reauthorizations == 0 for j in jobs)
    for alias in TARGETS:
        assert held(fresh[alias])["models"] == {f"jit-{i}" for i in range(4)}


async def test_300_items_reach_both_targets_with_provenance_and_a_second_run_plans_nothing(stack, fresh):
    expected = seed_300(fresh["primary"])
    for emulator in fresh.values():
        emulator.clear_requests()

    # 600 copies through one in-process pipeline: time enough for a loaded machine (not a speed test).
    first = await sync_to_end(stack, within=240, trigger="timer")

    assert first.status == "succeeded"
    assert plan_of(first).counts()["copy"] == 600
    # Classifiers and components go before the composed models that use them.
    order = [j.item.source_id for j in first.copies if j.item.target_alias == "westus2"]
    assert order.index("sorter-00") < order.index("composed-00")
    assert order.index("tmpl-000") < order.index("composed-00")
    for alias in TARGETS:
        assert held(fresh[alias]) == expected
        for model in fresh[alias].items()["models"]:
            provenance = provenance_of(model)
            assert provenance.source_id == model["modelId"]
            assert provenance.source == "127.0.0.1:" + fresh["primary"].endpoint.rsplit(":", 1)[1]
    records = await stack.context.service.records.load("primary")
    assert {sid for (kind, sid) in records["westus2"] if kind == "classifier"} == expected["classifiers"]
    types = [e["type"] for e in stack.events.events if e["type"].startswith("docintel-dr.sync")]
    completed = next(e for e in stack.events.events if e["type"] == "docintel-dr.sync.completed")
    assert types == ["docintel-dr.sync.completed"]
    assert completed["id"] == f"sync-{first.sync_id}"
    assert completed["data"]["jobs"]["started"] == 600 and completed["data"]["counts"]["copy"] == 600
    drift = next(e for e in stack.events.events if e["type"] == "docintel-dr.drift.detected")
    assert drift["data"]["targets"]["westus2"]["missing"] == 300
    # Requests: list pages, one copyTo per copy at the source, no reads of items before copying.
    source_log = fresh["primary"].requests()
    assert sum(1 for r in source_log if r["path"].endswith(":copyTo")) == 600
    assert item_reads(fresh["primary"]) == []

    for emulator in fresh.values():
        emulator.clear_requests()
    stack.events.events.clear()
    second = await sync(stack)

    assert plan_of(second).counts() == {"copy": 0, "recopy": 0, "up-to-date": 600, "orphan": 0, "blocked": 0}
    assert second.copies == []
    assert [e["type"] for e in stack.events.events] == ["docintel-dr.sync.completed"]
    # An up-to-date sync costs list pages and quota reads only: nothing per item.
    for alias, emulator in fresh.items():
        log = emulator.requests()
        assert item_reads(emulator) == [], alias
        assert all(r["method"] == "GET" for r in log), alias
        assert len(log) <= 2 * (300 // 50 + 2) + 1, (alias, len(log))


async def test_a_source_item_rebuilt_under_the_same_id_is_recopied(stack, fresh):
    fresh["primary"].seed(
        {
            "models": [{"modelId": "invoices", "createdDateTime": "2026-01-05T08:30:00Z"}],
            "classifiers": [{"classifierId": "sorter", "createdDateTime": "2026-01-05T08:30:00Z"}],
        }
    )
    await sync_to_end(stack)
    fresh["primary"].seed(
        {
            "models": [{"modelId": "invoices", "createdDateTime": "2026-02-01T00:00:00Z"}],
            "classifiers": [{"classifierId": "sorter", "createdDateTime": "2026-02-01T00:00:00Z"}],
        }
    )

    report = await sync_to_end(stack)

    assert plan_of(report).counts()["recopy"] == 4
    assert {(j.item.kind, j.item.action, j.status) for j in report.copies} == {
        ("model", "recopy", "started"),
        ("classifier", "recopy", "started"),
    }
    for alias in TARGETS:
        model = next(m for m in fresh[alias].items()["models"] if m["modelId"] == "invoices")
        assert provenance_of(model).source_created == "2026-02-01T00:00:00Z"
    again = await sync(stack)
    assert plan_of(again).counts()["up-to-date"] == 4 and again.copies == []


async def test_quota_exhaustion_is_reported_per_item(stack, fresh):
    fresh["westus2"].configure(modelLimit=3)
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(5)]})

    report = await sync_to_end(stack)

    west = {i.source_id: i for i in plan_of(report).targets["westus2"].items}
    assert [west[f"m{i}"].action.value for i in range(5)] == ["copy"] * 3 + ["blocked"] * 2
    assert "quota" in west["m4"].reason and "limit 3" in west["m4"].reason
    assert plan_of(report).targets["northeurope"].counts()["copy"] == 5
    assert report.status == "partial"
    assert len(held(fresh["westus2"])["models"]) == 3 and len(held(fresh["northeurope"])["models"]) == 5


async def test_a_target_outage_leaves_the_other_synced_and_the_status_shows_the_gap(stack, fresh):
    fresh["primary"].seed(
        {"models": [{"modelId": f"m{i}"} for i in range(4)], "classifiers": [{"classifierId": "sorter"}]}
    )
    fresh["northeurope"].outage(True)

    report = await sync_to_end(stack)

    assert report.status == "partial"
    assert plan_of(report).unreachable == ["northeurope"]
    assert held(fresh["westus2"]) == {"models": {"m0", "m1", "m2", "m3"}, "classifiers": {"sorter"}}
    drift = next(e for e in stack.events.events if e["type"] == "docintel-dr.drift.detected")
    assert drift["data"]["targets"]["northeurope"]["reachable"] is False

    fresh["northeurope"].outage(False)
    status = await status_report(stack.service.status, StatusQuery(TARGETS), source_alias="primary")
    assert status["inSync"] is False
    west, north = status["targets"]["westus2"], status["targets"]["northeurope"]
    assert west["inSync"] and west["counts"]["present"] == 5
    assert all(
        i["lastCopiedAt"] and i["ageSeconds"] >= 0 for i in status["items"] if i["target"] == "westus2"
    )
    assert north["reachable"] is False and north["lastSync"] is not None and not north["inSync"]

    healed = await sync_to_end(stack)
    assert plan_of(healed).targets["northeurope"].counts()["copy"] == 5
    assert plan_of(healed).targets["westus2"].counts()["copy"] == 0
    status = await status_report(stack.service.status, StatusQuery(TARGETS), source_alias="primary")
    assert status["inSync"] is True


async def test_a_source_outage_is_a_failed_sync_not_a_crash(stack, fresh):
    fresh["primary"].outage(True)

    report = await sync(stack)

    assert report.status == "failed" and report.error is not None and "primary" in report.error
    [event] = stack.events.events
    assert event["type"] == "docintel-dr.sync.completed" and event["data"]["status"] == "failed"
    assert event["data"]["error"]["code"] == "SourceUnavailable"


async def test_pruning_off_reports_orphans_and_on_deletes_only_ours(azurite, fresh):
    fresh["primary"].seed({"models": [{"modelId": "keep"}, {"modelId": "retire"}]})
    fresh["westus2"].seed({"models": [{"modelId": "trained-here"}]})  # not ours: never pruned
    stack = await start_sync_stack(sync_settings(azurite, fresh))
    try:
        await sync_to_end(stack)
        await stack.context.clients["primary"].delete_item(ItemKind.MODEL, "retire")

        kept = await sync(stack)
        west = {i.target_id: i for i in plan_of(kept).targets["westus2"].items if i.action.value == "orphan"}
        assert set(west) == {"retire", "trained-here"} and not any(i.delete for i in west.values())
        assert "retire" in held(fresh["westus2"])["models"]
    finally:
        await stack.aclose()

    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PRUNE="true"))
    try:
        pruned = await sync(stack)
        deleted = [d.to_dict() for d in pruned.deletions]
        assert sorted((d["target"], d["targetId"], d["status"]) for d in deleted) == [
            ("northeurope", "retire", "deleted"),
            ("westus2", "retire", "deleted"),
        ]
        assert held(fresh["westus2"])["models"] == {"keep", "trained-here"}
        assert held(fresh["northeurope"])["models"] == {"keep"}
    finally:
        await stack.aclose()


async def test_a_sync_larger_than_a_page_continues_in_pages_until_every_item_is_copied(azurite, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(7)]})
    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PAGE_SIZE="3"))
    try:
        report = await sync(stack)

        assert report.job_counts()["started"] == 3 and report.job_counts()["scheduled"] == 11
        assert report.status == "succeeded"
        everything = {f"m{i}" for i in range(7)}
        await stack.pump(lambda: all(held(fresh[a])["models"] == everything for a in TARGETS), timeout=90)
        await stack.pump(lambda: _all_jobs_ended(stack), timeout=60)
        jobs = [j async for j in stack.service.jobs.iter_all()]
        assert len(jobs) == 14 and {j.status.value for j in jobs} == {"succeeded"}
        assert await _work_rows(stack, report.sync_id) == 0
    finally:
        await stack.aclose()


async def test_a_page_delivered_twice_copies_nothing_twice(azurite, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(4)]})
    stack = await start_sync_stack(sync_settings(azurite, fresh, DR_SYNC_PAGE_SIZE="2"))
    try:
        await sync(stack)
        pages = stack.triggers["sync-pages"].client
        received: list[Any] = []

        async def first_page_visible() -> bool:
            received.extend([m async for m in pages.receive_messages(visibility_timeout=1)])
            return bool(received)

        await eventually_async(first_page_visible)
        await stack.context.pages_queue.send(received[0].content)  # the same page again

        everything = {f"m{i}" for i in range(4)}
        await stack.pump(lambda: all(held(fresh[a])["models"] == everything for a in TARGETS), timeout=90)
        await stack.pump(lambda: _all_jobs_ended(stack), timeout=60)
        for alias in TARGETS:
            assert all(entry["commits"] == 1 for entry in fresh[alias].commits())
    finally:
        await stack.aclose()


async def test_a_syncs_jobs_start_one_slot_of_the_sources_rate_apart(azurite, fresh):
    fresh["primary"].seed({"models": [{"modelId": f"m{i}"} for i in range(3)]})
    slow = {"DR_RESOURCES__PRIMARY__MANAGEMENT_PER_SECOND": "2"}
    stack = await start_sync_stack(sync_settings(azurite, fresh, **slow))
    try:
        report = await sync(stack)

        jobs = [await stack.job(c.job_id) for c in report.copies if c.job_id]
        due = sorted(j.due_at.timestamp() for j in jobs if j.due_at)
        gaps = [later - earlier for earlier, later in itertools.pairwise(due)]
        # One slot (1/2 s) apart, counted from when the sync began submitting, give or take the
        # moments between reading the two clocks of a submit.
        assert len(gaps) == 5 and all(0.3 < gap < 0.7 for gap in gaps), gaps
    finally:
        await stack.aclose()


async def eventually_async(condition: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.2)


async def _all_jobs_ended(stack: PipelineStack) -> bool:
    jobs = [j async for j in stack.service.jobs.iter_all()]
    return bool(jobs) and all(j.status.is_terminal and j.event_published for j in jobs)


async def _work_rows(stack: PipelineStack, sync_id: str) -> int:
    table = stack.context.tables[1]
    return len(
        [
            e
            async for e in table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": f"syncwork.{sync_id}"}
            )
        ]
    )


async def test_a_dry_run_plans_without_copying_or_publishing(stack, fresh):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}]})
    report = await sync(stack, dry_run=True)
    assert plan_of(report).counts()["copy"] == 2 and report.copies == []
    assert stack.events.events == []
    assert held(fresh["westus2"])["models"] == set()
