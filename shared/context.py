"""The composition root: builds the settings, the credential and the clients once per process and
hands them to the handlers as one `AppContext`. Nothing deeper in the package builds a credential or
a client.

Async SDK clients are bound to the event loop that created them, so the context is kept per loop
(the Functions worker runs every async function on one loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.names import COPY_POLLS_QUEUE, COPY_REQUESTS_QUEUE, SYNC_PAGES_QUEUE
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.data.tables.aio import TableClient

    from shared.copy.service import CopyService
    from shared.docintel import DocIntelClient
    from shared.events import EventPublisher
    from shared.storage import QueueSender
    from shared.sync.pages import SyncPages

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


def build_clients(settings: Settings, credential: AsyncTokenCredential | None) -> dict[str, DocIntelClient]:
    from shared.docintel import DocIntelClient, RateLimits

    return {
        alias: DocIntelClient(
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
        )
        for alias, res in settings.resources.items()
    }


def build_events(settings: Settings, credential: AsyncTokenCredential | None) -> EventPublisher:
    from shared.events import EventGridPublisher, LogOnlyPublisher

    if not settings.eventgrid_topic_endpoint:
        log.warning("DR_EVENTGRID_TOPIC_ENDPOINT is not set: completion events are only logged")
        return LogOnlyPublisher()
    key = settings.eventgrid_topic_key.get_secret_value() if settings.eventgrid_topic_key else None
    return EventGridPublisher(
        settings.eventgrid_topic_endpoint, key=key, credential=credential if key is None else None
    )


@dataclass
class AppContext:
    """What every handler gets: the settings, a client per configured resource, the copy service
    (which holds the job store, the queues, the state-table stores and the event publisher)."""

    settings: Settings
    credential: AsyncTokenCredential | None
    clients: Mapping[str, DocIntelClient]
    service: CopyService
    tables: list[TableClient]
    #: Where a sync's copies beyond its first page continue.
    pages: SyncPages
    pages_queue: QueueSender

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        await self.pages_queue.aclose()
        await self.service.requests.aclose()
        await self.service.polls.aclose()
        await self.service.events.aclose()
        for table in self.tables:
            await table.close()
        if self.credential is not None:
            await self.credential.close()


async def build_context(settings: Settings, credential: AsyncTokenCredential | None = None) -> AppContext:
    from shared.copy.authorizations import PendingAuthorizations
    from shared.copy.claims import CopyClaims
    from shared.copy.durations import CopyDurations
    from shared.copy.jobs import JobStore
    from shared.copy.records import CopyRecords
    from shared.copy.service import CopyService
    from shared.status.rows import StatusRows
    from shared.storage import QueueSender, ensure_table, queue_client, table_client
    from shared.sync.pages import SyncPages, pacing_slot
    from shared.telemetry import configure

    # Once per process, here rather than at import: the host indexes the app without loading it.
    configure(settings)
    if credential is None and needs_credential(settings):
        credential = build_credential(settings)
    jobs_table = table_client(settings, settings.jobs_table, credential)
    state_table = table_client(settings, settings.state_table, credential)
    await ensure_table(jobs_table)
    await ensure_table(state_table)
    clients = build_clients(settings, credential)
    service = CopyService(
        settings,
        clients,
        JobStore(jobs_table),
        QueueSender(queue_client(settings, COPY_REQUESTS_QUEUE, credential)),
        QueueSender(queue_client(settings, COPY_POLLS_QUEUE, credential)),
        build_events(settings, credential),
        CopyDurations(state_table),
        CopyRecords(state_table),
        PendingAuthorizations(state_table),
        CopyClaims(state_table),
        StatusRows(state_table),
    )
    pages_queue = QueueSender(queue_client(settings, SYNC_PAGES_QUEUE, credential))
    pages = SyncPages(state_table, pages_queue, settings.sync_page_size, pacing_slot(settings))
    return AppContext(settings, credential, clients, service, [jobs_table, state_table], pages, pages_queue)


_contexts: dict[asyncio.AbstractEventLoop, AppContext] = {}
_settings: dict[asyncio.AbstractEventLoop, Settings] = {}
_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def get_context() -> AppContext:
    """The process's context for the running event loop, built on first use.

    Built lazily, inside the invocation that needs it: if storage cannot be reached when a fresh
    instance takes its first request, the failure is that request's (a 503 for HTTP, a retry for a
    queue message), and the next invocation tries again."""
    loop = asyncio.get_running_loop()
    if loop in _contexts:
        return _contexts[loop]
    async with _locks.setdefault(loop, asyncio.Lock()):
        if loop not in _contexts:
            _contexts[loop] = await build_context(_settings.get(loop) or get_settings())
    return _contexts[loop]


def use_settings(settings: Settings) -> None:
    """Build the running loop's context from `settings` rather than the environment; the local
    runner serves several apps' settings in one process, one loop each."""
    _settings[asyncio.get_running_loop()] = settings


def set_context(context: AppContext | None) -> None:
    """Install (or clear) the context of the running loop; tests use it."""
    loop = asyncio.get_running_loop()
    if context is None:
        _contexts.pop(loop, None)
    else:
        _contexts[loop] = context


async def close_context() -> None:
    """Close the running loop's context, if one was built (the host is shutting down)."""
    loop = asyncio.get_running_loop()
    _settings.pop(loop, None)
    _locks.pop(loop, None)
    context = _contexts.pop(loop, None)
    if context is not None:
        await context.aclose()
