"""What a sync run records: the `items` and `exposure` gauges from its plan, per target and state, and
one `sync.runs` count with its outcome, trigger and whether the source could be listed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared import telemetry as tel
from shared.copy.provenance import provenance_tags
from shared.sync.executors import PipelineExecutor
from shared.sync.run import SyncReport, run_sync
from tests.otel import Point, Recorded, capture
from tests.stack import PipelineStack

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CREATED = {
    "m0": datetime(2026, 1, 5, 8, 30, tzinfo=UTC),
    "m1": datetime(2026, 1, 10, tzinfo=UTC),
    "m2": datetime(2026, 2, 1, tzinfo=UTC),
    "m3": datetime(2026, 1, 20, tzinfo=UTC),
}


@pytest.fixture
def otel() -> Iterator[Recorded]:
    yield from capture()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def dry_run(stack: PipelineStack) -> SyncReport:
    context = stack.context
    return await run_sync(
        context.settings,
        context.clients,
        PipelineExecutor(context.service, context.settings.primary),
        context.service.records,
        events=stack.events,
        dry_run=True,
        trigger="timer",
        clock=lambda: NOW,
    )


def of_target(points: list[Point], target: str) -> list[Point]:
    return [p for p in points if p.attributes[tel.TARGET] == target]


async def test_a_plan_sets_each_targets_items_by_state_and_its_exposure(stack, fresh, otel):
    source = fresh["primary"]
    source.seed({"models": [{"modelId": m, "createdDateTime": iso(c)} for m, c in CREATED.items()]})

    def copy_of(model_id: str, build: datetime) -> dict[str, object]:
        tags = provenance_tags(source.endpoint, model_id, build)
        return {"modelId": model_id, "createdDateTime": iso(build), "tags": tags}

    fresh["westus2"].seed(
        {
            "models": [
                {"modelId": "m1"},  # not a copy of ours: never overwritten, so blocked
                copy_of("m2", datetime(2026, 1, 15, tzinfo=UTC)),  # an older build: stale
                copy_of("m3", CREATED["m3"]),  # this build: present
                {"modelId": "x9"},  # at no source: orphan
            ]
        }
    )
    fresh["northeurope"].outage(True)

    report = await dry_run(stack)

    assert report.status == "partial"
    points = otel.metrics()
    items = {p.attributes[tel.STATE]: p.value for p in of_target(points[tel.ITEMS], "westus2")}
    assert items == {"present": 1, "missing": 1, "stale": 1, "orphan": 1, "blocked": 1, "diverged": 0}
    assert all(set(p.attributes) == {tel.TARGET, tel.STATE} for p in points[tel.ITEMS])
    # The longest exposure: m0, missing since the source created it (m2 is stale only since February).
    [exposure] = of_target(points[tel.EXPOSURE], "westus2")
    assert exposure.value == (NOW - CREATED["m0"]).total_seconds()
    assert set(exposure.attributes) == {tel.TARGET}
    [run] = points[tel.SYNC_RUNS]
    assert run.attributes == {
        tel.OUTCOME: "partial",
        tel.TRIGGER: "timer",
        tel.SOURCE_LISTED: True,
        tel.DRY_RUN: True,
    }
    assert run.value == 1
    [span] = [s for s in otel.spans() if s.name == tel.SPAN_SYNC]
    assert span.attributes is not None and span.attributes[tel.SYNC_OUTCOME] == "partial"

    # Once m0 is there and m2 rebuilt there too, nothing is exposed at westus2.
    fresh["westus2"].seed({"models": [copy_of("m0", CREATED["m0"]), copy_of("m2", CREATED["m2"])]})
    await dry_run(stack)
    [exposure] = of_target(otel.metrics()[tel.EXPOSURE], "westus2")
    assert exposure.value == 0


async def test_a_source_that_cannot_be_listed_counts_a_failed_run(stack, fresh, otel):
    fresh["primary"].outage(True)

    report = await dry_run(stack)

    assert report.status == "failed"
    [run] = otel.metrics()[tel.SYNC_RUNS]
    assert run.attributes[tel.OUTCOME] == "failed" and run.attributes[tel.SOURCE_LISTED] is False
