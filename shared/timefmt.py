"""Time as the app writes it: UTC, ISO 8601 with a ``Z``."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def iso(value: datetime | None) -> str | None:
    """``2026-12-01T10:00:00Z`` (None stays None)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def as_utc_datetime(value: object) -> datetime | None:
    """A datetime from what a table row holds (a datetime, or ISO text); naive values are UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
