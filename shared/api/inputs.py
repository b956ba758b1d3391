"""Reading what a caller sent: JSON bodies, query parameters, resource aliases. Every failure is a
`ProblemError` (400, 413 or 415) that names the field and what is accepted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.api.problems import ProblemCode, ProblemError
from shared.jsondoc import NotJson, parse_json
from shared.settings import Settings

MAX_BODY_BYTES = 64 * 1024
ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._~-]{1,63}$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
#: Query parameters every route accepts: the function key may come as ``?code=``.
ALWAYS_ALLOWED = frozenset({"code"})

_FORBIDDEN_FIELDS = {"endpoint", "key", "apikey", "token", "accesstoken", "url", "credential"}
_FORBIDDEN_HINT = (
    "This API copies only between resources configured by alias; it never takes an endpoint, a key "
    "or a token from a request."
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}

Body = TypeVar("Body", bound=BaseModel)


def check_body_size(raw: bytes) -> None:
    if len(raw) > MAX_BODY_BYTES:
        raise ProblemError(
            413,
            ProblemCode.PAYLOAD_TOO_LARGE,
            f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.",
        )


def read_json_body(req: func.HttpRequest) -> object:
    body = req.get_body() or b""
    check_body_size(body)
    content_type = (req.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if body and content_type not in ("application/json", "text/json") and not content_type.endswith("+json"):
        raise ProblemError(415, ProblemCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
    if not body.strip():
        raise ProblemError(400, ProblemCode.INVALID_BODY, "The request needs a JSON object body.")
    try:
        document = parse_json(body)
    except NotJson as exc:
        raise ProblemError(400, ProblemCode.INVALID_JSON, f"The body is not valid JSON: {exc}.") from None
    return document


def validate_body(document: object, model: type[Body]) -> Body:
    """`document` as `model`, or a 400 that lists every invalid field."""
    if not isinstance(document, dict):
        raise ProblemError(400, ProblemCode.INVALID_BODY, "The body must be a JSON object.")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in error["loc"]) or "body"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown field"
                if str(error["loc"][0]).lower() in _FORBIDDEN_FIELDS:
                    message = f"unknown field. {_FORBIDDEN_HINT}"
            errors.append({"field": where, "message": message})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ProblemError(400, ProblemCode.INVALID_REQUEST, detail, errors=errors) from None


def reject_unknown_params(req: func.HttpRequest, allowed: Iterable[str]) -> None:
    unknown = sorted(set(req.params) - set(allowed) - ALWAYS_ALLOWED)
    if unknown:
        raise ProblemError(
            400, ProblemCode.INVALID_QUERY, f"Unknown query parameter(s): {', '.join(unknown)}."
        )


#: ASCII digits (`str.isdigit` also takes superscript and circled digits, which `int` refuses).
_DIGITS = re.compile(r"[0-9]{1,9}")


def int_param(req: func.HttpRequest, name: str, default: int, low: int, high: int) -> int:
    text = req.params.get(name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise ProblemError(400, ProblemCode.INVALID_QUERY, f"{name} must be an integer from {low} to {high}.")
    return int(text)


def flag_param(req: func.HttpRequest, name: str) -> bool:
    value = (req.params.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ProblemError(400, ProblemCode.INVALID_QUERY, f"{name} must be true or false.")


def resolve_aliases(
    settings: Settings, source: str | None, targets: list[str] | None
) -> tuple[str, list[str]]:
    """The source alias (default: the primary) and the target aliases (default: every secondary
    but the source), each checked against the configuration."""
    known = ", ".join(settings.aliases)
    source_alias = (source or settings.primary).lower()
    if source_alias not in settings.resources:
        raise ProblemError(
            400, ProblemCode.UNKNOWN_ALIAS, f"Unknown source alias '{source}'. Configured aliases: {known}."
        )
    target_aliases = (
        [t.lower() for t in targets] if targets else [a for a in settings.secondaries if a != source_alias]
    )
    unknown = [t for t in target_aliases if t not in settings.resources]
    if unknown:
        raise ProblemError(
            400,
            ProblemCode.UNKNOWN_ALIAS,
            f"Unknown target alias(es) {', '.join(unknown)}. Configured aliases: {known}.",
        )
    if source_alias in target_aliases:
        raise ProblemError(400, ProblemCode.INVALID_REQUEST, "A target must differ from the source.")
    if len(set(target_aliases)) != len(target_aliases):
        raise ProblemError(400, ProblemCode.INVALID_REQUEST, "A target is listed twice.")
    if not target_aliases:
        raise ProblemError(400, ProblemCode.INVALID_REQUEST, "There is no target to copy to.")
    return source_alias, target_aliases


def target_aliases_param(
    req: func.HttpRequest, settings: Settings, *also: str, allowed: list[str] | None = None
) -> list[str] | None:
    """``?targets=a,b`` (or a name in `also`, such as ``?target=``): aliases in `allowed` (default:
    the secondaries) only; None when absent."""
    given = [req.params[name] for name in ("targets", *also) if req.params.get(name)]
    if len(given) > 1:
        raise ProblemError(400, ProblemCode.INVALID_QUERY, "Name the targets once (targets or target).")
    text = given[0] if given else None
    if not text:
        return None
    valid = settings.secondaries if allowed is None else allowed
    targets = list(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    unknown = [t for t in targets if t not in valid]
    if unknown:
        what = "Secondaries" if allowed is None else "Valid targets"
        raise ProblemError(
            400,
            ProblemCode.UNKNOWN_ALIAS,
            f"Unknown target alias(es) {', '.join(unknown)}. {what}: {', '.join(valid)}.",
        )
    return targets


def sync_aliases_param(req: func.HttpRequest, settings: Settings) -> tuple[str, list[str] | None]:
    """``?source=a`` (default: the primary; a configured alias, never an endpoint) and ``?targets=``
    (any other configured alias; None when absent: the sync's default targets)."""
    source = (req.params.get("source") or settings.primary).strip().lower()
    if source not in settings.resources:
        raise ProblemError(
            400,
            ProblemCode.UNKNOWN_ALIAS,
            f"Unknown source alias '{source}'. Configured aliases: {', '.join(settings.aliases)}.",
        )
    others = [alias for alias in settings.aliases if alias != source]
    return source, target_aliases_param(req, settings, allowed=others)
