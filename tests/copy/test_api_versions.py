"""The pipeline does not know which API version a resource speaks: a v2.1 model and a model over the
2023-07-31 (/formrecognizer) dialect are copied by the same functions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.copy.jobs import JobStatus
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.stack import PipelineStack, stack_settings, start_stack, submitted_job_ids, target_item


def versions(version: str) -> dict[str, str]:
    return {f"DR_RESOURCES__{alias}__API_VERSION": version for alias in ("PRIMARY", "WESTUS2", "NORTHEUROPE")}


@pytest.fixture
async def v21_stack(azurite, emulators) -> AsyncIterator[PipelineStack]:
    # A v2.1 authorization does not name its target resource: the source must know the target.
    emulators["primary"].register_peer(emulators["westus2"])
    stack = await start_stack(stack_settings(azurite, emulators, **versions("2.1")))
    yield stack
    await stack.aclose()


async def test_a_v21_model_is_copied_under_the_guid_the_target_mints(v21_stack, emulators):
    model_id = str(uuid.uuid4())
    emulators["primary"].seed({"models": [{"modelId": model_id, "apiVersion": "2.1", "modelName": "legacy"}]})

    [outcome] = await v21_stack.service.submit(
        CopyRequest(kind=ItemKind.MODEL, source_id=model_id, source_alias="primary", targets=["westus2"])
    )
    [job] = await v21_stack.run_to_end([outcome.job.job_id])

    assert job.status is JobStatus.SUCCEEDED
    assert job.target_id != model_id  # v2.1: the target mints the id
    assert target_item(emulators["westus2"], "v21Models", job.target_id) is not None
    assert [e["data"]["target"]["id"] for e in v21_stack.events.events] == [job.target_id]


async def test_a_model_is_copied_over_the_formrecognizer_dialect(azurite, emulators):
    stack = await start_stack(stack_settings(azurite, emulators, **versions("2023-07-31")))
    try:
        model_id = f"fr-{uuid.uuid4().hex[:8]}"
        emulators["primary"].seed({"models": [{"modelId": model_id}]})
        outcomes = await stack.service.submit(
            CopyRequest(
                kind=ItemKind.MODEL,
                source_id=model_id,
                source_alias="primary",
                targets=["westus2", "northeurope"],
            )
        )
        jobs = await stack.run_to_end(submitted_job_ids(outcomes))
    finally:
        await stack.aclose()
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 2
    assert target_item(emulators["northeurope"], "models", model_id) is not None
