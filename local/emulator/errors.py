"""The errors the emulated service answers with. The server renders them per API version.

Bodies quoted from recordings of the real service (tests/reference/recordings) are verbatim; the
others are marked inferred where they are made."""

from __future__ import annotations

from typing import Any

from .versions import V21, Version


class DIError(Exception):
    """An error the service answers with. Rendered per API version by the server.

    ``gateway``: answered by the API gateway in front of the service (a route that does not exist),
    whose replies carry no ``x-ms-region`` header (recorded)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        inner_message: str | None = None,
        gateway: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.inner_message = inner_message
        self.headers = headers or {}
        self.gateway = gateway

    def body(self, ver: Version | None) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner and (ver is None or ver.name != V21):
            err["innererror"] = {"code": self.inner, "message": self.inner_message or self.message}
        return {"error": err}


_NOT_FOUND = "Resource not found."
# inner code and message per kind; classifiers answer like models (recorded, 2024-07-31-preview)
_NOT_FOUND_INNER = {
    "model": ("ModelNotFound", "The requested model was not found."),
    "classifier": ("ModelNotFound", "The requested model was not found."),
    "operation": ("OperationNotFound", "The requested operation was not found."),  # inferred
}


def bad_request(field_name: str, message: str, copy: bool = False) -> DIError:
    return DIError(
        400, "1002" if copy else "InvalidRequest", f"{message} (field: {field_name})", "InvalidParameter"
    )


def v21_copy_invalid(field_name: str, what: str) -> DIError:
    """A v2.1 copy request the service refuses before anything else (recorded for TargetResourceId:
    ``Copy request is invalid. Field 'TargetResourceId' must be a valid Azure Resource ID.``)."""
    return DIError(400, "1002", f"Copy request is invalid. Field '{field_name}' {what}.")


def copy_refused(message: str, inner: str = "InvalidParameter") -> DIError:
    """A copy request the service refuses with code 1002."""
    return DIError(400, "1002", message, inner)


def not_found(kind: str, item_id: str) -> DIError:
    """404 for a model, classifier or operation; ``v21`` is a v2.1 model (code 1022, recorded) and
    ``v21-operation`` a v2.1 copy result (inferred)."""
    if kind == "v21":
        return DIError(404, "1022", f"Model with 'id={item_id}' not found.")
    if kind == "v21-operation":
        return DIError(404, "NotFound", f"The copy result '{item_id}' was not found.")
    inner, inner_message = _NOT_FOUND_INNER[kind]
    return DIError(404, "NotFound", _NOT_FOUND, inner, inner_message=inner_message)


def not_ready() -> DIError:
    """copyTo from an id that is only reserved here (authorized for a copy into this resource, i.e.
    being built or copied): recorded for models (2022-08-31, 2023-02-28-preview)."""
    return DIError(
        400,
        "InvalidRequest",
        "Invalid request.",
        "ModelNotReady",
        inner_message=(
            "Model is not ready for the requested operation. "
            "Wait for training to complete or check for operation errors."
        ),
    )


def route_not_found() -> DIError:
    """The gateway's reply to a route that does not exist (also an empty id, recorded)."""
    return DIError(404, "404", "Resource not found", gateway=True)


def rate_limited(seconds: int) -> DIError:
    return DIError(
        429,
        "429",
        f"Rate limit is exceeded. Try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds)},
    )


def invalid_target(rid: str) -> DIError:
    return copy_refused(
        f"Couldn't fetch information for Cognitive resource with ID {rid}.", "InvalidTargetResource"
    )
