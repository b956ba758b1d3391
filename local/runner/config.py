"""host.json as the Functions host reads it: TimeSpan values, the local override, and the values that
make the real host refuse to start (checked here so that the runner refuses them too)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d{1,7})?)$")


class HostConfigError(ValueError):
    """A host.json value the Functions host rejects at start-up."""


def storage_client_options() -> dict[str, Any]:
    """Azure SDK client options for the runner's own storage clients. The host's (.NET) clients do
    not look up proxies per request; aiohttp with environment settings on does (and parses
    ``.netrc``) in a thread on every request, so they are on only when a proxy is set."""
    proxied = any(
        os.environ.get(n) or os.environ.get(n.lower()) for n in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
    )
    return {"use_env_settings": proxied}


def read_host_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return document


def merge_host_json(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: objects are merged key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_host_json(merged[key], value)
        else:
            merged[key] = value
    return merged


def timespan_seconds(value: Any, setting: str) -> float:
    """Seconds of a .NET TimeSpan string such as `00:00:00.500` or `1.00:00:00`."""
    match = _TIMESPAN.match(str(value).strip())
    if match is None:
        raise HostConfigError(f"host.json {setting}: '{value}' is not a TimeSpan (use hh:mm:ss[.fff])")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def function_timeout_seconds(host: dict[str, Any]) -> float | None:
    """`functionTimeout`: None when unbounded (`-1`); 30 minutes when unset, the Flex Consumption
    default."""
    value = host.get("functionTimeout")
    if value is None:
        return 1800.0
    if str(value).strip() == "-1":
        return None
    seconds = timespan_seconds(value, "functionTimeout")
    if seconds <= 0:
        raise HostConfigError("host.json functionTimeout must be positive, or -1 for no limit")
    return seconds
