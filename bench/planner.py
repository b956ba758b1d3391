"""Planner speed: 5,000 source items (4,500 models, 500 classifiers) against two targets, one half
copied already, the other empty. Pure CPU, no I/O. ``python -m bench.planner`` prints JSON."""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.copy.provenance import provenance_tags, stamp
from shared.copy.records import CopyRecord
from shared.docintel import ItemInfo, ItemKind, ResourceQuota
from shared.sync.filters import Filters
from shared.sync.inventory import SourceInventory, TargetInventory
from shared.sync.planner import plan

SOURCE = "https://di-primary.cognitiveservices.azure.com"
BUILT = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
ROUNDS = 7


def _inventories() -> tuple[SourceInventory, list[TargetInventory]]:
    models = [
        ItemInfo(kind=ItemKind.MODEL, id=f"model-{i:05d}", created_at=BUILT, tags={"team": "ap"},
                 component_ids=[f"model-{i - 1:05d}"] if i % 50 == 49 else [])
        for i in range(4500)
    ]  # fmt: skip
    classifiers = [
        ItemInfo(kind=ItemKind.CLASSIFIER, id=f"cls-{i:04d}", created_at=BUILT) for i in range(500)
    ]
    source = SourceInventory("primary", SOURCE, "2024-11-30", models + classifiers)
    copied = [
        m.model_copy(update={"created_at": BUILT + timedelta(minutes=5),
                             "tags": {**m.tags, **provenance_tags(SOURCE, m.id, m.created_at)}})
        for m in models[::2]
    ]  # fmt: skip
    records = {
        (ItemKind.CLASSIFIER, c.id): CopyRecord(ItemKind.CLASSIFIER, c.id, c.id, stamp(BUILT))
        for c in classifiers[::2]
    }
    quota = ResourceQuota(count=2250, limit=5000)
    half = TargetInventory("westus2", "2024-11-30", copied + classifiers[::2], quota, records)
    empty = TargetInventory("northeurope", "2024-11-30", [], ResourceQuota(count=0, limit=5000))
    return source, [half, empty]


def run() -> list[dict[str, Any]]:
    source, targets = _inventories()
    filters = Filters(exclude=("scratch-*",), exclude_tags=("dr=skip",))
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        plan(source, targets, filters=filters, prune=True)
        timings.append((time.perf_counter() - started) * 1000)
    return [
        {
            "name": "planner.plan_5000_items_2_targets",
            "value": round(statistics.median(timings), 1),
            "unit": "ms",
            "target": 1000,
            "how": f"median of {ROUNDS} plan() calls: 4,500 models (1 in 50 composed) + 500 classifiers vs "
            "one half-synced and one empty 2024-11-30 target, with filters and pruning; pure CPU",
        }
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
