"""Timer triggers run as the Functions host runs them: NCRONTAB as NCrontab reads it, TimeSpan schedules
only where the plan allows them, the schedule monitor's status blob (a missed occurrence runs once,
past due, when the listener starts), and the singleton lock (a timer runs on one instance; another
takes over when the holder stops, or after its lease ends when it dies). Storage is real Azurite; times
that matter come from an injected clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from local.runner.config import HostConfigError
from local.runner.functions import FunctionSpec, discover
from local.runner.host import FunctionHost, run_host_in_thread
from local.runner.invocations import InvocationRecord
from local.runner.schedules import (
    ConstantSchedule,
    ScheduleError,
    parse_timespan,
    plan_of,
    timer_schedule,
    use_monitor,
)
from local.runner.singleton import HOST_ID_SETTING, SingletonOptions, default_host_id, host_id
from local.runner.timers import TimerHost, TimerListener
from tests.stack import eventually

_ids = itertools.count(1)
HOSTS = "azure-webjobs-hosts"
# The shortest lease Azure Storage (and Azurite) grants, and the shortest recovery poll the host takes.
FAST_SINGLETON = {
    "singleton": {"listenerLockPeriod": "00:00:15", "listenerLockRecoveryPollingInterval": "00:00:15"}
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def unique_host_id() -> str:
    return f"timers-{next(_ids)}-{os.getpid() % 100_000}"


def timer_function(name: str, schedule: str, **options: Any) -> FunctionSpec:
    """A timer function as the Python v2 model declares it (function.json from get_functions())."""
    app = func.FunctionApp()

    async def handler(timer: func.TimerRequest) -> None:
        return None

    handler.__name__ = name
    app.timer_trigger(arg_name="timer", schedule=schedule, **options)(handler)
    [spec] = discover(app)
    return spec


class Fired:
    """What a listener hands the function, and its invocation records."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.records: list[InvocationRecord] = []

    async def invoke(self, request: Any) -> None:
        self.requests.append(request)

    def record(self, record: InvocationRecord) -> None:
        self.records.append(record)


async def until(predicate: Callable[[], Any], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def listening(listener: TimerListener) -> AsyncIterator[asyncio.Task[None]]:
    """Run a listener; stop it cleanly at the end of the block (unless the test crashed it)."""
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def blobs(azurite) -> AsyncIterator[BlobServiceClient]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    yield service
    await service.close()


@pytest.fixture
async def timer_hosts(azurite) -> AsyncIterator[Callable[..., TimerHost]]:
    """TimerHosts on Azurite: `make(host_id, clock=..., host_json=..., **settings)`."""
    made: list[TimerHost] = []

    def make(hid: str, clock: Callable[[], datetime] | None = None, host_json: Any = None, **settings: str):
        values = {"AzureWebJobsStorage": azurite.connection_string, HOST_ID_SETTING: hid, **settings}
        options = {"clock": clock} if clock else {}
        host = TimerHost(values, host_json or {}, **options)
        made.append(host)
        return host

    yield make
    for host in made:
        await host.aclose()


async def read_json(blobs: BlobServiceClient, name: str) -> dict[str, str] | None:
    try:
        download = await blobs.get_blob_client(HOSTS, name).download_blob()
    except ResourceNotFoundError:
        return None
    document: dict[str, str] = json.loads(await download.readall())
    return document


async def write_json(blobs: BlobServiceClient, name: str, document: dict[str, str]) -> None:
    with contextlib.suppress(Exception):
        await blobs.get_container_client(HOSTS).create_container()
    await blobs.get_blob_client(HOSTS, name).upload_blob(json.dumps(document), overwrite=True)


async def blob_until(
    blobs: BlobServiceClient,
    name: str,
    predicate: Callable[[dict[str, str] | None], bool],
    within: float = 20,
) -> dict[str, str] | None:
    """Wait for the blob to reach a state; its JSON then."""
    async with asyncio.timeout(within):
        while True:
            document = await read_json(blobs, name)
            if predicate(document):
                return document
            await asyncio.sleep(0.05)


async def lease_state(blobs: BlobServiceClient, name: str) -> str:
    properties = await blobs.get_blob_client(HOSTS, name).get_blob_properties()
    return str(properties.lease.state)


# --- NCRONTAB as NCrontab reads it --------------------------------------------------------------


def occurrences(expression: str, start: datetime, count: int) -> list[datetime]:
    schedule = timer_schedule(expression)
    found, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment)
    return found


def test_six_fields_start_with_seconds_and_five_fields_start_with_minutes():
    start = at("2030-01-01T00:00:00")
    assert occurrences("30 15 10 * * *", start, 1) == [at("2030-01-01T10:15:30")]
    assert occurrences("15 10 * * *", start, 1) == [at("2030-01-01T10:15:00")]
    assert occurrences("*/20 * * * * *", start, 3) == [at(f"2030-01-01T00:00:{s}") for s in ("20", "40")] + [
        at("2030-01-01T00:01:00")
    ]


def test_a_day_of_month_and_a_day_of_week_must_both_match():
    # Vixie cron (and croniter by default) would fire on every Monday and on every 1st, Sundays too.
    found = occurrences("0 0 2 1 * MON", at("2024-01-02T00:00:00"), 4)
    assert found == [at(d + "T02:00:00") for d in ("2024-04-01", "2024-07-01", "2025-09-01", "2025-12-01")]
    assert {(d.day, d.strftime("%A")) for d in found} == {(1, "Monday")}


@pytest.mark.parametrize(
    ("day_of_week", "weekday"),
    [
        ("0", "Sunday"),
        ("6", "Saturday"),
        ("SUN", "Sunday"),
        ("monday", "Monday"),
        ("W", "Wednesday"),  # any prefix of a name, as NCrontab matches names
        ("T", "Tuesday"),
        ("Thu", "Thursday"),
    ],
)
def test_days_of_week_run_0_to_6_from_sunday_and_names_match_by_prefix(day_of_week, weekday):
    [found] = occurrences(f"0 0 0 * * {day_of_week}", at("2030-01-01T00:00:00"), 1)
    assert found.strftime("%A") == weekday


def test_month_names_ranges_reversed_ranges_and_steps_read_as_in_ncrontab():
    assert occurrences("0 0 0 1 feb *", at("2030-01-01T00:00:00"), 1) == [at("2030-02-01T00:00:00")]
    assert [d.hour for d in occurrences("0 0 5-2 * * *", at("2030-01-01T00:00:00"), 4)] == [2, 3, 4, 5]
    assert [d.second for d in occurrences("5/20 * * * * *", at("2030-01-01T00:00:00"), 3)] == [5, 25, 45]
    assert [d.strftime("%a") for d in occurrences("0 0 0 * * Mon-Fri", at("2030-01-05T00:00:00"), 5)] == [
        "Mon", "Tue", "Wed", "Thu", "Fri",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 0 0 * * 7", "7 is higher than the maximum allowable value for the [DayOfWeek] field"),
        ("0 0 0 ? * *", "NCRONTAB has no '?', 'L', 'W', '#' or 'H'"),
        ("0 0 0 L * *", "NCRONTAB has no"),
        ("0 0 0 15W * *", "NCRONTAB has no"),
        ("0 0 0 * * 5#3", "NCRONTAB has no"),
        ("0 0 0 * * 5L", "NCRONTAB has no"),
        ("H 0 0 * * *", "NCRONTAB has no"),
        ("0 0 0 * * Mondays", "is not a known value name"),
        ("0 60 * * * *", "60 is higher than the maximum allowable value for the [Minute] field"),
        ("0 0 0 * * * *", "use six fields"),
        ("0 0 * *", "use six fields"),
    ],
)
def test_expressions_ncrontab_refuses_are_refused_naming_the_expression(expression, problem):
    with pytest.raises(ScheduleError, match=re.escape(f"timer schedule '{expression}'")) as refused:
        timer_schedule(expression)
    assert problem in str(refused.value)


# --- TimeSpan schedules and the plan ----------------------------------------------------------------


def test_a_timespan_schedule_is_refused_on_flex_consumption_and_runs_as_an_interval_on_app_service():
    with pytest.raises(ScheduleError, match="App Service") as refused:
        timer_schedule("00:05:00")
    assert "'00:05:00' is not a valid CRON expression" in str(refused.value)
    assert "LOCAL_PLAN=appservice" in str(refused.value)
    with pytest.raises(ScheduleError):
        timer_schedule("00:05:00", plan_of("consumption"))
    schedule = timer_schedule("00:05:00", plan_of("AppService"))
    assert isinstance(schedule, ConstantSchedule)
    assert schedule.next_after(at("2030-01-01T00:00:00")) == at("2030-01-01T00:05:00")
    assert parse_timespan("01:30") == timedelta(hours=1, minutes=30)
    assert parse_timespan("1.02:03:04") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert parse_timespan("2") == timedelta(days=2)
    assert parse_timespan("00:00:30.5") == timedelta(seconds=30.5)
    assert parse_timespan("25:00:00") is None


def test_an_unknown_plan_stops_the_host_from_starting():
    with pytest.raises(HostConfigError, match="LOCAL_PLAN must be one of"):
        FunctionHost(func.FunctionApp(), {"LOCAL_PLAN": "serverless"}, host_json={})


@pytest.mark.parametrize(
    ("expression", "requested", "monitored"),
    [
        ("0 0 2 * * *", None, True),  # default on
        ("0 * * * * *", None, True),  # once a minute is not sub-minute
        ("0 0 2 * * *", False, False),
        ("*/30 * * * * *", None, False),  # fires twice a minute: never monitored
        ("*/30 * * * * *", True, False),
        ("00:01:00", None, True),
        ("00:00:59", True, False),
    ],
)
def test_the_schedule_monitor_is_on_unless_the_schedule_fires_more_than_once_a_minute(
    expression, requested, monitored
):
    schedule = timer_schedule(expression, "appservice")
    assert use_monitor(schedule, requested, at("2030-01-01T00:00:10")) is monitored


# --- the schedule monitor, in Azurite --------------------------------------------------------------


async def test_a_first_start_records_the_next_occurrence_in_the_status_blob(timer_hosts, blobs):
    hid = unique_host_id()
    host = timer_hosts(hid, clock=lambda: at("2030-01-01T00:00:00"))
    fired = Fired()
    listener = host.listener(timer_function("nightly", "0 0 2 * * *"), fired.invoke, fired.record)
    status_blob = f"timers/{hid}/Host.Functions.nightly/status"
    async with listening(listener):
        written = await blob_until(blobs, status_blob, lambda doc: doc is not None)
        assert listener.state == "listening"
    assert written == {
        "Last": "0001-01-01T00:00:00+00:00",
        "Next": "2030-01-01T02:00:00+00:00",
        "LastUpdated": "2030-01-01T00:00:00+00:00",
    }
    assert fired.requests == []


@pytest.mark.parametrize("run_on_startup", [False, True])
async def test_a_start_after_missed_occurrences_runs_once_past_due_then_keeps_the_schedule(
    timer_hosts, blobs, run_on_startup
):
    hid = unique_host_id()
    status_blob = f"timers/{hid}/Host.Functions.nightly/status"
    # Written by an instance that last ran on 29 December; four 02:00 runs were missed since.
    stored = {
        "Last": "2029-12-29T02:00:00.0123+00:00",
        "Next": "2029-12-30T02:00:00+00:00",
        "LastUpdated": "2029-12-29T02:00:00.0123+00:00",
    }
    await write_json(blobs, status_blob, stored)
    host = timer_hosts(hid, clock=lambda: at("2030-01-03T10:00:00"))
    fired = Fired()
    spec = timer_function("nightly", "0 0 2 * * *", run_on_startup=run_on_startup)
    listener = host.listener(spec, fired.invoke, fired.record)
    async with listening(listener):
        written = await blob_until(blobs, status_blob, lambda doc: doc != stored)
    [request] = fired.requests  # one run for every missed occurrence (and runOnStartup is that run)
    assert request.past_due is True
    assert request.schedule_status == stored  # the status before the run
    assert written == {
        "Last": "2030-01-03T10:00:00+00:00",
        "Next": "2030-01-04T02:00:00+00:00",
        "LastUpdated": "2030-01-03T10:00:00+00:00",
    }
    assert [(r.function, r.outcome) for r in fired.records] == [("nightly", "Succeeded")]
    assert "pastDue=True" in fired.records[0].detail


async def test_a_schedule_changed_while_stopped_is_recalculated_not_past_due(timer_hosts, blobs):
    hid = unique_host_id()
    status_blob = f"timers/{hid}/Host.Functions.nightly/status"
    stored = {  # last written under the schedule "0 0 3 * * *"
        "Last": "2029-12-31T03:00:00+00:00",
        "Next": "2030-01-01T03:00:00+00:00",
        "LastUpdated": "2029-12-31T03:00:00+00:00",
    }
    await write_json(blobs, status_blob, stored)
    host = timer_hosts(hid, clock=lambda: at("2030-01-01T05:00:00"))
    fired = Fired()
    listener = host.listener(timer_function("nightly", "0 0 2 * * *"), fired.invoke, fired.record)
    async with listening(listener):
        written = await blob_until(blobs, status_blob, lambda doc: doc != stored)
    assert written == {
        "Last": "0001-01-01T00:00:00+00:00",
        "Next": "2030-01-02T02:00:00+00:00",
        "LastUpdated": "2030-01-01T05:00:00+00:00",
    }
    assert fired.requests == []


async def test_a_sub_minute_timer_has_no_status_blob_and_its_function_gets_no_status(timer_hosts, blobs):
    hid = unique_host_id()
    fired = Fired()
    listener = timer_hosts(hid).listener(timer_function("often", "* * * * * *"), fired.invoke, fired.record)
    async with listening(listener):
        await until(lambda: len(fired.requests) >= 2)
    assert [r.schedule_status for r in fired.requests[:2]] == [{}, {}]
    assert [r.past_due for r in fired.requests[:2]] == [False, False]
    assert await read_json(blobs, f"timers/{hid}/Host.Functions.often/status") is None


# --- the singleton lock, in Azurite ----------------------------------------------------------------


def test_singleton_defaults_are_the_sdks():
    options = SingletonOptions.from_host_json({})
    assert (options.listener_lock_period, options.listener_lock_recovery_polling_interval) == (60, 60)
    assert (options.lock_period, options.lock_acquisition_polling_interval) == (15, 5)
    assert options.lock_acquisition_timeout is None
    recovery_off = {"singleton": {"listenerLockRecoveryPollingInterval": "10675199.02:48:05.4775807"}}
    assert SingletonOptions.from_host_json(recovery_off).listener_lock_recovery_polling_interval is None


@pytest.mark.parametrize(
    ("singleton", "problem"),
    [
        ({"listenerLockPeriod": "00:00:10"}, "listenerLockPeriod must be between 00:00:15 and 00:01:00"),
        ({"listenerLockPeriod": "00:01:01"}, "listenerLockPeriod must be between"),
        ({"lockPeriod": "00:00:05"}, "lockPeriod must be between"),
        ({"listenerLockRecoveryPollingInterval": "00:00:05"}, "must be at least 00:00:15"),
        ({"lockAcquisitionPollingInterval": "00:00:00.100"}, "must be at least 00:00:00.500"),
        ({"lockAcquisitionTimeout": "00:00:00"}, "lockAcquisitionTimeout must be positive"),
        ({"listenerLockPeriod": "a minute"}, "is not a TimeSpan"),
    ],
)
def test_the_host_refuses_to_start_with_singleton_settings_the_real_host_rejects(singleton, problem):
    with pytest.raises(HostConfigError, match=re.escape(problem)):
        FunctionHost(func.FunctionApp(), {}, host_json={"singleton": singleton})


def test_the_host_id_is_the_setting_or_a_stable_default_of_the_app_folder(tmp_path):
    assert host_id({HOST_ID_SETTING: "docintel-dr-prod"}, tmp_path) == "docintel-dr-prod"
    default = host_id({}, tmp_path)
    assert default == default_host_id(tmp_path / "." / "")  # the same folder, however written
    assert len(default) <= 32 and default == default.lower() and not default.endswith("-")


async def test_a_listener_holds_a_lease_on_its_lock_blob_while_it_runs_and_releases_it_on_stop(
    timer_hosts, blobs
):
    hid = unique_host_id()
    host = timer_hosts(hid, clock=lambda: at("2030-01-01T00:00:00"), host_json=FAST_SINGLETON)
    fired = Fired()
    listener = host.listener(timer_function("nightly", "0 0 2 * * *"), fired.invoke, fired.record)
    lock_blob = f"locks/{hid}/Host.Functions.nightly.Listener"
    async with listening(listener):
        await until(lambda: listener.state == "listening")
        assert await lease_state(blobs, lock_blob) == "leased"
    assert listener.state == "stopped"
    assert await lease_state(blobs, lock_blob) == "available"


async def test_a_crashed_holder_keeps_the_lease_until_it_ends_then_another_instance_takes_over(
    timer_hosts, blobs
):
    hid = unique_host_id()
    first, second = Fired(), Fired()
    spec = timer_function("tick", "* * * * * *")
    holder = timer_hosts(hid, host_json=FAST_SINGLETON).listener(spec, first.invoke, first.record)
    standby = timer_hosts(hid, host_json=FAST_SINGLETON).listener(spec, second.invoke, second.record)
    lock_blob = f"locks/{hid}/Host.Functions.tick.Listener"
    async with listening(holder) as holder_task:
        await until(lambda: holder.state == "listening" and len(first.records) >= 1)
        async with listening(standby):
            await until(lambda: standby.state == "standby")
            holder_task.cancel()  # kill -9: nothing is released
            with contextlib.suppress(asyncio.CancelledError):
                await holder_task
            ran_before_crash = len(first.records)
            assert await lease_state(blobs, lock_blob) == "leased"
            assert second.records == []
            # The lease runs out (15 s), and the standby's next attempt (every 15 s) takes the lock.
            await until(lambda: standby.state == "listening" and len(second.records) >= 2, within=60)
    assert len(first.records) == ran_before_crash


@pytest.fixture
def ticking_app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="* * * * * *")
    async def tick(timer: func.TimerRequest) -> None:
        return None

    return app


@contextlib.contextmanager
def started(app: func.FunctionApp, settings: dict[str, str]) -> Iterator[FunctionHost]:
    host = FunctionHost(app, settings, host_json=FAST_SINGLETON, port=0, topic_settings=None)
    with run_host_in_thread(host):
        yield host


def state(host: FunctionHost) -> str | None:
    """The state of the host's `tick` listener (None until its task has started)."""
    listener = host.timers.listeners.get("tick")
    return None if listener is None else listener.state


def ticks(host: FunctionHost) -> int:
    return sum(1 for r in host.invocations if r.function == "tick")


def test_two_instances_run_a_timer_on_one_and_the_other_takes_over_when_it_stops(
    azurite, ticking_app, tmp_path
):
    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        HOST_ID_SETTING: unique_host_id(),
        "LOCAL_EVENTS_FILE": str(tmp_path / "events.jsonl"),
    }
    with contextlib.ExitStack() as keep_second:
        with started(ticking_app, settings) as first:
            eventually(lambda: ticks(first) >= 1, what="the first instance runs the timer")
            second = keep_second.enter_context(started(ticking_app, settings))
            eventually(lambda: state(second) == "standby", what="the second waits")
            seen = ticks(first)
            eventually(lambda: ticks(first) >= seen + 3, what="three more runs on the first")
            assert ticks(second) == 0
        # The first stopped cleanly and released the lock: the second's next attempt (15 s) takes it.
        assert state(first) == "stopped"
        stopped_at = ticks(first)
        eventually(lambda: ticks(second) >= 2, timeout=45, what="the second takes over")
        assert state(second) == "listening"
    assert ticks(first) == stopped_at


# --- a timer the host cannot index --------------------------------------------------------------


def test_a_timer_the_host_cannot_index_is_disabled_naming_its_schedule_and_the_others_run(
    azurite, caplog, tmp_path
):
    app = func.FunctionApp()
    ran: list[str] = []

    @app.timer_trigger(arg_name="timer", schedule="* * * * * *")
    async def fine(timer: func.TimerRequest) -> None:
        ran.append("fine")

    @app.timer_trigger(arg_name="timer", schedule="0 0 0 ? * MON")
    async def quartz(timer: func.TimerRequest) -> None:
        ran.append("quartz")

    @app.timer_trigger(arg_name="timer", schedule="00:10:00")
    async def interval(timer: func.TimerRequest) -> None:
        ran.append("interval")

    @app.timer_trigger(arg_name="timer", schedule="%NOT_SET%")
    async def unresolved(timer: func.TimerRequest) -> None:
        ran.append("unresolved")

    settings = {
        "AzureWebJobsStorage": azurite.connection_string,
        HOST_ID_SETTING: unique_host_id(),
        "LOCAL_EVENTS_FILE": str(tmp_path / "events.jsonl"),
    }
    caplog.set_level("ERROR", logger="docintel_dr.local.host")
    with started(app, settings) as host:
        eventually(lambda: ran.count("fine") >= 2, what="the valid timer runs")
        assert set(host.timers.listeners) == {"fine"}
    errors = [r.getMessage() for r in caplog.records if "is disabled" in r.getMessage()]
    assert any(e.startswith("quartz is disabled: timer schedule '0 0 0 ? * MON'") for e in errors), errors
    assert any(e.startswith("interval is disabled: timer schedule '00:10:00' is a TimeSpan") for e in errors)
    assert any(e.startswith("unresolved is disabled:") and "NOT_SET" in e for e in errors)
    assert set(ran) == {"fine"}
