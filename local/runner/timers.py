"""Timer triggers: NCRONTAB schedules (six fields, seconds first; five-field cron too; `hh:mm:ss`
TimeSpans), `runOnStartup`, and `past_due` when an invocation starts later than scheduled (for
example because the previous run overran: runs of one timer never overlap, as in the host).
UTC, like the host's default.

`run_timer_function` runs one timer-triggered function: `func.TimerRequest` with `past_due` and
`schedule_status` (Last, Next, LastUpdated), one invocation record per run."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from local.runner.functions import FunctionSpec, resolve
from local.runner.invocations import InvocationRecord, Record, attempt, outcome

log = logging.getLogger("docintel_dr.local.host")

PAST_DUE_TOLERANCE = timedelta(seconds=1)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Schedule:
    expression: str

    def __post_init__(self) -> None:
        text = self.expression.strip()
        span = _TIMESPAN.match(text)
        self._interval: timedelta | None = None
        if span:
            days, h, m, s = (int(g) if g else 0 for g in span.groups())
            self._interval = timedelta(days=days, hours=h, minutes=m, seconds=s)
            if self._interval <= timedelta(0):
                raise ValueError(f"timer schedule '{text}' must be a positive TimeSpan")
            return
        fields = text.split()
        if len(fields) not in (5, 6):
            raise ValueError(
                f"timer schedule '{text}' is not NCRONTAB: use six fields "
                "'{second} {minute} {hour} {day} {month} {day-of-week}' (or five)"
            )
        self._six = len(fields) == 6
        if not croniter.is_valid(text, second_at_beginning=self._six):
            raise ValueError(f"timer schedule '{text}' is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        it = croniter(self.expression.strip(), moment, second_at_beginning=self._six)
        result: datetime = it.get_next(datetime)
        return result


@dataclass
class TimerFire:
    scheduled: datetime
    started: datetime
    past_due: bool
    startup: bool = False


async def run_timer(
    schedule: Schedule,
    run_on_startup: bool,
    fire: Callable[[TimerFire, datetime], Awaitable[None]],
    stop: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Fire until `stop` is set. `fire(info, next_occurrence)` runs one invocation (awaited: runs of
    one timer never overlap). Missed occurrences collapse into one late, past-due invocation."""
    now = clock()
    if run_on_startup and not stop.is_set():
        await fire(TimerFire(now, now, past_due=False, startup=True), schedule.next_after(now))
    due = schedule.next_after(now)
    while not stop.is_set():
        wait = (due - clock()).total_seconds()
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
                return
            except TimeoutError:
                pass
        started = clock()
        late = started - due > PAST_DUE_TOLERANCE
        # Catch up: every occurrence passed while we were busy makes one late invocation.
        following = schedule.next_after(due)
        while following <= started:
            due, following = following, schedule.next_after(following)
        await fire(TimerFire(due, started, past_due=late), following)
        due = following


async def run_timer_function(
    spec: FunctionSpec,
    values: Mapping[str, str],
    invoke: Callable[[Any], Awaitable[Any]],
    record: Record,
    stop: asyncio.Event,
) -> None:
    """Fire `spec` on its schedule until `stop` is set; a schedule that cannot be resolved or parsed
    disables the function (logged), as the host does not start such a function either."""
    from azure.functions.timer import TimerRequest

    try:
        schedule = Schedule(resolve(str(spec.trigger["schedule"]), values))
    except (KeyError, ValueError) as exc:
        log.error("%s is disabled: %s", spec.name, exc.args[0] if exc.args else exc)
        return
    last: datetime | None = None

    async def fire(info: TimerFire, following: datetime) -> None:
        nonlocal last
        request = TimerRequest(
            past_due=info.past_due,
            schedule_status={
                "Last": (last or info.scheduled).isoformat(),
                "Next": following.isoformat(),
                "LastUpdated": info.started.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        _, seconds, error = await attempt(lambda: invoke(request))
        last = info.scheduled
        detail = f"timer schedule='{schedule.expression}' pastDue={info.past_due}"
        if info.startup:
            detail += " runOnStartup"
        record(InvocationRecord(spec.name, "timer", outcome(error), seconds, detail, error))

    await run_timer(schedule, bool(spec.trigger.get("runOnStartup")), fire, stop)
