"""The copy pipeline's decisions, as plain functions of (job, what just happened) -> next action.

Nothing here does I/O. The shell in `shared.copy.service` reads the job row and the service's reply,
asks these functions what to do, and carries the action out. Every decision is safe under
at-least-once delivery: a message that carries a stale generation is dropped, unless it is the
redelivery of the very message that advanced the job (the process died between the row update and
sending the next message), in which case the next message is sent again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.copy import integrity
from shared.copy.durations import DurationEstimate
from shared.copy.jobs import Job, JobStatus
from shared.docintel import (
    AuthorizationClaimsInvalid,
    CopyAuthorization,
    Disposition,
    DocIntelError,
    DowngradeRequired,
    ItemInfo,
    ItemNotFound,
    Operation,
    OperationStatus,
    error_from_service,
)
from shared.settings import PollPolicy

# How many times one job may authorize again (expired or consumed authorization) before it fails.
MAX_REAUTHORIZATIONS = 2
#: Actions one message may carry out before the job is handed to a later message: every path ends
#: in far fewer; one that does not (a service answering in a circle) must not spin in one invocation.
MAX_ACTIONS_PER_MESSAGE = 12
# Reads spread over the window where a copy may end, when that window is wide (a rough estimate).
WINDOW_READS = 8
# Past the window, the next read waits this fraction of how overdue the copy is.
OVERDUE_FRACTION = 0.25


# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drop:
    """Nothing to do: the message is stale or the job is already done."""

    reason: str


@dataclass(frozen=True)
class Authorize:
    """A queued job's turn: authorize at the target, then start the copy at once."""


@dataclass(frozen=True)
class StartCopy:
    """Call copyTo at the source with the job's authorization: the one just made, when the step that
    made it hands it on (no read back), else the one kept for the job."""

    authorization: CopyAuthorization | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Reauthorize:
    """Authorize at the target again, then start the copy."""

    reason: str
    #: The service could not retrieve the authorization's metadata and nothing reached the target.
    metadata_unretrievable: bool = False


@dataclass(frozen=True)
class ReadOperation:
    """Read the copy operation at the source."""


@dataclass(frozen=True)
class SchedulePoll:
    """Send the next poll message, visible after `delay` seconds."""

    delay: float


@dataclass(frozen=True)
class ResendNext:
    """Send again the message that the job's current state expects (it may have been lost)."""


@dataclass(frozen=True)
class RetryLater:
    """A transient failure: try the same step again after `delay` seconds, with a new message."""

    delay: float
    reason: str


@dataclass(frozen=True)
class VerifyTarget:
    """Read the target item; its presence decides the job."""

    reason: str
    #: The service said the authorization was already used: if the target item is missing, this
    #: job's copy never ran and a new authorization may start it.
    authorization_used: bool = False


@dataclass(frozen=True)
class Finish:
    """The job ends with this status."""

    status: JobStatus
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class PublishEvent:
    """The job is terminal but its completion event was not published yet."""


Action = (
    Drop
    | Authorize
    | StartCopy
    | Reauthorize
    | ReadOperation
    | SchedulePoll
    | ResendNext
    | RetryLater
    | VerifyTarget
    | Finish
    | PublishEvent
)


# --- message arrival --------------------------------------------------------------------------


def _arrival(job: Job | None, generation: int, message_id: str | None) -> Action | None:
    """What every handler checks first; None means the message is current."""
    if job is None:
        return Drop("unknown job")
    if job.status.is_terminal:
        return Drop("job already finished") if job.event_published else PublishEvent()
    if generation == job.generation:
        return None
    if generation == job.generation - 1 and message_id is not None and job.advanced_by == message_id:
        # Redelivery of the message that advanced the job: the next message may never have been
        # sent. Send it again; if it was sent, the duplicate collapses at the next generation.
        return ResendNext()
    return Drop(f"stale message (generation {generation}, job at {job.generation})")


def on_copy_request(
    job: Job | None, generation: int, message_id: str | None, now: datetime, margin: timedelta
) -> Action:
    """A `copy-requests` message arrived."""
    early = _arrival(job, generation, message_id)
    if early is not None:
        return early
    assert job is not None  # _arrival drops a message without a job
    if job.status is JobStatus.QUEUED:
        return Authorize()
    if job.status is not JobStatus.AUTHORIZED:
        return Drop(f"copy already {job.status.value}")
    if job.authorization_expires_at is None or job.authorization_expires_at - margin <= now:
        return Reauthorize("the authorization expired or expires soon")
    return StartCopy()


def on_poll(job: Job | None, generation: int, message_id: str | None, now: datetime) -> Action:
    """A `copy-polls` message arrived."""
    early = _arrival(job, generation, message_id)
    if early is not None:
        return early
    assert job is not None
    if job.status is JobStatus.AUTHORIZED or job.operation_url is None:
        return Drop("the copy has not started")
    if job.deadline_at is not None and now >= job.deadline_at:
        return VerifyTarget("the polling deadline passed; the target item decides")
    return ReadOperation()


# --- replies from the service -----------------------------------------------------------------


def _reauthorize_or_fail(job: Job, reason: str, code: str, message: str) -> Action:
    if job.reauthorizations < MAX_REAUTHORIZATIONS:
        return Reauthorize(reason)
    return Finish(
        JobStatus.FAILED, code, f"{message} (gave up after {job.reauthorizations} new authorizations)"
    )


def on_start_error(job: Job, error: DocIntelError, doing: str, policy: PollPolicy, now: datetime) -> Action:
    """authorizeCopy or copyTo failed; `doing` says which, for the job's record."""
    code = error.code or type(error).__name__
    match error.disposition:
        case Disposition.TRANSIENT if job.deadline_at is not None and now >= job.deadline_at:
            return Finish(JobStatus.FAILED, code, f"{doing} kept failing until the deadline: {error.message}")
        case Disposition.TRANSIENT:
            # An unknown outcome included: a second copyTo with a consumed authorization fails with
            # "authorization already used", and then the target item decides.
            return RetryLater(
                transient_delay(job.retries, policy, error.retry_after),
                f"{doing} failed transiently: {error.message}",
            )
        case Disposition.REAUTHORIZE:
            # If the target keeps refusing new authorizations, the job fails with the target's words.
            if isinstance(error, AuthorizationClaimsInvalid):
                return _reauthorize_or_fail(
                    job,
                    "the target did not accept the authorization",
                    code,
                    f"The target rejected the copy authorization as modified: {error.message}",
                )
            return _reauthorize_or_fail(job, "the authorization expired", code, error.message)
        case Disposition.CHECK_TARGET:
            return VerifyTarget("the authorization was already used", authorization_used=True)
    return Finish(JobStatus.FAILED, code, _permanent_message(job, error))


def _permanent_message(job: Job, error: DocIntelError) -> str:
    if isinstance(error, ItemNotFound):
        return f"{job.kind} '{job.source_id}' does not exist at source '{job.source_alias}'."
    if isinstance(error, DowngradeRequired):
        return downgrade_message(job)
    return error.message


def downgrade_message(job: Job) -> str:
    setting = f"DR_RESOURCES__{job.target_alias.upper()}__ALLOW_DEGRADE"
    return (
        f"Copying {job.kind} '{job.source_id}' from '{job.source_alias}' to '{job.target_alias}' "
        f"would lower its data protection (the source uses a customer-managed key, the target does "
        f"not). Set {setting}=true to allow it, or configure a customer-managed key on the target."
    )


def on_operation(
    job: Job, operation: Operation, now: datetime, policy: PollPolicy, estimate: DurationEstimate | None
) -> Action:
    """The operation was read."""
    status = operation.status
    if not status.is_terminal:
        return SchedulePoll(next_poll_delay(job, operation, now, policy, estimate))
    if status is OperationStatus.SUCCEEDED:
        return VerifyTarget("the operation succeeded")
    if status is OperationStatus.CANCELED:
        return Finish(JobStatus.FAILED, "OperationCanceled", "The service canceled the copy operation.")
    if operation.error is None:
        return Finish(JobStatus.FAILED, "CopyFailed", "The copy operation failed without an error detail.")
    error = error_from_service(operation.error, alias=job.source_alias, item_id=job.source_id)
    match error.disposition:
        case Disposition.CHECK_TARGET:
            # The authorization was consumed: maybe by this job's own earlier copyTo whose reply was lost.
            return VerifyTarget("the authorization was already used", authorization_used=True)
        case Disposition.REAUTHORIZE:
            return _reauthorize_or_fail(job, "the authorization expired", error.code or "1002", error.message)
    return Finish(JobStatus.FAILED, error.code, _permanent_message(job, error))


def on_target(
    job: Job, item: ItemInfo | None, verify: VerifyTarget, now: datetime, source: ItemInfo | None = None
) -> Action:
    """The target item was read (None: it does not exist) because of `verify`. A ready item must
    match its source (`shared.copy.integrity`): the source item when it was read, else the digest
    the job keeps; one that differs fails the job as diverged (the copy stays at the target)."""
    if item is not None and item.ready:
        found = integrity.check_copy(
            expected=job.source_schema, source=source, target=item, source_id=job.source_id
        )
        if found is not None:
            return Finish(JobStatus.FAILED, integrity.DIVERGED, diverged_message(job, found))
        return Finish(JobStatus.SUCCEEDED)
    past_deadline = job.deadline_at is not None and now >= job.deadline_at
    if item is not None:
        if past_deadline:
            return Finish(
                JobStatus.FAILED,
                "TargetNotReady",
                f"{job.kind} '{job.target_id}' at '{job.target_alias}' was still not ready at the deadline.",
            )
        return SchedulePoll(delay=5)
    if verify.authorization_used:
        return _after_unretrievable_metadata(job)
    if past_deadline:
        return Finish(
            JobStatus.FAILED,
            "DeadlineExceeded",
            f"The copy did not finish within the deadline and {job.kind} '{job.target_id}' "
            f"does not exist at '{job.target_alias}'.",
        )
    return Finish(
        JobStatus.FAILED,
        "TargetMissing",
        f"The operation reported success but {job.kind} '{job.target_id}' does not exist at "
        f"'{job.target_alias}'.",
    )


def diverged_message(job: Job, found: list[str]) -> str:
    return (
        f"The copy of {job.kind} '{job.source_id}' at '{job.target_alias}' ('{job.target_id}') does not "
        f"match the source at '{job.source_alias}': {integrity.describe(found)}. The copy stays at the "
        f"target, not counted as present; delete it there and copy again."
    )


def _after_unretrievable_metadata(job: Job) -> Action:
    """Error 2024 ("could not retrieve authorization metadata") and no target item: the authorization
    was not used by a copy of this job. Once, that is an authorization the service lost: a new one is
    the cure. With a fresh authorization too, the target named in the authorization is not the
    resource that issued it: its configured resource id or region is wrong, and no retry helps."""
    if job.unretrievable_authorizations == 0:
        return Reauthorize("the service could not retrieve the authorization", metadata_unretrievable=True)
    prefix = f"DR_RESOURCES__{job.target_alias.upper()}__"
    return Finish(
        JobStatus.FAILED,
        "TargetMisconfigured",
        f"The service could not retrieve the copy authorization issued by '{job.target_alias}', twice, "
        f"with a fresh authorization: the target's resource id or region in the configuration does not "
        f"match the resource at its endpoint. Check {prefix}RESOURCE_ID and {prefix}REGION (the region "
        f"as Azure names it, e.g. westus2) against the resource at {prefix}ENDPOINT.",
    )


def on_reauthorize_conflict(
    job: Job, current: CopyAuthorization | None, now: datetime, policy: PollPolicy
) -> Action:
    """authorizeCopy answered 409: the target id is reserved (an earlier authorization) or exists."""
    if current is not None and current.expires_at > now:
        if current.expires_at != job.authorization_expires_at:
            # An earlier authorization still holds the reservation and is still valid: use it.
            return StartCopy()
        # The very authorization being replaced (the copy refused it) still holds the reservation:
        # copying with it again would fail the same way. Wait until the target lets it lapse.
        return RetryLater(
            transient_delay(job.retries, policy, None),
            f"'{job.target_alias}' still reserves the id for the authorization being replaced; "
            "waiting for it to lapse",
        )
    return Finish(
        JobStatus.FAILED,
        "Conflict",
        f"{job.kind} id '{job.target_id}' already exists or is reserved at '{job.target_alias}'. "
        f"Delete it there, or copy to another targetId.",
    )


# --- timing -----------------------------------------------------------------------------------


def next_poll_delay(
    job: Job, operation: Operation, now: datetime, policy: PollPolicy, estimate: DurationEstimate | None
) -> float:
    """Seconds until the next status read.

    The service reports no progress before a copy ends (and, from 2023-07-31 on, no Retry-After), so
    reads are aimed from how long copies took before (`shared.copy.durations`): until the estimate's
    earliest end, wait; inside the window where the copy may end, read at a steady cadence (the policy's
    minimum delay for an item's own history, coarser for a rough estimate from other items); past the
    window, back off with how overdue the copy is. Without any estimate the delay starts at the minimum
    and grows 1.5x per read. A Retry-After (v2.1 sends one) is a floor; the policy's maximum a cap.
    """
    started = job.started_at or job.created_at
    elapsed = max((now - started).total_seconds(), 0.0)
    if estimate is None:
        delay = policy.min_delay_seconds * math.pow(1.5, min(job.polls, 20))
    elif elapsed < estimate.earliest:
        delay = estimate.earliest - elapsed
    elif elapsed < estimate.latest:
        delay = max(policy.min_delay_seconds, estimate.seconds * estimate.spread / WINDOW_READS)
    else:
        delay = max(policy.min_delay_seconds, OVERDUE_FRACTION * (elapsed - estimate.seconds))
    delay = min(delay, policy.max_delay_seconds)
    if operation.retry_after is not None:
        delay = max(delay, operation.retry_after)
    return delay


def first_poll_delay(policy: PollPolicy, estimate: DurationEstimate | None) -> float:
    """Delay of the first status read after copyTo was accepted: the earliest a copy of this item is
    expected to end, not sooner than the policy's minimum delay; without an estimate, the policy's
    first delay."""
    if estimate is None:
        return policy.first_delay_seconds
    return min(max(estimate.earliest, policy.min_delay_seconds), policy.max_delay_seconds)


def transient_delay(failures: int, policy: PollPolicy, retry_after: float | None) -> float:
    """Delay before retrying a step that failed transiently (throttled, outage)."""
    delay = min(
        policy.min_delay_seconds * math.pow(2, min(failures, 16)), max(policy.max_delay_seconds, 60.0)
    )
    return max(delay, retry_after or 0.0)
