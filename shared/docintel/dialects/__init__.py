"""One dialect per API family; ``dialect_for`` picks it from the API version."""

from __future__ import annotations

from ..versions import api_family, normalize_api_version
from .base import Dialect, Reply, Request
from .v3 import V3Dialect
from .v4 import V4Dialect
from .v21 import V21Dialect

__all__ = ["Dialect", "Reply", "Request", "V3Dialect", "V4Dialect", "V21Dialect", "dialect_for"]


def dialect_for(
    endpoint: str,
    api_version: str,
    *,
    resource_id: str | None = None,
    region: str | None = None,
    alias: str | None = None,
) -> Dialect:
    version = normalize_api_version(api_version)
    cls: type[Dialect] = {"v2.1": V21Dialect, "v3": V3Dialect, "v4": V4Dialect}[api_family(version)]
    return cls(endpoint, version, resource_id=resource_id, region=region, alias=alias)
