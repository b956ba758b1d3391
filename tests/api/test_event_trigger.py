"""The Event Grid trigger `model_trained_event`: the same request as the webhook, as an event of type
`docintel-dr.model.trained` from a custom topic, in CloudEvents 1.0 or in Event Grid schema.

Events are decoded exactly as the Python worker decodes them (azure-functions 1.26's converter), and
the real function is called. An event that cannot succeed must return normally (no exception: that
would make Event Grid redeliver the whole batch) and create nothing."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator

import azure.functions as func
import httpx
import pytest

import function_app
from local.stack import StackOptions, run_local_stack
from shared.api.webhooks import MODEL_TRAINED, TransientEventError
from shared.copy.jobs import JobStatus, Origin
from tests.api.webhook_helpers import as_worker_gives, cloud_event, grid_event, unique
from tests.stack import PipelineStack, eventually, stack_settings, start_stack, target_item

SCHEMAS = {"cloudevents": cloud_event, "eventgrid": grid_event}


@pytest.fixture
async def stack(azurite, emulators) -> AsyncIterator[PipelineStack]:
    # A webhook secret does not apply to events (Event Grid authenticates the delivery itself).
    stack = await start_stack(stack_settings(azurite, emulators, DR_WEBHOOK_SECRET="not-for-events"))
    yield stack
    await stack.aclose()


async def deliver(event: dict) -> None:
    await function_app.model_trained_event(as_worker_gives(event))


async def jobs_of(stack: PipelineStack) -> list:
    return await stack.service.jobs.list(limit=50)


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_a_model_trained_event_copies_the_item_to_every_target(stack, emulators, schema):
    model_id = unique(f"ev-{schema}")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    await deliver(SCHEMAS[schema]({"kind": "model", "id": model_id}))

    jobs = await jobs_of(stack)
    assert sorted(j.target_alias for j in jobs) == ["northeurope", "westus2"]
    done = await stack.run_to_end([j.job_id for j in jobs])
    assert {j.status for j in done} == {JobStatus.SUCCEEDED}
    assert {j.origin for j in done} == {Origin.EVENT}
    for alias in ("westus2", "northeurope"):
        assert target_item(emulators[alias], "models", model_id) is not None
    assert {e["data"]["origin"] for e in stack.events.events} == {"event"}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_an_event_delivered_to_the_host_webhook_is_copied_end_to_end(schema, tmp_path):
    """Through the local host as Event Grid delivers: the system key, a batch of one, and the trigger
    parameter the worker would give for that schema (a `func.CloudEvent` for CloudEvents)."""
    options = StackOptions(
        runner_port=0,
        emulator_ports=(0, 0, 0),
        copy_duration=0.3,
        rate_limits="off",
        events_file=tmp_path / "events.jsonl",
        settings_file=None,
    )
    with run_local_stack(options) as local:
        model_id = unique(f"hook-{schema}")
        local.emulators["primary"].seed({"models": [{"modelId": model_id}]})
        hook = f"{local.host.base_url}/runtime/webhooks/EventGrid"
        params = {"functionName": "model_trained_event", "code": local.host.eventgrid_key}
        event = SCHEMAS[schema]({"kind": "model", "id": model_id})
        delivered = httpx.post(hook, params=params, json=[event], headers={"aeg-event-type": "Notification"})
        assert delivered.status_code == 202

        api = httpx.Client(base_url=local.api_url, headers={"x-functions-key": local.function_key})

        def finished() -> list[dict] | None:
            jobs = [j for j in api.get("/copies").json()["jobs"] if j["source"]["id"] == model_id]
            return jobs if len(jobs) == 2 and all(j["finishedAt"] for j in jobs) else None

        jobs = eventually(finished, timeout=60, what="both copies finished")
    assert {(j["target"]["alias"], j["status"], j["origin"]) for j in jobs} == {
        ("westus2", "succeeded", "event"),
        ("northeurope", "succeeded", "event"),
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda body: json.dumps(body), id="json-text"),
        pytest.param(lambda body: json.dumps(body).encode(), id="json-bytes"),
    ],
)
async def test_data_sent_as_json_text_is_read(stack, emulators, data):
    model_id = unique("ev-text")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    event = func.CloudEvent(
        id="t1",
        source="/p",
        type=MODEL_TRAINED,
        specversion="1.0",
        data=data({"kind": "model", "id": model_id}),
    )

    await function_app.model_trained_event(event)

    assert len(await jobs_of(stack)) == 2


async def test_binary_data_in_data_base64_is_read(stack, emulators):
    model_id = unique("ev-b64")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    event = cloud_event(None)
    del event["data"]
    event["data_base64"] = base64.b64encode(json.dumps({"kind": "model", "id": model_id}).encode()).decode()

    await deliver(event)

    assert len(await jobs_of(stack)) == 2


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    "event_type", ["docintel-dr.copy.succeeded", "Microsoft.Storage.BlobCreated", "docintel-dr.model.Trained"]
)
async def test_other_event_types_are_ignored(stack, emulators, caplog, schema, event_type):
    model_id = unique("ev-other")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    caplog.set_level(logging.INFO, "docintel_dr.webhooks")

    await deliver(SCHEMAS[schema]({"kind": "model", "id": model_id}, type=event_type))

    assert await jobs_of(stack) == []
    assert f"type '{event_type}'" in caplog.text and "ignored" in caplog.text


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "must be a JSON object"),
        ("not json", "not a JSON object"),
        ([{"kind": "model", "id": "x1"}], "must be a JSON object"),
        ({"kind": "model"}, "id: Field required"),
        ({"id": "ok-id"}, "kind: Field required"),
        ({"kind": "prebuilt", "id": "ok-id"}, "kind"),
        ({"kind": "model", "id": "-bad id!"}, "id: String should match pattern"),
        ({"kind": "model", "id": "ok-id", "endpoint": "https://evil.example"}, "never takes an endpoint"),
        ({"kind": "model", "id": "ok-id", "source": "mars"}, "Unknown source alias 'mars'"),
    ],
)
async def test_malformed_data_is_logged_with_the_reason_and_not_retried(stack, caplog, schema, data, reason):
    caplog.set_level(logging.WARNING, "docintel_dr.webhooks")
    event = SCHEMAS[schema](data)

    await deliver(event)  # returns normally: no redelivery of the batch

    assert await jobs_of(stack) == []
    assert event["id"] in caplog.text and reason in caplog.text


async def test_invalid_data_base64_is_malformed(stack, caplog):
    caplog.set_level(logging.WARNING, "docintel_dr.webhooks")
    event = cloud_event(None)
    del event["data"]
    event["data_base64"] = "%%% not base64"

    await deliver(event)

    assert await jobs_of(stack) == []
    assert "data_base64" in caplog.text


async def test_an_item_the_source_does_not_have_is_logged_and_dropped(stack, caplog):
    caplog.set_level(logging.WARNING, "docintel_dr.webhooks")
    model_id = unique("ev-ghost")

    await deliver(cloud_event({"kind": "model", "id": model_id}))

    assert await jobs_of(stack) == []
    assert model_id in caplog.text and "not found" in caplog.text


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_a_repeated_event_for_an_up_to_date_item_copies_nothing(stack, emulators, schema):
    model_id = unique(f"ev-again-{schema}")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    event = SCHEMAS[schema]({"kind": "model", "id": model_id})
    await deliver(event)
    first = await jobs_of(stack)
    await stack.run_to_end([j.job_id for j in first])
    published = len(stack.events.events)

    await deliver(event)  # Event Grid redelivers (at least once) ...
    await deliver(SCHEMAS[schema]({"kind": "model", "id": model_id}))  # ... or the pipeline sends again

    assert len(await jobs_of(stack)) == 2
    await stack.settle(1)
    assert len(stack.events.events) == published


async def test_an_event_redelivered_while_the_copy_runs_starts_no_second_copy(stack, emulators):
    model_id = unique("ev-inflight")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    event = cloud_event({"kind": "model", "id": model_id})

    await deliver(event)
    await deliver(event)

    jobs = await jobs_of(stack)
    assert len(jobs) == 2
    await stack.run_to_end([j.job_id for j in jobs])


async def test_a_source_outage_raises_so_event_grid_retries(stack, emulators):
    """Transient failures are the one case that raises: Event Grid redelivers later, and the retry
    is harmless (targets that already got a job answer 'reserved')."""
    model_id = unique("ev-outage")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    emulators["primary"].outage(True)
    try:
        with pytest.raises(TransientEventError):
            await deliver(cloud_event({"kind": "model", "id": model_id}))
    finally:
        emulators["primary"].outage(False)
    assert await jobs_of(stack) == []

    await deliver(cloud_event({"kind": "model", "id": model_id}))  # the redelivery

    assert len(await jobs_of(stack)) == 2
