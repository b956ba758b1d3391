"""Error classification: the emulator's codes and the real service's documented messages."""

from __future__ import annotations

import pytest

from shared.docintel import (
    AuthorizationAlreadyUsed,
    AuthorizationClaimsInvalid,
    AuthorizationExpired,
    Conflict,
    CopyOutcomeUnknown,
    Disposition,
    DocIntelError,
    DowngradeRequired,
    InvalidTargetResource,
    ItemNotFound,
    ItemNotReady,
    QuotaExceeded,
    ServiceError,
    ServiceUnavailable,
    Throttled,
    Unauthorized,
    UnsupportedByApiVersion,
    ValidationFailed,
    error_from_service,
)

CASES = [
    # (status, code, inner code, message, expected type)
    (400, "1002", "InvalidParameter", "The parameter modelId is invalid.", ValidationFailed),
    (400, "InvalidRequest", None, "Invalid request.", ValidationFailed),
    (400, "InvalidArgument", "ParameterMissing", "The parameter modelId is required.", ValidationFailed),
    (400, "1002", "AuthorizationExpired", "The copy authorization has expired.", AuthorizationExpired),
    (400, "1002", None, "Copy authorization expired at 2021-09-23T09:12:54Z.", AuthorizationExpired),
    (
        400,
        "1002",
        "InvalidAuthorizationClaims",
        "Missing or invalid authorization claims.",
        AuthorizationClaimsInvalid,
    ),
    (400, "1002", None, "Missing or invalid authorization claims.", AuthorizationClaimsInvalid),
    (
        None,
        "2024",
        None,
        "Could not retrieve authorization metadata. "
        "If this issue persists use a different target model to copy into.",
        AuthorizationAlreadyUsed,
    ),
    (None, "Unknown", None, "Couldn't retrieve authorization metadata", AuthorizationAlreadyUsed),
    (409, "Conflict", "ModelExists", "Model already exists.", Conflict),
    (409, "Conflict", "ModelIdReserved", "Model id is reserved.", Conflict),
    (409, "Conflict", "ClassifierExists", "Classifier already exists.", Conflict),
    (409, "Conflict", "ClassifierIdReserved", "Classifier id is reserved.", Conflict),
    (
        400,
        "1002",
        "InvalidTargetResource",
        "Couldn't fetch information for Cognitive resource with ID /subscriptions/x.",
        InvalidTargetResource,
    ),
    (None, "ResourceResolverError", None, "{ErrorMessage}", InvalidTargetResource),
    (
        None,
        "DataProtectionTransformServiceError",
        None,
        "Transfer not allowed: downgrades data protection.",
        DowngradeRequired,
    ),
    (
        400,
        "DataProtectionTransformServiceError",
        None,
        "Transfer not allowed: downgrades data protection.",
        DowngradeRequired,
    ),
    (400, "QuotaExceeded", None, "The custom model quota is exhausted.", QuotaExceeded),
    (403, "403", None, "Out of call volume quota for FormRecognizer F0 pricing tier.", QuotaExceeded),
    (400, "InvalidRequest", "ModelNotReady", "Invalid request.", ItemNotReady),
    (404, "1022", None, "Model with 'id=4b0b2d3c' not found.", ItemNotFound),
    (404, "NotFound", "ModelNotFound", "Resource not found.", ItemNotFound),
    (404, "NotFound", "ClassifierNotFound", "Resource not found.", ItemNotFound),
    (404, "NotFound", "OperationNotFound", "Resource not found.", ItemNotFound),
    (404, "404", None, "Resource not found", ItemNotFound),
    (429, "429", None, "Rate limit is exceeded. Try again in 7 seconds.", Throttled),
    (500, "InternalServerError", None, "An unexpected error occurred.", ServiceUnavailable),
    (503, "ServiceUnavailable", None, "The service is unavailable.", ServiceUnavailable),
    (None, "InternalServerError", None, "An unexpected error occurred.", ServiceUnavailable),
    (
        401,
        "401",
        None,
        "Access denied due to invalid subscription key or wrong API endpoint.",
        Unauthorized,
    ),
    (403, "PermissionDenied", None, "The principal lacks the data action.", Unauthorized),
    (418, "Teapot", None, "Something else.", DocIntelError),
]


@pytest.mark.parametrize(("status", "code", "inner", "message", "expected"), CASES)
def test_classification(
    status: int | None, code: str, inner: str | None, message: str, expected: type
) -> None:
    error = error_from_service(
        ServiceError(code=code, message=message, inner_code=inner),
        status=status,
        alias="westus2",
        item_id="invoice-model",
        request_id="req-1",
    )
    assert type(error) is expected
    assert error.status == status
    assert error.code == code
    assert error.inner_code == inner
    assert error.alias == "westus2"
    assert error.item_id == "invoice-model"
    assert error.request_id == "req-1"
    assert message in error.message
    text = str(error)
    assert "westus2" in text and "invoice-model" in text and message in text


def test_each_error_says_what_a_caller_does_about_it() -> None:
    def disposition(code: str, status: int | None, message: str = "x") -> Disposition:
        return error_from_service(ServiceError(code=code, message=message), status=status).disposition

    assert disposition("429", 429) is Disposition.TRANSIENT
    assert disposition("ServiceUnavailable", 503) is Disposition.TRANSIENT
    assert disposition("1002", 400) is Disposition.PERMANENT
    assert disposition("1002", 400, "The copy authorization has expired.") is Disposition.REAUTHORIZE
    assert disposition("2024", None, "Could not retrieve authorization metadata.") is Disposition.CHECK_TARGET
    # copyTo again after a lost reply is safe: the service refuses a second use of the authorization.
    assert CopyOutcomeUnknown("x").disposition is Disposition.TRANSIENT


def test_throttled_retry_after_from_message_when_no_header() -> None:
    error = error_from_service(
        ServiceError(code="429", message="Rate limit is exceeded. Try again in 7 seconds."), status=429
    )
    assert isinstance(error, Throttled) and error.retry_after == 7
    explicit = error_from_service(
        ServiceError(code="429", message="Try again in 7 seconds."), status=429, retry_after=2
    )
    assert explicit.retry_after == 2


def test_messages_say_what_to_do() -> None:
    downgrade = error_from_service(
        ServiceError(code="DataProtectionTransformServiceError", message="Transfer not allowed."),
        alias="westus2",
        item_id="m1",
    )
    assert "x-ms-forms-copy-degrade" in str(downgrade)
    assert "24 hours" in str(error_from_service(ServiceError(code="1002", message="expired"), status=400))
    assert "Do not blindly resend" in str(CopyOutcomeUnknown("x", alias="a", item_id="m"))
    assert "newer API version" in str(UnsupportedByApiVersion("x"))


def test_repr_names_the_type_and_fields() -> None:
    error = Conflict("taken", status=409, code="Conflict", alias="a", item_id="m")
    assert repr(error).startswith("Conflict(status=409, code='Conflict'")
