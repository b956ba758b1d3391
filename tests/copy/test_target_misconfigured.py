"""A target configured with the wrong region, end to end: the service accepts the copy and fails it
later with error 2024 ("could not retrieve authorization metadata", recorded for v2.1, where the
copy request names the target's region from the configuration). A fresh authorization fails the same
way, and the job ends at once as TargetMisconfigured, naming the settings to fix: no loop of new
authorizations, no "already used"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.copy.jobs import JobStatus
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import PipelineStack, stack_settings, start_stack, target_item

# The emulator fails a wrong-region copy after 24 s, as recorded; a test need not wait that long.
FAILURE_SECONDS = 0.5


def v21(alias: str) -> str:
    return f"DR_RESOURCES__{alias}__API_VERSION"


@pytest.fixture
async def misconfigured(azurite: Any, emulators: Any) -> AsyncIterator[PipelineStack]:
    source = emulators["primary"]
    source.register_peer(emulators["westus2"])  # v2.1 names the target by ARM id alone
    before = source.config()["wrongRegionFailureSeconds"]
    source.configure(wrongRegionFailureSeconds=FAILURE_SECONDS)
    settings = stack_settings(
        azurite,
        emulators,
        **{v21(alias): "2.1" for alias in ("PRIMARY", "WESTUS2", "NORTHEUROPE")},
        DR_RESOURCES__WESTUS2__REGION="eastus",  # the resource at the endpoint is in westus2
    )
    stack = await start_stack(settings)
    try:
        yield stack
    finally:
        await stack.aclose()
        source.configure(wrongRegionFailureSeconds=before)


async def test_a_wrong_target_region_fails_the_job_as_target_misconfigured(
    misconfigured: PipelineStack, emulators: Any
) -> None:
    model_id = str(uuid.uuid4())
    source = emulators["primary"]
    source.seed({"models": [{"modelId": model_id, "apiVersion": "2.1", "modelName": "legacy"}]})

    [outcome] = await misconfigured.service.submit(
        CopyRequest(kind=ItemKind.MODEL, source_id=model_id, source_alias="primary", targets=["westus2"])
    )
    assert outcome.job is not None
    [job] = await misconfigured.run_to_end([outcome.job.job_id])

    assert job.status is JobStatus.FAILED and job.error_code == "TargetMisconfigured"
    message = job.error_message or ""
    assert "DR_RESOURCES__WESTUS2__RESOURCE_ID" in message and "DR_RESOURCES__WESTUS2__REGION" in message
    assert "already used" not in message
    # One fresh authorization, then the verdict: each copy the service accepted failed with 2024.
    assert job.reauthorizations == 1
    copies = [op for op in source.items()["operations"] if op["sourceId"] == model_id]
    assert len(copies) == 2
    assert all(op["status"] == "failed" and op["failure"] == "2024" for op in copies)
    assert target_item(emulators["westus2"], "v21Models", job.target_id) is None
    [event] = misconfigured.events.events
    assert event["type"] == "docintel-dr.copy.failed"
    assert event["data"]["error"]["code"] == "TargetMisconfigured"
