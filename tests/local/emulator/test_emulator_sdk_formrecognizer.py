"""The older official SDK (azure-ai-formrecognizer 3.3.3) works against the emulator unchanged:
API 2023-07-31 (DocumentModelAdministrationClient, which re-serializes the authorization's expiry)
and v2.1 (FormTrainingClient, whose copy names the target only by ARM id and region)."""

from __future__ import annotations

import pytest
from azure.ai.formrecognizer import DocumentModelAdministrationClient, FormTrainingClient
from azure.core.credentials import AzureKeyCredential
from emulator_testlib import DST_KEY, SRC_KEY, V21_SOURCE_ID, standard_seed

from local.emulator.process import run_emulator_process

POLL = 0.1  # seconds between polls: the service sends no Retry-After, the SDK's default is 1 s


@pytest.fixture(scope="module")
def emulators():
    with (
        run_emulator_process(
            "southcentralus", SRC_KEY, seed=standard_seed(), copy_duration=0.5, rate_limits="off"
        ) as src,
        run_emulator_process("westus2", DST_KEY, copy_duration=0.5, rate_limits="off") as dst,
    ):
        src.register_peer(dst)  # v2.1 finds the target by its ARM id
        yield src, dst


def test_a_2023_07_31_model_copy(emulators):
    src, dst = emulators
    source = DocumentModelAdministrationClient(
        src.endpoint, AzureKeyCredential(src.key), api_version="2023-07-31"
    )
    target = DocumentModelAdministrationClient(
        dst.endpoint, AzureKeyCredential(dst.key), api_version="2023-07-31"
    )
    with source, target:
        auth = target.get_copy_authorization(
            model_id="fr-model", description="via formrecognizer", tags={"by": "fr"}
        )
        poller = source.begin_copy_document_model_to("src-model", target=auth, polling_interval=POLL)
        model = poller.result()
        assert model.model_id == "fr-model" and model.description == "via formrecognizer"
        assert model.tags == {"by": "fr"} and model.api_version == "2023-07-31"
        assert model.doc_types is not None and model.doc_types["invoice"].build_mode == "template"
        details = poller.details  # parses the operation id and whole-second times
        assert details["operation_kind"] == "documentModelCopyTo" and details["percent_completed"] == 100
        assert details["created_on"] is not None
        assert target.get_document_model("fr-model").model_id == "fr-model"


def test_a_v21_copy_between_two_resources(emulators):
    src, dst = emulators
    source = FormTrainingClient(src.endpoint, AzureKeyCredential(src.key), api_version="2.1")
    target = FormTrainingClient(dst.endpoint, AzureKeyCredential(dst.key), api_version="2.1")
    with source, target:
        auth = target.get_copy_authorization(resource_id=dst.resource_id, resource_region="westus2")
        copied = source.begin_copy_model(V21_SOURCE_ID, target=auth, polling_interval=POLL).result()
        assert copied.model_id == auth["modelId"] and copied.status == "ready"
        model = target.get_custom_model(auth["modelId"])
        assert model.model_name == "legacy" and model.status == "ready"
