"""Timer schedules as the Functions host reads them (Timers extension, NCrontab).

An expression is first read as NCRONTAB, the way NCrontab's `CrontabSchedule.TryParse` reads it: five
fields (minute first) or six (seconds first), split on spaces; each field a list of `*`, values,
ranges (`a-b`, swapped when `a > b`) and steps (`*/n`, `a-b/n`, `a/n` = from `a` to the end); values
are numbers, or for months and days of week a case-insensitive prefix of the English name (`Jan`,
`mon`, `W` = Wednesday, `T` = Tuesday, `S` = Sunday). Days of week are 0-6, 0 = Sunday (7 is refused);
there is no `?`, `L`, `W`, `#` or `H`. When both the day of month and the day of week are restricted,
an occurrence must match **both** (NCrontab checks the day of week after the date), unlike Vixie cron.
The fields are checked and normalised here, then croniter (with `day_or=False`) does the date
arithmetic.

If it is not NCRONTAB, it is read as a .NET TimeSpan (`hh:mm[:ss[.fffffff]]`, `d.hh:mm:ss`,
`d:hh:mm:ss`, or a number of days): a constant interval. The host refuses TimeSpan schedules on
Consumption and Flex Consumption plans ("'<expr>' is not a valid CRON expression."); the runner runs as
on Flex Consumption unless `LOCAL_PLAN` says otherwise (`appservice` or `premium` accept them).

`use_monitor()` follows the extension: the schedule monitor is off for a schedule that fires more than
once within a minute (cron) or whose interval is under a minute (TimeSpan), whatever `useMonitor` says;
otherwise `useMonitor` decides, default on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from croniter import CroniterError, croniter

from local.runner.config import HostConfigError

PLAN_SETTING = "LOCAL_PLAN"
FLEX_CONSUMPTION = "flexconsumption"
# Plans on which the host runs TimeSpan schedules (it refuses them on the consumption plans).
TIMESPAN_PLANS = ("appservice", "premium")
PLANS = (FLEX_CONSUMPTION, "consumption", *TIMESPAN_PLANS)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True)
class _Field:
    kind: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_FIELDS = (
    _Field("Second", 0, 59),
    _Field("Minute", 0, 59),
    _Field("Hour", 0, 23),
    _Field("Day", 1, 31),
    _Field("Month", 1, 12, _MONTHS),
    _Field("DayOfWeek", 0, 6, _DAYS),
)
_NOT_NCRONTAB = re.compile(r"[?#]|^[LH]|\d[LW]|W$", re.IGNORECASE)
_STEP = re.compile(r"\s*[+-]?[0-9]+\s*")
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d+(?::\d+){1,3})(?:\.(\d{1,7}))?")


class ScheduleError(ValueError):
    """A schedule the host cannot index: its function does not start."""


class Schedule(Protocol):
    @property
    def expression(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class CronSchedule:
    expression: str  # as written (settings resolved)
    normalized: str  # six fields, numbers only, for croniter

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (NCrontab ignores fractions of a second)."""
        it = croniter(self.normalized, moment, second_at_beginning=True, day_or=False)
        result: datetime = it.get_next(datetime)
        return result


@dataclass(frozen=True)
class ConstantSchedule:
    expression: str
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


class _FieldError(ValueError):
    pass


def _value(field: _Field, text: str) -> int:
    if not text:
        raise _FieldError("A crontab field value cannot be empty.")
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    if not field.names:
        raise _FieldError(
            f"'{text}' is not a valid [{field.kind}] crontab field value. It must be a numeric value "
            f"between {field.low} and {field.high} (all inclusive)."
        )
    for index, name in enumerate(field.names):
        if name.lower().startswith(text.lower()):
            return field.low + index
    raise _FieldError(
        f"'{text}' is not a known value name. Use one of the following: {', '.join(field.names)}."
    )


def _span(field: _Field, start: int, end: int, step: int) -> set[int]:
    """NCrontab's accumulation of one element: range checks, reversed ranges swapped, step >= 1."""
    start, end = min(start, end), max(start, end)
    for value in (start, end):
        if not field.low <= value <= field.high:
            side = "higher than the maximum" if value > field.high else "lower than the minimum"
            raise _FieldError(
                f"{value} is {side} allowable value for the [{field.kind}] field. "
                f"Value must be between {field.low} and {field.high} (all inclusive)."
            )
    return set(range(start, end + 1, max(step, 1)))


def _element(field: _Field, text: str) -> set[int]:
    step = 1
    slash = text.find("/")
    if slash > 0:
        if not _STEP.fullmatch(text[slash + 1 :]):
            raise _FieldError(f"'{text[slash + 1 :]}' is not a valid step")
        step = int(text[slash + 1 :])
        text = text[:slash]
    if text == "*":
        return _span(field, field.low, field.high, step)
    dash = text.find("-")
    if dash > 0:
        return _span(field, _value(field, text[:dash]), _value(field, text[dash + 1 :]), step)
    value = _value(field, text)
    return _span(field, value, value if step == 1 else field.high, step)


def _field_values(field: _Field, text: str) -> set[int]:
    parts = text.split(",") if text.find(",") > 0 else [text]
    values: set[int] = set()
    for part in parts:
        if not part:
            raise _FieldError("A crontab field value cannot be empty.")
        values |= _element(field, part)
    return values


def _normalized(field: _Field, values: set[int]) -> str:
    if values == set(range(field.low, field.high + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def parse_ncrontab(expression: str) -> CronSchedule:
    """An NCRONTAB expression, or ScheduleError saying why NCrontab would not take it."""
    tokens = [t for t in expression.split(" ") if t]
    if len(tokens) not in (5, 6):
        raise ScheduleError(
            f"timer schedule '{expression}' is not a valid NCRONTAB expression: use six fields "
            "'{second} {minute} {hour} {day} {month} {day-of-week}' (or five, without seconds)"
        )
    if len(tokens) == 5:
        tokens = ["0", *tokens]
    normalized = []
    for field, token in zip(_FIELDS, tokens, strict=True):
        try:
            normalized.append(_normalized(field, _field_values(field, token)))
        except _FieldError as exc:
            hint = " (NCRONTAB has no '?', 'L', 'W', '#' or 'H')" if _NOT_NCRONTAB.search(token) else ""
            raise ScheduleError(
                f"timer schedule '{expression}' is not a valid NCRONTAB expression: '{token}' is not a "
                f"valid [{field.kind}] crontab field expression: {exc}{hint}"
            ) from None
    return CronSchedule(expression, " ".join(normalized))


def parse_timespan(text: str) -> timedelta | None:
    """A .NET TimeSpan string as `TimeSpan.TryParse` reads the usual forms, or None."""
    text = text.strip()
    if re.fullmatch(r"[0-9]+", text):
        return timedelta(days=int(text))
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        return None
    dotted_days, clock, fraction = match.groups()
    parts = [int(p) for p in clock.split(":")]
    if len(parts) == 4:
        if dotted_days is not None:
            return None
        days, parts = parts[0], parts[1:]
    else:
        days = int(dotted_days or 0)
    if fraction is not None and len(parts) < 3:
        return None
    hours, minutes, seconds = [*parts, 0][:3]
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    micro = round(int(fraction.ljust(7, "0")) / 10) if fraction else 0
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, microseconds=micro)


def plan_of(setting: str | None) -> str:
    plan = (setting or FLEX_CONSUMPTION).strip().lower()
    if plan not in PLANS:
        raise HostConfigError(f"{PLAN_SETTING} must be one of {', '.join(PLANS)} (got '{setting}')")
    return plan


def timer_schedule(expression: str, plan: str = FLEX_CONSUMPTION) -> Schedule:
    """The schedule of a timer trigger (settings already resolved), or ScheduleError."""
    try:
        schedule: Schedule = parse_ncrontab(expression)
    except ScheduleError as not_cron:
        interval = parse_timespan(expression)
        if interval is None:
            raise ScheduleError(f"{not_cron} (nor is it a TimeSpan)") from None
        if plan not in TIMESPAN_PLANS:
            raise ScheduleError(
                f"timer schedule '{expression}' is a TimeSpan: '{expression}' is not a valid CRON "
                f"expression, and the Functions host accepts TimeSpan schedules only on App Service "
                f"(and Premium) plans, not on {plan}; use NCRONTAB, or set {PLAN_SETTING}=appservice "
                "to run as on an App Service plan"
            ) from None
        if interval <= timedelta(0):
            raise ScheduleError(f"timer schedule '{expression}' must be a positive TimeSpan") from None
        schedule = ConstantSchedule(expression, interval)
    return schedule


def first_occurrence(schedule: Schedule, now: datetime) -> datetime:
    """The next occurrence, or ScheduleError for a schedule that never fires (e.g. 30 February)."""
    try:
        return schedule.next_after(now)
    except CroniterError:
        raise ScheduleError(f"timer schedule '{schedule.expression}' has no next occurrence") from None


def use_monitor(schedule: Schedule, requested: bool | None, now: datetime) -> bool:
    """The extension's rule: no schedule monitor for sub-minute schedules, else `useMonitor` (default
    true)."""
    if isinstance(schedule, ConstantSchedule):
        frequent = schedule.interval < timedelta(minutes=1)
    else:
        following = schedule.next_after(schedule.next_after(now))
        frequent = following < now + timedelta(minutes=1)
    if frequent:
        return False
    return True if requested is None else requested
