"""The sync planner: what each target needs so that it holds a current copy of every source item.

Pure: it takes what was listed (source items, each target's items, quota and API version, the copy
records kept in the state table) and returns a `Plan`. No I/O, no clock; 5,000 items against two
targets plan in a few tens of milliseconds (`bench/planner.py`).

Per target and source item, one action:

* ``copy``       — the item is missing at the target.
* ``recopy``     — the target holds a copy of an older build of the item (provenance differs): the
                   executor deletes the stale copy, then copies again.
* ``up-to-date`` — the target holds a copy of exactly this build: nothing to do.
* ``blocked``    — it cannot be copied now, with the reason: the target's quota would be exceeded,
                   the target's API version cannot take it (classifier copy needs
                   2024-07-31-preview; v2.1 and v3+ models do not cross), a component of a composed
                   model cannot be copied, or an item with that id exists at the target that this
                   tool did not copy (it is never overwritten).

And per target item that has no source item: ``orphan`` (deleted only when pruning is on and the
item is provably ours: provenance tags, or a copy record for classifiers and v2.1 models).

How "exactly this build" is known without other state: v3+ models carry provenance tags (source
resource, source id, source created time). Classifiers and v2.1 models cannot carry tags; their
copies are known from copy records (source id -> target id, source created time) written when a
copy succeeds (`shared.copy.records`).

Provenance works in both directions, so the source may be any configured resource (a failback copies
from the secondary the pipeline ran on during an outage back to the recovered primary). A source item
and the target item with its id hold the same build when

1. the target's item is a copy of the source's (its provenance names the source, the id, the build);
2. the source's item is a copy of the target's (a failover copy being synced back: never copied back
   as new, never blocked);
3. both are copies of the same build of an item elsewhere.

For items without tags, copy records in every direction stand in for the provenance (a record-made
relation holds only while the item is not newer than the copy: a rebuilt item is an original again).
And once a target's item has been copied to the source (a failback), the source is its authority: a
newer build at the source replaces it.

Integrity (`shared.copy.integrity`): a target item of the same build whose docTypes and field schemas
differ from the source's is *diverged* (`PlanItem.diverged`): copied again when it is the source's
copy (recopy), else blocked. Compared where both listings show the schemas (2024-* API versions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from shared.copy import integrity
from shared.copy.provenance import Provenance, read_provenance, source_key, stamp
from shared.docintel import ItemInfo, ItemKind, ResourceQuota, api_family, supports_classifier_copy
from shared.jsondoc import JsonObject
from shared.sync.filters import Filters
from shared.sync.inventory import CopiedIn, SourceInventory, TargetInventory


class PlanAction(StrEnum):
    COPY = "copy"
    RECOPY = "recopy"
    UP_TO_DATE = "up-to-date"
    ORPHAN = "orphan"
    BLOCKED = "blocked"


ACTIONS = tuple(a.value for a in PlanAction)


# --- the plan -----------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanItem:
    target_alias: str
    kind: ItemKind
    source_id: str
    #: The id at the target: the source id, except v2.1 copies (minted by the target: None until
    #: copied; the id of the stale or orphaned copy for recopy/orphan).
    target_id: str | None
    action: PlanAction
    reason: str
    source_created: str | None = None
    #: recopy: the stale copy to delete first; orphan: True when it will be deleted (pruning on).
    delete: bool = False
    #: The source item (copy / recopy), handed to the executor so it need not read it again.
    source_item: ItemInfo | None = None
    #: The target holds this build, but its docTypes or field schemas differ from the source's.
    diverged: bool = False

    def to_dict(self) -> JsonObject:
        return {
            "kind": self.kind.value,
            "sourceId": self.source_id,
            "targetId": self.target_id,
            "action": self.action.value,
            "reason": self.reason,
            "sourceCreated": self.source_created,
            "delete": self.delete,
            "diverged": self.diverged,
        }


@dataclass(slots=True)
class TargetPlan:
    alias: str
    api_version: str
    quota: ResourceQuota | None
    items: list[PlanItem] = field(default_factory=list)
    error: str | None = None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for item in self.items:
            counts[item.action.value] += 1
        return counts

    def to_dict(self) -> JsonObject:
        return {
            "apiVersion": self.api_version,
            "reachable": self.error is None,
            "error": self.error,
            "quota": None if self.quota is None else {"count": self.quota.count, "limit": self.quota.limit},
            "counts": self.counts(),
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(slots=True)
class Plan:
    source: str
    prune: bool
    targets: dict[str, TargetPlan]
    #: source id -> why it does not take part (filters, prebuilt, not ready).
    excluded: dict[str, str] = field(default_factory=dict)
    #: The source items that take part, dependency order (classifiers, components, composed).
    order: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        total = dict.fromkeys(ACTIONS, 0)
        for target in self.targets.values():
            for key, value in target.counts().items():
                total[key] += value
        return total

    def work(self) -> list[PlanItem]:
        """Copies and recopies, in dependency order, interleaved across targets (item by item), so
        that a per-run job budget treats every target alike and never starts a composed model
        before its components."""
        rank = {key: i for i, key in enumerate(self.order)}
        work = [
            item
            for target in self.targets.values()
            for item in target.items
            if item.action in (PlanAction.COPY, PlanAction.RECOPY)
        ]
        work.sort(key=lambda i: rank.get(_key(i.kind, i.source_id), len(rank)))
        return work

    def deletions(self) -> list[PlanItem]:
        return [
            item
            for target in self.targets.values()
            for item in target.items
            if item.action is PlanAction.ORPHAN and item.delete
        ]

    @property
    def unreachable(self) -> list[str]:
        return [alias for alias, target in self.targets.items() if target.error is not None]

    @property
    def drift(self) -> bool:
        counts = self.counts()
        return bool(self.unreachable or counts["copy"] or counts["recopy"] or counts["blocked"])

    def to_dict(self) -> JsonObject:
        return {
            "source": self.source,
            "prune": self.prune,
            "counts": self.counts(),
            "excluded": len(self.excluded),
            "targets": {alias: target.to_dict() for alias, target in self.targets.items()},
        }


# --- planning -----------------------------------------------------------------------------------


def _key(kind: ItemKind, item_id: str) -> str:
    return f"{kind.value}:{item_id}"


def dependency_order(items: Sequence[ItemInfo]) -> list[ItemInfo]:
    """Classifiers first, then models whose components come before them (composed after their
    components, composed-of-composed after those); stable within a level, cycle-safe."""
    by_id = {item.id: item for item in items if item.kind is ItemKind.MODEL}
    classifiers = {item.id for item in items if item.kind is ItemKind.CLASSIFIER}
    depth: dict[str, int] = {}

    def level(item: ItemInfo, visiting: set[str]) -> int:
        if item.id in depth:
            return depth[item.id]
        visiting.add(item.id)
        result = 0
        for component in item.component_ids:
            child = None if component in classifiers else by_id.get(component)
            if child is not None and child.id not in visiting:
                result = max(result, level(child, visiting) + 1)
        visiting.discard(item.id)
        depth[item.id] = result
        return result

    ranked = [
        (-1 if item.kind is ItemKind.CLASSIFIER else level(item, set()), index, item)
        for index, item in enumerate(items)
    ]
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in ranked]


def _family(api_version: str | None) -> str:
    try:
        return api_family(api_version or "2024-11-30")
    except ValueError:
        return "v4"


def plan(
    source: SourceInventory,
    targets: Sequence[TargetInventory],
    *,
    filters: Filters | None = None,
    prune: bool = False,
) -> Plan:
    """Decide, per target, what to do with every source item and every target item."""
    filters = filters or Filters()
    excluded: dict[str, str] = {}
    present_ids: dict[ItemKind, set[str]] = {kind: set() for kind in ItemKind}
    taking_part: list[ItemInfo] = []
    for item in source.items:
        present_ids[item.kind].add(item.id)
        reason = filters.excluded(item)
        if reason is None and not item.ready:
            reason = f"not ready at the source (status {item.status or 'unknown'})"
        if reason is not None:
            if not item.is_prebuilt:
                excluded[_key(item.kind, item.id)] = reason
            continue
        taking_part.append(item)
    ordered = dependency_order(taking_part)
    result = Plan(
        source=source.alias,
        prune=prune,
        targets={},
        excluded=excluded,
        order=[_key(i.kind, i.id) for i in ordered],
    )
    for target in targets:
        planning = _TargetPlanning(source, target, present_ids, excluded)
        result.targets[target.alias] = planning.run(ordered, filters, prune)
    return result


#: action, reason, target id, and whether the target's item diverged from the source's
Decision = tuple[PlanAction, str, str | None, bool]

#: A copy record makes an item a copy only while the item is not newer than the copy (a record
#: outlives an item rebuilt under its id); this much clock skew between the service and the app is
#: allowed for.
RECORD_SKEW = timedelta(minutes=10)


def _recorded_parent(item: ItemInfo, copied: CopiedIn | None) -> Provenance | None:
    """The item's origin by a copy record, if the record still describes it."""
    if copied is None:
        return None
    record = copied.record
    if item.created_at is not None and record.copied_at is not None:
        if item.created_at > record.copied_at + RECORD_SKEW:
            return None  # rebuilt since that copy
    return Provenance(copied.source_host, record.source_id, record.source_created)


def _tagged(item: ItemInfo) -> bool:
    """Whether the item's kind carries provenance tags (v3+ models)."""
    return item.kind is ItemKind.MODEL and not item.legacy_v21


def _same_origin(a: Provenance, b: Provenance) -> bool:
    """Copies of the same item (of any build)."""
    return (a.source, a.source_id) == (b.source, b.source_id)


def _newer(a: str | None, b: str | None) -> bool:
    """Whether build time `a` is after `b` (stamps: ISO 8601, UTC, whole seconds, so text order is
    time order); False when either is unknown."""
    return a is not None and b is not None and a > b


@dataclass
class _TargetPlanning:
    """Planning one target: what it holds, and what the plan so far will have made of it."""

    source: SourceInventory
    target: TargetInventory
    present_ids: dict[ItemKind, set[str]]
    excluded: dict[str, str]
    source_host: str = ""
    target_host: str = ""
    at_target: dict[ItemKind, dict[str, ItemInfo]] = field(default_factory=dict)
    #: Target ids that copy records account for (classifiers and v2.1 models): their source id.
    recorded_targets: dict[tuple[ItemKind, str], str] = field(default_factory=dict)
    #: Models the target can still take (None: no quota known).
    available: int | None = None
    #: What each source item will be at this target once the plan ran: None (ok) or why it is blocked.
    outcome: dict[str, str | None] = field(default_factory=dict)
    #: Target ids matched to a source item (not orphans).
    matched: set[tuple[ItemKind, str]] = field(default_factory=set)
    _v21_copies: dict[tuple[str, str], tuple[ItemInfo, Provenance]] | None = None

    def __post_init__(self) -> None:
        self.source_host = source_key(self.source.endpoint)
        self.target_host = source_key(self.target.endpoint) if self.target.endpoint else ""
        self.at_target = {kind: {} for kind in ItemKind}
        for item in self.target.items:
            self.at_target[item.kind][item.id] = item
        self.recorded_targets = {
            (rec.kind, rec.target_id): rec.source_id for rec in self.target.records.values()
        }
        self.available = None if self.target.quota is None else self.target.quota.available

    def run(self, ordered: list[ItemInfo], filters: Filters, prune: bool) -> TargetPlan:
        out = TargetPlan(
            self.target.alias, self.target.api_version, self.target.quota, error=self.target.error
        )
        if self.target.error is not None:
            return out
        for item in ordered:
            out.items.append(self._plan_item(item))
        out.items.extend(self._orphans(filters, prune))
        return out

    def _plan_item(self, item: ItemInfo) -> PlanItem:
        created = stamp(item.created_at)
        action, reason, target_id, diverged = self._decide(item, created)
        # Components: a composed model needs every component at the target (already, or copied
        # earlier in this plan, which orders components first).
        if action in (PlanAction.COPY, PlanAction.RECOPY) and item.component_ids:
            problem = self._component_problem(item)
            if problem is not None:
                action, reason = PlanAction.BLOCKED, problem
        # Quota: only new models count (a recopy deletes the stale copy first; classifiers have none).
        if action is PlanAction.COPY and item.kind is ItemKind.MODEL and self.available is not None:
            if self.available <= 0:
                limit = self.target.quota.limit if self.target.quota else 0
                action, reason = (
                    PlanAction.BLOCKED,
                    f"the target's custom model quota would be exceeded (limit {limit})",
                )
            else:
                self.available -= 1
        self.outcome[_key(item.kind, item.id)] = None if action is not PlanAction.BLOCKED else reason
        return PlanItem(
            target_alias=self.target.alias,
            kind=item.kind,
            source_id=item.id,
            target_id=target_id,
            action=action,
            reason=reason,
            source_created=created,
            delete=action is PlanAction.RECOPY,
            source_item=item if action in (PlanAction.COPY, PlanAction.RECOPY) else None,
            diverged=diverged,
        )

    def _decide(self, item: ItemInfo, created: str | None) -> Decision:
        """The action for a source item, before components and quota are considered."""
        source_version, target_version = self.source.api_version, self.target.api_version
        legacy = item.legacy_v21 or _family(item.api_version) == "v2.1"
        if item.kind is ItemKind.CLASSIFIER and not (
            supports_classifier_copy(target_version) and supports_classifier_copy(source_version)
        ):
            side, version = (
                ("target", target_version)
                if not supports_classifier_copy(target_version)
                else ("source", source_version)
            )
            return (
                PlanAction.BLOCKED,
                f"classifier copy needs API version 2024-07-31-preview or later; {side} uses {version}",
                item.id,
                False,
            )
        if legacy != (_family(target_version) == "v2.1"):
            if legacy:
                return PlanAction.BLOCKED, "a v2.1 model cannot be copied to a v3+ resource", None, False
            return (
                PlanAction.BLOCKED,
                f"a v3+ model cannot be copied to a v2.1 resource (target uses {target_version})",
                item.id,
                False,
            )
        if legacy:
            return self._decide_v21(item, created)
        existing = self.at_target[item.kind].get(item.id)
        if existing is None:
            return PlanAction.COPY, "missing at the target", item.id, False
        self.matched.add((item.kind, item.id))
        return self._compare(item, existing, created)

    # --- lineage: which item is a copy of which ---------------------------------------------------

    def _source_parent(self, item: ItemInfo) -> Provenance | None:
        """Where the source's item was copied from (None: it was built at the source)."""
        if _tagged(item):
            return read_provenance(item.tags)
        return _recorded_parent(item, self.source.copied_in.get((item.kind, item.id)))

    def _target_parent(self, item: ItemInfo) -> Provenance | None:
        """Where the target's item was copied from (None: it was built at the target): its tags, else
        the source's own copy record of it, else (kinds without tags) any record of a copy into it."""
        tagged = read_provenance(item.tags) if _tagged(item) else None
        if tagged is not None:
            return tagged
        source_id = self.recorded_targets.get((item.kind, item.id))
        if source_id is not None:
            record = self.target.records[(item.kind, source_id)]
            return Provenance(self.source_host, source_id, record.source_created)
        if _tagged(item):
            return None
        return _recorded_parent(item, self.target.copied_in.get((item.kind, item.id)))

    def _compare(self, item: ItemInfo, existing: ItemInfo, created: str | None) -> Decision:
        """Same id at the target: the same build (up to date, unless diverged), stale, or somebody
        else's item."""
        ours = self._target_parent(existing)
        theirs = self._source_parent(item)
        existing_built = stamp(existing.created_at)
        # 1. The target's item is a copy of this source item.
        if ours is not None and ours.source == self.source_host and ours.source_id == item.id:
            if ours.source_created == created or created is None:
                how = "provenance" if _tagged(existing) else "copy record"
                return self._same_build(item, existing, f"{how} matches the source build", replace=True)
            return (
                PlanAction.RECOPY,
                f"the source was rebuilt (copied build {ours.source_created}, source build {created})",
                item.id,
                False,
            )
        # 2. The source's item is a copy of the target's (synced back after a failover).
        if theirs is not None and theirs.source == self.target_host and theirs.source_id == existing.id:
            if theirs.source_created == existing_built:
                reason = "the source's item is a copy of this build of the target's item"
                return self._same_build(item, existing, reason, replace=False)
            if _newer(existing_built, theirs.source_created):
                reason = "the target rebuilt its item after the source copied it; nothing to copy back"
                return PlanAction.UP_TO_DATE, reason, item.id, False
            return (
                PlanAction.BLOCKED,
                f"the source's item is a copy of build {theirs.source_created} of the target's item, "
                f"which is an older build ({existing_built}); it is not overwritten",
                item.id,
                False,
            )
        # 3. Both are copies of the same item elsewhere.
        if ours is not None and theirs is not None and _same_origin(ours, theirs):
            origin = f"{ours.source}/{ours.source_id}"
            if ours.source_created == theirs.source_created:
                reason = f"both are copies of {origin}, same build"
                return self._same_build(item, existing, reason, replace=False)
            if _newer(ours.source_created, theirs.source_created):
                return PlanAction.UP_TO_DATE, f"the target holds a newer build of {origin}", item.id, False
            return (
                PlanAction.BLOCKED,
                f"the target holds an older build of {origin} ({ours.source_created}; the source's copy "
                f"is of {theirs.source_created}); a sync from that resource updates it",
                item.id,
                False,
            )
        # 4. The target's item went to the source in a failback and the source has rebuilt it since:
        #    the source is the authority for this id again.
        handed = self.target.reverse.get((existing.kind, existing.id))
        if handed is not None and handed.target_id == item.id and _newer(created, existing_built):
            return (
                PlanAction.RECOPY,
                f"the target's item was copied to the source after a failover (build {existing_built}) "
                f"and the source has rebuilt it since (build {created})",
                item.id,
                False,
            )
        if ours is not None and _tagged(existing):
            return (
                PlanAction.BLOCKED,
                f"the target's item with this id is a copy of {ours.source}/{ours.source_id}, not of "
                "this source item; it is not overwritten",
                item.id,
                False,
            )
        if item.kind is ItemKind.CLASSIFIER and (
            item.created_at is None
            or (existing.created_at is not None and existing.created_at >= item.created_at)
        ):
            reason = "no copy record; the target's classifier is newer than the source build"
            return self._same_build(item, existing, reason, replace=False)
        return (
            PlanAction.BLOCKED,
            "an item with this id exists at the target that docintel-dr did not copy from this source "
            "(trained at both?); delete it there or exclude the id",
            item.id,
            False,
        )

    def _same_build(self, item: ItemInfo, existing: ItemInfo, reason: str, *, replace: bool) -> Decision:
        """The target holds the source's build: up to date, unless its docTypes or field schemas
        differ (diverged): the source's own copy is copied again, another item is left alone."""
        found = integrity.compare(item, existing)
        if not found:
            return PlanAction.UP_TO_DATE, reason, existing.id, False
        why = f"diverged: the target's item differs from the source's ({integrity.describe(found)})"
        if replace:
            return PlanAction.RECOPY, why, existing.id, True
        return PlanAction.BLOCKED, why + "; it is not overwritten", existing.id, True

    def _decide_v21(self, item: ItemInfo, created: str | None) -> Decision:
        """v2.1: the target mints the id; copy records say which target model is which."""
        record = self.target.records.get((item.kind, item.id))
        models = self.at_target[item.kind]
        if record is not None and record.target_id in models:
            self.matched.add((item.kind, record.target_id))
            if record.source_created == created:
                existing = models[record.target_id]
                return self._same_build(item, existing, "copy record matches the source build", replace=True)
            return PlanAction.RECOPY, "the source was rebuilt since it was copied", record.target_id, False
        theirs = self._source_parent(item)
        if theirs is not None and theirs.source == self.target_host and theirs.source_id in models:
            # A copy of the target's model (synced back after a failover).
            existing = models[theirs.source_id]
            self.matched.add((item.kind, existing.id))
            if theirs.source_created == stamp(existing.created_at):
                reason = "the source's model is a copy of this build of the target's model"
                return self._same_build(item, existing, reason, replace=False)
            return (
                PlanAction.UP_TO_DATE,
                "the source's model is a copy of another build of the target's model; nothing to copy back",
                existing.id,
                False,
            )
        sibling = self._copies_at_target().get((theirs.source, theirs.source_id)) if theirs else None
        if theirs is not None and sibling is not None:
            existing, ours = sibling
            self.matched.add((item.kind, existing.id))
            if ours.source_created == theirs.source_created:
                reason = f"both are copies of {ours.source}/{ours.source_id}, same build"
                return self._same_build(item, existing, reason, replace=False)
        return PlanAction.COPY, "missing at the target", None, False

    def _copies_at_target(self) -> dict[tuple[str, str], tuple[ItemInfo, Provenance]]:
        """The target's v2.1 models that are copies, by (origin host, origin id); built once."""
        if self._v21_copies is None:
            self._v21_copies = {}
            for existing in self.at_target[ItemKind.MODEL].values():
                parent = self._target_parent(existing) if existing.legacy_v21 else None
                if parent is not None:
                    self._v21_copies[(parent.source, parent.source_id)] = (existing, parent)
        return self._v21_copies

    def _component_problem(self, item: ItemInfo) -> str | None:
        for component in item.component_ids:
            kind = ItemKind.CLASSIFIER if component == item.classifier_id else ItemKind.MODEL
            key = _key(kind, component)
            if key in self.outcome:
                if self.outcome[key] is not None:
                    return f"component {kind.value} '{component}' cannot be copied: {self.outcome[key]}"
                continue
            if component in self.at_target[kind]:
                continue
            if key in self.excluded:
                return (
                    f"component {kind.value} '{component}' is not copied ({self.excluded[key]}) "
                    "and is missing at the target"
                )
            if component not in self.present_ids[kind]:
                return f"component {kind.value} '{component}' exists neither at the source nor at the target"
        return None

    def _orphans(self, filters: Filters, prune: bool) -> list[PlanItem]:
        """Items at the target that no source item accounts for."""
        orphans = []
        for kind, items in self.at_target.items():
            for item_id, item in items.items():
                if item.is_prebuilt or (kind, item_id) in self.matched:
                    continue
                ours, source_id = self._ownership(item)
                if source_id is not None and source_id in self.present_ids[kind]:
                    continue  # a copy of an existing source item under another id: not an orphan
                if not ours and item_id in self.present_ids[kind]:
                    continue  # same id as a source item (decided above), e.g. excluded by the filters
                if filters.excluded(item) is not None:
                    continue
                orphans.append(
                    PlanItem(
                        target_alias=self.target.alias,
                        kind=kind,
                        source_id=source_id or item_id,
                        target_id=item_id,
                        action=PlanAction.ORPHAN,
                        reason=(
                            "copied by docintel-dr; its source item no longer exists"
                            if ours
                            else "not at the source and not copied by docintel-dr from it (never pruned)"
                        ),
                        source_created=stamp(item.created_at),
                        delete=prune and ours,
                    )
                )
        return orphans

    def _ownership(self, item: ItemInfo) -> tuple[bool, str | None]:
        """Whether a target item is provably a copy made by this tool from this source, and of which id.
        An item copied from elsewhere, or built at the target (the primary's own items, seen from a
        failback's source), is never ours."""
        parent = self._target_parent(item)
        if parent is not None and parent.source == self.source_host:
            return True, parent.source_id
        return False, None
