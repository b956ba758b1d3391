"""The official SDK (azure-ai-documentintelligence 1.0.2) works against the emulator unchanged."""

from __future__ import annotations

import pytest
from azure.ai.documentintelligence import DocumentIntelligenceAdministrationClient
from azure.ai.documentintelligence.models import AuthorizeClassifierCopyRequest, AuthorizeCopyRequest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from emulator_testlib import DST_KEY, SRC_KEY, standard_seed

from local.emulator.process import run_emulator_process


@pytest.fixture(scope="module")
def clients():
    with (
        run_emulator_process(
            "southcentralus", SRC_KEY, seed=standard_seed(), copy_duration=0.5, rate_limits="off", page_size=2
        ) as src,
        run_emulator_process("westus2", DST_KEY, copy_duration=0.5, rate_limits="off") as dst,
    ):
        # the service sends no Retry-After: the SDK polls at its interval (default 1 s)
        s = DocumentIntelligenceAdministrationClient(
            src.endpoint, AzureKeyCredential(src.key), polling_interval=0.1
        )
        t = DocumentIntelligenceAdministrationClient(
            dst.endpoint, AzureKeyCredential(dst.key), polling_interval=0.1
        )
        yield s, t
        s.close()
        t.close()


def test_sdk_copies_a_model(clients):
    s, t = clients
    auth = t.authorize_model_copy(
        AuthorizeCopyRequest(model_id="sdk-model", description="via sdk", tags={"by": "sdk"})
    )
    assert auth.target_model_id == "sdk-model"
    poller = s.begin_copy_model_to("src-model", auth)
    model = poller.result()
    assert model.model_id == "sdk-model" and model.description == "via sdk" and model.tags == {"by": "sdk"}
    assert poller.status() == "succeeded"
    got = t.get_model("sdk-model")
    assert got.doc_types["invoice"].build_mode == "template"


def test_sdk_copies_a_classifier(clients):
    s, t = clients
    auth = t.authorize_classifier_copy(AuthorizeClassifierCopyRequest(classifier_id="sdk-classifier"))
    classifier = s.begin_copy_classifier_to("src-classifier", auth).result()
    assert classifier.classifier_id == "sdk-classifier"
    assert t.get_classifier("sdk-classifier").doc_types


def test_sdk_sees_a_reused_authorization_refused(clients):
    s, t = clients
    auth = t.authorize_model_copy(AuthorizeCopyRequest(model_id="sdk-once"))
    s.begin_copy_model_to("src-model", auth).result()
    poller = s.begin_copy_model_to("src-neural", auth)  # accepted, then the operation fails
    with pytest.raises(HttpResponseError) as e:
        poller.result()
    assert poller.status() == "failed"
    assert "Could not retrieve authorization metadata" in str(e.value)
    assert t.get_model("sdk-once").doc_types["invoice"].build_mode == "template"  # the first copy stands


def test_sdk_reads_lists_and_deletes(clients):
    s, t = clients
    ids = [m.model_id for m in s.list_models()]  # page size 2: follows nextLink
    assert ids[:2] == ["prebuilt-layout", "prebuilt-read"] and "src-model" in ids and len(ids) == 5
    assert [c.classifier_id for c in s.list_classifiers()] == ["src-classifier"]
    info = s.get_resource_details()
    assert info.custom_document_models.limit == 5000
    ops = list(s.list_operations())
    assert all(o.kind in ("documentModelCopyTo", "documentClassifierCopyTo") for o in ops)
    if "sdk-model" in [m.model_id for m in t.list_models()]:
        t.delete_model("sdk-model")
    with pytest.raises(ResourceNotFoundError):
        t.get_model("sdk-model")


def test_sdk_sees_the_error_table(clients):
    s, t = clients
    auth = t.authorize_model_copy(AuthorizeCopyRequest(model_id="sdk-tampered"))
    auth.target_model_id = "something-else"
    with pytest.raises(HttpResponseError) as e:
        s.begin_copy_model_to("src-model", auth)
    assert e.value.error is not None
    assert e.value.status_code == 400 and e.value.error.code == "1002"
    assert e.value.error.innererror["code"] == "InvalidAuthorizationClaims"
    with pytest.raises(HttpResponseError) as e:
        t.authorize_classifier_copy(AuthorizeClassifierCopyRequest(classifier_id="sdk-classifier"))
    assert e.value.status_code == 409
