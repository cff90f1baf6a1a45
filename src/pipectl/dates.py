"""Dates, working days and the clock.

Users type dates the way they speak (``tomorrow``, ``fri``, ``next friday``, ``Dec 3``, ``+3bd``,
``明日``, ``12月3日``, ``2026-12-01 15:00``); this module turns them into timezone-aware UTC datetimes,
and back into local text for the screen. It also holds the one clock every command reads
(``PIPECTL_NOW`` / ``--as-of``), so time-based behaviour can be scripted and tested. Stored times are
UTC ISO-8601 text with a ``Z``.

A date without a time of day means the start of that day (local), except for due dates
(``mode="due"``), where a date means "by the end of that day": ``--due tomorrow`` is not overdue
until tomorrow is over. A date without a year is its next occurrence for a forward-looking option
(``direction="future"``: a due date, a snooze) and its latest past one for a backward-looking option
(``direction="past"``: ``--at``, ``--since``, ``--as-of``). Anything not given as a full date must
land within a year of now, and a numeric day/month that reads two ways (03/04) is refused: both are
the misreadings that would silently file a follow-up in the wrong month or year.

The common forms are read by hand here (fast, and exact); python-dateutil reads the rest of the
written dates, and dateparser, imported only then, the everyday phrases neither knows. Working days
(``+3bd``, and the cadence's follow-ups) come from a ``Calendar`` built from the config.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pipectl.errors import ConfigError, PipectlError

Mode = Literal["point", "due"]
Direction = Literal["future", "past"]

END_OF_DAY = time(23, 59, 59)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_JA_WEEKDAYS = "月火水木金土日"
HELP = (
    "use an ISO date (2026-12-01), today, tomorrow, a weekday, next friday, Dec 3, eow, eom,"
    " +3d / 2w / -1d / +3bd, in 3 days, or 明日 / 金曜日 / 12月3日 / 3日後 / 月末"
)
# Dates a pipeline can mean: anything else is a typo (and 0500 or 10000 would not survive arithmetic).
FIRST_YEAR, LAST_YEAR = 1900, 2999


@dataclass(frozen=True)
class Calendar:
    """Which days are working days: ``workdays`` (0 = Monday), a country's public holidays (from the
    ``holidays`` package, loaded the first time a day needs them) and ``extra`` days off.

    ``origin`` names where the country came from (``config PATH: calendar.country``) for the error a
    country the package does not know raises.
    """

    workdays: frozenset[int] = frozenset(range(5))
    country: str | None = None
    extra: frozenset[date] = frozenset()
    origin: str = "calendar.country"
    _public: dict[int, frozenset[date]] = field(default_factory=dict, compare=False, repr=False)

    def is_workday(self, day: date) -> bool:
        if day.weekday() not in self.workdays or day in self.extra:
            return False
        return self.country is None or day not in self._holidays(day.year)

    def _holidays(self, year: int) -> frozenset[date]:
        if year not in self._public:
            self._public[year] = public_holidays(str(self.country), year, self.origin)
        return self._public[year]

    def on_or_after(self, day: date) -> date:
        """``day`` itself when it is a working day, else the next working day."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def add_workdays(self, day: date, count: int) -> date:
        """The working day ``count`` working days after ``day`` (before it when negative)."""
        step = timedelta(days=1 if count >= 0 else -1)
        for _ in range(abs(count)):
            day += step
            while not self.is_workday(day):
                day += step
        return day


WEEKDAYS_ONLY = Calendar()


def public_holidays(country: str, year: int, origin: str) -> frozenset[date]:
    """A country's public holidays in ``year``. The holidays package takes a command 0.15 s to load and
    work them out, more than a whole `touch`, so each year's list is kept in the user's cache folder
    (``$XDG_CACHE_HOME/pipectl``) the first time and read from there after."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipectl" / f"holidays-{country}-{year}"
    try:
        return frozenset(date.fromisoformat(line) for line in cache.read_text(encoding="ascii").split())
    except (OSError, ValueError):
        pass  # not kept yet (or damaged): work it out again
    import holidays

    try:
        days = frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:
        raise ConfigError(
            f"{origin} {country!r} is not a country the holidays package knows"
            " (use an ISO 3166 code such as JP, US, GB, or leave it out)"
        ) from None
    with contextlib.suppress(OSError):  # a read-only home only costs the next command the same time
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")
        partial.write_text("".join(f"{day.isoformat()}\n" for day in sorted(days)), encoding="ascii")
        os.replace(partial, cache)
    return days


def clock(as_of: str | None = None) -> datetime:
    """Now, as a UTC datetime: ``as_of`` (``--as-of``) or ``PIPECTL_NOW`` when set, else the system clock."""
    real = datetime.now(UTC)
    fixed = as_of or os.environ.get("PIPECTL_NOW")
    if not fixed:
        return real
    with contextlib.suppress(ValueError):  # a full timestamp, as scripts and tests give: no parser needed
        given = datetime.fromisoformat(fixed)
        if given.tzinfo is not None and FIRST_YEAR < given.year < LAST_YEAR:  # else the parser says what is wrong
            return given.astimezone(UTC)
    try:
        return parse_when(fixed, real, direction="past")
    except PipectlError as exc:
        raise PipectlError(f"bad --as-of / PIPECTL_NOW: {exc.message}") from None


def local_today(now: datetime) -> date:
    return now.astimezone().date()


def at_local(day: date, moment: time = time(0)) -> datetime:
    """The UTC instant of a local wall-clock time on ``day``."""
    return datetime.combine(day, moment).astimezone().astimezone(UTC)


# --- what users type ----------------------------------------------------------------------------

_UNITS = {
    "h": "h", "hour": "h", "hours": "h", "時間": "h",
    "d": "d", "day": "d", "days": "d", "日": "d",
    "w": "w", "week": "w", "weeks": "w", "週": "w", "週間": "w",
    "bd": "bd", "business day": "bd", "business days": "bd", "working day": "bd", "working days": "bd",
    "営業日": "bd",
    "month": "m", "months": "m", "か月": "m", "ヶ月": "m", "カ月": "m", "ヵ月": "m",
}  # fmt: skip
_UNIT = "|".join(sorted((re.escape(unit) for unit in _UNITS), key=len, reverse=True))
# Patterns as strings that re compiles on first use (and caches): compiling them all cost every
# command's start-up 3 ms, and most commands read no date.
_OFFSETS = (
    r"^(?P<sign>[+-]?)(?P<n>\d{1,5})\s*(?P<unit>h|d|w|bd)$",
    rf"^in\s+(?P<n>\d{{1,5}})\s*(?P<unit>{_UNIT})$",
    rf"^(?P<n>\d{{1,5}})\s*(?P<unit>{_UNIT})\s*(?P<ago>ago)$",
    rf"^(?P<n>\d{{1,5}})\s*(?P<unit>{_UNIT})(?P<ja>後|前|あと)$",
)
# A time of day after a day form: "tomorrow 10:00", "fri at 3pm", "明日10時", "明日の10時半".
_TIME_OF_DAY = (
    r"^(?P<day>.*?\D)\s*(?:\bat\s*|の)?"
    r"(?:(?P<h>\d{1,2}):(?P<m>\d{2})\s*(?P<ap>am|pm)?|(?P<h2>\d{1,2})\s*(?P<ap2>am|pm)"
    r"|(?P<h3>\d{1,2})時(?:(?P<m3>\d{1,2})分|(?P<half>半))?)$"
)
_JA_DATE = r"^(?:(?P<y>\d{4})年)?(?:(?P<mo>\d{1,2})月)?(?P<d>\d{1,2})日$"
_JA_WEEKDAY = rf"^(?P<week>来週|再来週|今週)?の?(?P<wd>[{_JA_WEEKDAYS}])曜(?:日)?$"
_EN_WEEKDAY = r"^(?:(?P<next>next|this|last)\s+)?(?P<wd>[a-z]{3,9})$"
# A day and a month in either order (25/12, 12/25, 03.04, 3-4), with a year or not.
_NUMERIC_DAY_MONTH = r"^(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?:(?P=sep)(?P<y>\d{2}|\d{4}))?\.?$"


def _end_of_month(day: date) -> date:
    import calendar

    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    first = date(index // 12, index % 12 + 1, 1)
    return first.replace(day=min(day.day, _end_of_month(first).day))


def _monday(day: date, weeks: int = 0) -> date:
    return day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)


_KEYWORDS: dict[str, Callable[[date], date]] = {}
for _words, _rule in (
    ("today 今日 本日 きょう", lambda d: d),
    ("tomorrow 明日 あした あす", lambda d: d + timedelta(days=1)),
    ("yesterday 昨日 きのう", lambda d: d - timedelta(days=1)),
    ("明後日 あさって", lambda d: d + timedelta(days=2)),
    ("一昨日 おととい", lambda d: d - timedelta(days=2)),
    ("eow 今週末", lambda d: _monday(d) + timedelta(days=6)),
    ("eom 月末 今月末", _end_of_month),
    ("来月末", lambda d: _end_of_month(_add_months(d.replace(day=1), 1))),
    ("来週", lambda d: _monday(d, 1)),
    ("再来週", lambda d: _monday(d, 2)),
    ("来月", lambda d: _add_months(d.replace(day=1), 1)),
):
    _KEYWORDS.update(dict.fromkeys(_words.split(), _rule))
_KEYWORDS.update(
    {
        "end of week": _KEYWORDS["eow"],
        "end of month": _KEYWORDS["eom"],
        "next week": _KEYWORDS["来週"],
        "next month": _KEYWORDS["来月"],
    }
)


def _weekday(index: int, today: date, direction: Direction) -> date:
    """The next (or, looking back, the latest past) such weekday, never today."""
    if direction == "past":
        return today - timedelta(days=(today.weekday() - index - 1) % 7 + 1)
    return today + timedelta(days=(index - today.weekday() - 1) % 7 + 1)


def _day_of(text: str, today: date, direction: Direction) -> date | None:
    """A keyword or weekday (today, 明日, eom, 来週, next fri, 金曜日...), or None when ``text`` is not one."""
    rule = _KEYWORDS.get(text)
    if rule is not None:
        return rule(today)
    english = re.match(_EN_WEEKDAY, text)
    if english:
        for index, name in enumerate(WEEKDAYS):
            if name.startswith(english["wd"]):
                return _weekday(index, today, "past" if english["next"] == "last" else direction)
        return None
    japanese = re.match(_JA_WEEKDAY, text)
    if japanese:
        index = _JA_WEEKDAYS.index(japanese["wd"])
        weeks = {"来週": 1, "再来週": 2, "今週": 0}.get(japanese["week"] or "")
        return _weekday(index, today, direction) if weeks is None else _monday(today, weeks) + timedelta(days=index)
    return None


@dataclass(frozen=True)
class _Reading:
    """What a text said: an instant, and whether it was a full date (with its year) or a guess to check."""

    moment: datetime
    full: bool


def parse_when(
    text: str,
    now: datetime,
    mode: Mode = "point",
    *,
    direction: Direction = "future",
    calendar: Calendar = WEEKDAYS_ONLY,
) -> datetime:
    """Parse what a user typed into a UTC datetime, relative to ``now``.

    ``direction`` says which occurrence a date without a year means (the next one, or the latest
    past one); ``calendar`` counts working days (``+3bd``). Raises PipectlError with a hint when
    the text is not a date, reads two ways, or (not given as a full date) lands more than a year away.
    """
    raw = text.strip()
    if not raw.isascii():
        import unicodedata

        raw = unicodedata.normalize("NFKC", raw)  # full-width digits and letters, as Japanese IMEs type them
    lowered = " ".join(raw.lower().split())
    if not raw:
        raise PipectlError(f"empty date: {HELP}")
    if lowered in ("now", "今", "いま"):
        return now
    try:
        reading = _parse(raw, lowered, now, END_OF_DAY if mode == "due" else time(0), direction, calendar)
    except (ValueError, OverflowError):
        raise PipectlError(f"unrecognised date {raw!r}: {HELP}") from None
    result = reading.moment
    if not FIRST_YEAR <= result.year <= LAST_YEAR:
        raise PipectlError(f"date {raw!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}")
    if not reading.full:
        _check_within_a_year(raw, result, now)
    return result


def _check_within_a_year(raw: str, result: datetime, now: datetime) -> None:
    today, day = local_today(now), result.astimezone().date()
    if _add_months(today, -12) <= day <= _add_months(today, 12):
        return
    shown = show(to_iso(result)).removesuffix(" 00:00")
    raise PipectlError(
        f"date {raw!r} reads as {day.strftime('%a')} {shown}, more than a year away:"
        f" to mean it, pass the full date ({day.isoformat()})"
    )


def _parse(raw: str, lowered: str, now: datetime, moment: time, direction: Direction, calendar: Calendar) -> _Reading:
    today = local_today(now)
    day = _day_of(lowered, today, direction)
    if day is not None:
        return _Reading(at_local(day, moment), False)
    offset = _offset(lowered, now, moment, calendar)
    if offset is not None:
        return _Reading(offset, False)
    japanese = re.match(_JA_DATE, lowered)
    if japanese:
        return _japanese_date(japanese, lambda d: at_local(d, moment), None, today, now, direction)
    timed = re.match(_TIME_OF_DAY, lowered)
    if timed:
        reading = _timed(timed, now, direction)
        if reading is not None:
            return reading
    numeric = re.match(_NUMERIC_DAY_MONTH, lowered)
    if numeric:
        return _numeric(raw, numeric, now, moment, direction)
    try:
        return _parse_absolute(raw, now, moment, direction)
    except ValueError:
        return _parse_phrase(raw, now, moment, direction)


def _offset(text: str, now: datetime, moment: time, calendar: Calendar) -> datetime | None:
    """``+3d``, ``2w``, ``-4h``, ``+3bd``, ``in 3 days``, ``2 weeks ago``, ``3日後``, ``2週間前``."""
    for pattern in _OFFSETS:
        found = re.match(pattern, text)
        if found:
            break
    else:
        return None
    groups = found.groupdict()
    back = groups.get("sign") == "-" or groups.get("ago") is not None or groups.get("ja") == "前"
    count = -int(found["n"]) if back else int(found["n"])
    unit = _UNITS[found["unit"]]
    today = local_today(now)
    if unit == "h":
        return now + timedelta(hours=count)
    if unit == "bd":
        if abs(count) > 366:  # more than a year of working days: refused without counting them one by one
            raise PipectlError(f"date {text!r} is more than a year away: to mean it, pass the full date")
        return at_local(calendar.add_workdays(today, count), moment)
    if unit == "m":
        return at_local(_add_months(today, count), moment)
    return at_local(today + timedelta(days=count * (7 if unit == "w" else 1)), moment)


def _timed(found: re.Match[str], now: datetime, direction: Direction) -> _Reading | None:
    """A day form followed by a time of day, or None when the part before the time is no day form."""
    today = local_today(now)
    day_text = found["day"].strip()
    day = _day_of(day_text, today, direction)
    japanese = re.match(_JA_DATE, day_text)
    if day is None and japanese is None:
        return None
    hour = int(found["h"] or found["h2"] or found["h3"])
    minute = int(found["m"] or found["m3"] or 0) + (30 if found["half"] else 0)
    meridiem = found["ap"] or found["ap2"]
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError("not a 12-hour time")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    clock_time = time(hour, minute)  # ValueError for 25:00 or 10:61
    if day is not None:
        return _Reading(at_local(day, clock_time), False)
    assert japanese is not None
    return _japanese_date(japanese, lambda d: at_local(d, clock_time), clock_time, today, now, direction)


def _japanese_date(
    found: re.Match[str],
    build: Callable[[date], datetime],
    clock_time: time | None,
    today: date,
    now: datetime,
    direction: Direction,
) -> _Reading:
    """``2026年12月3日``, ``12月3日`` (its next / latest past occurrence), ``3日`` (the 3rd)."""
    month = int(found["mo"]) if found["mo"] else None
    day = int(found["d"])
    if found["y"]:
        if month is None:
            raise ValueError("a year and a day without a month")
        return _Reading(build(date(int(found["y"]), month, day)), True)
    return _Reading(_occurrence(month, day, build, clock_time is not None, today, now, direction), False)


def _occurrence(
    month: int | None,
    day: int | None,
    build: Callable[[date], datetime],
    timed: bool,
    today: date,
    now: datetime,
    direction: Direction,
) -> datetime:
    """The next (or latest past) instant with this month and day (either may be left out).

    Without a time of day the comparison is by day, so today counts: ``--due "Nov 30"`` on
    30 November is today, not next year.
    """
    if month is None and day is None:
        candidates = [today + timedelta(days=shift) for shift in (-1, 0, 1)]
    elif month is None:
        first = today.replace(day=1)
        months = (_add_months(first, shift) for shift in range(-13, 14))
        candidates = [m.replace(day=day) for m in months if day is not None and day <= _end_of_month(m).day]
    else:
        candidates = []
        for year in range(today.year - 8, today.year + 9):  # a 29 February is at most 8 years off
            try:
                candidates.append(date(year, month, day or 1))
            except ValueError:
                continue
    if timed:
        instants = [build(candidate) for candidate in candidates]
        after = [i for i in instants if i >= now] if direction == "future" else [i for i in instants if i <= now]
        if not after:
            raise ValueError("no such date")
        return min(after) if direction == "future" else max(after)
    days = [c for c in candidates if (c >= today if direction == "future" else c <= today)]
    if not days:
        raise ValueError("no such date")
    return build(min(days) if direction == "future" else max(days))


def _numeric(raw: str, found: re.Match[str], now: datetime, moment: time, direction: Direction) -> _Reading:
    """``25/12``, ``12/25``, ``4/4``, ``25.12.2026``: the one reading that is a date. When both numbers
    could be the month (``03/04``: 4 March in the US, 3 April in Europe) the text is refused."""
    first, second = int(found["a"]), int(found["b"])
    orders = [(m, d) for m, d in ((first, second), (second, first)) if 1 <= m <= 12 and 1 <= d <= 31]
    if not orders:
        raise ValueError("no month in it")
    if found["y"]:
        year = int(found["y"]) + (2000 if len(found["y"]) == 2 else 0)
        days = [date(year, month, day) for month, day in dict.fromkeys(orders)]
    else:
        days = [
            _occurrence(month, day, at_local, False, local_today(now), now, direction).astimezone().date()
            for month, day in dict.fromkeys(orders)
        ]
    if len(days) > 1:
        raise PipectlError(f"date {raw!r} reads two ways ({days[0]} or {days[1]}): pass an ISO date (YYYY-MM-DD)")
    return _Reading(at_local(days[0], moment), bool(found["y"]))


def _parse_absolute(raw: str, now: datetime, moment: time, direction: Direction) -> _Reading:
    if len(raw) == 10 and raw[4] == "-":
        return _Reading(at_local(date.fromisoformat(raw), moment), True)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return _parse_free(raw, now, moment, direction)
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return _Reading(parsed.astimezone(UTC), True)


# Two defaults that differ in every field tell which fields the text left out. Both years are leap
# years, so "Feb 29" reads; dateutil clips a default day past the month's end (Feb -> 29).
_DEFAULTS = (datetime(2000, 1, 1, 0, 0, 0), datetime(2004, 12, 31, 12, 30, 30))


def _parse_free(raw: str, now: datetime, moment: time, direction: Direction) -> _Reading:
    """Written dates python-dateutil understands ("Dec 3", "3 December 2026 10:00", "10am")."""
    import warnings

    from dateutil import parser

    with warnings.catch_warnings():
        # A time zone dateutil does not know ("10:00 ZD") would silently be local time: refuse it.
        warnings.simplefilter("error", parser.UnknownTimezoneWarning)
        try:
            first: datetime = parser.parse(raw, default=_DEFAULTS[0])
            second = parser.parse(raw, default=_DEFAULTS[1])
        except parser.UnknownTimezoneWarning as exc:
            raise PipectlError(f"date {raw!r} names a time zone pipectl does not know ({exc})") from None
    timed = first.hour == second.hour
    clock_time = first.timetz() if timed else moment.replace(tzinfo=first.tzinfo)

    def build(day: date) -> datetime:
        instant = datetime.combine(day, clock_time)
        return (instant.astimezone() if instant.tzinfo is None else instant).astimezone(UTC)

    if first.year == second.year:
        return _Reading(build(first.date()), True)
    month = first.month if first.month == second.month else None
    day = first.day if first.day == second.day else None
    if month is None and day is None and not timed:
        raise ValueError("no date in it")
    return _Reading(_occurrence(month, day, build, timed, local_today(now), now, direction), False)


def _parse_phrase(raw: str, now: datetime, moment: time, direction: Direction) -> _Reading:
    """Everyday phrases the hand-written forms and dateutil do not know ("the day after tomorrow",
    "3 weeks from now", "a week ago"), read by dateparser, imported only here: it is slow to load.

    A single ASCII word never gets here: it is a keyword, a weekday or a month pipectl already
    knows, or a typo that dateparser would guess at ("fr" as Friday).
    """
    if " " not in raw and raw.isascii():
        raise ValueError("one unknown word")
    import dateparser

    base = now.astimezone().replace(tzinfo=None)
    later = base + timedelta(minutes=37, seconds=13)
    first, second = _dateparser(dateparser, raw, base, direction), _dateparser(dateparser, raw, later, direction)
    if first is None or second is None:
        raise ValueError("not a date")
    # Read against two bases: a result that moves with the base is counted from now ("in 3 days",
    # "in 2 hours"), one that stays is a date ("Christmas 2026"); either way a whole number of days
    # from now, or a midnight, named no time of day, so it is a day.
    shift = first - base if first != second else first - datetime.combine(first.date(), time(0))
    if shift % timedelta(days=1) == timedelta(0):
        return _Reading(at_local(first.date(), moment), False)
    return _Reading(first.astimezone().astimezone(UTC), False)


def _dateparser(module: Any, raw: str, base: datetime, direction: Direction) -> datetime | None:
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": direction, "RETURN_AS_TIMEZONE_AWARE": False}
    try:
        found: datetime | None = module.parse(raw, languages=["en", "ja"], settings=settings)
    except Exception:  # a third-party parser on arbitrary text: any failure means "not a date"
        return None
    return found


def parse_day(text: str, now: datetime, *, direction: Direction = "future", calendar: Calendar = WEEKDAYS_ONLY) -> date:
    """Parse a calendar date (an expected close date): the local day of what the user typed."""
    return parse_when(text, now, direction=direction, calendar=calendar).astimezone().date()


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


# The last one remembered: the review streams a kind's leads in the order of the time it measures, and
# a list imported at once shares one time (100,000 leads: a tenth of review --json).
@functools.lru_cache(maxsize=1)
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
