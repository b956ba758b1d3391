"""One running job per copy: which job is copying an item to a target right now.

Two requests for the same copy meet often at scale: a sync started while another runs, a training
pipeline that notifies twice, a client that sends its POST again after a reply was lost, a follow-up
sync while earlier jobs are still under way. Without a claim each would become a job, and all but one
would end refused by the target (its id is reserved by the first one's authorization). With it, the
second request is answered with the job that is already copying, across every instance, and the
work is done once.

A claim is a row in the state table: PartitionKey ``claim``, RowKey
``item.{kind}.{source}.{target}.{source id}`` (`CopyKey.item_row`), holding the job id, the target
id asked for and a fingerprint of what the copy stamps on the target (description and tags). A
request for another build or another target id is a different copy and does not share the claim.
The job's row is written before its claim, so a claim always names a job that has a row. The claim
is written with insert-if-absent or replace-if-unchanged (ETag), so two instances cannot both take
it; it is released when its job ends. A claim whose job has ended or is gone is taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.copy.durations import CopyKey

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

PARTITION = "claim"


@dataclass(frozen=True)
class Claim:
    job_id: str
    target_id: str
    content: str
    claimed_at: datetime
    etag: str

    def same_copy(self, target_id: str, content: str) -> bool:
        return self.target_id == target_id and self.content == content


class CopyClaims:
    """Claims in the state table (the client is passed in, its owner closes it)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def get(self, key: CopyKey) -> Claim | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self._table.get_entity(PARTITION, key.item_row)
        except ResourceNotFoundError:
            return None
        return Claim(
            job_id=entity["jobId"],
            target_id=entity.get("targetId", ""),
            content=entity.get("content", ""),
            claimed_at=entity["claimedAt"],
            etag=str(entity.metadata["etag"]),
        )

    async def take(
        self, key: CopyKey, job_id: str, target_id: str, content: str, now: datetime, replacing: Claim | None
    ) -> bool:
        """Claim the copy for `job_id`: insert the row, or replace `replacing` (a stale claim) if it is
        unchanged since it was read. False when another instance got there first."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": PARTITION,
            "RowKey": key.item_row,
            "jobId": job_id,
            "targetId": target_id,
            "content": content,
            "claimedAt": now,
        }
        try:
            if replacing is None:
                await self._table.create_entity(entity)
            else:
                await self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=replacing.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def release(self, key: CopyKey, job_id: str) -> None:
        """Give the claim up if `job_id` still holds it (a newer job may have taken over)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        claim = await self.get(key)
        if claim is None or claim.job_id != job_id:
            return
        try:
            await self._table.delete_entity(
                PARTITION, key.item_row, etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            pass
