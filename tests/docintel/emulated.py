"""Helpers for running DocIntelClient against the local emulator (in-process and over sockets)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from local.emulator import EmulatorNetwork, EmulatorState
from shared.docintel import DocIntelClient, RateLimits, RetryPolicy

NO_LIMITS = RateLimits(management_per_second=None, list_per_second=None, status_per_second=None)
SRC_KEY = "src-key-0a1b2c3d4e5f"
DST_KEY = "dst-key-9f8e7d6c5b4a"
V21_SOURCE_ID = "7b0f3c7e-1d2a-4c5b-9e8f-0a1b2c3d4e5f"


def seed_for(version: str) -> dict[str, Any]:
    """A source holding one model of the version's family, a composed model and a classifier."""
    if version == "2.1":
        return {"models": [{"modelId": V21_SOURCE_ID, "apiVersion": "2.1", "modelName": "invoices"}]}
    return {
        "models": [
            {
                "modelId": "invoice",
                "description": "Invoices",
                "tags": {"team": "ap"},
                "buildMode": "template",
            },
        ],
        "classifiers": [{"classifierId": "sorter", "description": "Sorts documents"}],
    }


def source_id_for(version: str) -> str:
    return V21_SOURCE_ID if version == "2.1" else "invoice"


class FakeTokenCredential:
    """An azure-core AsyncTokenCredential: unsigned JWTs for the Cognitive Services audience.

    The emulator accepts a three-part JWT whose ``aud`` is https://cognitiveservices.azure.com and
    whose ``exp`` is in the future (it does not check signatures).
    """

    def __init__(self, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []
        self.issued: list[str] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        exp = int(time.time()) + self.lifetime

        def part(obj: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        token = ".".join(
            [
                part({"alg": "none", "typ": "JWT"}),
                part({"aud": "https://cognitiveservices.azure.com", "exp": exp}),
                "sig",
            ]
        )
        self.issued.append(token)
        return _AccessToken(token, exp)

    async def close(self) -> None:
        return None


@dataclass
class _AccessToken:
    token: str
    expires_on: int


def client_for(
    net: EmulatorNetwork, state: EmulatorState, version: str, *, credential: Any = None, **kwargs: Any
) -> DocIntelClient:
    options: dict[str, Any] = {
        "api_version": version,
        "transport": net.transport,
        "rate_limits": NO_LIMITS,
        "retry": RetryPolicy(seed=3),
        "resource_id": state.resource_id,
        "region": state.region,
    }
    if credential is None:
        options["key"] = state.key
    else:
        options["credential"] = credential
    options.update(kwargs)
    return DocIntelClient(state.region, state.endpoint, **options)
