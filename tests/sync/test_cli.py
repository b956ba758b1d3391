"""`docintel-dr sync | status | copy` against emulator processes: exit codes, tables, --json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shared.cli import main
from tests.stack import FAST_CLIENT


@pytest.fixture
def settings_file(azurite, fresh, tmp_path, monkeypatch) -> Path:
    for name in list(os.environ):
        if name.startswith("DR_") or name.startswith("AzureWebJobsStorage"):
            monkeypatch.delenv(name)
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "DR_PRIMARY": "primary",
        "DR_SECONDARIES": "westus2,northeurope",
        "DR_STATE_TABLE": f"clistate{os.getpid()}{id(tmp_path) % 10**6}",
        "DR_JOBS_TABLE": f"clijobs{os.getpid()}{id(tmp_path) % 10**6}",
        **FAST_CLIENT,
    }
    for alias, emulator in fresh.items():
        prefix = f"DR_RESOURCES__{alias.upper()}__"
        values.update({prefix + "ENDPOINT": emulator.endpoint, prefix + "KEY": emulator.key})
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_bad_configuration_and_usage_exit_2(tmp_path, capsys, monkeypatch):
    for name in list(os.environ):
        if name.startswith("DR_"):
            monkeypatch.delenv(name)
    code = main(["sync", "--settings", str(tmp_path / "missing.json")])
    assert code == 2
    assert "DR_PRIMARY" in capsys.readouterr().err
    assert main(["sync", "--no-such-option"]) == 2
    assert main([]) == 2


def test_sync_copies_everything_and_then_status_is_in_sync(settings_file, fresh, capsys):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}, {"modelId": "receipts"}],
                           "classifiers": [{"classifierId": "sorter"}]})  # fmt: skip

    code, out = run(capsys, "sync", "--dry-run", "--settings", str(settings_file))
    assert code == 0 and "(dry run)" in out and "westus2" in out
    assert fresh["westus2"].items()["models"] == []

    code, out = run(capsys, "sync", "--json", "--settings", str(settings_file))
    body = json.loads(out)
    assert code == 0, body
    assert body["status"] == "succeeded" and body["jobs"]["succeeded"] == 6
    assert {m["modelId"] for m in fresh["northeurope"].items()["models"]} == {"invoices", "receipts"}

    code, out = run(capsys, "status", "--json", "--all", "--settings", str(settings_file))
    status = json.loads(out)
    assert code == 0 and status["inSync"] is True and len(status["items"]) == 6
    sorter = next(i for i in status["items"] if i["sourceId"] == "sorter" and i["target"] == "westus2")
    assert sorter["state"] == "present" and sorter["lastCopiedAt"]  # the CLI's copy, as its sync saw it
    code, out = run(capsys, "status", "--json", "--settings", str(settings_file))
    assert json.loads(out)["items"] == []  # by default only what is not present

    code, out = run(capsys, "sync", "--json", "--settings", str(settings_file))
    assert code == 0 and json.loads(out)["counts"]["up-to-date"] == 6


def test_a_target_down_is_a_partial_failure(settings_file, fresh, capsys):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}]})
    fresh["northeurope"].outage(True)
    code, out = run(capsys, "sync", "--settings", str(settings_file))
    assert code == 1 and "unreachable" in out
    code, out = run(capsys, "status", "--settings", str(settings_file), "--targets", "westus2")
    assert code == 0 and "in sync" in out
    code, out = run(capsys, "status", "--settings", str(settings_file))
    assert code == 1 and "OUT OF SYNC" in out and "NO" in out
    assert main(["status", "--settings", str(settings_file), "--state", "lost"]) == 2
    assert "unknown state" in capsys.readouterr().err


def test_copy_one_item(settings_file, fresh, capsys):
    fresh["primary"].seed({"classifiers": [{"classifierId": "sorter"}]})
    code, out = run(capsys, "copy", "sorter", "--kind", "classifier", "--to", "westus2", "--json",
                    "--settings", str(settings_file))  # fmt: skip
    assert code == 0, out
    [result] = json.loads(out)["results"]
    assert result["status"] == "succeeded" and result["target"] == "westus2"
    assert [c["classifierId"] for c in fresh["westus2"].items()["classifiers"]] == ["sorter"]
    # Again: the target already has this build.
    code, out = run(capsys, "copy", "sorter", "--kind", "classifier", "--to", "westus2",
                    "--settings", str(settings_file))  # fmt: skip
    assert code == 0 and "up-to-date" in out  # the copy record says so (classifiers have no tags)
    assert run(capsys, "copy", "nothing-here", "--settings", str(settings_file))[0] == 2
    assert run(capsys, "copy", "sorter", "--to", "primary", "--settings", str(settings_file))[0] == 2


def test_the_emulator_command_hands_every_option_to_the_emulator(capsys):
    from shared.cli import main

    assert main(["emulator", "--help"]) == 0
    assert "--region" in capsys.readouterr().out
    assert main(["sync", "--no-such-option"]) == 2
