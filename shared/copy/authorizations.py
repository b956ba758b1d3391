"""Copy authorizations not used up yet, by target resource and item: the one place where the app keeps
copy access tokens (job rows only say when theirs expires).

A target answers 409 to a second authorizeCopy for an id while an earlier authorization of it is
pending (Azure/azure-sdk-for-net#51813), and a copy that failed before it reached the target (the
target was down, say) leaves its authorization pending until it expires (one hour in v3/v4, 24 hours
in v2.1). Keeping the authorization lets a later job for the same item use it instead of being refused
until then.

Rows live in the state table: PartitionKey ``authorization``, RowKey ``{target}.{kind}.{target id}``;
they are removed when a copy succeeds (the authorization is then consumed) and ignored once expired.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.docintel import CopyAuthorization, ItemKind

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

PARTITION = "authorization"


@dataclass(frozen=True)
class PendingAuthorization:
    authorization: CopyAuthorization
    #: The job that took it (None: taken outside a job).
    job_id: str | None
    #: `content_fingerprint` of what the target stamps on the copy.
    content: str


class PendingAuthorizations:
    """Pending authorizations in the state table (the client is passed in, its owner closes it)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    @staticmethod
    def _key(target_alias: str, kind: ItemKind, target_id: str) -> str:
        return f"{target_alias}.{kind.value}.{target_id}"

    async def put(
        self, target_alias: str, authorization: CopyAuthorization, job_id: str | None, content: str
    ) -> None:
        """Keep `authorization`, taken by `job_id`. `content` fingerprints what the target will stamp on
        the copy (description and tags given at authorization): only a request for the same content
        may reuse it."""
        from azure.data.tables import UpdateMode

        await self._table.upsert_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": self._key(target_alias, authorization.kind, authorization.target_id),
                "authorization": authorization.to_secret_json(),
                "expiresAt": authorization.expires_at,
                "jobId": job_id or "",
                "content": content,
            },
            mode=UpdateMode.REPLACE,
        )

    async def get(
        self, target_alias: str, kind: ItemKind, target_id: str, now: datetime
    ) -> PendingAuthorization | None:
        """The pending authorization of this item at this target, if it is still valid at `now`."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, self._key(target_alias, kind, target_id))
        except ResourceNotFoundError:
            return None
        authorization = CopyAuthorization.from_secret_json(entity["authorization"])
        if authorization.expires_at <= now:
            await self.discard(target_alias, kind, target_id)
            return None
        return PendingAuthorization(authorization, entity.get("jobId") or None, entity.get("content", ""))

    async def discard(self, target_alias: str, kind: ItemKind, target_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._table.delete_entity(PARTITION, self._key(target_alias, kind, target_id))
        except ResourceNotFoundError:
            pass


def content_fingerprint(description: str | None, tags: dict[str, str]) -> str:
    """What an authorization stamps on its copy, in a few bytes."""
    document = json.dumps({"description": description, "tags": tags}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:32]
