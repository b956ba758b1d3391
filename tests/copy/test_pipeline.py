"""The pipeline's decisions, as pure functions: no I/O, one test per branch."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from shared.copy import integrity
from shared.copy import pipeline as p
from shared.copy.durations import ITEM_SPREAD, PAIR_SPREAD, DurationEstimate
from shared.copy.jobs import Job, JobStatus
from shared.docintel import (
    AuthorizationAlreadyUsed,
    AuthorizationClaimsInvalid,
    AuthorizationExpired,
    CopyOutcomeUnknown,
    DocIntelError,
    DowngradeRequired,
    InvalidTargetResource,
    ItemInfo,
    ItemKind,
    ItemNotFound,
    ItemNotReady,
    Operation,
    OperationStatus,
    QuotaExceeded,
    ServiceError,
    Throttled,
)
from shared.settings import PollPolicy
from tests.factories import copy_authorization

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=30)
POLICY = PollPolicy(first_delay_seconds=1, min_delay_seconds=1, max_delay_seconds=30)


def job(**changes) -> Job:
    base = dict(
        job_id="0123456789abcdef",
        kind="model",
        source_alias="primary",
        source_id="invoice",
        target_alias="westus2",
        target_id="invoice",
        status=JobStatus.AUTHORIZED,
        generation=3,
        authorization_expires_at=NOW + timedelta(hours=20),
        created_at=NOW - timedelta(seconds=10),
        updated_at=NOW,
        deadline_at=NOW + timedelta(hours=23),
    )
    base.update(changes)
    return Job(**base)


def polling_job(**changes) -> Job:
    fields = {
        "status": JobStatus.POLLING,
        "operation_url": "https://src/op/1",
        "started_at": NOW - timedelta(seconds=10),
    }
    return job(**{**fields, **changes})


def operation(status: OperationStatus, **fields) -> Operation:
    return Operation(url="https://src/op/1", status=status, **fields)


def item(ready: bool = True) -> ItemInfo:
    return ItemInfo(kind=ItemKind.MODEL, id="invoice", ready=ready)


class TestMessageArrival:
    def test_a_message_for_an_unknown_job_is_dropped(self):
        assert isinstance(p.on_copy_request(None, 0, "m1", NOW, MARGIN), p.Drop)

    def test_a_message_for_a_finished_job_is_dropped(self):
        done = job(status=JobStatus.SUCCEEDED, event_published=True)
        assert isinstance(p.on_poll(done, 3, "m1", NOW), p.Drop)

    def test_a_finished_job_whose_event_is_not_out_publishes_it(self):
        done = job(status=JobStatus.FAILED, event_published=False)
        assert p.on_poll(done, 1, "m1", NOW) == p.PublishEvent()

    def test_a_stale_generation_is_dropped(self):
        assert isinstance(p.on_poll(polling_job(), 1, "m1", NOW), p.Drop)

    def test_the_redelivery_of_the_message_that_advanced_the_job_resends_the_next(self):
        advanced = polling_job(advanced_by="m1")
        assert p.on_poll(advanced, 2, "m1", NOW) == p.ResendNext()

    def test_another_message_of_the_previous_generation_is_dropped(self):
        advanced = polling_job(advanced_by="m1")
        assert isinstance(p.on_poll(advanced, 2, "m2", NOW), p.Drop)


class TestCopyRequest:
    def test_a_queued_job_is_authorized_when_its_turn_comes(self):
        queued = job(status=JobStatus.QUEUED, authorization_expires_at=None)
        assert p.on_copy_request(queued, 3, "m", NOW, MARGIN) == p.Authorize()

    def test_a_fresh_authorization_starts_the_copy(self):
        assert p.on_copy_request(job(), 3, "m", NOW, MARGIN) == p.StartCopy()

    def test_an_authorization_expiring_within_the_margin_is_replaced(self):
        soon = job(authorization_expires_at=NOW + timedelta(minutes=10))
        assert isinstance(p.on_copy_request(soon, 3, "m", NOW, MARGIN), p.Reauthorize)

    def test_a_job_without_an_authorization_expiry_authorizes(self):
        assert isinstance(
            p.on_copy_request(job(authorization_expires_at=None), 3, "m", NOW, MARGIN), p.Reauthorize
        )

    def test_a_copy_already_started_is_not_started_twice(self):
        assert isinstance(p.on_copy_request(polling_job(), 3, "m", NOW, MARGIN), p.Drop)


class TestPoll:
    def test_a_current_poll_reads_the_operation(self):
        assert p.on_poll(polling_job(), 3, "m", NOW) == p.ReadOperation()

    def test_past_the_deadline_the_target_decides(self):
        late = polling_job(deadline_at=NOW - timedelta(seconds=1))
        assert isinstance(p.on_poll(late, 3, "m", NOW), p.VerifyTarget)


def start_error(failed_job: Job, error: DocIntelError) -> p.Action:
    return p.on_start_error(failed_job, error, "starting the copy at 'primary'", POLICY, NOW)


def failure_message(action: p.Action) -> str:
    """The message of a `Finish`; fails the test if the action is anything else or has none."""
    assert isinstance(action, p.Finish), action
    assert action.error_message is not None, action
    return action.error_message


class TestStartErrors:
    def test_a_transient_failure_is_retried_later_with_the_reason(self):
        action = start_error(job(), Throttled("slow down", code="429", retry_after=7))
        assert isinstance(action, p.RetryLater) and action.delay >= 7
        assert "starting the copy at 'primary'" in action.reason and "slow down" in action.reason

    def test_a_source_item_not_ready_yet_is_tried_again_until_the_deadline(self):
        not_ready = ItemNotReady("still being created", code="InvalidRequest", inner_code="ModelNotReady")
        assert isinstance(start_error(job(), not_ready), p.RetryLater)
        late = job(deadline_at=NOW - timedelta(seconds=1))
        assert "still being created" in failure_message(start_error(late, not_ready))

    def test_a_copy_whose_outcome_is_unknown_is_started_again(self):
        action = start_error(job(), CopyOutcomeUnknown("no answer"))
        assert isinstance(action, p.RetryLater)

    def test_an_authorization_already_used_lets_the_target_decide(self):
        action = start_error(job(), AuthorizationAlreadyUsed("metadata", code="2024"))
        assert action == p.VerifyTarget("the authorization was already used", authorization_used=True)

    def test_an_expired_authorization_is_renewed_then_given_up(self):
        error = AuthorizationExpired("expired", code="1002")
        assert isinstance(start_error(job(), error), p.Reauthorize)
        finish = start_error(job(reauthorizations=p.MAX_REAUTHORIZATIONS), error)
        assert isinstance(finish, p.Finish) and finish.status is JobStatus.FAILED

    @pytest.mark.parametrize(
        "error",
        [
            InvalidTargetResource("no such resource", code="1002"),
            QuotaExceeded("full", code="QuotaExceeded"),
        ],
    )
    def test_permanent_errors_fail_the_job_with_the_reason(self, error):
        finish = start_error(job(), error)
        assert isinstance(finish, p.Finish) and finish.status is JobStatus.FAILED
        assert error.message in failure_message(finish)

    def test_an_authorization_the_target_no_longer_knows_is_renewed_then_given_up(self):
        error = AuthorizationClaimsInvalid("missing or invalid authorization claims", code="1002")
        assert isinstance(start_error(job(), error), p.Reauthorize)
        finish = start_error(job(reauthorizations=p.MAX_REAUTHORIZATIONS), error)
        assert "modified" in failure_message(finish)

    def test_a_missing_source_item_says_which(self):
        finish = start_error(job(), ItemNotFound("nope", code="NotFound"))
        message = failure_message(finish)
        assert "invoice" in message and "primary" in message

    def test_a_downgrade_names_the_setting_that_allows_it(self):
        finish = start_error(job(), DowngradeRequired("cmk", code="DataProtectionTransformServiceError"))
        assert "DR_RESOURCES__WESTUS2__ALLOW_DEGRADE=true" in failure_message(finish)


class TestOperation:
    def test_a_running_operation_schedules_the_next_poll(self):
        action = p.on_operation(polling_job(), operation(OperationStatus.RUNNING), NOW, POLICY, None)
        assert isinstance(action, p.SchedulePoll)

    def test_success_is_checked_at_the_target(self):
        action = p.on_operation(polling_job(), operation(OperationStatus.SUCCEEDED), NOW, POLICY, None)
        assert isinstance(action, p.VerifyTarget)

    def test_a_reused_authorization_lets_the_target_decide(self):
        failed = operation(
            OperationStatus.FAILED,
            error=ServiceError(
                code="2024",
                message="Could not retrieve authorization metadata. If this issue persists use a "
                "different target model to copy into.",
            ),
        )
        assert p.on_operation(polling_job(), failed, NOW, POLICY, None) == p.VerifyTarget(
            "the authorization was already used", authorization_used=True
        )

    def test_a_downgrade_failure_names_the_setting(self):
        failed = operation(
            OperationStatus.FAILED,
            error=ServiceError(code="DataProtectionTransformServiceError", message="downgrade"),
        )
        action = p.on_operation(polling_job(), failed, NOW, POLICY, None)
        assert "ALLOW_DEGRADE" in failure_message(action)

    def test_any_other_failure_fails_with_the_services_code(self):
        failed = operation(
            OperationStatus.FAILED, error=ServiceError(code="InternalServerError", message="boom")
        )
        action = p.on_operation(polling_job(), failed, NOW, POLICY, None)
        assert isinstance(action, p.Finish) and action.status is JobStatus.FAILED
        assert action.error_code == "InternalServerError" and "boom" in failure_message(action)

    def test_a_canceled_operation_fails_the_job(self):
        action = p.on_operation(polling_job(), operation(OperationStatus.CANCELED), NOW, POLICY, None)
        assert isinstance(action, p.Finish) and action.error_code == "OperationCanceled"


class TestTarget:
    def test_a_ready_target_item_means_success(self):
        assert p.on_target(polling_job(), item(), p.VerifyTarget("the operation succeeded"), NOW) == p.Finish(
            JobStatus.SUCCEEDED
        )

    def test_an_item_still_creating_is_polled_again(self):
        assert isinstance(
            p.on_target(polling_job(), item(ready=False), p.VerifyTarget("x"), NOW), p.SchedulePoll
        )

    def test_a_copy_must_match_its_source_after_the_docType_rename(self):
        """The copy's docType named after its own id (the service renamed it) matches the source's
        docType named after the source's id; a field schema that differs fails the job."""
        fields = {"invoice": "a1", "receipt": "b2"}
        source = ItemInfo(kind=ItemKind.MODEL, id="invoice", field_schemas=fields)
        expected = integrity.source_digest(source)
        renamed = ItemInfo(
            kind=ItemKind.MODEL, id="invoice-copy", field_schemas={"invoice-copy": "a1", "receipt": "b2"}
        )
        copying = polling_job(target_id="invoice-copy", source_schema=expected)
        verify = p.VerifyTarget("the operation succeeded")
        assert p.on_target(copying, renamed, verify, NOW) == p.Finish(JobStatus.SUCCEEDED)

        changed = renamed.model_copy(update={"field_schemas": {"invoice-copy": "a1", "receipt": "ff"}})
        action = p.on_target(copying, changed, verify, NOW, source)
        assert isinstance(action, p.Finish) and action.status is JobStatus.FAILED
        assert action.error_code == "TargetDiverged"
        assert "docType 'receipt' has another field schema" in failure_message(action)
        assert "westus2" in failure_message(action) and "invoice-copy" in failure_message(action)
        # Without the source item, the digest the job kept decides.
        action = p.on_target(copying, changed, verify, NOW)
        assert isinstance(action, p.Finish) and action.error_code == "TargetDiverged"

    def test_a_copy_whose_schemas_are_not_shown_or_not_known_is_not_judged(self):
        verify = p.VerifyTarget("the operation succeeded")
        unknown = ItemInfo(kind=ItemKind.MODEL, id="invoice", field_schemas=None)
        assert p.on_target(polling_job(source_schema="x"), unknown, verify, NOW) == p.Finish(
            JobStatus.SUCCEEDED
        )
        shown = ItemInfo(kind=ItemKind.MODEL, id="invoice", field_schemas={"invoice": "a1"})
        assert p.on_target(polling_job(), shown, verify, NOW) == p.Finish(JobStatus.SUCCEEDED)

    def test_a_missing_item_after_a_reused_authorization_authorizes_again(self):
        action = p.on_target(polling_job(), None, p.VerifyTarget("reused", authorization_used=True), NOW)
        assert action == p.Reauthorize(
            "the service could not retrieve the authorization", metadata_unretrievable=True
        )

    def test_unretrievable_metadata_again_with_a_fresh_authorization_names_the_target_settings(self):
        again = polling_job(unretrievable_authorizations=1, reauthorizations=1)
        action = p.on_target(again, None, p.VerifyTarget("reused", authorization_used=True), NOW)
        assert isinstance(action, p.Finish) and action.error_code == "TargetMisconfigured"
        message = failure_message(action)
        assert "DR_RESOURCES__WESTUS2__RESOURCE_ID" in message and "DR_RESOURCES__WESTUS2__REGION" in message
        assert "already used" not in message

    def test_a_missing_item_after_reported_success_fails(self):
        action = p.on_target(polling_job(), None, p.VerifyTarget("the operation succeeded"), NOW)
        assert isinstance(action, p.Finish) and action.error_code == "TargetMissing"

    def test_a_missing_item_at_the_deadline_fails_with_the_deadline(self):
        late = polling_job(deadline_at=NOW)
        action = p.on_target(late, None, p.VerifyTarget("deadline"), NOW)
        assert isinstance(action, p.Finish) and action.error_code == "DeadlineExceeded"


class TestReauthorizeConflict:
    def test_our_own_valid_reservation_is_used(self):
        assert (
            p.on_reauthorize_conflict(job(), copy_authorization(NOW + timedelta(minutes=5)), NOW, POLICY)
            == p.StartCopy()
        )

    def test_the_refused_authorization_still_reserving_the_id_is_waited_out_not_used_again(self):
        """Using it again would be refused again: a circle of copy and re-authorize."""
        refused = copy_authorization(NOW + timedelta(minutes=5))
        action = p.on_reauthorize_conflict(
            job(authorization_expires_at=refused.expires_at), refused, NOW, POLICY
        )
        assert isinstance(action, p.RetryLater) and "lapse" in action.reason

    def test_a_foreign_or_expired_reservation_fails_with_what_to_do(self):
        action = p.on_reauthorize_conflict(job(), copy_authorization(NOW - timedelta(minutes=5)), NOW, POLICY)
        assert "another targetId" in failure_message(action)


def running() -> Operation:
    """A copy still running, as the real service reports it: no progress, no Retry-After."""
    return operation(OperationStatus.RUNNING)


ITEM = DurationEstimate(20.0, ITEM_SPREAD)  # this item's own copies took about 20 s
PAIR = DurationEstimate(20.0, PAIR_SPREAD)  # other items between these resources took about 20 s


class TestPollTiming:
    """The job started 10 s ago (`polling_job`); the service gives no progress."""

    def test_before_the_earliest_expected_end_the_poller_waits_for_it(self):
        assert p.next_poll_delay(polling_job(), running(), NOW, POLICY, ITEM) == pytest.approx(
            ITEM.earliest - 10
        )

    def test_inside_an_items_window_reads_come_at_the_policys_cadence(self):
        job_in_window = polling_job(started_at=NOW - timedelta(seconds=19))
        assert p.next_poll_delay(job_in_window, running(), NOW, POLICY, ITEM) == POLICY.min_delay_seconds

    def test_inside_a_rough_window_reads_are_spread_out(self):
        job_in_window = polling_job(started_at=NOW - timedelta(seconds=19))
        delay = p.next_poll_delay(job_in_window, running(), NOW, POLICY, PAIR)
        assert (
            delay == pytest.approx(20.0 * PAIR_SPREAD / p.WINDOW_READS) and delay > POLICY.min_delay_seconds
        )

    def test_an_overdue_copy_backs_off_with_how_overdue_it_is(self):
        slightly = polling_job(started_at=NOW - timedelta(seconds=25))
        long_overdue = polling_job(started_at=NOW - timedelta(seconds=100))
        assert p.next_poll_delay(slightly, running(), NOW, POLICY, ITEM) == pytest.approx(0.25 * 5)
        assert p.next_poll_delay(long_overdue, running(), NOW, POLICY, ITEM) == pytest.approx(
            min(0.25 * 80, POLICY.max_delay_seconds)
        )

    def test_without_information_the_delay_starts_short_and_grows(self):
        delays = [p.next_poll_delay(polling_job(polls=n), running(), NOW, POLICY, None) for n in range(8)]
        assert delays[0] == POLICY.min_delay_seconds
        assert delays == sorted(delays) and delays[-1] > 10 * delays[0]

    def test_the_cap_bounds_the_delay(self):
        long = DurationEstimate(3600.0, ITEM_SPREAD)
        assert p.next_poll_delay(polling_job(), running(), NOW, POLICY, long) == POLICY.max_delay_seconds

    def test_retry_after_is_a_floor(self):
        delay = p.next_poll_delay(
            polling_job(), operation(OperationStatus.RUNNING, retry_after=7), NOW, POLICY, None
        )
        assert delay == 7

    def test_the_first_read_comes_at_the_earliest_expected_end(self):
        assert p.first_poll_delay(POLICY, None) == POLICY.first_delay_seconds
        assert p.first_poll_delay(POLICY, ITEM) == pytest.approx(ITEM.earliest)
        assert p.first_poll_delay(POLICY, PAIR) == pytest.approx(PAIR.earliest)

    def test_the_first_read_never_comes_sooner_than_the_minimum_delay(self):
        anywhere_below_12s = DurationEstimate(6.0, 1.0)
        assert p.first_poll_delay(POLICY, anywhere_below_12s) == POLICY.min_delay_seconds

    def test_transient_retries_back_off_and_honor_retry_after(self):
        assert p.transient_delay(0, POLICY, None) < p.transient_delay(3, POLICY, None) <= 60
        assert p.transient_delay(0, POLICY, 20) == 20


def reads(estimate: DurationEstimate | None, ends_at: float) -> list[float]:
    """When the poller reads a copy that ends `ends_at` seconds after it started (each read on time)."""
    times = [p.first_poll_delay(POLICY, estimate)]
    while times[-1] < ends_at:
        job_now = polling_job(started_at=NOW - timedelta(seconds=times[-1]), polls=len(times))
        times.append(times[-1] + p.next_poll_delay(job_now, running(), NOW, POLICY, estimate))
    return times


class TestReadSchedule:
    """Where the reads of a whole copy fall, against the SDK's read every second from the start."""

    def test_a_copy_whose_item_took_about_30s_is_first_read_shortly_before_30s_then_densely(self):
        about_30s = DurationEstimate(30.0, ITEM_SPREAD)
        ends = (26.0, 28.0, 30.5, 32.0, 35.0)  # within the item's usual variation
        counts = []
        for ends_at in ends:
            times = reads(about_30s, ends_at)
            assert 0.75 * 30 <= times[0] < 30
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(gap == POLICY.min_delay_seconds for gap in gaps)
            assert times[-1] - ends_at < POLICY.min_delay_seconds  # seen as soon as the SDK would
            counts.append(len(times))
        assert sum(counts) <= sum(ends) / 3  # a third of the SDK's reads, or fewer

    def test_a_copy_of_an_item_known_only_by_a_bound_is_seen_soon_after_it_ends(self):
        below_12s = DurationEstimate(6.0, 1.0)  # its first read found it done at 12 s
        times = reads(below_12s, ends_at=3.0)
        assert times[-1] - 3.0 <= POLICY.min_delay_seconds

    def test_a_first_copy_aimed_from_other_items_reads_more_sparsely_than_the_sdk(self):
        times = reads(PAIR, ends_at=20.5)
        assert times[0] >= PAIR.earliest
        assert len(times) < 20.5 / 2
        assert times[-1] - 20.5 <= 20.0 * PAIR_SPREAD / p.WINDOW_READS

    def test_a_copy_much_longer_than_expected_is_still_seen_within_a_fraction_of_its_duration(self):
        times = reads(ITEM, ends_at=60.0)  # the item took 20 s before
        assert times[-1] - 60.0 <= p.OVERDUE_FRACTION * 60
        assert len(times) < 60 / 2
