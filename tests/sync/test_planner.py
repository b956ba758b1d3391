"""The planner's rules, one test each: pure, no I/O."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from shared.copy.provenance import provenance_tags, stamp
from shared.copy.records import CopyRecord
from shared.docintel import ItemInfo, ItemKind, ResourceQuota
from shared.sync.filters import Filters
from shared.sync.inventory import SourceInventory, TargetInventory
from shared.sync.planner import PlanAction, dependency_order, plan

SOURCE = "https://di-primary.cognitiveservices.azure.com"
BUILT = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
REBUILT = BUILT + timedelta(days=3)
V21_ID = "4b0b2d3c-1b7e-4b7e-9a53-7f1f3b2d9e01"


def model(item_id: str, created: datetime = BUILT, **kw) -> ItemInfo:
    return ItemInfo(kind=ItemKind.MODEL, id=item_id, created_at=created, **kw)


def classifier(item_id: str, created: datetime = BUILT) -> ItemInfo:
    return ItemInfo(kind=ItemKind.CLASSIFIER, id=item_id, created_at=created)


def copy_of(item: ItemInfo, created: datetime | None = None, source: str = SOURCE) -> ItemInfo:
    """The item as a target holds it after docintel-dr copied it (provenance tags)."""
    assert item.created_at is not None, "a copy is made of a built item"
    return item.model_copy(
        update={
            "created_at": created or item.created_at + timedelta(minutes=5),
            "tags": {**item.tags, **provenance_tags(source, item.id, item.created_at)},
        }
    )


def source(*items: ItemInfo, api: str = "2024-11-30") -> SourceInventory:
    return SourceInventory("primary", SOURCE, api, list(items))


def target(*items: ItemInfo, alias: str = "west", api: str = "2024-11-30", quota=None, records=None):
    return TargetInventory(alias, api, list(items), quota, records or {})


def actions(result, alias: str = "west") -> dict[str, tuple[PlanAction, str]]:
    return {i.source_id: (i.action, i.reason) for i in result.targets[alias].items}


def test_missing_items_are_copied_and_prebuilt_models_never():
    result = plan(
        source(model("invoices"), classifier("sorter"), model("prebuilt-layout", is_prebuilt=True)),
        [target()],
    )
    assert {k: a for k, (a, _) in actions(result).items()} == {
        "sorter": PlanAction.COPY,
        "invoices": PlanAction.COPY,
    }
    assert "model:prebuilt-layout" not in result.excluded  # not even reported as excluded


def test_a_copy_of_this_build_is_up_to_date_and_a_rebuilt_source_is_recopied():
    invoices, receipts = model("invoices"), model("receipts", created=REBUILT)
    at_target = [copy_of(invoices), copy_of(model("receipts", created=BUILT))]
    result = plan(source(invoices, receipts), [target(*at_target)])
    got = actions(result)
    assert got["invoices"][0] is PlanAction.UP_TO_DATE
    assert got["receipts"][0] is PlanAction.RECOPY
    recopy = next(i for i in result.targets["west"].items if i.source_id == "receipts")
    assert recopy.delete and recopy.target_id == "receipts" and recopy.source_item is receipts
    assert [i.source_id for i in result.work()] == ["receipts"]


def test_an_item_with_the_same_id_not_copied_by_us_is_never_overwritten():
    mine = model("invoices")
    theirs = model("invoices", tags={"team": "ap"})  # trained at the target, no provenance
    foreign = copy_of(model("receipts"), source="https://other.cognitiveservices.azure.com")
    result = plan(source(mine, model("receipts")), [target(theirs, foreign)])
    got = actions(result)
    assert got["invoices"][0] is PlanAction.BLOCKED and "did not copy" in got["invoices"][1]
    assert (
        got["receipts"][0] is PlanAction.BLOCKED and "other.cognitiveservices.azure.com" in got["receipts"][1]
    )


def test_classifiers_are_recognised_by_their_copy_record():
    sorter = classifier("sorter", created=REBUILT)
    kept = classifier("kept")
    at_target = [classifier("sorter", created=BUILT + timedelta(minutes=1)), classifier("kept", BUILT)]
    records = {
        (ItemKind.CLASSIFIER, "sorter"): CopyRecord(ItemKind.CLASSIFIER, "sorter", "sorter", stamp(BUILT)),
        (ItemKind.CLASSIFIER, "kept"): CopyRecord(ItemKind.CLASSIFIER, "kept", "kept", stamp(BUILT)),
    }
    got = actions(plan(source(sorter, kept), [target(*at_target, records=records)]))
    assert got["sorter"][0] is PlanAction.RECOPY
    assert got["kept"][0] is PlanAction.UP_TO_DATE


def test_a_classifier_without_record_is_judged_by_created_times():
    newer_at_target = classifier("a")
    older_at_target = classifier("b", created=REBUILT)
    got = actions(
        plan(
            source(newer_at_target, older_at_target),
            [target(classifier("a", BUILT + timedelta(hours=1)), classifier("b", BUILT))],
        )
    )
    assert got["a"][0] is PlanAction.UP_TO_DATE
    assert got["b"][0] is PlanAction.BLOCKED


def test_classifier_copy_needs_2024_07_31_preview_at_both_ends():
    got = actions(plan(source(classifier("sorter")), [target(api="2024-02-29-preview")]))
    assert got["sorter"][0] is PlanAction.BLOCKED and "2024-07-31-preview" in got["sorter"][1]
    got = actions(plan(source(classifier("sorter"), api="2023-07-31"), [target()]))
    assert got["sorter"][0] is PlanAction.BLOCKED and "source uses 2023-07-31" in got["sorter"][1]


def test_v21_and_v3_models_do_not_cross():
    v21 = model(V21_ID, legacy_v21=True, api_version="2.1")
    got = actions(plan(source(v21, api="2.1"), [target()]))
    assert got[V21_ID][0] is PlanAction.BLOCKED and "v2.1 model cannot" in got[V21_ID][1]
    got = actions(plan(source(model("invoices")), [target(api="2.1")]))
    assert got["invoices"][0] is PlanAction.BLOCKED and "v2.1 resource" in got["invoices"][1]


def test_v21_models_map_to_target_guids_through_copy_records():
    copied, rebuilt, new = (model(f"{n}{V21_ID[1:]}", legacy_v21=True, api_version="2.1") for n in "abc")
    rebuilt = rebuilt.model_copy(update={"created_at": REBUILT})
    minted = {"a": "aaaaaaaa-0000-4000-8000-000000000001", "b": "bbbbbbbb-0000-4000-8000-000000000002"}
    at_target = [model(g, legacy_v21=True, api_version="2.1") for g in minted.values()]
    stranger = model("cccccccc-0000-4000-8000-000000000003", legacy_v21=True, api_version="2.1")
    records = {
        (ItemKind.MODEL, copied.id): CopyRecord(ItemKind.MODEL, copied.id, minted["a"], stamp(BUILT)),
        (ItemKind.MODEL, rebuilt.id): CopyRecord(ItemKind.MODEL, rebuilt.id, minted["b"], stamp(BUILT)),
    }
    result = plan(
        source(copied, rebuilt, new, api="2.1"),
        [target(*at_target, stranger, api="2.1", records=records)],
        prune=True,
    )
    items = {i.source_id: i for i in result.targets["west"].items}
    assert items[copied.id].action is PlanAction.UP_TO_DATE and items[copied.id].target_id == minted["a"]
    assert items[rebuilt.id].action is PlanAction.RECOPY and items[rebuilt.id].target_id == minted["b"]
    assert items[new.id].action is PlanAction.COPY and items[new.id].target_id is None  # minted by the target
    # A GUID at the target that no record accounts for is an orphan that is never pruned.
    assert items[stranger.id].action is PlanAction.ORPHAN and not items[stranger.id].delete


def test_components_come_before_the_composed_models_that_use_them():
    composed = model("all-docs", component_ids=["invoices", "receipts", "sorter"], classifier_id="sorter")
    outer = model("outer", component_ids=["all-docs"])
    ordered = dependency_order([outer, composed, model("invoices"), model("receipts"), classifier("sorter")])
    assert [i.id for i in ordered] == ["sorter", "invoices", "receipts", "all-docs", "outer"]
    result = plan(
        source(outer, composed, model("invoices"), model("receipts"), classifier("sorter")),
        [target(), target(alias="north")],
    )
    work = [(i.source_id, i.target_alias) for i in result.work()]
    assert work[:2] == [("sorter", "west"), ("sorter", "north")]  # item by item across targets
    assert [w[0] for w in work[-2:]] == ["outer", "outer"]


def test_a_composed_model_whose_component_cannot_be_copied_is_blocked():
    composed = model("all-docs", component_ids=["invoices", "gone"])
    got = actions(plan(source(composed, model("invoices")), [target()]))
    assert got["all-docs"][0] is PlanAction.BLOCKED and "'gone'" in got["all-docs"][1]
    # ... unless the target already has it
    got = actions(plan(source(composed, model("invoices")), [target(model("gone"))]))
    assert got["all-docs"][0] is PlanAction.COPY
    # A component that is itself blocked (quota) blocks the composed model too.
    got = actions(
        plan(
            source(composed, model("invoices"), model("gone")),
            [target(quota=ResourceQuota(count=9, limit=10))],
        )
    )
    assert got["invoices"][0] is PlanAction.COPY and got["gone"][0] is PlanAction.BLOCKED
    assert got["all-docs"][0] is PlanAction.BLOCKED and "quota" in got["all-docs"][1]


def test_quota_blocks_per_item_instead_of_failing_halfway():
    items = [model(f"m{i:02d}") for i in range(5)]
    result = plan(source(*items, classifier("sorter")), [target(quota=ResourceQuota(count=97, limit=100))])
    got = actions(result)
    assert [got[f"m{i:02d}"][0] for i in range(5)] == [PlanAction.COPY] * 3 + [PlanAction.BLOCKED] * 2
    assert "quota" in got["m04"][1] and "limit 100" in got["m04"][1]
    assert got["sorter"][0] is PlanAction.COPY  # classifiers do not count against the model quota
    # A recopy replaces the stale copy, so it needs no room.
    stale = copy_of(model("m00", created=BUILT - timedelta(days=1)))
    result = plan(source(model("m00")), [target(stale, quota=ResourceQuota(count=100, limit=100))])
    assert actions(result)["m00"][0] is PlanAction.RECOPY


def test_filters_by_id_glob_and_tag():
    items = [
        model("invoices-eu", tags={"team": "ap"}),
        model("invoices-us", tags={"team": "ap", "dr": "skip"}),
        model("receipts", tags={"team": "ar"}),
        model("scratch-1"),
        classifier("sorter"),
    ]
    filters = Filters(
        include=("invoices-*", "receipts", "sorter"),
        exclude=("scratch-*",),
        include_tags=("team=ap", "team=ar"),
        exclude_tags=("dr",),
    )
    result = plan(source(*items), [target()], filters=filters)
    assert set(actions(result)) == {"invoices-eu", "receipts"}
    assert result.excluded == {
        "model:invoices-us": "has an exclude tag",
        "model:scratch-1": "id matches no include pattern",
        "classifier:sorter": "has none of the include tags",
    }
    assert set(actions(plan(source(*items), [target()], filters=Filters(exclude=("scratch-*",))))) == {
        "invoices-eu",
        "invoices-us",
        "receipts",
        "sorter",
    }


def test_orphans_are_reported_and_pruned_only_when_ours_and_pruning_is_on():
    ours = copy_of(model("retired"))
    theirs = model("local-only")
    our_classifier = classifier("old-sorter")
    records = {
        (ItemKind.CLASSIFIER, "old-sorter"): CopyRecord(
            ItemKind.CLASSIFIER, "old-sorter", "old-sorter", stamp(BUILT)
        )
    }
    inventory = [
        target(ours, theirs, our_classifier, model("prebuilt-read", is_prebuilt=True), records=records)
    ]
    kept = plan(source(model("invoices")), inventory, prune=False)
    orphans = {i.target_id: i for i in kept.targets["west"].items if i.action is PlanAction.ORPHAN}
    assert set(orphans) == {"retired", "local-only", "old-sorter"}
    assert not any(i.delete for i in orphans.values()) and kept.deletions() == []
    pruned = plan(source(model("invoices")), inventory, prune=True)
    assert {(i.kind, i.target_id) for i in pruned.deletions()} == {
        ("model", "retired"),
        ("classifier", "old-sorter"),
    }


def test_excluded_items_at_the_target_are_left_alone():
    result = plan(
        source(model("scratch")),
        [target(copy_of(model("scratch-old")))],
        filters=Filters(exclude=("scratch*",)),
        prune=True,
    )
    assert result.targets["west"].items == []


def test_an_unreachable_target_is_reported_and_planning_goes_on():
    down = TargetInventory("north", "2024-11-30", [], error="ServiceUnavailable")
    result = plan(source(model("invoices")), [target(), down])
    assert result.unreachable == ["north"] and result.drift
    assert actions(result)["invoices"][0] is PlanAction.COPY
    assert result.to_dict()["targets"]["north"]["reachable"] is False


def test_the_plan_as_json():
    body = plan(source(model("invoices")), [target(quota=ResourceQuota(count=1, limit=500))]).to_dict()
    assert body["counts"] == {"copy": 1, "recopy": 0, "up-to-date": 0, "orphan": 0, "blocked": 0}
    west = body["targets"]["west"]
    assert west["quota"] == {"count": 1, "limit": 500}
    assert west["items"] == [
        {
            "kind": "model",
            "sourceId": "invoices",
            "targetId": "invoices",
            "action": "copy",
            "reason": "missing at the target",
            "sourceCreated": "2026-01-05T08:30:00Z",
            "delete": False,
            "diverged": False,
        }
    ]


def test_planning_5000_items_against_two_targets_is_fast():
    items = [model(f"model-{i:05d}", tags={"team": "ap"}) for i in range(4500)]
    items += [classifier(f"classifier-{i:04d}") for i in range(500)]
    half = [copy_of(i) if i.kind is ItemKind.MODEL else i for i in items[::2]]
    started = time.perf_counter()
    result = plan(source(*items), [target(*half), target(alias="north")])
    elapsed = time.perf_counter() - started
    assert result.counts()["copy"] > 5000
    assert elapsed < 1.0, f"planning took {elapsed:.2f} s"
