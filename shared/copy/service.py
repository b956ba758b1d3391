"""The I/O shell of the copy pipeline: reads job rows, calls the service, sends messages, publishes
events. What to do at each step is decided by the pure functions in `shared.copy.pipeline`.

Every method here is safe to run twice for the same message (at-least-once delivery) and to die at
any point: the job row (ETag-guarded) says what is done, and the generation in each message makes
duplicate chains collapse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opentelemetry.trace import SpanKind

from shared import telemetry as tel
from shared.copy import integrity, watchdog
from shared.copy import pipeline as p
from shared.copy.authorizations import PendingAuthorizations, content_fingerprint
from shared.copy.claims import CopyClaims
from shared.copy.completion import copy_completed_event
from shared.copy.durations import CopyDurations
from shared.copy.jobs import Job, JobConflict, JobStatus, JobStore, Origin, new_job_id
from shared.copy.messages import CopyRequestMessage, MalformedMessage, PollMessage, job_id_hint, parse_message
from shared.copy.provenance import SOURCE_CREATED_TAG, is_copy_of_build, provenance_tags, read_provenance
from shared.copy.records import CopyRecords
from shared.docintel import (
    Conflict,
    CopyAuthorization,
    DocIntelClient,
    DocIntelError,
    IdReserved,
    ItemInfo,
    ItemKind,
    ItemNotFound,
)
from shared.events import EventPublisher
from shared.settings import Settings
from shared.status.rows import StatusRows
from shared.storage import QueueSender
from shared.timefmt import utcnow

log = logging.getLogger("docintel_dr.pipeline")


@dataclass
class CopyRequest:
    """What a caller asks for: one item, copied to some or all targets."""

    kind: ItemKind
    source_id: str
    source_alias: str
    targets: list[str]
    target_id: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    origin: Origin = Origin.API
    # Known when the caller already read the source item (the sync); else it is read here.
    source_item: ItemInfo | None = None
    #: Authorize every target at submit (the caller hears at once of a refusal), or just before
    #: the copy starts (a sync: its jobs wait in the queue longer than an authorization lives).
    authorize_now: bool = True
    #: Seconds until the job's first message is due: a sync spreads its jobs over the source's rate.
    start_in: float = 0.0
    #: The job's id, when the caller makes its submit idempotent (a sync page handled again): if a
    #: job with this id exists, it is the outcome and no other is created. One target only.
    job_id: str | None = None


@dataclass(frozen=True)
class CopySpec:
    """What a copy stamps on every target: the source item and the description and tags of the copy."""

    kind: ItemKind
    source_alias: str
    source_id: str
    description: str | None
    tags: dict[str, str]

    @classmethod
    def of(cls, job: Job) -> CopySpec:
        return cls(job.kind, job.source_alias, job.source_id, job.description, job.tags)

    @property
    def content(self) -> str:
        return content_fingerprint(self.description, self.tags)


@dataclass
class TargetOutcome:
    """The result of submitting one target: a job, or why there is none."""

    target: str
    job: Job | None = None
    up_to_date: bool = False
    error: DocIntelError | None = None


#: The most a queued job's first step waits for its slot (its message comes at most a second early).
SLOT_WAIT_SECONDS = 1.5


class CopyService:
    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, DocIntelClient],
        jobs: JobStore,
        requests: QueueSender,
        polls: QueueSender,
        events: EventPublisher,
        durations: CopyDurations,
        records: CopyRecords,
        authorizations: PendingAuthorizations,
        claims: CopyClaims,
        status: StatusRows,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.jobs = jobs
        self.requests = requests
        self.polls = polls
        self.events = events
        self.durations = durations
        # Where succeeded copies are remembered (classifiers and v2.1 models carry no provenance tags).
        self.records = records
        self.authorizations = authorizations
        # Which job is making each copy right now: a second request for it gets that job.
        self.claims = claims
        # The DR status row of each item x target: a job that ends updates it.
        self.status = status
        self.clock = clock
        self.endpoints = {alias: res.endpoint for alias, res in settings.resources.items()}

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, request: CopyRequest) -> list[TargetOutcome]:
        """Write a job per target and enqueue it. Raises `ItemNotFound` if the source item does not
        exist (nothing is written then).

        With `request.authorize_now` (the API, the webhook) each target is authorized here, so that
        the caller learns at once of a target that refuses or already holds this build. Otherwise
        (the sync) the job is queued and authorized just before its copyTo: an authorization lives
        one hour, less than a large sync takes."""
        source_item = request.source_item or await self.clients[request.source_alias].get_item(
            request.kind, request.source_id
        )
        # The copy looks like its source: same description and tags (the caller may add tags),
        # plus the provenance tags that let a later sync recognise it.
        spec = CopySpec(
            kind=request.kind,
            source_alias=request.source_alias,
            source_id=request.source_id,
            description=request.description if request.description is not None else source_item.description,
            tags={
                **source_item.tags,
                **request.tags,
                **provenance_tags(
                    self.endpoints[request.source_alias], request.source_id, source_item.created_at
                ),
            },
        )
        expected = integrity.source_digest(source_item)
        return list(
            await asyncio.gather(*(self._submit_one(request, spec, t, expected) for t in request.targets))
        )

    async def _submit_one(
        self, request: CopyRequest, spec: CopySpec, target: str, expected: str | None
    ) -> TargetOutcome:
        target_id = request.target_id or request.source_id
        now = self.clock()
        job = Job(
            job_id=request.job_id or new_job_id(now),
            kind=spec.kind,
            source_alias=spec.source_alias,
            source_id=spec.source_id,
            target_alias=target,
            target_id=target_id,
            description=spec.description,
            tags=spec.tags,
            origin=request.origin,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            due_at=now + timedelta(seconds=request.start_in),
            deadline_at=now + self.settings.poll.deadline,
            source_schema=expected,
        )
        # The job's trace starts here, under whatever asked for the copy; its row keeps the span.
        with tel.span(tel.SPAN_SUBMIT, _job_attributes(job), kind=SpanKind.PRODUCER):
            job.traceparent = tel.current_traceparent()
            return await self._create(request, spec, job)

    async def _create(self, request: CopyRequest, spec: CopySpec, job: Job) -> TargetOutcome:
        target = job.target_alias
        # The row first, then the claim: a claim always names a job that has a row.
        try:
            await self.jobs.create(job)
        except JobConflict:
            existing = await self.jobs.get(job.job_id) if request.job_id else None
            if existing is None or existing.copy_key != job.copy_key:
                raise
            return await self._submitted_before(existing, request.start_in)
        running = await self._claim(job, spec.content, job.created_at)
        if running is not None:
            await self.jobs.delete(job)
            log.info("job %s is already making this copy to %s", running.job_id, target)
            return TargetOutcome(target, job=running)
        if request.authorize_now:
            try:
                authorization = await self._authorize(spec, target, job.target_id, job.job_id)
            except DocIntelError as exc:
                await self._withdraw(job)
                return TargetOutcome(target, error=exc)
            if authorization is None:
                await self._withdraw(job)
                return TargetOutcome(target, up_to_date=True)
            job.authorized(authorization)
            await self.jobs.replace(job)
        # Up to a second before its slot (queue delays are whole seconds): the first step waits it out.
        await self.requests.send(self._request_message(job), delay_seconds=request.start_in, early=True)
        log.info(
            "job %s created: %s %s %s -> %s", job.job_id, job.kind, job.source_id, job.source_alias, target
        )
        return TargetOutcome(target, job=job)

    async def _submitted_before(self, job: Job, start_in: float) -> TargetOutcome:
        """The job a request with the same id created earlier. Still queued, it may never have been
        sent (the earlier submit ended in between): its message goes again, which at worst is a
        duplicate delivery, and the pipeline takes those."""
        if job.status is JobStatus.QUEUED:
            await self.requests.send(self._request_message(job), delay_seconds=start_in, early=True)
        log.info("job %s was submitted before: %s", job.job_id, job.status.value)
        return TargetOutcome(job.target_alias, job=job)

    async def _claim(self, job: Job, content: str, now: datetime) -> Job | None:
        """Claim the copy for `job`; the job that is already making it, if one is."""
        for _ in range(3):
            claim = await self.claims.get(job.copy_key)
            if claim is not None:
                if not claim.same_copy(job.target_id, content):
                    return None  # another build or target id: not the same copy
                holder = await self.jobs.get(claim.job_id)
                if holder is not None and not holder.status.is_terminal:
                    return holder
                # Its job ended (or never ran): the claim is stale, and taken over below.
            if await self.claims.take(job.copy_key, job.job_id, job.target_id, content, now, replacing=claim):
                return None
        # Lost the race three times: go on unclaimed; the target's reservation of the id still
        # keeps a second copy from starting.
        return None

    async def _withdraw(self, job: Job) -> None:
        """A job that will not run after all (its target refused, or already holds the copy)."""
        await self.claims.release(job.copy_key, job.job_id)
        await self.jobs.delete(job)

    async def _authorize(
        self, spec: CopySpec, target: str, target_id: str, job_id: str
    ) -> CopyAuthorization | None:
        """Authorize the copy at the target and keep the authorization for `job_id`. None when the target
        already holds a copy of this very build. Raises `Conflict` when the id is taken otherwise."""
        client = self.clients[target]
        try:
            authorization = await client.authorize_copy(
                spec.kind, target_id, description=spec.description, tags=spec.tags
            )
        except Conflict as conflict:
            # The id exists (or is reserved) at the target. If it is this very build, there is
            # nothing to do: a repeated notification must not copy twice.
            try:
                existing: ItemInfo | None = await client.get_item(spec.kind, target_id)
            except DocIntelError:
                existing = None
            if existing is not None and await self._holds_copy_of(spec, target, existing):
                return None
            if existing is not None:
                raise
            authorization = await self._reusable(target, spec, target_id, job_id, conflict)
        await self.authorizations.put(target, authorization, job_id, spec.content)
        return authorization

    async def _reusable(
        self, target: str, spec: CopySpec, target_id: str, job_id: str, conflict: Conflict
    ) -> CopyAuthorization:
        """The pending authorization that reserves the id, when job `job_id` may use it: the one it
        took itself before its instance died, or one a failed copy left (the target still reserves
        the id for it), for the same content, that no running job holds. Raises `conflict` when
        another running job holds it (that job is making this copy), and `IdReserved` (transient)
        when the reservation cannot be used and must lapse."""
        pending = await self.authorizations.get(target, spec.kind, target_id, self.clock())
        if pending is None:
            # Not kept: an instance died between authorizeCopy and keeping its reply, or another
            # client reserved the id.
            raise IdReserved(conflict.message, status=conflict.status, code=conflict.code, alias=target)
        if pending.job_id != job_id:
            holder = await self.jobs.get(pending.job_id) if pending.job_id else None
            if holder is not None and not holder.status.is_terminal:
                raise conflict  # that job's copy is still going: do not start a second one
        if pending.content != spec.content or pending.authorization.expires_within(
            self.settings.authorization_margin.total_seconds(), self.clock()
        ):
            # Another build's (it would stamp the wrong description or provenance) or about to expire.
            raise IdReserved(conflict.message, status=conflict.status, code=conflict.code, alias=target)
        return pending.authorization

    async def _holds_copy_of(self, spec: CopySpec, target: str, existing: ItemInfo) -> bool:
        """True when the target item is a copy of this very build of the source item: by its provenance
        tags, or, for items without tags (classifiers), by the copy record of an earlier job."""
        build = read_provenance(spec.tags)
        if build is not None and is_copy_of_build(existing.tags, build):
            return True
        record = await self.records.get(
            source_alias=spec.source_alias, target_alias=target, kind=spec.kind, source_id=spec.source_id
        )
        return (
            record is not None
            and record.target_id == existing.id
            and record.source_created == spec.tags.get(SOURCE_CREATED_TAG)
        )

    # --- queue handlers -----------------------------------------------------------------------

    async def handle_copy_request(self, body: str | bytes, message_id: str | None) -> None:
        try:
            message = parse_message(body, CopyRequestMessage)
        except MalformedMessage as exc:
            await self._record_malformed(body, str(exc))
            return
        job = await self.jobs.get(message.job_id)
        with self._hop(tel.SPAN_REQUEST, job, message.traceparent, self.requests.name, message_id):
            action = p.on_copy_request(
                job, message.generation, message_id, self.clock(), self.settings.authorization_margin
            )
            await self._run(job, action, message_id)

    async def handle_poll(self, body: str | bytes, message_id: str | None) -> None:
        try:
            message = parse_message(body, PollMessage)
        except MalformedMessage as exc:
            await self._record_malformed(body, str(exc))
            return
        job = await self.jobs.get(message.job_id)
        with self._hop(tel.SPAN_POLL, job, message.traceparent, self.polls.name, message_id):
            action = p.on_poll(job, message.generation, message_id, self.clock())
            await self._run(job, action, message_id)

    async def handle_poison(self, queue: str, body: str | bytes) -> None:
        """A message exhausted its retries: the job fails with the reason, and its event goes out."""
        job_id = job_id_hint(body)
        job = await self.jobs.get(job_id) if job_id else None
        if job is None:
            log.error("poison message on %s names no known job; dropped", queue)
            return
        with self._hop(tel.SPAN_POISON, job, None, queue, None):
            if job.status.is_terminal:
                await self._run(job, p.Drop("finished") if job.event_published else p.PublishEvent(), None)
                return
            reason = job.error_message or "the step kept failing"
            await self._run(
                job,
                p.Finish(
                    JobStatus.FAILED,
                    "RetriesExhausted",
                    f"Processing of the job's '{queue.removesuffix('-poison')}' message failed "
                    f"repeatedly and was given up: {reason}",
                ),
                None,
            )

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job that is not terminal; its poll chain stops at the next message."""
        for _ in range(5):
            job = await self.jobs.get(job_id)
            if job is None or job.status.is_terminal:
                return job
            try:
                with self._hop(tel.SPAN_CANCEL, job, None, None, None):
                    await self._run(
                        job, p.Finish(JobStatus.CANCELED, "Canceled", "The job was canceled."), None
                    )
            except JobConflict:
                continue
            return await self.jobs.get(job_id)
        return await self.jobs.get(job_id)

    async def resume_stalled(self, grace: timedelta = watchdog.GRACE) -> list[str]:
        """Give every overdue job (`shared.copy.watchdog`) its next message again: a job whose
        message was lost or is held by an instance that died. A terminal job whose completion event
        could not be published is published again.

        The safety net under the queue chain: a message can be lost outside this app's control (a
        send that failed after the row was written, an instance killed while it held the message, a
        poison message that expired, an event that could not be published). A resumed job gets a new
        generation, so if its old message does turn up after all, it is dropped as stale.
        """
        now = self.clock()
        resumed: list[str] = []
        overdue: list[Job] = []
        async for job in self.jobs.iter_unfinished(now):
            if watchdog.is_overdue(job, now, grace):
                overdue.append(job)
            if len(overdue) == watchdog.RESUME_BATCH:
                resumed += await self._resume_all(overdue, now)
                overdue = []
        return resumed + await self._resume_all(overdue, now)

    async def _resume_all(self, jobs: list[Job], now: datetime) -> list[str]:
        """Resume a batch at once: jobs stranded by one dead instance come in dozens."""
        if not jobs:
            return []
        # The batch's own span: each resume, in its job's trace, links to it.
        with tel.span(tel.SPAN_WATCHDOG, {tel.RESUMED: len(jobs)}):
            done = await asyncio.gather(*(self._resume(job, now) for job in jobs))
        return [job.job_id for job, ok in zip(jobs, done, strict=True) if ok]

    async def _resume(self, job: Job, now: datetime) -> bool:
        log.warning(
            "job %s (%s) was due at %s and made no progress; resuming it",
            job.job_id,
            job.status.value,
            (job.due_at or job.updated_at).isoformat(),
        )
        job.resumes += 1
        try:
            with self._hop(tel.SPAN_RESUME, job, None, None, None):
                if job.status.is_terminal:
                    await self.jobs.replace(job)  # the resume counts even if the topic is still down
                    await self._run(job, p.PublishEvent(), None)
                else:
                    await self._advance(job, None, now)
                    await self._send_next(job, delay=0)
        except JobConflict:
            return False  # it moved after all
        return True

    async def _record_malformed(self, body: str | bytes, reason: str) -> None:
        job_id = job_id_hint(body)
        job = await self.jobs.get(job_id) if job_id else None
        if job is None or job.status.is_terminal:
            log.error("malformed message dropped: %s", reason)
            return
        with self._hop(tel.SPAN_REQUEST, job, None, None, None):
            await self._run(job, p.Finish(JobStatus.FAILED, "MalformedMessage", reason), None)

    @contextmanager
    def _hop(
        self, name: str, job: Job | None, traceparent: str | None, queue: str | None, message_id: str | None
    ) -> Iterator[None]:
        """One step of a job, in the job's trace: continued from the message's traceparent, else from
        the job row's. A job from before traces were kept starts its trace here, and its row keeps it
        from the next write on."""
        attributes: dict[str, str | int] = _job_attributes(job) if job is not None else {}
        if queue is not None:
            attributes[tel.QUEUE] = queue
        if message_id is not None:
            attributes[tel.MESSAGE_ID] = message_id
        continues = traceparent or (job.traceparent if job is not None else None)
        kind = SpanKind.CONSUMER if queue is not None else SpanKind.INTERNAL
        with tel.span(name, attributes, continues=continues, kind=kind) as span:
            if job is not None and job.traceparent is None:
                job.traceparent = tel.current_traceparent()
            yield
            if job is not None:
                span.set_attribute(tel.JOB_STATUS, job.status.value)

    # --- carrying out actions ----------------------------------------------------------------

    async def _run(self, job: Job | None, action: p.Action, message_id: str | None) -> None:
        try:
            await self._step(job, action, message_id)
        except JobConflict as exc:
            # Somebody else advanced the job (duplicate message, cancel): their state wins.
            log.info("%s; this message stops here", exc)

    async def _step(self, job: Job | None, action: p.Action, message_id: str | None) -> None:
        """Carry out `action` and the actions that follow from it, until one waits for a message."""
        next_action: p.Action | None = action
        for _ in range(p.MAX_ACTIONS_PER_MESSAGE):
            if next_action is None:
                return
            if job is None or isinstance(next_action, p.Drop):
                reason = next_action.reason if isinstance(next_action, p.Drop) else "no job"
                log.info("job %s: %s", job.job_id if job else "?", reason)
                return
            next_action = await self._carry_out(job, next_action, message_id, self.clock())
        if next_action is not None and job is not None:
            log.warning("job %s: its steps did not settle in one message; going on later", job.job_id)
            settle = p.RetryLater(
                p.transient_delay(job.retries, self.settings.poll, None), "its steps did not settle"
            )
            await self._carry_out(job, settle, message_id, self.clock())

    async def _carry_out(
        self, job: Job, action: p.Action, message_id: str | None, now: datetime
    ) -> p.Action | None:
        """One action; the action that follows, or None when the job waits for its next message."""
        match action:
            case p.PublishEvent():
                await self._publish(job)
                return None
            case p.ResendNext():
                await self._send_next(job, delay=0)
                return None
            case p.Authorize():
                return await self._authorize_queued(job, message_id, now)
            case p.StartCopy(authorization=authorization):
                return await self._start_copy(job, message_id, now, authorization)
            case p.Reauthorize():
                return await self._reauthorize(job, action, message_id, now)
            case p.ReadOperation():
                return await self._read_operation(job, now)
            case p.SchedulePoll(delay=delay):
                job.status = JobStatus.POLLING
                await self._advance(job, message_id, now, next_in=delay)
                await self._send_next(job, delay=delay)
                return None
            case p.RetryLater(delay=delay, reason=reason):
                job.error_message = reason
                job.retries += 1
                await self._advance(job, message_id, now, next_in=delay)
                await self._send_next(job, delay=delay)
                log.warning("job %s: %s; retrying in %.0f s", job.job_id, reason, delay)
                return None
            case p.VerifyTarget():
                return await self._verify_target(job, action, now)
            case p.Finish():
                await self._finish(job, action, message_id, now)
                return p.PublishEvent()
            case p.Drop():
                return action
        raise AssertionError(f"unhandled action {action!r}")

    async def _finish(self, job: Job, finish: p.Finish, message_id: str | None, now: datetime) -> None:
        job.status = finish.status
        job.error_code = finish.error_code
        job.error_message = finish.error_message
        job.finished_at = now
        await self._advance(job, message_id, now)
        tel.record_job_end(
            source=job.source_alias,
            target=job.target_alias,
            kind=job.kind.value,
            outcome=job.status.value,
            error_code=job.error_code,
            seconds=(now - (job.started_at or job.created_at)).total_seconds(),
        )
        await self.claims.release(job.copy_key, job.job_id)
        code, message = finish.error_code, finish.error_message
        log.info("job %s %s%s", job.job_id, job.status.value, f": {code}: {message}" if code else "")
        await self.status.record_job(job)
        if job.status is not JobStatus.SUCCEEDED:
            return
        if job.started_at and job.operation_finished_at:
            await self.durations.observe(
                job.copy_key,
                at_least=(job.last_running_at - job.started_at).total_seconds()
                if job.last_running_at
                else None,
                at_most=(job.operation_finished_at - job.started_at).total_seconds(),
            )
        await self.records.record_job(job)
        await self.authorizations.discard(job.target_alias, job.kind, job.target_id)

    async def _advance(self, job: Job, message_id: str | None, now: datetime, *, next_in: float = 0) -> None:
        """Write the job's new state and generation; its next message is due `next_in` seconds on."""
        job.generation += 1
        job.advanced_by = message_id
        job.updated_at = now
        job.due_at = now + timedelta(seconds=next_in)
        await self.jobs.replace(job)

    async def _send_next(self, job: Job, *, delay: float) -> None:
        """The job's next message: a copy request until the copy has started, then a poll."""
        if job.status in (JobStatus.QUEUED, JobStatus.AUTHORIZED):
            await self.requests.send(self._request_message(job), delay_seconds=delay)
        else:
            message = PollMessage(
                job_id=job.job_id,
                generation=job.generation,
                attempt=job.polls,
                traceparent=tel.current_traceparent(),
            )
            await self.polls.send(message.to_json(), delay_seconds=delay, precise=True)

    @staticmethod
    def _request_message(job: Job) -> str:
        return CopyRequestMessage(
            job_id=job.job_id, generation=job.generation, traceparent=tel.current_traceparent()
        ).to_json()

    async def _start_copy(
        self, job: Job, message_id: str | None, now: datetime, authorization: CopyAuthorization | None
    ) -> p.Action | None:
        if authorization is None:
            pending = await self.authorizations.get(job.target_alias, job.kind, job.target_id, now)
            if pending is None:
                return p.Reauthorize("the job's authorization is gone or expired")
            authorization = pending.authorization
        target = self.settings.resource(job.target_alias)
        try:
            operation_url = await self.clients[job.source_alias].start_copy(
                job.kind, job.source_id, authorization, allow_degrade=target.allow_degrade
            )
        except DocIntelError as exc:
            return p.on_start_error(
                job, exc, f"starting the copy at '{job.source_alias}'", self.settings.poll, now
            )
        job.status = JobStatus.STARTED
        job.operation_url = operation_url
        # Started = accepted by the service, not when this step began: a wait for the source's rate
        # limiter (seconds when a sync fans out) is no part of the copy, and the copy-duration
        # estimate and the progress-based poll delays are measured from here.
        job.started_at = self.clock()
        job.error_message = None
        job.retries = 0
        estimate = await self.durations.estimate(job.copy_key)
        first_poll = p.first_poll_delay(self.settings.poll, estimate)
        await self._advance(job, message_id, now, next_in=first_poll)
        await self._send_next(job, delay=first_poll)
        log.info("job %s started at %s", job.job_id, job.source_alias)
        return None

    async def _authorize_queued(self, job: Job, message_id: str | None, now: datetime) -> p.Action:
        # A sync gives each job a slot of the source's rate (`shared.sync.pages`); its message comes
        # at the whole second before it (queue delays are whole seconds). The job authorizes at once
        # and calls copyTo at its slot: copies reach the source at the rate, across instances,
        # however long each authorization and row write took.
        slot = job.due_at
        try:
            authorization = await self._authorize(
                CopySpec.of(job), job.target_alias, job.target_id, job.job_id
            )
        except DocIntelError as exc:
            return p.on_start_error(job, exc, f"authorizing at '{job.target_alias}'", self.settings.poll, now)
        if authorization is None:
            log.info("job %s: %s already holds this build", job.job_id, job.target_alias)
            return p.Finish(JobStatus.SUCCEEDED)
        job.authorized(authorization)
        await self._advance(job, message_id, now)
        early = (slot - self.clock()).total_seconds() if slot else 0.0
        if 0 < early <= SLOT_WAIT_SECONDS:
            await asyncio.sleep(early)
        return p.StartCopy(authorization)

    async def _reauthorize(
        self, job: Job, reauthorize: p.Reauthorize, message_id: str | None, now: datetime
    ) -> p.Action:
        log.info("job %s: authorizing again at %s (%s)", job.job_id, job.target_alias, reauthorize.reason)
        try:
            authorization = await self.clients[job.target_alias].authorize_copy(
                job.kind, job.target_id, description=job.description, tags=job.tags
            )
        except Conflict:
            pending = await self.authorizations.get(job.target_alias, job.kind, job.target_id, now)
            action = p.on_reauthorize_conflict(
                job, pending.authorization if pending else None, now, self.settings.poll
            )
            if isinstance(action, p.StartCopy) and pending is not None:
                await self.authorizations.put(
                    job.target_alias, pending.authorization, job.job_id, pending.content
                )
            return action
        except DocIntelError as exc:
            return p.on_start_error(job, exc, f"authorizing at '{job.target_alias}'", self.settings.poll, now)
        await self.authorizations.put(job.target_alias, authorization, job.job_id, CopySpec.of(job).content)
        job.authorized(authorization)
        job.reauthorizations += 1
        job.unretrievable_authorizations += int(reauthorize.metadata_unretrievable)
        job.operation_url = None
        job.percent_completed = None
        await self._advance(job, message_id, now)
        return p.StartCopy(authorization)

    async def _read_operation(self, job: Job, now: datetime) -> p.Action:
        assert job.operation_url is not None
        tel.record_status_read(source=job.source_alias, target=job.target_alias, kind=job.kind.value)
        try:
            operation = await self.clients[job.source_alias].get_operation(job.operation_url)
        except ItemNotFound:
            # Operation records live 24 h; past that the target item is the evidence.
            return p.VerifyTarget("the operation record no longer exists")
        except DocIntelError as exc:
            return p.RetryLater(
                p.transient_delay(job.retries, self.settings.poll, exc.retry_after),
                f"reading the copy operation at '{job.source_alias}' failed: {exc.message}",
            )
        job.polls += 1
        job.percent_completed = operation.percent_completed
        job.retries = 0
        if operation.status.is_terminal:
            job.operation_finished_at = now
        else:
            job.last_running_at = now
        estimate = await self.durations.estimate(job.copy_key)
        return p.on_operation(job, operation, now, self.settings.poll, estimate)

    async def _verify_target(self, job: Job, verify: p.VerifyTarget, now: datetime) -> p.Action:
        try:
            item: ItemInfo | None = await self.clients[job.target_alias].get_item(job.kind, job.target_id)
        except ItemNotFound:
            item = None
        except DocIntelError as exc:
            return p.RetryLater(
                p.transient_delay(job.retries, self.settings.poll, exc.retry_after),
                f"reading the target item at '{job.target_alias}' failed: {exc.message}",
            )
        source = await self._source_for_check(job, item)
        return p.on_target(job, item, verify, now, source)

    async def _source_for_check(self, job: Job, item: ItemInfo | None) -> ItemInfo | None:
        """The source item, read only when the integrity check needs it: the job does not know the
        source's schema (it was listed without), or the copy does not match what it knows (the read
        names the differences). None when not needed, or when the source cannot be read (the check
        then rests on the digest the job keeps, if any)."""
        if item is None or not item.ready or item.field_schemas is None:
            return None
        copied = integrity.schema_digest(
            integrity.normalized(item.field_schemas, [job.source_id, job.target_id])
        )
        if job.source_schema == copied:
            return None
        try:
            return await self.clients[job.source_alias].get_item(job.kind, job.source_id)
        except DocIntelError as exc:
            log.warning(
                "job %s: source %s %s not readable for the integrity check (%s)",
                job.job_id,
                job.kind.value,
                job.source_id,
                exc.code or type(exc).__name__,
            )
            return None

    async def _publish(self, job: Job) -> None:
        with tel.span(tel.SPAN_PUBLISH, _job_attributes(job), kind=SpanKind.PRODUCER) as span:
            event = copy_completed_event(job, self.endpoints, traceparent=tel.current_traceparent())
            span.set_attributes({tel.EVENT_ID: event.id, tel.EVENT_TYPE: event.type})
            await self.events.publish([event])
        job.event_published = True
        try:
            await self.jobs.replace(job)
        except JobConflict:
            pass  # published anyway; a duplicate publish carries the same event id
        await self.jobs.finished(job.job_id)
        log.info("job %s: event %s published", job.job_id, event.type)


def _job_attributes(job: Job) -> dict[str, str | int]:
    """What a span says of its job: ids, aliases, kind, generation; never a token or URL."""
    return {
        tel.JOB_ID: job.job_id,
        tel.JOB_KIND: job.kind.value,
        tel.JOB_SOURCE: job.source_alias,
        tel.JOB_TARGET: job.target_alias,
        tel.JOB_ITEM: job.source_id,
        tel.JOB_ORIGIN: job.origin.value,
        tel.JOB_GENERATION: job.generation,
    }
