"""Which Document Intelligence operation a request is, per API version: the route, its
rate-limit / fault group and its path parameters. Anything else is the service's bare 404
(``route_not_found``), including a missing or unknown ``api-version``."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import route_not_found
from .versions import V21, VERSIONS, Version

# Route names: one DI handler each (``server.EmulatorApp`` maps them).
LIST_OPERATIONS = "list_operations"
GET_OPERATION = "get_operation"
INFO = "info"
LIST_ITEMS = "list_items"
AUTHORIZE = "authorize"
GET_ITEM = "get_item"
DELETE_ITEM = "delete_item"
COPY = "copy"
V21_LIST = "v21_list"
V21_COPY_RESULT = "v21_copy_result"

_V21_PREFIX = VERSIONS[V21].prefix
_COLLECTIONS = {"documentModels": "model", "documentClassifiers": "classifier"}
# (what follows the collection name, method) -> (group, route): /documentModels, /documentModels:authorizeCopy
_COLLECTION_ROUTES = {
    ("", "GET"): ("list", LIST_ITEMS),
    (":authorizeCopy", "POST"): ("management", AUTHORIZE),
}
# (action after "{id}:", method) -> (group, route): /documentModels/{id}, /documentModels/{id}:copyTo
_ITEM_ROUTES = {
    ("", "GET"): ("management", GET_ITEM),
    ("", "DELETE"): ("management", DELETE_ITEM),
    ("copyTo", "POST"): ("management", COPY),
}
_COPY_ROUTES = {AUTHORIZE, COPY}
_V21_MODEL_ROUTES = {"GET": GET_ITEM, "DELETE": DELETE_ITEM}


@dataclass(frozen=True)
class Match:
    group: str  # rate-limit and fault group: management | list | status
    route: str
    params: tuple[str, ...] = ()


def resolve(method: str, path: str, api_version: str | None) -> tuple[Version, Match]:
    if path.startswith(_V21_PREFIX + "/"):
        match = _v21(method, path[len(_V21_PREFIX) :].strip("/").split("/"))
        if match is None:
            raise route_not_found()
        return VERSIONS[V21], match
    ver = VERSIONS.get(api_version) if api_version and api_version != V21 else None
    if ver is None or not path.startswith(ver.prefix + "/"):
        # inferred: a missing/unknown api-version or a prefix of another version -> APIM-level 404
        raise route_not_found()
    match = _v3(ver, method, path[len(ver.prefix) + 1 :].split("/"))
    if match is None:
        raise route_not_found()
    return ver, match


# --- 2022-08-31 and later -----------------------------------------------------------------------


def _v3(ver: Version, method: str, segs: list[str]) -> Match | None:
    head = segs[0]
    if head == "operations":
        return _operations(method, segs)
    if head == "info":
        return Match("list", INFO) if len(segs) == 1 and method == "GET" else None
    collection, sep, action = head.partition(":")
    kind = _COLLECTIONS.get(collection)
    if kind is None or (kind == "classifier" and not ver.classifiers):
        return None
    match = _collection(kind, method, segs, sep + action)
    if match is not None and match.route in _COPY_ROUTES and kind == "classifier" and not ver.classifier_copy:
        return None
    return match


def _operations(method: str, segs: list[str]) -> Match | None:
    if method != "GET":
        return None
    if len(segs) == 1:
        return Match("list", LIST_OPERATIONS)
    if len(segs) == 2 and segs[1]:
        return Match("status", GET_OPERATION, (segs[1],))
    return None


def _collection(kind: str, method: str, segs: list[str], suffix: str) -> Match | None:
    if len(segs) == 1:
        found = _COLLECTION_ROUTES.get((suffix, method))
        params: tuple[str, ...] = (kind,)
    elif len(segs) == 2 and not suffix and not segs[1].startswith(":") and segs[1]:
        # an empty id ("documentModels/:copyTo") is the gateway's 404 (recorded)
        item, _, action = segs[1].partition(":")
        found = _ITEM_ROUTES.get((action, method))
        params = (kind, item)
    else:
        return None
    return Match(found[0], found[1], params) if found is not None else None


# --- v2.1 ---------------------------------------------------------------------------------------


def _v21(method: str, segs: list[str]) -> Match | None:
    if segs[:2] != ["custom", "models"]:
        return None
    tail = segs[2:]
    n = len(tail)
    if n == 0:
        return Match("list", V21_LIST) if method == "GET" else None
    if n == 1:
        return _v21_model(method, tail[0])
    if n == 2 and tail[1] == "copy" and method == "POST":
        return Match("management", COPY, ("v21", tail[0]))
    if n == 3 and tail[1].lower() == "copyresults" and method == "GET":
        return Match("status", V21_COPY_RESULT, (tail[0], tail[2]))
    return None


def _v21_model(method: str, model_id: str) -> Match | None:
    if model_id == "copyAuthorization" and method == "POST":
        return Match("management", AUTHORIZE, ("v21",))
    route = _V21_MODEL_ROUTES.get(method)
    return Match("management", route, ("v21", model_id)) if route is not None else None
