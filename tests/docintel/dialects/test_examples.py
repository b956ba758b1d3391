"""Every official REST example of every API version parses into the normalized models.

The examples are verbatim copies of the x-ms-examples in Azure/azure-rest-api-specs
(tests/docintel/examples/SOURCES.md). Each file is handled by exactly one check below, and a
test fails if a file has no check, so new examples cannot be silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from shared.docintel import CopyAuthorization, ItemKind, OperationStatus
from shared.docintel.dialects import Dialect, Reply, dialect_for
from shared.docintel.ratelimit import LimitClass
from tests.docintel.conftest import EXAMPLES, example, example_body

V3_V4 = ["2022-08-31", "2023-07-31", "2024-02-29-preview", "2024-07-31-preview", "2024-11-30"]
ENDPOINT = "https://myendpoint.cognitiveservices.azure.com"


def dialect(version: str) -> Dialect:
    return dialect_for(
        ENDPOINT,
        version,
        resource_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/t",
        region="westus2",
        alias="a",
    )


def reply(status: int, body: object = None, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, httpx.Headers(headers or {}), body)


# -- v3 / v4 checks --------------------------------------------------------------------------


def check_authorize_model(version: str, name: str) -> None:
    data = example(version, name)
    body = data["responses"]["200"]["body"]
    d = dialect(version)
    request = d.authorize_copy(
        ItemKind.MODEL, data["parameters"]["authorizeCopyRequest"]["modelId"], None, None
    )
    assert request.method == "POST" and request.limit_class is LimitClass.MANAGEMENT
    assert request.url.endswith(f"/documentModels:authorizeCopy?api-version={version}")
    auth = d.parse_authorization(ItemKind.MODEL, "ignored", reply(200, body))
    assert auth.kind is ItemKind.MODEL
    assert auth.target_id == body["targetModelId"]
    assert auth.target_resource_id == body["targetResourceId"]
    assert auth.target_region == body["targetResourceRegion"]
    assert auth.target_location == body["targetModelLocation"]
    assert auth.expires_at == datetime(2021, 9, 23, 9, 12, 54, 552000, tzinfo=UTC)
    assert auth.access_token.get_secret_value() == body["accessToken"]
    assert auth.api_version == version
    assert auth.expiration_ticks is None


def check_authorize_classifier(version: str, name: str) -> None:
    data = example(version, name)
    body = data["responses"]["200"]["body"]
    d = dialect(version)
    request = d.authorize_copy(ItemKind.CLASSIFIER, "targetClassifier", "Target classifier description", None)
    assert request.url.endswith(f"/documentClassifiers:authorizeCopy?api-version={version}")
    assert request.json == data["parameters"]["authorizeCopyRequest"]
    auth = d.parse_authorization(ItemKind.CLASSIFIER, "ignored", reply(200, body))
    assert auth.kind is ItemKind.CLASSIFIER
    assert auth.target_id == "targetClassifier"
    assert auth.target_location == body["targetClassifierLocation"]


def _copy_roundtrip(version: str, name: str, kind: ItemKind, source_field: str) -> None:
    """The copy request body is the authorization exactly as the target issued it."""
    data = example(version, name)
    copy_to = data["parameters"]["copyToRequest"]
    d = dialect(version)
    auth = d.parse_authorization(kind, "x", reply(200, copy_to))
    request = d.start_copy(kind, data["parameters"][source_field], auth, allow_degrade=False)
    assert request.method == "POST" and not request.safe_to_resend
    collection = "documentClassifiers" if kind is ItemKind.CLASSIFIER else "documentModels"
    assert f"/{collection}/{data['parameters'][source_field]}:copyTo?api-version=" in request.url
    assert request.json == copy_to
    assert "x-ms-forms-copy-degrade" not in request.headers
    degraded = d.start_copy(kind, data["parameters"][source_field], auth, allow_degrade=True)
    assert degraded.headers["x-ms-forms-copy-degrade"] == "true"
    location = data["responses"]["202"]["headers"]["Operation-Location"]
    assert d.parse_start_copy(reply(202, None, {"Operation-Location": location})) == location


def check_copy_model(version: str, name: str) -> None:
    _copy_roundtrip(version, name, ItemKind.MODEL, "modelId")


def check_copy_classifier(version: str, name: str) -> None:
    _copy_roundtrip(version, name, ItemKind.CLASSIFIER, "classifierId")


def check_get_operation(version: str, name: str) -> None:
    body = example_body(version, name)
    url = f"{ENDPOINT}/x/operations/{body['operationId']}?api-version={version}"
    op = dialect(version).parse_operation(url, reply(200, body), 3.0)
    assert op.url == url
    assert op.status is OperationStatus.SUCCEEDED and op.status.is_terminal
    assert op.percent_completed == 100
    assert op.retry_after == 3.0
    assert op.created_at == datetime(2021, 9, 23, 9, 12, 57, tzinfo=UTC)
    assert op.last_updated_at == datetime(2021, 9, 23, 9, 13, 1, tzinfo=UTC)
    assert op.resource_location == body["resourceLocation"]
    assert op.operation_kind == body["kind"]
    assert op.error is None
    assert op.result is not None
    if body["kind"].startswith("documentClassifier"):
        assert op.result.kind is ItemKind.CLASSIFIER
        assert op.result.id == body["result"]["classifierId"]
        assert op.result.doc_types == ["formA", "formB"]
    else:
        assert op.result.kind is ItemKind.MODEL
        assert op.result.id == body["result"]["modelId"]
    assert op.target_id == op.result.id


def check_get_operations(version: str, name: str) -> None:
    body = example_body(version, name)
    summary = body["value"][0]
    op = dialect(version).parse_operation("u", reply(200, summary), None)
    assert op.status is OperationStatus.RUNNING and not op.status.is_terminal
    assert op.percent_completed == 0
    assert op.result is None
    # No result: the target id comes from resourceLocation.
    assert op.target_id == summary["resourceLocation"].rsplit("/", 1)[-1]


def check_get_model(version: str, name: str) -> None:
    body = example_body(version, name)
    d = dialect(version)
    request = d.get_item(ItemKind.MODEL, "myCustomModel")
    assert request.method == "GET" and "/documentModels/myCustomModel?api-version=" in request.url
    item = d.parse_item(ItemKind.MODEL, body)
    assert item.kind is ItemKind.MODEL
    assert item.id == body["modelId"]
    assert item.description == body["description"]
    assert item.created_at == datetime(2021, 9, 24, 12, 54, 35, tzinfo=UTC)
    assert item.api_version == body["apiVersion"]
    assert item.tags == body["tags"]
    assert item.doc_types == list(body["docTypes"])
    assert item.build_mode == "template"
    assert item.component_ids == [] and item.classifier_id is None
    assert item.ready and not item.is_prebuilt and not item.legacy_v21
    if "expirationDateTime" in body:
        assert item.expires_at == datetime(2023, 1, 1, tzinfo=UTC)


def check_list_models(version: str, name: str) -> None:
    body = example_body(version, name)
    d = dialect(version)
    assert d.list_items(ItemKind.MODEL).limit_class is LimitClass.LIST
    items, next_link = d.parse_page(ItemKind.MODEL, body)
    assert [i.id for i in items] == ["prebuilt-layout", "myCustomModel"]
    assert items[0].is_prebuilt and not items[1].is_prebuilt
    assert next_link is not None and next_link == body["nextLink"]
    assert "api-version=" in d.next_page(ItemKind.MODEL, next_link).url


def check_get_classifier(version: str, name: str) -> None:
    body = example_body(version, name)
    d = dialect(version)
    assert (
        "/documentClassifiers/myClassifier?api-version="
        in d.get_item(ItemKind.CLASSIFIER, "myClassifier").url
    )
    item = d.parse_item(ItemKind.CLASSIFIER, body)
    assert item.kind is ItemKind.CLASSIFIER
    assert item.id == "myClassifier"
    assert item.doc_types == ["formA", "formB"]
    assert item.expires_at == datetime(2023, 1, 1, tzinfo=UTC)
    assert item.tags == {} and item.component_ids == [] and item.build_mode is None


def check_list_classifiers(version: str, name: str) -> None:
    body = example_body(version, name)
    items, next_link = dialect(version).parse_page(ItemKind.CLASSIFIER, body)
    assert [i.id for i in items] == ["classifier1", "classifier2"]
    assert all(i.kind is ItemKind.CLASSIFIER for i in items)
    assert next_link == body["nextLink"]


def check_delete(version: str, name: str) -> None:
    data = example(version, name)
    kind = ItemKind.CLASSIFIER if "Classifier" in name else ItemKind.MODEL
    item_id = data["parameters"].get("classifierId") or data["parameters"]["modelId"]
    request = dialect(version).delete_item(kind, item_id)
    assert request.method == "DELETE"
    assert 204 in request.expect
    assert request.limit_class is LimitClass.MANAGEMENT


def check_resource_details(version: str, name: str) -> None:
    d = dialect(version)
    request = d.get_quota()
    assert request.url.endswith(f"/info?api-version={version}")
    quota = d.parse_quota(example_body(version, name))
    assert (quota.count, quota.limit, quota.available) == (2, 13, 11)


V3_CHECKS: dict[str, Callable[[str, str], None]] = {
    "AuthorizeCopyDocumentModel": check_authorize_model,
    "AuthorizeCopyDocumentClassifier": check_authorize_classifier,
    "CopyDocumentModelTo": check_copy_model,
    "CopyDocumentClassifierTo": check_copy_classifier,
    "GetOperation": check_get_operation,
    "GetOperation_DocumentModelCopyTo": check_get_operation,
    "GetOperation_DocumentClassifierCopyTo": check_get_operation,
    "GetOperations": check_get_operations,
    "GetDocumentModel_Custom": check_get_model,
    "GetDocumentModels": check_list_models,
    "GetDocumentClassifier": check_get_classifier,
    "GetDocumentClassifiers": check_list_classifiers,
    "DeleteDocumentModel": check_delete,
    "DeleteDocumentClassifier": check_delete,
    "GetResourceDetails": check_resource_details,
}

V3_CASES = [(v, p.stem) for v in V3_V4 for p in sorted((EXAMPLES / v).glob("*.json"))]


@pytest.mark.parametrize(("version", "name"), V3_CASES)
def test_v3_v4_example_parses(version: str, name: str) -> None:
    assert name in V3_CHECKS, f"no check for example {version}/{name}"
    V3_CHECKS[name](version, name)


def test_v4_uses_the_documentintelligence_prefix_and_v3_the_formrecognizer_prefix() -> None:
    assert (
        "/documentintelligence/documentModels/m?" in dialect("2024-11-30").get_item(ItemKind.MODEL, "m").url
    )
    assert "/formrecognizer/documentModels/m?" in dialect("2023-07-31").get_item(ItemKind.MODEL, "m").url


# -- v2.1 checks -----------------------------------------------------------------------------


def test_v21_authorization_takes_the_guid_from_the_target_and_identity_from_configuration() -> None:
    data = example("v2.1", "CopyModelAuthorization")
    d = dialect("v2.1")
    request = d.authorize_copy(ItemKind.MODEL, "caller-id-is-ignored", "ignored", {"ignored": "x"})
    assert request.url == f"{ENDPOINT}/formrecognizer/v2.1/custom/models/copyAuthorization"
    assert request.json == {}
    assert 201 in request.expect
    response = data["responses"]["201"]
    auth = d.parse_authorization(
        ItemKind.MODEL, "caller-id-is-ignored", reply(201, response["body"], response["headers"])
    )
    assert auth.target_id == "f973e3c1-1148-43bb-bea8-49d0603ab3a8"
    assert auth.target_location == response["headers"]["Location"]
    assert auth.target_resource_id.endswith("/accounts/t") and auth.target_region == "westus2"
    assert auth.expiration_ticks == 86400
    assert auth.api_version == "2.1"


def test_v21_copy_body_matches_the_example() -> None:
    data = example("v2.1", "CopyModel")
    copy_request = data["parameters"]["copyRequest"]
    d = dialect_for(
        ENDPOINT,
        "2.1",
        resource_id=copy_request["targetResourceId"],
        region=copy_request["targetResourceRegion"],
    )
    auth = d.parse_authorization(ItemKind.MODEL, "x", reply(201, copy_request["copyAuthorization"]))
    request = d.start_copy(ItemKind.MODEL, data["parameters"]["modelId"], auth, allow_degrade=False)
    assert request.url == f"{ENDPOINT}/formrecognizer/v2.1/custom/models/{data['parameters']['modelId']}/copy"
    assert request.json == copy_request
    assert not request.safe_to_resend
    location = data["responses"]["202"]["headers"]["Operation-Location"]
    assert d.parse_start_copy(reply(202, None, {"operation-location": location})) == location


def test_v21_copy_result_succeeded() -> None:
    op = dialect("v2.1").parse_operation("u", reply(200, example_body("v2.1", "CopyOperationResult")), None)
    assert op.status is OperationStatus.SUCCEEDED
    assert op.target_id == "f973e3c1-1148-43bb-bea8-49d0603ab3a8"
    assert op.error is None and op.result is None and op.percent_completed is None
    assert op.created_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_v21_copy_result_with_errors() -> None:
    op = dialect("v2.1").parse_operation(
        "u", reply(200, example_body("v2.1", "CopyOperationResultWithErrors")), None
    )
    assert op.status is OperationStatus.FAILED
    assert op.error is not None
    assert (op.error.code, op.error.message) == ("ResourceResolverError", "{ErrorMessage}")


def test_v21_copy_result_without_model_id_is_tolerated() -> None:
    # The MS how-to shows "copyResult": {} on success.
    body = {
        "status": "succeeded",
        "createdDateTime": "2020-01-01T00:00:00Z",
        "lastUpdatedDateTime": "x",
        "copyResult": {},
    }
    op = dialect("v2.1").parse_operation("u", reply(200, body), None)
    assert op.status is OperationStatus.SUCCEEDED and op.target_id is None


def test_v21_composed_model() -> None:
    d = dialect("v2.1")
    assert d.get_item(ItemKind.MODEL, "m").url == f"{ENDPOINT}/formrecognizer/v2.1/custom/models/m"
    item = d.parse_item(ItemKind.MODEL, example_body("v2.1", "GetModel"))
    assert item.id == "f973e3c1-1148-43bb-bea8-49d0603ab3a8"
    assert item.description == "my composed model"
    assert item.component_ids == [
        "4afb20d6-3ed0-4cde-ba40-dbd6207268dd",
        "6f841356-aa32-42c9-a739-2182c47b79c9",
    ]
    assert item.ready and item.legacy_v21 and item.status == "ready"
    assert item.tags == {} and item.api_version == "2.1"
    assert item.created_at == datetime(2019, 5, 1, 10, 53, 21, tzinfo=UTC)


def test_v21_model_list_last_page_has_empty_next_link() -> None:
    d = dialect("v2.1")
    assert d.list_items(ItemKind.MODEL).url == f"{ENDPOINT}/formrecognizer/v2.1/custom/models?op=full"
    items, next_link = d.parse_page(ItemKind.MODEL, example_body("v2.1", "GetModels"))
    assert [i.id for i in items] == [
        "f973e3c1-1148-43bb-bea8-49d0603ab3a8",
        "f973e3c1-0001-43bb-bea8-49d0603ab3a8",
    ]
    assert next_link is None
    assert all(i.legacy_v21 and i.ready for i in items)


def test_v21_summary_and_delete() -> None:
    d = dialect("v2.1")
    assert d.get_quota().url.endswith("/custom/models?op=summary")
    assert d.parse_quota(example_body("v2.1", "GetModelsSummary")).model_dump() == {"count": 5, "limit": 5000}
    assert example("v2.1", "DeleteModel")["responses"]["204"] == {}
    request = d.delete_item(ItemKind.MODEL, "f973e3c1-1148-43bb-bea8-49d0603ab3a8")
    assert request.method == "DELETE" and request.url.endswith(
        "/custom/models/f973e3c1-1148-43bb-bea8-49d0603ab3a8"
    )


def test_every_v21_example_is_covered() -> None:
    covered = {
        "CopyModel",
        "CopyModelAuthorization",
        "CopyOperationResult",
        "CopyOperationResultWithErrors",
        "DeleteModel",
        "GetModel",
        "GetModels",
        "GetModelsSummary",
    }
    assert {p.stem for p in (EXAMPLES / "v2.1").glob("*.json")} == covered


def test_v3_authorization_cannot_be_used_on_v21_and_vice_versa() -> None:
    from shared.docintel import AuthorizationClaimsInvalid

    v4_auth = dialect("2024-11-30").parse_authorization(
        ItemKind.MODEL, "x", reply(200, example_body("2024-11-30", "AuthorizeCopyDocumentModel"))
    )
    with pytest.raises(AuthorizationClaimsInvalid):
        dialect("2.1").start_copy(ItemKind.MODEL, "m", v4_auth, allow_degrade=False)
    v21_auth = dialect("2.1").parse_authorization(
        ItemKind.MODEL, "x", reply(201, example_body("v2.1", "CopyModelAuthorization", "201"))
    )
    with pytest.raises(AuthorizationClaimsInvalid):
        dialect("2024-11-30").start_copy(ItemKind.MODEL, "m", v21_auth, allow_degrade=False)
    with pytest.raises(AuthorizationClaimsInvalid):
        dialect("2024-11-30").start_copy(ItemKind.CLASSIFIER, "c", v4_auth, allow_degrade=False)


def test_authorization_from_examples_round_trips_through_the_job_row() -> None:
    auth = dialect("2024-11-30").parse_authorization(
        ItemKind.MODEL, "x", reply(200, example_body("2024-11-30", "AuthorizeCopyDocumentModel"))
    )
    assert CopyAuthorization.from_secret_json(auth.to_secret_json()) == auth
