"""The DR status report (``GET /api/status``, ``docintel-dr status``): read from the status rows, one
page at a time, so that its cost follows the fleet and the page, never the job history.

The first page (no continuation token) carries the summary: per target, the last sync that listed
it, the counts by state, the longest exposure (how long the oldest missing or stale item has gone
without a current copy: the data a failover now would lose) and the oldest recovery point. Every page
carries up to `page_size` items, target by target, by source id, and the token of the next page
(None after the last one). A page may be short, even empty, and still have a next one.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.jsondoc import JsonObject
from shared.status.rows import (
    SOURCE_SUMMARY,
    InvalidContinuation,
    ItemState,
    StatusRows,
    SyncSummary,
    TargetCounts,
)
from shared.timefmt import as_utc_datetime, iso, utcnow

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
_MAX_TOKEN_CHARS = 2048


@dataclass(frozen=True)
class StatusQuery:
    targets: Sequence[str]
    states: Sequence[ItemState] = ()
    page_size: int = DEFAULT_PAGE_SIZE
    continuation: str | None = None


def encode_token(target: str, service_token: dict[str, str] | None) -> str:
    raw = json.dumps({"t": target, "n": service_token}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, targets: Sequence[str]) -> tuple[str, dict[str, str] | None]:
    """The target and the service's continuation a token of ours stands for, or `InvalidContinuation`."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise InvalidContinuation("the continuation token is too long")
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidContinuation("the continuation token is not one this API handed out") from None
    if not isinstance(document, dict) or document.get("t") not in targets:
        raise InvalidContinuation("the continuation token belongs to another query (targets differ)")
    service = document.get("n")
    if service is not None and not (
        isinstance(service, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in service.items())
    ):
        raise InvalidContinuation("the continuation token is not one this API handed out")
    return str(document["t"]), service


async def status_report(
    rows: StatusRows,
    query: StatusQuery,
    *,
    source_alias: str,
    clock: Callable[[], datetime] = utcnow,
) -> JsonObject:
    """One page of the report (see the module's docstring). Raises `InvalidContinuation`."""
    now = clock()
    first = query.continuation is None
    if first:
        target, service_token = query.targets[0], None
    else:
        target, service_token = decode_token(str(query.continuation), query.targets)
    items, next_service = await rows.page(target, query.states, query.page_size, service_token)
    next_token: str | None = None
    if next_service is not None:
        next_token = encode_token(target, next_service)
    elif query.targets.index(target) + 1 < len(query.targets):
        next_token = encode_token(query.targets[query.targets.index(target) + 1], None)
    body: JsonObject = {"generatedAt": iso(now)}
    if first:
        body |= await _summary(rows, query.targets, source_alias, now)
    body["items"] = [item.to_dict(now) for item in items]
    body["continuationToken"] = next_token
    return body


async def _summary(rows: StatusRows, targets: Sequence[str], source_alias: str, now: datetime) -> JsonObject:
    summaries_read = asyncio.ensure_future(rows.summaries([SOURCE_SUMMARY, *targets]))
    counts = await asyncio.gather(*(rows.count(alias) for alias in targets))
    summaries = await summaries_read
    source = summaries.get(SOURCE_SUMMARY)
    reports = {
        alias: _target(summaries.get(alias), count, now) for alias, count in zip(targets, counts, strict=True)
    }
    source_listed = source is not None and source.reachable
    return {
        "source": {
            "alias": source_alias,
            "reachable": source.reachable if source else None,
            "error": source.error if source else None,
            "lastSync": _last_sync(source),
        },
        "inSync": source_listed and all(r["inSync"] for r in reports.values()),
        "targets": reports,
    }


def _target(summary: SyncSummary | None, counts: TargetCounts, now: datetime) -> JsonObject:
    exposed = sum(counts.counts[s.value] for s in ItemState if s.exposed)
    return {
        "reachable": summary.reachable if summary else None,
        "error": summary.error if summary else None,
        "lastSync": _last_sync(summary),
        "inSync": summary is not None and summary.reachable and exposed == 0,
        "counts": counts.counts,
        "exposureSeconds": _age(now, counts.exposed_since),
        "oldestRecoveryPoint": iso(as_utc_datetime(counts.oldest_copy)),
        "oldestRecoveryPointAgeSeconds": _age(now, as_utc_datetime(counts.oldest_copy)),
    }


def _last_sync(summary: SyncSummary | None) -> JsonObject | None:
    """The last sync that wrote these rows, and its source (a failback's, for a primary's rows)."""
    if summary is None or summary.sync_id is None:
        return None
    return {
        "syncId": summary.sync_id,
        "at": iso(summary.synced_at),
        "status": summary.sync_status,
        "source": summary.source,
    }


def _age(now: datetime, then: datetime | None) -> int | None:
    return max(0, round((now - then).total_seconds())) if then else None
