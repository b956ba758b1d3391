"""One exception hierarchy for everything the Document Intelligence client can raise.

Every error names what happened, the resource alias and item when known, and what to do.
No key or access token ever appears in a message: the client redacts service text before it
builds an error, and the classes below never include request bodies or headers.

Classification (``error_from_service``) uses the codes the local emulator emits and, because
the real service's codes are partly undocumented (the disaster-recovery guide gives messages), also
the documented message wording. v2.1 has no ``innererror`` at all, so messages are the only signal there.
"""

from __future__ import annotations

import re
from enum import StrEnum

from .models import ServiceError

__all__ = [
    "AuthorizationAlreadyUsed",
    "AuthorizationClaimsInvalid",
    "AuthorizationExpired",
    "Conflict",
    "CopyOutcomeUnknown",
    "Disposition",
    "DocIntelError",
    "DowngradeRequired",
    "IdReserved",
    "InvalidTargetResource",
    "ItemNotFound",
    "ItemNotReady",
    "QuotaExceeded",
    "ServiceUnavailable",
    "Throttled",
    "Unauthorized",
    "UnsupportedByApiVersion",
    "ValidationFailed",
    "error_from_service",
]


class Disposition(StrEnum):
    """What a caller does about an error: the one place where errors are sorted. Every handler (the
    pipeline, the HTTP API, the Event Grid trigger) decides on this, never on a message."""

    #: Trying the same call again later can succeed (throttling, an outage, a lost reply).
    TRANSIENT = "transient"
    #: The copy authorization is no longer good: a new one from the target is the cure.
    REAUTHORIZE = "reauthorize"
    #: The service cannot tell how the copy went: what the target holds decides.
    CHECK_TARGET = "check-target"
    #: Trying again cannot succeed as configured.
    PERMANENT = "permanent"


class DocIntelError(Exception):
    """Base class. The class's ``disposition`` says what a caller does about it."""

    #: What to do about it (appended to the message).
    hint: str = ""
    disposition: Disposition = Disposition.PERMANENT
    #: Short description of the failure used when building messages.
    summary: str = "Document Intelligence request failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        inner_code: str | None = None,
        alias: str | None = None,
        item_id: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.inner_code = inner_code
        self.alias = alias
        self.item_id = item_id
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        context = []
        if self.alias:
            context.append(f"resource '{self.alias}'")
        if self.item_id:
            context.append(f"item '{self.item_id}'")
        if self.status is not None:
            context.append(f"HTTP {self.status}")
        if self.code:
            context.append(f"code {self.code}" + (f"/{self.inner_code}" if self.inner_code else ""))
        if self.request_id:
            context.append(f"request id {self.request_id}")
        text = self.message
        if context:
            text = f"{text} [{', '.join(context)}]"
        if self.hint:
            text = f"{text} {self.hint}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"inner_code={self.inner_code!r}, "
            f"alias={self.alias!r}, item_id={self.item_id!r}, request_id={self.request_id!r}, "
            f"message={self.message!r})"
        )


class ValidationFailed(DocIntelError):
    summary = "The service rejected the request as invalid"
    hint = "Check the item ids and the copy authorization; re-authorize at the target and try once more."


class AuthorizationExpired(DocIntelError):
    disposition = Disposition.REAUTHORIZE
    summary = "The copy authorization has expired"
    hint = (
        "Authorizations are valid for one hour (v2.1: 24 hours): request a new one at the target and "
        "start the copy again."
    )


class AuthorizationClaimsInvalid(DocIntelError):
    # The app sends an authorization exactly as the target issued it, so "claims modified" means the
    # target no longer knows it (it dropped an expired one, say): a new one is the cure.
    disposition = Disposition.REAUTHORIZE
    summary = "The copy authorization's claims are missing or were modified"
    hint = (
        "Pass the authorization exactly as the target issued it, and to the source resource it was "
        "issued for; this copy cannot succeed with it."
    )


class AuthorizationAlreadyUsed(DocIntelError):
    disposition = Disposition.CHECK_TARGET
    summary = "The copy authorization was already used (the service could not retrieve its metadata)"
    hint = (
        "Check whether this job's copy already ran (target item exists or is being created) and continue "
        "with it; otherwise authorize a new target id."
    )


class DowngradeRequired(DocIntelError):
    summary = "The copy would downgrade data protection (customer-managed key source, target without it)"
    hint = (
        "Enable the setting that allows the 'x-ms-forms-copy-degrade: true' header for this target "
        "(allow_degrade), or use a target resource with the same encryption."
    )


class InvalidTargetResource(DocIntelError):
    summary = "The target resource is not a valid Document Intelligence resource"
    hint = (
        "Check the target resource id and region in the configuration; "
        "this copy cannot succeed as configured."
    )


class ItemNotFound(DocIntelError):
    summary = "Not found"
    hint = "Check the id; the item may have been deleted, or the operation is older than 24 hours."


class ItemNotReady(DocIntelError):
    """copyTo from an item that exists only as a reservation (authorized for a copy into this resource,
    or still being built): the real service answers 400 InvalidRequest, innererror ModelNotReady."""

    disposition = Disposition.TRANSIENT
    summary = "The item is not ready yet (it is still being created or copied here)"
    hint = "Wait until the item is ready; the copy is tried again until the job's deadline."


class Conflict(DocIntelError):
    summary = "The id already exists or is reserved by a pending authorization"
    hint = "Use the pending authorization, delete the existing item, or choose another target id."


class IdReserved(Conflict):
    """The target id is reserved by a pending authorization that no job of ours can use: one whose
    reply was lost (the instance that asked for it died before keeping it), one for another build, or
    one about to expire. The service keeps the id until that authorization lapses (v3/v4: within an
    hour), and gives no way to cancel it; then a new authorization succeeds."""

    disposition = Disposition.TRANSIENT
    summary = "The target id is reserved by a pending copy authorization that cannot be used"
    hint = "The reservation lapses when that authorization expires (within an hour); the copy is tried again."


class QuotaExceeded(DocIntelError):
    summary = "The resource's quota is exhausted"
    hint = "Delete unused custom models on the resource or raise its limit, then try again."


class Throttled(DocIntelError):
    summary = "The service throttled the request (HTTP 429)"
    hint = "Try again after the Retry-After delay; lower the request rate if this persists."
    disposition = Disposition.TRANSIENT


class ServiceUnavailable(DocIntelError):
    summary = "The service is unavailable or failed internally"
    hint = "Try again later; if the region is down, fail over to another region."
    disposition = Disposition.TRANSIENT


class Unauthorized(DocIntelError):
    summary = "Access denied"
    hint = "Check the key or the managed identity's role (Cognitive Services User) on this resource."


class UnsupportedByApiVersion(DocIntelError):
    summary = "Not supported by the configured API version"
    hint = "Configure a newer API version for this resource."


class CopyOutcomeUnknown(DocIntelError):
    """The copy request may or may not have reached the service; it was deliberately not re-sent.

    Transient for the pipeline: sending copyTo again with the same authorization is safe, since the
    service answers a second use of it with "authorization already used" and the target decides."""

    disposition = Disposition.TRANSIENT

    summary = "The copy request may or may not have been accepted"
    hint = (
        "Do not blindly resend it: check whether the target item exists or is being created (or list the "
        "source's operations) before starting the copy again, with a fresh authorization if needed."
    )


_VALIDATION_CODES = {"1002", "invalidrequest", "invalidargument", "invalidparameter", "badrequest", "400"}
_NOT_FOUND_INNER = {"modelnotfound", "classifiernotfound", "operationnotfound", "notfound"}
_CONFLICT_INNER = {"modelexists", "modelidreserved", "classifierexists", "classifieridreserved", "conflict"}
_UNAVAILABLE_CODES = {
    "internalservererror",
    "serviceunavailable",
    "servicetemporarilyunavailable",
    "gatewaytimeout",
    "badgateway",
    "timeout",
    "500",
    "502",
    "503",
    "504",
}
_RETRY_IN_SECONDS = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def _classify(status: int | None, code: str, inner: str, message: str) -> type[DocIntelError]:
    # Order matters: the specific copy failures share the generic 400/"1002" envelope.
    return _copy_failure(status, code, inner, message.lower()) or _by_status(status, code, inner)


def _copy_failure(status: int | None, code: str, inner: str, msg: str) -> type[DocIntelError] | None:
    """The Copy API's own failures, told apart by code, inner code or (v2.1, undocumented codes) wording."""
    if code == "2024" or "authorization metadata" in msg:
        return AuthorizationAlreadyUsed
    if "dataprotectiontransformserviceerror" in (code, inner) or (
        "data protection" in msg and "downgrad" in msg
    ):
        return DowngradeRequired
    if inner == "authorizationexpired" or (
        "expired" in msg and (status in (None, 400) or code in _VALIDATION_CODES)
    ):
        return AuthorizationExpired
    if inner == "invalidauthorizationclaims" or "authorization claims" in msg:
        return AuthorizationClaimsInvalid
    # "ResourceResolverError" is the v2.1 spec's example copy failure; reading it as an
    # unresolvable target resource is inferred. v2.1 refuses a malformed target id with 1002
    # "Copy request is invalid. Field 'TargetResourceId' must be a valid Azure Resource ID." (recorded).
    if (
        inner == "invalidtargetresource"
        or code in ("invalidtargetresource", "resourceresolvererror")
        or "fetch information for cognitive resource" in msg
        or "field 'targetresourceid'" in msg
    ):
        return InvalidTargetResource
    if code == "quotaexceeded" or inner == "quotaexceeded" or "out of call volume quota" in msg:
        return QuotaExceeded
    if inner in ("modelnotready", "classifiernotready"):
        return ItemNotReady
    return None


def _by_status(status: int | None, code: str, inner: str) -> type[DocIntelError]:
    """Everything else, by HTTP status or the code the service gave."""
    if status == 409 or code == "conflict" or inner in _CONFLICT_INNER:
        return Conflict
    if status == 404 or code in ("notfound", "404", "1022") or inner in _NOT_FOUND_INNER:
        return ItemNotFound
    if status == 429 or code in ("429", "toomanyrequests", "ratelimitexceeded"):
        return Throttled
    if status in (401, 403) or code in ("401", "403", "unauthorized", "forbidden", "permissiondenied"):
        return Unauthorized
    if (status is not None and status >= 500) or code in _UNAVAILABLE_CODES:
        return ServiceUnavailable
    if status == 400 or code in _VALIDATION_CODES:
        return ValidationFailed
    return DocIntelError


def retry_after_from_message(message: str) -> float | None:
    """Seconds from "Rate limit is exceeded. Try again in N seconds." (used when no header came)."""
    match = _RETRY_IN_SECONDS.search(message)
    return float(match.group(1)) if match else None


def error_from_service(
    error: ServiceError,
    *,
    status: int | None = None,
    alias: str | None = None,
    item_id: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> DocIntelError:
    """Turn an error the service reported (sync error body, or a failed operation's ``error``) into
    an exception.

    ``status`` is the HTTP status for sync errors and None for a failed operation.
    """
    cls = _classify(
        status, error.code.strip().lower(), (error.inner_code or "").strip().lower(), error.message
    )
    if cls is Throttled and retry_after is None:
        retry_after = retry_after_from_message(error.message)
    message = f"{cls.summary}: {error.message}" if error.message else cls.summary
    return cls(
        message,
        status=status,
        code=error.code,
        inner_code=error.inner_code,
        alias=alias,
        item_id=item_id,
        request_id=request_id,
        retry_after=retry_after,
    )
