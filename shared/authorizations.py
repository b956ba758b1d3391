"""Copy authorizations not used up yet, by target resource and item: the one place where the app keeps
copy access tokens (job rows only say when theirs expires).

A target answers 409 to a second authorizeCopy for an id while an earlier authorization of it is
pending (Azure/azure-sdk-for-net#51813), and a copy that failed before it reached the target (the
target was down, say) leaves its authorization pending for up to 24 hours. Keeping the authorization
lets a later job for the same item use it instead of being refused for a day.

Rows live in the state table: PartitionKey ``authorization``, RowKey ``{target}.{kind}.{target id}``;
they are removed when a copy succeeds (the authorization is then consumed) and ignored once expired.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from shared.docintel import CopyAuthorization

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger("docintel_dr.authorizations")
PARTITION = "authorization"


class PendingAuthorizations:
    def __init__(self, table: TableClient | None) -> None:
        self._table = table
        self._memory: dict[str, tuple[str, str | None, str]] = {}  # without a table (tests, the CLI)

    @staticmethod
    def _key(target: str, kind: str, target_id: str) -> str:
        return f"{target}.{kind}.{target_id}"

    async def put(
        self, target: str, authorization: CopyAuthorization, job_id: str | None, content: str = ""
    ) -> None:
        """Keep `authorization`, taken by `job_id`. `content` fingerprints what the target will stamp on
        the copy (description and tags given at authorization): only a request for the same content
        may reuse it."""
        key = self._key(target, authorization.kind.value, authorization.target_id)
        if self._table is None:
            self._memory[key] = (authorization.to_secret_json(), job_id, content)
            return
        from azure.data.tables import UpdateMode

        await self._table.upsert_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": key,
                "authorization": authorization.to_secret_json(),
                "expiresAt": authorization.expires_at,
                "jobId": job_id or "",
                "content": content,
            },
            mode=UpdateMode.REPLACE,
        )

    async def get(
        self, target: str, kind: str, target_id: str, now: datetime
    ) -> tuple[CopyAuthorization, str | None, str] | None:
        """The pending authorization of this item at this target, the job that took it and its content
        fingerprint, if it is still valid at `now`."""
        key = self._key(target, kind, target_id)
        if self._table is None:
            found = self._memory.get(key)
            if found is None:
                return None
            raw, job_id, content = found
        else:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                entity = await self._table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                return None
            raw, job_id, content = (
                entity["authorization"],
                entity.get("jobId") or None,
                entity.get("content", ""),
            )
        authorization = CopyAuthorization.from_secret_json(raw)
        if authorization.expires_at <= now:
            await self.discard(target, kind, target_id)
            return None
        return authorization, job_id, content

    async def discard(self, target: str, kind: str, target_id: str) -> None:
        key = self._key(target, kind, target_id)
        if self._table is None:
            self._memory.pop(key, None)
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(PARTITION, key)
        except ResourceNotFoundError:
            pass


def content_fingerprint(description: str | None, tags: dict[str, str]) -> str:
    """What an authorization stamps on its copy, in a few bytes."""
    document = json.dumps({"description": description, "tags": tags}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:32]
