"""Storage clients (queues, tables) built from the same connection the Functions host uses.

Locally `AzureWebJobsStorage` is a connection string (Azurite). In Azure it is identity based
(`AzureWebJobsStorage__queueServiceUri`, `__tableServiceUri`, `__clientId`), and the credential is
passed in. Messages the app sends itself are base64 encoded, as the host decodes base64 by default.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from typing import TYPE_CHECKING, Any

from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient
    from azure.storage.queue.aio import QueueClient

log = logging.getLogger("docintel_dr.storage")

# Queue sends allow at most 7 days of visibility delay, and the delay must be below the TTL.
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 60
MESSAGE_TTL_SECONDS = 7 * 24 * 3600


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def transport_options() -> dict[str, Any]:
    """Options for the Azure SDK clients' aiohttp transport. With environment settings on (the SDK's
    default), aiohttp looks up the proxy variables and parses ``.netrc`` in a thread on *every*
    request: a quarter to a third of the app's CPU per copy job. They are on only when a proxy is set."""
    configured = any(os.environ.get(name) or os.environ.get(name.lower()) for name in PROXY_VARIABLES)
    return {"use_env_settings": configured}


def table_client(settings: Settings, name: str, credential: AsyncTokenCredential | None) -> TableClient:
    from azure.data.tables.aio import TableClient

    options = transport_options()
    if settings.storage_connection_string is not None:
        return TableClient.from_connection_string(
            settings.storage_connection_string.get_secret_value(), name, **options
        )
    assert settings.storage_table_service_uri and credential is not None
    return TableClient(settings.storage_table_service_uri, name, credential=credential, **options)


def queue_client(settings: Settings, name: str, credential: AsyncTokenCredential | None) -> QueueClient:
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    options = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": TextBase64DecodePolicy(),
        **transport_options(),
    }
    if settings.storage_connection_string is not None:
        return QueueClient.from_connection_string(
            settings.storage_connection_string.get_secret_value(), name, **options
        )
    assert settings.storage_queue_service_uri and credential is not None
    return QueueClient(settings.storage_queue_service_uri, name, credential=credential, **options)


async def ensure_table(table: TableClient) -> None:
    """Create the table if it does not exist yet."""
    from azure.core.exceptions import ResourceExistsError

    try:
        await table.create_table()
    except ResourceExistsError:
        pass


class QueueSender:
    """Sends base64-encoded messages with an optional visibility delay; creates the queue if missing."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client
        self._ensured = False

    @property
    def name(self) -> str:
        return str(self._client.queue_name)

    async def send(
        self, content: str, *, delay_seconds: float = 0, precise: bool = False, early: bool = False
    ) -> None:
        """Send `content`, visible after `delay_seconds`.

        Queue visibility delays are whole seconds. By default the delay is rounded up (a message
        never comes early). With `precise`, a fraction of a second is waited out here before sending,
        so the message becomes visible at the moment asked for (the poller aims at a copy's end).
        With `early`, it is rounded down: the receiver waits out the rest itself (a sync's slots).
        """
        from azure.core.exceptions import ResourceNotFoundError

        delay_seconds = max(delay_seconds, 0.0)
        whole = math.floor(delay_seconds)
        if precise and delay_seconds - whole > 0.02:
            await asyncio.sleep(delay_seconds - whole)
            visibility = whole
        elif early:
            visibility = whole
        else:
            visibility = math.ceil(delay_seconds - 1e-6)
        visibility = min(visibility, MAX_VISIBILITY_SECONDS)
        try:
            await self._client.send_message(
                content, visibility_timeout=visibility, time_to_live=MESSAGE_TTL_SECONDS
            )
        except ResourceNotFoundError:
            await self.ensure()
            await self._client.send_message(
                content, visibility_timeout=visibility, time_to_live=MESSAGE_TTL_SECONDS
            )

    async def ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        if self._ensured:
            return
        try:
            await self._client.create_queue()
        except ResourceExistsError:
            pass
        self._ensured = True

    async def aclose(self) -> None:
        await self._client.close()
