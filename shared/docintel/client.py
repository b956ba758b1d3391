"""The Document Intelligence client: one instance per resource (alias), async.

Why async: the app fans out — one source model to several targets, a scheduled sync to hundreds
of models, pollers for many operations — and nearly all of that time is spent waiting on the
network. One event loop with one pooled ``httpx.AsyncClient`` per resource runs that fan-out
concurrently on one thread, keeps connections alive per resource, and lets the rate limiter and
the retry waits be plain awaits (with an injectable ``sleep``/``clock`` for tests).

The client core does transport, authentication, timeouts, retries, rate limiting, logging and
error mapping; the dialect of the configured API version (``dialects/``) builds the requests and
parses the replies. Callers never see the API version.

Retry rules (``RetryPolicy``): 429, 500, 502, 503, 504, connection failures and timeouts are
retried, honoring ``Retry-After`` / ``retry-after-ms``, else exponential backoff with full jitter,
within ``max_attempts`` and ``max_total_seconds``. The exception is *start copy*: once the request
may have reached the service (read/write timeout, dropped connection, 5xx) it is not re-sent —
``CopyOutcomeUnknown`` is raised so that the pipeline checks the target first. Failures before
the request was sent (connect errors) and 429 are safe to retry for every call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from .auth import Authenticator, KeyAuth, TokenAuth
from .dialects import Dialect, Reply, Request, dialect_for
from .dialects.base import last_path_segment, parse_service_error
from .errors import (
    CopyOutcomeUnknown,
    DocIntelError,
    ServiceUnavailable,
    Unauthorized,
    error_from_service,
)
from .models import CopyAuthorization, ItemInfo, ItemKind, Operation, ResourceQuota, ServiceError
from .ratelimit import AsyncRateLimiter, LimitClass, RateLimits, shared_limiter
from .retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from .versions import DEFAULT_API_VERSION, normalize_api_version

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

logger = logging.getLogger("docintel_dr.docintel")

T = TypeVar("T")

_MASK = "***"
# Exceptions raised before the request left this process: always safe to resend.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class DocIntelClient:
    """Async client for one Document Intelligence resource.

    Give exactly one of ``key`` (``Ocp-Apim-Subscription-Key``) or ``credential`` (an azure-core
    ``AsyncTokenCredential``, e.g. a managed identity built by the caller).

    ``resource_id`` / ``region`` are this resource's own ARM id and region. Only API v2.1 needs
    them (its copy authorizations do not name the target, the copy request does).
    """

    def __init__(
        self,
        alias: str,
        endpoint: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        key: str | None = None,
        credential: AsyncTokenCredential | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        resource_id: str | None = None,
        region: str | None = None,
    ) -> None:
        if (key is None) == (credential is None):
            raise ValueError(f"Resource '{alias}': configure exactly one of an API key or a token credential")
        self.alias = alias
        self.endpoint = endpoint.rstrip("/")
        self.api_version = normalize_api_version(api_version)
        self.resource_id = resource_id
        self.region = region
        self.retry = retry or RetryPolicy()
        self.rate_limits = rate_limits or RateLimits()
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = self.retry.make_random()
        self._auth: Authenticator = KeyAuth(key) if key is not None else TokenAuth(credential)  # type: ignore[arg-type]
        self._dialect: Dialect = dialect_for(
            self.endpoint, self.api_version, resource_id=resource_id, region=region, alias=alias
        )
        self._limiters: dict[LimitClass, AsyncRateLimiter | None] = {}
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return (
            f"DocIntelClient(alias={self.alias!r}, endpoint={self.endpoint!r}, "
            f"api_version={self.api_version!r})"
        )

    # -- lifecycle -----------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> DocIntelClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- public operations ---------------------------------------------------------------
    async def authorize_copy(
        self,
        kind: ItemKind,
        target_id: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> CopyAuthorization:
        """Ask *this* (target) resource for permission to copy an item into ``target_id``.

        API v2.1 ignores ``target_id``, ``description`` and ``tags``: the target mints a GUID,
        returned as ``CopyAuthorization.target_id``. Re-authorizing an id that is reserved by a
        pending authorization or already exists raises ``Conflict``.
        """
        kind = ItemKind(kind)
        self._dialect.check_supported(kind, copy=True, item_id=target_id)
        request = self._dialect.authorize_copy(kind, target_id, description, tags)
        reply = await self._send(request, item_id=target_id)
        return self._parse(lambda: self._dialect.parse_authorization(kind, target_id, reply), target_id)

    async def start_copy(
        self,
        kind: ItemKind,
        source_id: str,
        authorization: CopyAuthorization,
        *,
        allow_degrade: bool = False,
    ) -> str:
        """Start copying ``source_id`` from *this* (source) resource; returns the operation URL.

        ``allow_degrade`` sends ``x-ms-forms-copy-degrade: true`` (copy from a CMK-encrypted source
        into a target without CMK). Raises ``CopyOutcomeUnknown`` when the request may have reached
        the service but no answer came back.
        """
        kind = ItemKind(kind)
        self._dialect.check_supported(kind, copy=True, item_id=source_id)
        request = self._dialect.start_copy(kind, source_id, authorization, allow_degrade)
        secret = authorization.access_token.get_secret_value()
        reply = await self._send(request, item_id=source_id, secrets=(secret,))
        location = self._parse(lambda: self._dialect.parse_start_copy(reply), source_id)
        return self._resolve(location)

    async def get_operation(self, operation_url: str) -> Operation:
        """Read a copy operation (the URL returned by ``start_copy``) on *this* (source) resource."""
        url = self._resolve(operation_url)
        request = self._dialect.get_operation(url)
        reply = await self._send(request, item_id=last_path_segment(url))
        retry_after = parse_retry_after(reply.headers)
        return self._parse(lambda: self._dialect.parse_operation(operation_url, reply, retry_after), None)

    async def get_item(self, kind: ItemKind, item_id: str) -> ItemInfo:
        kind = ItemKind(kind)
        self._dialect.check_supported(kind, copy=False, item_id=item_id)
        reply = await self._send(self._dialect.get_item(kind, item_id), item_id=item_id)
        return self._parse(lambda: self._dialect.parse_item(kind, reply.body), item_id)

    async def iter_items(self, kind: ItemKind) -> AsyncIterator[ItemInfo]:
        """All items of ``kind`` (prebuilt models included), following ``nextLink`` page by page."""
        kind = ItemKind(kind)
        self._dialect.check_supported(kind, copy=False)
        request: Request = self._dialect.list_items(kind)
        seen: set[str] = set()
        while True:
            reply = await self._send(request)
            items, next_link = self._parse(lambda r=reply: self._dialect.parse_page(kind, r.body), None)  # type: ignore[misc]
            for item in items:
                yield item
            if not next_link:
                return
            url = self._resolve(next_link)
            if url in seen:
                logger.warning("list of %ss on %s: nextLink repeats, stopping", kind, self.alias)
                return
            seen.add(url)
            request = self._dialect.next_page(kind, url)

    async def list_items(self, kind: ItemKind) -> list[ItemInfo]:
        return [item async for item in self.iter_items(kind)]

    async def delete_item(self, kind: ItemKind, item_id: str) -> None:
        kind = ItemKind(kind)
        self._dialect.check_supported(kind, copy=False, item_id=item_id)
        await self._send(self._dialect.delete_item(kind, item_id), item_id=item_id)

    async def get_quota(self) -> ResourceQuota:
        reply = await self._send(self._dialect.get_quota())
        return self._parse(lambda: self._dialect.parse_quota(reply.body), None)

    # -- core ----------------------------------------------------------------------------
    def _limiter(self, limit_class: LimitClass) -> AsyncRateLimiter | None:
        if limit_class not in self._limiters:
            rate = self.rate_limits.rate_for(limit_class)
            self._limiters[limit_class] = (
                None
                if rate is None
                else shared_limiter(
                    self.endpoint,
                    limit_class,
                    rate,
                    burst=self.rate_limits.burst,
                    clock=self._clock,
                    sleep=self._sleep,
                )
            )
        return self._limiters[limit_class]

    def _resolve(self, url: str) -> str:
        """Make ``url`` absolute on this resource's endpoint.

        Credentials are only ever sent to the configured endpoint: a URL naming another host
        (which the service is not documented to do) is re-based onto the endpoint, keeping its
        path and query — inferred to be the same resource behind another host name.
        """
        parts = urlsplit(url)
        if not parts.scheme:
            return urljoin(self.endpoint + "/", url)
        base = urlsplit(self.endpoint)
        if (parts.scheme.lower(), parts.netloc.lower()) == (base.scheme.lower(), base.netloc.lower()):
            return url
        logger.warning(
            "resource %s: service URL host %s differs from the endpoint; using the endpoint's host",
            self.alias,
            parts.netloc,
        )
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))

    def _redact(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in [*self._auth.secrets(), *secrets]:
            if secret and len(secret) >= 4:
                text = text.replace(secret, _MASK)
        return text

    def _parse(self, parse: Callable[[], T], item_id: str | None) -> T:
        try:
            return parse()
        except DocIntelError:
            raise
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise DocIntelError(
                f"The service returned a reply this client cannot read ({type(exc).__name__}: "
                f"{self._redact(str(exc))[:300]})",
                alias=self.alias,
                item_id=item_id,
            ) from None

    async def _headers(self, request: Request, item_id: str | None) -> dict[str, str]:
        """The request's headers with a fresh client request id and the credential's."""
        try:
            auth_headers = await self._auth.headers()
        except Exception as exc:
            # Whatever the credential raises (azure.identity's CredentialUnavailableError,
            # ClientAuthenticationError, ...) means no token: the resource cannot be reached.
            raise Unauthorized(
                f"Could not get a Microsoft Entra ID token for {self.endpoint} "
                f"({type(exc).__name__}: {self._redact(str(exc))[:300]})",
                alias=self.alias,
                item_id=item_id,
            ) from exc
        return {**auth_headers, "x-ms-client-request-id": str(uuid.uuid4()), **request.headers}

    async def _send(
        self, request: Request, *, item_id: str | None = None, secrets: Iterable[str] = ()
    ) -> Reply:
        secrets = tuple(secrets)
        policy = self.retry
        started = self._clock()
        attempt = 0
        refreshed_auth = False
        path = urlsplit(request.url).path
        while True:
            attempt += 1
            limiter = self._limiter(request.limit_class)
            if limiter is not None:
                await limiter.acquire()
            headers = await self._headers(request, item_id)
            sent_at = self._clock()
            failure: DocIntelError
            try:
                response = await self._http.request(
                    request.method, request.url, json=request.json, headers=headers
                )
            except httpx.TransportError as exc:
                elapsed_ms = (self._clock() - sent_at) * 1000
                logger.debug(
                    "%s %s -> %s (alias=%s, attempt=%d, %.0f ms)",
                    request.method,
                    path,
                    type(exc).__name__,
                    self.alias,
                    attempt,
                    elapsed_ms,
                )
                not_sent = isinstance(exc, _NOT_SENT)
                if not not_sent and not request.safe_to_resend:
                    raise CopyOutcomeUnknown(
                        f"The copy request for '{item_id}' may have reached the service but no answer came "
                        f"back ({type(exc).__name__})",
                        alias=self.alias,
                        item_id=item_id,
                    ) from exc
                failure = ServiceUnavailable(
                    f"Could not reach the service at {self.endpoint} ({type(exc).__name__})",
                    alias=self.alias,
                    item_id=item_id,
                )
                retry_after = None
            else:
                reply = Reply(response.status_code, response.headers, _json_or_none(response))
                request_id = response.headers.get("apim-request-id") or response.headers.get(
                    "x-ms-request-id"
                )
                logger.debug(
                    "%s %s -> %d (alias=%s, request_id=%s, attempt=%d, %.0f ms)",
                    request.method,
                    path,
                    response.status_code,
                    self.alias,
                    request_id,
                    attempt,
                    (self._clock() - sent_at) * 1000,
                )
                _tell(limiter, response.status_code)
                if 200 <= response.status_code < 300:
                    return reply
                if response.status_code == 401 and not refreshed_auth and self._auth.invalidate():
                    # A cached bearer token can be revoked before it expires: fetch a new one once.
                    refreshed_auth = True
                    attempt -= 1
                    continue
                retry_after = parse_retry_after(response.headers)
                failure = self._error_from_reply(reply, request_id, item_id, retry_after, secrets)
                retry_after = failure.retry_after
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
                if response.status_code != 429 and not request.safe_to_resend:
                    raise CopyOutcomeUnknown(
                        f"The copy request for '{item_id}' got HTTP {response.status_code} and may or "
                        f"may not have been accepted ({failure.message})",
                        status=failure.status,
                        code=failure.code,
                        inner_code=failure.inner_code,
                        alias=self.alias,
                        item_id=item_id,
                        request_id=request_id,
                    ) from failure

            delay = retry_after if retry_after is not None else policy.backoff(attempt, self._rng)
            elapsed = self._clock() - started
            if attempt >= policy.max_attempts or elapsed + delay > policy.max_total_seconds:
                if failure.retry_after is None and retry_after is not None:
                    failure.retry_after = retry_after
                raise failure
            logger.warning(
                "%s %s on resource %s failed (%s); retry %d/%d in %.2f s",
                request.method,
                path,
                self.alias,
                failure.code or type(failure).__name__,
                attempt,
                policy.max_attempts - 1,
                delay,
            )
            await self._sleep(delay)

    def _error_from_reply(
        self,
        reply: Reply,
        request_id: str | None,
        item_id: str | None,
        retry_after: float | None,
        secrets: tuple[str, ...],
    ) -> DocIntelError:
        service_error = parse_service_error(reply.body) or ServiceError(
            code=str(reply.status), message=f"HTTP {reply.status} without an error body"
        )
        service_error = service_error.model_copy(
            update={
                "message": self._redact(service_error.message, secrets),
                "inner_message": (
                    self._redact(service_error.inner_message, secrets)
                    if service_error.inner_message
                    else None
                ),
            }
        )
        return error_from_service(
            service_error,
            status=reply.status,
            alias=self.alias,
            item_id=item_id,
            request_id=request_id,
            retry_after=retry_after,
        )


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _tell(limiter: AsyncRateLimiter | None, status: int) -> None:
    """The limiter learns from each answer whether the budget it paces is shared (429) or not."""
    if limiter is None:
        return
    if status == 429:
        limiter.throttled()
    elif 200 <= status < 300:
        limiter.succeeded()
