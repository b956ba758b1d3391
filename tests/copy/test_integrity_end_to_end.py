"""Integrity at the end of a copy: the pipeline reads the target item and compares its docTypes and
field schemas with the source's; a copy that differs fails as `TargetDiverged`, its status row says
``diverged`` (exposed), and the copy stays where it is. Driven by the real functions over Azurite
and emulator processes; the emulators' `divergeCopies` control makes one target's copy differ."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.emulator.process import EmulatorHandle
from shared.copy.jobs import JobStatus
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from shared.status.report import StatusQuery, status_report
from tests.copy.test_completion import validate_copy_event
from tests.stack import target_item, unique


@pytest.fixture
def diverging(emulators: dict[str, EmulatorHandle]) -> Iterator[EmulatorHandle]:
    """westus2, whose copies come out diverged until the test ends (the emulators are the session's)."""
    west = emulators["westus2"]
    west.configure(divergeCopies=["*"])
    yield west
    west.configure(divergeCopies=[])


async def test_a_copy_that_differs_from_its_source_fails_as_diverged(stack, emulators, diverging):
    model_id = unique("fields")
    fields = {"Total": {"type": "number"}, "Vendor": {"type": "string"}}
    emulators["primary"].seed(
        {
            "models": [
                {
                    "modelId": model_id,
                    "docTypes": {model_id: {"buildMode": "template", "fieldSchema": fields}},
                }
            ]
        }
    )

    outcomes = await stack.service.submit(
        CopyRequest(
            kind=ItemKind.MODEL,
            source_id=model_id,
            source_alias="primary",
            targets=["westus2", "northeurope"],
        )
    )
    jobs = {j.target_alias: j for j in await stack.run_to_end([o.job.job_id for o in outcomes if o.job])}

    west, north = jobs["westus2"], jobs["northeurope"]
    assert north.status is JobStatus.SUCCEEDED
    assert west.status is JobStatus.FAILED and west.error_code == "TargetDiverged"
    assert west.error_message is not None
    assert "docType '<own id>' has another field schema" in west.error_message
    assert "westus2" in west.error_message and "delete it there and copy again" in west.error_message
    # The copy stays at the target; the completion event says why the job failed.
    copied = target_item(emulators["westus2"], "models", model_id)
    assert copied is not None and "EmulatorDivergedField" in copied["docTypes"][model_id]["fieldSchema"]
    [failed] = [e for e in stack.events.events if e["data"]["jobId"] == west.job_id]
    assert failed["type"] == "docintel-dr.copy.failed"
    assert failed["data"]["error"]["code"] == "TargetDiverged"
    validate_copy_event(failed)
    # The status rows: diverged (exposed, with the job's error) at westus2, present at northeurope.
    status = stack.service.status
    report = await status_report(status, StatusQuery(["westus2"]), source_alias="primary")
    [row] = [i for i in report["items"] if i["sourceId"] == model_id]
    assert row["state"] == "diverged" and row["exposureSeconds"] is not None
    assert row["lastError"]["code"] == "TargetDiverged"
    assert report["targets"]["westus2"]["counts"]["diverged"] >= 1
    report = await status_report(status, StatusQuery(["northeurope"]), source_alias="primary")
    [row] = [i for i in report["items"] if i["sourceId"] == model_id]
    assert row["state"] == "present"


async def test_a_classifier_copy_with_another_docType_is_diverged(stack, emulators, diverging):
    classifier_id = unique("sorter")
    emulators["primary"].seed({"classifiers": [{"classifierId": classifier_id}]})

    outcomes = await stack.service.submit(
        CopyRequest(
            kind=ItemKind.CLASSIFIER, source_id=classifier_id, source_alias="primary", targets=["westus2"]
        )
    )
    [job] = await stack.run_to_end([o.job.job_id for o in outcomes if o.job])

    assert job.status is JobStatus.FAILED and job.error_code == "TargetDiverged"
    assert (
        job.error_message is not None
        and "docType 'emulator-diverged' is not in the source" in job.error_message
    )
