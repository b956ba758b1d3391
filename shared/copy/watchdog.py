"""When a job is overdue: the watchdog's rule, as plain functions.

Every step that hands a job to its next queue message also writes, in the same row update, when that
message is due (`Job.due_at`: now for a copy request, now + the poll delay for a poll). A message can
then be lost to the job in two ways the queue chain cannot see: a send that never happened, and an
instance that died holding the message (the Functions host keeps a received message invisible for
its 10-minute lease, renewed while the instance lives; a killed instance's messages come back only
when that lease runs out). Either way the job sits still past its due time. The watchdog, a timer
that the host runs on one instance at a time, gives such a job a new message with a new generation
(the held one is dropped as stale when it reappears), so a dead instance costs a job at most
`STALL_BOUND` (90 s) rather than ten minutes.

A job can also be late without being lost: its copy request waits behind many others in the queue
while a large sync drains at the service's rate. Resuming it is harmless (its old message is dropped
as stale) but not free, so from its second resume on, each resume of the same job doubles the grace
it gets next time: a backlog costs a few extra messages per job, never one per watchdog run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.copy.jobs import Job

#: How long past its due time a job may sit still before the watchdog resumes it. Covers a host's
#: polling interval, a busy queue and the step itself (a client call with its own retries).
GRACE = timedelta(seconds=30)
#: The watchdog's schedule period (`shared.names.WATCHDOG_SCHEDULE`).
WATCHDOG_PERIOD = timedelta(seconds=30)
#: How long the watchdog's timer lock takes to move when the instance holding it dies: the lease
#: runs out (host.json `singleton.listenerLockPeriod`, 15 s) and another instance's next try
#: (`listenerLockRecoveryPollingInterval`, 15 s) takes it.
LOCK_TAKEOVER = timedelta(seconds=30)
#: The longest a job waits after its instance died, even when the watchdog's own instance died too.
STALL_BOUND = GRACE + WATCHDOG_PERIOD + LOCK_TAKEOVER
#: Doubling stops here: a job resumed this often gets GRACE * 2**MAX_BACKOFF_DOUBLINGS (16 min).
MAX_BACKOFF_DOUBLINGS = 5
#: Overdue jobs resumed at once (a page of them; the watchdog never holds the whole list).
RESUME_BATCH = 32


def grace_for(job: Job, grace: timedelta = GRACE) -> timedelta:
    """The grace this job gets: GRACE for its first two resumes (an instance can die twice under the
    same job), then doubled for each further one (the job is more likely late than lost)."""
    doublings: int = min(max(job.resumes - 1, 0), MAX_BACKOFF_DOUBLINGS)
    return grace * (1 << doublings)


def is_overdue(job: Job, now: datetime, grace: timedelta = GRACE) -> bool:
    """True when the job's pending step is late by more than its grace: its message is presumed lost
    or held by an instance that died. A job whose completion event is out is never overdue."""
    if job.event_published:
        return False
    due = job.due_at or job.updated_at  # rows written before due times were kept
    return now - due > grace_for(job, grace)
