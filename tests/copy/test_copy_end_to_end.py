"""A model and a classifier copied end to end by the real functions over Azurite and emulators."""

from __future__ import annotations

from shared.copy.jobs import JobStatus
from shared.copy.provenance import read_provenance
from shared.copy.service import CopyRequest
from shared.docintel import ItemKind
from tests.copy.test_completion import validate_copy_event
from tests.stack import target_item, unique


async def test_a_model_reaches_every_target_with_one_event_per_job(stack, emulators):
    model_id = unique("invoice")
    emulators["primary"].seed(
        {"models": [{"modelId": model_id, "description": "Invoices", "tags": {"team": "ap"}}]}
    )

    outcomes = await stack.service.submit(
        CopyRequest(
            kind=ItemKind.MODEL,
            source_id=model_id,
            source_alias="primary",
            targets=["westus2", "northeurope"],
        )
    )
    job_ids = [o.job.job_id for o in outcomes]
    jobs = await stack.run_to_end(job_ids)

    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    for target in ("westus2", "northeurope"):
        item = target_item(emulators[target], "models", model_id)
        assert item is not None, target
        assert item["description"] == "Invoices"
        assert item["tags"]["team"] == "ap"
        provenance = read_provenance(item["tags"])
        assert provenance is not None and provenance.source_id == model_id
    assert sorted(stack.events.ids()) == sorted(f"copy-{j}" for j in job_ids)
    assert {e["type"] for e in stack.events.events} == {"docintel-dr.copy.succeeded"}
    assert all(j.polls >= 1 for j in jobs)
    for event in stack.events.events:
        validate_copy_event(event)


async def test_a_classifier_is_copied_too(stack, emulators):
    classifier_id = unique("sorter")
    emulators["primary"].seed({"classifiers": [{"classifierId": classifier_id}]})

    outcomes = await stack.service.submit(
        CopyRequest(
            kind=ItemKind.CLASSIFIER, source_id=classifier_id, source_alias="primary", targets=["westus2"]
        )
    )
    [job] = await stack.run_to_end([outcomes[0].job.job_id])

    assert job.status is JobStatus.SUCCEEDED
    assert target_item(emulators["westus2"], "classifiers", classifier_id) is not None
    assert stack.events.events[0]["data"]["kind"] == "classifier"
