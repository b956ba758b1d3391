"""Timer triggers as the Timers extension runs them (`TimerListener`, `ScheduleMonitor`), in UTC.

- **Schedules** (`schedules.py`): NCRONTAB as NCrontab reads it, or a TimeSpan where the plan allows
  it; a schedule the host cannot index disables its function, with an error naming the expression.
- **Singleton** (`singleton.py`): a timer runs on one instance at a time; the listener schedules and
  invokes only while it holds its blob lease, and stops when it loses it.
- **Schedule monitor** (`useMonitor`, on by default unless the schedule is sub-minute): the status blob
  `timers/{hostId}/Host.Functions.{name}/status` in `azure-webjobs-hosts` holds
  `{"Last","Next","LastUpdated"}`. When the listener starts (takes the lock) and the recorded `Next`
  has passed, the function runs at once with `past_due=True`: one run for every missed occurrence. A
  schedule changed since the status was written is recalculated instead (not past due). After each
  run the status is rewritten; the function receives the status as it was before the run
  (`TimerRequest.schedule_status`; empty without a monitor).
- `runOnStartup` runs the function when the listener starts, unless it is past due (one run). Runs of
  one timer never overlap; a run that overruns its next occurrences is followed at once by one run
  (not past due), as the host schedules from the time the run started.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from local.runner.functions import FunctionSpec, resolve
from local.runner.invocations import InvocationRecord, Record, attempt, outcome
from local.runner.schedules import (
    PLAN_SETTING,
    Schedule,
    first_occurrence,
    plan_of,
    timer_schedule,
    use_monitor,
)
from local.runner.singleton import HOSTS_CONTAINER, ListenerLock, SingletonOptions, blob_service, host_id

log = logging.getLogger("docintel_dr.local.host")

T = TypeVar("T")
Clock = Callable[[], datetime]
Invoke = Callable[[Any], Awaitable[Any]]

# The Functions host generates its functions as methods of the type `Host.Functions`: the timer's name
# (status blob) and the lock id are that type's name and the function's.
FUNCTIONS_TYPE = "Host.Functions"
# DateTime.MinValue: "never" in a ScheduleStatus; anything before year 2 counts as unset.
NEVER = datetime(1, 1, 1, tzinfo=UTC)
_UNSET_BEFORE = datetime(2, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def dotnet_time(moment: datetime) -> str:
    """As Json.NET writes a local DateTime on a UTC host: `2024-05-01T02:00:00.123+00:00`."""
    moment = moment.astimezone(UTC)
    text = moment.replace(tzinfo=None, microsecond=0).isoformat()
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "+00:00"


def parse_time(text: str) -> datetime:
    """A status time: any ISO 8601 form; without an offset it is the host's local time, UTC."""
    if text.startswith("0001-01-01"):
        return NEVER
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime
    next: datetime
    last_updated: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "Last": dotnet_time(self.last),
            "Next": dotnet_time(self.next),
            "LastUpdated": dotnet_time(self.last_updated),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ScheduleStatus:
        def moment(key: str) -> datetime:
            value = document.get(key)
            return parse_time(str(value)) if value else NEVER

        return cls(moment("Last"), moment("Next"), moment("LastUpdated"))


class StatusMonitor:
    """The extension's storage schedule monitor: one status blob per timer."""

    def __init__(self, service: BlobServiceClient, host: str) -> None:
        self.service = service
        self.host = host

    def blob_name(self, timer: str) -> str:
        return f"timers/{self.host}/{timer}/status"

    async def get(self, timer: str) -> ScheduleStatus | None:
        blob = self.service.get_blob_client(HOSTS_CONTAINER, self.blob_name(timer))
        try:
            download = await blob.download_blob()
        except ResourceNotFoundError:
            return None
        return ScheduleStatus.from_json(json.loads(await download.readall()))

    async def update(self, timer: str, status: ScheduleStatus) -> None:
        """Best effort, as in the host: a failure is logged, the schedule goes on."""
        blob = self.service.get_blob_client(HOSTS_CONTAINER, self.blob_name(timer))
        body = json.dumps(status.to_json(), separators=(",", ":"))
        try:
            try:
                await blob.upload_blob(body, overwrite=True)
            except ResourceNotFoundError:
                await self.service.get_container_client(HOSTS_CONTAINER).create_container()
                await blob.upload_blob(body, overwrite=True)
        except AzureError as exc:
            log.error("Function '%s' failed to update the timer trigger status: %s", timer, exc)

    async def check_past_due(
        self, timer: str, now: datetime, schedule: Schedule, status: ScheduleStatus | None
    ) -> tuple[ScheduleStatus | None, bool]:
        """`ScheduleMonitor.CheckPastDueAsync`: (the status to use, whether `Next` has passed). A first
        start records `Next`; a status whose `Next` does not follow from its `Last` (or `LastUpdated`)
        means the schedule changed: `Next` is recalculated, from now if it has passed."""
        if status is None:
            await self.update(timer, ScheduleStatus(NEVER, schedule.next_after(now), now))
            return None, False
        if status.last >= _UNSET_BEFORE:
            base = status.last
        elif status.last_updated >= _UNSET_BEFORE:
            base = status.last_updated
        else:
            base = now
        expected = schedule.next_after(base)
        if status.next != expected:
            if now > expected:
                base, expected = now, schedule.next_after(now)
            status = ScheduleStatus(NEVER, expected, base)
            await self.update(timer, status)
        return status, now > status.next


@dataclass(frozen=True)
class TimerFunction:
    name: str  # the function's name
    timer_name: str  # Host.Functions.<name>
    schedule: Schedule
    run_on_startup: bool


async def _wait(events: Sequence[asyncio.Event], seconds: float | None) -> bool:
    """Wait until one of `events` is set (True) or `seconds` pass (False)."""
    if any(event.is_set() for event in events):
        return True
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


async def _unless_stopped(call: Awaitable[T], stop: asyncio.Event) -> tuple[bool, T | None]:
    """(True, result) when `call` finishes first; (False, None) when `stop` is set first (`call` is
    cancelled: storage retries do not hold up a stopping host)."""
    task = asyncio.ensure_future(call)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return (False, None) if task.cancelled() else (True, task.result())


class TimerListener:
    """One timer function on this instance. `state`: acquiring, standby (another instance holds the
    lock), listening, stopped."""

    def __init__(
        self,
        function: TimerFunction,
        lock: ListenerLock,
        monitor: StatusMonitor | None,
        options: SingletonOptions,
        invoke: Invoke,
        record: Record,
        clock: Clock = utcnow,
    ) -> None:
        self.function = function
        self.lock = lock
        self.monitor = monitor
        self.options = options
        self.invoke = invoke
        self.record = record
        self.clock = clock
        self.state = "acquiring"
        self.status: ScheduleStatus | None = None
        self._halt: tuple[asyncio.Event, ...] = ()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set. Cancelling the task is a crash: the lease is not released."""
        recovery = self.options.listener_lock_recovery_polling_interval
        try:
            while not stop.is_set():
                self.state = "acquiring"
                if await self._acquire(stop):
                    if await self._hold(stop):
                        return
                elif recovery is None:  # recovery off: this listener does not start
                    self._standby("it does not try again (listenerLockRecoveryPollingInterval is off)")
                    await stop.wait()
                    return
                if recovery is not None:
                    self._standby(f"trying again every {recovery:g} s")
                    if await _wait([stop], recovery):
                        return
        finally:
            self.state = "stopped"

    def _standby(self, then: str) -> None:
        if self.state != "standby":
            log.info(
                "%s: the timer's singleton lock (%s) is held elsewhere or was lost; %s",
                self.function.name,
                self.lock.lock_id,
                then,
            )
        self.state = "standby"

    async def _attempt(self, stop: asyncio.Event) -> bool:
        try:
            finished, acquired = await _unless_stopped(self.lock.try_acquire(), stop)
        except AzureError as exc:
            log.warning(
                "%s: could not take the singleton lock (%s): %s", self.function.name, self.lock.lock_id, exc
            )
            return False
        return finished and bool(acquired)

    async def _acquire(self, stop: asyncio.Event) -> bool:
        """One attempt; with recovery turned off, the SDK instead polls every
        `lockAcquisitionPollingInterval` until `lockAcquisitionTimeout`."""
        if await self._attempt(stop):
            return True
        if self.options.listener_lock_recovery_polling_interval is not None:
            return False
        waited, poll = 0.0, self.options.lock_acquisition_polling_interval
        limit = self.options.lock_acquisition_timeout
        while limit is None or waited < limit:
            if await _wait([stop], poll):
                return False
            waited += poll
            if await self._attempt(stop):
                return True
        return False

    async def _hold(self, stop: asyncio.Event) -> bool:
        """Listen while the lease is kept; release it unless it was lost. True when stopping."""
        lost = asyncio.Event()
        keeper = asyncio.create_task(self.lock.keep(lost), name=f"{self.function.name}-lease")
        self.state = "listening"
        try:
            await self._listen(stop, lost)
        except (AzureError, ValueError) as exc:
            log.error("The listener for function '%s' failed: %s", self.function.name, exc)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        try:
            await self.lock.release()
        except AzureError as exc:
            log.warning("%s: the singleton lock was not released: %s", self.function.name, exc)
        return stop.is_set()

    def _halted(self) -> bool:
        return any(event.is_set() for event in self._halt)

    async def _listen(self, stop: asyncio.Event, lost: asyncio.Event) -> None:
        """`TimerListener.StartAsync` and its timer loop, until stopped or the lock is lost."""
        self._halt = (stop, lost)
        schedule, name = self.function.schedule, self.function.timer_name
        now = self.clock()
        past_due = False
        self.status = None
        if self.monitor is not None:
            stored = await self.monitor.get(name)
            self.status, past_due = await self.monitor.check_past_due(name, now, schedule, stored)
        if self.status is None:
            self.status = ScheduleStatus(NEVER, schedule.next_after(now), NEVER)
        if past_due:
            await self._invoke(self.clock(), past_due=True)
        elif self.function.run_on_startup:
            await self._invoke(self.clock(), startup=True)
        while not self._halted():
            delay = (self.status.next - self.clock()).total_seconds()
            if delay > 0 and await _wait(self._halt, delay):
                return
            await self._invoke(self.clock())

    async def _invoke(self, invoked_at: datetime, *, past_due: bool = False, startup: bool = False) -> None:
        from azure.functions.timer import TimerRequest

        if self._halted() or self.status is None:
            return
        status = self.status
        request = TimerRequest(
            past_due=past_due,
            schedule_status=status.to_json() if self.monitor is not None else None,
            schedule={"AdjustForDST": True},
        )
        _, seconds, error = await attempt(lambda: self.invoke(request))
        detail = f"timer schedule='{self.function.schedule.expression}' pastDue={past_due}"
        if startup:
            detail += " runOnStartup"
        self.record(InvocationRecord(self.function.name, "timer", outcome(error), seconds, detail, error))
        # A timer that fired a little early counts from its scheduled time, so that `Next` moves on.
        early = not (past_due or startup) and status.next > invoked_at
        base = status.next if early else invoked_at
        self.status = ScheduleStatus(base, self.function.schedule.next_after(base), base)
        if self.monitor is not None:
            await self.monitor.update(self.function.timer_name, self.status)


def _app_dir(spec: FunctionSpec) -> Path:
    try:
        return Path(inspect.getfile(spec.user_function)).parent
    except TypeError:
        return Path.cwd()


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


class TimerHost:
    """The timers of one function app: the plan (`LOCAL_PLAN`), host.json `singleton`, the host id,
    the `AzureWebJobsStorage` blob service, and one listener per timer function (`listeners`)."""

    def __init__(
        self, values: Mapping[str, str], host_json: Mapping[str, Any], *, clock: Clock = utcnow
    ) -> None:
        self.values = values
        self.plan = plan_of(values.get(PLAN_SETTING))
        self.singleton = SingletonOptions.from_host_json(host_json)
        self.clock = clock
        self.listeners: dict[str, TimerListener] = {}
        self._service: BlobServiceClient | None = None

    def listener(self, spec: FunctionSpec, invoke: Invoke, record: Record) -> TimerListener:
        """The listener of a timer function; KeyError (missing setting), ScheduleError or RuntimeError
        (no storage) when the host would not index it."""
        schedule = timer_schedule(resolve(str(spec.trigger["schedule"]), self.values), self.plan)
        now = self.clock()
        first_occurrence(schedule, now)
        monitored = use_monitor(schedule, _flag(spec.trigger.get("useMonitor")), now)
        if self._service is None:
            self._service = blob_service(self.values)
        host = host_id(self.values, _app_dir(spec))
        timer_name = f"{FUNCTIONS_TYPE}.{spec.name}"
        function = TimerFunction(
            spec.name, timer_name, schedule, bool(_flag(spec.trigger.get("runOnStartup")))
        )
        lock = ListenerLock(self._service, host, timer_name, self.singleton.listener_lock_period)
        monitor = StatusMonitor(self._service, host) if monitored else None
        listener = TimerListener(function, lock, monitor, self.singleton, invoke, record, self.clock)
        self.listeners[spec.name] = listener
        return listener

    async def run(self, spec: FunctionSpec, invoke: Invoke, record: Record, stop: asyncio.Event) -> None:
        """Run a timer function's listener until `stop` is set; a function the host would not index is
        disabled (logged), the others run."""
        try:
            listener = self.listener(spec, invoke, record)
        except (KeyError, ValueError, RuntimeError) as exc:
            log.error("%s is disabled: %s", spec.name, exc.args[0] if exc.args else exc)
            return
        await listener.run(stop)

    async def aclose(self) -> None:
        if self._service is not None:
            await self._service.close()
            self._service = None
