"""Settings: one object from app settings; every problem named by its setting, never its value."""

from __future__ import annotations

import json

import pytest

from shared.settings import SettingsError, load_settings, setting_names

VALID = {
    "DR_PRIMARY": "Primary",
    "DR_SECONDARIES": "westus2, northeurope",
    "DR_RESOURCES__PRIMARY__ENDPOINT": "https://di-src.cognitiveservices.azure.com/",
    "DR_RESOURCES__PRIMARY__KEY": "super-secret-key-1",
    "DR_RESOURCES__WESTUS2__ENDPOINT": "https://di-west.cognitiveservices.azure.com",
    "DR_RESOURCES__WESTUS2__API_VERSION": "v2.1",
    "DR_RESOURCES__NORTHEUROPE__ENDPOINT": "https://di-north.cognitiveservices.azure.com",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def test_resources_are_read_by_alias_with_defaults():
    settings = load_settings(VALID)
    assert settings.primary == "primary"
    assert settings.secondaries == ["westus2", "northeurope"]
    assert settings.resource("primary").endpoint == "https://di-src.cognitiveservices.azure.com"
    assert settings.resource("westus2").api_version == "2.1"
    assert settings.resource("northeurope").api_version == "2024-11-30"
    assert settings.resource("northeurope").key is None  # managed identity
    assert settings.poll.deadline_hours == 24


def test_identity_based_storage_is_accepted_instead_of_a_connection_string():
    env = {k: v for k, v in VALID.items() if k != "AzureWebJobsStorage"}
    env["AzureWebJobsStorage__queueServiceUri"] = "https://acct.queue.core.windows.net"
    env["AzureWebJobsStorage__tableServiceUri"] = "https://acct.table.core.windows.net"
    assert load_settings(env).storage_connection_string is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DR_PRIMARY": None}, "DR_PRIMARY: is required"),
        ({"DR_SECONDARIES": None}, "DR_SECONDARIES: is required"),
        ({"DR_SECONDARIES": "westus2,mars"}, "'mars', which is not configured"),
        ({"DR_SECONDARIES": "primary,westus2"}, "must not include the primary"),
        ({"DR_RESOURCES__WESTUS2__ENDPOINT": "ftp://x"}, "DR_RESOURCES__WESTUS2__ENDPOINT"),
        ({"DR_RESOURCES__WESTUS2__ENDPOINT": "http://di.example.com"}, "must use https"),
        ({"DR_RESOURCES__WESTUS2__API_VERSION": "2019-01-01"}, "DR_RESOURCES__WESTUS2__API_VERSION"),
        ({"DR_RESOURCES__PRIMARY__ENDPOINT": None}, "DR_RESOURCES__PRIMARY__ENDPOINT: is required"),
        ({"AzureWebJobsStorage": None}, "storage is not configured"),
        ({"DR_POLL__MIN_DELAY_SECONDS": "soon"}, "DR_POLL__MIN_DELAY_SECONDS"),
        ({"DR_POLL__MIN_DELAY_SECONDS": "90", "DR_POLL__MAX_DELAY_SECONDS": "30"}, "must not exceed"),
        ({"DR_SYNC_PAGE_SIZE": "0"}, "DR_SYNC_PAGE_SIZE"),
        ({"DR_RPO_TARGET_HOURS": "0"}, "DR_RPO_TARGET_HOURS"),
        ({"DR_RPO_TARGET_HOURS": "a day"}, "DR_RPO_TARGET_HOURS"),
        ({"DR_RPO_TARGET_HOURS": "9000"}, "DR_RPO_TARGET_HOURS"),
    ],
)
def test_each_missing_or_malformed_setting_gets_one_clear_message(change, named):
    env = {**VALID, **change}
    env = {k: v for k, v in env.items() if v is not None}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert named in str(caught.value)
    assert "super-secret-key-1" not in str(caught.value)


def test_all_problems_are_listed_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({"DR_RESOURCES__A__ENDPOINT": "nope", "DR_POLL__MAX_DELAY_SECONDS": "x"})
    assert len(caught.value.problems) >= 4


def test_keys_never_show_in_a_repr():
    assert "super-secret-key-1" not in repr(load_settings(VALID))


def test_local_settings_file_fills_what_the_environment_lacks(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {**VALID, "DR_PRIMARY": "westus2", "DR_SECONDARIES": "primary"}}
        )
    )
    settings = load_settings({"DR_SECONDARIES": "northeurope"}, local_settings=path)
    assert settings.primary == "westus2" and settings.secondaries == ["northeurope"]


def test_a_broken_local_settings_file_says_so(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text("{oops")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings({}, local_settings=path)


def test_setting_names_cover_every_field_for_each_alias():
    names = setting_names(["primary"])
    assert names["DR_PRIMARY"] is True
    assert names["DR_RESOURCES__PRIMARY__ENDPOINT"] is True
    assert names["DR_RESOURCES__PRIMARY__KEY"] is False
    assert "AzureWebJobsStorage__queueServiceUri" in names and "DR_POLL__MAX_DELAY_SECONDS" in names


def test_rpo_target_defaults_to_a_day_and_reads_hours():
    assert load_settings(VALID).rpo_target_hours == 24
    assert load_settings({**VALID, "DR_RPO_TARGET_HOURS": "4.5"}).rpo_target_hours == 4.5
    assert setting_names(["primary"])["DR_RPO_TARGET_HOURS"] is False
