"""Request authentication: an API key, or an Entra ID token from a caller-supplied credential.

azure.core / azure.identity are not imported at run time (cold start): the caller builds the
credential (managed identity in Azure) and passes it in; any object with an async
``get_token(*scopes)`` returning ``.token`` and ``.expires_on`` (epoch seconds) works.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

SCOPE = "https://cognitiveservices.azure.com/.default"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
#: Refresh a cached token this many seconds before it expires.
REFRESH_MARGIN_SECONDS = 300.0


class Authenticator(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> bool:
        """Forget cached credentials after a 401; True when a retry with fresh ones makes sense."""
        ...

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or messages."""
        ...


class KeyAuth:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("key must not be empty")
        self._key = key

    async def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self._key}

    def invalidate(self) -> bool:
        return False

    def secrets(self) -> list[str]:
        return [self._key]

    def __repr__(self) -> str:
        return "KeyAuth(key='***')"


class TokenAuth:
    """Bearer tokens from an ``AsyncTokenCredential``, cached until 5 minutes before ``expires_on``."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        scope: str = SCOPE,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._wall_clock = wall_clock
        self._token: str | None = None
        self._expires_on: float = 0.0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._seen: list[str] = []

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def _fresh(self) -> bool:
        return self._token is not None and self._wall_clock() < self._expires_on - REFRESH_MARGIN_SECONDS

    async def headers(self) -> dict[str, str]:
        if not self._fresh():
            async with self._get_lock():
                if not self._fresh():
                    access = await self._credential.get_token(self._scope)
                    self._token = access.token
                    self._expires_on = float(access.expires_on)
                    self._seen.append(access.token)
                    del self._seen[:-4]
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        had = self._token is not None
        self._token = None
        self._expires_on = 0.0
        return had

    def secrets(self) -> list[str]:
        return list(self._seen)

    def __repr__(self) -> str:
        return f"TokenAuth(scope={self._scope!r})"
