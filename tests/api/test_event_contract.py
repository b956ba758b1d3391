"""The event contract in docs/events/: a JSON Schema for the `data` of every event type the app emits
and of the one it accepts, an example of each, and the events a real run emits validated against
them (copy events from webhook-driven copies; sync and drift events from real sync runs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
import jsonschema
import pytest
from pydantic import ValidationError

import function_app
from shared import events as ev
from shared.api.webhooks import MODEL_TRAINED, TrainedBody
from shared.sync.executors import PipelineExecutor
from shared.sync.run import run_sync
from tests.api.webhook_helpers import as_worker_gives, body_of, unique, webhook_request
from tests.stack import PipelineStack, stack_settings, start_stack, start_sync_stack, sync_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"
EMITTED = {
    ev.COPY_SUCCEEDED: "copy-completed.schema.json",
    ev.COPY_FAILED: "copy-completed.schema.json",
    ev.SYNC_COMPLETED: "sync-completed.schema.json",
    ev.DRIFT_DETECTED: "drift-detected.schema.json",
}
ACCEPTED = {MODEL_TRAINED: "model-trained.schema.json"}
EXAMPLES = {
    "copy-succeeded.json": ev.COPY_SUCCEEDED,
    "copy-failed.json": ev.COPY_FAILED,
    "sync-completed.json": ev.SYNC_COMPLETED,
    "drift-detected.json": ev.DRIFT_DETECTED,
    "model-trained.cloudevent.json": MODEL_TRAINED,
    "model-trained.eventgrid.json": MODEL_TRAINED,
}


def schema(name: str) -> dict:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


def validate_data(event_type: str, data: object) -> None:
    document = schema({**EMITTED, **ACCEPTED}[event_type])
    jsonschema.Draft202012Validator(document, format_checker=jsonschema.FormatChecker()).validate(data)


def validate_emitted(event: dict) -> None:
    """An event the app publishes: CloudEvents 1.0, our source, a known type, data per its schema."""
    assert event["specversion"] == "1.0" and event["source"] == ev.EVENT_SOURCE
    assert event["type"] in EMITTED, event["type"]
    assert event["id"] and event["time"] and event["datacontenttype"] == "application/json"
    validate_data(event["type"], event["data"])


# --- the documents ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(EMITTED.values()) | set(ACCEPTED.values())))
def test_every_schema_is_a_valid_draft_2020_12_schema(name):
    jsonschema.Draft202012Validator.check_schema(schema(name))


def test_every_example_file_is_listed_and_each_type_has_one():
    assert {p.name for p in (DOCS / "examples").glob("*.json")} == set(EXAMPLES)
    assert set(EXAMPLES.values()) == set(EMITTED) | set(ACCEPTED)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_is_a_valid_event_of_its_type(name):
    event = json.loads((DOCS / "examples" / name).read_text(encoding="utf-8"))
    event_type = event.get("type") or event.get("eventType")
    assert event_type == EXAMPLES[name]
    if event_type in EMITTED:
        validate_emitted(event)
        prefix = {"copy": "copy-", "sync": "sync-", "drift": "drift-"}[event_type.split(".")[1]]
        assert event["id"].startswith(prefix)
    else:
        validate_data(event_type, event["data"])


def test_the_events_readme_names_every_type_schema_and_example():
    readme = (DOCS / "README.md").read_text(encoding="utf-8")
    for name in [*EMITTED, *ACCEPTED, *set(EMITTED.values()), *ACCEPTED.values(), *EXAMPLES]:
        assert name in readme, name


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "model", "id": "invoice-1"},
        {"kind": "classifier", "id": "sorter.v2", "source": "primary"},
        {"kind": "model", "id": "0d3f2a6e-41c7-4b7e-9a51-2f0c9e1d7a33"},
        {"kind": "model"},
        {"id": "x1"},
        {"kind": "prebuilt", "id": "x1"},
        {"kind": "model", "id": "-x"},
        {"kind": "model", "id": "x" * 65},
        {"kind": "model", "id": "x1", "targets": ["a"]},
        {"kind": "model", "id": "x1", "source": "s" * 33},
    ],
)
def test_the_published_model_trained_schema_agrees_with_the_app(body):
    """What the schema accepts is what the webhook and the trigger accept (aliases aside)."""
    try:
        TrainedBody.model_validate(body)
        app_accepts = True
    except ValidationError:
        app_accepts = False
    assert jsonschema.Draft202012Validator(schema("model-trained.schema.json")).is_valid(body) == app_accepts


# --- real events --------------------------------------------------------------------------------


@pytest.fixture
async def stack(azurite, emulators) -> AsyncIterator[PipelineStack]:
    stack = await start_stack(stack_settings(azurite, emulators))
    yield stack
    await stack.aclose()


async def test_the_example_model_trained_events_are_accepted_by_the_trigger(stack, emulators):
    emulators["primary"].seed({"models": [{"modelId": "invoice-2026-11"}]})
    for name in ("model-trained.cloudevent.json", "model-trained.eventgrid.json"):
        event = json.loads((DOCS / "examples" / name).read_text(encoding="utf-8"))
        await function_app.model_trained_event(as_worker_gives(event))
    jobs = await stack.service.jobs.list(limit=10)
    # The second event is a repeat while the first copies run: the targets' ids are reserved.
    assert sorted(j.target_alias for j in jobs) == ["northeurope", "westus2"]
    await stack.run_to_end([j.job_id for j in jobs])


async def test_copy_events_of_a_real_run_match_the_schema(stack, emulators):
    ok, canceled = unique("contract-ok"), unique("contract-cancel")
    emulators["primary"].seed({"models": [{"modelId": ok}], "classifiers": [{"classifierId": canceled}]})
    first = body_of(await function_app.model_trained_webhook(webhook_request({"kind": "model", "id": ok})))
    second = await function_app.model_trained_webhook(webhook_request({"kind": "classifier", "id": canceled}))
    job_ids = [j["jobId"] for j in first["jobs"]]
    for job in body_of(second)["jobs"]:
        cancel = func.HttpRequest(
            "POST",
            "https://dr.example.net/api/copies/x/cancel",
            body=b"",
            route_params={"jobId": job["jobId"]},
        )
        assert (await function_app.cancel_copy(cancel)).status_code == 200
        job_ids.append(job["jobId"])

    await stack.run_to_end(job_ids)

    events = stack.events.events
    assert sorted(e["type"] for e in events) == [ev.COPY_FAILED] * 2 + [ev.COPY_SUCCEEDED] * 2
    for event in events:
        validate_emitted(event)
        assert event["id"] == f"copy-{event['data']['jobId']}"


async def test_sync_and_drift_events_of_real_runs_match_the_schemas(azurite, fresh):
    """Three runs: targets missing items (completed + drift), a target down (unreachable in both),
    the source down (a failed run)."""
    stack = await start_sync_stack(sync_settings(azurite, fresh))
    try:
        fresh["primary"].seed(
            {
                "models": [{"modelId": "contract-a"}, {"modelId": "contract-b", "buildMode": "neural"}],
                "classifiers": [{"classifierId": "contract-sorter"}],
            }
        )
        context = stack.context

        async def sync(**options):
            return await run_sync(
                context.settings,
                context.clients,
                PipelineExecutor(context.service, context.settings.primary),
                context.service.records,
                events=stack.events,
                **options,
            )

        first = await sync(trigger="timer")
        await stack.run_to_end([j.job_id for j in first.copies if j.job_id], timeout=60)
        fresh["northeurope"].outage(True)
        try:
            await sync(trigger="http")
        finally:
            fresh["northeurope"].outage(False)
        fresh["primary"].outage(True)
        try:
            failed = await sync(trigger="manual")
        finally:
            fresh["primary"].outage(False)
        assert failed.status == "failed"

        emitted = [e for e in stack.events.events if e["type"] in (ev.SYNC_COMPLETED, ev.DRIFT_DETECTED)]
        types = [e["type"] for e in emitted]
        assert types.count(ev.SYNC_COMPLETED) == 3 and types.count(ev.DRIFT_DETECTED) == 2
        for event in stack.events.events:
            validate_emitted(event)
        drift = [e for e in emitted if e["type"] == ev.DRIFT_DETECTED]
        assert drift[0]["data"]["targets"]["westus2"]["missing"] == 3
        assert drift[1]["data"]["targets"]["northeurope"]["reachable"] is False
    finally:
        await stack.aclose()
