"""The peer protocol: how a source emulator copies into a target emulator (another process, or
another app on the same in-process transport).

The target serves ``POST /_emulator/copy/{validate,commit,abort}``, authenticated by the copy's
access token in the ``x-ms-emulator-copy-token`` header rather than by the key:

* ``validate`` ``{"kind", "claims", "buildMode", "sourceResourceId"}`` before the copy starts:
  200 ``{"resourceId", "region", "cmk"}``, or 400 with the service error the source answers with;
* ``commit`` ``{"kind", "claims", "definition", "apiVersion"}`` when the copy is due: 200 with the
  created item, 409 ``{"error": {"code": "2024"}}`` when the authorization is unknown or used;
* ``abort`` ``{}`` when the copy failed: 204; the token stays used.

``PeerClient`` is the source's side (the registry of peers by ARM id, the httpx client, what each
reply means); ``answer`` is the target's.
"""

from __future__ import annotations

from typing import Any

import httpx

from .authorizations import Authorizations
from .errors import DIError, invalid_target, route_not_found

COPY_TOKEN_HEADER = "x-ms-emulator-copy-token"  # noqa: S105 - a header name, not a secret
UNREACHABLE = ("InternalServerError", "The copy failed: the target resource is unreachable.")
NOT_COMMITTED = (
    "2024",
    "Could not retrieve authorization metadata. If this issue persists "
    "use a different target model to copy into.",
)

Failure = tuple[str, str]  # (code, message) of a failed copy operation


class PeerClient:
    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, peers: dict[str, str] | None = None
    ) -> None:
        self.endpoints: dict[str, str] = {k.lower(): v.rstrip("/") for k, v in (peers or {}).items()}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def register(self, resource_id: str, endpoint: str) -> None:
        """Tell this emulator where another resource lives (needed by v2.1 copy, which only names
        the target by ARM id)."""
        self.endpoints[resource_id.lower()] = endpoint.rstrip("/")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=httpx.Timeout(10.0))
        return self._client

    async def _post(self, base: str, action: str, token: str, body: dict[str, Any]) -> httpx.Response:
        return await self._http().post(
            f"{base}/_emulator/copy/{action}", json=body, headers={COPY_TOKEN_HEADER: token}
        )

    async def validate(self, base: str, rid: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The target's reply to ``validate``; raises the error the source answers copyTo with."""
        try:
            resp: httpx.Response | None = await self._post(base, "validate", token, payload)
        except httpx.HTTPError:
            resp = None
        if resp is None or resp.status_code not in (200, 400):
            raise invalid_target(rid)
        data: dict[str, Any] = resp.json()
        if resp.status_code == 400:
            err = data.get("error", {})
            raise DIError(
                400,
                err.get("code", "1002"),
                err.get("message", "Invalid copy request."),
                err.get("innererror", {}).get("code"),
            )
        if data.get("resourceId", "").lower() != rid.lower():
            raise invalid_target(rid)
        return data

    async def transfer(
        self, base: str, token: str, failure: Failure | None, commit: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, Failure | None]:
        """End a copy at the target: ``abort`` when it failed already, else ``commit``.
        (created item, None) or (None, failure)."""
        try:
            if failure is not None:
                await self._post(base, "abort", token, {})
                return None, failure
            resp = await self._post(base, "commit", token, commit)
            if resp.status_code == 200:
                return resp.json(), None
        except httpx.HTTPError:
            return None, UNREACHABLE
        if resp.status_code == 409:
            return None, NOT_COMMITTED
        # inferred: target failed mid-transfer -> generic failure
        return None, (
            "InternalServerError",
            f"The copy failed: the target resource did not accept the model (HTTP {resp.status_code}).",
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def answer(auths: Authorizations, action: str, token: str, payload: Any) -> tuple[int, Any]:
    """The target's reply to a peer call: (status, JSON body; None for 204)."""
    try:
        if action == "validate":
            return 200, auths.validate(token, payload)
        if action == "commit":
            item = auths.commit(token, payload)
            return (200, item) if item is not None else (409, {"error": {"code": "2024"}})
        if action == "abort":
            auths.abort(token)
            return 204, None
    except DIError as e:
        return e.status, e.body(None)
    return 404, route_not_found().body(None)
