"""Storage clients: proxies from the environment are honoured when set, and cost nothing otherwise."""

from __future__ import annotations

import socket

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.storage import table_client, transport_options
from tests.stack import stack_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_without_a_proxy_the_clients_skip_the_per_request_proxy_lookup(no_proxy_variables):
    assert transport_options() == {"use_env_settings": False}


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_variable_turns_environment_settings_on(no_proxy_variables, name):
    no_proxy_variables.setenv(name, "http://proxy.example:3128")
    assert transport_options() == {"use_env_settings": True}


async def test_storage_is_reached_directly_without_a_proxy(no_proxy_variables, azurite, emulators):
    async with table_client(stack_settings(azurite, emulators), "proxyless", None) as table:
        await table.create_table()
        await table.delete_table()


async def test_storage_goes_through_the_proxy_the_environment_names(no_proxy_variables, azurite, emulators):
    # A proxy that refuses connections: storage is out of reach, so the proxy was used.
    no_proxy_variables.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    settings = stack_settings(azurite, emulators)
    async with table_client(settings, "proxied", None) as table:
        with pytest.raises(ServiceRequestError):
            await table.create_table(retry_total=0)
