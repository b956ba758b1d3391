"""The type of the JSON documents the app builds (API replies, event data, reports), and the parser of
the ones it reads."""

import json
from typing import Any

# A JSON object's members differ in type by key, which Python's types cannot say without a model per
# document; the documents are checked by their JSON Schemas (docs/) and the OpenAPI description instead.
JsonObject = dict[str, Any]


class NotJson(ValueError):
    """Text or bytes that are not one JSON document; the message says why."""


def parse_json(raw: str | bytes) -> object:
    """`json.loads`, with every way it fails on hostile input raised as `NotJson`: not JSON, not
    UTF-8/16/32 (`JSONDecodeError`, `UnicodeDecodeError`), an integer longer than Python converts
    (4300 digits: a plain `ValueError`), nesting deeper than the recursion limit (`RecursionError`).

    A string with a lone surrogate (``"\\ud800"``, or its bytes, which `json.loads` lets through) is
    no text either (RFC 8259 8.2, RFC 7493): nothing could send it on as UTF-8, so it is refused here
    rather than deep in a call to the service or to storage."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise NotJson("the document is nested too deeply") from None
    except ValueError as exc:
        reason = exc.__class__.__name__
        if not isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            reason = "a number is too long"
        raise NotJson(reason) from None
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise NotJson("a string holds a lone surrogate, which is not Unicode text") from None
    except RecursionError:  # as deep as json.loads could go, and writing it back needs a frame more
        raise NotJson("the document is nested too deeply") from None
    return document
