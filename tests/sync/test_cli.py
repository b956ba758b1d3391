"""`docintel-dr sync | status | copy` against emulator processes: exit codes, tables, --json."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import pytest

from shared.cli import main
from shared.docintel import DocIntelClient, ItemKind
from tests.stack import FAST_CLIENT

_tables = itertools.count(1)


@pytest.fixture
def settings_file(azurite, fresh, tmp_path, monkeypatch) -> Path:
    for name in list(os.environ):
        if name.startswith("DR_") or name.startswith("AzureWebJobsStorage"):
            monkeypatch.delenv(name)
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "DR_PRIMARY": "primary",
        "DR_SECONDARIES": "westus2,northeurope",
        # Tables of their own for each test (an object id may come back in a later test).
        "DR_STATE_TABLE": f"clistate{os.getpid()}x{next(_tables)}",
        "DR_JOBS_TABLE": f"clijobs{os.getpid()}x{next(_tables)}",
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


def test_failover_check_refreshes_the_target_and_says_whether_it_is_safe(settings_file, fresh, capsys):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}], "classifiers": [{"classifierId": "sorter"}]})
    assert run(capsys, "sync", "--settings", str(settings_file))[0] == 0

    code, out = run(capsys, "failover", "check", "--to", "westus2", "--settings", str(settings_file))
    assert code == 0, out
    assert (
        out.startswith("failover to westus2: SAFE") and "checked now against 'primary' and 'westus2'" in out
    )

    # Trained at the primary since the last sync: the check lists the primary live and finds it missing.
    fresh["primary"].seed({"models": [{"modelId": "receipts"}]})
    code, out = run(
        capsys, "failover", "check", "--to", "westus2", "--json", "--settings", str(settings_file)
    )
    result = json.loads(out)
    assert code == 1 and result["safe"] is False and result["refreshed"] is True
    assert result["problems"] == ["1 missing"]
    [missing] = result["items"]
    assert (missing["sourceId"], missing["state"]) == ("receipts", "missing") and missing[
        "exposureSeconds"
    ] >= 0

    code, out = run(capsys, "failover", "check", "--to", "westus2", "--settings", str(settings_file))
    assert code == 1 and "NOT SAFE: 1 missing" in out
    assert "receipts" in out and "missing at the target" in out


def test_failover_check_during_an_outage_answers_from_the_last_sync(settings_file, fresh, capsys):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}, {"modelId": "receipts"}]})
    assert run(capsys, "sync", "--settings", str(settings_file))[0] == 0
    fresh["primary"].outage(True)

    code, out = run(
        capsys, "failover", "check", "--to", "westus2", "--json", "--settings", str(settings_file)
    )
    result = json.loads(out)
    assert code == 0, result
    assert result["safe"] is True and result["refreshed"] is False and result["targetReachable"] is True
    assert result["asOf"] is not None and result["ageSeconds"] >= 0
    assert (
        "'primary' could not be listed" in result["notes"][0]
        and "as of the last sync at" in result["notes"][0]
    )

    # A copy gone from the target since that sync: the live listing of the target tells.
    west = fresh["westus2"]

    async def delete() -> None:
        async with DocIntelClient("westus2", west.endpoint, key=west.key) as client:
            await client.delete_item(ItemKind.MODEL, "receipts")

    asyncio.run(delete())
    code, out = run(
        capsys, "failover", "check", "--to", "westus2", "--json", "--settings", str(settings_file)
    )
    result = json.loads(out)
    assert code == 1 and result["problems"] == ["1 missing"]
    assert [(i["sourceId"], i["state"]) for i in result["items"]] == [("receipts", "missing")]

    # The target down too: not safe, whatever the rows say.
    fresh["westus2"].outage(True)
    code, out = run(capsys, "failover", "check", "--to", "westus2", "--settings", str(settings_file))
    assert code == 1 and "'westus2' cannot be listed" in out


def test_failover_check_usage(settings_file, capsys):
    assert main(["failover", "check", "--to", "nowhere", "--settings", str(settings_file)]) == 2
    assert "unknown alias nowhere" in capsys.readouterr().err
    assert main(["failover", "check", "--to", "primary", "--settings", str(settings_file)]) == 2
    assert "fail over to a secondary: westus2, northeurope" in capsys.readouterr().err
    assert main(["failover", "check"]) == 2  # --to is required
    assert main(["failover", "switch", "--to", "westus2"]) == 2
    code, out = run(
        capsys, "failover", "check", "--to", "northeurope", "--no-refresh", "--settings", str(settings_file)
    )
    assert code == 1 and "no sync has listed 'northeurope' yet" in out


def test_sync_from_a_secondary_copies_back_to_the_primary(settings_file, fresh, capsys):
    fresh["westus2"].seed({"models": [{"modelId": "trained-in-outage"}]})
    assert (
        run(capsys, "sync", "--source", "westus2", "--targets", "westus2", "--settings", str(settings_file))[
            0
        ]
        == 2
    )
    assert run(capsys, "sync", "--source", "nowhere", "--settings", str(settings_file))[0] == 2

    code, out = run(capsys, "sync", "--source", "westus2", "--json", "--settings", str(settings_file))
    body = json.loads(out)
    assert code == 0, body
    assert body["source"] == "westus2" and list(body["targets"]) == ["primary"]
    assert body["jobs"]["succeeded"] == 1
    assert [m["modelId"] for m in fresh["primary"].items()["models"]] == ["trained-in-outage"]
    code, out = run(
        capsys, "status", "--targets", "primary", "--all", "--json", "--settings", str(settings_file)
    )
    status = json.loads(out)
    assert status["targets"]["primary"]["lastSync"]["source"] == "westus2"


def test_a_direct_copy_that_differs_from_its_source_fails_as_diverged(settings_file, fresh, capsys):
    fresh["primary"].seed({"models": [{"modelId": "invoices"}]})
    fresh["westus2"].configure(divergeCopies=["invoices"])
    code, out = run(capsys, "copy", "invoices", "--json", "--settings", str(settings_file))
    results = {r["target"]: r for r in json.loads(out)["results"]}
    assert code == 1
    assert results["northeurope"]["status"] == "succeeded"
    assert (
        results["westus2"]["status"] == "failed" and results["westus2"]["error"]["code"] == "TargetDiverged"
    )
    assert "has another field schema" in results["westus2"]["error"]["message"]

    # A sync sees the diverged copy (both listings show the schemas) and copies it again.
    code, out = run(capsys, "sync", "--dry-run", "--json", "--settings", str(settings_file))
    [item] = json.loads(out)["targets"]["westus2"]["items"]
    assert (item["action"], item["diverged"]) == ("recopy", True)
    code, out = run(capsys, "status", "--targets", "westus2", "--json", "--settings", str(settings_file))
    status = json.loads(out)
    assert code == 1 and status["targets"]["westus2"]["counts"]["diverged"] == 1
    assert [i["state"] for i in status["items"]] == ["diverged"]
    fresh["westus2"].configure(divergeCopies=[])
    assert run(capsys, "sync", "--settings", str(settings_file))[0] == 0
    code, out = run(capsys, "failover", "check", "--to", "westus2", "--settings", str(settings_file))
    assert code == 0, out
