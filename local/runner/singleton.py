"""The timer listener's singleton lock, taken as the WebJobs SDK takes it (`SingletonListener`,
`BlobLeaseDistributedLockManager`): a blob lease on `locks/{hostId}/{FunctionFullName}.Listener` in
the container `azure-webjobs-hosts` of the `AzureWebJobsStorage` account. One attempt at start; the
listener runs only while it holds the lease, renewed at half the lease period
(`singleton.listenerLockPeriod`, 15-60 s, default 60 s); an instance without it tries again every
`singleton.listenerLockRecoveryPollingInterval` (default 1 min). A host that dies without releasing
(kill -9) leaves the lease to run out: another instance takes over at its next attempt after that.

host.json `singleton` is read and checked as `SingletonOptions` checks it (the host does not start
with a value out of range). The host id is the app setting `AzureFunctionsWebHost__hostid`, else, as
the host derives it outside App Service, `{machine name}-{hash of the app folder}`, lowercased, at
most 32 characters. (In Azure the host derives it from the site name.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobClient, BlobLeaseClient, BlobServiceClient, LinearRetry

from local.runner.config import HostConfigError, storage_client_options, timespan_seconds

log = logging.getLogger("docintel_dr.local.host")

HOSTS_CONTAINER = "azure-webjobs-hosts"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
STORAGE_CONNECTION = "AzureWebJobsStorage"
MAX_HOST_ID_LENGTH = 32
# Azure Storage leases last 15 to 60 seconds; SingletonOptions holds lock periods to that range.
MIN_LEASE_SECONDS = 15.0
MAX_LEASE_SECONDS = 60.0
_TIMESPAN_MAX_SECONDS = 922337203685.0  # TimeSpan.MaxValue: "never" for timeouts and recovery


@dataclass(frozen=True)
class SingletonOptions:
    """host.json `singleton`, with the SDK's defaults and its range checks. None is TimeSpan.MaxValue."""

    lock_period: float = 15.0
    listener_lock_period: float = 60.0
    lock_acquisition_timeout: float | None = None
    lock_acquisition_polling_interval: float = 5.0
    listener_lock_recovery_polling_interval: float | None = 60.0

    def __post_init__(self) -> None:
        for name, value in (
            ("lockPeriod", self.lock_period),
            ("listenerLockPeriod", self.listener_lock_period),
        ):
            if not MIN_LEASE_SECONDS <= value <= MAX_LEASE_SECONDS:
                raise HostConfigError(
                    f"host.json singleton.{name} must be between 00:00:15 and 00:01:00 "
                    "(the lease periods Azure Storage allows)"
                )
        if self.lock_acquisition_timeout is not None and self.lock_acquisition_timeout <= 0:
            raise HostConfigError("host.json singleton.lockAcquisitionTimeout must be positive")
        if self.lock_acquisition_polling_interval < 0.5:
            raise HostConfigError(
                "host.json singleton.lockAcquisitionPollingInterval must be at least 00:00:00.500"
            )
        recovery = self.listener_lock_recovery_polling_interval
        if recovery is not None and recovery < MIN_LEASE_SECONDS:
            raise HostConfigError(
                "host.json singleton.listenerLockRecoveryPollingInterval must be at least 00:00:15 "
                "(or TimeSpan.MaxValue to turn recovery off)"
            )

    @classmethod
    def from_host_json(cls, host: Mapping[str, Any]) -> SingletonOptions:
        section = host.get("singleton") or {}
        defaults = cls()

        def seconds(name: str, default: float | None) -> float | None:
            value = section.get(name)
            if value is None:
                return default
            parsed = timespan_seconds(value, f"singleton.{name}")
            return None if parsed >= _TIMESPAN_MAX_SECONDS else parsed

        def bounded(name: str, default: float) -> float:
            value = seconds(name, default)
            return _TIMESPAN_MAX_SECONDS if value is None else value

        return cls(
            lock_period=bounded("lockPeriod", defaults.lock_period),
            listener_lock_period=bounded("listenerLockPeriod", defaults.listener_lock_period),
            lock_acquisition_timeout=seconds("lockAcquisitionTimeout", defaults.lock_acquisition_timeout),
            lock_acquisition_polling_interval=bounded(
                "lockAcquisitionPollingInterval", defaults.lock_acquisition_polling_interval
            ),
            listener_lock_recovery_polling_interval=seconds(
                "listenerLockRecoveryPollingInterval", defaults.listener_lock_recovery_polling_interval
            ),
        )


def default_host_id(app_dir: Path) -> str:
    """The host's local default: `{machine name, letters and digits}-{stable hash of the app folder}`,
    at most 32 characters, lowercase, no trailing '-'."""
    machine = "".join(c for c in socket.gethostname() if c.isalnum())
    return f"{machine}-{zlib.crc32(str(app_dir.resolve()).encode())}"[:MAX_HOST_ID_LENGTH].lower().rstrip("-")


def host_id(values: Mapping[str, str], app_dir: Path) -> str:
    return values.get(HOST_ID_SETTING) or default_host_id(app_dir)


def blob_service(values: Mapping[str, str]) -> BlobServiceClient:
    """The `AzureWebJobsStorage` blob service: a connection string, or `AzureWebJobsStorage__blobServiceUri`
    / `__accountName` with `DefaultAzureCredential` (`__clientId` for a user-assigned identity)."""
    options: dict[str, Any] = {
        "retry_policy": LinearRetry(backoff=1, random_jitter_range=0, retry_total=2),
        "connection_timeout": 5,
        "read_timeout": 15,
        **storage_client_options(),
    }
    connection = values.get(STORAGE_CONNECTION)
    if connection:
        return BlobServiceClient.from_connection_string(connection, **options)
    account = values.get(f"{STORAGE_CONNECTION}__accountName")
    uri = values.get(f"{STORAGE_CONNECTION}__blobServiceUri") or (
        f"https://{account}.blob.core.windows.net" if account else None
    )
    if uri is None:
        raise RuntimeError(
            f"timer triggers need the {STORAGE_CONNECTION} connection: the host keeps each timer's "
            f"singleton lock and schedule status in its blob container {HOSTS_CONTAINER}"
        )
    from azure.identity.aio import DefaultAzureCredential

    client_id = values.get(f"{STORAGE_CONNECTION}__clientId")
    credential = (
        DefaultAzureCredential(managed_identity_client_id=client_id)
        if client_id
        else DefaultAzureCredential()
    )
    return BlobServiceClient(uri, credential=credential, **options)


def _code(exc: HttpResponseError) -> str:
    error_code = getattr(exc, "error_code", None)
    return f"{exc.status_code}: {error_code}" if error_code else str(exc.status_code)


async def _create_empty(service: BlobServiceClient, blob: BlobClient) -> None:
    """The lock blob, and its container when missing (an existing or leased blob is fine)."""
    for attempt in range(2):
        try:
            await blob.upload_blob(b"")
            return
        except ResourceExistsError:
            return
        except ResourceNotFoundError:
            if attempt:
                raise
            with contextlib.suppress(ResourceExistsError):
                await service.get_container_client(HOSTS_CONTAINER).create_container()
        except HttpResponseError as exc:
            if exc.status_code == 412:
                return
            raise


class ListenerLock:
    """One listener's lease. `try_acquire()` once; `keep(lost)` renews until cancelled and sets `lost`
    when the lease is gone; `release()` on a clean stop only."""

    def __init__(self, service: BlobServiceClient, host: str, function_full_name: str, period: float) -> None:
        self.lock_id = f"{host}/{function_full_name}.Listener"
        self.service = service
        self.blob = service.get_blob_client(HOSTS_CONTAINER, f"locks/{self.lock_id}")
        self.period = period
        self.lease_id: str | None = None

    async def try_acquire(self) -> bool:
        duration = round(self.period)
        try:
            try:
                lease = await self.blob.acquire_lease(lease_duration=duration)
            except ResourceNotFoundError:
                await _create_empty(self.service, self.blob)
                lease = await self.blob.acquire_lease(lease_duration=duration)
        except ResourceExistsError:
            log.debug("Unable to acquire Singleton lock (%s).", self.lock_id)
            return False
        self.lease_id = lease.id
        log.debug("Singleton lock acquired (%s)", self.lock_id)
        return True

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew at half the lease period; after a failure the host retries sooner, and gives the lease
        up when storage refuses it (another holder) or it has not been renewed for a whole period."""
        assert self.lease_id is not None
        lease = BlobLeaseClient(self.blob, lease_id=self.lease_id)
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        delay = self.period / 2
        while True:
            await asyncio.sleep(delay)
            try:
                await lease.renew()
                renewed, delay = loop.time(), self.period / 2
            except AzureError as exc:
                server_side = not isinstance(exc, HttpResponseError) or (exc.status_code or 500) >= 500
                code = _code(exc) if isinstance(exc, HttpResponseError) else exc.__class__.__name__
                if server_side and loop.time() - renewed < self.period:
                    log.warning(
                        "Singleton lock renewal failed for blob '%s' with error code %s.", self.lock_id, code
                    )
                    delay = 1.0
                    continue
                log.error("Singleton lock renewal failed for blob '%s' with error code %s: the lock is lost.",
                          self.lock_id, code)  # fmt: skip
                self.lease_id = None
                lost.set()
                return

    async def release(self) -> None:
        if self.lease_id is None:
            return
        lease, self.lease_id = BlobLeaseClient(self.blob, lease_id=self.lease_id), None
        try:
            await lease.release()
        except (ResourceNotFoundError, ResourceExistsError):
            pass  # gone, or someone else's lease now: nothing to release
        log.debug("Singleton lock released (%s)", self.lock_id)
