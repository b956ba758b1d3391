"""What the fuzz runs send: HTTP requests (from the OpenAPI document through schemathesis, valid and
not, and hand-made ones), queue message bodies and Event Grid events in both schemas.

Documents are built from the pydantic models' JSON schemas (`documents`): every field valid, wrong in
type, just over a bound, or a nasty string; fields missing, unknown or forbidden ones added. Then they
are encoded in ways a JSON parser has to survive (`encoded`): duplicate keys, numbers beyond the
integer-digits limit, deep nesting, UTF-16/32, a BOM, invalid UTF-8, truncation, trailing garbage,
oversize. Values that inputs must hit to get deep into the app (the source's items, the configured
aliases, the pool's job ids, the webhook's signature) are mixed in.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

import schemathesis
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from pydantic import BaseModel
from schemathesis.core import NOT_SET
from schemathesis.core.result import Err

from shared.api.copies import CopyBody
from shared.api.inputs import MAX_BODY_BYTES
from shared.api.webhooks import MODEL_TRAINED, SIGNATURE_HEADER, TrainedBody, sign
from shared.copy.jobs import JobStatus
from shared.copy.messages import MAX_MESSAGE_BYTES, CopyRequestMessage, PollMessage
from shared.status.report import encode_token
from tests.fuzz.harness import ALIASES, KNOWN_IDS, SECRET, Harness
from tests.test_openapi import DOCUMENT

# --- strings and JSON values -----------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "\n",
    "\t\r\n",
    "null",
    "true",
    "0",
    "-1",
    "1e309",
    "NaN",
    "../../etc/passwd",
    "%2e%2e%2f",
    "%00",
    "' or PartitionKey ne '",
    "job' or RowKey gt '",
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "\u202etxt.exe",
    "\ufeffmodel",
    "\u200b",
    "\U0001d557\U0001d566\U0001d56b\U0001d56b",  # fuzz, double-struck
    "²",
    "٣",
    "Ⅻ",
    "ǅ",
    "İ",
    "ß",
    "ﬁ",
    "e\u0301",
    "👍🏽",
    "Ω" * 40,
]
#: Strings as the host passes them (valid Unicode: they came over gRPC as UTF-8).
host_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30),
    st.text(st.characters(codec="ascii"), max_size=30),
    st.integers(200, 20_000).map(lambda n: "x" * n),
)
#: Strings inside JSON documents: anything a JSON string escape can spell, lone surrogates included.
json_text = st.one_of(
    host_text,
    st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=8).map("".join),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**53).flatmap(lambda n: st.sampled_from([n, -n])),
    st.floats(),
    json_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)

#: Every character `str.isdigit` takes: decimal digits of any script, and superscripts, circled
#: digits and the like, which `int` refuses.
ISDIGIT = [c for c in map(chr, range(0x110000)) if c.isdigit()]

# --- documents from a model's JSON schema ---------------------------------------------------------

FORBIDDEN_FIELDS = ["endpoint", "key", "apiKey", "token", "accessToken", "url", "credential"]
Hints = dict[str, SearchStrategy[Any]]


def valid_for(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values the JSON schema accepts."""
    if "anyOf" in schema:
        return st.one_of([valid_for(s) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema:
            longest = schema.get("maxLength", 10_000)
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= longest)
        low, high = schema.get("minLength", 0), schema.get("maxLength", 100_000)
        return json_text.filter(lambda s: low <= len(s) <= high)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(valid_for(schema.get("items", {})), min_size=low, max_size=max(low, 4))
    if kind == "object":
        values = valid_for(schema.get("additionalProperties") or {})
        return st.dictionaries(json_text, values, max_size=min(schema.get("maxProperties", 4), 4))
    if kind == "null":
        return st.none()
    return json_values


def wrong_for(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values the schema refuses, or that sit on its edges: wrong types, one over a bound, a pattern
    broken (a trailing newline among others), enum members in another case."""
    options: list[SearchStrategy[Any]] = [json_values, st.sampled_from(NASTY)]
    for sub in schema.get("anyOf", [schema]):
        kind = sub.get("type")
        if "enum" in sub or "const" in sub:
            members = [str(m) for m in sub.get("enum", [sub.get("const")])]
            options.append(
                st.sampled_from(members).map(str.upper) | st.sampled_from(members).map(lambda m: f" {m}")
            )
        if kind == "string" and "maxLength" in sub:
            options.append(st.just("m" * (sub["maxLength"] + 1)))
        if kind == "string" and "pattern" in sub:
            pattern = sub["pattern"]
            options.append(valid_for(sub).map(lambda s: s + "\n"))
            options.append(st.text(max_size=70).filter(functools.partial(_mismatches, pattern)))
        if kind == "integer":
            low = sub.get("minimum")
            options.append(st.sampled_from([1.0, 1.5, "1", True, None, -(2**63) - 1, 2**64]))
            if low is not None:
                options.append(st.just(low - 1))
        if kind == "array":
            options.append(st.just([]))
            options.append(st.lists(st.text(max_size=3), min_size=sub.get("maxItems", 32) + 1, max_size=40))
            options.append(st.lists(json_scalars, min_size=1, max_size=3))
        if kind == "object":
            cap = sub.get("maxProperties", 50)
            options.append(
                st.dictionaries(st.text(max_size=6), st.just("v"), min_size=cap + 1, max_size=cap + 2)
            )
            options.append(st.dictionaries(json_text, json_values, min_size=1, max_size=3))
    return st.one_of(options)


def _mismatches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is None


def documents(model: type[BaseModel], hints: Hints | None = None) -> SearchStrategy[Any]:
    """JSON documents shaped like `model`: valid ones, ones with exactly one field wrong, ones with any
    field wrong, a required field missing, unknown or forbidden fields added; now and then no object
    at all."""
    schema = model.model_json_schema()
    props: dict[str, dict[str, Any]] = schema["properties"]
    required = [n for n in props if n in schema.get("required", [])]
    optional = [n for n in props if n not in required]
    hints = hints or {}
    good = {
        n: st.one_of(hints[n], hints[n], valid_for(p)) if n in hints else valid_for(p)
        for n, p in props.items()
    }
    bad = {n: wrong_for(p) for n, p in props.items()}
    extra_names = st.sampled_from([*FORBIDDEN_FIELDS, *(n.upper() for n in props), "extra", "", "__proto__"])
    extras = st.dictionaries(extra_names | json_text, json_values, min_size=1, max_size=2)
    modes = ["valid"] * 4 + ["one wrong"] * 3 + ["any wrong", "missing", "extra"]

    @st.composite
    def shaped(draw: st.DrawFn) -> Any:
        mode = draw(st.sampled_from(modes))
        names = required + [n for n in optional if draw(st.booleans())]
        wrong = {draw(st.sampled_from(names))} if mode == "one wrong" and names else set()
        if mode == "any wrong":
            wrong = {n for n in names if draw(st.integers(0, 3)) == 0}
        document = {n: draw(bad[n] if n in wrong else good[n]) for n in names}
        if mode == "missing" and required:
            del document[draw(st.sampled_from(required))]
        elif mode == "extra":
            document.update(draw(extras))
        return document

    return st.one_of(shaped(), shaped(), shaped(), shaped(), shaped(), shaped(), json_values)


# --- encodings ----------------------------------------------------------------------------------------

ENCODINGS = [
    *["plain"] * 14,
    "duplicate-key",
    "huge-integer",
    "deep",
    "utf-16",
    "utf-32",
    "bom",
    "latin-1",
    "truncated",
    "trailing",
    "padded",
    "single-quotes",
    "oversize",
]


def _member(document_text: str, member: str, first: bool) -> str:
    """`document_text` (a JSON object) with `member` ("key": value) added first or last."""
    inner = document_text[1:-1].strip()
    if not inner:
        return "{" + member + "}"
    return "{" + (f"{member}, {inner}" if first else f"{inner}, {member}") + "}"


def encoded(documents: SearchStrategy[Any], limit: int) -> SearchStrategy[bytes]:
    """A document as bytes, in one of `ENCODINGS`; `limit` is the receiver's size limit."""

    @st.composite
    def encode(draw: st.DrawFn) -> bytes:
        document = draw(documents)
        text = json.dumps(document, ensure_ascii=draw(st.booleans()))
        how = draw(st.sampled_from(ENCODINGS))
        is_object = isinstance(document, dict)
        if how == "duplicate-key" and is_object and document:
            key = draw(st.sampled_from(sorted(document)))
            member = f"{json.dumps(key)}: {json.dumps(draw(json_values))}"
            text = _member(text, member, first=draw(st.booleans()))
        elif how == "huge-integer":
            digits = "9" * draw(st.integers(4_300, 6_000))
            if is_object:
                key = draw(st.sampled_from(sorted(document) or ["generation"]))
                text = _member(text, f"{json.dumps(key)}: {digits}", first=False)
            else:
                text = digits
        elif how == "deep":
            depth = draw(st.integers(100, limit // 3))
            opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
            text = opener * depth + text + closer * depth
        elif how == "single-quotes":
            text = text.replace('"', "'")
        raw = text.encode("utf-8", "surrogatepass")
        match how:
            case "utf-16" | "utf-32":
                raw = text.encode(draw(st.sampled_from([how, f"{how}-le", f"{how}-be"])), "surrogatepass")
            case "bom":
                raw = b"\xef\xbb\xbf" + raw
            case "latin-1":
                raw = text.encode("latin-1", "replace") + b"\xe9\xff"
            case "truncated":
                raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
            case "trailing":
                raw += draw(st.binary(min_size=1, max_size=12))
            case "padded":
                raw = b" \t\r\n" + raw + b"\n\n"
            case "oversize":
                raw += b" " * (limit + 1 - len(raw) + draw(st.integers(0, 2_000)))
        return raw

    return encode()


def raw_bytes(limit: int) -> SearchStrategy[bytes]:
    """Bytes that were never JSON, of any size around the limit."""
    return st.one_of(
        st.binary(max_size=400),
        st.integers(limit - 2, limit + 3).map(lambda n: b"{" + b" " * max(0, n - 2) + b"}"),
        st.integers(1, 3).map(lambda n: b"\x00" * (limit * n)),
    )


# --- HTTP ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request, as the host hands it to a function."""

    route: str
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    route_params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints the falsifying example with this
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"...(%d bytes)" % len(self.body)
        return (
            f"Call({self.route!r}, body={body!r}, params={self.params!r}, headers={self.headers!r}, "
            f"route_params={self.route_params!r})"
        )


#: route -> (method, path in docs/openapi.yaml)
ROUTES = {
    "copies.post": ("post", "/copies"),
    "copies.list": ("get", "/copies"),
    "copies.get": ("get", "/copies/{jobId}"),
    "copies.cancel": ("post", "/copies/{jobId}/cancel"),
    "webhooks.model-trained": ("post", "/webhooks/model-trained"),
    "sync": ("post", "/sync"),
    "status": ("get", "/status"),
}

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    " application/json ;",
    "text/json",
    "application/problem+json",
    "application/merge-patch+json",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    ";",
    "+json",
]


def content_type() -> SearchStrategy[dict[str, str]]:
    """Mostly JSON, so that most bodies get to be read."""
    json_type = st.just({"content-type": "application/json"})
    return st.one_of(
        json_type,
        json_type,
        json_type,
        json_type,
        st.sampled_from(CONTENT_TYPES).map(lambda c: {"content-type": c}),
        st.just({}),
        host_text.map(lambda c: {"Content-Type": c}),
    )


def _query_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(_query_value(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


@functools.cache
def _operations() -> dict[tuple[str, str], Any]:
    api = schemathesis.openapi.from_path(DOCUMENT)
    found = {}
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        found[(operation.method.lower(), operation.path)] = operation
    return found


def from_openapi(route: str) -> SearchStrategy[Call]:
    """Requests that schemathesis generates from docs/openapi.yaml, valid and invalid."""
    operation = _operations()[ROUTES[route]]

    def call(case: Any) -> Call:
        body = b""
        if case.body is not NOT_SET:
            body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        headers = {str(k): _query_value(v) for k, v in (case.headers or {}).items()}
        if case.media_type:
            headers["content-type"] = case.media_type
        return Call(
            route,
            body=body,
            params={str(k): _query_value(v) for k, v in (case.query or {}).items()},
            headers=headers,
            route_params={str(k): unquote(_query_value(v)) for k, v in (case.path_parameters or {}).items()},
        )

    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    return st.one_of([operation.as_strategy(generation_mode=m).map(call) for m in modes])


def params(known: dict[str, SearchStrategy[str]] | None = None) -> SearchStrategy[dict[str, str]]:
    """Query parameters: the route's own (each present or not, with a value it knows or any string),
    now and then with others (in another case, the function key's ``code``, anything)."""
    known = known or {}
    own = st.fixed_dictionaries({}, optional={n: st.one_of(v, v, host_text) for n, v in known.items()})
    names = st.sampled_from([*(n.upper() for n in known), "code", "$filter", "x"]) | host_text
    others = st.dictionaries(names, host_text, min_size=1, max_size=2)
    return st.one_of(own, own, own, st.builds(lambda a, b: {**b, **a}, own, others))


def job_ids(h: Harness) -> SearchStrategy[str]:
    """Ids of the pool's jobs, of no job, and not ids at all."""
    pool = st.integers(0, 1_000).map(h.job_at)
    return st.one_of(
        pool,
        pool,
        pool.map(str.upper),
        pool.map(lambda j: j + "\n"),
        pool.map(lambda j: j[:-1]),
        st.from_regex(r"[0-9a-f]{13,40}", fullmatch=True),
        host_text,
    )


def alias_lists() -> SearchStrategy[str]:
    names = st.sampled_from([*ALIASES, "WESTUS2", " northeurope ", "mars", "", ","]) | host_text
    return st.lists(names, max_size=4).map(",".join)


def copy_bodies() -> SearchStrategy[Any]:
    aliases = st.sampled_from([*ALIASES, "PRIMARY", "mars", ""])
    secondaries = st.sampled_from([["westus2"], ["northeurope"], ["westus2", "northeurope"], ["WestUS2"]])
    return documents(
        CopyBody,
        {
            "sourceId": st.sampled_from(KNOWN_IDS),
            "source": st.sampled_from(["primary", "primary", "PRIMARY", ""]) | aliases,
            "targets": secondaries | st.lists(aliases, min_size=1, max_size=3),
            "tags": st.one_of(
                st.dictionaries(st.sampled_from(["team", "env", "Team"]), st.text(max_size=20), max_size=3),
                st.tuples(st.integers(1, 50), st.integers(1, 1_300)).map(
                    lambda size: {f"tag{i}": "v" * size[1] for i in range(size[0])}
                ),
            ),
            "description": st.integers(0, 4096).map(lambda n: "d" * n),
        },
    )


def trained_bodies() -> SearchStrategy[Any]:
    return documents(
        TrainedBody, {"id": st.sampled_from(KNOWN_IDS), "source": st.sampled_from([*ALIASES, "PRIMARY", "x"])}
    )


def json_body(documents: SearchStrategy[Any]) -> SearchStrategy[bytes]:
    return st.one_of(
        encoded(documents, MAX_BODY_BYTES), encoded(documents, MAX_BODY_BYTES), raw_bytes(MAX_BODY_BYTES)
    )


def signed(route: str) -> SearchStrategy[Call]:
    """Webhook requests: bodies with a signature that is right, right in upper case, of other bytes,
    of another secret, malformed, or missing."""

    @st.composite
    def build(draw: st.DrawFn) -> Call:
        body = draw(json_body(trained_bodies()))
        right = sign(SECRET, body)
        wrong = st.one_of(
            st.just("sha256=" + right[7:].upper()),
            st.just(f" {right} "),
            st.binary(max_size=20).map(lambda other: sign(SECRET, other)),
            st.just(sign("another-secret", body)),
            st.just(right[:-1]),
            st.just(right.replace("sha256=", "sha1=")),
            st.just(f"{right}, {right}"),
            host_text,
            st.none(),
        )
        signature = draw(st.one_of(st.just(right), st.just(right), st.just(right), wrong))
        headers = draw(content_type())
        if signature is not None:
            headers[draw(st.sampled_from([SIGNATURE_HEADER, SIGNATURE_HEADER.lower()]))] = signature
        return Call(route, body=body, headers=headers, params=draw(params()))

    return build()


def http_calls(route: str, h: Harness) -> SearchStrategy[Call]:
    """Every kind of request for one route."""
    statuses = st.sampled_from([s.value for s in JobStatus] + ["Succeeded", "done"])
    limits = st.one_of(
        st.integers(-2, 600).map(str),
        st.sampled_from(["1.5", "1e3", " 5", "0x10", "+5", "05", "5_0"]),
        st.text(st.sampled_from(ISDIGIT), min_size=1, max_size=3),
        st.integers(4_000, 5_000).map(lambda n: "1" * n),
    )
    flags = st.sampled_from(["true", "false", "TRUE", "1", "0", "yes", "no", "", "maybe", "truee"])
    states = ["present", "missing", "stale", "orphan", "blocked", "Missing", "gone", ""]
    item_states = st.lists(st.sampled_from(states), max_size=4).map(",".join)
    tokens = st.one_of(
        st.builds(encode_token, st.sampled_from(["westus2", "northeurope", "nowhere"]), st.none()),
        st.builds(
            encode_token,
            st.just("westus2"),
            st.dictionaries(st.sampled_from(["PartitionKey", "RowKey"]), st.text(max_size=20)),
        ),
        st.text(max_size=60),
    )
    any_params = params()
    job = job_ids(h).map(lambda j: {"jobId": j})
    handmade: dict[str, SearchStrategy[Call]] = {
        "copies.post": st.builds(
            Call, st.just(route), body=json_body(copy_bodies()), params=any_params, headers=content_type()
        ),
        "copies.list": st.builds(Call, st.just(route), params=params({"status": statuses, "limit": limits})),
        "copies.get": st.builds(Call, st.just(route), route_params=job, params=any_params),
        "copies.cancel": st.builds(
            Call, st.just(route), route_params=job, params=any_params, body=st.binary(max_size=40)
        ),
        "webhooks.model-trained": signed(route),
        "sync": st.builds(Call, st.just(route), params=params({"dryRun": flags, "targets": alias_lists()})),
        "status": st.builds(
            Call,
            st.just(route),
            params=params(
                {
                    "targets": alias_lists(),
                    "target": alias_lists(),
                    "state": item_states,
                    "pageSize": limits,
                    "continuationToken": tokens,
                }
            ),
        ),
    }
    generated = from_openapi(route)
    if route == "webhooks.model-trained":  # most of them signed, so that they get past the signature
        generated = generated.flatmap(lambda c: st.sampled_from([with_signature(c), with_signature(c), c]))
    return st.one_of(generated, handmade[route], handmade[route])


def with_signature(call: Call) -> Call:
    return replace(call, headers={**call.headers, SIGNATURE_HEADER: sign(SECRET, call.body)})


# --- queue messages ---------------------------------------------------------------------------------


def message_bodies(model: type[BaseModel], h: Harness) -> SearchStrategy[bytes]:
    """Bodies for a queue of `model` messages: well-formed ones for the pool's jobs (current or stale
    generation), almost-well-formed ones, and bytes."""
    job = st.integers(0, 1_000).map(h.job_at)
    hints: Hints = {"job_id": job, "generation": st.integers(0, 6), "attempt": st.integers(0, 3)}
    fixed = {
        n: st.just(p["const"]) for n, p in model.model_json_schema()["properties"].items() if "const" in p
    }
    well_formed = st.fixed_dictionaries({**fixed, **{n: hints[n] for n in model.model_fields if n in hints}})
    return st.one_of(
        well_formed.map(lambda d: json.dumps(d).encode()),
        encoded(documents(model, hints), MAX_MESSAGE_BYTES),
        encoded(documents(model, hints), MAX_MESSAGE_BYTES),
        encoded(documents(model, hints), MAX_MESSAGE_BYTES),
        raw_bytes(MAX_MESSAGE_BYTES),
    )


def poison_bodies(h: Harness) -> SearchStrategy[bytes]:
    return st.one_of(message_bodies(CopyRequestMessage, h), message_bodies(PollMessage, h))


# --- Event Grid events ----------------------------------------------------------------------------


def events(schema: str) -> SearchStrategy[dict[str, Any]]:
    """Events as a custom topic delivers them (CloudEvents 1.0 or Event Grid schema), with data as an
    object, JSON text, base64 (CloudEvents), missing or anything, and envelopes bent."""
    from tests.api.webhook_helpers import cloud_event, grid_event

    make: Callable[..., dict[str, Any]] = cloud_event if schema == "cloudevents" else grid_event
    type_key = "type" if schema == "cloudevents" else "eventType"
    forms = ["object", "object", "object", "text", "text", "absent", "any"]
    if schema == "cloudevents":
        forms += ["base64", "base64", "bad-base64"]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        form = draw(st.sampled_from(forms))
        document = draw(trained_bodies())
        event = make(
            document, type=draw(st.sampled_from([MODEL_TRAINED] * 4 + ["Microsoft.Storage.BlobCreated"]))
        )
        if form in ("text", "base64"):
            raw = draw(encoded(st.just(document), MAX_BODY_BYTES))
            if form == "text":
                event["data"] = raw.decode("utf-8", "replace")
            else:
                del event["data"]
                event["data_base64"] = base64.b64encode(raw).decode()
        elif form == "bad-base64":
            del event["data"]
            event["data_base64"] = draw(st.one_of(host_text, json_scalars))
        elif form == "absent":
            del event["data"]
        elif form == "any":
            event["data"] = draw(json_values)
        # Envelopes bent: members other than the data and the type dropped or of any type, members
        # added; now and then the type too. Never the time, which the worker itself parses.
        envelope = sorted(set(event) - {"specversion", "time", "eventTime", "data", "data_base64", type_key})
        for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
            key = draw(st.sampled_from(envelope) | host_text.filter(lambda k: k not in event))
            if draw(st.booleans()) and key in event:
                del event[key]
            else:
                event[key] = draw(json_values)
        if draw(st.integers(0, 9)) == 0:
            event[type_key] = draw(json_scalars)
        return event

    return build()
