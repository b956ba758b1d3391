"""The watchdog's rule: a job is resumed once its pending step is late by more than its grace, and
each resume of the same job doubles that grace (a long queue costs a few messages, not one per run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.copy import watchdog
from shared.copy.jobs import Job, JobStatus
from tests.factories import job_row

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def job(**changes) -> Job:
    """A job polling for five minutes, its event not out."""
    fields: dict[str, Any] = {"status": JobStatus.POLLING, "event_published": False} | changes
    return job_row(NOW - timedelta(minutes=5), **fields)


def test_a_job_is_not_overdue_before_its_due_time_plus_the_grace():
    due = NOW - watchdog.GRACE
    assert not watchdog.is_overdue(job(due_at=due), NOW)
    assert watchdog.is_overdue(job(due_at=due - timedelta(seconds=1)), NOW)


def test_a_poll_scheduled_far_ahead_is_not_overdue_however_old_the_row():
    """A long copy polled every 30 s: the row is old, but its next poll is not due yet."""
    assert not watchdog.is_overdue(job(due_at=NOW + timedelta(seconds=20)), NOW)


def test_the_grace_doubles_from_the_second_resume_on_up_to_a_cap():
    """An instance can die twice under the same job; a job resumed more often is late, not lost."""
    assert watchdog.grace_for(job(resumes=0)) == watchdog.GRACE
    assert watchdog.grace_for(job(resumes=1)) == watchdog.GRACE
    assert watchdog.grace_for(job(resumes=2)) == 2 * watchdog.GRACE
    assert watchdog.grace_for(job(resumes=4)) == 8 * watchdog.GRACE
    cap = watchdog.grace_for(job(resumes=watchdog.MAX_BACKOFF_DOUBLINGS + 1))
    assert watchdog.grace_for(job(resumes=50)) == cap == 32 * watchdog.GRACE
    resumed_twice = job(due_at=NOW - watchdog.GRACE - timedelta(seconds=5), resumes=2)
    assert not watchdog.is_overdue(resumed_twice, NOW)


def test_a_job_whose_event_is_out_is_never_overdue():
    done = job(status=JobStatus.SUCCEEDED, due_at=NOW - timedelta(days=3), event_published=True)
    assert not watchdog.is_overdue(done, NOW)


def test_a_finished_job_whose_event_is_not_out_is_overdue_like_any_other():
    unpublished = job(status=JobStatus.FAILED, due_at=NOW - timedelta(minutes=2), event_published=False)
    assert watchdog.is_overdue(unpublished, NOW)


def test_a_row_without_a_due_time_counts_from_its_last_update():
    assert watchdog.is_overdue(job(due_at=None, updated_at=NOW - timedelta(minutes=2)), NOW)
    assert not watchdog.is_overdue(job(due_at=None, updated_at=NOW - timedelta(seconds=10)), NOW)


def test_a_dead_instance_costs_a_job_at_most_the_documented_bound():
    """Grace, one watchdog period, and the timer lock moving off a dead instance: 90 s, under the
    120 s target (README: reliability)."""
    assert watchdog.STALL_BOUND == timedelta(seconds=90)


def test_the_lock_takeover_is_what_host_json_configures():
    import json

    from local.runner.config import timespan_seconds
    from local.stack import ROOT

    singleton = json.loads((ROOT / "host.json").read_text())["singleton"]
    takeover = sum(
        timespan_seconds(singleton[name], name)
        for name in ("listenerLockPeriod", "listenerLockRecoveryPollingInterval")
    )
    assert takeover == watchdog.LOCK_TAKEOVER.total_seconds()


def test_the_watchdog_timer_fires_once_per_watchdog_period():
    from shared.names import WATCHDOG_SCHEDULE

    seconds, *rest = WATCHDOG_SCHEDULE.split()
    assert seconds == f"*/{int(watchdog.WATCHDOG_PERIOD.total_seconds())}" and set(rest) == {"*"}
