"""Timer triggers: NCRONTAB schedules (six fields, seconds first; five-field cron too; `hh:mm:ss`
TimeSpans), `runOnStartup`, and `past_due` when an invocation starts later than scheduled (for
example because the previous run overran: runs of one timer never overlap, as in the host).
UTC, like the host's default."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

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
