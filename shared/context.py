"""The composition root: builds the settings, the credential and the clients once per process and
hands them to the handlers. Nothing deeper in the package builds a credential or a client.

Async SDK clients are bound to the event loop that created them, so the context is kept per loop
(the Functions worker runs every async function on one loop).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.settings import COPY_POLLS_QUEUE, COPY_REQUESTS_QUEUE, Settings, get_settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.copy_service import CopyService
    from shared.docintel import DocIntelClient

log = logging.getLogger("docintel_dr")


def needs_credential(settings: Settings) -> bool:
    return (
        any(res.key is None for res in settings.resources.values())
        or settings.storage_connection_string is None
        or (settings.eventgrid_topic_endpoint is not None and settings.eventgrid_topic_key is None)
    )


def build_credential(settings: Settings) -> AsyncTokenCredential:
    """Managed identity in Azure (the user-assigned one when AZURE_CLIENT_ID is set), else the
    developer's credentials. Imported only when needed: azure.identity is slow to import."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if settings.managed_identity_client_id:
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    return DefaultAzureCredential()


def build_clients(
    settings: Settings, credential: AsyncTokenCredential | None, **options: Any
) -> dict[str, DocIntelClient]:
    from shared.docintel import DocIntelClient, RateLimits

    clients = {}
    for alias, res in settings.resources.items():
        clients[alias] = DocIntelClient(
            alias,
            res.endpoint,
            api_version=res.api_version,
            key=res.key.get_secret_value() if res.key is not None else None,
            credential=credential if res.key is None else None,
            rate_limits=RateLimits(
                management_per_second=res.management_per_second,
                list_per_second=res.list_per_second,
                status_per_second=res.status_per_second,
            ),
            resource_id=res.resource_id,
            region=res.region,
            **options,
        )
    return clients


@dataclass
class AppContext:
    settings: Settings
    credential: AsyncTokenCredential | None
    clients: dict[str, DocIntelClient]
    service: CopyService

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        await self.service.requests.aclose()
        await self.service.polls.aclose()
        await self.service.events.aclose()
        await self.service.jobs.aclose()
        await self.service.durations.aclose()
        if self.credential is not None:
            await self.credential.close()


async def build_context(settings: Settings, credential: AsyncTokenCredential | None = None) -> AppContext:
    from shared.authorizations import PendingAuthorizations
    from shared.copy_service import CopyService
    from shared.events import EventGridPublisher, EventPublisher, LogOnlyPublisher
    from shared.history import CopyDurations
    from shared.jobs import JobStore
    from shared.storage import QueueSender, queue_client, table_client
    from shared.sync.state import CopyRecords

    if credential is None and needs_credential(settings):
        credential = build_credential(settings)
    clients = build_clients(settings, credential)
    jobs = JobStore(table_client(settings, settings.jobs_table, credential))
    await jobs.ensure_table()
    state = table_client(settings, settings.state_table, credential)
    try:
        await state.create_table()
    except Exception:  # exists already (or no right to create it: reads then tell)
        log.debug("state table not created", exc_info=True)
    events: EventPublisher
    if settings.eventgrid_topic_endpoint:
        key = settings.eventgrid_topic_key.get_secret_value() if settings.eventgrid_topic_key else None
        events = EventGridPublisher(
            settings.eventgrid_topic_endpoint, key=key, credential=credential if key is None else None
        )
    else:
        log.warning("DR_EVENTGRID_TOPIC_ENDPOINT is not set: completion events are only logged")
        events = LogOnlyPublisher()
    service = CopyService(
        settings,
        clients,
        jobs,
        QueueSender(queue_client(settings, COPY_REQUESTS_QUEUE, credential)),
        QueueSender(queue_client(settings, COPY_POLLS_QUEUE, credential)),
        events,
        CopyDurations(state),
        CopyRecords(state),
        PendingAuthorizations(state),
    )
    return AppContext(settings, credential, clients, service)


_contexts: dict[asyncio.AbstractEventLoop, AppContext] = {}
_lock: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def get_context() -> AppContext:
    """The process's context for the running event loop, built on first use."""
    loop = asyncio.get_running_loop()
    if loop in _contexts:
        return _contexts[loop]
    lock = _lock.setdefault(loop, asyncio.Lock())
    async with lock:
        if loop not in _contexts:
            _contexts[loop] = await build_context(get_settings())
    return _contexts[loop]


def set_context(context: AppContext | None) -> None:
    """Install (or clear) the context of the running loop; tests and the local runner use it."""
    loop = asyncio.get_running_loop()
    if context is None:
        _contexts.pop(loop, None)
    else:
        _contexts[loop] = context
