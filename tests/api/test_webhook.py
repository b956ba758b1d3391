"""`POST /api/webhooks/model-trained`: a training pipeline asks for its new item to be protected.

Called through the real function (as the host would) against Azurite and the emulators."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

import function_app
from shared.api.webhooks import SIGNATURE_HEADER, sign
from shared.copy.jobs import JobStatus, Origin
from tests.api.webhook_helpers import assert_problem, body_of, unique, webhook_request
from tests.stack import PipelineStack, stack_settings, start_stack, target_item

SECRET = "whsec-3c1e0d9a7b"


@pytest.fixture
async def signed_stack(azurite, emulators) -> AsyncIterator[PipelineStack]:
    """DR_WEBHOOK_SECRET set: every call must carry the body's HMAC-SHA256 signature."""
    stack = await start_stack(stack_settings(azurite, emulators, DR_WEBHOOK_SECRET=SECRET))
    yield stack
    await stack.aclose()


def signed(body: dict, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {SIGNATURE_HEADER: sign(secret, raw)}


async def post(body: object = None, *, raw: bytes | None = None, headers=None):
    return await function_app.model_trained_webhook(webhook_request(body, raw=raw, headers=headers))


async def test_a_signed_notification_copies_the_item_to_every_target(signed_stack, emulators):
    model_id = unique("invoice")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    raw, headers = signed({"kind": "model", "id": model_id})

    response = await post(raw=raw, headers=headers)

    assert response.status_code == 202, response.get_body()
    jobs = body_of(response)["jobs"]
    assert [j["target"] for j in jobs] == ["westus2", "northeurope"]
    assert all(j["statusUrl"].endswith(f"/api/copies/{j['jobId']}") for j in jobs)
    done = await signed_stack.run_to_end([j["jobId"] for j in jobs])
    assert [job.status for job in done] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    assert {job.origin for job in done} == {Origin.WEBHOOK}
    for alias in ("westus2", "northeurope"):
        assert target_item(emulators[alias], "models", model_id) is not None
    events = signed_stack.events.events
    assert sorted(e["id"] for e in events) == sorted(f"copy-{j['jobId']}" for j in jobs)
    assert {e["data"]["origin"] for e in events} == {"webhook"}


async def test_the_signature_header_is_case_insensitive_and_hex_in_either_case(signed_stack, emulators):
    model_id = unique("hex")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    raw, headers = signed({"kind": "model", "id": model_id})
    value = headers[SIGNATURE_HEADER]
    upper = "sha256=" + value.removeprefix("sha256=").upper()

    response = await post(raw=raw, headers={SIGNATURE_HEADER.lower(): upper})

    assert response.status_code == 202, response.get_body()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "signature-required"),
        ({SIGNATURE_HEADER: ""}, "signature-required"),
        ({SIGNATURE_HEADER: sign("another-secret", b"x")}, "invalid-signature"),
        ({SIGNATURE_HEADER: "sha1=" + "0" * 40}, "invalid-signature"),
        ({SIGNATURE_HEADER: "sha256=ünïcode"}, "invalid-signature"),
        ({SIGNATURE_HEADER: "sha256=" + "0" * 64}, "invalid-signature"),
    ],
)
async def test_a_missing_or_wrong_signature_is_401_and_creates_nothing(
    signed_stack, emulators, headers, code
):
    model_id = unique("unsigned")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    raw = json.dumps({"kind": "model", "id": model_id}).encode()

    problem = assert_problem(await post(raw=raw, headers=headers), 401)

    assert problem["code"] == code
    assert SECRET not in json.dumps(problem)
    assert await signed_stack.service.jobs.list(limit=10) == []


async def test_a_signature_of_other_bytes_is_401_even_for_the_same_json(signed_stack, emulators):
    """The signature covers the raw bytes sent, not a re-serialization of the JSON."""
    model_id = unique("bytes")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    body = {"kind": "model", "id": model_id}
    compact = json.dumps(body, separators=(",", ":")).encode()
    spaced = json.dumps(body, indent=2).encode()

    assert_problem(await post(raw=spaced, headers={SIGNATURE_HEADER: sign(SECRET, compact)}), 401)
    assert (await post(raw=compact, headers={SIGNATURE_HEADER: sign(SECRET, compact)})).status_code == 202


async def test_the_signature_is_checked_before_the_body_is_read(signed_stack):
    """An unsigned caller learns nothing about the body's validity."""
    problem = assert_problem(await post(raw=b"{not json"), 401)
    assert problem["code"] == "signature-required"


async def test_without_a_secret_no_signature_is_needed(stack, emulators):
    model_id = unique("nosecret")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})

    response = await post({"kind": "model", "id": model_id})

    assert response.status_code == 202, response.get_body()
    assert len(body_of(response)["jobs"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"kind": "model"}, 400, "id: Field required"),
        ({"id": "ok-id"}, 400, "kind: Field required"),
        ({"kind": "prebuilt", "id": "ok-id"}, 400, "kind"),
        ({"kind": "model", "id": "-bad id!"}, 400, "id"),
        ({"kind": "model", "id": "ok-id", "source": "mars"}, 400, "Configured aliases"),
        ({"kind": "model", "id": "ok-id", "targets": ["westus2"]}, 400, "targets: unknown field"),
        (
            {"kind": "model", "id": "ok-id", "endpoint": "https://evil.example"},
            400,
            "never takes an endpoint",
        ),
        ({"kind": "model", "id": "ok-id", "key": "abc"}, 400, "never takes an endpoint"),
        ([{"kind": "model", "id": "ok-id"}], 400, "JSON object"),
        ({"kind": "model", "id": "x" * 70_000}, 413, "limit"),
    ],
)
async def test_bad_bodies_get_a_problem_and_change_nothing(signed_stack, body, status, needle):
    raw, headers = signed(body)  # correctly signed: the body itself is what is wrong

    problem = assert_problem(await post(raw=raw, headers=headers), status)

    assert needle in json.dumps(problem)
    assert await signed_stack.service.jobs.list(limit=10) == []


async def test_invalid_json_is_400(signed_stack):
    raw = b"{not json"
    assert_problem(await post(raw=raw, headers={SIGNATURE_HEADER: sign(SECRET, raw)}), 400)


async def test_an_item_the_source_does_not_have_is_404(stack):
    assert_problem(await post({"kind": "model", "id": unique("never-trained")}), 404)
    assert await stack.service.jobs.list(limit=10) == []


async def test_an_explicit_source_alias_is_honored(stack, emulators):
    """`source` names the resource the item was trained in; the others are the targets."""
    model_id = unique("from-west")
    emulators["westus2"].seed({"models": [{"modelId": model_id}]})

    response = await post({"kind": "model", "id": model_id, "source": "WestUS2"})

    assert response.status_code == 202, response.get_body()
    [job] = body_of(response)["jobs"]
    assert job["target"] == "northeurope"  # the secondaries minus the source
    [done] = await stack.run_to_end([job["jobId"]])
    assert done.source_alias == "westus2" and done.status is JobStatus.SUCCEEDED


async def test_a_repeated_notification_is_up_to_date_and_copies_nothing(stack, emulators):
    model_id = unique("repeat")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    first = await post({"kind": "model", "id": model_id})
    jobs = [j["jobId"] for j in body_of(first)["jobs"]]
    await stack.run_to_end(jobs)
    published = len(stack.events.events)

    again = await post({"kind": "model", "id": model_id})

    assert again.status_code == 200, again.get_body()
    assert body_of(again)["jobs"] == [
        {"target": "westus2", "status": "upToDate", "jobId": None},
        {"target": "northeurope", "status": "upToDate", "jobId": None},
    ]
    assert len(await stack.service.jobs.list(limit=10)) == 2
    await stack.settle(1)
    assert len(stack.events.events) == published


async def test_a_notification_repeated_while_the_copy_runs_starts_no_second_copy(stack, emulators):
    """The repeat is answered with the jobs already making the copies: no second job, no second copy."""
    model_id = unique("twice")
    emulators["primary"].seed({"models": [{"modelId": model_id}]})
    first = await post({"kind": "model", "id": model_id})
    assert first.status_code == 202

    again = await post({"kind": "model", "id": model_id})

    assert again.status_code == 202, again.get_body()
    job_ids = sorted(j["jobId"] for j in body_of(first)["jobs"])
    assert sorted(j["jobId"] for j in body_of(again)["jobs"]) == job_ids
    assert len(await stack.service.jobs.list(limit=10)) == 2
    await stack.run_to_end([j["jobId"] for j in body_of(first)["jobs"]])


async def test_a_classifier_is_copied_too(stack, emulators):
    classifier_id = unique("sorter")
    emulators["primary"].seed({"classifiers": [{"classifierId": classifier_id}]})

    response = await post({"kind": "classifier", "id": classifier_id})

    assert response.status_code == 202, response.get_body()
    jobs = [j["jobId"] for j in body_of(response)["jobs"]]
    done = await stack.run_to_end(jobs)
    assert {j.status for j in done} == {JobStatus.SUCCEEDED}
    assert target_item(emulators["westus2"], "classifiers", classifier_id) is not None


async def test_a_repeated_classifier_notification_is_up_to_date(stack, emulators):
    """Classifiers have no tags in the Document Intelligence API: the copy record of the first job
    (state table) tells that the target's classifier is a copy of this very source build."""
    classifier_id = unique("sorter-again")
    emulators["primary"].seed({"classifiers": [{"classifierId": classifier_id}]})
    first = await post({"kind": "classifier", "id": classifier_id})
    await stack.run_to_end([j["jobId"] for j in body_of(first)["jobs"]])

    again = await post({"kind": "classifier", "id": classifier_id})

    assert again.status_code == 200
    assert [j["status"] for j in body_of(again)["jobs"]] == ["upToDate", "upToDate"]
    assert len(await stack.service.jobs.list(limit=10)) == 2
