"""HTTP triggers as the Functions host serves them: `/{routePrefix}/{route}` with route templates
(`copies/{jobId}`, `{id:int}`, `{name?}`), the declared methods (405 for another method on a known
route), and function keys for `authLevel` FUNCTION / ADMIN (`x-functions-key` header or `code`
query; 401 otherwise)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.runner.functions import FunctionSpec

DEFAULT_METHODS = ("GET", "POST")
_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "datetime": r"[^/]+",
}


@dataclass
class HttpRoute:
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    functions: dict[str, FunctionSpec]  # METHOD -> function

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def compile_template(template: str) -> tuple[re.Pattern[str], int]:
    """An ASP.NET-style route template as a regex over the path after the prefix (case-insensitive
    literals, as ASP.NET routing is)."""
    parts = []
    literals = 0
    for segment in [s for s in template.strip("/").split("/") if s != ""]:
        param = _PARAM.match(segment)
        if param is None:
            parts.append(("/", re.escape(segment), False))
            literals += 1
            continue
        catch_all, name, constraint, optional = param.groups()
        body = r".*" if catch_all else _CONSTRAINTS.get(constraint or "", r"[^/]+")
        parts.append(("/", f"(?P<{name}>{body})", bool(optional or catch_all)))
    regex = ""
    for slash, body, optional in parts:
        regex += f"(?:{re.escape(slash)}{body})?" if optional else re.escape(slash) + body
    return re.compile(regex or "/?", re.IGNORECASE), literals


def build_routes(specs: list[FunctionSpec]) -> list[HttpRoute]:
    by_template: dict[str, HttpRoute] = {}
    for spec in specs:
        if spec.trigger_type != "httpTrigger":
            continue
        template = str(spec.trigger.get("route") or spec.name).strip("/")
        route = by_template.get(template.lower())
        if route is None:
            pattern, literals = compile_template(template)
            route = by_template[template.lower()] = HttpRoute(template, pattern, literals, {})
        for method in spec.trigger.get("methods") or DEFAULT_METHODS:
            method = str(method).upper()
            if method in route.functions:
                raise RuntimeError(
                    f"{spec.name} and {route.functions[method].name} both serve {method} {template}"
                )
            route.functions[method] = spec
    # Literal segments win over parameters (copies/latest before copies/{id}).
    return sorted(by_template.values(), key=lambda r: (-r.literal_segments, r.template))


def authorized(
    level: str, headers: Mapping[str, str], query: Mapping[str, str], keys: Mapping[str, str]
) -> bool:
    """keys: {"function": ..., "master": ...}. ANONYMOUS is open; FUNCTION takes the function or
    the master key; ADMIN only the master key."""
    level = level.upper()
    if level == "ANONYMOUS":
        return True
    given = headers.get("x-functions-key") or query.get("code") or ""
    accepted = [keys["master"]] if level == "ADMIN" else [keys["function"], keys["master"]]
    return any(k and hmac.compare_digest(given.encode(), k.encode()) for k in accepted)


def response_parts(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A function's return value as status, headers and body (what the host would send)."""
    import azure.functions as func

    if isinstance(result, func.HttpResponse):
        headers = [(k, v) for k, v in result.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = result.mimetype or "text/plain"
            charset = result.charset or "utf-8"
            headers.append(("content-type", f"{mimetype}; charset={charset}"))
        return result.status_code, headers, result.get_body() or b""
    if result is None:
        return 204, [], b""
    if isinstance(result, bytes):
        return 200, [("content-type", "application/octet-stream")], result
    return 200, [("content-type", "text/plain; charset=utf-8")], str(result).encode()
