"""Dates and the clock.

Users type dates the way they speak (``tomorrow``, ``fri``, ``eom``, ``+3d``, ``2026-12-01 15:00``);
this module turns them into timezone-aware UTC datetimes, and back into local text for the screen.
It also holds the one clock every command reads (``PIPECTL_NOW`` / ``--as-of``), so time-based
behaviour can be scripted and tested. Stored times are UTC ISO-8601 text with a ``Z``.

A date without a time of day means the start of that day (local), except for due dates
(``mode="due"``), where a date means "by the end of that day": ``--due tomorrow`` is not overdue
until tomorrow is over.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pipectl.errors import PipectlError

Mode = Literal["point", "due"]

END_OF_DAY = time(23, 59, 59)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = re.compile(r"^([+-]?)(\d{1,5})\s*(h|d|w)$")
HELP = "use an ISO date (2026-12-01), today, tomorrow, yesterday, a weekday, eow, eom, or +3d / 2w / -1d"
# Dates a pipeline can mean: anything else is a typo (and 0500 or 10000 would not survive arithmetic).
FIRST_YEAR, LAST_YEAR = 1900, 2999


def clock(as_of: str | None = None) -> datetime:
    """Now, as a UTC datetime: ``as_of`` (``--as-of``) or ``PIPECTL_NOW`` when set, else the system clock."""
    real = datetime.now(UTC)
    fixed = as_of or os.environ.get("PIPECTL_NOW")
    if not fixed:
        return real
    try:
        return parse_when(fixed, real)
    except PipectlError as exc:
        raise PipectlError(f"bad --as-of / PIPECTL_NOW: {exc.message}") from None


def local_today(now: datetime) -> date:
    return now.astimezone().date()


def at_local(day: date, moment: time = time(0)) -> datetime:
    """The UTC instant of a local wall-clock time on ``day``."""
    return datetime.combine(day, moment).astimezone().astimezone(UTC)


def _day_of(text: str, today: date) -> date | None:
    """A keyword or relative day (today, fri, eom, +3d...), or None when ``text`` is not one."""
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "yesterday":
        return today - timedelta(days=1)
    if text == "eow":
        return today + timedelta(days=6 - today.weekday())
    if text == "eom":
        import calendar

        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    for index, name in enumerate(_WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            ahead = (index - today.weekday() - 1) % 7 + 1
            return today + timedelta(days=ahead)
    return None


def parse_when(text: str, now: datetime, mode: Mode = "point") -> datetime:
    """Parse what a user typed into a UTC datetime, relative to ``now``.

    Raises PipectlError with a hint when the text is not a date.
    """
    raw = text.strip()
    lowered = raw.lower()
    if not raw:
        raise PipectlError(f"empty date: {HELP}")
    if lowered == "now":
        return now
    try:
        result = _parse(raw, lowered, now, END_OF_DAY if mode == "due" else time(0))
    except (ValueError, OverflowError):
        raise PipectlError(f"unrecognised date {raw!r}: {HELP}") from None
    if not FIRST_YEAR <= result.year <= LAST_YEAR:
        raise PipectlError(f"date {raw!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}")
    return result


def _parse(raw: str, lowered: str, now: datetime, moment: time) -> datetime:
    today = local_today(now)
    day = _day_of(lowered, today)
    if day is not None:
        return at_local(day, moment)
    relative = _RELATIVE.match(lowered)
    if relative:
        sign, amount, unit = relative.groups()
        count = -int(amount) if sign == "-" else int(amount)
        if unit == "h":
            return now + timedelta(hours=count)
        days = count * (7 if unit == "w" else 1)
        return at_local(today + timedelta(days=days), moment)
    return _parse_absolute(raw, moment)


def _parse_absolute(raw: str, moment: time) -> datetime:
    if len(raw) == 10 and raw[4] == "-":
        return at_local(date.fromisoformat(raw), moment)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return _parse_free(raw, moment)
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.astimezone(UTC)


def _parse_free(raw: str, moment: time) -> datetime:
    """Anything python-dateutil understands ("Dec 3", "3 December 2026 10:00")."""
    import warnings

    from dateutil import parser

    with warnings.catch_warnings():
        # A time zone dateutil does not know ("10:00 ZD") would silently be local time: refuse it.
        warnings.simplefilter("error", parser.UnknownTimezoneWarning)
        try:
            # Parsing against two default hours tells whether the text named a time of day.
            first: datetime = parser.parse(raw, default=datetime(2000, 1, 1, 0))
            second = parser.parse(raw, default=datetime(2000, 1, 1, 12))
        except parser.UnknownTimezoneWarning as exc:
            raise PipectlError(f"date {raw!r} names a time zone pipectl does not know ({exc})") from None
    if first != second:
        first = datetime.combine(first.date(), moment, first.tzinfo)
    if first.tzinfo is None:
        first = first.astimezone()
    return first.astimezone(UTC)


def parse_day(text: str, now: datetime) -> date:
    """Parse a calendar date (an expected close date): the local day of what the user typed."""
    return parse_when(text, now).astimezone().date()


def to_iso(moment: datetime) -> str:
    """Storage form: UTC, seconds, ``Z`` (stored times compare as text, so the form never varies)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def show(text: str | None) -> str:
    """A stored time as local text; an end-of-day due time as the bare date."""
    if not text:
        return ""
    if len(text) == 10:
        return text
    moment = from_iso(text).astimezone()
    if moment.time() == END_OF_DAY:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def days_between(earlier: str, later: str | datetime) -> float:
    """Days from a stored time to another (stored, or a datetime such as now)."""
    end = from_iso(later) if isinstance(later, str) else later
    return (end - from_iso(earlier)).total_seconds() / 86400


def target_period(now: datetime, kind: str, back: int = 0) -> tuple[datetime, datetime]:
    """The calendar week (Monday to Sunday), month, quarter or year (local) that ``now`` is in, or the
    one ``back`` periods before it, as UTC instants [start, end)."""
    today = local_today(now)
    if kind == "week":
        start = today - timedelta(days=today.weekday() + 7 * back)
        return at_local(start), at_local(start + timedelta(days=7))
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    # Months counted from year 0 make the quarter and year starts, and stepping back, plain arithmetic.
    first = (today.year * 12 + today.month - 1) // months * months - back * months
    last = first + months
    return at_local(date(first // 12, first % 12 + 1, 1)), at_local(date(last // 12, last % 12 + 1, 1))


# Report periods by name (`report --period`): this or the last calendar week, month, quarter or year.
PERIODS = {
    f"{which}-{kind}": (kind, back)
    for kind in ("week", "month", "quarter", "year")
    for which, back in (("this", 0), ("last", 1))
}


def period_name(text: str) -> str:
    """A period name as typed (``Last-Quarter``), as its PERIODS key."""
    name = text.strip().lower()
    if name not in PERIODS:
        raise PipectlError(f"unknown period {text!r}: use one of {', '.join(PERIODS)}")
    return name


def named_period(name: str, now: datetime) -> tuple[datetime, datetime]:
    """The period a PERIODS key names (``last-quarter``), as UTC instants [start, end)."""
    kind, back = PERIODS[name]
    return target_period(now, kind, back)


def default_period(now: datetime, kind: str) -> str:
    """The period a report covers unless told (a PERIODS name): the current target period (``kind``)
    so far; on its first day, when only hours of it have gone, the one that just ended."""
    start, _ = target_period(now, kind)
    return f"{'last' if local_today(now) == local_today(start) else 'this'}-{kind}"
