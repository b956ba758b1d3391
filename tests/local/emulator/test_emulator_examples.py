"""Fidelity against the official REST examples (every version) and the swagger specs (where stored)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from emulator_testlib import authorize, copy_to, params, poll, prefix
from swagger_check import SPEC_VERSIONS, response_schema, validate

from local.emulator.versions import VERSIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "reference" / "docintel-examples"
CASES = sorted((p.parent.name, p.name) for p in EXAMPLES.glob("*/*.json"))
assert len(CASES) >= 60, f"the official examples are missing from {EXAMPLES}"
MAP_KEYS = {"docTypes", "fieldSchema", "fieldConfidence", "tags", "clusters"}
ID_LIKE = re.compile(r"^(\{[^}]*\}|[0-9a-fA-F-]{36}|\d+_[0-9a-f-]{36})$")

# example name -> (method, spec path) for the swagger check; the 2024-11-30 overloads live in x-ms-paths
SPEC_ROUTES: dict[str, tuple[str, str]] = {
    "CopyModelAuthorization": ("post", "/custom/models/copyAuthorization"),
    "CopyOperationResult": ("get", "/custom/models/{modelId}/copyResults/{resultId}"),
    "CopyOperationResultWithErrors": ("get", "/custom/models/{modelId}/copyResults/{resultId}"),
    "GetModel": ("get", "/custom/models/{modelId}"),
    "GetModels": ("get", "/custom/models?op=full"),
    "GetModelsSummary": ("get", "/custom/models?op=summary"),
    "AuthorizeCopyDocumentModel": ("post", "/documentModels:authorizeCopy"),
    "AuthorizeCopyDocumentClassifier": ("post", "/documentClassifiers:authorizeCopy"),
    "GetDocumentModel_Custom": ("get", "/documentModels/{modelId}"),
    "GetDocumentModels": ("get", "/documentModels"),
    "GetDocumentClassifier": ("get", "/documentClassifiers/{classifierId}"),
    "GetDocumentClassifiers": ("get", "/documentClassifiers"),
    "GetOperations": ("get", "/operations"),
    "GetResourceDetails": ("get", "/info"),
    "GetOperation": ("get", "/operations/{operationId}"),
    "GetOperation_DocumentModelCopyTo": ("get", "/operations/{operationId}"),
    "GetOperation_DocumentClassifierCopyTo": ("get", "/operations/{operationId}"),
}
OVERLOADS_2411 = {
    "GetOperation": "getOperation",
    "GetOperation_DocumentModelCopyTo": "getDocumentModelCopyToOperation",
    "GetOperation_DocumentClassifierCopyTo": "getDocumentClassifierCopyToOperation",
}


def deb(s: str) -> str:
    """'{customModelId}' -> 'customModelId' (placeholders are not valid ids)."""
    return s.strip("{}") if isinstance(s, str) else s


def recorded_absence(exp: dict[str, Any], key: str, ver: str) -> bool:
    """Where the real service (tests/reference/recordings) leaves out a field the example shows."""
    if key == "apiVersion" and "operationId" in exp:
        return not VERSIONS[ver].operation_api_version  # no operation-level apiVersion before 2024
    if key == "percentCompleted" and "operationId" in exp:
        return exp.get("status") in ("notStarted", "running")  # no progress before the end
    # a v2.1 copy result that succeeded has no "errors" (the example shows [])
    return key == "errors" and ver == "v2.1" and exp[key] == []


def shape_errors(exp: Any, act: Any, ver: str, where: str = "$") -> list[str]:
    v = VERSIONS[ver]
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            return [f"{where}: expected object, got {type(act).__name__}"]
        errs = []
        for k, ev in exp.items():
            if k == "nextLink":
                continue  # present only when there is a next page; paging is tested in the controls tests
            if k not in act and recorded_absence(exp, k, ver):
                continue
            if k not in act:
                errs.append(f"{where}.{k}: missing")
            elif k in MAP_KEYS and where.rsplit(".", 1)[-1] not in MAP_KEYS:
                if not isinstance(act[k], dict):
                    errs.append(f"{where}.{k}: expected map")
                elif ev and act[k]:
                    errs += shape_errors(
                        next(iter(ev.values())), next(iter(act[k].values())), ver, f"{where}.{k}.*"
                    )
            else:
                errs += shape_errors(ev, act[k], ver, f"{where}.{k}")
                if k == "status" and ver != "v2.1" and "operationId" in exp:
                    assert act[k] in v.statuses, act[k]
                if k == "kind":
                    assert act[k] in v.kinds, act[k]
                if k == "buildMode":
                    assert act[k] in ("template", "neural"), act[k]
        return errs
    if isinstance(exp, list):
        if not isinstance(act, list):
            return [f"{where}: expected array"]
        if not exp or not act:
            return []
        errs = []
        for i, e in enumerate(exp):
            if all(shape_errors(e, a, ver) for a in act):
                errs.append(f"{where}[{i}]: no matching item in {act}")
        return errs
    kinds = {bool: "bool", int: "number", float: "number", str: "string", type(None): "null"}
    if kinds[type(exp)] != kinds[type(act)]:
        return [f"{where}: {kinds[type(exp)]} expected, got {act!r}"]
    return []


def url_shape(url: str, ver: str) -> tuple[list[str], list[tuple[str, str]]]:
    url = (
        url.replace("{apiVersion}", ver)
        .replace("{endpoint}", "http://host")
        .replace("{targetEndpoint}", "http://host")
    )
    parts = urlsplit(url)
    # v2.1 says "copyresults" in Operation-Location (recorded), the example "copyResults"
    segs = [
        "*" if ID_LIKE.match(s) else s.replace("copyResults", "copyresults") for s in parts.path.split("/")
    ]
    return segs, sorted(parse_qsl(parts.query))


async def run_example(pair, ver: str, name: str, ex: dict[str, Any]) -> httpx.Response:
    p = ex["parameters"]
    s, t, src, dst = pair.s, pair.t, pair.src, pair.dst
    q = params(ver)
    pre = prefix(ver)
    resp_body = next(iter(ex["responses"].values())).get("body")
    if ver == "v2.1":
        mid = p.get("modelId")
        if name == "CopyModelAuthorization":
            return await authorize(t, ver)
        if name == "CopyModel":
            src.seed({"models": [{"modelId": mid, "apiVersion": "2.1"}]})
            auth = (await authorize(t, ver)).json()
            body = {**p["copyRequest"], "targetResourceId": dst.resource_id, "copyAuthorization": auth}
            return await s.post(f"{pre}/custom/models/{mid}/copy", json=body)
        if name.startswith("CopyOperationResult"):
            src.seed({"models": [{"modelId": mid, "apiVersion": "2.1"}]})
            if name.endswith("WithErrors"):
                src.configure({"copyFailureRate": 1.0})
            auth = (await authorize(t, ver)).json()
            r = await copy_to(s, ver, "model", mid, auth, dst.resource_id, "westus2")
            await poll(s, r.headers["Operation-Location"])
            return await s.get(r.headers["Operation-Location"])
        if name == "DeleteModel":
            src.seed({"models": [{"modelId": mid, "apiVersion": "2.1"}]})
            return await s.delete(f"{pre}/custom/models/{mid}")
        if name == "GetModel":
            info = resp_body["modelInfo"]
            src.seed(
                {
                    "models": [
                        {
                            **info,
                            "apiVersion": "2.1",
                            "keys": resp_body["keys"],
                            "trainResult": resp_body["trainResult"],
                            "composedTrainResults": resp_body["composedTrainResults"],
                        }
                    ]
                }
            )
            return await s.get(f"{pre}/custom/models/{info['modelId']}", params={"includeKeys": "true"})
        if name in ("GetModels", "GetModelsSummary"):
            src.seed({"models": [{**m, "apiVersion": "2.1"} for m in (resp_body.get("modelList") or [])]})
            return await s.get(f"{pre}/custom/models", params={"op": p["op"]})
        raise AssertionError(name)
    if name in ("AuthorizeCopyDocumentModel", "AuthorizeCopyDocumentClassifier"):
        body = {k: deb(v) for k, v in p["authorizeCopyRequest"].items()}
        coll = "documentModels" if "Model" in name else "documentClassifiers"
        return await t.post(f"{pre}/{coll}:authorizeCopy", params=q, json=body)
    if name in ("CopyDocumentModelTo", "CopyDocumentClassifierTo"):
        kind = "model" if "Model" in name else "classifier"
        sid = deb(p["modelId" if kind == "model" else "classifierId"])
        tid = deb(p["copyToRequest"]["targetModelId" if kind == "model" else "targetClassifierId"])
        src.seed(
            {"models": [{"modelId": sid}]} if kind == "model" else {"classifiers": [{"classifierId": sid}]}
        )
        auth = (await authorize(t, ver, kind, tid)).json()
        assert set(auth) == set(p["copyToRequest"])
        return await copy_to(s, ver, kind, sid, auth)
    if name.startswith("Delete"):
        kind = "model" if "Model" in name else "classifier"
        iid = deb(p["modelId" if kind == "model" else "classifierId"])
        src.seed(
            {"models": [{"modelId": iid}]} if kind == "model" else {"classifiers": [{"classifierId": iid}]}
        )
        coll = "documentModels" if kind == "model" else "documentClassifiers"
        return await s.delete(f"{pre}/{coll}/{iid}", params=q)
    if name == "GetDocumentModel_Custom":
        src.seed({"models": [{**resp_body, "modelId": deb(resp_body["modelId"])}]})
        return await s.get(f"{pre}/documentModels/{deb(p['modelId'])}", params=q)
    if name == "GetDocumentModels":
        src.seed({"models": [m for m in resp_body["value"] if not m["modelId"].startswith("prebuilt-")]})
        return await s.get(f"{pre}/documentModels", params=q)
    if name == "GetDocumentClassifier":
        src.seed({"classifiers": [resp_body]})
        return await s.get(f"{pre}/documentClassifiers/{p['classifierId']}", params=q)
    if name == "GetDocumentClassifiers":
        src.seed({"classifiers": resp_body["value"]})
        return await s.get(f"{pre}/documentClassifiers", params=q)
    if name == "GetResourceDetails":
        return await s.get(f"{pre}/info", params=q)
    if name.startswith("GetOperation"):
        kind = "classifier" if "Classifier" in name else "model"
        sid = "src-classifier" if kind == "classifier" else "src-model"
        auth = (await authorize(t, ver, kind, "op-target")).json()
        r = await copy_to(s, ver, kind, sid, auth)
        assert r.status_code == 202, r.text
        await poll(s, r.headers["Operation-Location"])
        if name == "GetOperations":
            return await s.get(f"{pre}/operations", params=q)
        return await s.get(r.headers["Operation-Location"])
    raise AssertionError(name)


@pytest.mark.parametrize("ver,filename", CASES, ids=[f"{v}/{f}" for v, f in CASES])
async def test_example(pair, ver, filename):
    ex = json.loads((EXAMPLES / ver / filename).read_text(encoding="utf-8-sig"))
    name = filename.removesuffix(".json")
    ((status, expected),) = ex["responses"].items()
    r = await run_example(pair, ver, name, ex)
    assert r.status_code == int(status), r.text
    assert "apim-request-id" in r.headers
    if "body" in expected:
        exp_body = json.loads(json.dumps(expected["body"]).replace("{apiVersion}", ver))
        errs = shape_errors(exp_body, r.json(), ver)
        assert not errs, errs
    else:
        assert r.content == b""
    for h, value in (expected.get("headers") or {}).items():
        assert h in r.headers, h
        assert url_shape(r.headers[h], ver) == url_shape(value, ver), (r.headers[h], value)
    if status == "202":
        assert "Retry-After" not in r.headers  # declared by the 2024-* specs, never sent (recorded)
    if ver in SPEC_VERSIONS and name in SPEC_ROUTES and "body" in expected:
        method, path = SPEC_ROUTES[name]
        if ver == "2024-11-30" and name in OVERLOADS_2411:
            path = f"{path}?_overload={OVERLOADS_2411[name]}"
        schema = response_schema(ver, method, path, status)
        assert schema is not None
        validate(ver, schema, r.json())
