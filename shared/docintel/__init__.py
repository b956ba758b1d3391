"""Document Intelligence client: copy authorization, copy, polling, item reads, for every API version.

Importing this package is cheap (no azure.identity / azure.core at import time): it matters for
Functions cold start.
"""

from __future__ import annotations

from .auth import SCOPE
from .client import DocIntelClient
from .errors import (
    AuthorizationAlreadyUsed,
    AuthorizationClaimsInvalid,
    AuthorizationExpired,
    Conflict,
    CopyOutcomeUnknown,
    Disposition,
    DocIntelError,
    DowngradeRequired,
    IdReserved,
    InvalidTargetResource,
    ItemNotFound,
    ItemNotReady,
    QuotaExceeded,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    UnsupportedByApiVersion,
    ValidationFailed,
    error_from_service,
)
from .models import (
    CopyAuthorization,
    ItemInfo,
    ItemKind,
    Operation,
    OperationStatus,
    ResourceQuota,
    ServiceError,
)
from .ratelimit import RateLimits
from .retry import RetryPolicy
from .versions import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    MIN_CLASSIFIER_COPY_VERSION,
    api_family,
    normalize_api_version,
    supports_classifier_copy,
    supports_classifiers,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "MIN_CLASSIFIER_COPY_VERSION",
    "SCOPE",
    "AuthorizationAlreadyUsed",
    "AuthorizationClaimsInvalid",
    "AuthorizationExpired",
    "Conflict",
    "CopyAuthorization",
    "CopyOutcomeUnknown",
    "Disposition",
    "DocIntelClient",
    "DocIntelError",
    "DowngradeRequired",
    "IdReserved",
    "InvalidTargetResource",
    "ItemInfo",
    "ItemKind",
    "ItemNotFound",
    "ItemNotReady",
    "Operation",
    "OperationStatus",
    "QuotaExceeded",
    "RateLimits",
    "ResourceQuota",
    "RetryPolicy",
    "ServiceError",
    "ServiceUnavailable",
    "Throttled",
    "Unauthorized",
    "UnsupportedByApiVersion",
    "ValidationFailed",
    "api_family",
    "error_from_service",
    "normalize_api_version",
    "supports_classifier_copy",
    "supports_classifiers",
]
