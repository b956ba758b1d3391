"""Every row of the error table: status, error code, and no half-made item left at the target."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
from emulator_testlib import V21_SOURCE_ID, authorize, copy_to, get_item, params, poll, prefix

V = "2024-11-30"
AUTH_DOC = (
    "Could not retrieve authorization metadata. "
    "If this issue persists use a different target model to copy into."
)


def err(r, status, code, inner=None):
    assert r.status_code == status, r.text
    e = r.json()["error"]
    assert e["code"] == code, e
    if inner is not None:
        assert e["innererror"]["code"] == inner, e
    return e


def no_half_made(pair, target_id, kind="model"):
    store = {"model": pair.dst.models, "classifier": pair.dst.classifiers, "v21": pair.dst.v21_models}[kind]
    assert target_id not in store
    assert (kind, target_id) not in pair.dst.reserved


@pytest.mark.parametrize("ver", ["2022-08-31", "2023-07-31", V])
async def test_malformed_copy_requests(pair, ver):
    auth = (await authorize(pair.t, ver, "model", "tgt")).json()
    for missing in ("accessToken", "targetModelId", "expirationDateTime"):
        body = {k: v for k, v in auth.items() if k != missing}
        e = err(await copy_to(pair.s, ver, "model", "src-model", body), 400, "1002", "InvalidParameter")
        assert missing in e["message"]
    r = await pair.s.post(
        f"{prefix(ver)}/documentModels/src-model:copyTo", params=params(ver), content=b"{nope"
    )
    err(r, 400, "1002", "InvalidParameter")
    e = err(await authorize(pair.t, ver, "model", "bad id!"), 400, "1002", "InvalidParameter")
    assert "modelId" in e["message"]
    e = err(
        await pair.t.get(f"{prefix(ver)}/documentModels/bad!id", params=params(ver)),
        400,
        "InvalidRequest",
        "InvalidParameter",
    )
    assert "modelId" in e["message"]
    assert "tgt" not in pair.dst.models


async def test_v21_errors_use_v21_envelope(pair):
    missing = "00000000-0000-0000-0000-000000000001"
    r = await pair.s.get(f"{prefix('v2.1')}/custom/models/{missing}")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "1022", "message": f"Model with 'id={missing}' not found."}}
    for method in (pair.s.delete, pair.s.get):
        assert (await method(f"{prefix('v2.1')}/custom/models/{missing}")).json()["error"]["code"] == "1022"


async def test_v21_copy_body_is_checked_before_the_source_model(pair):
    """As recorded: a copy of a model that does not exist, with a target id that is no ARM id."""
    body = {
        "targetResourceId": "resourceId",
        "targetResourceRegion": "westcentralus",
        "copyAuthorization": {"modelId": "x", "accessToken": "t", "expirationDateTimeTicks": 1591932653},
    }
    r = await pair.s.post(
        f"{prefix('v2.1')}/custom/models/00000000-0000-0000-0000-000000000000/copy", json=body
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": "1002",
            "message": "Copy request is invalid. Field 'TargetResourceId' must be a valid Azure Resource ID.",
        }
    }
    r = await copy_to(
        pair.s,
        "v2.1",
        "model",
        "00000000-0000-0000-0000-000000000000",
        (await authorize(pair.t, "v2.1")).json(),
        pair.dst.resource_id,
        "westus2",
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "1022"


def lifetime(r) -> float:
    """Seconds from the reply's Date to the authorization's expiry."""
    issued = parsedate_to_datetime(r.headers["Date"]).timestamp()
    body = r.json()
    if "expirationDateTimeTicks" in body:
        return body["expirationDateTimeTicks"] - issued
    return datetime.fromisoformat(body["expirationDateTime"].replace("Z", "+00:00")).timestamp() - issued


@pytest.mark.parametrize("ver", ["2022-08-31", "2023-07-31", "2024-02-29-preview", V])
async def test_authorizations_last_one_hour(pair, ver):
    r = await authorize(pair.t, ver, "model", "tgt")
    assert lifetime(r) in (3600, 3601)  # whole seconds, rounded up, as the service does
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.json()["expirationDateTime"])
    pair.dst.advance_clock(3500)
    auth = r.json()
    ok = await copy_to(pair.s, ver, "model", "src-model", auth)
    assert ok.status_code == 202, ok.text


async def test_v21_authorizations_last_24_hours_in_unix_seconds(pair):
    r = await authorize(pair.t, "v2.1")
    assert lifetime(r) == 24 * 3600


async def test_authorization_expired(pair):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    pair.dst.advance_clock(3601)
    e = err(await copy_to(pair.s, V, "model", "src-model", auth), 400, "1002", "AuthorizationExpired")
    assert e["message"].startswith("The copy authorization has expired.")
    assert "one hour" in e["message"]
    no_half_made(pair, "tgt")
    assert (await authorize(pair.t, V, "model", "tgt")).status_code == 200  # id released


async def test_authorization_lifetime_can_be_set(pair):
    pair.dst.configure({"authorizationLifetimeSeconds": 24 * 3600})
    assert lifetime(await authorize(pair.t, V, "model", "tgt")) in (86400, 86401)


async def test_the_service_checks_what_an_authorization_says_not_its_bytes(pair):
    """SDKs send expirationDateTime back re-serialized (recorded: '.000Z', '.0000000Z')."""
    for suffix, target_id in ((".000Z", "tgt-1"), (".0000000Z", "tgt-2"), ("+00:00", "tgt-3")):
        auth = (await authorize(pair.t, V, "model", target_id)).json()
        auth["expirationDateTime"] = auth["expirationDateTime"].removesuffix("Z") + suffix
        rid, _, account = auth["targetResourceId"].rpartition("/")
        auth["targetResourceId"] = f"{rid}/{account.upper()}"  # ARM ids are case-insensitive
        r = await copy_to(pair.s, V, "model", "src-model", auth)
        assert r.status_code == 202, r.text
        assert (await poll(pair.s, r.headers["Operation-Location"]))["status"] == "succeeded"


@pytest.mark.parametrize(
    "field,value",
    [
        ("targetModelId", "other-id"),
        (
            "targetResourceId",
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.CognitiveServices/accounts/z",
        ),
        ("expirationDateTime", "2099-01-01T00:00:00Z"),
        ("accessToken", "forged-token"),
    ],
)
async def test_authorization_claims_modified(pair, field, value):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    e = err(
        await copy_to(pair.s, V, "model", "src-model", {**auth, field: value}),
        400,
        "1002",
        "InvalidAuthorizationClaims",
    )
    assert "authorization claims" in e["message"]
    assert "tgt" not in pair.dst.models and "other-id" not in pair.dst.models
    if field != "accessToken":  # a forged token names no authorization, so nothing is released
        no_half_made(pair, "tgt")


@pytest.mark.parametrize("ver", ["v2.1", "2023-07-31", V])
async def test_wrong_target_region_fails_after_24_seconds_with_2024(pair, ver):
    """Recorded for v2.1: accepted, notStarted for ~24 s, then failed with 2024 (inferred for v3/v4)."""
    auth = (await authorize(pair.t, ver, "model", "tgt")).json()
    source = V21_SOURCE_ID if ver == "v2.1" else "src-model"
    body = auth if ver == "v2.1" else {**auth, "targetResourceRegion": "westcentralus"}
    r = await copy_to(pair.s, ver, "model", source, body, pair.dst.resource_id, "westcentralus")
    assert r.status_code == 202, r.text
    loc = r.headers["Operation-Location"]
    pair.src.advance_clock(23)
    waiting = await pair.s.get(loc)
    assert waiting.json()["status"] == "notStarted" and "ms-azure-ai-errorcode" not in waiting.headers
    pair.src.advance_clock(1.01)
    failed = await pair.s.get(loc)
    assert failed.json()["status"] == "failed"
    assert failed.headers["ms-azure-ai-errorcode"] == "2024"
    if ver == "v2.1":
        assert failed.json()["copyResult"]["errors"] == [
            {
                "code": "2024",
                "innerError": {"requestId": failed.headers["apim-request-id"]},
                "message": AUTH_DOC,
            }
        ]
    else:
        assert failed.json()["error"] == {"code": "2024", "message": AUTH_DOC}
    # the target never heard of this copy: its authorization still holds the id
    assert pair.dst.authorizations.is_reserved(
        "v21" if ver == "v2.1" else "model", auth.get("modelId", "tgt")
    )


async def test_wrong_region_failure_time_is_a_tunable(pair):
    pair.src.configure({"wrongRegionFailureSeconds": 2})
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    r = await copy_to(pair.s, V, "model", "src-model", {**auth, "targetResourceRegion": "westcentralus"})
    pair.src.advance_clock(2.01)
    assert (await pair.s.get(r.headers["Operation-Location"])).json()["status"] == "failed"


async def test_authorization_reused_after_copy(pair):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    first = await copy_to(pair.s, V, "model", "src-model", auth)
    assert (await poll(pair.s, first.headers["Operation-Location"]))["status"] == "succeeded"
    created = dict(pair.dst.models["tgt"])
    again = await copy_to(pair.s, V, "model", "src-neural", auth)
    assert again.status_code == 202
    body = await poll(pair.s, again.headers["Operation-Location"])
    assert body["status"] == "failed" and "result" not in body
    assert body["error"] == {"code": "2024", "message": AUTH_DOC}
    assert pair.dst.models["tgt"] == created  # the first copy is untouched


async def test_v21_authorization_reused(pair):
    r = await authorize(pair.t, "v2.1")
    auth = r.json()
    for expected in ("succeeded", "failed"):
        r = await copy_to(pair.s, "v2.1", "model", V21_SOURCE_ID, auth, pair.dst.resource_id, "westus2")
        body = await poll(pair.s, r.headers["Operation-Location"])
        assert body["status"] == expected
    [error] = body["copyResult"]["errors"]
    assert error["code"] == "2024" and error["message"] == AUTH_DOC and error["innerError"]["requestId"]


@pytest.mark.parametrize(
    "kind,item,exists,reserved",
    [
        ("model", "src-model", "ModelExists", "ModelIdReserved"),
        ("classifier", "src-classifier", "ClassifierExists", "ClassifierIdReserved"),
    ],
)
async def test_reauthorize_conflicts(pair, kind, item, exists, reserved):
    assert (await authorize(pair.t, V, kind, "pending")).status_code == 200
    err(await authorize(pair.t, V, kind, "pending"), 409, "Conflict", reserved)
    pair.dst.seed(
        {
            ("models" if kind == "model" else "classifiers"): [
                {("modelId" if kind == "model" else "classifierId"): "taken"}
            ]
        }
    )
    err(await authorize(pair.t, V, kind, "taken"), 409, "Conflict", exists)


async def test_invalid_target_resource(pair):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    cases = [
        {**auth, "targetResourceId": "not-an-arm-id"},
        {
            **auth,
            "targetModelLocation": "http://nowhere.emulator.local/documentintelligence/documentModels/tgt",
        },
    ]
    for body in cases:
        e = err(await copy_to(pair.s, V, "model", "src-model", body), 400, "1002", "InvalidTargetResource")
        assert e["message"].startswith("Couldn't fetch information for Cognitive resource with ID")
    pair.dst.set_outage(True)
    err(await copy_to(pair.s, V, "model", "src-model", auth), 400, "1002", "InvalidTargetResource")
    pair.dst.set_outage(False)
    r = await copy_to(
        pair.s,
        "v2.1",
        "model",
        V21_SOURCE_ID,
        (await authorize(pair.t, "v2.1")).json(),
        "/subscriptions/a/resourceGroups/b/providers/Microsoft.CognitiveServices/accounts/c",
        "westus2",
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "1002"
    assert "tgt" not in pair.dst.models


async def test_cmk_downgrade_fails_without_header(pair):
    pair.src.configure({"cmk": True})
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    r = await copy_to(pair.s, V, "model", "src-model", auth)
    body = await poll(pair.s, r.headers["Operation-Location"])
    assert body["status"] == "failed"
    assert body["error"]["code"] == "DataProtectionTransformServiceError"
    assert "downgrades data protection" in body["error"]["message"]
    no_half_made(pair, "tgt")
    auth = (await authorize(pair.t, V, "model", "tgt")).json()  # the id was released
    r = await copy_to(pair.s, V, "model", "src-model", auth, headers={"x-ms-forms-copy-degrade": "true"})
    assert (await poll(pair.s, r.headers["Operation-Location"]))["status"] == "succeeded"


async def test_generic_copy_failure_releases_id_and_consumes_token(pair):
    pair.src.configure({"copyFailureRate": 1.0})
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    r = await copy_to(pair.s, V, "model", "src-model", auth)
    body = await poll(pair.s, r.headers["Operation-Location"])
    assert body["status"] == "failed" and body["error"]["code"] == "InternalServerError"
    no_half_made(pair, "tgt")
    pair.src.configure({"copyFailureRate": 0.0})
    r = await copy_to(pair.s, V, "model", "src-model", auth)  # the used token stays used
    assert (await poll(pair.s, r.headers["Operation-Location"]))["error"]["code"] == "2024"
    no_half_made(pair, "tgt")


async def test_quota_exceeded(pair):
    pair.dst.configure({"modelLimit": 2})
    assert (await authorize(pair.t, V, "model", "one")).status_code == 200
    assert (await authorize(pair.t, V, "model", "two")).status_code == 200
    e = err(await authorize(pair.t, V, "model", "three"), 400, "QuotaExceeded")
    assert "2" in e["message"]
    r = await pair.t.get("/documentintelligence/info", params=params(V))
    assert r.json()["customDocumentModels"] == {"count": 0, "limit": 2}


async def test_neural_quota_exceeded(pair):
    pair.dst.configure({"neuralLimit": 0})
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    err(await copy_to(pair.s, V, "model", "src-neural", auth), 400, "QuotaExceeded")
    no_half_made(pair, "tgt")


async def test_not_found(pair):
    not_found = {
        "error": {
            "code": "NotFound",
            "message": "Resource not found.",
            "innererror": {"code": "ModelNotFound", "message": "The requested model was not found."},
        }
    }
    r = await get_item(pair.s, V, "model", "missing")
    assert r.status_code == 404 and r.json() == not_found
    err(
        await pair.s.delete(f"{prefix(V)}/documentModels/missing", params=params(V)),
        404,
        "NotFound",
        "ModelNotFound",
    )
    # a classifier is "the requested model" too (recorded)
    r = await get_item(pair.s, V, "classifier", "missing")
    assert r.status_code == 404 and r.json() == not_found
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    err(await copy_to(pair.s, V, "model", "missing", auth), 404, "NotFound", "ModelNotFound")
    auth = (await authorize(pair.t, V, "classifier", "tgt")).json()
    err(await copy_to(pair.s, V, "classifier", "missing", auth), 404, "NotFound", "ModelNotFound")
    err(
        await pair.s.get(f"{prefix(V)}/operations/nope", params=params(V)),
        404,
        "NotFound",
        "OperationNotFound",
    )


@pytest.mark.parametrize("kind", ["model", "classifier"])
async def test_copy_from_an_id_only_reserved_here_is_not_ready(pair, kind):
    """Recorded: copyTo from an id that this resource has only authorized (being built or copied)."""
    await authorize(pair.s, V, kind, "incoming")  # a copy into the source is pending
    auth = (await authorize(pair.t, V, kind, "tgt")).json()
    r = await copy_to(pair.s, V, kind, "incoming", auth)
    assert r.status_code == 400 and r.json() == {
        "error": {
            "code": "InvalidRequest",
            "message": "Invalid request.",
            "innererror": {
                "code": "ModelNotReady",
                "message": "Model is not ready for the requested operation. "
                "Wait for training to complete or check for operation errors.",
            },
        }
    }


@pytest.mark.parametrize("collection", ["documentModels", "documentClassifiers"])
async def test_an_empty_id_is_the_gateways_404(pair, collection):
    r = await pair.s.post(f"{prefix(V)}/{collection}/:copyTo", params=params(V), json={})
    assert r.status_code == 404 and r.json() == {"error": {"code": "404", "message": "Resource not found"}}
    assert "x-ms-region" not in r.headers and "apim-request-id" in r.headers


@pytest.mark.parametrize(
    "ver,path",
    [
        ("2022-08-31", "/formrecognizer/documentClassifiers"),
        ("2023-07-31", "/formrecognizer/documentClassifiers:authorizeCopy"),
        ("2024-02-29-preview", "/documentintelligence/documentClassifiers:authorizeCopy"),
        ("2024-11-30", "/formrecognizer/documentModels"),
        ("1999-01-01", "/documentintelligence/documentModels"),
    ],
)
async def test_routes_missing_in_a_version(pair, ver, path):
    method = pair.t.post if path.endswith("Copy") else pair.t.get
    kwargs = {"json": {"classifierId": "x"}} if path.endswith("Copy") else {}
    r = await method(path, params={"api-version": ver}, **kwargs)
    assert r.status_code == 404 and r.json() == {"error": {"code": "404", "message": "Resource not found"}}


async def test_prebuilt_models_cannot_be_deleted_or_copied(pair):
    r = await pair.s.delete(f"{prefix(V)}/documentModels/prebuilt-layout", params=params(V))
    assert r.status_code == 400
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    err(await copy_to(pair.s, V, "model", "prebuilt-read", auth), 400, "1002")
    err(await authorize(pair.t, V, "model", "prebuilt-layout"), 409, "Conflict", "ModelExists")


def jwt(claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(claims)}.c2ln"


async def test_auth(pair):
    url = f"{prefix(V)}/info"
    r = await pair.s.get(url, params=params(V), headers={"Ocp-Apim-Subscription-Key": "wrong"})
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "code": "401",
            "message": (
                "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription "
                "and use a correct regional API endpoint for your resource."
            ),
        }
    }
    assert "apim-request-id" in r.headers
    c = pair.net.client(None, base_url=pair.src.endpoint)
    good = jwt({"aud": "https://cognitiveservices.azure.com", "exp": int(time.time()) + 3600})
    assert (
        await c.get(url, params=params(V), headers={"Authorization": f"Bearer {good}"})
    ).status_code == 200
    for bad in (
        jwt({"aud": "https://management.azure.com", "exp": int(time.time()) + 3600}),
        jwt({"aud": "https://cognitiveservices.azure.com", "exp": int(time.time()) - 10}),
        "not-a-jwt",
    ):
        assert (
            await c.get(url, params=params(V), headers={"Authorization": f"Bearer {bad}"})
        ).status_code == 401
    assert (await c.get(url, params=params(V))).status_code == 401
    pair.src.configure({"acceptAnyToken": True})
    other = jwt({"aud": "api://whatever"})
    assert (
        await c.get(url, params=params(V), headers={"Authorization": f"Bearer {other}"})
    ).status_code == 200
    await c.aclose()


async def test_headers(pair):
    r = await pair.s.get(f"{prefix(V)}/info", params=params(V), headers={"x-ms-client-request-id": "abc"})
    assert r.headers["x-ms-client-request-id"] == "abc"
    assert len(r.headers["apim-request-id"]) == 36
    assert r.headers["x-ms-region"] == "South Central US" and "azure-deprecating" not in r.headers
    assert parsedate_to_datetime(r.headers["Date"]).timestamp() == pytest.approx(pair.src.now(), abs=2)
    r = await pair.t.get(f"{prefix('v2.1')}/custom/models", params={"op": "summary"})
    assert r.headers["x-ms-region"] == "West US 2"
    assert r.headers["azure-deprecating"].startswith("API version 2.1 will retire on 2027-09-30.")
    r = await pair.s.get(
        "/formrecognizer/info",
        params={"api-version": "2023-07-31"},
        headers={"x-ms-client-request-id": "abc"},
    )
    assert "x-ms-client-request-id" not in r.headers


async def test_operation_records_expire_after_24h(pair):
    auth = (await authorize(pair.t, V, "model", "tgt")).json()
    r = await copy_to(pair.s, V, "model", "src-model", auth)
    loc = r.headers["Operation-Location"]
    assert (await poll(pair.s, loc))["status"] == "succeeded"
    pair.src.advance_clock(24 * 3600 + 1)
    err(await pair.s.get(loc), 404, "NotFound", "OperationNotFound")
    ops = await pair.s.get(f"{prefix(V)}/operations", params=params(V))
    assert ops.json()["value"] == []
