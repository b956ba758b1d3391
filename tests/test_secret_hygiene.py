"""Secret hygiene: a full local scenario (copies, status, sync, webhook, a failure) with distinctive
keys and real copy access tokens; no key or token appears in any log line, event, HTTP reply or
stored row (job rows included) other than the pending authorizations kept to call copyTo."""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from pathlib import Path

import httpx
from azure.data.tables import TableServiceClient

from local.stack import StackOptions, run_local_stack


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(f"{record.name} {text}")


def wait_for(client: httpx.Client, job_ids: list[str], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        replies = [client.get(f"/copies/{job_id}") for job_id in job_ids]
        if all(r.status_code == 200 for r in replies):
            return [r.json() for r in replies]
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.3)


def test_no_key_or_access_token_leaks_anywhere():
    capture = Capture()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    replies: list[httpx.Response] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            options = StackOptions(
                runner_port=0,
                emulator_ports=(0, 0, 0),
                copy_duration=0.5,
                rate_limits="off",
                events_file=Path(tmp) / "events.jsonl",
                settings_file=None,
                extra_settings={"DR_WEBHOOK_SECRET": "whsec-9d1e4c7a2b"},
            )
            with run_local_stack(options) as stack:
                client = httpx.Client(
                    base_url=stack.api_url, headers={"x-functions-key": stack.function_key}, timeout=30
                )
                source = stack.emulators["primary"]
                source.seed({"models": [{"modelId": "leak-check"}, {"modelId": "leak-fails"}]})
                replies.append(client.post("/copies", json={"kind": "model", "sourceId": "leak-check"}))
                replies.append(
                    client.post("/copies", json={"kind": "classifier", "sourceId": "finance-sorter"})
                )
                wait_for(client, [j["jobId"] for r in replies for j in r.json()["jobs"]])
                source.configure(copyFailureRate=1.0)  # and one copy that fails at the service
                replies.append(
                    client.post("/copies", json={"sourceId": "leak-fails", "targets": ["westus2"]})
                )
                job_ids = [j["jobId"] for r in replies for j in r.json()["jobs"]]
                replies += [client.get(f"/copies/{j}") for j in job_ids]
                wait_for(client, job_ids)
                source.configure(copyFailureRate=0.0)
                replies += [client.get(f"/copies/{j}") for j in job_ids]
                replies.append(client.get("/copies"))
                replies.append(client.get("/status"))
                replies.append(client.post("/sync", params={"dryRun": "true"}))
                replies.append(
                    client.post(
                        "/webhooks/model-trained",
                        json={"kind": "model", "id": "leak-check"},
                        headers={"X-Signature-256": "sha256=bad"},
                    )
                )
                replies.append(client.post("/copies", json={"sourceId": "x", "key": "abc"}))
                events = stack.events()
                tokens = [t for e in stack.emulators.values() for t in e.tokens()]
                keys = [e.key for e in stack.emulators.values()]
                tables = TableServiceClient.from_connection_string(stack.values["AzureWebJobsStorage"])
                # Pending copy authorizations are the one place tokens are kept
                # (shared/copy/authorizations.py); every other row, job rows first, must hold none.
                rows = [
                    json.dumps(entity, default=str)
                    for table in tables.list_tables()
                    for entity in tables.get_table_client(table.name).list_entities()
                    if entity["PartitionKey"] != "authorization"
                ]
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_level)

    assert len(tokens) >= 5 and all(len(t) >= 16 for t in tokens)
    assert {e["type"] for e in events} == {"docintel-dr.copy.succeeded", "docintel-dr.copy.failed"}
    assert any(r.status_code == 401 for r in replies)
    haystacks = {
        "log": "\n".join(capture.lines),
        "events": json.dumps(events),
        "replies": "\n".join(f"{r.headers}\n{r.text}" for r in replies),
        "job rows": "\n".join(rows),
    }
    assert len(haystacks["log"]) > 1000 and rows
    for secret in [*keys, *tokens, "whsec-9d1e4c7a2b"]:
        for where, text in haystacks.items():
            leaked = secret in text  # (not asserted directly: the failure report would print it)
            assert not leaked, f"a key or token leaked into the {where}"
