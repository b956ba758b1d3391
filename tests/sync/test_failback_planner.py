"""The planner with the source on either side: a failback (the secondary the pipeline ran on during an
outage, copied back to the recovered primary) and the primary's syncs after it. Provenance and copy
records are read in both directions: a copy of a copy is recognised, nothing the target built itself
is pruned, and what the secondary trained comes back once. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.copy.provenance import provenance_tags, source_key, stamp
from shared.copy.records import CopyRecord
from shared.docintel import ItemInfo, ItemKind
from shared.sync.inventory import CopiedIn, SourceInventory, TargetInventory
from shared.sync.planner import PlanAction, plan

PRIMARY = "https://di-primary.cognitiveservices.azure.com"
WEST = "https://di-west.cognitiveservices.azure.com"
NORTH = "https://di-north.cognitiveservices.azure.com"
BUILT = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
COPIED = BUILT + timedelta(hours=1)  # when the primary's sync copied its items to the secondaries
OUTAGE = BUILT + timedelta(days=10)  # what the secondary trained during the outage
FAILBACK = OUTAGE + timedelta(days=2)  # when it was copied back
LATER = FAILBACK + timedelta(days=5)
G1, G2, G3, G4 = (f"{n}0000000-0000-4000-8000-00000000000{n}" for n in "1234")


def model(item_id: str, created: datetime = BUILT, **kw) -> ItemInfo:
    return ItemInfo(kind=ItemKind.MODEL, id=item_id, created_at=created, **kw)


def v21(item_id: str, created: datetime = BUILT) -> ItemInfo:
    return ItemInfo(kind=ItemKind.MODEL, id=item_id, created_at=created, legacy_v21=True, api_version="2.1")


def classifier(item_id: str, created: datetime = BUILT, **kw) -> ItemInfo:
    return ItemInfo(kind=ItemKind.CLASSIFIER, id=item_id, created_at=created, **kw)


def copy_of(item: ItemInfo, origin: str, copied: datetime) -> ItemInfo:
    """A v3+ model as docintel-dr copies it: provenance tags naming `origin`, created at the copy."""
    assert item.created_at is not None
    tags = {**item.tags, **provenance_tags(origin, item.id, item.created_at)}
    return item.model_copy(update={"created_at": copied, "tags": tags})


def record(kind: ItemKind, source_id: str, target_id: str, built: datetime, copied: datetime) -> CopyRecord:
    return CopyRecord(kind, source_id, target_id, stamp(built), copied_at=copied)


def into(origin: str, *records: CopyRecord) -> dict[tuple[ItemKind, str], CopiedIn]:
    """Copy records of copies into a resource from `origin`, keyed by the id they have there."""
    return {(r.kind, r.target_id): CopiedIn(source_key(origin), r) for r in records}


def source(alias: str, endpoint: str, *items: ItemInfo, api: str = "2024-11-30", copied_in=None):
    return SourceInventory(alias, endpoint, api, list(items), copied_in or {})


def target(alias: str, endpoint: str, *items: ItemInfo, api: str = "2024-11-30", **kw) -> TargetInventory:
    return TargetInventory(alias, api, list(items), endpoint=endpoint, **kw)


def planned(result, alias: str):
    return {(i.source_id if i.action is not PlanAction.ORPHAN else f"orphan:{i.target_id}"): i
            for i in result.targets[alias].items}  # fmt: skip


# --- a failback: the secondary (source) back to the primary (target) ------------------------------


def test_a_failback_copies_only_what_the_secondary_trained_and_prunes_nothing_of_the_primary():
    invoices = model("invoices")  # the primary's own model, copied to the secondary before the outage
    receipts = model("receipts", created=OUTAGE)  # trained at the secondary during the outage
    at_west = [copy_of(invoices, PRIMARY, COPIED), receipts]
    at_primary = [invoices, model("archive")]  # "archive": the primary's own, never at the secondary

    result = plan(source("westus2", WEST, *at_west), [target("primary", PRIMARY, *at_primary)], prune=True)

    items = planned(result, "primary")
    assert items["invoices"].action is PlanAction.UP_TO_DATE
    assert "copy of this build of the target's item" in items["invoices"].reason
    assert items["receipts"].action is PlanAction.COPY
    # The primary's own items are not the secondary's copies: reported, never pruned.
    assert items["orphan:archive"].action is PlanAction.ORPHAN and not items["orphan:archive"].delete
    assert result.deletions() == [] and [i.source_id for i in result.work()] == ["receipts"]


def test_a_failback_leaves_an_item_the_primary_rebuilt_since_and_blocks_one_trained_at_both():
    invoices, orders = model("invoices"), model("orders")
    rebuilt_at_primary = model("invoices", created=LATER)  # newer than the build the secondary copied
    trained_at_both = model("orders", created=OUTAGE)  # retrained at the secondary, no provenance
    result = plan(
        source("westus2", WEST, copy_of(invoices, PRIMARY, COPIED), trained_at_both),
        [target("primary", PRIMARY, rebuilt_at_primary, orders)],
    )
    items = planned(result, "primary")
    assert (
        items["invoices"].action is PlanAction.UP_TO_DATE and "rebuilt its item" in items["invoices"].reason
    )
    assert items["orders"].action is PlanAction.BLOCKED and "did not copy" in items["orders"].reason


def test_after_a_failback_the_primarys_sync_recognises_the_copies_back_and_plans_nothing():
    invoices = model("invoices")
    receipts = model("receipts", created=OUTAGE)  # trained at the secondary, copied back at FAILBACK
    at_primary = [invoices, copy_of(receipts, WEST, FAILBACK)]
    at_west = [copy_of(invoices, PRIMARY, COPIED), receipts]
    at_north = [copy_of(invoices, PRIMARY, COPIED)]

    result = plan(
        source("primary", PRIMARY, *at_primary),
        [target("westus2", WEST, *at_west), target("northeurope", NORTH, *at_north)],
        prune=True,
    )

    west, north = planned(result, "westus2"), planned(result, "northeurope")
    assert west["invoices"].action is PlanAction.UP_TO_DATE
    assert west["receipts"].action is PlanAction.UP_TO_DATE
    assert "copy of this build of the target's item" in west["receipts"].reason
    assert north["receipts"].action is PlanAction.COPY  # it reaches the other secondary from the primary
    assert not [i for i in result.targets["westus2"].items if i.action is PlanAction.ORPHAN]
    assert [(i.source_id, i.target_alias) for i in result.work()] == [("receipts", "northeurope")]


def test_an_item_copied_back_and_rebuilt_at_the_primary_replaces_the_secondarys_original():
    """After a failback the primary is the authority again: a newer build there replaces the item
    the secondary trained during the outage (its copy went to the primary, a copy record says so)."""
    trained = model("receipts", created=OUTAGE)
    handed = {(ItemKind.MODEL, "receipts"): record(ItemKind.MODEL, "receipts", "receipts", OUTAGE, FAILBACK)}
    result = plan(
        source("primary", PRIMARY, model("receipts", created=LATER)),
        [target("westus2", WEST, trained, reverse=handed)],
    )
    [item] = result.targets["westus2"].items
    assert (
        item.action is PlanAction.RECOPY
        and item.delete
        and "copied to the source after a failover" in item.reason
    )
    # Without that record the secondary's own item is never overwritten.
    result = plan(
        source("primary", PRIMARY, model("receipts", created=LATER)), [target("westus2", WEST, trained)]
    )
    assert result.targets["westus2"].items[0].action is PlanAction.BLOCKED


# --- copies of the same item at both ends -----------------------------------------------------------


def test_two_copies_of_the_same_build_are_up_to_date_and_of_different_builds_are_not_reordered():
    invoices, rebuilt = model("invoices"), model("invoices", created=LATER)
    same = plan(
        source("westus2", WEST, copy_of(invoices, PRIMARY, COPIED)),
        [target("northeurope", NORTH, copy_of(invoices, PRIMARY, COPIED))],
    )
    assert planned(same, "northeurope")["invoices"].action is PlanAction.UP_TO_DATE
    older_there = plan(
        source("westus2", WEST, copy_of(rebuilt, PRIMARY, LATER)),
        [target("northeurope", NORTH, copy_of(invoices, PRIMARY, COPIED))],
    )
    assert planned(older_there, "northeurope")["invoices"].action is PlanAction.BLOCKED
    newer_there = plan(
        source("westus2", WEST, copy_of(invoices, PRIMARY, COPIED)),
        [target("northeurope", NORTH, copy_of(rebuilt, PRIMARY, LATER))],
    )
    assert planned(newer_there, "northeurope")["invoices"].action is PlanAction.UP_TO_DATE


# --- classifiers: copy records in both directions ---------------------------------------------------


def test_classifiers_fail_back_and_forth_by_their_copy_records():
    sorter = classifier("sorter")  # the primary's, copied to the secondary at COPIED
    triage = classifier("triage", created=OUTAGE)  # trained at the secondary during the outage
    to_west = record(ItemKind.CLASSIFIER, "sorter", "sorter", BUILT, COPIED)
    # Failback: the secondary's "sorter" is a copy of the primary's (a record of the primary's sync).
    result = plan(
        source(
            "westus2", WEST, classifier("sorter", created=COPIED), triage, copied_in=into(PRIMARY, to_west)
        ),
        [target("primary", PRIMARY, sorter)],
    )
    items = planned(result, "primary")
    assert items["sorter"].action is PlanAction.UP_TO_DATE and items["triage"].action is PlanAction.COPY

    # The primary's next sync: its "triage" is the failback's copy of the secondary's.
    back = record(ItemKind.CLASSIFIER, "triage", "triage", OUTAGE, FAILBACK)
    result = plan(
        source(
            "primary", PRIMARY, sorter, classifier("triage", created=FAILBACK), copied_in=into(WEST, back)
        ),
        [
            target(
                "westus2",
                WEST,
                classifier("sorter", created=COPIED),
                triage,
                records={(ItemKind.CLASSIFIER, "sorter"): to_west},
                reverse={(ItemKind.CLASSIFIER, "triage"): back},
            )
        ],
        prune=True,
    )
    items = planned(result, "westus2")
    assert items["sorter"].action is PlanAction.UP_TO_DATE and items["triage"].action is PlanAction.UP_TO_DATE
    assert result.work() == [] and result.deletions() == []

    # Rebuilt at the primary since: the record no longer describes the primary's item.
    result = plan(
        source("primary", PRIMARY, classifier("triage", created=LATER), copied_in=into(WEST, back)),
        [target("westus2", WEST, triage, reverse={(ItemKind.CLASSIFIER, "triage"): back})],
    )
    assert planned(result, "westus2")["triage"].action is PlanAction.RECOPY


# --- v2.1: the target mints the ids; records map them both ways ---------------------------------------


def test_v21_models_fail_back_and_forth_by_their_copy_records():
    # Before the outage: the primary's G1 was copied to the secondary as G2 (v2.1 copies keep the
    # source's created time). During it: G3 trained at the secondary. The primary also has G4, its own.
    to_west = record(ItemKind.MODEL, G1, G2, BUILT, COPIED)
    result = plan(
        source("westus2", WEST, v21(G2), v21(G3, OUTAGE), api="2.1", copied_in=into(PRIMARY, to_west)),
        [target("primary", PRIMARY, v21(G1), v21(G4), api="2.1")],
        prune=True,
    )
    items = planned(result, "primary")
    assert items[G2].action is PlanAction.UP_TO_DATE and items[G2].target_id == G1
    assert items[G3].action is PlanAction.COPY and items[G3].target_id is None  # the primary mints its id
    assert items[f"orphan:{G4}"].action is PlanAction.ORPHAN and not items[f"orphan:{G4}"].delete
    assert f"orphan:{G1}" not in items

    # The failback copied G3 to the primary as G4' (here: "…05"); the primary's next sync.
    g5 = "50000000-0000-4000-8000-000000000005"
    back = record(ItemKind.MODEL, G3, g5, OUTAGE, FAILBACK)
    result = plan(
        source("primary", PRIMARY, v21(G1), v21(g5, OUTAGE), api="2.1", copied_in=into(WEST, back)),
        [
            target(
                "westus2",
                WEST,
                v21(G2),
                v21(G3, OUTAGE),
                api="2.1",
                records={(ItemKind.MODEL, G1): to_west},
                reverse={(ItemKind.MODEL, G3): back},
            )
        ],
        prune=True,
    )
    items = planned(result, "westus2")
    assert items[G1].action is PlanAction.UP_TO_DATE and items[G1].target_id == G2
    assert items[g5].action is PlanAction.UP_TO_DATE and items[g5].target_id == G3
    assert result.work() == [] and not [
        i for i in result.targets["westus2"].items if i.action is PlanAction.ORPHAN
    ]


# --- integrity ------------------------------------------------------------------------------------------


def test_a_copy_whose_field_schemas_differ_is_diverged_and_copied_again_only_when_it_is_ours():
    fields = {"invoices": "a1", "receipt": "b2"}
    invoices = model("invoices", field_schemas=fields)
    faithful = copy_of(invoices, PRIMARY, COPIED)
    differs = faithful.model_copy(update={"field_schemas": {"invoices": "a1", "receipt": "ff"}})

    result = plan(source("primary", PRIMARY, invoices), [target("westus2", WEST, faithful)])
    assert planned(result, "westus2")["invoices"].action is PlanAction.UP_TO_DATE
    result = plan(source("primary", PRIMARY, invoices), [target("westus2", WEST, differs)])
    item = planned(result, "westus2")["invoices"]
    assert item.action is PlanAction.RECOPY and item.diverged and item.delete
    assert "diverged" in item.reason and "docType 'receipt' has another field schema" in item.reason
    # Seen from a failback: the primary's own item is never replaced, only reported.
    result = plan(source("westus2", WEST, differs), [target("primary", PRIMARY, invoices)])
    item = planned(result, "primary")["invoices"]
    assert item.action is PlanAction.BLOCKED and item.diverged and not item.delete
    # A listing that shows no schemas (2023-07-31 summaries) cannot tell: up to date.
    unknown = faithful.model_copy(update={"field_schemas": None})
    result = plan(source("primary", PRIMARY, invoices), [target("westus2", WEST, unknown)])
    assert planned(result, "westus2")["invoices"].action is PlanAction.UP_TO_DATE
