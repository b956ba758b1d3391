"""Who may call the emulated service: the resource key (``Ocp-Apim-Subscription-Key``) or a
Microsoft Entra bearer token for the Cognitive Services audience. Token signatures are not checked
(there are no keys offline); with ``accept_any_token`` any well-formed JWT passes."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from .clock import Clock
from .resource import Resource

COGNITIVE_AUDIENCES = ("https://cognitiveservices.azure.com", "https://cognitiveservices.azure.com/")
APIM_401 = {
    "error": {
        "code": "401",
        "message": (
            "Access denied due to invalid subscription key or wrong API endpoint. "
            "Make sure to provide a valid key for an active subscription "
            "and use a correct regional API endpoint for your resource."
        ),
    }
}
_CACHE_LIMIT = 1000


class Authenticator:
    def __init__(self, resource: Resource, clock: Clock) -> None:
        self.resource = resource
        self.clock = clock
        self._jwt_cache: dict[str, float] = {}  # token -> expiry

    def authorized(self, headers: Mapping[str, str]) -> bool:
        key = headers.get("ocp-apim-subscription-key")
        if key is not None:
            return key == self.resource.key
        auth = headers.get("authorization")
        if not auth or not auth.lower().startswith("bearer "):
            return False
        token = auth[7:].strip()
        exp = self._jwt_cache.get(token)
        if exp is None:
            exp = self._check_jwt(token)
            if exp is None:
                return False
            if len(self._jwt_cache) > _CACHE_LIMIT:
                self._jwt_cache.clear()
            self._jwt_cache[token] = exp
        return exp > self.clock.now()

    def _check_jwt(self, token: str) -> float | None:
        """Expiry of an acceptable JWT, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, claims = _decode(parts[0]), _decode(parts[1])
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        exp = claims.get("exp")
        if self.resource.accept_any_token:
            return float(exp) if isinstance(exp, int | float) else float("inf")
        if claims.get("aud") not in COGNITIVE_AUDIENCES or not isinstance(exp, int | float):
            return None
        return float(exp)


def _decode(part: str) -> Any:
    """A JWT part's JSON (any JSON value); None when it is not base64url JSON."""
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
