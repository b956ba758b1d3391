"""Live responses that the examples do not cover, validated against the stored swagger specs."""

from __future__ import annotations

import jsonschema
import pytest
from emulator_testlib import V21_SOURCE_ID, authorize, copy_to, get_item, params, poll, prefix
from swagger_check import response_schema, validate


def test_the_checker_rejects_unknown_and_wrong_fields():
    schema = response_schema("2024-11-30", "get", "/documentModels/{modelId}", "200")
    with pytest.raises(AssertionError):
        validate(
            "2024-11-30", schema, {"modelId": "m1", "createdDateTime": "2024-01-01T00:00:00Z", "bogus": 1}
        )
    with pytest.raises(jsonschema.ValidationError):
        validate("2024-11-30", schema, {"modelId": "m1"})


@pytest.mark.parametrize("ver", ["2023-07-31", "2024-11-30"])
async def test_operation_states_and_errors_validate(pair, ver):
    pre, q = prefix(ver), params(ver)
    op_path = "/operations/{operationId}" + ("?_overload=getOperation" if ver == "2024-11-30" else "")
    op_schema = response_schema(ver, "get", op_path, "200")
    err_schema = response_schema(ver, "get", "/info", "default")
    pair.src.configure({"copyDurationSeconds": 100})
    auth = (await authorize(pair.t, ver, "model", "tgt")).json()
    r = await copy_to(pair.s, ver, "model", "src-model", auth)
    loc = r.headers["Operation-Location"]
    validate(ver, op_schema, (await pair.s.get(loc)).json())  # notStarted
    pair.src.advance_clock(50)
    validate(ver, op_schema, (await pair.s.get(loc)).json())  # running
    pair.src.advance_clock(60)
    done = (await pair.s.get(loc)).json()
    assert done["status"] == "succeeded"
    validate(ver, op_schema, done)
    # a failed operation
    pair.src.configure({"copyDurationSeconds": 0.1, "copyFailureRate": 1.0})
    auth = (await authorize(pair.t, ver, "model", "tgt2")).json()
    failed = await poll(
        pair.s, (await copy_to(pair.s, ver, "model", "src-model", auth)).headers["Operation-Location"]
    )
    assert failed["status"] == "failed"
    validate(ver, op_schema, failed)
    # lists and items, including prebuilt models, neural and composed models
    validate(
        ver,
        response_schema(ver, "get", "/operations", "200"),
        (await pair.s.get(f"{pre}/operations", params=q)).json(),
    )
    validate(
        ver,
        response_schema(ver, "get", "/documentModels", "200"),
        (await pair.s.get(f"{pre}/documentModels", params=q)).json(),
    )
    for mid in ("src-model", "src-neural", "src-composed", "prebuilt-layout"):
        validate(
            ver,
            response_schema(ver, "get", "/documentModels/{modelId}", "200"),
            (await get_item(pair.s, ver, "model", mid)).json(),
        )
    validate(
        ver,
        response_schema(ver, "get", "/documentClassifiers/{classifierId}", "200"),
        (await get_item(pair.s, ver, "classifier", "src-classifier")).json(),
    )
    # error envelopes
    for resp in (
        await get_item(pair.s, ver, "model", "missing"),
        await authorize(pair.t, ver, "model", "bad id"),
        await authorize(pair.t, ver, "model", "tgt"),
        await copy_to(pair.s, ver, "model", "src-model", {**auth, "targetModelId": "zz"}),
    ):
        if resp.status_code >= 400:
            validate(ver, err_schema, resp.json())


async def test_v21_responses_validate(pair):
    ver = "v2.1"
    r = await authorize(pair.t, ver)
    validate(ver, response_schema(ver, "post", "/custom/models/copyAuthorization", "201"), r.json())
    pair.src.configure({"copyDurationSeconds": 100})
    r = await copy_to(pair.s, ver, "model", V21_SOURCE_ID, r.json(), pair.dst.resource_id, "westus2")
    schema = response_schema(ver, "get", "/custom/models/{modelId}/copyResults/{resultId}", "200")
    validate(ver, schema, (await pair.s.get(r.headers["Operation-Location"])).json())
    pair.src.advance_clock(200)
    validate(ver, schema, (await pair.s.get(r.headers["Operation-Location"])).json())
    validate(
        ver,
        response_schema(ver, "get", "/custom/models/{modelId}", "200"),
        (await get_item(pair.s, ver, "model", V21_SOURCE_ID)).json(),
    )
    validate(
        ver,
        response_schema(ver, "get", "/custom/models?op=full", "200"),
        (await pair.s.get(f"{prefix(ver)}/custom/models", params={"op": "full"})).json(),
    )
    e = await get_item(pair.s, ver, "model", "00000000-0000-0000-0000-000000000000")
    validate(ver, response_schema(ver, "get", "/custom/models/{modelId}", "default"), e.json())
