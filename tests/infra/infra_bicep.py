"""Reads infra/*.bicep with pycep-parser and evaluates the small expression subset the templates use.

No bicep CLI and no Azure here: the contract tests evaluate the templates' variables, loops and module
parameters with sample parameter values, and stand in for what only Azure knows (resource properties,
module outputs) with a `stub` callback that receives the access path, e.g.
``("storage", "properties", "primaryEndpoints", "queue")`` or ``("secondaryAccess", 1, "outputs", "id")``.
An expression outside the subset raises `Unsupported`, so the tests fail instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

_INTERPOLATION = re.compile(r"\$\{((?:[^{}]|\{[^{}]*\})*)\}")


class Unsupported(Exception):
    """An expression the evaluator does not know: extend the evaluator, do not skip the check."""


class TemplateFailure(Exception):
    """The template reached a `fail('...')`: Azure would stop the deployment with this message."""


class InvalidParameter(Exception):
    """A parameter value its decorators refuse (@allowed, @minValue, ...): Azure refuses it too."""


def check_parameters(template: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Apply the template's parameter decorators to `params` as Azure does before deploying."""
    for name, spec in template.get("parameters", {}).items():
        if name not in params:
            continue
        value = params[name]
        for decorator in spec.get("decorators", []):
            kind, arg = decorator["type"], decorator.get("argument")
            if kind == "allowed" and value not in arg:
                raise InvalidParameter(f"{name}: {value!r} is not one of the allowed values")
            if kind == "min_value" and value < arg:
                raise InvalidParameter(f"{name}: {value!r} is below the minimum {arg}")
            if kind == "max_value" and value > arg:
                raise InvalidParameter(f"{name}: {value!r} is above the maximum {arg}")
            if kind == "min_length" and len(value) < arg:
                raise InvalidParameter(f"{name}: shorter than {arg}")
            if kind == "max_length" and len(value) > arg:
                raise InvalidParameter(f"{name}: longer than {arg}")


def decorator(spec: dict[str, Any], kind: str) -> Any:
    """The argument of a parameter's decorator, e.g. decorator(spec, "allowed"); None if absent."""
    for d in spec.get("decorators", []):
        if d["type"] == kind:
            return d.get("argument")
    return None


@cache
def parse(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


@cache
def _parse_expression(text: str) -> Any:
    return BicepParser().parse(text=f"var x = {text}\n")["variables"]["x"]["value"]


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def access_path(expr: Any) -> list[Any] | None:
    """`a.b.c` / `a[i].b` as ['a', 'b', 'c'] / ['a', <index expr>, 'b']; None if not an accessor."""
    if isinstance(expr, str):
        return [expr]
    if not isinstance(expr, dict) or not isinstance(expr.get("operator"), dict):
        return None
    op = expr["operator"]
    if op["type"] not in ("property_accessor", "index_accessor"):
        return None
    head = access_path(op["operands"]["operand_1"])
    if head is None:
        return None
    second = op["operands"]["operand_2"]
    if op["type"] == "index_accessor":
        return [*head, {"index": second}]
    tail = access_path(second) if isinstance(second, dict) else [second]
    return None if tail is None else [*head, *tail]


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}


def _unescape(text: str) -> str:
    """A Bicep string literal's escapes (pycep keeps them as written): \\n, \\t, \\', \\\\, \\$."""
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def _text(value: Any) -> str:
    """string() and interpolation as Bicep does them: true/false in lower case, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Stubbed:
    """A value only Azure knows (a resource, a module), read through `stub` when accessed."""

    def __init__(self, path: tuple[Any, ...]) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Stubbed{self.path}"


class Evaluator:
    def __init__(
        self,
        template: dict[str, Any],
        params: Mapping[str, Any],
        stub: Callable[[tuple[Any, ...]], Any],
        path: Path | None = None,
    ) -> None:
        # `path`: the template's file, which loadTextContent() paths are relative to.
        self.path = path
        self.template = template
        self.variables = template.get("variables", {})
        self.symbols = set(template.get("resources", {})) | set(template.get("modules", {}))
        self.params = dict(params)
        for name, spec in template.get("parameters", {}).items():
            if name not in self.params and spec.get("default") is not None:
                self.params[name] = self.eval(spec["default"])
        self.stub = stub

    # --- entry points ------------------------------------------------------------------------

    def variable(self, name: str) -> Any:
        return self.eval(self.variables[name]["value"])

    def eval(self, expr: Any, scope: Mapping[str, Any] | None = None) -> Any:
        scope = scope or {}
        if expr is None or isinstance(expr, bool | int | float):
            return expr
        if isinstance(expr, str):
            return self._name_or_string(expr, scope)
        if isinstance(expr, list):
            return [self.eval(e, scope) for e in expr]
        if isinstance(expr, dict):
            if "loop_type" in expr:
                return self._loop(expr, scope)
            # pycep's operator and function nodes; an object literal may have keys of those names
            # (a log alert condition's `operator: 'GreaterThan'`).
            if isinstance(expr.get("operator"), dict) and "type" in expr["operator"]:
                return self._operator(expr, scope)
            if isinstance(expr.get("function"), dict) and "type" in expr["function"]:
                return self._function(expr["function"], scope)
            return {self._key(key, scope): self.eval(value, scope) for key, value in expr.items()}
        raise Unsupported(repr(expr))

    def _key(self, key: str, scope: Mapping[str, Any]) -> str:
        # Quoted keys keep their quotes in pycep's output; interpolated keys are evaluated.
        if len(key) > 1 and key[0] == key[-1] == "'":
            key = key[1:-1]
            if "${" in key:
                return _INTERPOLATION.sub(lambda m: str(self.eval(_parse_expression(m.group(1)), scope)), key)
        return key

    # --- pieces ------------------------------------------------------------------------------

    def _name_or_string(self, text: str, scope: Mapping[str, Any]) -> Any:
        # pycep gives identifiers and string literals alike as str: names win, then interpolation.
        if text in scope:
            return scope[text]
        if text in self.params:
            return self.params[text]
        if text in self.variables:
            return self.variable(text)
        if text in self.symbols:
            return Stubbed((text,))
        # A string literal: escapes in its text, interpolations evaluated.
        out, pos = [], 0
        for match in _INTERPOLATION.finditer(text):
            out.append(_unescape(text[pos : match.start()]))
            out.append(_text(self.eval(_parse_expression(match.group(1)), scope)))
            pos = match.end()
        out.append(_unescape(text[pos:]))
        return "".join(out)

    def _access(self, base: Any, key: Any) -> Any:
        if isinstance(base, Stubbed):
            path = (*base.path, key)
            value = self.stub(path)
            return Stubbed(path) if value is None else value
        if isinstance(base, Mapping):
            if key not in base:
                raise Unsupported(f"property {key!r} missing in {base!r}")
            return base[key]
        if isinstance(base, list | str) and isinstance(key, int):
            return base[key]
        raise Unsupported(f"cannot read {key!r} of {base!r}")

    def _operator(self, expr: dict[str, Any], scope: Mapping[str, Any]) -> Any:
        op = expr["operator"]
        kind, operands = op["type"], op["operands"]
        if kind in ("property_accessor", "index_accessor"):
            path = access_path(expr)
            if path is None:  # accessor on a call result, e.g. split(x, '/')[2]
                base = self.eval(operands["operand_1"], scope)
                key = operands["operand_2"]
                key = self.eval(key, scope) if kind == "index_accessor" else key
                return self._access(base, key)
            value = self.eval(path[0], scope)
            for part in path[1:]:
                key = self.eval(part["index"], scope) if isinstance(part, dict) else part
                value = self._access(value, key)
            return value
        if kind == "conditional":
            cond = self.eval(operands["condition"], scope)
            return self.eval(operands["true_value"] if cond else operands["false_value"], scope)
        values = [self.eval(v, scope) for v in operands.values()] if isinstance(operands, dict) else None
        if kind == "equals" and values:
            return values[0] == values[1]
        if kind == "not_equals" and values:
            return values[0] != values[1]
        if kind == "and" and values:
            return all(values)
        if kind == "or" and values:
            return any(values)
        if kind == "not" and values:
            return not values[0]
        if kind in ("add", "minus", "multiply") and values:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise Unsupported(f"{kind} of {values!r}")
            return {"add": values[0] + values[1], "minus": values[0] - values[1]}.get(
                kind, values[0] * values[1]
            )
        if kind in ("greater_than", "greater_than_or_equals", "less_than", "less_than_or_equals") and values:
            a, b = values
            return {
                "greater_than": a > b,
                "greater_than_or_equals": a >= b,
                "less_than": a < b,
                "less_than_or_equals": a <= b,
            }[kind]
        raise Unsupported(f"operator {kind}")

    def _function(self, fn: dict[str, Any], scope: Mapping[str, Any]) -> Any:
        kind = fn["type"]
        raw = fn.get("parameters") or {}
        named = {k: self.eval(v, scope) for k, v in raw.items() if v is not None}
        args = list(named.values())
        if kind == "concat":
            if all(isinstance(a, list) for a in args):
                return [item for arg in args for item in arg]
            return "".join(map(str, args))
        if kind == "flatten":
            return [item for group in args[0] for item in group]
        if kind == "join":
            return args[1].join(args[0])
        if kind == "union":
            merged: dict[str, Any] = {}
            for arg in args:
                merged.update(arg)
            return merged
        if kind == "empty":
            return not args[0]
        if kind == "to_lower":
            return args[0].lower()
        if kind == "to_upper":
            return args[0].upper()
        if kind == "split":
            return named["input_string"].split(named["delimiter"])
        if kind == "last":
            return args[0][-1]
        if kind == "replace":
            return args[0].replace(args[1], args[2])
        if kind == "length":
            return len(args[0])
        if kind == "contains":
            return named["item_to_find"] in named["container"]
        if kind == "starts_with":
            return named["string_to_search"].startswith(named["string_to_find"])
        if kind == "string":
            return _text(args[0])
        if kind == "load_text_content":
            if self.path is None:
                raise Unsupported("loadTextContent() without the template's path")
            return (self.path.parent / named["file_path"]).read_text(encoding="utf-8")
        if kind == "fail":
            raise TemplateFailure(str(args[0]))
        if kind == "resource_group":
            return {"subscriptionId": named.get("subscription_id"), "name": named.get("resource_group_name")}
        if kind in ("subscription", "tenant", "unique_string", "guid", "subscription_resource_id"):
            return self.stub((f"{kind}()", *args))
        raise Unsupported(f"function {kind}")

    def _loop(self, expr: dict[str, Any], scope: Mapping[str, Any]) -> list[Any]:
        detail = expr["loop_type"]["detail"]
        items = self.eval(detail["array_name"], scope)
        if not isinstance(items, list):
            raise Unsupported(f"loop over {items!r}")
        out = []
        for index, item in enumerate(items):
            inner = {**scope, detail["item_name"]: item}
            if detail.get("index_name"):
                inner[detail["index_name"]] = index
            if expr.get("condition") is not None and not self.eval(expr["condition"], inner):
                continue
            out.append(self.eval(expr["config"], inner))
        return out
