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
copy succeeds (`shared.sync.state`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.docintel.models import ItemInfo, ItemKind, ResourceQuota
from shared.docintel.versions import api_family, supports_classifier_copy
from shared.provenance import read_provenance, source_key, stamp


class Action(StrEnum):
    COPY = "copy"
    RECOPY = "recopy"
    UP_TO_DATE = "up-to-date"
    ORPHAN = "orphan"
    BLOCKED = "blocked"


ACTIONS = tuple(a.value for a in Action)


@dataclass(frozen=True, slots=True)
class CopyRecord:
    """A successful copy as the state table remembers it (one per source item x target)."""

    kind: str
    source_id: str
    target_id: str
    source_created: str | None
    copied_at: datetime | None = None
    job_id: str | None = None


@dataclass(slots=True)
class SourceInventory:
    alias: str
    endpoint: str
    api_version: str
    items: list[ItemInfo]


@dataclass(slots=True)
class TargetInventory:
    alias: str
    api_version: str
    items: list[ItemInfo]
    quota: ResourceQuota | None = None
    #: (kind, source id) -> record, for this source and this target.
    records: dict[tuple[str, str], CopyRecord] = field(default_factory=dict)
    #: Why the target could not be listed (it is then left out of the plan, reported as unreachable).
    error: str | None = None


# --- filters ------------------------------------------------------------------------------------


def _glob_regex(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(p.strip()) for p in patterns if p.strip()]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


def _parse_tags(specs: Iterable[str]) -> list[tuple[str, str | None]]:
    result: list[tuple[str, str | None]] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        key, sep, value = spec.partition("=")
        result.append((key.strip(), value.strip() if sep else None))
    return result


def _has_tag(tags: dict[str, str], wanted: list[tuple[str, str | None]]) -> bool:
    for key, value in wanted:
        if key in tags and (value is None or tags[key] == value):
            return True
    return False


@dataclass(frozen=True)
class Filters:
    """Which items take part. Ids match shell-style globs (case-sensitive); tags are ``key=value``
    or ``key`` (any value). An item takes part when its id matches an include glob and no exclude
    glob, it has one of the include tags (when any are set) and none of the exclude tags. Items that
    cannot carry tags (classifiers, v2.1 models) never match an include tag. Prebuilt models never
    take part."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_include", _glob_regex(self.include or ("*",)))
        object.__setattr__(self, "_exclude", _glob_regex(self.exclude))
        object.__setattr__(self, "_include_tags", _parse_tags(self.include_tags))
        object.__setattr__(self, "_exclude_tags", _parse_tags(self.exclude_tags))

    @classmethod
    def from_settings(cls, settings: Any) -> Filters:
        return cls(
            tuple(settings.sync_include),
            tuple(settings.sync_exclude),
            tuple(settings.sync_include_tags),
            tuple(settings.sync_exclude_tags),
        )

    def excluded(self, item: ItemInfo) -> str | None:
        """Why the item does not take part, or None when it does."""
        if item.is_prebuilt:
            return "prebuilt models are never copied"
        include: re.Pattern[str] | None = self._include  # type: ignore[attr-defined]
        exclude: re.Pattern[str] | None = self._exclude  # type: ignore[attr-defined]
        if include is not None and not include.fullmatch(item.id):
            return "id matches no include pattern"
        if exclude is not None and exclude.fullmatch(item.id):
            return "id matches an exclude pattern"
        include_tags = self._include_tags  # type: ignore[attr-defined]
        if include_tags and not _has_tag(item.tags, include_tags):
            return "has none of the include tags"
        exclude_tags = self._exclude_tags  # type: ignore[attr-defined]
        if exclude_tags and _has_tag(item.tags, exclude_tags):
            return "has an exclude tag"
        return None


# --- the plan -----------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanItem:
    target: str
    kind: str
    source_id: str
    #: The id at the target: the source id, except v2.1 copies (minted by the target: None until
    #: copied; the id of the stale or orphaned copy for recopy/orphan).
    target_id: str | None
    action: Action
    reason: str
    source_created: str | None = None
    #: recopy: the stale copy to delete first; orphan: True when it will be deleted (pruning on).
    delete: bool = False
    #: The source item (copy / recopy), handed to the executor so it need not read it again.
    source: ItemInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sourceId": self.source_id,
            "targetId": self.target_id,
            "action": self.action.value,
            "reason": self.reason,
            "sourceCreated": self.source_created,
            "delete": self.delete,
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

    def to_dict(self) -> dict[str, Any]:
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
            if item.action in (Action.COPY, Action.RECOPY)
        ]
        work.sort(key=lambda i: rank.get(f"{i.kind}:{i.source_id}", len(rank)))
        return work

    def deletions(self) -> list[PlanItem]:
        return [
            item
            for target in self.targets.values()
            for item in target.items
            if item.action is Action.ORPHAN and item.delete
        ]

    @property
    def unreachable(self) -> list[str]:
        return [alias for alias, target in self.targets.items() if target.error is not None]

    @property
    def drift(self) -> bool:
        counts = self.counts()
        return bool(self.unreachable or counts["copy"] or counts["recopy"] or counts["blocked"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "prune": self.prune,
            "counts": self.counts(),
            "excluded": len(self.excluded),
            "targets": {alias: target.to_dict() for alias, target in self.targets.items()},
        }


# --- planning -----------------------------------------------------------------------------------


def _key(kind: str, item_id: str) -> str:
    return f"{kind}:{item_id}"


def dependency_order(items: Sequence[ItemInfo]) -> list[ItemInfo]:
    """Classifiers first, then models whose components come before them (composed after their
    components, composed-of-composed after those); stable within a level, cycle-safe."""
    by_id = {item.id: item for item in items if item.kind is ItemKind.MODEL}
    classifiers = {item.id for item in items if item.kind is ItemKind.CLASSIFIER}
    depth: dict[str, int] = {}

    def level(item: ItemInfo, visiting: set[str]) -> int:
        if item.id in depth:
            return depth[item.id]
        if not item.component_ids:
            depth[item.id] = 0
            return 0
        visiting.add(item.id)
        result = 0
        for component in item.component_ids:
            if component in classifiers:
                continue
            child = by_id.get(component)
            if child is None or child.id in visiting:
                continue
            result = max(result, level(child, visiting) + 1)
        visiting.discard(item.id)
        depth[item.id] = result
        return result

    ranked = []
    for index, item in enumerate(items):
        if item.kind is ItemKind.CLASSIFIER:
            ranked.append((-1, index, item))
        else:
            ranked.append((level(item, set()), index, item))
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
    source_host = source_key(source.endpoint)
    excluded: dict[str, str] = {}
    present_ids: dict[str, set[str]] = {ItemKind.MODEL.value: set(), ItemKind.CLASSIFIER.value: set()}
    taking_part: list[ItemInfo] = []
    for item in source.items:
        present_ids[item.kind.value].add(item.id)
        reason = filters.excluded(item)
        if reason is None and not item.ready:
            reason = f"not ready at the source (status {item.status or 'unknown'})"
        if reason is not None:
            if not item.is_prebuilt:
                excluded[_key(item.kind.value, item.id)] = reason
            continue
        taking_part.append(item)
    ordered = dependency_order(taking_part)
    result = Plan(
        source=source.alias,
        prune=prune,
        targets={},
        excluded=excluded,
        order=[_key(i.kind.value, i.id) for i in ordered],
    )
    for target in targets:
        result.targets[target.alias] = _plan_target(
            source, source_host, ordered, present_ids, excluded, target, filters, prune
        )
    return result


def _plan_target(
    source: SourceInventory,
    source_host: str,
    ordered: list[ItemInfo],
    present_ids: dict[str, set[str]],
    excluded: dict[str, str],
    target: TargetInventory,
    filters: Filters,
    prune: bool,
) -> TargetPlan:
    out = TargetPlan(target.alias, target.api_version, target.quota, error=target.error)
    if target.error is not None:
        return out
    target_family = _family(target.api_version)
    classifier_copy = supports_classifier_copy(target.api_version) and supports_classifier_copy(
        source.api_version
    )
    at_target: dict[str, dict[str, ItemInfo]] = {ItemKind.MODEL.value: {}, ItemKind.CLASSIFIER.value: {}}
    for item in target.items:
        at_target[item.kind.value][item.id] = item
    records = target.records
    # Target ids that copy records account for (classifiers and v2.1 models): their source id.
    recorded_targets: dict[tuple[str, str], str] = {
        (rec.kind, rec.target_id): rec.source_id for rec in records.values()
    }
    available = None if target.quota is None else target.quota.available
    # What each source item will be at this target once the plan ran: ok or the blocking reason.
    outcome: dict[str, str | None] = {}
    # Target ids matched to a source item (not orphans).
    matched: set[tuple[str, str]] = set()

    for item in ordered:
        kind = item.kind.value
        key = _key(kind, item.id)
        created = stamp(item.created_at)
        legacy = item.legacy_v21 or _family(item.api_version) == "v2.1"
        existing: ItemInfo | None = None
        record = records.get((kind, item.id))
        decision: tuple[Action, str, str | None]  # action, reason, target id

        if item.kind is ItemKind.CLASSIFIER and not classifier_copy:
            version = (
                target.api_version if not supports_classifier_copy(target.api_version) else source.api_version
            )
            decision = (
                Action.BLOCKED,
                f"classifier copy needs API version 2024-07-31-preview or later; "
                f"{'target' if version == target.api_version else 'source'} uses {version}",
                item.id,
            )
        elif legacy != (target_family == "v2.1"):
            decision = (
                Action.BLOCKED,
                "a v2.1 model cannot be copied to a v3+ resource"
                if legacy
                else f"a v3+ model cannot be copied to a v2.1 resource (target uses {target.api_version})",
                None if legacy else item.id,
            )
        elif legacy:
            # v2.1: the target mints the id; the copy record says which target model is ours.
            if record is not None and record.target_id in at_target[kind]:
                matched.add((kind, record.target_id))
                existing = at_target[kind][record.target_id]
                if record.source_created == created:
                    decision = (Action.UP_TO_DATE, "copy record matches the source build", record.target_id)
                else:
                    decision = (Action.RECOPY, "the source was rebuilt since it was copied", record.target_id)
            else:
                decision = (Action.COPY, "missing at the target", None)
        else:
            existing = at_target[kind].get(item.id)
            if existing is None:
                decision = (Action.COPY, "missing at the target", item.id)
            else:
                matched.add((kind, item.id))
                decision = _compare(item, existing, record, source_host, created)

        action, reason, target_id = decision
        # Components: a composed model needs every component at the target (already, or copied
        # earlier in this plan, which orders components first).
        if action in (Action.COPY, Action.RECOPY) and item.component_ids:
            problem = _component_problem(item, outcome, at_target, present_ids, excluded)
            if problem is not None:
                action, reason = Action.BLOCKED, problem
        # Quota: only new models count (a recopy deletes the stale copy first; classifiers have none).
        if action is Action.COPY and item.kind is ItemKind.MODEL and available is not None:
            if available <= 0:
                limit = target.quota.limit if target.quota else 0
                action, reason = (
                    Action.BLOCKED,
                    f"the target's custom model quota would be exceeded (limit {limit})",
                )
            else:
                available -= 1
        outcome[key] = None if action is not Action.BLOCKED else reason
        out.items.append(
            PlanItem(
                target=target.alias,
                kind=kind,
                source_id=item.id,
                target_id=target_id,
                action=action,
                reason=reason,
                source_created=created,
                delete=action is Action.RECOPY,
                source=item if action in (Action.COPY, Action.RECOPY) else None,
            )
        )

    # Orphans: items at the target that no source item accounts for.
    for kind, items in at_target.items():
        for item_id, item in items.items():
            if item.is_prebuilt or (kind, item_id) in matched:
                continue
            ours, source_id = _ownership(item, kind, source_host, recorded_targets)
            if source_id is not None and source_id in present_ids[kind]:
                continue  # a copy of an existing source item under another id: not an orphan
            if not ours and item_id in present_ids[kind]:
                continue  # same id as a source item (decided above) — e.g. excluded by the filters
            if filters.excluded(item) is not None:
                continue
            out.items.append(
                PlanItem(
                    target=target.alias,
                    kind=kind,
                    source_id=source_id or item_id,
                    target_id=item_id,
                    action=Action.ORPHAN,
                    reason=(
                        "copied by docintel-dr; its source item no longer exists"
                        if ours
                        else "not at the source and not copied by docintel-dr from it (never pruned)"
                    ),
                    source_created=stamp(item.created_at),
                    delete=prune and ours,
                )
            )
    return out


def _compare(
    item: ItemInfo, existing: ItemInfo, record: CopyRecord | None, source_host: str, created: str | None
) -> tuple[Action, str, str | None]:
    """Same id at the target: up to date, stale, or somebody else's item."""
    if item.kind is ItemKind.MODEL:
        provenance = read_provenance(existing.tags)
        if provenance is not None:
            if provenance.source != source_host or provenance.source_id != item.id:
                return (
                    Action.BLOCKED,
                    f"the target's item with this id is a copy of {provenance.source}/"
                    f"{provenance.source_id}, not of this source item; it is not overwritten",
                    item.id,
                )
            if provenance.source_created == created or created is None:
                return Action.UP_TO_DATE, "provenance matches the source build", item.id
            return (
                Action.RECOPY,
                f"the source was rebuilt (copied build {provenance.source_created}, source build {created})",
                item.id,
            )
    # Classifiers (no tags), or a model without provenance: the copy record decides.
    if record is not None and record.target_id == item.id:
        if record.source_created == created or created is None:
            return Action.UP_TO_DATE, "copy record matches the source build", item.id
        return (
            Action.RECOPY,
            f"the source was rebuilt (copied build {record.source_created}, source build {created})",
            item.id,
        )
    if item.kind is ItemKind.CLASSIFIER and (
        item.created_at is None
        or (existing.created_at is not None and existing.created_at >= item.created_at)
    ):
        return (
            Action.UP_TO_DATE,
            "no copy record; the target's classifier is newer than the source build",
            item.id,
        )
    return (
        Action.BLOCKED,
        "an item with this id exists at the target that docintel-dr did not copy; "
        "delete it there or exclude the id",
        item.id,
    )


def _component_problem(
    item: ItemInfo,
    outcome: dict[str, str | None],
    at_target: dict[str, dict[str, ItemInfo]],
    present_ids: dict[str, set[str]],
    excluded: dict[str, str],
) -> str | None:
    for component in item.component_ids:
        kind = ItemKind.CLASSIFIER.value if component == item.classifier_id else ItemKind.MODEL.value
        key = _key(kind, component)
        if key in outcome:
            if outcome[key] is not None:
                return f"component {kind} '{component}' cannot be copied: {outcome[key]}"
            continue
        if component in at_target[kind]:
            continue
        if key in excluded:
            return (
                f"component {kind} '{component}' is not copied ({excluded[key]}) and is missing at the target"
            )
        if component not in present_ids[kind]:
            return f"component {kind} '{component}' exists neither at the source nor at the target"
    return None


def _ownership(
    item: ItemInfo, kind: str, source_host: str, recorded_targets: dict[tuple[str, str], str]
) -> tuple[bool, str | None]:
    """Whether a target item is provably a copy made by this tool from this source, and of which id."""
    provenance = read_provenance(item.tags)
    if provenance is not None:
        if provenance.source == source_host:
            return True, provenance.source_id
        return False, None
    source_id = recorded_targets.get((kind, item.id))
    if source_id is not None:
        return True, source_id
    return False, None
