"""Is a secondary ready to take over? (``docintel-dr failover check --to ALIAS``)

The answer rests on the target's DR status rows (`shared.status.rows`): safe when the last sync that
listed the target found every item of the primary present there, none missing, stale, blocked or
diverged, and the target answers. The caller refreshes the rows first when it can (a dry-run sync of
that target, which lists both resources); when the primary cannot be listed (the usual case in a real
outage) the rows are those of the last sync, and the answer says so and how old they are: "complete
as of the last sync at T". Whatever was trained at the primary since T is not known to be anywhere.

Pure: `assess` takes the status report of the one target (every page, every state), what the refresh
found and what the target holds now, and returns the assessment as a JSON document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.jsondoc import JsonObject
from shared.status.rows import ItemState
from shared.timefmt import as_utc_datetime, iso

#: States that make a failover lose something.
NOT_READY = tuple(s.value for s in ItemState if s.exposed)


@dataclass(frozen=True)
class Refresh:
    """What the check could read live: whether the primary was listed (the rows were rewritten just
    now), and why not; whether the target answers now, and what it holds (kind, id)."""

    source_listed: bool
    source_error: str | None = None
    #: False when the caller only read the rows (no listing at all).
    attempted: bool = True
    target_listed: bool | None = None
    target_error: str | None = None
    target_items: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def human(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3 h 12 min``, ``2 d 4 h``; ``-`` for None."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 3600:
        return f"{minutes} min"
    if s < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _vanished(items: Iterable[Mapping[str, Any]], held: frozenset[tuple[str, str]]) -> list[JsonObject]:
    """Present rows whose copy the target no longer holds."""
    return [
        {
            **i,
            "state": ItemState.MISSING.value,
            "reason": "present at the last sync, gone from the target now",
        }
        for i in items
        if i["state"] == ItemState.PRESENT.value and (i["kind"], i["targetId"] or i["sourceId"]) not in held
    ]


def assess(
    report: Mapping[str, Any], *, target: str, primary: str, refresh: Refresh, now: datetime
) -> JsonObject:
    """The failover assessment of `target` (see the module's docstring)."""
    summary = report["targets"][target]
    items: list[Mapping[str, Any]] = report["items"]
    last = summary["lastSync"]
    synced_at = as_utc_datetime(last["at"]) if last else None
    age = None if synced_at is None else max(0, round((now - synced_at).total_seconds()))
    counts = dict(summary["counts"])
    gone = (
        _vanished(items, refresh.target_items) if refresh.target_listed and not refresh.source_listed else []
    )
    counts[ItemState.MISSING.value] += len(gone)
    counts[ItemState.PRESENT.value] -= len(gone)
    exposed = [i for i in items if i["state"] in NOT_READY] + gone
    reachable = refresh.target_listed if refresh.target_listed is not None else summary["reachable"]

    problems: list[str] = []
    if last is None:
        problems.append(f"no sync has listed '{target}' yet: nothing is known of it")
    if reachable is False:
        error = refresh.target_error or summary["error"]
        problems.append(f"'{target}' cannot be listed" + (f": {error}" if error else ""))
    source_of_rows = (last or {}).get("source") or primary
    if last is not None and source_of_rows != primary:
        problems.append(
            f"the last status of '{target}' is from a sync from '{source_of_rows}', not '{primary}'"
        )
    for state in NOT_READY:
        if counts.get(state):
            problems.append(f"{counts[state]} {state}")

    notes: list[str] = []
    if refresh.source_listed:
        notes.append(f"checked now against '{primary}' and '{target}'")
    elif last is not None:
        why = f" ({refresh.source_error})" if refresh.source_error else ""
        what = f"'{primary}' could not be listed{why}" if refresh.attempted else "not refreshed"
        notes.append(
            f"{what}: this is the status as of the last sync at "
            f"{iso(synced_at)} ({human(age)} ago); items trained or rebuilt at '{primary}' since then "
            "are not known"
        )
    if counts.get(ItemState.ORPHAN.value):
        notes.append(
            f"{counts[ItemState.ORPHAN.value]} item(s) at '{target}' are not at '{primary}' (orphans)"
        )

    safe = not problems
    return {
        "target": target,
        "source": primary,
        "safe": safe,
        "problems": problems,
        "notes": notes,
        "refreshed": refresh.source_listed,
        "sourceReachable": refresh.source_listed,
        "sourceError": refresh.source_error,
        "targetReachable": reachable,
        "asOf": iso(synced_at),
        "ageSeconds": age,
        "lastSync": last,
        "counts": counts,
        "exposureSeconds": summary["exposureSeconds"],
        "oldestRecoveryPoint": summary["oldestRecoveryPoint"],
        "items": [dict(i) for i in exposed],
    }
