"""Validate bodies against the swagger 2.0 specs in tests/reference/docintel-specs/ with jsonschema.

Swagger-only keywords (x-ms-*, readOnly, discriminator) are ignored by jsonschema; on top of that,
``unknown_fields`` reports properties that the schema (including allOf parents and the discriminated
subtype) does not declare, so a version never shows fields its spec lacks, except the ones the real
service is recorded to send although its spec lacks them (``RECORDED_EXTRAS``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SPEC_DIR = Path(__file__).resolve().parents[2] / "reference" / "docintel-specs"
SPEC_VERSIONS = ("v2.1", "2023-07-31", "2024-11-30")
# Fields the service sends that its spec does not declare (tests/reference/recordings), by definition:
RECORDED_EXTRAS: dict[str, dict[str, Any]] = {
    # 2024-11-30 classifier doc types say "kind" ("azureBlob"), the spec "sourceKind"
    "ClassifierDocumentTypeDetails": {"kind": {"type": "string"}},
    # v2.1 copy errors name the reply's request id: {"code", "innerError": {"requestId"}, "message"}
    "ErrorInformation": {"innerError": {"type": "object", "properties": {"requestId": {"type": "string"}}}},
}


@functools.cache
def spec(ver: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / f"{ver}.json").read_text(encoding="utf-8"))


def response_schema(ver: str, method: str, path: str, status: str) -> dict[str, Any] | None:
    s = spec(ver)
    op = (s["paths"].get(path) or s.get("x-ms-paths", {}).get(path))[method.lower()]
    return op["responses"].get(status, op["responses"].get("default", {})).get("schema")


def validate(ver: str, schema: dict[str, Any], body: Any) -> None:
    defs = spec(ver)["definitions"]
    jsonschema.Draft4Validator({**schema, "definitions": defs}).validate(body)
    problems = unknown_fields(schema, body, defs)
    assert not problems, problems


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    name = None
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = defs[name]
    return name, schema


def _props(
    name: str | None, schema: dict[str, Any], defs: dict[str, Any], inst: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    props: dict[str, Any] = {**schema.get("properties", {}), **RECORDED_EXTRAS.get(name or "", {})}
    addl = schema.get("additionalProperties")
    for parent in schema.get("allOf", []):
        pname, pschema = _resolve(parent, defs)
        p, a = _props(pname, {k: v for k, v in pschema.items() if k != "discriminator"}, defs, inst)
        props.update(p)
        addl = addl or a
    disc = schema.get("discriminator")
    if disc and name and isinstance(inst.get(disc), str):
        for d in defs.values():
            if d.get("x-ms-discriminator-value") == inst[disc] and any(
                a.get("$ref", "").endswith("/" + name) for a in d.get("allOf", [])
            ):
                props.update(d.get("properties", {}))
    return props, addl


def unknown_fields(schema: dict[str, Any], inst: Any, defs: dict[str, Any], where: str = "$") -> list[str]:
    name, schema = _resolve(schema, defs)
    out: list[str] = []
    if isinstance(inst, dict):
        props, addl = _props(name, schema, defs, inst)
        for k, v in inst.items():
            if k in props:
                out += unknown_fields(props[k], v, defs, f"{where}.{k}")
            elif isinstance(addl, dict):
                out += unknown_fields(addl, v, defs, f"{where}.{k}")
            elif not addl:
                out.append(f"{where}.{k}")
    elif isinstance(inst, list) and "items" in schema:
        for i, v in enumerate(inst):
            out += unknown_fields(schema["items"], v, defs, f"{where}[{i}]")
    return out
