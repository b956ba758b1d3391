"""Shared by the webhook and Event Grid trigger tests: requests as the host builds them, events as
the worker decodes them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from tests.stack import assert_problem, body_of  # noqa: F401 - shared with the webhook tests

BASE = "https://dr.example.net/api/"
ROUTE = "webhooks/model-trained"
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-w{next(_ids)}"


def webhook_request(body: object = None, *, raw: bytes | None = None, headers=None) -> func.HttpRequest:
    data = raw if raw is not None else json.dumps(body).encode()
    return func.HttpRequest(
        "POST",
        BASE + ROUTE,
        headers={"content-type": "application/json", **(headers or {})},
        params={},
        route_params={},
        body=data,
    )


def cloud_event(data: Any, *, type: str = "docintel-dr.model.trained", id: str | None = None) -> dict:
    """A CloudEvents 1.0 event as a custom topic (CloudEvents input schema) delivers it."""
    return {
        "specversion": "1.0",
        "id": id or unique("ce"),
        "source": "/pipelines/training",
        "type": type,
        "time": "2026-11-28T12:00:00Z",
        "subject": "models/trained",
        "datacontenttype": "application/json",
        "data": data,
    }


def grid_event(data: Any, *, type: str = "docintel-dr.model.trained", id: str | None = None) -> dict:
    """An Event Grid schema event as a custom topic (Event Grid input schema) delivers it."""
    return {
        "id": id or unique("eg"),
        "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/training",
        "subject": "models/trained",
        "eventType": type,
        "eventTime": "2026-11-28T12:00:00Z",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "data": data,
    }


def as_worker_gives(event: dict) -> func.EventGridEvent | func.CloudEvent:
    """What the Python worker (azure-functions 1.26) passes to the trigger parameter: its converter
    picks `func.CloudEvent` for a payload with `specversion`, else `func.EventGridEvent`."""
    value = EventGridEventInConverter.decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})
    assert isinstance(value, func.CloudEvent if "specversion" in event else func.EventGridEvent)
    return value
