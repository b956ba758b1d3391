"""Helpers shared by the emulator tests (imported by basename; pytest prepend import mode)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from local.emulator.versions import VERSIONS

SRC_KEY = "source-key-0123456789"
DST_KEY = "target-key-9876543210"
ALL_VERSIONS = ["v2.1", "2022-08-31", "2023-07-31", "2024-02-29-preview", "2024-07-31-preview", "2024-11-30"]
V3PLUS = ALL_VERSIONS[1:]
CLASSIFIER_COPY_VERSIONS = ["2024-07-31-preview", "2024-11-30"]


def prefix(ver: str) -> str:
    return VERSIONS[ver].prefix


def params(ver: str) -> dict[str, str]:
    return {} if ver == "v2.1" else {"api-version": ver}


async def authorize(
    target: httpx.AsyncClient, ver: str, kind: str = "model", item_id: str | None = None, **extra: Any
) -> httpx.Response:
    if ver == "v2.1":
        return await target.post(f"{prefix(ver)}/custom/models/copyAuthorization", json={})
    coll = "documentModels" if kind == "model" else "documentClassifiers"
    field = "modelId" if kind == "model" else "classifierId"
    return await target.post(
        f"{prefix(ver)}/{coll}:authorizeCopy", params=params(ver), json={field: item_id, **extra}
    )


async def copy_to(
    source: httpx.AsyncClient,
    ver: str,
    kind: str,
    source_id: str,
    auth: dict[str, Any],
    target_resource_id: str | None = None,
    target_region: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if ver == "v2.1":
        body = {
            "targetResourceId": target_resource_id,
            "targetResourceRegion": target_region,
            "copyAuthorization": auth,
        }
        return await source.post(f"{prefix(ver)}/custom/models/{source_id}/copy", json=body, headers=headers)
    coll = "documentModels" if kind == "model" else "documentClassifiers"
    return await source.post(
        f"{prefix(ver)}/{coll}/{source_id}:copyTo", params=params(ver), json=auth, headers=headers
    )


async def poll(source: httpx.AsyncClient, url: str, limit: float = 10.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        r = await source.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)


async def get_item(client: httpx.AsyncClient, ver: str, kind: str, item_id: str) -> httpx.Response:
    if ver == "v2.1":
        return await client.get(f"{prefix(ver)}/custom/models/{item_id}")
    coll = "documentModels" if kind == "model" else "documentClassifiers"
    return await client.get(f"{prefix(ver)}/{coll}/{item_id}", params=params(ver))


V21_SOURCE_ID = "f973e3c1-1148-43bb-bea8-49d0603ab3a8"


def standard_seed() -> dict[str, Any]:
    return {
        "models": [
            {
                "modelId": "src-model",
                "description": "source model",
                "tags": {"team": "a"},
                "docTypes": {
                    "invoice": {
                        "buildMode": "template",
                        "fieldSchema": {"Total": {"type": "number"}},
                        "fieldConfidence": {"Total": 0.9},
                    }
                },
            },
            {"modelId": "src-neural", "buildMode": "neural"},
            {
                "modelId": "src-composed",
                "docTypes": {
                    "a": {"modelId": "src-model", "fieldSchema": {}},
                    "b": {"modelId": "src-neural", "fieldSchema": {}},
                },
            },
            {"modelId": V21_SOURCE_ID, "apiVersion": "2.1", "modelName": "legacy"},
        ],
        "classifiers": [{"classifierId": "src-classifier", "description": "source classifier"}],
    }
