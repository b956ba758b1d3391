"""HTTP triggers as the Functions host serves them: `/{routePrefix}/{route}` with route templates
(`copies/{jobId}`, `{id:int}`, `{name?}`), the declared methods (405 for another method on a known
route), and function keys for `authLevel` FUNCTION / ADMIN (`x-functions-key` header or `code`
query; 401 otherwise). `HttpTriggers` serves them: an unhandled exception is a 500 with an empty body."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from local.runner.functions import FunctionSpec
from local.runner.invocations import InvocationRecord, Record, attempt, outcome

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
    """keys: {"function": ..., "master": ..., "eventgrid_extension": ...}. ANONYMOUS is open; FUNCTION
    takes the function or the master key; ADMIN only the master key; SYSTEM (the Event Grid
    extension's webhook) its system key or the master key."""
    level = level.upper()
    if level == "ANONYMOUS":
        return True
    given = headers.get("x-functions-key") or query.get("code") or ""
    accepted = {
        "ADMIN": [keys["master"]],
        "SYSTEM": [keys.get("eventgrid_extension", ""), keys["master"]],
    }.get(level, [keys["function"], keys["master"]])
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


@dataclass
class HttpTriggers:
    """The HTTP-triggered functions of a host, under `/{route_prefix}`."""

    routes: list[HttpRoute]
    route_prefix: str
    keys: Mapping[str, str]  # {"function": ..., "master": ...}
    invoker: Callable[[FunctionSpec], Callable[[Any], Awaitable[Any]]]
    record: Record

    def find(self, method: str, path: str) -> tuple[FunctionSpec, dict[str, str]] | Response:
        """The function and route parameters for a request; else the 404 or 405 to answer."""
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        if prefix and not (path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/")):
            return Response(status_code=404)
        relative = path[len(prefix) :] or "/"
        for route in self.routes:
            params = route.match(relative.rstrip("/") or "/")
            if params is None:
                continue
            spec = route.functions.get(method) or (route.functions.get("GET") if method == "HEAD" else None)
            if spec is None:
                return Response(status_code=405, headers={"Allow": ", ".join(sorted(route.functions))})
            return spec, params
        return Response(status_code=404)

    async def dispatch(self, request: Request) -> Response:
        found = self.find(request.method, request.url.path)
        if isinstance(found, Response):
            return found
        return await self.invoke(*found, request)

    async def invoke(self, spec: FunctionSpec, params: dict[str, str], request: Request) -> Response:
        import azure.functions as func

        query = dict(request.query_params)
        headers = {k: v for k, v in request.headers.items()}
        where = f"{request.method} {request.url.path}"
        if not authorized(str(spec.trigger.get("authLevel", "FUNCTION")), headers, query, self.keys):
            self.record(InvocationRecord(spec.name, "http", "Unauthorized", 0.0, f"{where} -> 401"))
            return Response(status_code=401)
        body = await request.body()
        req = func.HttpRequest(
            request.method, str(request.url), headers=headers, params=query, route_params=params, body=body
        )
        invoke = self.invoker(spec)

        async def call() -> tuple[int, list[tuple[str, str]], bytes]:
            return response_parts(await invoke(req))

        parts, seconds, error = await attempt(call)
        status, out_headers, content = parts if parts is not None else (500, [], b"")
        self.record(
            InvocationRecord(spec.name, "http", outcome(error), seconds, f"{where} -> {status}", error)
        )
        response = Response(content=content, status_code=status)
        for name, value in out_headers:
            response.headers.append(name, value)
        return response
