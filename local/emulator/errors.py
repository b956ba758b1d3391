"""The errors the emulated service answers with. The server renders them per API version."""

from __future__ import annotations

from typing import Any

from .versions import V21, Version


class DIError(Exception):
    """An error the service answers with. Rendered per API version by the server."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self, ver: Version | None) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner and (ver is None or ver.name != V21):
            err["innererror"] = {"code": self.inner, "message": self.message}
        return {"error": err}


_NOT_FOUND_INNER = {
    "model": "ModelNotFound",
    "v21": "ModelNotFound",
    "classifier": "ClassifierNotFound",
    "operation": "OperationNotFound",
}


def bad_request(field_name: str, message: str, copy: bool = False) -> DIError:
    return DIError(
        400, "1002" if copy else "InvalidRequest", f"{message} (field: {field_name})", "InvalidParameter"
    )


def copy_refused(message: str, inner: str = "InvalidParameter") -> DIError:
    """A copy request the service refuses with code 1002."""
    return DIError(400, "1002", message, inner)


def not_found(kind: str, item_id: str) -> DIError:
    inner = _NOT_FOUND_INNER[kind]
    label = {"v21": "model"}.get(kind, kind)
    return DIError(404, "NotFound", f"The requested {label} '{item_id}' was not found.", inner)


def route_not_found() -> DIError:
    return DIError(404, "404", "Resource not found")


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
